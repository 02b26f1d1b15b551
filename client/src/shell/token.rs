//! `dfs admin token create USER [--lifetime DUR] [--secret-file PATH]
//! [--config FILE]` and `dfs admin token verify [TOKEN]`: user tokens for
//! clusters with `[security] authentication = "token"`.
//!
//! Minting needs the cluster secret file (mode 0600), so only whoever can
//! read it — the administrator — can make tokens; no namenode is contacted.
//! The secret is `--secret-file`, else `[security] cluster_secret_file` of
//! the config (`--config FILE`, else `$TUSK_HOME/tusk.toml` when it
//! exists), else `$TUSK_SECRET_FILE`, else `$TUSK_HOME/cluster.secret`,
//! else `cluster.secret` here — where the daemons look for it.

use super::format::stat_date;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tusk_common::security::{self, ClusterSecret};
use tusk_common::TuskConfig;

pub(super) const TOKEN_USAGE: &str =
    "admin token create USER [--lifetime DURATION] [--secret-file PATH] [--config FILE] | admin token verify [TOKEN] [--secret-file PATH] [--config FILE]";

/// Options shared by both subcommands.
#[derive(Debug, Default, PartialEq)]
struct Opts {
    positional: Vec<String>,
    lifetime: Option<Duration>,
    secret_file: Option<PathBuf>,
    config: Option<PathBuf>,
}

fn parse(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match a.as_str() {
            "--lifetime" | "-lifetime" => {
                let v = value("--lifetime")?;
                let d = tusk_common::units::parse_duration(&v)?;
                if d.is_zero() {
                    return Err(format!("invalid lifetime {v:?}: must be more than 0"));
                }
                o.lifetime = Some(d);
            }
            "--secret-file" | "-secret-file" => {
                o.secret_file = Some(PathBuf::from(value("--secret-file")?))
            }
            "--config" | "-config" => o.config = Some(PathBuf::from(value("--config")?)),
            s if s.starts_with('-') && s.len() > 1 => return Err(format!("unknown option {s}")),
            _ => o.positional.push(a.clone()),
        }
    }
    Ok(o)
}

/// The `[security]` section that applies: `--config`, else
/// `$TUSK_HOME/tusk.toml` when it exists, else the defaults.
fn security_config(o: &Opts) -> Result<tusk_common::config::SecurityConfig, String> {
    let path = o.config.clone().or_else(|| {
        std::env::var_os("TUSK_HOME")
            .filter(|h| !h.is_empty())
            .map(|h| Path::new(&h).join("tusk.toml"))
            .filter(|p| p.exists())
    });
    match path {
        Some(p) => TuskConfig::load(&p)
            .map(|c| c.security)
            .map_err(|e| e.to_string()),
        None => Ok(Default::default()),
    }
}

fn load_secret(
    o: &Opts,
    sec: &tusk_common::config::SecurityConfig,
) -> Result<ClusterSecret, String> {
    let path = o.secret_file.clone().unwrap_or_else(|| sec.secret_path());
    ClusterSecret::load(&path).map_err(|e| {
        format!("{e} (only an administrator who can read the cluster secret can make or check tokens; see --secret-file)")
    })
}

/// `15d 3h 20m`-style remaining time.
fn remaining(ms: u64) -> String {
    let (d, h, m, s) = (
        ms / 86_400_000,
        ms / 3_600_000 % 24,
        ms / 60_000 % 60,
        ms / 1000 % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h {m}m"),
    }
}

/// A user name a token may carry (the namenode's names: non-empty, ASCII
/// printable, no `/`, no white space).
fn valid_user(u: &str) -> bool {
    !u.is_empty() && u.bytes().all(|b| b.is_ascii_graphic() && b != b'/')
}

