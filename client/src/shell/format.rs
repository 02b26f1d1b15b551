//! Output formats of `dfs` (pure functions over domain types), as `hdfs dfs`
//! prints them.

use crate::types::{
    BlockHealth, ContentSummary, DatanodeReport, FileStatus, FsStats, FsckBlock, FsckFile,
    FsckReport,
};
use chrono::TimeZone;
use tusk_common::units::human_size;

/// How `dfs` shows a path: relative to `home` when the user typed a
/// relative argument (`arg`), absolute otherwise.
pub fn display_path(home: &str, arg: &str, abs: &str) -> String {
    if arg.starts_with('/') {
        return abs.to_string();
    }
    if abs == home {
        ".".into()
    } else if let Some(rest) = abs.strip_prefix(home).and_then(|r| r.strip_prefix('/')) {
        rest.to_string()
    } else {
        abs.to_string()
    }
}

/// `rwxr-xr-x`, with `t`/`T` in the last place for the sticky bit.
pub fn perm_string(mode: u32) -> String {
    let mut s = String::with_capacity(9);
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    if mode & 0o1000 != 0 {
        let last = if mode & 1 != 0 { 't' } else { 'T' };
        s.pop();
        s.push(last);
    }
    s
}

/// `yyyy-MM-dd HH:mm` in local time (ls).
pub fn ls_date(ms: u64) -> String {
    match chrono::Local.timestamp_millis_opt(ms as i64).single() {
        Some(t) => t.format("%Y-%m-%d %H:%M").to_string(),
        None => "1970-01-01 00:00".into(),
    }
}

/// `yyyy-MM-dd HH:mm:ss` in UTC (stat's `%y`, as Hadoop prints it).
pub fn stat_date(ms: u64) -> String {
    match chrono::Utc.timestamp_millis_opt(ms as i64).single() {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
        None => "1970-01-01 00:00:00".into(),
    }
}

fn size(n: u64, human: bool) -> String {
    if human {
        human_size(n)
    } else {
        n.to_string()
    }
}

/// Lines of one `ls` listing, column widths computed over `items` like
/// Hadoop's `Ls` (replication at least 3 wide, size at least 10). `display`
/// gives the path as printed.
pub fn ls_lines(
    items: &[FileStatus],
    human: bool,
    display: &dyn Fn(&str) -> String,
) -> Vec<String> {
    let repl = |s: &FileStatus| {
        if s.is_dir() {
            "-".to_string()
        } else {
            s.replication.to_string()
        }
    };
    let rw = items
        .iter()
        .map(|s| s.replication.to_string().len())
        .max()
        .unwrap_or(0)
        .max(3);
    let lw = items
        .iter()
        .map(|s| size(s.length, human).len())
        .max()
        .unwrap_or(0)
        .max(10);
    let ow = items.iter().map(|s| s.owner.len()).max().unwrap_or(0);
    let gw = items.iter().map(|s| s.group.len()).max().unwrap_or(0);
    items
        .iter()
        .map(|s| {
            let owner = if ow > 0 {
                format!("{:<ow$} ", s.owner)
            } else {
                String::new()
            };
            let group = if gw > 0 {
                format!("{:<gw$} ", s.group)
            } else {
                String::new()
            };
            format!(
                "{}{} {:>rw$} {owner}{group}{:>lw$} {} {}",
                if s.is_dir() { 'd' } else { '-' },
                perm_string(s.permission),
                repl(s),
                size(s.length, human),
                ls_date(s.mtime_ms),
                display(&s.path)
            )
        })
        .collect()
}

/// `du` lines: `size  space_consumed  path`, columns padded over the lines.
pub fn du_lines(rows: &[(ContentSummary, String)], human: bool) -> Vec<String> {
    let w1 = rows
        .iter()
        .map(|(c, _)| size(c.length, human).len())
        .max()
        .unwrap_or(0);
    let w2 = rows
        .iter()
        .map(|(c, _)| size(c.space_consumed, human).len())
        .max()
        .unwrap_or(0);
    rows.iter()
        .map(|(c, p)| {
            format!(
                "{:<w1$}  {:<w2$}  {p}",
                size(c.length, human),
                size(c.space_consumed, human)
            )
        })
        .collect()
}

