//! The resource manager's web UI: server-rendered HTML, no JavaScript needed.
//!
//! Pages (all `GET`):
//! - `/` (also `/cluster`): resources, nodes, and every application, newest
//!   first, each linking to its page.
//! - `/app/{id}` (also `/cluster/app/{id}`; a `job_…` id is accepted): the
//!   application's report; for a MapReduce job, live progress from its
//!   application master's JobClient service while it runs, and counters and
//!   task attempts from its job history file once it has ended.
//! - `/app/{id}/logs[?host=H][&container=C][&attempt=A]`: the stdout and
//!   stderr of its containers, fetched from the node managers that ran them
//!   (`GetContainerLogs`, as `mapred logs` does).
//!
//! The job history lives in DFS (`crate::am::history`); the resource
//! manager finds the namenode as clients do (`TUSK_NAMENODE`, else
//! `~/.config/tusk/config.toml`, else 127.0.0.1:9000).

use super::http::{final_name, state_name};
use super::Rm;
use crate::am::history::{self, JobHistory};
use crate::am::pb::job_client_client::JobClientClient;
use crate::am::pb::{GetJobStatusRequest, GetJobStatusResponse};
use crate::am::submit::app_id_of;
use crate::engine::counters::Counters;
use crate::engine::task::TaskStatus;
use crate::yarn::pb;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OnceCell;
use tusk_client::{ClientConfig, DfsClient};

/// Bound on each call the pages make to another daemon (namenode, AM, NM),
/// so a dead peer makes a page say so instead of hanging it.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// The logs page shows at most this much of the end of each file.
const LOG_TAIL: u64 = 1 << 20;

pub(crate) fn router(rm: Arc<Rm>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/cluster", get(index))
        .route("/app/{id}", get(app_page))
        .route("/cluster/app/{id}", get(app_page))
        .route("/app/{id}/logs", get(logs_page))
        .with_state(rm)
}

use tusk_common::escape::html as esc;

/// `YYYY-MM-DD HH:MM:SS` (UTC), "-" for 0.
fn fmt_time(ms: u64) -> String {
    if ms == 0 {
        return "-".into();
    }
    chrono::DateTime::from_timestamp_millis(ms as i64)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".into())
}

fn fmt_ms(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..=59 => format!("{:.1}s", ms as f64 / 1000.0),
        60..=3599 => format!("{}m {}s", s / 60, s % 60),
        _ => format!("{}h {}m {}s", s / 3600, s / 60 % 60, s % 60),
    }
}

