//! YARN-like resource management (filled in by the yarn work).
