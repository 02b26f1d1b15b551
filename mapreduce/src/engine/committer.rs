//! The output committer, with Hadoop's `FileOutputCommitter` (algorithm
//! version 1) semantics:
//!
//! ```text
//! OUT/_temporary/<app_attempt>/_temporary/<task_attempt_id>/part-…   an attempt writes here
//! OUT/_temporary/<app_attempt>/<task_id>/part-…                      a committed task
//! OUT/part-…, OUT/_SUCCESS                                           a committed job
//! ```
//!
//! - An existing `OUT` is an error before anything runs ([`check_output`]).
//! - Task commit renames the attempt directory to the task directory. The
//!   driver serializes commits and a task directory that exists means the
//!   task is committed already, so only one attempt of a task commits.
//! - Job commit moves every committed task's files into `OUT` (merging
//!   directories several tasks wrote, e.g. named outputs), writes the
//!   empty `_SUCCESS` marker and removes `_temporary`.
//! - Abort removes `_temporary` (and `OUT` itself if nothing else is in
//!   it, since the job created it), so a failed job leaves no part files.

use tusk_client::{CreateOptions, DfsClient};

use super::error::{EngineError, Result};

/// Marker written by a successful job commit.
pub const SUCCESS_MARKER: &str = "_SUCCESS";
/// Name of the scratch directory inside the output directory.
pub const TEMPORARY: &str = "_temporary";

/// Fails with [`EngineError::OutputExists`] when `out` exists.
pub async fn check_output(client: &DfsClient, out: &str) -> Result<()> {
    if client.exists(out).await? {
        return Err(EngineError::OutputExists(out.to_string()));
    }
    Ok(())
}

/// Paths and operations of one job's commit protocol.
#[derive(Debug, Clone)]
pub struct Committer {
    client: DfsClient,
    /// Absolute output directory.
    out: String,
    app_attempt: u32,
}

impl Committer {
    /// `out` must be absolute (resolve it with `DfsClient::resolve`).
    pub fn new(client: DfsClient, out: &str, app_attempt: u32) -> Self {
        Self {
            client,
            out: out.trim_end_matches('/').to_string(),
            app_attempt,
        }
    }

    pub fn output(&self) -> &str {
        &self.out
    }

    fn job_temp(&self) -> String {
        format!("{}/{TEMPORARY}/{}", self.out, self.app_attempt)
    }

    /// Where an attempt writes its files.
    pub fn attempt_path(&self, attempt_id: &str) -> String {
        format!("{}/{TEMPORARY}/{attempt_id}", self.job_temp())
    }

    /// Where a committed task's files wait for job commit.
    pub fn committed_task_path(&self, task_id: &str) -> String {
        format!("{}/{task_id}", self.job_temp())
    }

    /// Creates `OUT/_temporary/<app_attempt>/_temporary`.
    pub async fn setup_job(&self) -> Result<()> {
        let dir = format!("{}/{TEMPORARY}", self.job_temp());
        self.client.mkdirs(&dir, 0o755, true).await?;
        Ok(())
    }

    /// Promotes an attempt's output to its task's. Returns false (and
    /// discards the attempt's files) when the task was committed already.
    pub async fn commit_task(&self, task_id: &str, attempt_id: &str) -> Result<bool> {
        let committed = self.committed_task_path(task_id);
        let attempt = self.attempt_path(attempt_id);
        if self.client.exists(&committed).await? {
            self.abort_task(attempt_id).await?;
            return Ok(false);
        }
        if self.client.exists(&attempt).await? {
            self.client.rename(&attempt, &committed, false).await?;
        } else {
            // The attempt wrote nothing: an empty task directory.
            self.client.mkdirs(&committed, 0o755, true).await?;
        }
        tracing::debug!(task = task_id, attempt = attempt_id, "task committed");
        Ok(true)
    }

    /// Removes an attempt's files.
    pub async fn abort_task(&self, attempt_id: &str) -> Result<()> {
        self.client
            .delete(&self.attempt_path(attempt_id), true)
            .await?;
        Ok(())
    }

    /// Moves committed task outputs into `OUT`, writes `_SUCCESS`, removes
    /// `_temporary`.
    pub async fn commit_job(&self) -> Result<()> {
        let tasks = self.client.list(&self.job_temp()).await?;
        for t in tasks.iter().filter(|t| t.is_dir() && t.name != TEMPORARY) {
            self.merge_into(&t.path, &self.out).await?;
        }
        let marker = format!("{}/{SUCCESS_MARKER}", self.out);
        let w = self
            .client
            .create(&marker, CreateOptions::default().with_overwrite(true))
            .await?;
        w.close().await?;
        self.client
            .delete(&format!("{}/{TEMPORARY}", self.out), true)
            .await?;
        Ok(())
    }

    /// Moves `src`'s entries into `dst`, merging directories that both
    /// have (named outputs: every reducer writes `<name>/part-r-…`), as
    /// Hadoop's `FileOutputCommitter.mergePaths`. Two files of one name are
    /// an error.
    async fn merge_into(&self, src: &str, dst: &str) -> Result<()> {
        let mut stack = vec![(src.to_string(), dst.to_string())];
        while let Some((src, dst)) = stack.pop() {
            for f in self.client.list(&src).await? {
                let to = format!("{dst}/{}", f.name);
                match self.client.get_file_info(&to).await? {
                    None => self.client.rename(&f.path, &to, false).await?,
                    Some(existing) if existing.is_dir() && f.is_dir() => {
                        stack.push((f.path.clone(), to));
                    }
                    Some(_) => {
                        return Err(EngineError::JobFailed(format!(
                            "job commit: {to} exists (two tasks wrote {})",
                            f.name
                        )))
                    }
                }
            }
        }
        Ok(())
    }

    /// Removes `_temporary`, then `OUT` if it is empty.
    pub async fn abort_job(&self) -> Result<()> {
        self.client
            .delete(&format!("{}/{TEMPORARY}", self.out), true)
            .await?;
        match self.client.list(&self.out).await {
            Ok(entries) if entries.is_empty() => {
                self.client.delete(&self.out, false).await?;
            }
            _ => {}
        }
        Ok(())
    }
}