/// A query value, percent-encoded.
fn enc(v: &str) -> String {
    tusk_common::webhdfs::encode_query_value(v)
}

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em}\
table{border-collapse:collapse;margin-bottom:1em}\
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}\
th{background:#f3f3f3}td.n{text-align:right}.err{color:#a00}\
pre{background:#f6f6f6;padding:6px;white-space:pre-wrap;max-height:40em;overflow:auto}";

fn page(title: &str, body: &str) -> Response {
    let mut h = String::with_capacity(body.len() + 512);
    let _ = write!(
        h,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t} — Tusk resource manager</title>\
         <style>{STYLE}</style></head><body><nav><a href=\"/\">Cluster</a></nav><h1>{t}</h1>",
        t = esc(title)
    );
    h.push_str(body);
    h.push_str("</body></html>\n");
    html(StatusCode::OK, h)
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

fn error_page(status: StatusCode, title: &str, msg: &str) -> Response {
    let mut r = page(
        title,
        &format!("<p class=\"err\" id=\"error\">{}</p>", esc(msg)),
    );
    *r.status_mut() = status;
    r
}

/// "RUNNING", or for a finished application its final status.
fn app_state(a: &pb::ApplicationReport) -> String {
    if a.state() == pb::AppState::Finished {
        format!("FINISHED ({})", final_name(a.final_status()))
    } else {
        state_name(a.state()).to_string()
    }
}

// --------------------------------------------------------------------- index

async fn index(State(rm): State<Arc<Rm>>) -> Response {
    let (mut nodes, mut apps, m) = {
        let st = rm.state.lock();
        (st.nodes(true), st.list(&HashSet::new(), ""), st.metrics())
    };
    nodes.sort_by(|a, b| a.node_id.cmp(&b.node_id));
    apps.sort_by(|a, b| (b.submit_time_ms, &b.app_id).cmp(&(a.submit_time_ms, &a.app_id)));
    let now = tusk_common::sys::now_ms();
    let total = m.total.unwrap_or_default();
    let used = m.allocated.unwrap_or_default();
    let mut s = String::from("<h2>Cluster</h2><table id=\"cluster\">");
    let rows: [(&str, &str, String); 10] = [
        ("active-nodes", "Active nodes", m.active_nodes.to_string()),
        ("lost-nodes", "Lost nodes", m.lost_nodes.to_string()),
        (
            "memory",
            "Memory used / total",
            format!("{} / {} MB", used.memory_mb, total.memory_mb),
        ),
        (
            "vcores",
            "VCores used / total",
            format!("{} / {}", used.vcores, total.vcores),
        ),
        (
            "containers",
            "Containers running",
            m.containers_running.to_string(),
        ),
        (
            "apps-submitted",
            "Applications submitted",
            m.apps_submitted.to_string(),
        ),
        (
            "apps-running",
            "Applications pending / running",
            format!("{} / {}", m.apps_pending, m.apps_running),
        ),
        (
            "apps-completed",
            "Applications finished",
            m.apps_completed.to_string(),
        ),
        (
            "apps-failed",
            "Applications failed / killed",
            format!("{} / {}", m.apps_failed, m.apps_killed),
        ),
        ("started", "Started", fmt_time(rm.started_ms)),
    ];
    for (id, k, v) in rows {
        let _ = write!(s, "<tr><th>{k}</th><td id=\"{id}\">{}</td></tr>", esc(&v));
    }
    s.push_str("</table>");
    s.push_str(
        "<h2>Nodes</h2><table id=\"nodes\"><tr><th>Node</th><th>Host</th><th>Rack</th><th>State</th>\
         <th>Containers</th><th>Memory used / total MB</th><th>VCores used / total</th>\
         <th>Last heartbeat</th><th>HTTP</th></tr>",
    );
    for n in &nodes {
        let (u, c) = (n.used.unwrap_or_default(), n.capability.unwrap_or_default());
        let _ = write!(
            s,
            "<tr class=\"node\"><td>{}</td><td>{}</td><td>{}</td><td class=\"state\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{} / {}</td><td class=\"n\">{} / {}</td>\
             <td>{} ago</td><td>{}</td></tr>",
            esc(&n.node_id),
            esc(&n.host),
            esc(&n.rack),
            n.state().as_str_name().trim_start_matches("NODE_STATE_"),
            n.num_containers,
            u.memory_mb,
            c.memory_mb,
            u.vcores,
            c.vcores,
            fmt_ms(now.saturating_sub(n.last_heartbeat_ms)),
            if n.http_addr.is_empty() {
                "-".to_string()
            } else {
                format!(
                    "<a href=\"{s}://{a}/metrics\">{a}</a>",
                    s = tusk_common::net::http_scheme(),
                    a = esc(&n.http_addr)
                )
            }
        );
    }
    s.push_str("</table>");
    s.push_str(
        "<h2>Applications</h2><table id=\"apps\"><tr><th>ID</th><th>User</th><th>Name</th>\
         <th>Type</th><th>Queue</th><th>State</th><th>Final status</th><th>Progress</th>\
         <th>Started</th><th>Finished</th></tr>",
    );
    for a in &apps {
        let _ = write!(
            s,
            "<tr class=\"app\"><td><a href=\"/app/{id_u}\">{id}</a></td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{:.0}%</td><td>{}</td>\
             <td>{}</td></tr>",
            esc(&a.user),
            esc(&a.name),
            esc(&a.app_type),
            esc(&a.queue),
            state_name(a.state()),
            final_name(a.final_status()),
            a.progress * 100.0,
            fmt_time(a.start_time_ms.max(a.submit_time_ms)),
            fmt_time(a.finish_time_ms),
            id_u = esc(&enc(&a.app_id)),
            id = esc(&a.app_id),
        );
    }
    s.push_str("</table>");
    page("Tusk resource manager", &s)
}

// ----------------------------------------------------------------- app page

/// A DFS client for reading job histories, connected on first use (a
/// failed connection is retried by the next page).
async fn dfs() -> Result<&'static DfsClient, String> {
    static DFS: OnceCell<DfsClient> = OnceCell::const_new();
    DFS.get_or_try_init(|| async {
        let cfg = ClientConfig::from_env();
        let nn = cfg.namenode.clone();
        match tokio::time::timeout(CALL_TIMEOUT, DfsClient::connect(cfg)).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(format!("namenode {nn}: {e}")),
            Err(_) => Err(format!("namenode {nn}: no answer within {CALL_TIMEOUT:?}")),
        }
    })
    .await
}

