//! Block access tokens, the namenode's half (HDFS's
//! `BlockTokenSecretManager`): the block keys, kept in the namenode's store
//! so that a restart does not invalidate the tokens clients already hold,
//! rotated by a timer ([`run`]), handed to datanodes in every register and
//! heartbeat answer, and the tokens put on every `LocatedBlock` a client
//! gets (READ from GetBlockLocations, READ|WRITE from AddBlock and
//! UpdatePipeline). The token format and the key rules are
//! [`tusk_common::security`]'s; this module adds persistence and the
//! hand-over of a new key.
//!
//! **A new key is published before it signs.** Datanodes learn keys only
//! from heartbeats, so a token signed with a key made a moment ago would be
//! refused by every datanode that has not heartbeated since. When a rotation
//! makes a new key, it is therefore persisted and sent to datanodes at once,
//! but signing switches to it only after [`BlockTokens::grace`] (two
//! heartbeat intervals, at most half the key update interval). Tokens
//! signed in that window by the old key may end up to `grace` before their
//! stated expiry when that key expires; readers re-fetch locations then.
//!
//! Store layout: one key, `m` + `block_keys`, holding every key as
//! `id (u32 BE) ++ key (32 bytes) ++ expires_ms (u64 BE)`.

use crate::namespace::meta_key;
use crate::store::{Batch, KvStore, StoreError};
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tusk_common::security::{BlockKey, BlockKeyManager};
use tusk_proto as pb;

/// Bytes per persisted key.
const RECORD: usize = 4 + 32 + 8;

/// Shortest key update interval and token lifetime accepted.
const MIN_DURATION: Duration = Duration::from_secs(1);

/// The store key holding the block keys.
pub fn store_key() -> Vec<u8> {
    meta_key("block_keys")
}

/// The namenode's block keys and token issuing. Disabled (no keys, empty
/// tokens) when `[security] block_access_tokens` is off.
pub struct BlockTokens {
    /// Off: tokens are empty and datanodes get no keys.
    enabled: bool,
    /// Where the keys are persisted (`None`: memory only, for tools and tests).
    store: Option<Arc<dyn KvStore>>,
    /// How long a new key is published before it signs.
    grace: Duration,
    inner: Mutex<Keys>,
}

struct Keys {
    /// Signs tokens; its keys are what datanodes get unless a new key is
    /// waiting.
    signing: BlockKeyManager,
    /// A rotation's result, published (persisted, sent to datanodes) but not
    /// signing until the instant.
    next: Option<(BlockKeyManager, Instant)>,
}

impl Keys {
    fn published(&self) -> &[BlockKey] {
        match &self.next {
            Some((m, _)) => m.keys(),
            None => self.signing.keys(),
        }
    }
}

impl BlockTokens {
    /// Block tokens off.
    pub fn disabled() -> Self {
        let m = BlockKeyManager::new(vec![], Duration::from_secs(3600), Duration::from_secs(3600));
        BlockTokens {
            enabled: false,
            store: None,
            grace: Duration::ZERO,
            inner: Mutex::new(Keys {
                signing: m,
                next: None,
            }),
        }
    }

