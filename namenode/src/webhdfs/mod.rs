//! WebHDFS REST API on the namenode's HTTP port (`/webhdfs/v1/<path>?op=…`).

use crate::rpc::NamenodeState;
use axum::Router;
use std::sync::Arc;

pub fn router(state: Arc<NamenodeState>) -> Router {
    let _ = state;
    Router::new()
}
