//! The cluster's security primitives, shared by every daemon and the client.
//!
//! Everything rests on one **cluster secret**: 32 random bytes in a file
//! (hex, mode 0600) that the namenode or resource manager creates at first
//! start and the operator copies to every worker host (`[security]
//! cluster_secret_file`). From it:
//!
//! - **Node authentication** ([`ClusterSecret::sign_request`] /
//!   [`ClusterSecret::check_request`]): daemon-to-daemon RPCs (datanode and
//!   node manager registration and heartbeats, replica recovery, replica
//!   copies between datanodes) carry `x-tusk-node-auth: <ms>.<hmac>` keyed
//!   by a sub-key of the secret, valid for [`NODE_AUTH_SKEW`] around its time
//!   stamp. A process without the secret cannot join or command the cluster.
//! - **User tokens** ([`ClusterSecret::issue_user_token`],
//!   [`ClusterSecret::verify_user_token`]): when `[security] authentication =
//!   "token"`, clients prove who they are with a token minted by `dfs admin
//!   token create USER` (which needs the secret file) and sent as
//!   `authorization: Bearer <token>` on RPC and as `delegation=` (or the same
//!   header) on WebHDFS. Every daemon holding the secret can verify one.
//!
//! **Block access tokens** are different: their keys are random
//! ([`BlockKey`]), made and rotated by the namenode ([`BlockKeyManager`]) and
//! handed to datanodes in register and heartbeat answers; a datanode checks
//! each token with the keys it was given ([`BlockKeyRing`]). A token names a
//! block id, the access modes, the user and an expiry (HDFS's
//! `BlockTokenIdentifier`), and is opaque bytes to everyone else.
//!
//! All MACs are HMAC-SHA256 and compared in constant time.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

type HmacSha256 = Hmac<Sha256>;

/// gRPC metadata key of daemon-to-daemon authentication.
pub const NODE_AUTH_KEY: &str = "x-tusk-node-auth";
/// gRPC metadata key (and HTTP header) of a user token: `Bearer <token>`.
pub const AUTHORIZATION_KEY: &str = "authorization";
/// How far a node-auth time stamp may be from the verifier's clock.
pub const NODE_AUTH_SKEW: Duration = Duration::from_secs(300);
/// Block access mode bits.
pub const ACCESS_READ: u32 = 1;
pub const ACCESS_WRITE: u32 = 2;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// HMAC-SHA256 of the concatenation of `parts`, each prefixed by its
/// length so that no two different part lists collide.
pub fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut m = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        m.update(&(p.len() as u64).to_be_bytes());
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// Constant-time check of `mac` against [`hmac`]`(key, parts)`.
pub fn verify_hmac(key: &[u8], parts: &[&[u8]], mac: &[u8]) -> bool {
    ct_eq(&hmac(key, parts), mac)
}

/// Whether `a` and `b` are equal, in a time that does not depend on where
/// they differ (for MACs and tokens).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Reading or creating the secret file failed.
#[derive(Debug, thiserror::Error)]
#[error("cluster secret {path}: {msg}")]
pub struct SecretError {
    pub path: String,
    pub msg: String,
}

/// Why a token was refused. The text is meant for the one-line error the
/// caller sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("no token")]
    Missing,
    #[error("malformed token")]
    Malformed,
    #[error("token signed with unknown key {0}")]
    UnknownKey(u32),
    #[error("token signature does not verify")]
    BadSignature,
    #[error("token expired {0} ms ago")]
    Expired(u64),
    #[error("token is for block {token} not {wanted}")]
    WrongBlock { token: u64, wanted: u64 },
    #[error("token does not grant {0} access")]
    WrongMode(&'static str),
}

fn derive_subkey(key: &[u8; 32], purpose: &str) -> [u8; 32] {
    hmac(key, &[b"tusk-subkey", purpose.as_bytes()])
}