/// Runs `admin token …` (`args` after `token`); returns the exit status.
pub(super) fn run(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let fail = |err: &mut dyn Write, what: &str, msg: &str| {
        let _ = writeln!(err, "dfs: admin token {what}: {msg}");
        1
    };
    let Some(sub) = args.first() else {
        let _ = writeln!(err, "dfs: admin token: missing subcommand");
        let _ = writeln!(err, "Usage: dfs {TOKEN_USAGE}");
        return 1;
    };
    let opts = match parse(&args[1..]) {
        Ok(o) => o,
        Err(e) => {
            let _ = writeln!(err, "dfs: admin token {sub}: {e}");
            let _ = writeln!(err, "Usage: dfs {TOKEN_USAGE}");
            return 1;
        }
    };
    let sec = match security_config(&opts) {
        Ok(s) => s,
        Err(e) => return fail(err, sub, &e),
    };
    match sub.as_str() {
        "create" => {
            let [user] = opts.positional.as_slice() else {
                let _ = writeln!(err, "dfs: admin token create: needs exactly one USER");
                let _ = writeln!(err, "Usage: dfs {TOKEN_USAGE}");
                return 1;
            };
            if !valid_user(user) {
                return fail(err, sub, &format!("invalid user name {user:?}"));
            }
            let secret = match load_secret(&opts, &sec) {
                Ok(s) => s,
                Err(e) => return fail(err, sub, &e),
            };
            let lifetime = opts.lifetime.unwrap_or(sec.user_token_lifetime.0);
            let token = secret.issue_user_token(user, lifetime);
            let _ = writeln!(out, "{token}");
            match out.flush() {
                Ok(()) => 0,
                Err(e) => fail(err, sub, &format!("writing the token: {e}")),
            }
        }
        "verify" => {
            let token = match opts.positional.as_slice() {
                [t] => t.clone(),
                [] => match security::token_from_env() {
                    Ok(Some(t)) => t,
                    Ok(None) => {
                        return fail(
                            err,
                            sub,
                            "no token given, and none in TUSK_TOKEN, TUSK_TOKEN_FILE or ~/.config/tusk/token",
                        )
                    }
                    Err(e) => return fail(err, sub, &e),
                },
                _ => return fail(err, sub, "takes at most one TOKEN"),
            };
            let secret = match load_secret(&opts, &sec) {
                Ok(s) => s,
                Err(e) => return fail(err, sub, &e),
            };
            match secret.verify_user_token(&token) {
                Ok(t) => {
                    let now = security::now_ms();
                    let _ = writeln!(out, "user\t{}", t.user);
                    let _ = writeln!(out, "issued\t{} UTC", stat_date(t.issued_ms));
                    let _ = writeln!(
                        out,
                        "expires\t{} UTC (in {})",
                        stat_date(t.expires_ms),
                        remaining(t.expires_ms.saturating_sub(now))
                    );
                    let _ = writeln!(out, "id\t{:016x}", t.id);
                    let _ = out.flush();
                    0
                }
                Err(e) => fail(err, sub, &format!("token refused: {e}")),
            }
        }
        other => {
            let _ = writeln!(err, "dfs: admin token: unknown subcommand {other:?}");
            let _ = writeln!(err, "Usage: dfs {TOKEN_USAGE}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_options() {
        let o = parse(&strings(&[
            "alice",
            "--lifetime",
            "2h",
            "--secret-file",
            "/s",
        ]))
        .unwrap();
        assert_eq!(o.positional, ["alice"]);
        assert_eq!(o.lifetime, Some(Duration::from_secs(7200)));
        assert_eq!(o.secret_file.as_deref(), Some(Path::new("/s")));
        assert!(parse(&strings(&["--lifetime"])).is_err());
        assert!(parse(&strings(&["--lifetime", "0s"])).is_err());
        assert!(parse(&strings(&["--bogus"])).is_err());
    }

    #[test]
    fn create_then_verify_with_a_secret_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cluster.secret");
        ClusterSecret::load_or_create(&p).unwrap();
        let sf = p.to_str().unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run(
            &strings(&["create", "alice", "--lifetime", "1h", "--secret-file", sf]),
            &mut out,
            &mut err,
        );
        assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
        let token = String::from_utf8(out).unwrap().trim().to_string();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run(
            &strings(&["verify", &token, "--secret-file", sf]),
            &mut out,
            &mut err,
        );
        assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("user\talice\n"), "{text}");
        assert!(
            text.contains("(in 59m") || text.contains("(in 1h 0m)"),
            "{text}"
        );

        let (mut out, mut err) = (Vec::new(), Vec::new());
        let missing = dir.path().join("none");
        let code = run(
            &strings(&["create", "bob", "--secret-file", missing.to_str().unwrap()]),
            &mut out,
            &mut err,
        );
        assert_eq!(code, 1);
        assert!(out.is_empty());
        let e = String::from_utf8(err).unwrap();
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(e.contains("not found"), "{e}");
    }

    #[test]
    fn remaining_times_read_well() {
        assert_eq!(remaining(5_000), "5s");
        assert_eq!(remaining(61_000), "1m 1s");
        assert_eq!(remaining(3_660_000), "1h 1m");
        assert_eq!(remaining(7 * 86_400_000), "7d 0h 0m");
    }
}