    /// Starts from the keys kept in `store` (made when none is usable), and
    /// persists the resulting set. `heartbeat` sets the hand-over grace of
    /// a new key. Errors name the config key or the store failure.
    pub fn open(
        store: Option<Arc<dyn KvStore>>,
        cfg: &tusk_common::config::SecurityConfig,
        heartbeat: Duration,
    ) -> Result<Self, String> {
        let interval = cfg.block_key_update_interval.0;
        let lifetime = cfg.block_token_lifetime.0;
        if !cfg.block_access_tokens {
            return Ok(Self::disabled());
        }
        // Below a second, keys would pile up (one per interval, each kept a
        // lifetime) and tokens would expire before a client could use them.
        for (key, d) in [
            ("block_key_update_interval", interval),
            ("block_token_lifetime", lifetime),
        ] {
            if d < MIN_DURATION {
                return Err(format!(
                    "[security] {key} = {d:?} is too short (at least {MIN_DURATION:?})"
                ));
            }
        }
        let kept = match &store {
            Some(s) => s
                .get(&store_key())
                .map_err(|e| format!("reading the block keys: {e}"))?
                .map(|v| decode_keys(&v))
                .unwrap_or_default(),
            None => Vec::new(),
        };
        let reused = kept.len();
        let signing = BlockKeyManager::new(kept, interval, lifetime);
        let t = BlockTokens {
            enabled: true,
            store,
            grace: (heartbeat * 2).min(interval / 2),
            inner: Mutex::new(Keys {
                signing,
                next: None,
            }),
        };
        let keys = t.inner.lock().signing.keys().to_vec();
        t.persist(&keys)
            .map_err(|e| format!("storing the block keys: {e}"))?;
        tracing::info!(
            keys = t.inner.lock().signing.keys().len(),
            kept = reused,
            ?lifetime,
            update_interval = ?interval,
            "block access tokens enabled"
        );
        Ok(t)
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// How long a new key is published before it signs.
    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// A token for `user` to access `block_id` with `modes`
    /// ([`tusk_common::security::ACCESS_READ`] | `ACCESS_WRITE`); empty when
    /// tokens are off.
    pub fn token(&self, block_id: u64, modes: u32, user: &str) -> prost::bytes::Bytes {
        if !self.enabled {
            return prost::bytes::Bytes::new();
        }
        self.inner
            .lock()
            .signing
            .issue(block_id, modes, user)
            .into()
    }

    /// Every key datanodes should hold now, as sent in register and
    /// heartbeat answers (none when tokens are off).
    pub fn keys_pb(&self) -> Vec<pb::BlockKey> {
        if !self.enabled {
            return Vec::new();
        }
        self.inner
            .lock()
            .published()
            .iter()
            .map(|k| pb::BlockKey {
                id: k.id,
                key: prost::bytes::Bytes::copy_from_slice(&k.key),
                expires_ms: k.expires_ms,
            })
            .collect()
    }

    /// The ids of the published keys and of the signing key (tests, logs).
    pub fn key_ids(&self) -> (Vec<u32>, Option<u32>) {
        let k = self.inner.lock();
        (
            k.published().iter().map(|k| k.id).collect(),
            k.signing.keys().last().map(|k| k.id),
        )
    }

    /// One timer step: a published key whose grace has passed starts
    /// signing; otherwise rotates when due (a new key is persisted and
    /// published, signing after the grace; expired keys are dropped).
    /// Blocking (it may flush the store).
    pub fn rotate_if_due(&self, now: Instant) -> Result<(), StoreError> {
        if !self.enabled {
            return Ok(());
        }
        let to_persist = {
            let mut k = self.inner.lock();
            if let Some((_, at)) = &k.next {
                if now >= *at {
                    let (m, _) = k.next.take().expect("checked");
                    tracing::info!(
                        key = m.keys().last().map(|k| k.id),
                        "new block key signs from now on"
                    );
                    k.signing = m;
                }
                return Ok(());
            }
            let mut m = k.signing.clone();
            if !m.rotate_if_due() {
                return Ok(());
            }
            let current = |m: &BlockKeyManager| m.keys().last().map(|k| k.id);
            let keys = m.keys().to_vec();
            if current(&m) != current(&k.signing) {
                tracing::info!(
                    key = current(&m),
                    grace = ?self.grace,
                    "new block key made; published, signing after the grace"
                );
                k.next = Some((m, now + self.grace));
            } else {
                k.signing = m;
            }
            keys
        };
        self.persist(&to_persist)
    }

    fn persist(&self, keys: &[BlockKey]) -> Result<(), StoreError> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let mut b = Batch::default();
        b.put(store_key(), encode_keys(keys));
        store.apply(b)?;
        store.flush()
    }
}

pub fn encode_keys(keys: &[BlockKey]) -> Vec<u8> {
    let mut v = Vec::with_capacity(keys.len() * RECORD);
    for k in keys {
        v.extend_from_slice(&k.id.to_be_bytes());
        v.extend_from_slice(&k.key);
        v.extend_from_slice(&k.expires_ms.to_be_bytes());
    }
    v
}

/// The keys of a stored value; a damaged tail is ignored (new keys are
/// made when none is usable).
pub fn decode_keys(v: &[u8]) -> Vec<BlockKey> {
    v.chunks_exact(RECORD)
        .map(|r| BlockKey {
            id: u32::from_be_bytes(r[..4].try_into().expect("4 bytes")),
            key: r[4..36].try_into().expect("32 bytes"),
            expires_ms: u64::from_be_bytes(r[36..].try_into().expect("8 bytes")),
        })
        .collect()
}