/// The job history of `app_id`: `Ok(None)` when none was written (yet).
async fn job_history(app_id: &str) -> Result<Option<JobHistory>, String> {
    let c = dfs().await?;
    match tokio::time::timeout(CALL_TIMEOUT, history::read(c, app_id)).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "{}: no answer from the namenode within {CALL_TIMEOUT:?}",
            history::history_path(app_id)
        )),
    }
}

/// Live status from a running job's application master (over TLS trusting
/// only `am_cert_pem`, the certificate it registered, when TLS is on).
async fn live_status(am_rpc_addr: &str, am_cert_pem: &str) -> Result<GetJobStatusResponse, String> {
    let ch = crate::am::am_channel(am_rpc_addr, am_cert_pem)?;
    let mut c = JobClientClient::new(ch);
    match tokio::time::timeout(CALL_TIMEOUT, c.get_job_status(GetJobStatusRequest {})).await {
        Ok(Ok(r)) => Ok(r.into_inner()),
        Ok(Err(s)) => Err(format!("application master {am_rpc_addr}: {}", s.message())),
        Err(_) => Err(format!(
            "application master {am_rpc_addr}: no answer within {CALL_TIMEOUT:?}"
        )),
    }
}

fn report_of(rm: &Rm, id: &str) -> Result<pb::ApplicationReport, Box<Response>> {
    let app_id = app_id_of(id);
    rm.state.lock().report(&app_id).map_err(|_| {
        Box::new(error_page(
            StatusCode::NOT_FOUND,
            "Not found",
            &format!("application {app_id} is unknown to this resource manager"),
        ))
    })
}

fn logs_url(app_id: &str, query: &[(&str, &str)]) -> String {
    let mut u = format!("/app/{}/logs", enc(app_id));
    for (i, (k, v)) in query.iter().enumerate() {
        let _ = write!(u, "{}{k}={}", if i == 0 { '?' } else { '&' }, enc(v));
    }
    u
}

/// "map" or "reduce" from an attempt id (`…_m_…` / `…_r_…`).
fn attempt_kind(attempt: &str) -> &'static str {
    if attempt.contains("_m_") {
        "map"
    } else if attempt.contains("_r_") {
        "reduce"
    } else {
        "task"
    }
}

fn status_name(s: TaskStatus) -> &'static str {
    match s {
        TaskStatus::Succeeded => "SUCCEEDED",
        TaskStatus::Failed => "FAILED",
        TaskStatus::Killed => "KILLED",
    }
}

