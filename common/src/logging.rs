//! The tracing subscriber every Tusk binary installs.

/// Logs to stderr, filtered by `RUST_LOG`, defaulting to `info` for Tusk's own
/// crates and `warn` for the rest. Calling it twice is harmless.
pub fn init(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!(
            "warn,tusk_namenode={l},tusk_datanode={l},tusk_client={l},tusk_common={l},tusk_mapreduce={l}",
            l = default_level
        ))
    });
    // Colours only on a terminal: daemons log to files.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .try_init();
}
