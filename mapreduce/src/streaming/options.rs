//! Hadoop Streaming's command line (`StreamJob`'s options) parsed into
//! [`StreamingOptions`], and how they become job settings.
//!
//! Pure: no file system, no processes. The client ships the `-file`,
//! `-files` and `-archives` it names ([`super::submit`]); the application
//! master parses the same arguments again ([`super::StreamingJob`]'s
//! `configure`) and ignores them.

use crate::engine::api::{JobConf, NUM_REDUCES};
use crate::engine::error::{EngineError, Result};

/// The mapper command (Hadoop's key).
pub const MAP_COMMAND: &str = "stream.map.streamprocessor";
/// The reducer command.
pub const REDUCE_COMMAND: &str = "stream.reduce.streamprocessor";
/// The combiner command.
pub const COMBINE_COMMAND: &str = "stream.combine.streamprocessor";
/// Separator between key and value in the mapper's output (default tab).
pub const MAP_OUTPUT_SEPARATOR: &str = "stream.map.output.field.separator";
/// How many separator-delimited fields of a mapper output line are the key.
pub const MAP_OUTPUT_KEY_FIELDS: &str = "stream.num.map.output.key.fields";
/// Separator between key and value in the reducer's output (default tab).
pub const REDUCE_OUTPUT_SEPARATOR: &str = "stream.reduce.output.field.separator";
/// How many fields of a reducer output line are the key.
pub const REDUCE_OUTPUT_KEY_FIELDS: &str = "stream.num.reduce.output.key.fields";
/// What joins key and value on the reducer's (and combiner's) stdin.
pub const REDUCE_INPUT_SEPARATOR: &str = "stream.reduce.input.field.separator";
/// `-cmdenv` settings, one `NAME=VALUE` a line.
pub const CMDENV: &str = "stream.addenvironment";
/// `hash` (default) or `keyfield` (`KeyFieldBasedPartitioner`).
pub const PARTITIONER: &str = "tusk.stream.partitioner";
/// Which key fields the key-field partitioner hashes (`-k1,2`).
pub const KEY_PARTITIONER_OPTIONS: &str = "mapreduce.partition.keypartitioner.options";
/// Older spelling: partition on the first N fields of the key.
pub const NUM_KEY_FIELDS_FOR_PARTITION: &str = "num.key.fields.for.partition";
/// Separator of key fields for the key-field partitioner (default tab).
pub const KEY_FIELD_SEPARATOR: &str = "mapreduce.map.output.key.field.separator";
/// MiB of mapper output the map task collects before running the
/// combiner over it (Tusk's key; default half the sort buffer, ≤ 256).
pub const COMBINE_BUFFER_MB: &str = "tusk.stream.combine.buffer.mb";

/// Hadoop's identity classes, accepted where a command goes.
const IDENTITY_MAPPER: &[&str] = &[
    "org.apache.hadoop.mapred.lib.IdentityMapper",
    "org.apache.hadoop.mapreduce.Mapper",
];
const IDENTITY_REDUCER: &[&str] = &[
    "org.apache.hadoop.mapred.lib.IdentityReducer",
    "org.apache.hadoop.mapreduce.Reducer",
];
const TEXT_INPUT_FORMATS: &[&str] = &[
    "org.apache.hadoop.mapred.TextInputFormat",
    "org.apache.hadoop.mapreduce.lib.input.TextInputFormat",
    "TextInputFormat",
    // Streaming hands the mapper key TAB value, which is the line itself.
    "org.apache.hadoop.mapred.KeyValueTextInputFormat",
    "org.apache.hadoop.mapreduce.lib.input.KeyValueTextInputFormat",
    "KeyValueTextInputFormat",
];
const TEXT_OUTPUT_FORMATS: &[&str] = &[
    "org.apache.hadoop.mapred.TextOutputFormat",
    "org.apache.hadoop.mapreduce.lib.output.TextOutputFormat",
    "TextOutputFormat",
];
const HASH_PARTITIONERS: &[&str] = &[
    "org.apache.hadoop.mapred.lib.HashPartitioner",
    "org.apache.hadoop.mapreduce.lib.partition.HashPartitioner",
    "HashPartitioner",
];
const KEY_FIELD_PARTITIONERS: &[&str] = &[
    "org.apache.hadoop.mapred.lib.KeyFieldBasedPartitioner",
    "org.apache.hadoop.mapreduce.lib.partition.KeyFieldBasedPartitioner",
    "KeyFieldBasedPartitioner",
];