/// The key rotation worker: one [`BlockTokens::rotate_if_due`] per tick
/// until `shutdown`.
pub async fn run(tokens: Arc<BlockTokens>, tick: Duration, mut shutdown: watch::Receiver<bool>) {
    if !tokens.enabled() {
        return;
    }
    let mut t = tokio::time::interval(tick.max(Duration::from_millis(50)));
    t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let stop = tokio::select! {
            _ = t.tick() => false,
            _ = shutdown.wait_for(|s| *s) => true,
        };
        if stop {
            break;
        }
        let tk = tokens.clone();
        match tokio::task::spawn_blocking(move || tk.rotate_if_due(Instant::now())).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "block keys: cannot persist a rotation"),
            Err(e) => tracing::error!(error = %e, "block keys: rotation task failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemStore;
    use tusk_common::config::{Dur, SecurityConfig};
    use tusk_common::security::{BlockKeyRing, ACCESS_READ};

    fn cfg(interval: Duration) -> SecurityConfig {
        SecurityConfig {
            block_key_update_interval: Dur(interval),
            block_token_lifetime: Dur(Duration::from_secs(600)),
            ..SecurityConfig::default()
        }
    }

    #[test]
    fn keys_survive_a_reopen_and_tokens_stay_valid() {
        let store: Arc<dyn KvStore> = Arc::new(MemStore::new());
        let c = cfg(Duration::from_secs(600));
        let a = BlockTokens::open(Some(store.clone()), &c, Duration::from_secs(3)).unwrap();
        let t = a.token(5, ACCESS_READ, "alice");
        let b = BlockTokens::open(Some(store), &c, Duration::from_secs(3)).unwrap();
        assert_eq!(a.key_ids(), b.key_ids());
        let ring = BlockKeyRing::default();
        ring.set(
            b.keys_pb()
                .iter()
                .map(|k| BlockKey {
                    id: k.id,
                    key: k.key[..].try_into().unwrap(),
                    expires_ms: k.expires_ms,
                })
                .collect(),
        );
        assert_eq!(ring.verify(&t, 5, ACCESS_READ).unwrap().user, "alice");
    }

    #[test]
    fn a_new_key_is_published_before_it_signs() {
        let store: Arc<dyn KvStore> = Arc::new(MemStore::new());
        // A zero update interval (refused by `open`): every step rotates.
        let t = BlockTokens {
            enabled: true,
            store: Some(store.clone()),
            grace: Duration::from_secs(1),
            inner: Mutex::new(Keys {
                signing: BlockKeyManager::new(vec![], Duration::ZERO, Duration::from_secs(600)),
                next: None,
            }),
        };
        let (_, first) = t.key_ids();
        let now = Instant::now();
        t.rotate_if_due(now).unwrap();
        let (published, signing) = t.key_ids();
        assert_eq!(signing, first, "the old key still signs");
        assert_eq!(published.len(), 2);
        let stored = decode_keys(&store.get(&store_key()).unwrap().unwrap());
        assert_eq!(stored.len(), 2, "a published key is persisted");
        t.rotate_if_due(now + t.grace() / 2).unwrap();
        assert_eq!(t.key_ids().1, first, "not before the grace");
        t.rotate_if_due(now + t.grace()).unwrap();
        assert_eq!(t.key_ids().1, published.last().copied());
    }

    #[test]
    fn silly_durations_are_refused() {
        let c = SecurityConfig {
            block_token_lifetime: Dur(Duration::ZERO),
            ..SecurityConfig::default()
        };
        let e = BlockTokens::open(None, &c, Duration::from_secs(3))
            .err()
            .expect("refused");
        assert!(e.contains("block_token_lifetime"), "{e}");
    }

    #[test]
    fn disabled_tokens_are_empty() {
        let c = SecurityConfig {
            block_access_tokens: false,
            ..SecurityConfig::default()
        };
        let t = BlockTokens::open(None, &c, Duration::from_secs(3)).unwrap();
        assert!(t.token(1, ACCESS_READ, "u").is_empty());
        assert!(t.keys_pb().is_empty());
    }
}