async fn app_page(State(rm): State<Arc<Rm>>, Path(id): Path<String>) -> Response {
    let a = match report_of(&rm, &id) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let mut s = String::new();
    let elapsed = match (a.start_time_ms, a.finish_time_ms) {
        (0, _) => "-".to_string(),
        (st, 0) => fmt_ms(tusk_common::sys::now_ms().saturating_sub(st)),
        (st, f) => fmt_ms(f.saturating_sub(st)),
    };
    let used = a.used.unwrap_or_default();
    let am_logs = if a.am_container_id.is_empty() {
        "-".to_string()
    } else {
        format!(
            "{} (<a href=\"{}\">logs</a>)",
            esc(&a.am_container_id),
            esc(&logs_url(&a.app_id, &[("container", &a.am_container_id)]))
        )
    };
    let ran_as = if a.run_as.is_empty() {
        "-".to_string()
    } else {
        esc(&a.run_as.join(", "))
    };
    let rows: [(&str, &str, String); 18] = [
        ("app-id", "Application", esc(&a.app_id)),
        ("app-name", "Name", esc(&a.name)),
        ("app-user", "User", esc(&a.user)),
        ("app-run-as", "Containers ran as", ran_as),
        ("app-queue", "Queue", esc(&a.queue)),
        ("app-type", "Type", esc(&a.app_type)),
        ("app-state", "State", esc(&app_state(&a))),
        (
            "app-final",
            "Final status",
            final_name(a.final_status()).into(),
        ),
        (
            "app-progress",
            "Progress",
            format!("{:.0}%", a.progress * 100.0),
        ),
        ("app-submitted", "Submitted", fmt_time(a.submit_time_ms)),
        ("app-started", "Started", fmt_time(a.start_time_ms)),
        ("app-finished", "Finished", fmt_time(a.finish_time_ms)),
        ("app-elapsed", "Elapsed", elapsed),
        ("app-attempt", "AM attempt", a.attempt.to_string()),
        ("app-am-container", "AM container", am_logs),
        (
            "app-am-host",
            "AM host",
            format!("{} (RPC {})", esc(&a.am_host), esc(&a.am_rpc_addr)),
        ),
        (
            "app-resources",
            "Running containers, memory, vcores",
            format!(
                "{} containers, {} MB, {} vcores",
                a.running_containers, used.memory_mb, used.vcores
            ),
        ),
        (
            "app-diagnostics",
            "Diagnostics",
            if a.diagnostics.is_empty() {
                "-".to_string()
            } else {
                format!("<pre>{}</pre>", esc(&a.diagnostics))
            },
        ),
    ];
    s.push_str("<table id=\"app\">");
    for (id, k, v) in rows {
        let _ = write!(s, "<tr><th>{k}</th><td id=\"{id}\">{v}</td></tr>");
    }
    s.push_str("</table>");
    let _ = write!(
        s,
        "<p><a id=\"logs\" href=\"{}\">Logs of every container</a></p>",
        esc(&logs_url(&a.app_id, &[]))
    );

    if a.state() == pb::AppState::Running && !a.am_rpc_addr.is_empty() {
        s.push_str("<h2>Job progress</h2>");
        match live_status(&a.am_rpc_addr, &a.am_cert_pem).await {
            Ok(j) => {
                // The AM knows the number of maps only once the splits are
                // computed (0 before); say nothing rather than "of 0".
                let of = |n: u32, what: &str| {
                    if n == 0 {
                        String::new()
                    } else {
                        format!(" of {n} {what}")
                    }
                };
                let _ = write!(
                    s,
                    "<table id=\"progress\"><tr><th>Job state</th><td id=\"job-state\">{}</td></tr>\
                     <tr><th>Map</th><td id=\"map-progress\">{:.0}%{}</td></tr>\
                     <tr><th>Reduce</th><td id=\"reduce-progress\">{:.0}%{}</td></tr></table>\
                     <p>Counters and task attempts appear here when the job has ended.</p>",
                    esc(&j.state),
                    j.map_progress * 100.0,
                    of(j.maps, "maps"),
                    j.reduce_progress * 100.0,
                    of(j.reduces, "reduces")
                );
            }
            Err(e) => {
                let _ = write!(
                    s,
                    "<p class=\"err\">Live progress unavailable: {}</p>",
                    esc(&e)
                );
            }
        }
    }
    let is_mr = a.app_type.eq_ignore_ascii_case("MAPREDUCE") || a.app_type.is_empty();
    let ended = crate::yarn::client::is_final(a.state());
    if ended || is_mr {
        match job_history(&a.app_id).await {
            Ok(Some(h)) => render_history(&mut s, &h),
            Ok(None) if ended && is_mr => {
                let _ = write!(
                    s,
                    "<p>No job history at {} (the application master did not write one).</p>",
                    esc(&history::history_path(&a.app_id))
                );
            }
            Ok(None) => {}
            Err(e) => {
                let _ = write!(
                    s,
                    "<p class=\"err\">Job history unavailable: {}</p>",
                    esc(&e)
                );
            }
        }
    }
    page(&format!("Application {}", a.app_id), &s)
}