/// A file or archive to put in every task's working directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipSpec {
    /// A local path, or a DFS path given as an `hdfs://` URI.
    pub source: String,
    /// The name in the working directory (`#alias`, else the base name).
    pub name: String,
}

impl ShipSpec {
    /// `path[#alias]`.
    fn parse(spec: &str, opt: &str) -> Result<Self> {
        let (source, alias) = match spec.rsplit_once('#') {
            Some((s, a)) => (s, Some(a)),
            None => (spec, None),
        };
        let source = source.strip_prefix("file://").unwrap_or(source);
        if source.is_empty() {
            return Err(EngineError::Config(format!("{opt} {spec}: empty path")));
        }
        let name = match alias {
            Some(a) => a.to_string(),
            None => source
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or("")
                .to_string(),
        };
        if name.is_empty() || name == "." || name == ".." || name.contains('/') {
            return Err(EngineError::Config(format!(
                "{opt} {spec}: invalid name {name:?} in the working directory"
            )));
        }
        Ok(Self {
            source: source.to_string(),
            name,
        })
    }

    /// The DFS path when the source is a DFS URI (`hdfs://…/p`), else `None`.
    pub fn dfs_path(&self) -> Option<String> {
        is_dfs_uri(&self.source).then(|| strip_fs_uri(&self.source))
    }
}

/// Everything a streaming command line says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamingOptions {
    pub inputs: Vec<String>,
    pub output: Option<String>,
    pub mapper: Option<String>,
    pub combiner: Option<String>,
    pub reducer: Option<String>,
    pub files: Vec<ShipSpec>,
    pub archives: Vec<ShipSpec>,
    pub cmdenv: Vec<(String, String)>,
    /// `-D` / `-jobconf` settings in order.
    pub defines: Vec<(String, String)>,
    pub num_reduces: Option<u32>,
    /// `hash` or `keyfield`.
    pub partitioner: Option<&'static str>,
    /// `-background`: submit and return.
    pub background: bool,
    /// `-help` / `-info`.
    pub help: bool,
}

/// `hdfs://`, `webhdfs://`, `swebhdfs://`, `tusk://` URIs name DFS paths.
pub fn is_dfs_uri(s: &str) -> bool {
    [
        "hdfs://",
        "webhdfs://",
        "swebhdfs://",
        "tusk://",
        "viewfs://",
    ]
    .iter()
    .any(|p| s.starts_with(p))
}

/// `hdfs://host:port/a/b` (or `hdfs:///a/b`, `webhdfs://…`) → `/a/b`; anything
/// else unchanged.
pub fn strip_fs_uri(s: &str) -> String {
    if !is_dfs_uri(s) {
        return s.to_string();
    }
    let rest = &s[s.find("://").map(|i| i + 3).unwrap_or(0)..];
    match rest.find('/') {
        Some(i) => rest[i..].to_string(),
        None => "/".to_string(),
    }
}

/// The `host:port` of a DFS URI, when it names one (`hdfs://h:9000/x`).
pub fn fs_uri_authority(s: &str) -> Option<String> {
    if !is_dfs_uri(s) {
        return None;
    }
    let rest = &s[s.find("://")? + 3..];
    let auth = rest.split('/').next().unwrap_or("");
    (!auth.is_empty()).then(|| auth.to_string())
}

/// The usage text of `mapred streaming` / `hadoop jar hadoop-streaming.jar`.
pub const USAGE: &str = "\
Usage: mapred streaming [GENERIC OPTIONS] [STREAMING OPTIONS]
Streaming options:
  -input <path>              DFS input file(s), directories or globs; repeatable, comma-separated
  -output <path>             DFS output directory (must not exist)
  -mapper <cmd>              command run per map task: input lines on stdin, key TAB value lines out
  -combiner <cmd>            command run over sorted map output before the shuffle
  -reducer <cmd|NONE>        command run per reduce task: sorted key TAB value lines on stdin
  -file <file>               ship a local file into every task's working directory (repeatable)
  -inputformat TextInputFormat | KeyValueTextInputFormat
  -outputformat TextOutputFormat
  -partitioner HashPartitioner | KeyFieldBasedPartitioner
  -numReduceTasks <n>        number of reducers (0: map-only)
  -cmdenv <n>=<v>            environment variable for the commands (repeatable)
  -background                submit the job and return
