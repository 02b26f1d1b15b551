//! The WebHDFS data endpoints on the datanode's HTTP port: where the
//! namenode redirects CREATE, APPEND, OPEN and GETFILECHECKSUM.

use crate::node::Node;
use axum::Router;
use std::sync::Arc;

pub(crate) fn router(node: Arc<Node>) -> Router {
    let _ = node;
    Router::new()
}