/// The `count` header (`-v`).
pub fn count_header(quota: bool) -> String {
    let mut s = String::new();
    if quota {
        s.push_str(&format!(
            "{:>12} {:>15} {:>15} {:>15} ",
            "QUOTA", "REM_QUOTA", "SPACE_QUOTA", "REM_SPACE_QUOTA"
        ));
    }
    s.push_str(&format!(
        "{:>12} {:>12} {:>18} PATHNAME",
        "DIR_COUNT", "FILE_COUNT", "CONTENT_SIZE"
    ));
    s
}

/// One `count` line: `DIR_COUNT FILE_COUNT CONTENT_SIZE PATHNAME`, with
/// `-q` the four quota columns first (`none`/`inf` when unset).
pub fn count_line(c: &ContentSummary, path: &str, quota: bool, human: bool) -> String {
    let mut s = String::new();
    if quota {
        let (q, rq) = match c.quota {
            Some(q) => (
                q.to_string(),
                (q as i64 - (c.directory_count + c.file_count) as i64).to_string(),
            ),
            None => ("none".into(), "inf".into()),
        };
        let (sq, rsq) = match c.space_quota {
            Some(q) => (size(q, human), {
                let rem = q as i64 - c.space_consumed as i64;
                if rem >= 0 {
                    size(rem as u64, human)
                } else {
                    rem.to_string()
                }
            }),
            None => ("none".into(), "inf".into()),
        };
        s.push_str(&format!("{q:>12} {rq:>15} {sq:>15} {rsq:>15} "));
    }
    s.push_str(&format!(
        "{:>12} {:>12} {:>18} {path}",
        c.directory_count,
        c.file_count,
        size(c.length, human)
    ));
    s
}

/// `df` table: header and one row, right-aligned numbers.
pub fn df_lines(fs_name: &str, st: &FsStats, human: bool) -> Vec<String> {
    let pct = if st.capacity == 0 {
        0
    } else {
        (st.used as u128 * 100 / st.capacity as u128) as u64
    };
    let header = ["Filesystem", "Size", "Used", "Available", "Use%"];
    let row = [
        fs_name.to_string(),
        size(st.capacity, human),
        size(st.used, human),
        size(st.remaining, human),
        format!("{pct}%"),
    ];
    let w: Vec<usize> = (0..5).map(|i| header[i].len().max(row[i].len())).collect();
    let line = |cells: [&str; 5]| {
        format!(
            "{:<w0$}  {:>w1$}  {:>w2$}  {:>w3$}  {:>w4$}",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            cells[4],
            w0 = w[0],
            w1 = w[1],
            w2 = w[2],
            w3 = w[3],
            w4 = w[4]
        )
    };
    vec![
        line(header),
        line([&row[0], &row[1], &row[2], &row[3], &row[4]]),
    ]
}

/// Expands a `stat` format: `%n %b %F %g %o %r %u %y %Y %x %X %a %A %%`.
pub fn stat_format(fmt: &str, s: &FileStatus) -> String {
    let mut out = String::new();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push_str(&s.name),
            Some('b') => out.push_str(&s.length.to_string()),
            Some('F') => out.push_str(if s.is_dir() {
                "directory"
            } else {
                "regular file"
            }),
            Some('g') => out.push_str(&s.group),
            Some('o') => out.push_str(&s.block_size.to_string()),
            Some('r') => out.push_str(&s.replication.to_string()),
            Some('u') => out.push_str(&s.owner),
            Some('y') => out.push_str(&stat_date(s.mtime_ms)),
            Some('Y') => out.push_str(&s.mtime_ms.to_string()),
            Some('x') => out.push_str(&stat_date(s.atime_ms)),
            Some('X') => out.push_str(&s.atime_ms.to_string()),
            Some('a') => out.push_str(&format!("{:o}", s.permission & 0o7777)),
            Some('A') => out.push_str(&perm_string(s.permission)),
            Some('%') => out.push('%'),
            Some(o) => {
                out.push('%');
                out.push(o);
            }
            None => out.push('%'),
        }
    }
    out
}