Generic options:
  -D <key>=<value>           a job setting (e.g. mapreduce.job.reduces, stream.num.map.output.key.fields)
  -files <f1[#a1],f2,...>    ship files (local paths or hdfs:// URIs), #alias names them
  -archives <a1[#n1],...>    ship archives (.tar, .tar.gz, .tgz), unpacked into directories
";

fn arg_error(msg: String) -> EngineError {
    EngineError::Config(msg)
}

/// Parses Hadoop Streaming's (and the generic) options.
pub fn parse_args(args: &[String]) -> Result<StreamingOptions> {
    let mut o = StreamingOptions::default();
    let mut i = 0;
    while i < args.len() {
        let raw = args[i].as_str();
        // `--input` works as well as `-input`.
        let opt = raw.strip_prefix('-').unwrap_or(raw);
        let opt = opt.strip_prefix('-').unwrap_or(opt);
        if !raw.starts_with('-') {
            return Err(arg_error(format!(
                "unexpected argument {raw:?} (options start with '-'; see -help)"
            )));
        }
        // -Dkey=value
        if let Some(kv) = raw.strip_prefix("-D").filter(|kv| kv.contains('=')) {
            o.defines.push(split_kv(kv, "-D")?);
            i += 1;
            continue;
        }
        let flag = |o: &mut StreamingOptions| -> bool {
            match opt {
                "background" => o.background = true,
                "help" | "info" => o.help = true,
                // Accepted for compatibility; nothing to do.
                "verbose" | "debug" | "lazyOutput" => {}
                _ => return false,
            }
            true
        };
        if flag(&mut o) {
            i += 1;
            continue;
        }
        let value = args
            .get(i + 1)
            .ok_or_else(|| arg_error(format!("{raw} needs a value")))?
            .clone();
        i += 2;
        match opt {
            "input" => o.inputs.extend(
                value
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| s.to_string()),
            ),
            "output" => o.output = Some(value),
            "mapper" => o.mapper = Some(value),
            "combiner" => o.combiner = Some(value),
            "reducer" => o.reducer = Some(value),
            "file" => o.files.push(ShipSpec::parse(&value, raw)?),
            "files" | "cacheFile" => {
                for f in value.split(',').filter(|s| !s.is_empty()) {
                    o.files.push(ShipSpec::parse(f, raw)?);
                }
            }
            "archives" | "cacheArchive" => {
                for f in value.split(',').filter(|s| !s.is_empty()) {
                    o.archives.push(ShipSpec::parse(f, raw)?);
                }
            }
            "cmdenv" => o.cmdenv.push(split_kv(&value, raw)?),
            "D" | "jobconf" => o.defines.push(split_kv(&value, raw)?),
            "numReduceTasks" => {
                o.num_reduces = Some(value.trim().parse().map_err(|_| {
                    arg_error(format!("{raw} {value}: not a number of reducers"))
                })?)
            }
            "inputformat" => {
                if !TEXT_INPUT_FORMATS.contains(&value.as_str()) {
                    return Err(arg_error(format!(
                        "{raw} {value}: only plain text input is supported \
                         (TextInputFormat, KeyValueTextInputFormat)"
                    )));
                }
            }
            "outputformat" => {
                if !TEXT_OUTPUT_FORMATS.contains(&value.as_str()) {
                    return Err(arg_error(format!(
                        "{raw} {value}: only plain text output is supported (TextOutputFormat)"
                    )));
                }
            }
            "partitioner" => {
                o.partitioner = Some(if HASH_PARTITIONERS.contains(&value.as_str()) {
                    "hash"
                } else if KEY_FIELD_PARTITIONERS.contains(&value.as_str()) {
                    "keyfield"
                } else {
                    return Err(arg_error(format!(
                        "{raw} {value}: unsupported partitioner \
                         (HashPartitioner, KeyFieldBasedPartitioner)"
                    )));
                })
            }
            "libjars" | "conf" | "fs" | "jt" | "inputreader" | "io" | "mapdebug"
            | "reducedebug" | "additionalconfspec" | "dfs" | "jobconfspec" => {
                return Err(arg_error(format!(
                    "{raw}: not supported by Tusk's streaming (no Java classes or Hadoop configuration files)"
                )))
            }
            _ => {
                return Err(arg_error(format!(
                    "unrecognized option {raw} (see -help)"
                )))
            }
        }
    }
    Ok(o)
}

fn split_kv(kv: &str, opt: &str) -> Result<(String, String)> {
    match kv.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(arg_error(format!("{opt} {kv}: expected NAME=VALUE"))),
    }
}

