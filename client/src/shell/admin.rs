//! Administration commands of `dfs`: `admin report|safemode|decommission|
//! recommission|balancer|setQuota|clrQuota|setSpaceQuota|clrSpaceQuota`,
//! `fsck`, and the waiting half of `setrep -w`.

use super::args::parse_flags;
use super::{format, Shell};
use crate::types::{BalancerAction, BalancerStatus, SafeModeAction};
use std::time::Duration;
use tusk_common::sys::now_ms;

/// How often `safemode wait` and `setrep -w` poll the namenode.
const POLL: Duration = Duration::from_millis(500);

const ADMIN_USAGE: &str =
    "admin report | safemode enter|leave|get|wait | decommission HOST | recommission HOST | balancer [-threshold PCT] [-detach|-status|-stop] | recoverLease [-retries N] PATH | setQuota N DIR... | clrQuota DIR... | setSpaceQuota BYTES DIR... | clrSpaceQuota DIR... | token create USER [--lifetime 7d] [--secret-file PATH] | token verify [TOKEN]";

/// Hadoop's `TraditionalBinaryPrefix.string2long`: an integer with an
/// optional k, m, g, t, p or e suffix (powers of 1024, any case).
fn string2long(s: &str) -> Option<i64> {
    let s = s.trim();
    let (num, shift) = match s.chars().last()?.to_ascii_lowercase() {
        'k' => (&s[..s.len() - 1], 10),
        'm' => (&s[..s.len() - 1], 20),
        'g' => (&s[..s.len() - 1], 30),
        't' => (&s[..s.len() - 1], 40),
        'p' => (&s[..s.len() - 1], 50),
        'e' => (&s[..s.len() - 1], 60),
        _ => (s, 0),
    };
    num.parse::<i64>().ok()?.checked_mul(1i64 << shift)
}

impl Shell {
    pub(super) async fn admin(&mut self, args: &[String]) -> std::result::Result<(), String> {
        let Some(sub) = args.first() else {
            return Err(format!("missing subcommand: {ADMIN_USAGE}"));
        };
        let rest = &args[1..];
        match sub.trim_start_matches('-') {
            "report" => self.admin_report().await,
            "safemode" => self.admin_safemode(rest).await,
            "decommission" => self.admin_commission(rest, true).await,
            "recommission" => self.admin_commission(rest, false).await,
            "balancer" => self.admin_balancer(rest).await,
            "recoverLease" => self.admin_recover_lease(rest).await,
            "setQuota" => self.admin_quota(rest, "setQuota", false, true).await,
            "clrQuota" => self.admin_quota(rest, "clrQuota", false, false).await,
            "setSpaceQuota" => self.admin_quota(rest, "setSpaceQuota", true, true).await,
            "clrSpaceQuota" => self.admin_quota(rest, "clrSpaceQuota", true, false).await,
            other => Err(format!("unknown subcommand {other:?}: {ADMIN_USAGE}")),
        }
    }

    /// `setQuota N DIR…`, `clrQuota DIR…`, `setSpaceQuota BYTES DIR…`
    /// (`10g`, `1t`…), `clrSpaceQuota DIR…`, as `hdfs dfsadmin`: superuser
    /// only; every directory is tried, a failure is reported and makes the
    /// exit status 1.
    async fn admin_quota(
        &mut self,
        args: &[String],
        cmd: &str,
        space: bool,
        set: bool,
    ) -> std::result::Result<(), String> {
        use crate::client::{QUOTA_DONT_SET, QUOTA_RESET};
        let (value, dirs) = if set {
            let Some(v) = args.first() else {
                return Err(format!("{cmd} needs a quota and at least one directory"));
            };
            let q = if space {
                string2long(v)
            } else {
                v.parse::<i64>().ok()
            };
            match q {
                Some(q) if q > 0 => (q, &args[1..]),
                _ => return Err(format!("{cmd}: \"{v}\" is not a valid value for a quota.")),
            }
        } else {
            (QUOTA_RESET, args)
        };
        if dirs.is_empty() {
            return Err(format!("{cmd} needs at least one directory"));
        }
        let (ns, ds) = if space {
            (QUOTA_DONT_SET, value)
        } else {
            (value, QUOTA_DONT_SET)
        };
        for dir in dirs {
            if let Err(e) = self.fs.set_quota(dir, ns, ds).await {
                self.report(dir, &e);
            }
        }
        Ok(())
    }

    async fn admin_report(&mut self) -> std::result::Result<(), String> {
        let stats = self.fs.fs_stats().await;
        let nodes = self.fs.datanode_report().await;
        match (stats, nodes) {
            (Ok(st), Ok(nodes)) => {
                for l in format::report_lines(&st, &nodes, now_ms()) {
                    self.line(&l);
                }
            }
            (Err(e), _) | (_, Err(e)) => self.report("report", &e),
        }
        Ok(())
    }

