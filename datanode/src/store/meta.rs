//! The meta file format (`blk_<id>_<genstamp>.meta`).
//!
//! The format and its pure parser live in `tusk_common::blockmeta` (clients
//! reading replicas directly through short-circuit local reads parse it
//! too); this module re-exports them for the store.

pub use tusk_common::blockmeta::*;