/// A command option: `None` for Hadoop's identity classes, an error for
/// other Java classes and `aggregate`.
fn command(which: &str, cmd: &str, identity: &[&str]) -> Result<Option<String>> {
    let c = cmd.trim();
    if c.is_empty() {
        return Err(arg_error(format!("-{which}: empty command")));
    }
    if identity.contains(&c) {
        return Ok(None);
    }
    if c == "aggregate" || (c.starts_with("org.apache.hadoop.") && !c.contains(' ')) {
        return Err(arg_error(format!(
            "-{which} {c}: Java classes are not supported; give a command"
        )));
    }
    Ok(Some(c.to_string()))
}

impl StreamingOptions {
    /// Checks the required options.
    pub fn validate(&self) -> Result<()> {
        let mut missing = Vec::new();
        if self.inputs.is_empty() {
            missing.push("-input");
        }
        if self.output.is_none() {
            missing.push("-output");
        }
        if !missing.is_empty() {
            return Err(arg_error(format!(
                "missing required option{} {} (see -help)",
                if missing.len() > 1 { "s" } else { "" },
                missing.join(", ")
            )));
        }
        Ok(())
    }

    /// Writes the settings into `conf` (after the `-D`s already there).
    pub fn apply(&self, conf: &mut JobConf) -> Result<()> {
        // Hadoop Streaming runs on the old API: `part-NNNNN`.
        conf.set(crate::engine::api::OLD_API_PART_NAMES, "true");
        for (k, v) in &self.defines {
            conf.set(k.clone(), v);
        }
        if let Some(m) = &self.mapper {
            if let Some(c) = command("mapper", m, IDENTITY_MAPPER)? {
                conf.set(MAP_COMMAND, c);
            }
        }
        if let Some(c) = &self.combiner {
            if let Some(c) = command("combiner", c, IDENTITY_REDUCER)? {
                conf.set(COMBINE_COMMAND, c);
            }
        }
        if let Some(n) = self.num_reduces {
            conf.set(NUM_REDUCES, n);
        }
        if let Some(r) = &self.reducer {
            if r.trim() == "NONE" {
                conf.set(NUM_REDUCES, 0);
            } else if let Some(c) = command("reducer", r, IDENTITY_REDUCER)? {
                conf.set(REDUCE_COMMAND, c);
            }
        }
        if !self.cmdenv.is_empty() {
            let mut lines: Vec<String> = conf
                .get(CMDENV)
                .map(|s| s.lines().map(|l| l.to_string()).collect())
                .unwrap_or_default();
            for (k, v) in &self.cmdenv {
                if v.contains('\n') {
                    return Err(arg_error(format!("-cmdenv {k}: value spans lines")));
                }
                lines.push(format!("{k}={v}"));
            }
            conf.set(CMDENV, lines.join("\n"));
        }
        if let Some(p) = self.partitioner {
            conf.set(PARTITIONER, p);
        }
        if conf.get(crate::engine::api::JOB_NAME).is_none() {
            conf.set(crate::engine::api::JOB_NAME, "streamjob");
        }
        // Malformed numbers fail here, in the client, not in every task.
        conf.num_reduces()?;
        for k in [MAP_OUTPUT_KEY_FIELDS, REDUCE_OUTPUT_KEY_FIELDS] {
            conf.get_u64(k, 1)?;
        }
        Ok(())
    }

    /// The DFS input paths (URIs reduced to paths).
    pub fn input_paths(&self) -> Vec<String> {
        self.inputs.iter().map(|s| strip_fs_uri(s)).collect()
    }