/// The cluster secret. `Debug` never shows the key.
#[derive(Clone)]
pub struct ClusterSecret {
    key: [u8; 32],
    /// `subkey("node-auth")` and `subkey("user-token")`, derived once: they
    /// sign or verify every heartbeat and, in token mode, every client call.
    node_auth: [u8; 32],
    user_token: [u8; 32],
}

impl fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClusterSecret(..)")
    }
}

impl ClusterSecret {
    pub fn from_key(key: [u8; 32]) -> Self {
        Self {
            node_auth: derive_subkey(&key, "node-auth"),
            user_token: derive_subkey(&key, "user-token"),
            key,
        }
    }

    /// A fresh random secret.
    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        random_bytes(&mut key);
        Self::from_key(key)
    }

    /// Reads the secret file: 64 hex digits (surrounding white space
    /// ignored). Refused when group or others may read it.
    pub fn load(path: &Path) -> Result<Self, SecretError> {
        let err = |msg: String| SecretError {
            path: path.display().to_string(),
            msg,
        };
        let meta = std::fs::metadata(path).map_err(|e| {
            err(if e.kind() == std::io::ErrorKind::NotFound {
                "not found (copy it from the namenode host, or set [security] cluster_secret_file)"
                    .to_string()
            } else {
                e.to_string()
            })
        })?;
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(err(format!(
                    "is readable by group or others (mode {mode:04o}); chmod 600 it"
                )));
            }
        }
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let bytes = hex::decode(text.trim())
            .map_err(|_| err("is not 64 hexadecimal digits".to_string()))?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| err("is not 64 hexadecimal digits".to_string()))?;
        Ok(Self::from_key(key))
    }

    /// Reads the secret file, creating it (mode 0600, with its directory)
    /// when it does not exist. Creation is atomic: of two processes racing,
    /// one creates it and both read the same secret. Returns whether it was
    /// created.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool), SecretError> {
        let err = |msg: String| SecretError {
            path: path.display().to_string(),
            msg,
        };
        if path.exists() {
            return Self::load(path).map(|s| (s, false));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| err(format!("creating its directory: {e}")))?;
        }
        let secret = Self::generate();
        let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
        let write = || -> std::io::Result<()> {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            writeln!(f, "{}", hex::encode(secret.key))?;
            f.sync_all()
        };
        if let Err(e) = write() {
            let _ = std::fs::remove_file(&tmp);
            return Err(err(format!("creating it: {e}")));
        }
        // link(2) fails if the name exists: the first creator wins.
        let linked = std::fs::hard_link(&tmp, path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok((secret, true)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Self::load(path).map(|s| (s, false))
            }
            Err(e) => Err(err(format!("creating it: {e}"))),
        }
    }

    /// A key for one purpose, derived from the secret, so that a MAC made
    /// for one use is never valid for another.
    pub fn subkey(&self, purpose: &str) -> [u8; 32] {
        derive_subkey(&self.key, purpose)
    }

    /// The value of [`NODE_AUTH_KEY`] for a call made now.
    pub fn node_auth_value(&self) -> String {
        let ms = now_ms();
        let mac = hmac(&self.node_auth, &[&ms.to_be_bytes()]);
        format!("{ms}.{}", hex::encode(mac))
    }

    /// Checks a [`NODE_AUTH_KEY`] value.
    pub fn verify_node_auth(&self, value: &str) -> Result<(), TokenError> {
        let (ms, mac) = value.split_once('.').ok_or(TokenError::Malformed)?;
        let ms: u64 = ms.parse().map_err(|_| TokenError::Malformed)?;
        let mac = hex::decode(mac).map_err(|_| TokenError::Malformed)?;
        if !verify_hmac(&self.node_auth, &[&ms.to_be_bytes()], &mac) {
            return Err(TokenError::BadSignature);
        }
        let now = now_ms();
        let skew = NODE_AUTH_SKEW.as_millis() as u64;
        if now > ms + skew {
            return Err(TokenError::Expired(now - ms - skew));
        }
        if ms > now + skew {
            return Err(TokenError::Malformed);
        }
        Ok(())
    }

    /// Adds node authentication to an outgoing request.
    pub fn sign_request<T>(&self, req: &mut tonic::Request<T>) {
        if let Ok(v) = self.node_auth_value().parse() {
            req.metadata_mut().insert(NODE_AUTH_KEY, v);
        }
    }

    /// Checks the node authentication of an incoming request:
    /// UNAUTHENTICATED ("… cluster secret …") when absent or wrong.
    pub fn check_request<T>(&self, req: &tonic::Request<T>) -> Result<(), tonic::Status> {
        let v = req
            .metadata()
            .get(NODE_AUTH_KEY)
            .and_then(|v| v.to_str().ok())
            .ok_or(TokenError::Missing);
        match v.and_then(|v| self.verify_node_auth(v)) {
            Ok(()) => Ok(()),
            Err(e) => Err(tonic::Status::unauthenticated(format!(
                "caller is not authenticated with the cluster secret: {e}"
            ))),
        }
    }

    /// Mints a user token (what `dfs admin token create USER` prints).
    pub fn issue_user_token(&self, user: &str, lifetime: Duration) -> String {
        let issued = now_ms();
        let mut id = [0u8; 8];
        random_bytes(&mut id);
        let t = UserToken {
            user: user.to_string(),
            issued_ms: issued,
            expires_ms: issued.saturating_add(lifetime.as_millis() as u64),
            id: u64::from_be_bytes(id),
        };
        let payload = t.payload();
        let mac = hmac(&self.user_token, &[&payload]);
        format!("tusk1.{}.{}", hex::encode(&payload), hex::encode(mac))
    }

    /// Checks a user token and returns what it says.
    pub fn verify_user_token(&self, token: &str) -> Result<UserToken, TokenError> {
        let rest = token
            .trim()
            .strip_prefix("tusk1.")
            .ok_or(TokenError::Malformed)?;
        let (payload, mac) = rest.split_once('.').ok_or(TokenError::Malformed)?;
        let payload = hex::decode(payload).map_err(|_| TokenError::Malformed)?;
        let mac = hex::decode(mac).map_err(|_| TokenError::Malformed)?;
        if !verify_hmac(&self.user_token, &[&payload], &mac) {
            return Err(TokenError::BadSignature);
        }
        let t = UserToken::parse(&payload).ok_or(TokenError::Malformed)?;
        let now = now_ms();
        if now >= t.expires_ms {
            return Err(TokenError::Expired(now - t.expires_ms));
        }
        Ok(t)
    }
}

