//! Serving the DataTransfer service on an already-bound listener, with a
//! shutdown that really ends every connection: graceful first, then forced
//! (see [`tusk_common::net::serve_grpc`]).

use crate::node::{Node, CONNECTION_WINDOW, MAX_FRAME, MAX_MESSAGE, STREAM_WINDOW};
use crate::transfer::DataTransferService;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tusk_proto::data_transfer_server::DataTransferServer;

/// Serves DataTransfer until `stop` fires; then lets open streams finish for
/// up to `grace` and kills the connections that are left. Connection limits
/// and the message size cap come from `[limits]`; at most `max_transfers`
/// ReadBlock/WriteBlock streams run at once (`[datanode] max_transfers`).
pub(crate) async fn serve_data(
    node: Arc<Node>,
    listener: TcpListener,
    stop: watch::Receiver<bool>,
    grace: Duration,
    limits: tusk_common::config::LimitsConfig,
    max_transfers: usize,
) {
    let rpc = node.metrics.rpc.clone();
    let slots = tusk_common::shed::Slots::new(max_transfers);
    let svc = DataTransferServer::new(DataTransferService { node, slots })
        .max_decoding_message_size(limits.max_message().min(MAX_MESSAGE))
        .max_encoding_message_size(MAX_MESSAGE);
    let router = tusk_common::net::grpc_server(&limits)
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        // Whole packets (256 KiB from the client) in one HTTP/2 frame.
        .max_frame_size(MAX_FRAME)
        .add_service(rpc.wrap(svc));
    tusk_common::net::serve_grpc_with(router, listener, stop, grace, "data transfer", &limits)
        .await;
}
