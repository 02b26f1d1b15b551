//! Hadoop's `KeyFieldBasedPartitioner`: the partition is a hash of some
//! fields of the key only (`-k2,2`: the second field), so records that
//! share those fields meet in one reducer while the whole key still
//! orders them.

use super::options::{KEY_FIELD_SEPARATOR, KEY_PARTITIONER_OPTIONS, NUM_KEY_FIELDS_FOR_PARTITION};
use crate::engine::api::{JobConf, Partitioner};
use crate::engine::error::{EngineError, Result};

/// Older spellings of the settings, still used by many scripts.
const OLD_SEPARATOR: &str = "map.output.key.field.separator";
const OLD_OPTIONS: &str = "mapred.text.key.partitioner.options";

/// See the module docs.
#[derive(Debug, Clone)]
pub struct KeyFieldPartitioner {
    sep: Vec<u8>,
    /// 1-based inclusive field ranges; `None` end = to the last field.
    ranges: Vec<(usize, Option<usize>)>,
}

impl KeyFieldPartitioner {
    pub fn from_conf(conf: &JobConf) -> Result<Self> {
        let sep = conf
            .get(KEY_FIELD_SEPARATOR)
            .or_else(|| conf.get(OLD_SEPARATOR))
            .unwrap_or("\t");
        let sep = if sep.is_empty() { "\t" } else { sep };
        let sep = sep.replace("\\t", "\t").into_bytes();
        let ranges = match conf
            .get(KEY_PARTITIONER_OPTIONS)
            .or_else(|| conf.get(OLD_OPTIONS))
        {
            Some(opts) => parse_k_options(opts)?,
            None => match conf.get(NUM_KEY_FIELDS_FOR_PARTITION) {
                Some(_) => {
                    let n = conf.get_u64(NUM_KEY_FIELDS_FOR_PARTITION, 1)?.max(1) as usize;
                    vec![(1, Some(n))]
                }
                None => Vec::new(),
            },
        };
        Ok(Self { sep, ranges })
    }

    /// The bytes the hash covers, one slice per selected field range.
    fn selected<'a>(&self, key: &'a [u8]) -> Vec<&'a [u8]> {
        if self.ranges.is_empty() {
            return vec![key];
        }
        let mut fields: Vec<(usize, usize)> = Vec::new();
        let mut start = 0;
        let s = &self.sep;
        loop {
            let found = key[start..].windows(s.len()).position(|w| w == &s[..]);
            match found {
                Some(p) => {
                    fields.push((start, start + p));
                    start += p + s.len();
                }
                None => {
                    fields.push((start, key.len()));
                    break;
                }
            }
        }
        let mut out = Vec::new();
        for &(from, to) in &self.ranges {
            let to = to.unwrap_or(fields.len()).min(fields.len());
            if from == 0 || from > to {
                continue;
            }
            out.push(&key[fields[from - 1].0..fields[to - 1].1]);
        }
        out
    }
}

/// `-k2,2 -k4` (sort flags such as `n` or `r` after a field are ignored:
/// they matter to ordering, not to partitioning).
fn parse_k_options(opts: &str) -> Result<Vec<(usize, Option<usize>)>> {
    let bad = || {
        EngineError::Config(format!(
            "{KEY_PARTITIONER_OPTIONS}: expected -kPOS1[,POS2]..., got {opts:?}"
        ))
    };
    let field = |s: &str| -> Result<usize> {
        // POS is F[.C][OPTS]: the field number is what counts here.
        let digits: String = s.chars().take_while(|c| c.is_ascii_digit()).collect();
        digits.parse().map_err(|_| bad())
    };
    let mut ranges = Vec::new();
    let mut words = opts.split_whitespace();
    while let Some(w) = words.next() {
        let spec = match w.strip_prefix("-k") {
            Some("") => words.next().ok_or_else(bad)?,
            Some(s) => s,
            None => return Err(bad()),
        };
        let (a, b) = match spec.split_once(',') {
            Some((a, b)) => (field(a)?, Some(field(b)?)),
            None => (field(spec)?, None),
        };
        if a == 0 {
            return Err(bad());
        }
        ranges.push((a, b.filter(|&b| b != 0)));
    }
    Ok(ranges)
}

impl Partitioner for KeyFieldPartitioner {
    fn partition(&self, key: &[u8], _value: &[u8], n: u32) -> u32 {
        // Hadoop's KeyFieldBasedPartitioner: h = 31·h + b over the
        // selected bytes (signed), starting at 0.
        let mut h: i32 = 0;
        for part in self.selected(key) {
            for &b in part {
                h = h.wrapping_mul(31).wrapping_add(b as i8 as i32);
            }
        }
        ((h & i32::MAX) as u32) % n.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_on_the_chosen_fields() {
        let conf = JobConf::new()
            .with(KEY_FIELD_SEPARATOR, ".")
            .with(KEY_PARTITIONER_OPTIONS, "-k1,2");
        let p = KeyFieldPartitioner::from_conf(&conf).unwrap();
        assert_eq!(p.selected(b"a.b.c.d"), vec![&b"a.b"[..]]);
        for n in 1..9 {
            assert_eq!(
                p.partition(b"a.b.c.d", b"", n),
                p.partition(b"a.b.x", b"", n)
            );
        }
        let conf = JobConf::new().with(KEY_PARTITIONER_OPTIONS, "-k2,2 -k 4");
        let p = KeyFieldPartitioner::from_conf(&conf).unwrap();
        assert_eq!(p.selected(b"a\tb\tc\td\te"), vec![&b"b"[..], &b"d\te"[..]]);
        // Fewer fields than asked for: what there is.
        assert_eq!(p.selected(b"a"), Vec::<&[u8]>::new());
        let conf = JobConf::new().with(NUM_KEY_FIELDS_FOR_PARTITION, 1);
        let p = KeyFieldPartitioner::from_conf(&conf).unwrap();
        assert_eq!(p.selected(b"k\tv"), vec![&b"k"[..]]);
        assert!(KeyFieldPartitioner::from_conf(
            &JobConf::new().with(KEY_PARTITIONER_OPTIONS, "-x")
        )
        .is_err());
        assert!(parse_k_options("-k2nr,2").is_ok());
    }
}
