//! MapReduce data path (filled in by the engine work).
