//! Localization, as Hadoop's distributed cache: each DFS file a container
//! needs is downloaded once per application and node into the
//! application's file cache (`apps/<app>/filecache/<key>/<file>`, read-only
//! there) and linked into the container's working directory under its name
//! (`-files a.py#alias` is a symlink `alias`). Containers of one job on one
//! node share the download; the cache goes with the application's dirs.
//! The cache key covers the file's path, length and modification time and
//! how it is localized, so a file rewritten in DFS is fetched again.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::AsyncWriteExt;

use super::executor::{self, RunAs};
use super::Nm;
use crate::yarn::pb;

/// Puts every resource into `work` (a symlink into the application's file
/// cache), reading as `user`; what the container (running as `run_as`)
/// gets is readable by it. The error names the DFS path and the cause.
pub(crate) async fn localize(
    nm: &Nm,
    user: &str,
    run_as: &RunAs,
    app_id: &str,
    resources: &[pb::LocalResource],
    work: &Path,
) -> Result<(), String> {
    if resources.is_empty() {
        return Ok(());
    }
    let dfs = nm
        .dfs(user)
        .await
        .map_err(|e| format!("localizing resources: {e}"))?;
    for r in resources {
        let base = r
            .dfs_path
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or("")
            .to_string();
        let name = if r.name.is_empty() {
            base.clone()
        } else {
            r.name.clone()
        };
        let valid = |n: &str| !(n.is_empty() || n == "." || n == ".." || n.contains('/'));
        if !valid(&name) || !valid(&base) {
            return Err(format!(
                "localizing {}: invalid local name {name:?}",
                r.dfs_path
            ));
        }
        let fail = |e: &dyn std::fmt::Display| format!("localizing {}: {e}", r.dfs_path);
        let st = dfs.status(&r.dfs_path).await.map_err(|e| fail(&e))?;
        let mut h = DefaultHasher::new();
        (&r.dfs_path, st.length, st.mtime_ms, r.executable, r.archive).hash(&mut h);
        let entry = nm
            .app_dir(app_id)
            .join("filecache")
            .join(format!("{:016x}", h.finish()));
        let cached = entry.join(&base);
        let lock = nm.cache_lock(&entry);
        {
            let _held = lock.lock().await;
            if tokio::fs::symlink_metadata(&cached).await.is_err() {
                fetch(&dfs, r, &entry, &cached, run_as)
                    .await
                    .map_err(|e| fail(&e))?;
                super::Metrics::inc(&nm.metrics.localized_files, 1);
                super::Metrics::inc(&nm.metrics.localized_bytes, st.length);
            }
        }
        nm.cache_unlock(&entry);
        let link = work.join(&name);
        tokio::fs::symlink(&cached, &link)
            .await
            .map_err(|e| fail(&format!("linking {}: {e}", link.display())))?;
    }
    Ok(())
}

/// Downloads (and for an archive unpacks) `r` into the cache entry dir,
/// complete under its final name `cached` or not at all.
async fn fetch(
    dfs: &tusk_client::DfsClient,
    r: &pb::LocalResource,
    entry: &Path,
    cached: &Path,
    run_as: &RunAs,
) -> Result<(), String> {
    tokio::fs::create_dir_all(entry)
        .await
        .map_err(|e| format!("{}: {e}", entry.display()))?;
    // Whatever the node manager's umask: the container's user passes
    // through (the application's dir above keeps other users out).
    if let Some(cache) = entry.parent() {
        for d in [cache, entry] {
            tokio::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755))
                .await
                .map_err(|e| format!("chmod {}: {e}", d.display()))?;
        }
    }
    let tmp: PathBuf = entry.join(format!(".partial-{}", std::process::id()));
    let mut reader = dfs.open(&r.dfs_path).await.map_err(|e| e.to_string())?;
    let mut out = tokio::fs::File::create(&tmp)
        .await
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n])
            .await
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
    }
    out.flush().await.map_err(|e| e.to_string())?;
    drop(out);
    if r.archive {
        let unpacked = entry.join(".unpacking");
        let _ = tokio::fs::remove_dir_all(&unpacked).await;
        tokio::fs::create_dir_all(&unpacked)
            .await
            .map_err(|e| format!("{}: {e}", unpacked.display()))?;
        // Never the archive's owners (tar as root would restore them).
        let st = tokio::process::Command::new("tar")
            .arg("--no-same-owner")
            .arg("-xf")
            .arg(&tmp)
            .arg("-C")
            .arg(&unpacked)
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .map_err(|e| format!("running tar: {e}"))?;
        let _ = tokio::fs::remove_file(&tmp).await;
        if !st.status.success() {
            return Err(format!(
                "unpacking archive: {}",
                String::from_utf8_lossy(&st.stderr).trim()
            ));
        }
        // Its files must not carry set-id bits of the node manager's user;
        // in user mode they are the container's user's.
        let (dir, who) = (unpacked.clone(), run_as.clone());
        tokio::task::spawn_blocking(move || executor::sanitize_tree(&dir, &who))
            .await
            .map_err(|e| e.to_string())??;
        tokio::fs::rename(&unpacked, cached)
            .await
            .map_err(|e| format!("{}: {e}", cached.display()))?;
    } else {
        // Read-only in the cache: containers share it.
        let mode = if r.executable { 0o555 } else { 0o444 };
        tokio::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
            .await
            .map_err(|e| format!("chmod {}: {e}", tmp.display()))?;
        tokio::fs::rename(&tmp, cached)
            .await
            .map_err(|e| format!("{}: {e}", cached.display()))?;
    }
    Ok(())
}

impl Nm {
    /// The lock serializing downloads into one cache entry.
    fn cache_lock(&self, entry: &Path) -> Arc<tokio::sync::Mutex<()>> {
        self.cache_locks
            .lock()
            .entry(entry.to_path_buf())
            .or_default()
            .clone()
    }

    /// Forgets an entry's lock once nobody holds or waits for it.
    fn cache_unlock(&self, entry: &Path) {
        let mut locks = self.cache_locks.lock();
        if locks.get(entry).is_some_and(|l| Arc::strong_count(l) == 1) {
            locks.remove(entry);
        }
    }
}