fn render_history(s: &mut String, h: &JobHistory) {
    let count = |kind: &str, ok: bool| {
        h.attempts
            .iter()
            .filter(|t| attempt_kind(&t.attempt) == kind)
            .filter(|t| !ok || t.status == TaskStatus::Succeeded)
            .count()
    };
    let _ = write!(
        s,
        "<h2>MapReduce job</h2><table id=\"job\">\
         <tr><th>Job</th><td>{}</td></tr><tr><th>State</th><td id=\"job-state\">{}</td></tr>\
         <tr><th>Input</th><td>{}</td></tr><tr><th>Output</th><td>{}</td></tr>\
         <tr><th>Maps (succeeded / total)</th><td id=\"maps\">{} / {}</td></tr>\
         <tr><th>Reduces (succeeded / total)</th><td id=\"reduces\">{} / {}</td></tr>\
         <tr><th>Submitted / started / finished</th><td>{} / {} / {}</td></tr>\
         <tr><th>AM attempt</th><td>{}</td></tr>",
        esc(&h.job_name),
        esc(&h.state),
        esc(&h.inputs.join(", ")),
        esc(&h.output),
        count("map", true),
        h.maps,
        count("reduce", true),
        h.reduces,
        fmt_time(h.submit_time_ms),
        fmt_time(h.start_time_ms),
        fmt_time(h.finish_time_ms),
        h.am_attempt
    );
    if !h.diagnostics.is_empty() {
        let _ = write!(
            s,
            "<tr><th>Diagnostics</th><td><pre>{}</pre></td></tr>",
            esc(&h.diagnostics)
        );
    }
    s.push_str("</table>");
    let _ = write!(
        s,
        "<h2>Counters (<span id=\"counter-count\">{}</span>)</h2><table id=\"counters\">\
         <tr><th>Group</th><th>Counter</th><th>Value</th></tr>",
        h.counters.iter().count()
    );
    for (g, n, v) in h.counters.iter() {
        let _ = write!(
            s,
            "<tr class=\"counter\"><td>{}</td><td>{}</td><td class=\"n\">{v}</td></tr>",
            esc(Counters::display_group(g)),
            esc(n)
        );
    }
    s.push_str("</table>");
    let _ = write!(
        s,
        "<h2>Task attempts (<span id=\"attempt-count\">{}</span>)</h2><table id=\"attempts\">\
         <tr><th>Attempt</th><th>Type</th><th>Node</th><th>State</th><th>Elapsed</th>\
         <th>Diagnostics</th><th>Logs</th></tr>",
        h.attempts.len()
    );
    for t in &h.attempts {
        let _ = write!(
            s,
            "<tr class=\"attempt\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td>\
             <td>{}</td><td><a href=\"{}\">logs</a></td></tr>",
            esc(&t.attempt),
            attempt_kind(&t.attempt),
            esc(&t.host),
            status_name(t.status),
            fmt_ms(t.elapsed_ms),
            esc(&t.diagnostics),
            esc(&logs_url(
                &h.app_id,
                &[("host", &t.host), ("attempt", &t.attempt)]
            ))
        );
    }
    s.push_str("</table>");
}

/// The containers that ran `attempt`, from the logs: the application master
/// logs `starting attempt attempt=A container=C …` and the task runtime
/// `task starting attempt=A container=C`; ids are whole tokens, so
/// `…_0` does not match `…_01`.
fn containers_of_attempt<S: AsRef<str>>(
    logs: impl Iterator<Item = S>,
    attempt: &str,
) -> HashSet<String> {
    let want = format!("attempt={attempt}");
    let mut out = HashSet::new();
    for text in logs {
        for line in text.as_ref().lines() {
            let mut toks = line.split_whitespace();
            if !line.split_whitespace().any(|t| t == want) {
                continue;
            }
            if let Some(c) = toks.find_map(|t| t.strip_prefix("container=")) {
                out.insert(c.to_string());
            }
        }
    }
    out
}

// ---------------------------------------------------------------- logs page

