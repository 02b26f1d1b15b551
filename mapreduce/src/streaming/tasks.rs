//! The streaming job's mapper, reducer and combiner: each runs the user's
//! command through a [`Pipe`] and turns its output lines into pairs.
//!
//! - Mapper: every input line (the value; Hadoop's byte-offset key is not
//!   sent) goes to the command's stdin; each output line is split at the
//!   `stream.num.map.output.key.fields`-th `stream.map.output.field.separator`
//!   (default: the first tab) into key and value; a line with fewer
//!   separators is all key.
//! - Combiner: the map task collects its (split) output, and each time
//!   `tusk.stream.combine.buffer.mb` is full, and at the end, sorts it by
//!   key and pipes it through the combiner command (`key TAB value`
//!   lines); the combined pairs go on to the sort buffer. (The engine's
//!   own combiner hook is per key and synchronous, which a process that
//!   answers whenever it likes cannot be.)
//! - Reducer: `key TAB value` lines in key order, one per value; the
//!   command finds key boundaries itself. Its lines are split like the
//!   mapper's, with the `stream.reduce.output.*` settings.
//!
//! Pairs with an empty value are written as the key alone (`key`, not
//! `key TAB`), as the engine's text output writes them: a command that
//! prints lines without a tab gets those lines back unchanged.

use rayon::slice::ParallelSliceMut;

use super::options::{
    CMDENV, COMBINE_BUFFER_MB, COMBINE_COMMAND, MAP_COMMAND, MAP_OUTPUT_KEY_FIELDS,
    MAP_OUTPUT_SEPARATOR, REDUCE_COMMAND, REDUCE_INPUT_SEPARATOR, REDUCE_OUTPUT_KEY_FIELDS,
    REDUCE_OUTPUT_SEPARATOR,
};
use super::pipe::{LineSink, Pipe};
use crate::engine::api::{Context, JobConf, Mapper, Reducer, Values};
use crate::engine::counters as c;
use crate::engine::error::Result;
use crate::engine::splits::InputSplit;

/// Values longer than this are left out of the environment (Hadoop's
/// `stream.jobconf.truncate.limit` does the same for huge settings).
const ENV_VALUE_MAX: usize = 20 << 10;

/// How an output line becomes key and value.
#[derive(Debug, Clone)]
pub(crate) struct Splitter {
    sep: Vec<u8>,
    key_fields: usize,
}

impl Splitter {
    pub(crate) fn new(conf: &JobConf, sep_key: &str, fields_key: &str) -> Result<Self> {
        let sep = conf.get(sep_key).unwrap_or("\t");
        let sep = if sep.is_empty() { "\t" } else { sep };
        Ok(Self {
            sep: unescape(sep).into_bytes(),
            key_fields: conf.get_u64(fields_key, 1)?.max(1) as usize,
        })
    }

    /// Key = up to the `key_fields`-th separator, value = after it; a line
    /// with fewer separators is all key.
    pub(crate) fn split<'a>(&self, line: &'a [u8]) -> (&'a [u8], &'a [u8]) {
        let mut from = 0;
        let mut seen = 0;
        let s = &self.sep;
        while from + s.len() <= line.len() {
            let found = if s.len() == 1 {
                line[from..].iter().position(|&b| b == s[0])
            } else {
                line[from..].windows(s.len()).position(|w| w == &s[..])
            };
            let Some(p) = found else { break };
            seen += 1;
            if seen == self.key_fields {
                return (&line[..from + p], &line[from + p + s.len()..]);
            }
            from += p + s.len();
        }
        (line, &[])
    }
}

/// `\t` and `\n` written out in a setting mean the characters.
fn unescape(s: &str) -> String {
    s.replace("\\t", "\t").replace("\\n", "\n")
}

