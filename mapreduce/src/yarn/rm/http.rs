//! The resource manager's HTTP server: `/metrics` (Prometheus text),
//! `/ws/v1/cluster/apps` (JSON, Hadoop's shape), `/health`; the web UI is in
//! [`super::ui`].

use super::Rm;
use crate::yarn::pb;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::Arc;

pub(crate) fn router(rm: Arc<Rm>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .route("/ws/v1/cluster/apps", get(apps_json))
        .with_state(rm.clone())
        .merge(super::ui::router(rm))
}

pub(super) fn state_name(s: pb::AppState) -> &'static str {
    s.as_str_name().trim_start_matches("APP_STATE_")
}

pub(super) fn final_name(s: pb::FinalStatus) -> &'static str {
    s.as_str_name().trim_start_matches("FINAL_STATUS_")
}

use tusk_common::escape::json_str;

/// Prometheus text, or JSON with `?format=json`.
async fn metrics(State(rm): State<Arc<Rm>>, RawQuery(query): RawQuery) -> impl IntoResponse {
    let (m, allocated, released, completed) = {
        let st = rm.state.lock();
        (
            st.metrics(),
            st.containers_allocated,
            st.containers_released,
            st.containers_completed,
        )
    };
    let total = m.total.unwrap_or_default();
    let used = m.allocated.unwrap_or_default();
    let mut s = String::new();
    let mut line = |name: &str, kind: &str, help: &str, v: u64| {
        tusk_common::metrics::write_metric(&mut s, name, kind, help, v)
    };
    line(
        "tusk_resourcemanager_active_nodes",
        "gauge",
        "Node managers heartbeating.",
        m.active_nodes as u64,
    );
    line(
        "tusk_resourcemanager_lost_nodes",
        "gauge",
        "Node managers declared lost.",
        m.lost_nodes as u64,
    );
    line(
        "tusk_resourcemanager_apps_submitted_total",
        "counter",
        "Applications submitted since start.",
        m.apps_submitted as u64,
    );
    line(
        "tusk_resourcemanager_apps_pending",
        "gauge",
        "Applications waiting for their AM.",
        m.apps_pending as u64,
    );
    line(
        "tusk_resourcemanager_apps_running",
        "gauge",
        "Applications whose AM registered.",
        m.apps_running as u64,
    );
    line(
        "tusk_resourcemanager_apps_finished",
        "gauge",
        "Applications finished (AM unregistered), kept for reports.",
        m.apps_completed as u64,
    );
    line(
        "tusk_resourcemanager_apps_failed",
        "gauge",
        "Applications failed, kept for reports.",
        m.apps_failed as u64,
    );
    line(
        "tusk_resourcemanager_apps_killed",
        "gauge",
        "Applications killed, kept for reports.",
        m.apps_killed as u64,
    );
    line(
        "tusk_resourcemanager_memory_capacity_mb",
        "gauge",
        "Memory of live node managers (MiB).",
        total.memory_mb,
    );
    line(
        "tusk_resourcemanager_memory_allocated_mb",
        "gauge",
        "Memory allocated to containers (MiB).",
        used.memory_mb,
    );
    line(
        "tusk_resourcemanager_vcores_capacity",
        "gauge",
        "Cores of live node managers.",
        total.vcores as u64,
    );
    line(
        "tusk_resourcemanager_vcores_allocated",
        "gauge",
        "Cores allocated to containers.",
        used.vcores as u64,
    );
    line(
        "tusk_resourcemanager_containers_running",
        "gauge",
        "Containers allocated and not completed.",
        m.containers_running as u64,
    );
    line(
        "tusk_resourcemanager_containers_allocated_total",
        "counter",
        "Containers allocated since start (AMs and tasks).",
        allocated,
    );
    line(
        "tusk_resourcemanager_containers_released_total",
        "counter",
        "Containers given back before they completed: released by their AM, or killed \
         because their attempt or application ended.",
        released,
    );
    line(
        "tusk_resourcemanager_containers_completed_total",
        "counter",
        "Containers reported completed by their node manager (or lost with it).",
        completed,
    );
    rm.rpc.render(&mut s, "tusk_resourcemanager");
    let (content_type, body) = tusk_common::metrics::respond(s, query.as_deref());
    ([(header::CONTENT_TYPE, content_type)], body)
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
