//! A streaming command as a child process: records go in on its stdin,
//! lines come back on its stdout, `reporter:` lines and diagnostics on its
//! stderr.
//!
//! One thread drives all three pipes with `poll(2)` over non-blocking
//! descriptors: whenever it waits to write stdin it also reads stdout and
//! stderr, so a command that writes much more than it reads can never
//! deadlock against us, and output is handed to the caller (who emits it
//! into the task's context) on the task's own thread. Lines are byte
//! strings of any length and content.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};

use crate::engine::error::{EngineError, Result};

/// Input bytes buffered before they are written to the command.
const WRITE_CHUNK: usize = 256 << 10;
/// Bytes read from a pipe at once.
const READ_CHUNK: usize = 256 << 10;
/// Stderr lines kept for the diagnostic of a failure.
const TAIL_LINES: usize = 10;
/// Longest stderr line kept (bytes).
const TAIL_LINE_MAX: usize = 400;

/// Where a command's output goes.
pub(crate) trait LineSink {
    /// One line of stdout, without its `\n`.
    fn line(&mut self, line: &[u8]) -> Result<()>;
    /// `reporter:counter:GROUP,NAME,AMOUNT` on stderr.
    fn counter(&mut self, group: &str, name: &str, amount: i64);
    /// `reporter:status:MESSAGE` on stderr.
    fn status(&mut self, message: &str);
}

/// A running command.
pub(crate) struct Pipe {
    /// `mapper`, `reducer` or `combiner`, for messages.
    role: &'static str,
    command: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
    /// Input not yet written; `written` bytes of it are.
    pending: Vec<u8>,
    written: usize,
    /// Stdout read but not yet split into lines: `out[out_start..]`;
    /// `out[..scanned]` holds no newline past `out_start`.
    out: Vec<u8>,
    out_start: usize,
    scanned: usize,
    /// A partial stderr line.
    err: Vec<u8>,
    tail: VecDeque<String>,
    /// The command closed its stdin before taking all of its input.
    broken: bool,
    scratch: Vec<u8>,
    waited: Option<ExitStatus>,
}