/// What a user token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserToken {
    pub user: String,
    pub issued_ms: u64,
    pub expires_ms: u64,
    /// Random, to tell tokens apart (logs, a future revocation list).
    pub id: u64,
}

impl UserToken {
    /// What a user token says, without checking its signature or expiry:
    /// for a client to learn the user it acts as (its home directory).
    /// Servers must use [`ClusterSecret::verify_user_token`].
    pub fn peek(token: &str) -> Option<UserToken> {
        let rest = token.trim().strip_prefix("tusk1.")?;
        let (payload, _) = rest.split_once('.')?;
        Self::parse(&hex::decode(payload).ok()?)
    }

    fn payload(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(25 + self.user.len());
        p.push(1u8);
        p.extend_from_slice(&self.issued_ms.to_be_bytes());
        p.extend_from_slice(&self.expires_ms.to_be_bytes());
        p.extend_from_slice(&self.id.to_be_bytes());
        p.extend_from_slice(self.user.as_bytes());
        p
    }

    fn parse(p: &[u8]) -> Option<Self> {
        if p.len() < 25 || p[0] != 1 {
            return None;
        }
        let u64_at = |i: usize| u64::from_be_bytes(p[i..i + 8].try_into().unwrap());
        Some(Self {
            issued_ms: u64_at(1),
            expires_ms: u64_at(9),
            id: u64_at(17),
            user: String::from_utf8(p[25..].to_vec()).ok()?,
        })
    }
}