async fn logs_page(
    State(rm): State<Arc<Rm>>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let a = match report_of(&rm, &id) {
        Ok(a) => a,
        Err(r) => return *r,
    };
    let host = q.get("host").filter(|h| !h.is_empty());
    let container = q.get("container").filter(|c| !c.is_empty());
    let attempt = q.get("attempt").filter(|c| !c.is_empty());
    let hosts: HashMap<String, String> = rm
        .state
        .lock()
        .nodes(true)
        .into_iter()
        .map(|n| (n.rpc_addr, n.host))
        .collect();
    let addrs: Vec<&String> = a
        .nm_rpc_addrs
        .iter()
        .filter(|addr| match host {
            Some(h) => hosts.get(*addr) == Some(h) || addr.split(':').next() == Some(h.as_str()),
            None => true,
        })
        .collect();
    let mut logs = Vec::new();
    let mut errors = Vec::new();
    let mut only = a.clone();
    only.nm_rpc_addrs = addrs.into_iter().cloned().collect();
    for n in super::fetch_logs(&rm, &only, container.map(String::as_str), LOG_TAIL).await {
        if n.error.is_empty() {
            let addr = n.nm_rpc_addr;
            logs.extend(n.logs.into_iter().map(|l| (addr.clone(), l)));
        } else {
            errors.push(format!("node manager {}: {}", n.nm_rpc_addr, n.error));
        }
    }
    let mut note = String::new();
    if let Some(att) = attempt {
        let ran = containers_of_attempt(
            logs.iter().map(|(_, l)| String::from_utf8_lossy(&l.data)),
            att,
        );
        if ran.is_empty() {
            let _ = write!(
                note,
                "<p>No container log names the container of {}; showing every container \
                 of the application{}.</p>",
                esc(att),
                if host.is_some() { " on that host" } else { "" }
            );
        } else {
            logs.retain(|(_, l)| ran.contains(&l.container_id));
        }
    }
    logs.sort_by(|x, y| (&x.1.container_id, &x.1.file).cmp(&(&y.1.container_id, &y.1.file)));
    let mut s = format!(
        "<p>Application <a href=\"/app/{}\">{}</a>{}{}{}.</p>",
        esc(&enc(&a.app_id)),
        esc(&a.app_id),
        host.map(|h| format!(", host {}", esc(h)))
            .unwrap_or_default(),
        container
            .map(|c| format!(", container {}", esc(c)))
            .unwrap_or_default(),
        attempt
            .map(|c| format!(", attempt {}", esc(c)))
            .unwrap_or_default(),
    );
    s.push_str(&note);
    for e in &errors {
        let _ = write!(s, "<p class=\"err\">Logs unavailable: {}</p>", esc(e));
    }
    if logs.is_empty() && errors.is_empty() {
        s.push_str(
            "<p id=\"no-logs\">No logs found (the node managers may have cleaned them up).</p>",
        );
    }
    let _ = write!(
        s,
        "<p><span id=\"log-count\">{}</span> log files.</p>",
        logs.len()
    );
    for (addr, l) in &logs {
        let shown = l.data.len() as u64;
        let _ = write!(
            s,
            "<h3 class=\"log\">{} {} <small>(node manager {}, {} bytes{})</small></h3><pre>{}</pre>",
            esc(&l.container_id),
            esc(&l.file),
            esc(addr),
            l.length,
            if shown < l.length {
                format!(", last {shown} shown")
            } else {
                String::new()
            },
            esc(&String::from_utf8_lossy(&l.data))
        );
    }
    let status = if logs.is_empty() && !errors.is_empty() {
        StatusCode::BAD_GATEWAY
    } else {
        StatusCode::OK
    };
    let mut r = page(&format!("Logs of {}", a.app_id), &s);
    *r.status_mut() = status;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempt_kinds_and_log_urls() {
        assert_eq!(attempt_kind("attempt_1_0001_m_000003_0"), "map");
        assert_eq!(attempt_kind("attempt_1_0001_r_000000_1"), "reduce");
        assert_eq!(
            logs_url("application_1_2", &[("host", "a b"), ("attempt", "x&y")]),
            "/app/application_1_2/logs?host=a%20b&attempt=x%26y"
        );
        assert_eq!(esc("<'\"&>"), "&lt;&#39;&quot;&amp;&gt;");
        assert_eq!(fmt_ms(1500), "1.5s");
        assert_eq!(fmt_ms(61_000), "1m 1s");
    }

    #[test]
    fn finds_the_container_of_an_attempt() {
        let am = "t INFO starting attempt attempt=attempt_1_0001_m_000000_1 container=c_2 node=n\n\
                  t INFO starting attempt attempt=attempt_1_0001_m_000000_10 container=c_3 node=n\n";
        let task = "t INFO task starting attempt=attempt_1_0001_m_000000_1 container=c_2\n";
        let found = containers_of_attempt([am, task].into_iter(), "attempt_1_0001_m_000000_1");
        assert_eq!(found, HashSet::from(["c_2".to_string()]));
        assert!(containers_of_attempt([am].into_iter(), "attempt_9").is_empty());
    }
}
