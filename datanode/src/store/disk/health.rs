//! Volume health for [`DiskStore`]: probing the data dirs and taking a failed
//! one out of service.
//!
//! A volume fails when its `current/finalized` or `current/rbw` directory is
//! gone or unreadable, or when a probe file cannot be created, written,
//! fsynced and removed in `current/` (a full disk is not a failure). A
//! failed volume stays failed until the datanode restarts: its finalized
//! replicas leave the replica map (the caller reports them deleted so the
//! namenode re-replicates them), its writers are cancelled, and
//! `choose_volume` skips it.

use super::{DiskStore, Volume};
use crate::error::{DatanodeError, Result};
use crate::store::FailedVolume;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::sync::atomic::Ordering;
use tokio::sync::Notify;
use tracing::error;

/// Name of the probe file, in `<data dir>/current/`.
const PROBE_FILE: &str = ".volume-check";

/// Passes `r` through, waking the volume checker on an I/O error (but not
/// for a full disk, which is no reason to doubt a volume).
pub(super) fn note_io<T>(notify: &Notify, r: Result<T>) -> Result<T> {
    if let Err(DatanodeError::Io { source, .. }) = &r {
        if !is_full(source) {
            notify.notify_one();
        }
    }
    r
}

fn is_full(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
}

/// Probes one volume; the error says what failed.
pub(super) fn probe(v: &Volume) -> std::result::Result<(), String> {
    for d in [&v.finalized, &v.rbw] {
        fs::read_dir(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let Some(current) = v.finalized.parent() else {
        return Err(format!("{}: no parent directory", v.finalized.display()));
    };
    let p = current.join(PROBE_FILE);
    let res = (|| -> io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&p)?;
        f.write_all(b"tusk volume check\n")?;
        f.sync_all()?;
        drop(f);
        fs::remove_file(&p)?;
        File::open(current)?.sync_all()
    })();
    match res {
        Ok(()) => Ok(()),
        Err(e) if is_full(&e) => {
            let _ = fs::remove_file(&p);
            Ok(())
        }
        Err(e) => Err(format!("{}: probe failed: {e}", p.display())),
    }
}

impl DiskStore {
    /// Probes every volume still in service and takes out those that fail.
    pub fn check_volumes_now(&self) -> Vec<FailedVolume> {
        let mut out = Vec::new();
        for (i, v) in self.inner.volumes.iter().enumerate() {
            if v.failed.load(Ordering::SeqCst) {
                continue;
            }
            if let Err(why) = probe(v) {
                out.extend(self.take_out(i, &why));
            }
        }
        out
    }

    /// Takes volume `idx` out of service: no new replica goes there, its
    /// writers are cancelled and its finalized replicas leave the map (they
    /// are returned, for the namenode to hear of). `None` when it is
    /// already out or does not exist.
    pub fn take_out(&self, idx: usize, why: &str) -> Option<FailedVolume> {
        let inner = &self.inner;
        let v = inner.volumes.get(idx)?;
        // First the flag (finalize checks it under the map lock, so no
        // replica on this volume enters the map after the sweep below).
        if v.failed.swap(true, Ordering::SeqCst) {
            return None;
        }
        inner.rbw.lock().retain(|_, s| {
            if s.volume == idx {
                s.cancelled.store(true, Ordering::SeqCst);
                false
            } else {
                true
            }
        });
        let replicas = {
            let mut map = inner.finalized.write();
            let ids: Vec<u64> = map
                .values()
                .filter(|r| r.volume == idx)
                .map(|r| r.block.id)
                .collect();
            ids.iter()
                .filter_map(|id| map.remove(id))
                .collect::<Vec<_>>()
        };
        v.used.store(0, Ordering::Relaxed);
        let in_service = inner
            .volumes
            .iter()
            .filter(|v| !v.failed.load(Ordering::SeqCst))
            .count();
        error!(
            dir = %v.dir.display(),
            replicas = replicas.len(),
            volumes_in_service = in_service,
            "volume failed and taken out of service: {why}"
        );
        Some(FailedVolume {
            dir: v.dir.display().to_string(),
            why: why.to_string(),
            replicas,
        })
    }
}