/// Adds `authorization: Bearer <token>` to an outgoing request.
pub fn attach_user_token<T>(req: &mut tonic::Request<T>, token: &str) {
    if let Ok(v) = format!("Bearer {token}").parse() {
        req.metadata_mut().insert(AUTHORIZATION_KEY, v);
    }
}

/// The bearer token of an incoming request, if any.
pub fn user_token_of<T>(req: &tonic::Request<T>) -> Option<&str> {
    req.metadata()
        .get(AUTHORIZATION_KEY)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer)
}

/// The token of an `Authorization: Bearer <token>` header value.
pub fn bearer(value: &str) -> Option<&str> {
    let v = value.trim();
    let (scheme, rest) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim())
        .filter(|t| !t.is_empty())
}

/// One block key: made by the namenode, valid for signing while current,
/// for verifying until `expires_ms`.
#[derive(Clone, PartialEq, Eq)]
pub struct BlockKey {
    pub id: u32,
    pub key: [u8; 32],
    pub expires_ms: u64,
}

impl fmt::Debug for BlockKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockKey")
            .field("id", &self.id)
            .field("expires_ms", &self.expires_ms)
            .finish_non_exhaustive()
    }
}

/// What a block access token grants (HDFS's `BlockTokenIdentifier`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockTokenIdentifier {
    pub key_id: u32,
    pub expires_ms: u64,
    pub block_id: u64,
    /// [`ACCESS_READ`] | [`ACCESS_WRITE`].
    pub modes: u32,
    pub user: String,
}

impl BlockTokenIdentifier {
    fn payload(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(25 + self.user.len());
        p.push(1u8);
        p.extend_from_slice(&self.key_id.to_be_bytes());
        p.extend_from_slice(&self.expires_ms.to_be_bytes());
        p.extend_from_slice(&self.block_id.to_be_bytes());
        p.extend_from_slice(&self.modes.to_be_bytes());
        p.extend_from_slice(self.user.as_bytes());
        p
    }

    /// Token bytes: the payload followed by its 32-byte MAC under `key`.
    pub fn sign(&self, key: &BlockKey) -> Vec<u8> {
        let mut p = self.payload();
        let mac = hmac(&key.key, &[b"block-token", &p]);
        p.extend_from_slice(&mac);
        p
    }

    /// Splits token bytes into identifier, payload and MAC (unverified).
    pub fn decode(token: &[u8]) -> Result<(Self, &[u8], &[u8]), TokenError> {
        if token.is_empty() {
            return Err(TokenError::Missing);
        }
        if token.len() < 25 + 32 || token[0] != 1 {
            return Err(TokenError::Malformed);
        }
        let (p, mac) = token.split_at(token.len() - 32);
        let id = Self {
            key_id: u32::from_be_bytes(p[1..5].try_into().unwrap()),
            expires_ms: u64::from_be_bytes(p[5..13].try_into().unwrap()),
            block_id: u64::from_be_bytes(p[13..21].try_into().unwrap()),
            modes: u32::from_be_bytes(p[21..25].try_into().unwrap()),
            user: String::from_utf8(p[25..].to_vec()).map_err(|_| TokenError::Malformed)?,
        };
        Ok((id, p, mac))
    }
}

/// The namenode's block keys: one current key signs, older ones stay for
/// verification until their tokens have expired. Rotated every
/// `update_interval`; a token lives `token_lifetime`.
#[derive(Debug, Clone)]
pub struct BlockKeyManager {
    keys: Vec<BlockKey>,
    /// When the current key was made.
    current_since_ms: u64,
    update_interval: Duration,
    token_lifetime: Duration,
}

