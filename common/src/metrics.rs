//! Prometheus text exposition, shared by every daemon's `/metrics`.

use std::fmt::{Display, Write};

/// Appends one metric without labels: its HELP and TYPE lines and its value.
/// `kind` is `counter` or `gauge`.
pub fn write_metric(out: &mut String, name: &str, kind: &str, help: &str, value: impl Display) {
    write_header(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

/// Appends the HELP and TYPE lines of a metric whose labelled samples follow.
pub fn write_header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_format() {
        let mut s = String::new();
        write_metric(&mut s, "tusk_x_total", "counter", "Things.", 3);
        assert_eq!(
            s,
            "# HELP tusk_x_total Things.\n# TYPE tusk_x_total counter\ntusk_x_total 3\n"
        );
    }
}