    async fn admin_safemode(&mut self, args: &[String]) -> std::result::Result<(), String> {
        let action = match args.first().map(|s| s.as_str()) {
            Some("enter") => SafeModeAction::Enter,
            Some("leave") => SafeModeAction::Leave,
            Some("get") | Some("wait") => SafeModeAction::Get,
            _ => return Err("safemode needs enter, leave, get or wait".into()),
        };
        let wait = args[0] == "wait";
        loop {
            match self.fs.set_safe_mode(action).await {
                Ok(true) if wait => tokio::time::sleep(POLL).await,
                Ok(on) => {
                    self.line(&format!("Safe mode is {}", if on { "ON" } else { "OFF" }));
                    return Ok(());
                }
                Err(e) => {
                    self.report("safemode", &e);
                    return Ok(());
                }
            }
        }
    }

    async fn admin_commission(
        &mut self,
        args: &[String],
        decommission: bool,
    ) -> std::result::Result<(), String> {
        if args.is_empty() {
            return Err("missing datanode (host, ip:port or uuid)".into());
        }
        for node in args {
            let r = if decommission {
                self.fs.decommission(node).await
            } else {
                self.fs.recommission(node).await
            };
            match r {
                Ok(list) => {
                    for d in list {
                        self.line(&format!(
                            "{} {} ({}, {})",
                            if decommission {
                                "Decommission started for"
                            } else {
                                "Recommissioned"
                            },
                            d.data_addr,
                            d.host,
                            d.uuid
                        ));
                    }
                }
                Err(e) => self.report(node, &e),
            }
        }
        Ok(())
    }