impl BlockKeyManager {
    /// Starts from keys kept from an earlier run (may be empty); makes a
    /// current key when none is usable.
    pub fn new(kept: Vec<BlockKey>, update_interval: Duration, token_lifetime: Duration) -> Self {
        let mut m = Self {
            keys: kept,
            current_since_ms: 0,
            update_interval,
            token_lifetime,
        };
        let now = now_ms();
        m.keys.retain(|k| k.expires_ms > now);
        // The newest kept key is current if it can still sign a full-lifetime token.
        let usable = m.keys.iter().max_by_key(|k| k.expires_ms).and_then(|k| {
            let since = k.expires_ms.saturating_sub(
                m.update_interval.as_millis() as u64 + m.token_lifetime.as_millis() as u64,
            );
            (now < since + m.update_interval.as_millis() as u64).then_some((k.id, since))
        });
        match usable {
            Some((id, since)) => {
                m.current_since_ms = since;
                // Keep the current key last.
                let pos = m.keys.iter().position(|k| k.id == id).unwrap();
                let k = m.keys.remove(pos);
                m.keys.push(k);
            }
            None => m.add_key(now),
        }
        m
    }

    fn add_key(&mut self, now: u64) {
        let mut key = [0u8; 32];
        random_bytes(&mut key);
        let mut id = [0u8; 4];
        loop {
            random_bytes(&mut id);
            let cand = u32::from_be_bytes(id);
            if !self.keys.iter().any(|k| k.id == cand) {
                break;
            }
        }
        self.keys.push(BlockKey {
            id: u32::from_be_bytes(id),
            key,
            expires_ms: now
                + self.update_interval.as_millis() as u64
                + self.token_lifetime.as_millis() as u64,
        });
        self.current_since_ms = now;
    }

    /// Makes a new current key when the interval has passed and drops
    /// expired ones. Returns whether the key set changed (persist it and
    /// send it to the datanodes).
    pub fn rotate_if_due(&mut self) -> bool {
        let now = now_ms();
        let before = self.keys.len();
        self.keys.retain(|k| k.expires_ms > now);
        let mut changed = self.keys.len() != before;
        if self.keys.is_empty()
            || now >= self.current_since_ms + self.update_interval.as_millis() as u64
        {
            self.add_key(now);
            changed = true;
        }
        changed
    }

    /// Every key still valid for verification (what datanodes get).
    pub fn keys(&self) -> &[BlockKey] {
        &self.keys
    }

    /// A token for `block_id` with `modes` for `user`, expiring after the
    /// token lifetime.
    pub fn issue(&self, block_id: u64, modes: u32, user: &str) -> Vec<u8> {
        let key = self.keys.last().expect("a current key always exists");
        BlockTokenIdentifier {
            key_id: key.id,
            expires_ms: now_ms() + self.token_lifetime.as_millis() as u64,
            block_id,
            modes,
            user: user.to_string(),
        }
        .sign(key)
    }
}

/// The keys a datanode verifies block tokens with (replaced wholesale by
/// every register or heartbeat answer).
#[derive(Debug, Default)]
pub struct BlockKeyRing {
    keys: std::sync::RwLock<Vec<BlockKey>>,
}

impl BlockKeyRing {
    pub fn set(&self, keys: Vec<BlockKey>) {
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = keys;
    }

    pub fn is_empty(&self) -> bool {
        self.keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }

    /// Checks `token` for access `mode` to `block_id`; returns the
    /// identifier (its user) when valid.
    pub fn verify(
        &self,
        token: &[u8],
        block_id: u64,
        mode: u32,
    ) -> Result<BlockTokenIdentifier, TokenError> {
        let (id, payload, mac) = BlockTokenIdentifier::decode(token)?;
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        let key = keys
            .iter()
            .find(|k| k.id == id.key_id)
            .ok_or(TokenError::UnknownKey(id.key_id))?;
        if !verify_hmac(&key.key, &[b"block-token", payload], mac) {
            return Err(TokenError::BadSignature);
        }
        let now = now_ms();
        if now >= id.expires_ms {
            return Err(TokenError::Expired(now - id.expires_ms));
        }
        if id.block_id != block_id {
            return Err(TokenError::WrongBlock {
                token: id.block_id,
                wanted: block_id,
            });
        }
        if id.modes & mode != mode {
            return Err(TokenError::WrongMode(if mode == ACCESS_WRITE {
                "write"
            } else {
                "read"
            }));
        }
        Ok(id)
    }
}

