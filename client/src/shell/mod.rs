//! The `dfs` command line, mirroring `hdfs dfs`.
//!
//! - `args`: global options, `ls`/`-ls` command forms, per-command flags.
//! - `format`: output formats (ls, du, count, df, stat), pure.
//! - `mode`: chmod's octal and symbolic modes, pure.
//! - `cmds`: one method per command on [`Shell`].
//! - `admin`: `admin report|safemode|decommission|recommission`, `fsck`,
//!   `setrep -w`'s wait.
//!
//! Errors: each failing path prints one line `dfs: <path>: <cause>` on
//! stderr; the other paths are still processed; the exit status is 1 if any
//! failed, 0 otherwise. Usage errors print the usage and exit 1.

mod admin;
pub mod args;
mod cmds;
pub mod format;
pub mod mode;
mod token;

use crate::config::ClientConfig;
use crate::error::DfsError;
use crate::DfsClient;
use std::io::Write;

/// Entry point of the `dfs` binary: parses `std::env::args`, runs the
/// command, returns the exit status.
pub fn main() -> i32 {
    tusk_common::logging::init("error");
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("dfs: cannot start the runtime: {e}");
            return 1;
        }
    };
    let out = Box::new(std::io::BufWriter::with_capacity(
        1 << 20,
        std::io::stdout(),
    ));
    let err = Box::new(std::io::stderr());
    rt.block_on(run(&argv, out, err))
}

/// Runs one `dfs` invocation with the given output streams (testable).
pub async fn run(
    argv: &[String],
    out: Box<dyn Write + Send>,
    mut err: Box<dyn Write + Send>,
) -> i32 {
    let inv = match args::parse_invocation(argv) {
        Ok(i) => i,
        Err(e) => {
            let _ = writeln!(err, "dfs: {e}");
            let _ = writeln!(err, "{}", USAGE_LINE);
            let _ = writeln!(err, "Run 'dfs help' for the list of commands.");
            return 1;
        }
    };
    if matches!(inv.command.as_str(), "help" | "usage" | "h") {
        let mut out = out;
        let _ = write!(out, "{}", usage());
        let _ = out.flush();
        return 0;
    }
    if !cmds::is_command(&inv.command) {
        let _ = writeln!(err, "dfs: {}: Unknown command", inv.command);
        let _ = writeln!(err, "Run 'dfs help' for the list of commands.");
        return 1;
    }
    // `admin token …` reads the cluster secret and talks to no namenode.
    if matches!(cmds::canonical(&inv.command), "admin" | "dfsadmin")
        && inv.args.first().map(|a| a.trim_start_matches('-')) == Some("token")
    {
        let (mut out, mut err) = (out, err);
        let code = token::run(&inv.args[1..], &mut *out, &mut *err);
        let _ = out.flush();
        return code;
    }
    let mut config = ClientConfig::from_env();
    if let Some(n) = &inv.global.namenode {
        config = config.with_namenode(n.clone());
    }
    if let Some(u) = &inv.global.user {
        config = config.with_user(u.clone());
    }
    config.replication = inv.global.replication;
    config.block_size = inv.global.block_size;
    let fs = match DfsClient::connect(config).await {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(err, "dfs: {e}");
            return 1;
        }
    };
    let mut shell = Shell::new(fs, out, err);
    let code = shell.dispatch(&inv.command, &inv.args).await;
    let _ = shell.out.flush();
    let _ = shell.err.flush();
    code
}

/// State of one command run.
pub struct Shell {
    fs: DfsClient,
    out: Box<dyn Write + Send>,
    err: Box<dyn Write + Send>,
    /// Some path failed: exit 1.
    failed: bool,
    /// The namenode refused our credentials once: said, not repeated for
    /// every further path (it would refuse them all alike).
    auth_refused: bool,
}

impl Shell {
    pub fn new(fs: DfsClient, out: Box<dyn Write + Send>, err: Box<dyn Write + Send>) -> Self {
        Shell {
            fs,
            out,
            err,
            failed: false,
            auth_refused: false,
        }
    }

    /// Prints `dfs: <path>: <cause>` and remembers the failure.
    fn report(&mut self, path: &str, e: &DfsError) {
        self.failed = true;
        // `dfs cat f | head`: the reader went away; nothing worth saying.
        if let DfsError::Io { source, .. } = e {
            if source.kind() == std::io::ErrorKind::BrokenPipe {
                return;
            }
        }
        if let DfsError::Rpc {
            code: tonic::Code::Unauthenticated,
            ..
        } = e
        {
            if std::mem::replace(&mut self.auth_refused, true) {
                return;
            }
        }
        let cause = e.cause();
        let _ = self.out.flush();
        let _ = writeln!(self.err, "dfs: {path}: {cause}");
        self.failed = true;
    }

