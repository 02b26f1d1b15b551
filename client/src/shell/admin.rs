//! Administration commands of `dfs`: `admin report|safemode|decommission|
//! recommission`, `fsck`, and the waiting half of `setrep -w`.

use super::args::parse_flags;
use super::{format, Shell};
use crate::types::SafeModeAction;
use std::time::Duration;
use tusk_common::sys::now_ms;

/// How often `safemode wait` and `setrep -w` poll the namenode.
const POLL: Duration = Duration::from_millis(500);

const ADMIN_USAGE: &str =
    "admin report | safemode enter|leave|get|wait | decommission HOST | recommission HOST";

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
            other => Err(format!("unknown subcommand {other:?}: {ADMIN_USAGE}")),
        }
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
