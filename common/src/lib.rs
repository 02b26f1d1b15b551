//! Pieces shared by several Tusk crates.
//!
//! # Layout
//! - [`blockmeta`]: the datanode's replica meta file format (header, CRC
//!   offsets), parsed by the datanode and by short-circuit readers.
//! - [`config`]: the cluster TOML file (`tusk.toml`), one struct per section,
//!   every field defaulted, sizes and durations as strings.
//! - [`units`]: parsing and printing of sizes (`128MiB`) and durations (`3s`).
//! - [`path`]: the rules for a valid absolute Tusk path, shared by the client
//!   (which normalizes) and the namenode (which refuses anything else).
//! - [`shed`]: the bound on calls in flight per gRPC server (load shedding).
//! - [`sys`]: the login user name, `*.addr` files.
//! - [`logging`]: the tracing subscriber that binaries install.
//! - [`metrics`], [`rpc_metrics`]: Prometheus text for `/metrics`; per-method
//!   RPC counts and latency histograms for every tonic server.
//! - [`security`]: the cluster secret, node authentication, user tokens,
//!   block access tokens and their keys.
//! - [`webhdfs`]: query parameters and `RemoteException` errors shared by the
//!   namenode's and the datanodes' WebHDFS endpoints.

pub mod blockmeta;
pub mod config;
pub mod escape;
pub mod logging;
pub mod metrics;
pub mod net;
pub mod path;
pub mod rpc_metrics;
pub mod security;
pub mod shed;
pub mod sys;
pub mod trash;
pub mod units;
pub mod webhdfs;

pub use config::TuskConfig;
