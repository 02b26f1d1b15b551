//! The node manager's HTTP server: `/metrics` (Prometheus text) and `/health`.

use super::Nm;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub(crate) fn router(nm: Arc<Nm>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .with_state(nm)
}

/// Prometheus text, or JSON with `?format=json`.
async fn metrics(State(nm): State<Arc<Nm>>, RawQuery(query): RawQuery) -> impl IntoResponse {
    let m = &nm.metrics;
    let used = nm.used();
    let running = nm
        .containers
        .lock()
        .values()
        .filter(|c| !c.is_done())
        .count();
    let mut s = String::new();
    let mut line = |name: &str, kind: &str, help: &str, v: u64| {
        tusk_common::metrics::write_metric(&mut s, name, kind, help, v)
    };
    let c = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    line(
        "tusk_nodemanager_registered",
        "gauge",
        "1 when registered with the resource manager",
        *nm.registered.borrow() as u64,
    );
    line(
        "tusk_nodemanager_containers_running",
        "gauge",
        "containers localizing or running",
        running as u64,
    );
    line(
        "tusk_nodemanager_memory_capacity_mb",
        "gauge",
        "memory offered to containers",
        nm.capability.memory_mb,
    );
    line(
        "tusk_nodemanager_memory_allocated_mb",
        "gauge",
        "memory of the containers not complete",
        used.memory_mb,
    );
    line(
        "tusk_nodemanager_vcores_capacity",
        "gauge",
        "cores offered to containers",
        nm.capability.vcores as u64,
    );
    line(
        "tusk_nodemanager_vcores_allocated",
        "gauge",
        "cores of the containers not complete",
        used.vcores as u64,
    );
    line(
        "tusk_nodemanager_containers_launched_total",
        "counter",
        "container processes started",
        c(&m.launched),
    );
    line(
        "tusk_nodemanager_containers_completed_total",
        "counter",
        "containers completed",
        c(&m.completed),
    );
    line(
        "tusk_nodemanager_containers_failed_total",
        "counter",
        "containers that exited non-zero or could not start",
        c(&m.failed),
    );
    line(
        "tusk_nodemanager_containers_killed_total",
        "counter",
        "containers stopped on request",
        c(&m.killed),
    );
    line(
        "tusk_nodemanager_containers_killed_pmem_total",
        "counter",
        "containers killed over their memory limit",
        c(&m.killed_pmem),
    );
    line(
        "tusk_nodemanager_localization_failures_total",
        "counter",
        "containers whose files could not be localized",
        c(&m.localization_failures),
    );
    line(
        "tusk_nodemanager_shuffle_requests_total",
        "counter",
        "map output partitions served",
        c(&m.shuffle_requests),
    );
    line(
        "tusk_nodemanager_shuffle_bytes_total",
        "counter",
        "map output bytes served",
        c(&m.shuffle_bytes),
    );
    line(
        "tusk_nodemanager_apps_cleaned_total",
        "counter",
        "finished applications cleaned up",
        c(&m.apps_cleaned),
    );
    line(
        "tusk_nodemanager_localized_files_total",
        "counter",
        "resources downloaded from DFS into a file cache",
        c(&m.localized_files),
    );
    line(
        "tusk_nodemanager_localized_bytes_total",
        "counter",
        "bytes of resources downloaded from DFS into a file cache",
        c(&m.localized_bytes),
    );
    m.rpc.render(&mut s, "tusk_nodemanager");
    let (content_type, body) = tusk_common::metrics::respond(s, query.as_deref());
    ([(header::CONTENT_TYPE, content_type)], body)
}

async fn health(State(nm): State<Arc<Nm>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        format!(
            "{{\"status\":\"ok\",\"node_id\":\"{}\",\"registered\":{}}}\n",
            nm.node_id,
            *nm.registered.borrow()
        ),
    )
}