fn set_nonblocking(fd: i32) -> std::io::Result<()> {
    // SAFETY: fcntl on a descriptor this process owns (a pipe end held by a
    // Child* handle that outlives the call); no memory is passed.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// `exit status 3`, `killed by signal 9`, with a hint for the shell's
/// "not found" (127) and "not executable" (126).
pub(crate) fn describe_status(st: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (st.code(), st.signal()) {
        (Some(127), _) => "exit status 127 (command not found)".into(),
        (Some(126), _) => "exit status 126 (command not executable)".into(),
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        (None, None) => "ended abnormally".into(),
    }
}

impl Pipe {
    /// Starts `sh -c COMMAND` in the current directory with `env` added.
    pub(crate) fn spawn(
        role: &'static str,
        command: &str,
        env: &[(String, String)],
    ) -> Result<Pipe> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(command)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| EngineError::task(format!("{role} {command:?}: cannot start: {e}")))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let fds = [
            stdin.as_ref().map(|s| s.as_raw_fd()),
            stdout.as_ref().map(|s| s.as_raw_fd()),
            stderr.as_ref().map(|s| s.as_raw_fd()),
        ];
        for fd in fds.into_iter().flatten() {
            set_nonblocking(fd)
                .map_err(|e| EngineError::task(format!("{role} {command:?}: pipe: {e}")))?;
        }
        Ok(Pipe {
            role,
            command: command.to_string(),
            child,
            stdin,
            stdout,
            stderr,
            pending: Vec::with_capacity(WRITE_CHUNK + 4096),
            written: 0,
            out: Vec::with_capacity(READ_CHUNK),
            out_start: 0,
            scanned: 0,
            err: Vec::new(),
            tail: VecDeque::new(),
            broken: false,
            scratch: vec![0; READ_CHUNK],
            waited: None,
        })
    }

    /// Queues one record: `parts` concatenated, then `\n`; writes when
    /// enough is queued (handing output to `sink` meanwhile).
    pub(crate) fn write_record(&mut self, parts: &[&[u8]], sink: &mut dyn LineSink) -> Result<()> {
        if self.broken {
            return Ok(());
        }
        for p in parts {
            self.pending.extend_from_slice(p);
        }
        self.pending.push(b'\n');
        if self.pending.len() - self.written >= WRITE_CHUNK {
            self.pump(sink, true)?;
        }
        Ok(())
    }

    /// Closes the command's stdin, hands the rest of its output to `sink`
    /// and waits for it. A non-zero exit, or input left unread (a broken
    /// pipe), is an error naming the command with the end of its stderr.
    pub(crate) fn finish(&mut self, sink: &mut dyn LineSink) -> Result<()> {
        self.pump(sink, true)?;
        drop(self.stdin.take());
        self.pump(sink, false)?;
        if self.out_start < self.out.len() {
            // A last line without a newline is a line too.
            let start = self.out_start;
            self.out_start = self.out.len();
            sink.line(&self.out[start..])?;
        }
        let st = self.child.wait().map_err(|e| {
            EngineError::task(format!("{} {:?}: wait: {e}", self.role, self.command))
        })?;
        self.waited = Some(st);
        if !st.success() {
            return Err(self.failure(&describe_status(&st)));
        }
        if self.broken {
            return Err(self.failure("exited before reading all of its input (broken pipe)"));
        }
        Ok(())
    }

    /// The error of a failed command: `mapper "python3 m.py" failed: exit
    /// status 1; stderr: …`.
    fn failure(&self, what: &str) -> EngineError {
        let mut msg = format!("{} {:?} failed: {what}", self.role, self.command);
        if !self.tail.is_empty() {
            let tail: Vec<&str> = self.tail.iter().map(|s| s.as_str()).collect();
            msg.push_str("; last stderr lines: ");
            msg.push_str(&tail.join(" | "));
        }
        EngineError::task(msg)
    }

    /// Moves data until everything queued is written (`until_written`) or
    /// until stdout and stderr are at their end.
    fn pump(&mut self, sink: &mut dyn LineSink, until_written: bool) -> Result<()> {
        loop {
            let want_write =
                self.stdin.is_some() && !self.broken && self.written < self.pending.len();
            if until_written && !want_write {
                if self.written >= self.pending.len() || self.broken {
                    self.pending.clear();
                    self.written = 0;
                }
                return Ok(());
            }
            if !until_written && self.stdout.is_none() && self.stderr.is_none() {
                return Ok(());
            }
            let mut fds: Vec<libc::pollfd> = Vec::with_capacity(3);
            let mut which = Vec::with_capacity(3);
            if want_write {
                if let Some(s) = &self.stdin {
                    fds.push(libc::pollfd {
                        fd: s.as_raw_fd(),
                        events: libc::POLLOUT,
                        revents: 0,
                    });
                    which.push(0);
                }
            }
            if let Some(s) = &self.stdout {
                fds.push(libc::pollfd {
                    fd: s.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                });
                which.push(1);
            }
            if let Some(s) = &self.stderr {
                fds.push(libc::pollfd {
                    fd: s.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                });
                which.push(2);
            }
            // SAFETY: `fds` is a valid array of `fds.len()` pollfd structs
            // that lives across the call.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 1000) };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == ErrorKind::Interrupted {
                    continue;
                }
                return Err(EngineError::task(format!(
                    "{} {:?}: poll: {e}",
                    self.role, self.command
                )));
            }
            for (pfd, w) in fds.iter().zip(which) {
                if pfd.revents == 0 {
                    continue;
                }
                match w {
                    0 => self.write_some()?,
                    1 => self.read_stdout(sink)?,
                    _ => self.read_stderr(sink)?,
                }
            }
        }
    }

    fn write_some(&mut self) -> Result<()> {
        let Some(stdin) = self.stdin.as_mut() else {
            return Ok(());
        };
        while self.written < self.pending.len() {
            match stdin.write(&self.pending[self.written..]) {
                Ok(0) => break,
                Ok(n) => self.written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::BrokenPipe => {
                    self.broken = true;
                    self.pending.clear();
                    self.written = 0;
                    self.stdin = None;
                    return Ok(());
                }
                Err(e) => {
                    return Err(EngineError::task(format!(
                        "{} {:?}: writing its input: {e}",
                        self.role, self.command
                    )))
                }
            }
        }
        if self.written >= self.pending.len() {
            self.pending.clear();
            self.written = 0;
        }
        Ok(())
    }

    fn read_stdout(&mut self, sink: &mut dyn LineSink) -> Result<()> {
        let Some(stdout) = self.stdout.as_mut() else {
            return Ok(());
        };
        let n = match stdout.read(&mut self.scratch) {
            Ok(0) => {
                self.stdout = None;
                return Ok(());
            }
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
                return Ok(())
            }
            Err(e) => {
                return Err(EngineError::task(format!(
                    "{} {:?}: reading its output: {e}",
                    self.role, self.command
                )))
            }
        };
        self.out.extend_from_slice(&self.scratch[..n]);
        let mut from = self.scanned.max(self.out_start);
        while let Some(p) = self.out[from..].iter().position(|&b| b == b'\n') {
            let end = from + p;
            let start = self.out_start;
            self.out_start = end + 1;
            sink.line(&self.out[start..end])?;
            from = end + 1;
        }
        self.scanned = self.out.len();
        if self.out_start == self.out.len() {
            self.out.clear();
            self.out_start = 0;
            self.scanned = 0;
        } else if self.out_start >= (1 << 20) {
            self.out.drain(..self.out_start);
            self.scanned -= self.out_start;
            self.out_start = 0;
        }
        Ok(())
    }

    fn read_stderr(&mut self, sink: &mut dyn LineSink) -> Result<()> {
        let Some(stderr) = self.stderr.as_mut() else {
            return Ok(());
        };
        match stderr.read(&mut self.scratch) {
            Ok(0) => {
                self.stderr = None;
                if !self.err.is_empty() {
                    let line = std::mem::take(&mut self.err);
                    self.stderr_line(&line, sink);
                }
            }
            Ok(n) => {
                self.err.extend_from_slice(&self.scratch[..n]);
                while let Some(p) = self.err.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = self.err.drain(..=p).collect();
                    self.stderr_line(&line[..p], sink);
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
            Err(_) => self.stderr = None,
        }
        Ok(())
    }

    /// A `reporter:` line updates counters or status; any other line goes
    /// to the task's own stderr (the container log) and the kept tail.
    fn stderr_line(&mut self, line: &[u8], sink: &mut dyn LineSink) {
        let text = String::from_utf8_lossy(line);
        if let Some(rest) = text.strip_prefix("reporter:counter:") {
            let parts: Vec<&str> = rest.trim_end_matches('\r').splitn(3, ',').collect();
            if let [g, n, a] = parts[..] {
                if let Ok(a) = a.trim().parse::<i64>() {
                    sink.counter(g, n, a);
                    return;
                }
            }
        } else if let Some(msg) = text.strip_prefix("reporter:status:") {
            sink.status(msg.trim_end_matches('\r'));
            return;
        }
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(line);
        let _ = err.write_all(b"\n");
        let mut kept: String = text.chars().take(TAIL_LINE_MAX).collect();
        if kept.len() < text.len() {
            kept.push('…');
        }
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(kept);
    }
}

