//! gRPC serving for the YARN daemons: the shared graceful-then-cut server
//! of [`tusk_common::net`].

pub(crate) use tusk_common::net::serve_grpc_with;