/// `1048576 (1 MB)`, as `dfsadmin -report` prints sizes.
fn size_both(n: u64) -> String {
    if n < 1024 {
        format!("{n} ({n} B)")
    } else {
        format!("{n} ({}B)", human_size(n))
    }
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        "0.00%".into()
    } else {
        format!("{:.2}%", part as f64 * 100.0 / whole as f64)
    }
}

/// `dfs admin report` (HDFS's `dfsadmin -report`): cluster totals, then one
/// section per datanode, live ones first. `now_ms` dates "Last contact".
pub fn report_lines(st: &FsStats, nodes: &[DatanodeReport], now_ms: u64) -> Vec<String> {
    let mut l = vec![
        format!("Configured Capacity: {}", size_both(st.capacity)),
        format!("Present Capacity: {}", size_both(st.used + st.remaining)),
        format!("DFS Remaining: {}", size_both(st.remaining)),
        format!("DFS Used: {}", size_both(st.used)),
        format!("DFS Used%: {}", percent(st.used, st.used + st.remaining)),
        "Replicated Blocks:".into(),
        format!("\tUnder replicated blocks: {}", st.under_replicated_blocks),
        format!("\tBlocks with corrupt replicas: {}", st.corrupt_blocks),
        format!("\tMissing blocks: {}", st.missing_blocks),
        format!("\tPending replication blocks: {}", st.pending_replications),
        String::new(),
        "-------------------------------------------------".into(),
    ];
    for live in [true, false] {
        let group: Vec<&DatanodeReport> = nodes.iter().filter(|d| d.live == live).collect();
        let title = if live { "Live" } else { "Dead" };
        if !live && group.is_empty() {
            continue;
        }
        l.push(format!("{title} datanodes ({}):", group.len()));
        l.push(String::new());
        for d in group {
            let status = match d.admin_state.as_str() {
                "In Service" | "" => "Normal",
                s => s,
            };
            l.push(format!("Name: {} ({})", d.info.data_addr, d.info.host));
            l.push(format!("Hostname: {}", d.info.host));
            l.push(format!("Rack: {}", d.info.rack));
            l.push(format!("Decommission Status : {status}"));
            if d.admin_state == "Decommission in progress" {
                l.push(format!("Blocks to replicate: {}", d.blocks_to_replicate));
            }
            l.push(format!("Configured Capacity: {}", size_both(d.capacity)));
            l.push(format!("DFS Used: {}", size_both(d.used)));
            l.push(format!("DFS Remaining: {}", size_both(d.remaining)));
            l.push(format!(
                "DFS Used%: {}",
                percent(d.used, d.used + d.remaining)
            ));
            l.push(format!("Xceivers: {}", d.xceivers));
            l.push(format!("Blocks: {}", d.num_blocks));
            l.push(format!(
                "Last contact: {} ({} s ago)",
                stat_date(now_ms.saturating_sub(d.last_heartbeat_ms_ago)),
                d.last_heartbeat_ms_ago / 1000
            ));
            l.push(String::new());
        }
    }
    l
}

fn health_word(h: BlockHealth) -> &'static str {
    match h {
        BlockHealth::Ok => "OK",
        BlockHealth::UnderReplicated => "UNDER REPLICATED",
        BlockHealth::Corrupt => "CORRUPT",
        BlockHealth::Missing => "MISSING",
        BlockHealth::UnderConstruction => "UNDER CONSTRUCTION",
    }
}

fn fsck_block_line(k: usize, b: &FsckBlock, locations: bool) -> String {
    let mut s = format!(
        "{k}. blk_{}_{} len={} Live_repl={}",
        b.block.id, b.block.genstamp, b.block.num_bytes, b.live
    );
    if b.health != BlockHealth::Ok {
        s.push_str(&format!(" [{}]", health_word(b.health)));
    }
    if locations {
        let locs: Vec<String> = b
            .locations
            .iter()
            .map(|d| format!("DatanodeInfo[{},{},{}]", d.data_addr, d.uuid, d.rack))
            .chain(b.corrupt_locations.iter().map(|d| {
                format!(
                    "DatanodeInfo[{},{},{},CORRUPT]",
                    d.data_addr, d.uuid, d.rack
                )
            }))
            .collect();
        s.push_str(&format!(" [{}]", locs.join(", ")));
    }
    s
}

