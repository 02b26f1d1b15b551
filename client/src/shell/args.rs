//! Argument parsing of `dfs`: global options, the command (`ls` or `-ls`),
//! and Hadoop-style per-command flags.

use tusk_common::units::parse_size;

/// Options that come before the command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GlobalOpts {
    pub namenode: Option<String>,
    pub user: Option<String>,
    pub replication: Option<u32>,
    pub block_size: Option<u64>,
}

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub global: GlobalOpts,
    /// The command without a leading `-` (`ls`), lower-cased only where
    /// Hadoop's name has capitals (`copyFromLocal` stays as typed).
    pub command: String,
    pub args: Vec<String>,
}

/// Splits `argv` (without the program name).
pub fn parse_invocation(argv: &[String]) -> Result<Invocation, String> {
    let mut g = GlobalOpts::default();
    let mut i = 0;
    let value = |i: usize, name: &str| -> Result<String, String> {
        argv.get(i + 1)
            .cloned()
            .ok_or_else(|| format!("option {name} needs a value"))
    };
    while i < argv.len() {
        let a = argv[i].as_str();
        if let Some(v) = a.strip_prefix("--namenode=") {
            g.namenode = Some(v.into());
        } else if a == "--namenode" || a == "-fs" || a == "--fs" {
            g.namenode = Some(value(i, a)?);
            i += 1;
        } else if let Some(v) = a.strip_prefix("--user=") {
            g.user = Some(v.into());
        } else if a == "--user" {
            g.user = Some(value(i, a)?);
            i += 1;
        } else if a == "-D" {
            define(&mut g, &value(i, a)?)?;
            i += 1;
        } else if let Some(kv) = a.strip_prefix("-D").filter(|s| s.contains('=')) {
            define(&mut g, kv)?;
        } else {
            break;
        }
        i += 1;
    }
    let Some(cmd) = argv.get(i) else {
        return Err("no command given".into());
    };
    let command = cmd
        .strip_prefix("--")
        .or_else(|| cmd.strip_prefix('-'))
        .unwrap_or(cmd);
    if command.is_empty() {
        return Err(format!("unknown command {cmd:?}"));
    }
    Ok(Invocation {
        global: g,
        command: command.to_string(),
        args: argv[i + 1..].to_vec(),
    })
}

fn define(g: &mut GlobalOpts, kv: &str) -> Result<(), String> {
    let (k, v) = kv
        .split_once('=')
        .ok_or_else(|| format!("-D expects key=value, got {kv:?}"))?;
    match k.trim() {
        "dfs.replication" => {
            let r: u32 = v
                .trim()
                .parse()
                .map_err(|_| format!("invalid dfs.replication {v:?}"))?;
            if r == 0 {
                return Err("dfs.replication must be at least 1".into());
            }
            g.replication = Some(r);
        }
        "dfs.blocksize" | "dfs.block.size" => {
            let b = parse_size(v)?;
            if b == 0 {
                return Err("dfs.blocksize must be positive".into());
            }
            g.block_size = Some(b);
        }
        "fs.defaultFS" => g.namenode = Some(v.trim().to_string()),
        _ => {} // Hadoop ignores unknown keys too.
    }
    Ok(())
}

/// Flags given to a command, and what follows them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags {
    pub set: Vec<String>,
    pub rest: Vec<String>,
}

impl Flags {
    pub fn has(&self, f: &str) -> bool {
        self.set.iter().any(|s| s == f)
    }
}

/// Parses leading flags (stops at the first operand or `--`; `-` alone is
/// an operand). `known` lists flags with their dash (`-R`, `-skipTrash`);
/// single-letter flags may be combined (`-rf`).
pub fn parse_flags(args: &[String], known: &[&str]) -> Result<Flags, String> {
    let mut f = Flags::default();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            i += 1;
            break;
        }
        if !a.starts_with('-') || a == "-" {
            break;
        }
        if known.contains(&a.as_str()) {
            f.set.push(a.clone());
        } else if a.len() > 2
            && !a.starts_with("--")
            && a[1..]
                .chars()
                .all(|c| known.contains(&format!("-{c}").as_str()))
        {
            f.set.extend(a[1..].chars().map(|c| format!("-{c}")));
        } else {
            return Err(format!("Illegal option {a}"));
        }
        i += 1;
    }
    f.rest = args[i..].to_vec();
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn dash_and_plain_commands() {
        let a = parse_invocation(&v(&["-ls", "/x"])).unwrap();
        assert_eq!(a.command, "ls");
        assert_eq!(a.args, v(&["/x"]));
        let b = parse_invocation(&v(&["ls", "/x"])).unwrap();
        assert_eq!(a, b);
        assert!(parse_invocation(&v(&[])).is_err());
    }

    #[test]
    fn global_options() {
        let a = parse_invocation(&v(&[
            "--namenode",
            "h:1",
            "--user",
            "bob",
            "-D",
            "dfs.replication=2",
            "-Ddfs.blocksize=1m",
            "put",
            "a",
            "b",
        ]))
        .unwrap();
        assert_eq!(a.global.namenode.as_deref(), Some("h:1"));
        assert_eq!(a.global.user.as_deref(), Some("bob"));
        assert_eq!(a.global.replication, Some(2));
        assert_eq!(a.global.block_size, Some(1 << 20));
        assert_eq!(a.command, "put");
        assert!(parse_invocation(&v(&["-D", "dfs.replication=x", "ls"])).is_err());
        assert!(parse_invocation(&v(&["--namenode"])).is_err());
    }

    #[test]
    fn flags() {
        let f = parse_flags(&v(&["-R", "-h", "/a", "-d"]), &["-R", "-h", "-d"]).unwrap();
        assert!(f.has("-R") && f.has("-h") && !f.has("-d"));
        assert_eq!(f.rest, v(&["/a", "-d"]));
        let f = parse_flags(&v(&["-rf", "/a"]), &["-r", "-f", "-skipTrash"]).unwrap();
        assert!(f.has("-r") && f.has("-f"));
        let f = parse_flags(&v(&["-skipTrash", "-", "x"]), &["-skipTrash"]).unwrap();
        assert_eq!(f.rest, v(&["-", "x"]));
        assert!(parse_flags(&v(&["-q", "/a"]), &["-R"]).is_err());
        let f = parse_flags(&v(&["--", "-weird"]), &["-R"]).unwrap();
        assert_eq!(f.rest, v(&["-weird"]));
    }
}
