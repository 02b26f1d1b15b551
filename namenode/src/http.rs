//! The namenode's HTTP server: `/metrics` (Prometheus text) and `/health`
//! here, the web UI from [`crate::ui`], WebHDFS from [`crate::webhdfs`].

use crate::metrics::Gauges;
use crate::rpc::NamenodeState;
use crate::types::AdminState;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tusk_common::metrics::respond;

pub fn router(state: Arc<NamenodeState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .with_state(state.clone())
        .merge(crate::ui::router(state.clone()))
        .merge(crate::webhdfs::router(state))
}

/// Serves on `listener` until `shutdown` turns true, with the HTTP limits
/// of `[limits]`. Every request carries the peer address (`ConnectInfo`):
/// WebHDFS redirects to the datanode nearest the caller.
pub async fn serve(
    listener: TcpListener,
    state: Arc<NamenodeState>,
    shutdown: watch::Receiver<bool>,
    limits: &tusk_common::config::LimitsConfig,
) -> std::io::Result<()> {
    tusk_common::net::serve_http_with(listener, router(state), shutdown, "namenode", limits).await;
    Ok(())
}

async fn health() -> &'static str {
    "OK\n"
}

/// Prometheus text, or JSON with `?format=json`.
async fn metrics(
    State(s): State<Arc<NamenodeState>>,
    RawQuery(query): RawQuery,
) -> impl IntoResponse {
    let gauges = s.read(|f| {
        let mut g = Gauges {
            fs: f.fs_stats(),
            ..Gauges::default()
        };
        for d in f.datanode_report(Instant::now()) {
            match d.admin_state {
                AdminState::Decommissioning => g.decommissioning_datanodes += 1,
                AdminState::Decommissioned => g.decommissioned_datanodes += 1,
                AdminState::InService => {}
            }
        }
        g
    });
    let text = s.metrics.render(&gauges, &s.commit) + &s.commit.render_metrics();
    let (content_type, body) = respond(text, query.as_deref());
    ([(header::CONTENT_TYPE, content_type)], body)
}
