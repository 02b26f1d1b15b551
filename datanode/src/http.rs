//! The HTTP server: `/metrics` (Prometheus text) and `/health` here, the
//! WebHDFS data endpoints from [`crate::webhdfs`].

use crate::node::Node;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;
use tokio::sync::watch;

#[derive(Clone)]
struct HttpState {
    node: Arc<Node>,
    registered: watch::Receiver<bool>,
}

pub(crate) fn router(node: Arc<Node>, registered: watch::Receiver<bool>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .with_state(HttpState {
            node: node.clone(),
            registered,
        })
        .merge(crate::webhdfs::router(node))
}

/// Prometheus text, or JSON with `?format=json`.
async fn metrics(State(s): State<HttpState>, RawQuery(query): RawQuery) -> impl IntoResponse {
    let node = s.node.clone();
    // statvfs and the replica count touch the store: off the tokio workers.
    let body = tokio::task::spawn_blocking(move || {
        let volumes = node.store.volumes();
        let replicas = node.store.finalized().len();
        node.metrics.render(replicas, node.xceivers(), &volumes)
    })
    .await
    .unwrap_or_default();
    let (content_type, body) = tusk_common::metrics::respond(body, query.as_deref());
    ([(header::CONTENT_TYPE, content_type)], body)
}

async fn health(State(s): State<HttpState>) -> impl IntoResponse {
    let registered = *s.registered.borrow();
    (
        [(header::CONTENT_TYPE, "application/json")],
        format!(
            "{{\"status\":\"ok\",\"uuid\":\"{}\",\"registered\":{registered},\"xceivers\":{}}}\n",
            s.node.uuid,
            s.node.xceivers()
        ),
    )
}
