//! The trash emptier (Hadoop's `TrashPolicyDefault.Emptier`): every
//! `trash_checkpoint_interval`, for every `/user/<name>/.Trash`, delete the
//! checkpoints older than `trash_interval`, then checkpoint `Current`
//! (naming and ages: [`tusk_common::trash`]). Each change is an ordinary
//! namespace operation by the superuser, durable before the next; a big
//! checkpoint is detached and purged in the background like any big delete.

use crate::error::{NnError, NnResult};
use crate::permission::Caller;
use crate::rpc::NamenodeState;
use crate::types::InodeKind;
use std::sync::Arc;
use std::time::Duration;
use tusk_common::path as tpath;
use tusk_common::trash::{self, Entry};

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PassResult {
    pub checkpoints_made: usize,
    pub checkpoints_deleted: usize,
}

/// One pass over every user's trash at `now_ms` (see the module doc).
/// A trash that cannot be handled is logged and skipped.
pub async fn pass(
    state: &Arc<NamenodeState>,
    now_ms: u64,
    interval: Duration,
) -> NnResult<PassResult> {
    let su = state.read(|f| Caller::superuser(&f.config().superuser));
    let mut out = PassResult::default();
    let homes = match entries(state, &su, "/user") {
        Ok(v) => v,
        Err(NnError::NotFound(_)) => return Ok(out),
        Err(e) => return Err(e),
    };
    for (name, kind) in homes {
        if kind != InodeKind::Dir {
            continue;
        }
        let root = format!("/user/{name}/{}", trash::TRASH_DIR);
        match checkpoint_root(state, &su, &root, now_ms, interval).await {
            Ok(r) => {
                out.checkpoints_made += r.checkpoints_made;
                out.checkpoints_deleted += r.checkpoints_deleted;
            }
            Err(e) => tracing::warn!(trash = %root, error = %e, "trash emptier: skipped"),
        }
    }
    Ok(out)
}

/// Every entry of a directory (all pages), by name.
fn entries(state: &NamenodeState, su: &Caller, dir: &str) -> NnResult<Vec<(String, InodeKind)>> {
    let mut out = Vec::new();
    let mut after = String::new();
    loop {
        let page = state.read(|f| f.get_listing(su, dir, &after, 0))?;
        if page.is_file {
            return Ok(Vec::new());
        }
        out.extend(page.entries.iter().map(|e| (e.name.clone(), e.kind)));
        match page.entries.last() {
            Some(e) if page.remaining > 0 => after = e.name.clone(),
            _ => return Ok(out),
        }
    }
}

/// Deletes the expired checkpoints of one trash root, then checkpoints
/// its `Current` (Hadoop's order).
async fn checkpoint_root(
    state: &Arc<NamenodeState>,
    su: &Caller,
    root: &str,
    now_ms: u64,
    interval: Duration,
) -> NnResult<PassResult> {
    let mut out = PassResult::default();
    let names = match entries(state, su, root) {
        Ok(v) => v,
        Err(NnError::NotFound(_)) => return Ok(out),
        Err(e) => return Err(e),
    };
    let interval_ms = interval.as_millis() as u64;
    let mut current = false;
    for (name, _) in &names {
        match trash::classify(name, now_ms, interval_ms) {
            Entry::Current => current = true,
            Entry::Expired => {
                let (path, caller) = (tpath::join(root, name), su.clone());
                let p = path.clone();
                state
                    .mutate_blocking(move |f| f.delete(&caller, &p, true))
                    .await?;
                out.checkpoints_deleted += 1;
                tracing::info!(path = %path, "trash emptier: deleted an expired checkpoint");
            }
            Entry::Kept => {}
            Entry::Unknown => tracing::debug!(
                trash = %root,
                name = %name,
                "trash emptier: not a checkpoint, left alone"
            ),
        }
    }
    if current {
        let from = tpath::join(root, trash::CURRENT);
        let to = state
            .mutate(|f| {
                // Checked and renamed under one hold of the lock: a rename
                // onto an existing directory would move into it.
                for attempt in 0..1000 {
                    let to = tpath::join(root, &trash::checkpoint_name(now_ms, attempt));
                    if f.get_file_info(su, &to)?.is_none() {
                        f.rename(su, &from, &to, false)?;
                        return Ok(to);
                    }
                }
                Err(NnError::AlreadyExists(format!(
                    "{root}: no free checkpoint name for {now_ms}"
                )))
            })
            .await?;
        out.checkpoints_made += 1;
        tracing::info!(checkpoint = %to, "trash emptier: checkpointed");
    }
    Ok(out)
}