impl Drop for Pipe {
    /// A command abandoned mid-way (the task failed elsewhere) is killed.
    fn drop(&mut self) {
        if self.waited.is_none() {
            drop(self.stdin.take());
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Collect {
        lines: Vec<Vec<u8>>,
        counters: Vec<(String, String, i64)>,
        status: Vec<String>,
    }

    impl LineSink for Collect {
        fn line(&mut self, line: &[u8]) -> Result<()> {
            self.lines.push(line.to_vec());
            Ok(())
        }
        fn counter(&mut self, g: &str, n: &str, a: i64) {
            self.counters.push((g.into(), n.into(), a));
        }
        fn status(&mut self, m: &str) {
            self.status.push(m.into());
        }
    }

    #[test]
    fn passes_bytes_through_and_reports() {
        let mut c = Collect::default();
        let mut p = Pipe::spawn(
            "mapper",
            "cat; echo 'reporter:counter:G,N,5' >&2; echo 'reporter:status:half' >&2",
            &[],
        )
        .unwrap();
        let odd: &[u8] = b"\xff\xfe\x00tab\there";
        p.write_record(&[odd], &mut c).unwrap();
        p.write_record(&[b"k", b"\t", b"v"], &mut c).unwrap();
        p.finish(&mut c).unwrap();
        assert_eq!(c.lines, vec![odd.to_vec(), b"k\tv".to_vec()]);
        assert_eq!(c.counters, vec![("G".into(), "N".into(), 5)]);
        assert_eq!(c.status, vec!["half".to_string()]);
    }

    #[test]
    fn much_more_output_than_input_does_not_deadlock() {
        // Each input line becomes 2,000 output lines: the command blocks on
        // stdout long before it has read its input.
        let mut c = Collect::default();
        let mut p = Pipe::spawn(
            "mapper",
            "awk '{ for (i = 0; i < 2000; i++) print $0 i }'",
            &[],
        )
        .unwrap();
        for i in 0..300 {
            p.write_record(&[format!("line{i}-").as_bytes()], &mut c)
                .unwrap();
        }
        p.finish(&mut c).unwrap();
        assert_eq!(c.lines.len(), 600_000);
    }

    #[test]
    fn long_lines_and_a_last_line_without_newline() {
        let mut c = Collect::default();
        let big = vec![b'x'; 10 << 20];
        let mut p = Pipe::spawn("reducer", "cat; printf tail", &[]).unwrap();
        p.write_record(&[&big], &mut c).unwrap();
        p.finish(&mut c).unwrap();
        assert_eq!(c.lines.len(), 2);
        assert_eq!(c.lines[0], big);
        assert_eq!(c.lines[1], b"tail");
    }

    #[test]
    fn failures_name_the_command_and_its_stderr() {
        let mut c = Collect::default();
        let mut p = Pipe::spawn("mapper", "echo oops >&2; exit 3", &[]).unwrap();
        p.write_record(&[b"x"], &mut c).unwrap();
        let e = p.finish(&mut c).unwrap_err().to_string();
        assert!(e.contains("exit status 3") && e.contains("oops"), "{e}");

        let mut p = Pipe::spawn("mapper", "no-such-command-tusk", &[]).unwrap();
        let e = p.finish(&mut c).unwrap_err().to_string();
        assert!(e.contains("command not found"), "{e}");

        // Reads one line of many MB and exits 0: a broken pipe.
        let mut p = Pipe::spawn("mapper", "head -n 1", &[]).unwrap();
        for _ in 0..100_000 {
            p.write_record(&[b"some input line to fill the pipe"], &mut c)
                .unwrap();
        }
        let e = p.finish(&mut c).unwrap_err().to_string();
        assert!(e.contains("broken pipe"), "{e}");
    }
}
