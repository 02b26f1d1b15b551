//! Entry points of a job binary started in a container.
//!
//! [`job_main`] is the `main` of a job binary that can run on a YARN
//! cluster: in a container it becomes what `$TUSK_MR_ROLE` says (`am`:
//! the application master; `task`: one task attempt), anywhere else it is
//! [`crate::engine::run_job_main`] (the job run in this process). `mapred`
//! does the same dispatch for the built-in jobs.

use std::process::ExitCode;
use std::sync::Arc;

use super::umbilical::RemoteUmbilical;
use super::{appmaster, env};
use crate::engine::counters::Counters;
use crate::engine::jobs::JobRegistry;
use crate::engine::run_task_main;
use crate::engine::task::{TaskReport, TaskSpec, TaskStatus};
use crate::yarn::env as yenv;

/// What a job binary was started as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    AppMaster,
    Task,
}

/// The role `$TUSK_MR_ROLE` names, if any.
pub fn container_role() -> Option<Role> {
    match std::env::var(env::ROLE).ok()?.as_str() {
        "am" => Some(Role::AppMaster),
        "task" => Some(Role::Task),
        _ => None,
    }
}

/// For the installed binaries holding the built-in jobs (`mapred`,
/// `hadoop`): in a container (`__am` / `__task` as first argument, or
/// `$TUSK_MR_ROLE`), runs that role and returns its exit status; `None`
/// when started by a user.
pub fn builtin_container_main() -> Option<ExitCode> {
    let role = match std::env::args().nth(1).as_deref() {
        Some("__am") => Some(Role::AppMaster),
        Some("__task") => Some(Role::Task),
        _ => container_role(),
    }?;
    Some(run_container(role, JobRegistry::builtin()))
}

/// See the module docs.
pub fn job_main(registry: JobRegistry) -> ExitCode {
    // TLS as in `mapred`'s main: in a container the CA from the node
    // manager's TUSK_TLS_CA, else the user's TUSK_TLS_CA / client config.
    let tls = tusk_common::net::tls_with_env(&Default::default());
    if let Err(e) = tusk_common::net::install_tls(&tls)
        .and_then(|()| tusk_client::ClientConfig::from_env().install_tls())
    {
        eprintln!("{e}");
        return ExitCode::FAILURE;
    }
    match container_role() {
        Some(role) => run_container(role, registry),
        None => crate::engine::run_job_main(registry),
    }
}

/// Runs as `role` on a fresh runtime; the exit status the node manager
/// reports.
pub fn run_container(role: Role, registry: JobRegistry) -> ExitCode {
    tusk_common::logging::init("info");
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("container: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = rt.block_on(async {
        match role {
            Role::AppMaster => match appmaster::run_am(registry).await {
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("application master: {e:#}");
                    tracing::error!("application master failed: {e:#}");
                    ExitCode::FAILURE
                }
            },
            Role::Task => match run_task_container(&registry).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("task: {e}");
                    ExitCode::FAILURE
                }
            },
        }
    });
    // Blocking readers of a stopped attempt may linger; do not wait for them.
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    code
}

/// One task attempt: get its spec from the AM, run it, report. A failed
/// attempt whose report reached the AM exits 0 (the AM knows why); the
/// exit status is 1 only when the AM could not be told.
pub async fn run_task_container(registry: &JobRegistry) -> Result<(), String> {
    let addr = std::env::var(env::UMBILICAL).map_err(|_| {
        format!(
            "{} is not set: not started by an application master",
            env::UMBILICAL
        )
    })?;
    let cid = std::env::var(yenv::CONTAINER_ID)
        .map_err(|_| format!("{} is not set", yenv::CONTAINER_ID))?;
    // With TLS on, the AM's own certificate is the only root we trust.
    let am_cert = std::env::var(env::AM_CERT).unwrap_or_default();
    let umb = Arc::new(RemoteUmbilical::connect(&addr, &am_cert, &cid)?);
    let spec_json = umb.get_task().await?;
    let spec = TaskSpec::from_json(&spec_json).map_err(|e| e.to_string())?;
    tracing::info!(attempt = %spec.attempt, container = %cid, "task starting");
    let report = match run_task_main(&spec_json, registry, umb.clone()).await {
        Ok(r) => r,
        Err(e) => TaskReport {
            attempt: spec.attempt.clone(),
            status: TaskStatus::Failed,
            counters: Counters::new(),
            diagnostics: e.to_string(),
        },
    };
    tracing::info!(attempt = %report.attempt, status = ?report.status, "task ended {}", report.diagnostics);
    if report.status == TaskStatus::Failed {
        eprintln!("{}: {}", report.attempt, report.diagnostics);
    }
    umb.done(&report).await
}
