//! Localization: copying a container's DFS files into its working dir.

use super::Nm;
use crate::yarn::pb;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use tokio::io::AsyncWriteExt;

/// Copies (or unpacks) every resource into `work`, as `user`. The error
/// names the DFS path and the cause.
pub(crate) async fn localize(
    nm: &Nm,
    user: &str,
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
        let name = if r.name.is_empty() {
            r.dfs_path
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or("")
                .to_string()
        } else {
            r.name.clone()
        };
        if name.is_empty() || name == "." || name == ".." || name.contains('/') {
            return Err(format!(
                "localizing {}: invalid local name {name:?}",
                r.dfs_path
            ));
        }
        let fail = |e: &dyn std::fmt::Display| format!("localizing {}: {e}", r.dfs_path);
        let dest = work.join(&name);
        let target = if r.archive {
            work.join(format!(".{name}.archive"))
        } else {
            dest.clone()
        };
        let mut reader = dfs.open(&r.dfs_path).await.map_err(|e| fail(&e))?;
        let mut out = tokio::fs::File::create(&target)
            .await
            .map_err(|e| fail(&format!("{}: {e}", target.display())))?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = reader.read(&mut buf).await.map_err(|e| fail(&e))?;
            if n == 0 {
                break;
            }
            out.write_all(&buf[..n])
                .await
                .map_err(|e| fail(&format!("{}: {e}", target.display())))?;
        }
        out.flush().await.map_err(|e| fail(&e))?;
        drop(out);
        if r.archive {
            tokio::fs::create_dir_all(&dest)
                .await
                .map_err(|e| fail(&format!("{}: {e}", dest.display())))?;
            let st = tokio::process::Command::new("tar")
                .arg("-xf")
                .arg(&target)
                .arg("-C")
                .arg(&dest)
                .stdin(std::process::Stdio::null())
                .output()
                .await
                .map_err(|e| fail(&format!("running tar: {e}")))?;
            let _ = tokio::fs::remove_file(&target).await;
            if !st.status.success() {
                return Err(fail(&format!(
                    "unpacking archive: {}",
                    String::from_utf8_lossy(&st.stderr).trim()
                )));
            }
        }
        let mode = if r.executable { 0o755 } else { 0o644 };
        if !r.archive {
            tokio::fs::set_permissions(&dest, std::fs::Permissions::from_mode(mode))
                .await
                .map_err(|e| fail(&format!("chmod {}: {e}", dest.display())))?;
        }
    }
    Ok(())
}
