//! Job history: one JSON file per finished job, `/tmp/tusk-history/<app>.json`
//! in DFS, written by the application master before it unregisters (so a
//! client that sees the application end finds it), read by
//! `mapred list --all` and `mapred status`.

use serde::{Deserialize, Serialize};
use tusk_client::{CreateOptions, DfsClient};

use crate::engine::counters::Counters;
use crate::engine::driver::AttemptRecord;

/// The history directory in DFS.
pub const HISTORY_DIR: &str = "/tmp/tusk-history";

/// What is kept of one job.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JobHistory {
    pub app_id: String,
    pub job_name: String,
    pub user: String,
    /// `SUCCEEDED`, `FAILED` or `KILLED`.
    pub state: String,
    pub submit_time_ms: u64,
    pub start_time_ms: u64,
    pub finish_time_ms: u64,
    pub inputs: Vec<String>,
    pub output: String,
    pub maps: usize,
    pub reduces: usize,
    /// Why it failed (names task, node, cause); empty on success.
    pub diagnostics: String,
    pub counters: Counters,
    /// Every attempt with its host, outcome and time.
    pub attempts: Vec<AttemptRecord>,
    /// Application master attempt that wrote this.
    pub am_attempt: u32,
}

/// The history file of `app_id`.
pub fn history_path(app_id: &str) -> String {
    format!("{HISTORY_DIR}/{app_id}.json")
}

/// Writes `h` (temp file, then rename, so readers never see half a file).
pub async fn write(client: &DfsClient, h: &JobHistory) -> Result<(), String> {
    let fail =
        |e: &dyn std::fmt::Display| format!("writing job history {}: {e}", history_path(&h.app_id));
    if !client.exists(HISTORY_DIR).await.map_err(|e| fail(&e))? {
        client
            .mkdirs(HISTORY_DIR, 0o1777, true)
            .await
            .map_err(|e| fail(&e))?;
        // Every user's AM writes here.
        let _ = client.set_permission(HISTORY_DIR, 0o1777).await;
    }
    let json = serde_json::to_vec_pretty(h).map_err(|e| fail(&e))?;
    let tmp = format!("{HISTORY_DIR}/.{}.json.tmp", h.app_id);
    let mut w = client
        .create(&tmp, CreateOptions::default().with_overwrite(true))
        .await
        .map_err(|e| fail(&e))?;
    w.write_all(&json).await.map_err(|e| fail(&e))?;
    w.close().await.map_err(|e| fail(&e))?;
    client
        .rename(&tmp, &history_path(&h.app_id), true)
        .await
        .map_err(|e| fail(&e))?;
    Ok(())
}

/// The history of `app_id`, if it was written.
pub async fn read(client: &DfsClient, app_id: &str) -> Result<Option<JobHistory>, String> {
    let path = history_path(app_id);
    if !client
        .exists(&path)
        .await
        .map_err(|e| format!("{path}: {e}"))?
    {
        return Ok(None);
    }
    let bytes = client
        .read_file(&path)
        .await
        .map_err(|e| format!("{path}: {e}"))?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| format!("{path}: not a job history file: {e}"))
}

/// Every readable history file, oldest submission first. Unreadable ones
/// are skipped with a warning.
pub async fn list(client: &DfsClient) -> Result<Vec<JobHistory>, String> {
    if !client
        .exists(HISTORY_DIR)
        .await
        .map_err(|e| format!("{HISTORY_DIR}: {e}"))?
    {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for st in client
        .list(HISTORY_DIR)
        .await
        .map_err(|e| format!("{HISTORY_DIR}: {e}"))?
    {
        let name = st.path.rsplit('/').next().unwrap_or("").to_string();
        let Some(app) = name.strip_suffix(".json") else {
            continue;
        };
        if app.starts_with('.') {
            continue;
        }
        match read(client, app).await {
            Ok(Some(h)) => out.push(h),
            Ok(None) => {}
            Err(e) => tracing::warn!("skipping {e}"),
        }
    }
    out.sort_by_key(|h| (h.submit_time_ms, h.app_id.clone()));
    Ok(out)
}