    /// `admin recoverLease [-retries N] PATH` (HDFS's `hdfs debug
    /// recoverLease`): asks the namenode to close a file whose writer went
    /// away, then asks again (up to N times, 1 s apart) until it is closed.
    /// Exit 0 once closed.
    async fn admin_recover_lease(&mut self, args: &[String]) -> std::result::Result<(), String> {
        let mut retries = 1u32;
        let mut path = None;
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "-retries" => {
                    let v = it.next().ok_or("-retries needs a value")?;
                    retries = v
                        .parse()
                        .map_err(|_| format!("-retries {v}: expected a count"))?;
                }
                "-path" => path = Some(it.next().ok_or("-path needs a value")?.clone()),
                p if !p.starts_with('-') && path.is_none() => path = Some(p.to_string()),
                other => return Err(format!("unknown option {other}")),
            }
        }
        let path = path.ok_or("recoverLease needs a PATH")?;
        for attempt in 0..retries.max(1) {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            match self.fs.recover_lease(&path).await {
                Ok(true) => {
                    self.line(&format!("recoverLease SUCCEEDED on {path}"));
                    return Ok(());
                }
                Ok(false) => {}
                Err(e) => {
                    self.report(&path, &e);
                    return Ok(());
                }
            }
        }
        self.report_msg(
            &path,
            &format!(
                "recoverLease did not close the file after {} attempt(s); lease recovery is still running",
                retries.max(1)
            ),
        );
        Ok(())
    }

    /// `admin balancer [-threshold PCT] [-detach|-status|-stop]`: starts the
    /// namenode's balancer and, unless `-detach`, prints its progress like
    /// Hadoop's balancer until the run ends. Exit 0 when the cluster is
    /// balanced, 1 when the run ended otherwise.
    async fn admin_balancer(&mut self, args: &[String]) -> std::result::Result<(), String> {
        let mut threshold = 0.0;
        let mut mode = "wait";
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "-threshold" => {
                    let v = it.next().ok_or("-threshold needs a value")?;
                    threshold = v
                        .parse::<f64>()
                        .ok()
                        .filter(|t| *t > 0.0 && *t <= 100.0)
                        .ok_or_else(|| format!("-threshold {v}: expected a number in (0, 100]"))?;
                }
                "-detach" => mode = "detach",
                "-status" => mode = "status",
                "-stop" => mode = "stop",
                other => return Err(format!("unknown option {other}")),
            }
        }
        let action = match mode {
            "status" => BalancerAction::Status,
            "stop" => BalancerAction::Stop,
            _ => BalancerAction::Start,
        };
        let st = match self.fs.balancer(action, threshold).await {
            Ok(st) => st,
            Err(e) => {
                self.report("balancer", &e);
                return Ok(());
            }
        };
        match mode {
            "status" | "stop" => {
                self.line(&balancer_summary(&st));
                return Ok(());
            }
            "detach" => {
                self.line(&format!(
                    "Balancer started in the namenode (threshold {}%); `dfs admin balancer -status` shows its progress",
                    st.threshold
                ));
                return Ok(());
            }
            _ => {}
        }
        let started = now_ms();
        self.line(&format!(
            "Balancing with threshold {}% of each datanode's capacity around the mean",
            st.threshold
        ));
        self.line(&format!(
            "{:<24}{:>12}{:>22}{:>20}{:>20}",
            "Time Stamp",
            "Iteration#",
            "Bytes Already Moved",
            "Bytes Left To Move",
            "Bytes Being Moved"
        ));
        let mut last_iteration = u64::MAX;
        let mut st = st;
        loop {
            if st.iteration != last_iteration {
                last_iteration = st.iteration;
                self.line(&format!(
                    "{:<24}{:>12}{:>22}{:>20}{:>20}",
                    format::stat_date(now_ms()),
                    st.iteration,
                    tusk_common::units::human_size(st.bytes_moved),
                    tusk_common::units::human_size(st.bytes_left),
                    tusk_common::units::human_size(st.bytes_being_moved)
                ));
            }
            if !st.running {
                break;
            }
            tokio::time::sleep(POLL).await;
            st = match self.fs.balancer(BalancerAction::Status, 0.0).await {
                Ok(s) => s,
                Err(e) => {
                    self.report("balancer", &e);
                    return Ok(());
                }
            };
        }
        self.line(&format!("{} Exiting...", st.outcome));
        self.line(&format!(
            "{}  Balancing took {:.1} seconds",
            format::stat_date(now_ms()),
            now_ms().saturating_sub(started) as f64 / 1000.0
        ));
        if !st.balanced {
            self.failed = true;
        }
        Ok(())
    }

    pub(super) async fn fsck(&mut self, args: &[String]) -> std::result::Result<(), String> {
        // As `hdfs fsck`, options may come before or after the path.
        const OPTS: [&str; 3] = ["-files", "-blocks", "-locations"];
        let (opts, paths): (Vec<String>, Vec<String>) = args
            .iter()
            .cloned()
            .partition(|a| OPTS.contains(&a.as_str()));
        let f = parse_flags(&opts, &OPTS)?;
        let path = match paths.as_slice() {
            [] => "/".to_string(),
            [p] if !p.starts_with('-') || p == "-" => p.clone(),
            [p] => return Err(format!("unknown option {p}")),
            _ => return Err("only one path".into()),
        };
        let (files, blocks, locations) = (
            f.has("-files") || f.has("-blocks") || f.has("-locations"),
            f.has("-blocks") || f.has("-locations"),
            f.has("-locations"),
        );
        let started = now_ms();
        let r = match self.fs.fsck(&path, files).await {
            Ok(r) => r,
            Err(e) => {
                self.report(&path, &e);
                return Ok(());
            }
        };
        let shown = self.fs.resolve(&path).unwrap_or(path);
        self.line(&format!(
            "Connecting to namenode via {}",
            self.fs.config().namenode
        ));
        self.line(&format!(
            "FSCK started by {} for path {shown} at {}",
            self.fs.user(),
            format::stat_date(started)
        ));
        for file in &r.files {
            for l in format::fsck_file_lines(file, files, blocks, locations) {
                self.line(&l);
            }
        }
        let mut summary = format::fsck_summary_lines(&r, &shown);
        let last = summary.pop().unwrap_or_default();
        for l in summary {
            self.line(&l);
        }
        self.line(&format!(
            "FSCK ended at {} in {} milliseconds",
            format::stat_date(now_ms()),
            now_ms().saturating_sub(started)
        ));
        self.line("");
        self.line(&last);
        if !r.is_healthy() {
            self.failed = true;
        }
        Ok(())
    }

    /// `setrep -w`: waits until every block of `path` has exactly `rep`
    /// replicas, printing a dot per poll.
    pub(super) async fn wait_replication(&mut self, path: &str, shown: &str, rep: u32) {
        let _ =
            std::io::Write::write_all(&mut self.out, format!("Waiting for {shown} ").as_bytes());
        loop {
            match self.fs.block_locations(path).await {
                Ok(blocks) if blocks.iter().all(|b| b.locations.len() == rep as usize) => {
                    self.line(" done");
                    return;
                }
                Ok(_) => {
                    let _ = std::io::Write::write_all(&mut self.out, b".");
                    let _ = std::io::Write::flush(&mut self.out);
                    tokio::time::sleep(POLL).await;
                }
                Err(e) => {
                    self.line("");
                    self.report(shown, &e);
                    return;
                }
            }
        }
    }
}

/// One line for `balancer -status|-stop`.
fn balancer_summary(st: &BalancerStatus) -> String {
    let state = if st.running {
        "running".to_string()
    } else if st.outcome.is_empty() {
        "never run".to_string()
    } else {
        format!("not running ({})", st.outcome)
    };
    format!(
        "Balancer {state}: threshold {}%, iteration {}, moved {} ({} moves, {} failed), {} being moved, {} left; mean use {:.4}%, largest deviation {:.4} points",
        st.threshold,
        st.iteration,
        tusk_common::units::human_size(st.bytes_moved),
        st.moves_done,
        st.moves_failed,
        tusk_common::units::human_size(st.bytes_being_moved),
        tusk_common::units::human_size(st.bytes_left),
        st.mean_used_pct,
        st.max_deviation_pct
    )
}

#[cfg(test)]
mod tests {
    use super::string2long;

    #[test]
    fn quota_sizes_take_hadoop_suffixes() {
        assert_eq!(string2long("100"), Some(100));
        assert_eq!(string2long("10g"), Some(10 << 30));
        assert_eq!(string2long("1T"), Some(1 << 40));
        assert_eq!(string2long("2k"), Some(2048));
        assert_eq!(string2long("x"), None);
        assert_eq!(string2long("9e"), None); // overflows i64
    }
}