/// Hadoop's names: every setting with non-alphanumerics as `_`
/// (`mapreduce.job.name` → `mapreduce_job_name`).
fn env_name(key: &str) -> String {
    key.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// `attempt_<app>_m_000003_0` → (`<app>` without `application_`, `m`,
/// `000003`, `0`).
fn attempt_parts(attempt: &str) -> Option<(String, &str, &str, &str)> {
    let rest = attempt.strip_prefix("attempt_")?;
    let mut it = rest.rsplitn(4, '_');
    let n = it.next()?;
    let task = it.next()?;
    let kind = it.next()?;
    let app = it.next()?;
    let app = app.strip_prefix("application_").unwrap_or(app).to_string();
    Some((app, kind, task, n))
}

/// The command's environment: the job's settings, Hadoop's task
/// variables, then `-cmdenv`.
pub(crate) fn task_env(ctx: &dyn Context, is_map: bool) -> Vec<(String, String)> {
    let conf = ctx.conf();
    let mut env: Vec<(String, String)> = conf
        .iter()
        .filter(|(k, v)| v.len() <= ENV_VALUE_MAX && *k != CMDENV)
        .map(|(k, v)| (env_name(k), v.to_string()))
        .collect();
    let mut set = |names: &[&str], v: String| {
        for n in names {
            env.push((n.to_string(), v.clone()));
        }
    };
    let attempt = ctx.attempt_id().to_string();
    if let Some((app, kind, task, n)) = attempt_parts(&attempt) {
        set(
            &["mapreduce_task_attempt_id", "mapred_task_id"],
            format!("attempt_{app}_{kind}_{task}_{n}"),
        );
        set(
            &["mapreduce_task_id", "mapred_tip_id"],
            format!("task_{app}_{kind}_{task}"),
        );
        set(
            &["mapreduce_task_partition", "mapred_task_partition"],
            task.trim_start_matches('0')
                .parse::<u64>()
                .unwrap_or(0)
                .to_string(),
        );
        set(&["mapreduce_job_id", "mapred_job_id"], format!("job_{app}"));
    } else {
        set(
            &["mapreduce_task_attempt_id", "mapred_task_id"],
            attempt.clone(),
        );
    }
    set(
        &["mapreduce_task_ismap", "mapred_task_is_map"],
        is_map.to_string(),
    );
    if let Some(InputSplit::File {
        path,
        start,
        length,
        ..
    }) = ctx.input_split()
    {
        set(
            &["mapreduce_map_input_file", "map_input_file"],
            path.clone(),
        );
        set(
            &["mapreduce_map_input_start", "map_input_start"],
            start.to_string(),
        );
        set(
            &["mapreduce_map_input_length", "map_input_length"],
            length.to_string(),
        );
    }
    if let Some(lines) = conf.get(CMDENV) {
        for l in lines.lines() {
            if let Some((k, v)) = l.split_once('=') {
                env.push((k.to_string(), v.to_string()));
            }
        }
    }
    env
}

/// Hands lines to the context (or the combine buffer), counters to the
/// context; remembers the last status.
struct ToContext<'a> {
    ctx: &'a mut dyn Context,
    split: &'a Splitter,
    combine: Option<&'a mut CombineBuffer>,
    status: &'a mut String,
}

impl LineSink for ToContext<'_> {
    fn line(&mut self, line: &[u8]) -> Result<()> {
        let (k, v) = self.split.split(line);
        match self.combine.as_deref_mut() {
            Some(b) => {
                b.push(k, v);
                if b.full() {
                    b.run(self.ctx)?;
                }
                Ok(())
            }
            None => self.ctx.emit(k, v),
        }
    }
    fn counter(&mut self, group: &str, name: &str, amount: i64) {
        self.ctx.incr(group, name, amount);
    }
    fn status(&mut self, message: &str) {
        tracing::info!(attempt = %self.ctx.attempt_id(), "status: {message}");
        *self.status = message.to_string();
    }
}

/// Map output waiting for the combiner: pairs in an arena.
struct CombineBuffer {
    command: String,
    env: Vec<(String, String)>,
    split: Splitter,
    reduce_sep: Vec<u8>,
    arena: Vec<u8>,
    /// (offset, key length, value length).
    entries: Vec<(usize, usize, usize)>,
    limit: usize,
}

impl CombineBuffer {
    fn push(&mut self, k: &[u8], v: &[u8]) {
        self.entries.push((self.arena.len(), k.len(), v.len()));
        self.arena.extend_from_slice(k);
        self.arena.extend_from_slice(v);
    }

    fn full(&self) -> bool {
        self.arena.len() + self.entries.len() * 24 >= self.limit
    }