    fn report_msg(&mut self, path: &str, msg: &str) {
        let _ = self.out.flush();
        let _ = writeln!(self.err, "dfs: {path}: {msg}");
        self.failed = true;
    }

    fn usage_error(&mut self, cmd: &str, msg: &str) -> i32 {
        let _ = writeln!(self.err, "dfs: {cmd}: {msg}");
        if let Some(u) = command_usage(cmd) {
            let _ = writeln!(self.err, "Usage: dfs {u}");
        }
        1
    }

    fn line(&mut self, s: &str) {
        let _ = writeln!(self.out, "{s}");
    }
}

const USAGE_LINE: &str = "Usage: dfs [--namenode HOST:PORT] [--user NAME] [-D dfs.replication=N] [-D dfs.blocksize=SIZE] COMMAND [ARGS...]";

const COMMANDS: &[(&str, &str)] = &[
    (
        "admin",
        "admin report | safemode enter|leave|get|wait | decommission HOST | recommission HOST | balancer [-threshold PCT] [-detach|-status|-stop] | recoverLease [-retries N] PATH | token create USER [--lifetime 7d] [--secret-file PATH] | token verify [TOKEN]",
    ),
    ("appendToFile", "appendToFile <localsrc> ... <dst>"),
    ("cat", "cat <src> ..."),
    ("checksum", "checksum <src> ..."),
    ("chgrp", "chgrp [-R] GROUP PATH..."),
    ("chmod", "chmod [-R] <MODE[,MODE]... | OCTALMODE> PATH..."),
    ("chown", "chown [-R] [OWNER][:[GROUP]] PATH..."),
    (
        "copyFromLocal",
        "copyFromLocal [-f] [-p] <localsrc> ... <dst>",
    ),
    ("copyToLocal", "copyToLocal [-f] [-p] <src> ... <localdst>"),
    ("count", "count [-q] [-h] [-v] <path> ..."),
    ("cp", "cp [-f] [-p] <src> ... <dst>"),
    ("df", "df [-h] [<path> ...]"),
    ("du", "du [-s] [-h] <path> ..."),
    ("expunge", "expunge [-immediate]"),
    ("fsck", "fsck <path> [-files [-blocks [-locations]]]"),
    (
        "find",
        "find <path> ... [-name PATTERN | -iname PATTERN] [-type f|d] [-print]",
    ),
    ("get", "get [-f] [-p] <src> ... <localdst>"),
    ("getmerge", "getmerge [-nl] <src> <localdst>"),
    ("head", "head <file>"),
    ("help", "help"),
    ("ls", "ls [-C] [-d] [-h] [-R] [-t] [-S] [-r] [-u] [<path> ...]"),
    ("mkdir", "mkdir [-p] <path> ..."),
    ("mv", "mv <src> ... <dst>"),
    (
        "put",
        "put [-f] [-p] <localsrc> ... <dst>   ('-' reads standard input)",
    ),
    ("rm", "rm [-f] [-r|-R] [-skipTrash] <src> ..."),
    ("rmdir", "rmdir [--ignore-fail-on-non-empty] <dir> ..."),
    ("setrep", "setrep [-R] [-w] <rep> <path> ..."),
    (
        "stat",
        "stat [format] <path> ...   (%a %A %b %F %g %n %o %r %u %x %X %y %Y)",
    ),
    ("tail", "tail [-f] <file>"),
    ("test", "test -[defsz] <path>"),
    ("text", "text <src> ..."),
    ("touchz", "touchz <path> ..."),
];

fn command_usage(cmd: &str) -> Option<&'static str> {
    let canonical = cmds::canonical(cmd);
    COMMANDS
        .iter()
        .find(|(n, _)| *n == canonical)
        .map(|(_, u)| *u)
}

/// The full usage text.
pub fn usage() -> String {
    let mut s =
        format!("{USAGE_LINE}\n\nCommands (also accepted with a leading '-', e.g. dfs -ls /):\n");
    for (_, u) in COMMANDS {
        s.push_str(&format!("  {u}\n"));
    }
    s.push_str(
        "\nRelative paths resolve against /user/<user>. Globs (* ? [..] {a,b}) are expanded.\n\
         The namenode is --namenode, else $TUSK_NAMENODE, else ~/.config/tusk/config.toml, else 127.0.0.1:9000.\n",
    );
    s
}