/// The per-file part of `fsck`: with `files`, a line per file (and with
/// `blocks` a line per block, with `locations` its replicas); without, only
/// the problems, as HDFS prints them.
pub fn fsck_file_lines(f: &FsckFile, files: bool, blocks: bool, locations: bool) -> Vec<String> {
    let mut l = Vec::new();
    let bad = |h: BlockHealth| f.blocks.iter().filter(|b| b.health == h).count();
    let lost: Vec<&FsckBlock> = f
        .blocks
        .iter()
        .filter(|b| matches!(b.health, BlockHealth::Corrupt | BlockHealth::Missing))
        .collect();
    if files {
        let mut line = format!(
            "{} {} bytes, replicated: replication={}, {} block(s):",
            f.path,
            f.length,
            f.replication,
            f.blocks.len()
        );
        if f.under_construction {
            line.push_str(" OPENFORWRITE:");
        }
        if lost.is_empty() && bad(BlockHealth::UnderReplicated) == 0 {
            line.push_str("  OK");
        } else {
            if !lost.is_empty() {
                let size: u64 = lost.iter().map(|b| b.block.num_bytes).sum();
                line.push_str(&format!(
                    "  MISSING {} blocks of total size {size} B",
                    lost.len()
                ));
            }
            if bad(BlockHealth::UnderReplicated) > 0 {
                line.push_str(&format!(
                    "  Under replicated {} block(s)",
                    bad(BlockHealth::UnderReplicated)
                ));
            }
        }
        l.push(line);
    }
    for (k, b) in f.blocks.iter().enumerate() {
        match b.health {
            BlockHealth::Corrupt => l.push(format!(
                "{}: CORRUPT block blk_{}_{}",
                f.path, b.block.id, b.block.genstamp
            )),
            BlockHealth::Missing => l.push(format!(
                "{}: MISSING block blk_{}_{} len={}",
                f.path, b.block.id, b.block.genstamp, b.block.num_bytes
            )),
            BlockHealth::UnderReplicated => l.push(format!(
                "{}:  Under replicated blk_{}_{}. Target Replicas is {} but found {} live replica(s).",
                f.path, b.block.id, b.block.genstamp, b.expected, b.live
            )),
            BlockHealth::Ok | BlockHealth::UnderConstruction => {}
        }
        if files && blocks {
            l.push(fsck_block_line(k, b, locations));
        }
    }
    if files && blocks && !f.blocks.is_empty() {
        l.push(String::new());
    }
    l
}

fn share(n: u64, total: u64) -> String {
    if total == 0 {
        format!("{n} (0.0 %)")
    } else {
        format!("{n} ({:.1} %)", n as f64 * 100.0 / total as f64)
    }
}

