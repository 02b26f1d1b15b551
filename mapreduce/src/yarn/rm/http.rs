//! The resource manager's HTTP server: `/` (status page), `/metrics`
//! (Prometheus text), `/ws/v1/cluster/apps` (JSON, Hadoop's shape), `/health`.

use super::Rm;
use crate::yarn::pb;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::Arc;

pub(crate) fn router(rm: Arc<Rm>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .route("/ws/v1/cluster/apps", get(apps_json))
        .with_state(rm)
}

fn state_name(s: pb::AppState) -> &'static str {
    s.as_str_name().trim_start_matches("APP_STATE_")
}

fn final_name(s: pb::FinalStatus) -> &'static str {
    s.as_str_name().trim_start_matches("FINAL_STATUS_")
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

async fn index(State(rm): State<Arc<Rm>>) -> impl IntoResponse {
    let (nodes, apps, m) = {
        let st = rm.state.lock();
        (st.nodes(true), st.list(&HashSet::new(), ""), st.metrics())
    };
    let mut s = String::from(
        "<!doctype html><html><head><title>Tusk resource manager</title></head><body>\
         <h1>Tusk resource manager</h1>",
    );
    let total = m.total.unwrap_or_default();
    let used = m.allocated.unwrap_or_default();
    let _ = write!(
        s,
        "<p>{} live nodes, {} lost; memory {} of {} MB used, vcores {} of {}; {} containers; \
         applications: {} submitted, {} pending, {} running, {} finished, {} failed, {} killed</p>",
        m.active_nodes,
        m.lost_nodes,
        used.memory_mb,
        total.memory_mb,
        used.vcores,
        total.vcores,
        m.containers_running,
        m.apps_submitted,
        m.apps_pending,
        m.apps_running,
        m.apps_completed,
        m.apps_failed,
        m.apps_killed
    );
    s.push_str("<h2>Nodes</h2><table border=1><tr><th>node</th><th>host</th><th>rack</th><th>state</th><th>containers</th><th>memory used/total MB</th></tr>");
    for n in &nodes {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}/{}</td></tr>",
            html_escape(&n.node_id),
            html_escape(&n.host),
            html_escape(&n.rack),
            n.state().as_str_name().trim_start_matches("NODE_STATE_"),
            n.num_containers,
            n.used.unwrap_or_default().memory_mb,
            n.capability.unwrap_or_default().memory_mb
        );
    }
    s.push_str("</table><h2>Applications</h2><table border=1><tr><th>id</th><th>user</th><th>name</th><th>state</th><th>final status</th><th>progress</th><th>diagnostics</th></tr>");
    for a in apps.iter().rev() {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.0}%</td><td>{}</td></tr>",
            html_escape(&a.app_id),
            html_escape(&a.user),
            html_escape(&a.name),
            state_name(a.state()),
            final_name(a.final_status()),
            a.progress * 100.0,
            html_escape(&a.diagnostics)
        );
    }
    s.push_str("</table></body></html>\n");
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], s)
}

async fn metrics(State(rm): State<Arc<Rm>>) -> impl IntoResponse {
    let m = rm.state.lock().metrics();
    let total = m.total.unwrap_or_default();
    let used = m.allocated.unwrap_or_default();
    let mut s = String::new();
    let mut line = |name: &str, kind: &str, help: &str, v: u64| {
        tusk_common::metrics::write_metric(&mut s, name, kind, help, v)
    };
    line(
        "tusk_resourcemanager_active_nodes",
        "gauge",
        "node managers heartbeating",
        m.active_nodes as u64,
    );
    line(
        "tusk_resourcemanager_lost_nodes",
        "gauge",
        "node managers declared lost",
        m.lost_nodes as u64,
    );
    line(
        "tusk_resourcemanager_apps_submitted_total",
        "counter",
        "applications submitted since start",
        m.apps_submitted as u64,
    );
    line(
        "tusk_resourcemanager_apps_pending",
        "gauge",
        "applications waiting for their AM",
        m.apps_pending as u64,
    );
    line(
        "tusk_resourcemanager_apps_running",
        "gauge",
        "applications whose AM registered",
        m.apps_running as u64,
    );
    line(
        "tusk_resourcemanager_apps_finished",
        "gauge",
        "applications finished (AM unregistered)",
        m.apps_completed as u64,
    );
    line(
        "tusk_resourcemanager_apps_failed",
        "gauge",
        "applications failed",
        m.apps_failed as u64,
    );
    line(
        "tusk_resourcemanager_apps_killed",
        "gauge",
        "applications killed",
        m.apps_killed as u64,
    );
    line(
        "tusk_resourcemanager_memory_total_mb",
        "gauge",
        "memory of live node managers",
        total.memory_mb,
    );
    line(
        "tusk_resourcemanager_memory_allocated_mb",
        "gauge",
        "memory allocated to containers",
        used.memory_mb,
    );
    line(
        "tusk_resourcemanager_vcores_total",
        "gauge",
        "cores of live node managers",
        total.vcores as u64,
    );
    line(
        "tusk_resourcemanager_vcores_allocated",
        "gauge",
        "cores allocated to containers",
        used.vcores as u64,
    );
    line(
        "tusk_resourcemanager_containers_running",
        "gauge",
        "containers allocated and not completed",
        m.containers_running as u64,
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s,
    )
}

async fn health(State(rm): State<Arc<Rm>>) -> impl IntoResponse {
    let m = rm.state.lock().metrics();
    (
        [(header::CONTENT_TYPE, "application/json")],
        format!(
            "{{\"status\":\"ok\",\"activeNodes\":{},\"startedTime\":{}}}\n",
            m.active_nodes, rm.started_ms
        ),
    )
}

async fn apps_json(State(rm): State<Arc<Rm>>) -> impl IntoResponse {
    let apps = rm.state.lock().list(&HashSet::new(), "");
    let mut s = String::from("{\"apps\":{\"app\":[");
    for (i, a) in apps.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(
            s,
            "{{\"id\":{},\"user\":{},\"name\":{},\"queue\":{},\"applicationType\":{},\"state\":{},\
             \"finalStatus\":{},\"progress\":{:.1},\"diagnostics\":{},\"trackingUrl\":{},\
             \"startedTime\":{},\"finishedTime\":{},\"submittedTime\":{},\"amContainerId\":{},\
             \"amHostHttpAddress\":{},\"runningContainers\":{},\"allocatedMB\":{},\"allocatedVCores\":{},\
             \"attempt\":{}}}",
            json_str(&a.app_id),
            json_str(&a.user),
            json_str(&a.name),
            json_str(&a.queue),
            json_str(&a.app_type),
            json_str(state_name(a.state())),
            json_str(final_name(a.final_status())),
            a.progress * 100.0,
            json_str(&a.diagnostics),
            json_str(&a.tracking_url),
            a.start_time_ms,
            a.finish_time_ms,
            a.submit_time_ms,
            json_str(&a.am_container_id),
            json_str(&a.am_host),
            a.running_containers,
            a.used.unwrap_or_default().memory_mb,
            a.used.unwrap_or_default().vcores,
            a.attempt
        );
    }
    s.push_str("]}}\n");
    ([(header::CONTENT_TYPE, "application/json")], s)
}