    /// Sorts what is buffered, pipes it through the combiner, emits the
    /// result.
    fn run(&mut self, ctx: &mut dyn Context) -> Result<()> {
        if self.entries.is_empty() {
            return Ok(());
        }
        let arena = &self.arena;
        let key = |e: &(usize, usize, usize)| &arena[e.0..e.0 + e.1];
        self.entries.par_sort_by(|a, b| key(a).cmp(key(b)));
        let mut pipe = Pipe::spawn("combiner", &self.command, &self.env)?;
        let mut status = String::new();
        let mut out = CountingSink {
            inner: ToContext {
                ctx,
                split: &self.split,
                combine: None,
                status: &mut status,
            },
            records: 0,
        };
        for e in &self.entries {
            let (k, v) = (&arena[e.0..e.0 + e.1], &arena[e.0 + e.1..e.0 + e.1 + e.2]);
            if v.is_empty() {
                pipe.write_record(&[k], &mut out)?;
            } else {
                pipe.write_record(&[k, &self.reduce_sep, v], &mut out)?;
            }
        }
        pipe.finish(&mut out)?;
        let records = out.records;
        ctx.counters()
            .task(c::COMBINE_INPUT_RECORDS, self.entries.len() as i64);
        ctx.counters()
            .task(c::COMBINE_OUTPUT_RECORDS, records as i64);
        self.entries.clear();
        self.arena.clear();
        Ok(())
    }
}

/// Counts the lines passed on.
struct CountingSink<'a> {
    inner: ToContext<'a>,
    records: u64,
}

impl LineSink for CountingSink<'_> {
    fn line(&mut self, line: &[u8]) -> Result<()> {
        self.records += 1;
        self.inner.line(line)
    }
    fn counter(&mut self, g: &str, n: &str, a: i64) {
        self.inner.counter(g, n, a)
    }
    fn status(&mut self, m: &str) {
        self.inner.status(m)
    }
}

/// The streaming mapper (see the module docs).
pub(crate) struct StreamMapper {
    /// `None`: identity (each input line is an output line).
    command: Option<String>,
    pipe: Option<Pipe>,
    split: Splitter,
    combine: Option<CombineBuffer>,
    status: String,
}

impl StreamMapper {
    pub(crate) fn new(conf: &JobConf) -> Result<Self> {
        Ok(Self {
            command: conf.get(MAP_COMMAND).map(|s| s.to_string()),
            pipe: None,
            split: Splitter::new(conf, MAP_OUTPUT_SEPARATOR, MAP_OUTPUT_KEY_FIELDS)?,
            combine: None,
            status: String::new(),
        })
    }
}

/// The reduce input separator (default tab).
fn reduce_sep(conf: &JobConf) -> Vec<u8> {
    let s = conf.get(REDUCE_INPUT_SEPARATOR).unwrap_or("\t");
    unescape(if s.is_empty() { "\t" } else { s }).into_bytes()
}

impl Mapper for StreamMapper {
    fn setup(&mut self, ctx: &mut dyn Context) -> Result<()> {
        let env = task_env(ctx, true);
        let conf = ctx.conf();
        if conf.num_reduces()? > 0 {
            if let Some(cmd) = conf.get(COMBINE_COMMAND) {
                let default_mb = (conf.sort_bytes()? >> 21).clamp(1, 256) as u64;
                let mb = conf.get_u64(COMBINE_BUFFER_MB, default_mb)?.clamp(1, 2047);
                self.combine = Some(CombineBuffer {
                    command: local_command(cmd),
                    env: env.clone(),
                    split: self.split.clone(),
                    reduce_sep: reduce_sep(conf),
                    arena: Vec::new(),
                    entries: Vec::new(),
                    limit: (mb as usize) << 20,
                });
            }
        }
        if let Some(cmd) = &self.command {
            self.pipe = Some(Pipe::spawn("mapper", &local_command(cmd), &env)?);
        }
        Ok(())
    }

    fn map(&mut self, _key: &[u8], line: &[u8], ctx: &mut dyn Context) -> Result<()> {
        let mut sink = ToContext {
            ctx,
            split: &self.split,
            combine: self.combine.as_mut(),
            status: &mut self.status,
        };
        match self.pipe.as_mut() {
            Some(p) => p.write_record(&[line], &mut sink),
            None => sink.line(line),
        }
    }

    fn cleanup(&mut self, ctx: &mut dyn Context) -> Result<()> {
        {
            let mut sink = ToContext {
                ctx: &mut *ctx,
                split: &self.split,
                combine: self.combine.as_mut(),
                status: &mut self.status,
            };
            if let Some(p) = self.pipe.as_mut() {
                p.finish(&mut sink)?;
            }
        }
        if let Some(b) = self.combine.as_mut() {
            b.run(ctx)?;
        }
        Ok(())
    }
}