    pub fn output_path(&self) -> Option<String> {
        self.output.as_deref().map(strip_fs_uri)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_streaming_and_generic_options() {
        let o = parse_args(&v(&[
            "-D",
            "mapreduce.job.name=wc",
            "-files",
            "a.py,/x/b.py#bee,hdfs://nn:9000/lib/c.txt",
            "-archives",
            "dict.tgz#dict",
            "-input",
            "/in/a,/in/b",
            "--input",
            "hdfs://nn:9000/in/c",
            "-output",
            "out",
            "-mapper",
            "python3 a.py",
            "-combiner",
            "python3 r.py",
            "-reducer",
            "python3 r.py",
            "-file",
            "file:///tmp/r.py",
            "-cmdenv",
            "LANG=C",
            "-numReduceTasks",
            "3",
            "-partitioner",
            "org.apache.hadoop.mapred.lib.KeyFieldBasedPartitioner",
            "-Dstream.num.map.output.key.fields=2",
            "-verbose",
        ]))
        .unwrap();
        o.validate().unwrap();
        assert_eq!(o.inputs, v(&["/in/a", "/in/b", "hdfs://nn:9000/in/c"]));
        assert_eq!(o.input_paths(), v(&["/in/a", "/in/b", "/in/c"]));
        assert_eq!(o.output_path().as_deref(), Some("out"));
        let names: Vec<_> = o.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["a.py", "bee", "c.txt", "r.py"]);
        assert_eq!(o.files[2].dfs_path().as_deref(), Some("/lib/c.txt"));
        assert_eq!(o.files[3].source, "/tmp/r.py");
        assert_eq!(o.archives[0].name, "dict");
        let mut conf = JobConf::new();
        o.apply(&mut conf).unwrap();
        assert_eq!(conf.get(MAP_COMMAND), Some("python3 a.py"));
        assert_eq!(conf.get(REDUCE_COMMAND), Some("python3 r.py"));
        assert_eq!(conf.get(COMBINE_COMMAND), Some("python3 r.py"));
        assert_eq!(conf.get(NUM_REDUCES), Some("3"));
        assert_eq!(conf.get(CMDENV), Some("LANG=C"));
        assert_eq!(conf.get(PARTITIONER), Some("keyfield"));
        assert_eq!(conf.get(MAP_OUTPUT_KEY_FIELDS), Some("2"));
        assert_eq!(conf.get("mapreduce.job.name"), Some("wc"));
    }

    #[test]
    fn reducer_none_and_identity() {
        let o = parse_args(&v(&[
            "-input",
            "i",
            "-output",
            "o",
            "-mapper",
            "org.apache.hadoop.mapred.lib.IdentityMapper",
            "-reducer",
            "NONE",
        ]))
        .unwrap();
        let mut conf = JobConf::new();
        o.apply(&mut conf).unwrap();
        assert_eq!(conf.num_reduces().unwrap(), 0);
        assert_eq!(conf.get(MAP_COMMAND), None);
    }

    #[test]
    fn rejects_bad_input() {
        for bad in [
            &["-input"][..],
            &["-input", "a", "stray"],
            &["-bogus", "x"],
            &["-numReduceTasks", "many"],
            &["-inputformat", "SequenceFileInputFormat"],
            &["-partitioner", "com.x.MyPartitioner"],
            &["-cmdenv", "NOEQUALS"],
            &["-files", "a#"],
            &["-libjars", "x.jar"],
        ] {
            assert!(parse_args(&v(bad)).is_err(), "{bad:?}");
        }
        let e = parse_args(&v(&["-mapper", "cat"]))
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("-input, -output"), "{e}");
        let o = parse_args(&v(&[
            "-input",
            "i",
            "-output",
            "o",
            "-reducer",
            "aggregate",
        ]))
        .unwrap();
        assert!(o.apply(&mut JobConf::new()).is_err());
    }

    #[test]
    fn uris() {
        assert_eq!(strip_fs_uri("hdfs://h:9000/a/b"), "/a/b");
        assert_eq!(strip_fs_uri("hdfs:///a"), "/a");
        assert_eq!(strip_fs_uri("webhdfs://h:9870/x"), "/x");
        assert_eq!(strip_fs_uri("hdfs://h:9000"), "/");
        assert_eq!(strip_fs_uri("rel/x"), "rel/x");
        assert_eq!(
            fs_uri_authority("hdfs://h:9000/a").as_deref(),
            Some("h:9000")
        );
        assert_eq!(fs_uri_authority("hdfs:///a"), None);
        assert_eq!(fs_uri_authority("/a"), None);
    }
}