/// The summary that ends `fsck`, with the final HEALTHY/CORRUPT line.
pub fn fsck_summary_lines(r: &FsckReport, path: &str) -> Vec<String> {
    let status = if r.is_healthy() { "HEALTHY" } else { "CORRUPT" };
    let avg_size = r.total_size.checked_div(r.total_blocks).unwrap_or(0);
    let avg_repl = if r.total_blocks == 0 {
        0.0
    } else {
        r.total_replicas as f64 / r.total_blocks as f64
    };
    vec![
        String::new(),
        format!("Status: {status}"),
        format!(" Number of data-nodes:\t{}", r.datanodes),
        format!(" Number of racks:\t\t{}", r.racks),
        format!(" Total dirs:\t\t\t{}", r.total_dirs),
        " Total symlinks:\t\t0".into(),
        String::new(),
        "Replicated Blocks:".into(),
        format!(" Total size:\t{} B", r.total_size),
        format!(" Total files:\t{}", r.total_files),
        format!(
            " Total blocks (validated):\t{} (avg. block size {avg_size} B)",
            r.total_blocks
        ),
        format!(
            " Minimally replicated blocks:\t{}",
            share(r.minimally_replicated, r.total_blocks)
        ),
        format!(
            " Over-replicated blocks:\t{}",
            share(r.over_replicated, r.total_blocks)
        ),
        format!(
            " Under-replicated blocks:\t{}",
            share(r.under_replicated, r.total_blocks)
        ),
        format!(
            " Mis-replicated blocks:\t\t{}",
            share(r.mis_replicated, r.total_blocks)
        ),
        format!(" Default replication factor:\t{}", r.default_replication),
        format!(" Average block replication:\t{avg_repl:.1}"),
        format!(" Missing blocks:\t\t{}", r.missing_blocks),
        format!(" Corrupt blocks:\t\t{}", r.corrupt_blocks),
        format!(" Missing size:\t\t{} B", r.missing_size),
        String::new(),
        String::new(),
        format!("The filesystem under path '{path}' is {status}"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::FileType;

    fn st(path: &str, dir: bool, len: u64, owner: &str) -> FileStatus {
        FileStatus {
            path: path.into(),
            name: tusk_common::path::file_name(path).into(),
            file_type: if dir {
                FileType::Directory
            } else {
                FileType::File
            },
            length: len,
            owner: owner.into(),
            group: "supergroup".into(),
            permission: if dir { 0o755 } else { 0o644 },
            mtime_ms: 1_700_000_000_000,
            atime_ms: 1_700_000_000_000,
            replication: if dir { 0 } else { 3 },
            block_size: if dir { 0 } else { 128 << 20 },
            file_id: 1,
            children_num: 0,
            under_construction: false,
        }
    }

    #[test]
    fn paths_show_as_typed() {
        assert_eq!(display_path("/user/a", "/x", "/x/y"), "/x/y");
        assert_eq!(display_path("/user/a", "d", "/user/a/d/f"), "d/f");
        assert_eq!(display_path("/user/a", ".", "/user/a"), ".");
        assert_eq!(display_path("/user/a", "../b", "/user/b/f"), "/user/b/f");
        assert_eq!(display_path("/user/a", "x", "/user/ab"), "/user/ab");
    }

    #[test]
    fn perms() {
        assert_eq!(perm_string(0o755), "rwxr-xr-x");
        assert_eq!(perm_string(0o644), "rw-r--r--");
        assert_eq!(perm_string(0o1777), "rwxrwxrwt");
        assert_eq!(perm_string(0o1776), "rwxrwxrwT");
    }

    #[test]
    fn ls_columns_like_hadoop() {
        let items = vec![st("/d", true, 0, "alice"), st("/f", false, 1366, "bob")];
        let lines = ls_lines(&items, false, &|p| p.to_string());
        let date = ls_date(1_700_000_000_000);
        assert_eq!(
            lines[0],
            format!("drwxr-xr-x   - alice supergroup          0 {date} /d")
        );
        assert_eq!(
            lines[1],
            format!("-rw-r--r--   3 bob   supergroup       1366 {date} /f")
        );
        let h = ls_lines(&[st("/f", false, 1536, "bob")], true, &|p| p.to_string());
        assert!(h[0].contains("     1.5 K "), "{}", h[0]);
        let wide = ls_lines(&[st("/f", false, 12345678901, "bob")], false, &|p| {
            p.to_string()
        });
        assert!(wide[0].contains(" 12345678901 "), "{}", wide[0]);
    }

    #[test]
    fn du_and_count() {
        let c = ContentSummary {
            length: 1366,
            file_count: 2,
            directory_count: 1,
            space_consumed: 4098,
            quota: None,
            space_quota: None,
        };
        let lines = du_lines(
            &[(c, "/a".into()), (ContentSummary::default(), "/bb".into())],
            false,
        );
        assert_eq!(lines[0], "1366  4098  /a");
        assert_eq!(lines[1], "0     0     /bb");
        assert_eq!(
            count_line(&c, "/a", false, false),
            "           1            2               1366 /a"
        );
        assert_eq!(
            count_line(&c, "/a", true, false),
            "        none             inf            none             inf            1            2               1366 /a"
        );
        let q = ContentSummary {
            quota: Some(10),
            ..c
        };
        assert!(count_line(&q, "/a", true, false).starts_with("          10               7 "));
        assert!(count_header(false).ends_with("CONTENT_SIZE PATHNAME"));
    }

    #[test]
    fn admin_report_sections() {
        let st = FsStats {
            capacity: 1000,
            used: 250,
            remaining: 750,
            under_replicated_blocks: 2,
            ..Default::default()
        };
        let dn = DatanodeReport {
            info: crate::types::DatanodeInfo {
                uuid: "u1".into(),
                host: "10.0.0.1".into(),
                data_addr: "10.0.0.1:9866".into(),
                http_addr: String::new(),
                rack: "/r1".into(),
            },
            live: true,
            capacity: 1000,
            used: 250,
            remaining: 750,
            num_blocks: 7,
            last_heartbeat_ms_ago: 2000,
            xceivers: 0,
            admin_state: "Decommission in progress".into(),
            blocks_to_replicate: 3,
        };
        let l = report_lines(&st, &[dn], 1_700_000_000_000);
        assert_eq!(l[0], "Configured Capacity: 1000 (1000 B)");
        assert!(l.contains(&"\tUnder replicated blocks: 2".to_string()));
        assert!(l.contains(&"Live datanodes (1):".to_string()));
        assert!(l.contains(&"Name: 10.0.0.1:9866 (10.0.0.1)".to_string()));
        assert!(l.contains(&"Decommission Status : Decommission in progress".to_string()));
        assert!(l.contains(&"Blocks to replicate: 3".to_string()));
        assert!(l.contains(&"Blocks: 7".to_string()));
        assert!(!l.iter().any(|x| x.starts_with("Dead datanodes")));
    }

    #[test]
    fn fsck_lines_healthy_and_corrupt() {
        let blk = |health| FsckBlock {
            block: crate::types::Block {
                id: 5,
                genstamp: 1001,
                num_bytes: 10,
            },
            health,
            live: 3,
            expected: 3,
            locations: vec![],
            corrupt_locations: vec![],
            over_replicated: false,
            mis_replicated: false,
        };
        let f = FsckFile {
            path: "/a".into(),
            length: 10,
            replication: 3,
            under_construction: false,
            blocks: vec![blk(BlockHealth::Ok)],
        };
        let l = fsck_file_lines(&f, true, true, false);
        assert_eq!(
            l[0],
            "/a 10 bytes, replicated: replication=3, 1 block(s):  OK"
        );
        assert_eq!(l[1], "0. blk_5_1001 len=10 Live_repl=3");
        assert!(fsck_file_lines(&f, false, false, false).is_empty());
        let bad = FsckFile {
            blocks: vec![blk(BlockHealth::Corrupt)],
            ..f
        };
        assert_eq!(
            fsck_file_lines(&bad, false, false, false),
            vec!["/a: CORRUPT block blk_5_1001".to_string()]
        );
        let mut r = FsckReport {
            total_files: 1,
            total_blocks: 1,
            ..Default::default()
        };
        assert_eq!(
            fsck_summary_lines(&r, "/").last().unwrap(),
            "The filesystem under path '/' is HEALTHY"
        );
        r.corrupt_blocks = 1;
        let l = fsck_summary_lines(&r, "/");
        assert_eq!(l[1], "Status: CORRUPT");
        assert_eq!(
            l.last().unwrap(),
            "The filesystem under path '/' is CORRUPT"
        );
    }

    #[test]
    fn df_table() {
        let s = FsStats {
            capacity: 1000,
            used: 250,
            remaining: 750,
            ..Default::default()
        };
        let l = df_lines("tusk://nn:9000", &s, false);
        assert_eq!(l[0], "Filesystem      Size  Used  Available  Use%");
        assert_eq!(l[1], "tusk://nn:9000  1000   250        750   25%");
    }

    #[test]
    fn stat_formats() {
        let s = st("/dir/file.txt", false, 42, "alice");
        assert_eq!(
            stat_format("%n %b %F %u:%g %r %o %a %A", &s),
            "file.txt 42 regular file alice:supergroup 3 134217728 644 rw-r--r--"
        );
        assert_eq!(stat_format("%y", &s), "2023-11-14 22:13:20");
        assert_eq!(stat_format("%Y %% %q", &s), "1700000000000 % %q");
        assert_eq!(stat_format("%F", &st("/d", true, 0, "a")), "directory");
    }
}
