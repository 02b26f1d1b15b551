//! `grep IN… OUT REGEX [GROUP]` and `sort IN… OUT`.
//!
//! grep counts the matches of a regular expression (`regex` crate syntax)
//! over the input lines: output `match\tcount`, one line per distinct
//! match (or per distinct capture group `GROUP`). Hadoop's example then
//! sorts by count in a second job; here the output is sorted by match.
//!
//! sort is the identity job on lines: every input line once, output sorted
//! bytewise within each part (and across parts with one reducer).

use regex::bytes::Regex;

use super::wordcount::SumReducer;
use crate::engine::api::{Context, IdentityReducer, Job, JobConf, JobPaths, Mapper, Reducer};
use crate::engine::error::{EngineError, Result};

/// Hadoop's key for grep's pattern.
pub const GREP_REGEX: &str = "mapreduce.mapper.regex";
/// Hadoop's key for the capture group grep counts (default 0, the match).
pub const GREP_GROUP: &str = "mapreduce.mapper.regexmapper..group";

/// The grep job.
pub struct Grep;

struct GrepMapper {
    re: Regex,
    group: usize,
}

impl Mapper for GrepMapper {
    fn map(&mut self, _key: &[u8], line: &[u8], ctx: &mut dyn Context) -> Result<()> {
        for caps in self.re.captures_iter(line) {
            if let Some(m) = caps.get(self.group) {
                ctx.emit(m.as_bytes(), b"1")?;
            }
        }
        Ok(())
    }
}

impl Job for Grep {
    fn name(&self) -> &str {
        "grep"
    }
    fn usage(&self) -> &str {
        "<in> [<in>...] <out> <regex> [<group>]"
    }
    fn configure(&self, args: &[String], conf: &mut JobConf) -> Result<JobPaths> {
        let usage = || EngineError::Config(format!("usage: grep {}", self.usage()));
        if args.len() < 3 {
            return Err(usage());
        }
        // A trailing number is the group when at least 4 arguments are given.
        let (rest, group) = match args.last().and_then(|a| a.parse::<usize>().ok()) {
            Some(g) if args.len() >= 4 => (&args[..args.len() - 1], Some(g)),
            _ => (args, None),
        };
        let regex = rest[rest.len() - 1].clone();
        Regex::new(&regex)
            .map_err(|e| EngineError::Config(format!("grep: bad regex {regex:?}: {e}")))?;
        conf.set(GREP_REGEX, regex);
        if let Some(g) = group {
            conf.set(GREP_GROUP, g);
        }
        let paths = &rest[..rest.len() - 1];
        if paths.len() < 2 {
            return Err(usage());
        }
        Ok(JobPaths {
            inputs: paths[..paths.len() - 1].to_vec(),
            output: paths[paths.len() - 1].clone(),
        })
    }
    fn mapper(&self, conf: &JobConf) -> Result<Box<dyn Mapper>> {
        let pat = conf
            .get(GREP_REGEX)
            .ok_or_else(|| EngineError::Config(format!("grep: {GREP_REGEX} is not set")))?;
        let re = Regex::new(pat)
            .map_err(|e| EngineError::Config(format!("grep: bad regex {pat:?}: {e}")))?;
        let group = conf.get_u64(GREP_GROUP, 0)? as usize;
        if group >= re.captures_len() {
            return Err(EngineError::Config(format!(
                "grep: regex {pat:?} has no group {group}"
            )));
        }
        Ok(Box::new(GrepMapper { re, group }))
    }
    fn reducer(&self, _conf: &JobConf) -> Result<Box<dyn Reducer>> {
        Ok(Box::new(SumReducer))
    }
    fn combiner(&self, _conf: &JobConf) -> Result<Option<Box<dyn Reducer>>> {
        Ok(Some(Box::new(SumReducer)))
    }
}

/// The sort job.
pub struct Sort;

struct LineAsKey;

impl Mapper for LineAsKey {
    fn map(&mut self, _key: &[u8], line: &[u8], ctx: &mut dyn Context) -> Result<()> {
        ctx.emit(line, b"")
    }
}

impl Job for Sort {
    fn name(&self) -> &str {
        "sort"
    }
    fn mapper(&self, _conf: &JobConf) -> Result<Box<dyn Mapper>> {
        Ok(Box::new(LineAsKey))
    }
    fn reducer(&self, _conf: &JobConf) -> Result<Box<dyn Reducer>> {
        Ok(Box::new(IdentityReducer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grep_arguments() {
        let a = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let mut conf = JobConf::new();
        let p = Grep
            .configure(&a(&["/in", "/out", "fo+"]), &mut conf)
            .unwrap();
        assert_eq!(p.inputs, vec!["/in".to_string()]);
        assert_eq!(p.output, "/out");
        assert_eq!(conf.get(GREP_REGEX), Some("fo+"));
        let mut conf = JobConf::new();
        let p = Grep
            .configure(&a(&["/a", "/b", "/out", "(x)y", "1"]), &mut conf)
            .unwrap();
        assert_eq!(p.inputs.len(), 2);
        assert_eq!(conf.get(GREP_GROUP), Some("1"));
        assert!(Grep
            .configure(&a(&["/in", "/out", "("]), &mut JobConf::new())
            .is_err());
        assert!(Grep
            .configure(&a(&["/in", "x"]), &mut JobConf::new())
            .is_err());
    }
}