/// Fills `buf` from the OS's random source.
pub fn random_bytes(buf: &mut [u8]) {
    use rand::RngCore;
    rand::rngs::OsRng.fill_bytes(buf);
}

/// Where the cluster secret file is: `configured` (from `[security]
/// cluster_secret_file`) when set, else `$TUSK_SECRET_FILE`, else
/// `$TUSK_HOME/cluster.secret`, else `cluster.secret` in the working
/// directory.
pub fn secret_path(configured: Option<&Path>) -> PathBuf {
    if let Some(p) = configured {
        return p.to_path_buf();
    }
    if let Some(p) = std::env::var_os("TUSK_SECRET_FILE").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    if let Some(h) = std::env::var_os("TUSK_HOME").filter(|p| !p.is_empty()) {
        return Path::new(&h).join("cluster.secret");
    }
    PathBuf::from("cluster.secret")
}

/// The user token this process presents, if any: `$TUSK_TOKEN` (the
/// token itself), else the file `$TUSK_TOKEN_FILE`, else
/// `~/.config/tusk/token` when it exists. Leading and trailing white space
/// is dropped. Containers get their job's token as `$TUSK_TOKEN`.
pub fn token_from_env() -> Result<Option<String>, String> {
    if let Some(t) = std::env::var("TUSK_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
    {
        return Ok(Some(t.trim().to_string()));
    }
    let (path, must_exist) = match std::env::var_os("TUSK_TOKEN_FILE").filter(|p| !p.is_empty()) {
        Some(p) => (PathBuf::from(p), true),
        None => match std::env::var_os("HOME") {
            Some(h) => (Path::new(&h).join(".config/tusk/token"), false),
            None => return Ok(None),
        },
    };
    match std::fs::read_to_string(&path) {
        Ok(t) if !t.trim().is_empty() => Ok(Some(t.trim().to_string())),
        Ok(_) => Err(format!("token file {}: empty", path.display())),
        Err(e) if !must_exist && e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("token file {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_file_is_created_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/cluster.secret");
        let (a, created) = ClusterSecret::load_or_create(&p).unwrap();
        assert!(created);
        let (b, created) = ClusterSecret::load_or_create(&p).unwrap();
        assert!(!created);
        assert_eq!(a.key, b.key);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = ClusterSecret::load(&p).unwrap_err().to_string();
        assert!(e.contains("chmod 600"), "{e}");
        let e = ClusterSecret::load(&dir.path().join("none"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not found"), "{e}");
    }

    #[test]
    fn node_auth_verifies_only_with_the_same_secret() {
        let s = ClusterSecret::generate();
        let v = s.node_auth_value();
        s.verify_node_auth(&v).unwrap();
        let other = ClusterSecret::generate();
        assert_eq!(other.verify_node_auth(&v), Err(TokenError::BadSignature));
        assert_eq!(s.verify_node_auth("junk"), Err(TokenError::Malformed));
        let old = now_ms() - 3_600_000;
        let mac = hmac(&s.subkey("node-auth"), &[&old.to_be_bytes()]);
        let stale = format!("{old}.{}", hex::encode(mac));
        assert!(matches!(
            s.verify_node_auth(&stale),
            Err(TokenError::Expired(_))
        ));
        let mut req = tonic::Request::new(());
        assert_eq!(
            s.check_request(&req).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        s.sign_request(&mut req);
        s.check_request(&req).unwrap();
    }

    #[test]
    fn user_tokens_round_trip_and_refuse_tampering() {
        let s = ClusterSecret::generate();
        let t = s.issue_user_token("alice", Duration::from_secs(60));
        let u = s.verify_user_token(&t).unwrap();
        assert_eq!(u.user, "alice");
        assert_eq!(UserToken::peek(&t), Some(u));
        assert_eq!(UserToken::peek("tusk1.zz.00"), None);
        // Change the user inside the payload: the MAC no longer matches.
        let forged = t.replace(&hex::encode("alice"), &hex::encode("root!"));
        assert_eq!(s.verify_user_token(&forged), Err(TokenError::BadSignature));
        assert_eq!(
            ClusterSecret::generate().verify_user_token(&t),
            Err(TokenError::BadSignature)
        );
        let expired = s.issue_user_token("bob", Duration::ZERO);
        assert!(matches!(
            s.verify_user_token(&expired),
            Err(TokenError::Expired(_))
        ));
        let mut req = tonic::Request::new(());
        attach_user_token(&mut req, &t);
        assert_eq!(user_token_of(&req), Some(t.as_str()));
        assert_eq!(bearer("bearer  x "), Some("x"));
        assert_eq!(bearer("Basic x"), None);
    }

    #[test]
    fn block_tokens_check_key_block_mode_and_expiry() {
        let m = BlockKeyManager::new(vec![], Duration::from_secs(600), Duration::from_secs(600));
        let ring = BlockKeyRing::default();
        let t = m.issue(42, ACCESS_READ, "alice");
        assert_eq!(
            ring.verify(&t, 42, ACCESS_READ),
            Err(TokenError::UnknownKey(m.keys()[0].id))
        );
        ring.set(m.keys().to_vec());
        assert_eq!(ring.verify(&t, 42, ACCESS_READ).unwrap().user, "alice");
        assert!(matches!(
            ring.verify(&t, 43, ACCESS_READ),
            Err(TokenError::WrongBlock { .. })
        ));
        assert_eq!(
            ring.verify(&t, 42, ACCESS_WRITE),
            Err(TokenError::WrongMode("write"))
        );
        assert_eq!(ring.verify(&[], 42, ACCESS_READ), Err(TokenError::Missing));
        let mut bad = t.clone();
        let n = bad.len();
        bad[n - 1] ^= 1;
        assert_eq!(
            ring.verify(&bad, 42, ACCESS_READ),
            Err(TokenError::BadSignature)
        );
        // Raise the modes in the payload: the MAC no longer matches.
        let mut raised = t.clone();
        raised[24] |= ACCESS_WRITE as u8;
        assert_eq!(
            ring.verify(&raised, 42, ACCESS_WRITE),
            Err(TokenError::BadSignature)
        );
        let short = BlockKeyManager::new(vec![], Duration::from_secs(600), Duration::ZERO);
        ring.set(short.keys().to_vec());
        let t = short.issue(1, ACCESS_READ, "a");
        assert!(matches!(
            ring.verify(&t, 1, ACCESS_READ),
            Err(TokenError::Expired(_))
        ));
    }

    #[test]
    fn key_manager_keeps_a_current_kept_key_and_rotates() {
        let m = BlockKeyManager::new(vec![], Duration::from_secs(600), Duration::from_secs(600));
        let kept = m.keys().to_vec();
        let again = BlockKeyManager::new(
            kept.clone(),
            Duration::from_secs(600),
            Duration::from_secs(600),
        );
        assert_eq!(
            again.keys(),
            &kept[..],
            "a fresh key is reused after a restart"
        );
        let mut r = BlockKeyManager::new(vec![], Duration::ZERO, Duration::from_secs(600));
        assert!(r.rotate_if_due());
        assert_eq!(r.keys().len(), 2);
        let t = r.issue(7, ACCESS_READ, "u");
        let ring = BlockKeyRing::default();
        ring.set(r.keys().to_vec());
        ring.verify(&t, 7, ACCESS_READ).unwrap();
    }
}