/// The streaming reducer (see the module docs).
pub(crate) struct StreamReducer {
    command: String,
    pipe: Option<Pipe>,
    split: Splitter,
    sep: Vec<u8>,
    status: String,
}

impl StreamReducer {
    pub(crate) fn new(conf: &JobConf, command: &str) -> Result<Self> {
        Ok(Self {
            command: command.to_string(),
            pipe: None,
            split: Splitter::new(conf, REDUCE_OUTPUT_SEPARATOR, REDUCE_OUTPUT_KEY_FIELDS)?,
            sep: reduce_sep(conf),
            status: String::new(),
        })
    }

    /// The reducer command of `conf`, if any.
    pub(crate) fn command(conf: &JobConf) -> Option<&str> {
        conf.get(REDUCE_COMMAND)
    }
}

impl Reducer for StreamReducer {
    fn setup(&mut self, ctx: &mut dyn Context) -> Result<()> {
        let env = task_env(ctx, false);
        self.pipe = Some(Pipe::spawn("reducer", &local_command(&self.command), &env)?);
        Ok(())
    }

    fn reduce(&mut self, key: &[u8], values: &mut dyn Values, ctx: &mut dyn Context) -> Result<()> {
        let Some(pipe) = self.pipe.as_mut() else {
            return Err(crate::engine::EngineError::task(
                "reducer used before setup",
            ));
        };
        let mut sink = ToContext {
            ctx,
            split: &self.split,
            combine: None,
            status: &mut self.status,
        };
        while let Some(v) = values.next_value() {
            if v.is_empty() {
                pipe.write_record(&[key], &mut sink)?;
            } else {
                pipe.write_record(&[key, &self.sep, v], &mut sink)?;
            }
        }
        Ok(())
    }

    fn cleanup(&mut self, ctx: &mut dyn Context) -> Result<()> {
        let mut sink = ToContext {
            ctx,
            split: &self.split,
            combine: None,
            status: &mut self.status,
        };
        match self.pipe.as_mut() {
            Some(p) => p.finish(&mut sink),
            None => Ok(()),
        }
    }
}

/// As Hadoop does, a command whose first word names a file in the task's
/// working directory (a shipped `-file`) runs that file: `mapper.py`
/// means `./mapper.py`.
fn local_command(cmd: &str) -> String {
    let first = cmd.split_whitespace().next().unwrap_or("");
    if !first.is_empty() && !first.contains('/') && std::path::Path::new(first).is_file() {
        let rest = &cmd.trim_start()[first.len()..];
        return format!("./{first}{rest}");
    }
    cmd.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_the_nth_separator() {
        let conf = JobConf::new();
        let s = Splitter::new(&conf, MAP_OUTPUT_SEPARATOR, MAP_OUTPUT_KEY_FIELDS).unwrap();
        assert_eq!(s.split(b"a\tb\tc"), (&b"a"[..], &b"b\tc"[..]));
        assert_eq!(s.split(b"abc"), (&b"abc"[..], &b""[..]));
        assert_eq!(s.split(b"a\t"), (&b"a"[..], &b""[..]));
        let conf = JobConf::new()
            .with(MAP_OUTPUT_SEPARATOR, ".")
            .with(MAP_OUTPUT_KEY_FIELDS, 2);
        let s = Splitter::new(&conf, MAP_OUTPUT_SEPARATOR, MAP_OUTPUT_KEY_FIELDS).unwrap();
        assert_eq!(s.split(b"a.b.c.d"), (&b"a.b"[..], &b"c.d"[..]));
        assert_eq!(s.split(b"a.b"), (&b"a.b"[..], &b""[..]));
        let conf = JobConf::new().with(MAP_OUTPUT_SEPARATOR, "::");
        let s = Splitter::new(&conf, MAP_OUTPUT_SEPARATOR, MAP_OUTPUT_KEY_FIELDS).unwrap();
        assert_eq!(s.split(b"a::b::c"), (&b"a"[..], &b"b::c"[..]));
    }

    #[test]
    fn attempt_ids_in_hadoop_form() {
        let (app, kind, task, n) = attempt_parts("attempt_application_17_0001_m_000003_1").unwrap();
        assert_eq!(
            (app.as_str(), kind, task, n),
            ("17_0001", "m", "000003", "1")
        );
        assert_eq!(env_name("mapreduce.job.name"), "mapreduce_job_name");
    }
}
