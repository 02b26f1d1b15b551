//! Tusk's wire protocol: the messages and gRPC services generated from
//! `proto/tusk.proto` (see that file for the semantics of every call).
//!
//! Nothing but generated code lives here; conversions to domain types belong
//! in each crate's `convert.rs`.

#![allow(clippy::all)]

tonic::include_proto!("tusk");

/// gRPC metadata key carrying the caller's user name.
pub const USER_HEADER: &str = "x-tusk-user";
/// gRPC metadata key carrying the Hadoop exception class name of an error.
pub const ERROR_CLASS_HEADER: &str = "x-tusk-error";

/// The compute layer's protocol (`proto/yarn.proto`).
pub mod yarn {
    tonic::include_proto!("tusk.yarn");
}

/// The MapReduce application master's protocol (`proto/mr.proto`).
pub mod mr {
    tonic::include_proto!("tusk.mr");
}

/// The RPC floor of `tusk-bench nn --echo` (`proto/bench.proto`).
pub mod bench {
    tonic::include_proto!("tusk.bench");
}
