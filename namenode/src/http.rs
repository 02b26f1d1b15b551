//! The namenode's HTTP server: `/metrics` (Prometheus text) and `/health`
//! here, the web UI from [`crate::ui`], WebHDFS from [`crate::webhdfs`].

use crate::rpc::NamenodeState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub fn router(state: Arc<NamenodeState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .with_state(state.clone())
        .merge(crate::ui::router(state.clone()))
        .merge(crate::webhdfs::router(state))
}

/// Serves on `listener` until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    state: Arc<NamenodeState>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|s| *s).await;
        })
        .await
}

async fn health() -> &'static str {
    "OK\n"
}

async fn metrics(State(s): State<Arc<NamenodeState>>) -> impl IntoResponse {
    let stats = s.read(|f| f.fs_stats());
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(&stats, &s.commit) + &s.commit.render_metrics(),
    )
}
