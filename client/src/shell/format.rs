//! Output formats of `dfs` (pure functions over domain types), as `hdfs dfs`
//! prints them.

use crate::types::{ContentSummary, FileStatus, FsStats};
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
