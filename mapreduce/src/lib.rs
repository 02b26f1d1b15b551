//! Tusk's compute layer (see shared/DESIGN.md, "Compute layer").
//!
//! - [`yarn`]: the resource manager, node managers, the scheduler and the
//!   clients an application uses to talk to them. Knows nothing of MapReduce.
//! - [`engine`]: MapReduce itself: the job API, splits, the map-side sort and
//!   spill, the shuffle client, the reduce-side merge, the output committer and
//!   the built-in jobs. Knows nothing of how containers are obtained.
//! - [`am`]: the MR application master and the `mapred` client: joins the
//!   two, running the engine's tasks in YARN containers.
//! - [`streaming`]: Hadoop Streaming, the built-in job whose mapper,
//!   combiner and reducer are commands, and its client side.

pub mod am;
pub mod engine;
pub mod streaming;
pub mod yarn;

/// The `main` of a user's job binary: runs the job in this process, or —
/// shipped with `mapred run` — as the application master or a task in a
/// YARN container.
pub use am::job_main;
