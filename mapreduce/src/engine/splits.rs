//! Input splits: which bytes of which file (or which generated rows) one
//! map task reads, and the hosts that hold them.
//!
//! File inputs may be files, directories (their files, skipping names that
//! start with `_` or `.`, as Hadoop's hidden-file filter does) or globs.
//! A splittable file gets one split per block, carrying the hosts and
//! racks of that block's replicas so the map can run where its data is.
//! A `.gz` file is one split (gzip cannot be read from the middle). Empty
//! files get no split. The record readers in [`super::input`] decide which
//! records of a split are its own.

use serde::{Deserialize, Serialize};
use tusk_client::{DfsClient, DfsError, FileStatus};

use super::api::InputFormat;
use super::error::{EngineError, Result};

/// One map task's input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum InputSplit {
    /// Bytes `[start, start+length)` of a file.
    File {
        path: String,
        start: u64,
        length: u64,
        /// Hosts holding the bytes (best first).
        hosts: Vec<String>,
        /// Racks of those hosts.
        racks: Vec<String>,
    },
    /// Rows `[first, first+count)` of a generated input.
    Rows { first: u64, count: u64 },
}

impl InputSplit {
    pub fn hosts(&self) -> &[String] {
        match self {
            InputSplit::File { hosts, .. } => hosts,
            InputSplit::Rows { .. } => &[],
        }
    }

    pub fn racks(&self) -> &[String] {
        match self {
            InputSplit::File { racks, .. } => racks,
            InputSplit::Rows { .. } => &[],
        }
    }

    /// Bytes (or rows) to read, for progress.
    pub fn length(&self) -> u64 {
        match self {
            InputSplit::File { length, .. } => *length,
            InputSplit::Rows { count, .. } => *count,
        }
    }

    /// `path:start+length` or `rows:first+count`.
    pub fn describe(&self) -> String {
        match self {
            InputSplit::File {
                path,
                start,
                length,
                ..
            } => format!("{path}:{start}+{length}"),
            InputSplit::Rows { first, count } => format!("rows:{first}+{count}"),
        }
    }
}

/// Hadoop's hidden-file filter.
pub fn is_hidden(name: &str) -> bool {
    name.starts_with('_') || name.starts_with('.')
}

/// Whether a file of this format and name can be split at block boundaries.
pub fn is_splittable(format: InputFormat, path: &str) -> bool {
    !(format == InputFormat::Text && path.ends_with(".gz"))
}

/// The input files of `inputs` (files, directories, globs), sorted and
/// deduplicated. A path or glob that matches nothing is an error naming it.
pub async fn list_input_files(client: &DfsClient, inputs: &[String]) -> Result<Vec<FileStatus>> {
    let mut files = Vec::new();
    for input in inputs {
        let matched = if tusk_client::glob::has_glob(input) {
            client.glob(input).await?
        } else {
            match client.get_file_info(input).await? {
                Some(st) => vec![st],
                None => Vec::new(),
            }
        };
        if matched.is_empty() {
            return Err(EngineError::InputNotFound(input.clone()));
        }
        for st in matched {
            if st.is_dir() {
                let children = match client.list(&st.path).await {
                    Ok(c) => c,
                    Err(DfsError::FileNotFound { .. }) => {
                        return Err(EngineError::InputNotFound(st.path.clone()))
                    }
                    Err(e) => return Err(e.into()),
                };
                files.extend(
                    children
                        .into_iter()
                        .filter(|c| c.is_file() && !is_hidden(&c.name)),
                );
            } else {
                files.push(st);
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files.dedup_by(|a, b| a.path == b.path);
    Ok(files)
}

/// Hadoop's `FileInputFormat.SPLIT_SLOP`.
const SPLIT_SLOP: f64 = 1.1;

/// One split per block of every input file (one per `.gz` file); a last
/// block of up to 10% of a block joins the split before it, as in Hadoop.
pub async fn compute_splits(
    client: &DfsClient,
    inputs: &[String],
    format: InputFormat,
) -> Result<Vec<InputSplit>> {
    let files = list_input_files(client, inputs).await?;
    let mut splits = Vec::new();
    for f in files {
        if f.length == 0 {
            continue;
        }
        let blocks = client.block_locations(&f.path).await?;
        if !is_splittable(format, &f.path) {
            let first = blocks.first();
            splits.push(InputSplit::File {
                path: f.path.clone(),
                start: 0,
                length: f.length,
                hosts: first
                    .map(|b| b.locations.iter().map(|l| l.host.clone()).collect())
                    .unwrap_or_default(),
                racks: first
                    .map(|b| b.locations.iter().map(|l| l.rack.clone()).collect())
                    .unwrap_or_default(),
            });
            continue;
        }
        for b in blocks.iter().filter(|b| b.num_bytes > 0) {
            // FileInputFormat's SPLIT_SLOP: a tail of up to 10% of a block
            // joins the split before it instead of costing a task of its own.
            let remaining = f.length.saturating_sub(b.offset);
            let last = remaining as f64 <= b.num_bytes as f64 * SPLIT_SLOP;
            splits.push(InputSplit::File {
                path: f.path.clone(),
                start: b.offset,
                length: if last { remaining } else { b.num_bytes },
                hosts: b.locations.iter().map(|l| l.host.clone()).collect(),
                racks: b.locations.iter().map(|l| l.rack.clone()).collect(),
            });
            if last {
                break;
            }
        }
    }
    Ok(splits)
}

/// `rows` generated rows over `maps` splits, as evenly as possible.
pub fn row_splits(rows: u64, maps: u64) -> Vec<InputSplit> {
    let maps = maps.clamp(1, rows.max(1));
    let mut out = Vec::with_capacity(maps as usize);
    let mut first = 0;
    for i in 0..maps {
        let count = rows / maps + u64::from(i < rows % maps);
        if count > 0 {
            out.push(InputSplit::Rows { first, count });
        }
        first += count;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_cover_everything_once() {
        for (rows, maps) in [(10, 3), (3, 10), (0, 2), (100, 1), (7, 7)] {
            let s = row_splits(rows, maps);
            let mut next = 0;
            for sp in &s {
                let InputSplit::Rows { first, count } = sp else {
                    panic!()
                };
                assert_eq!(*first, next);
                assert!(*count > 0);
                next += count;
            }
            assert_eq!(next, rows);
            assert!(s.len() as u64 <= maps);
        }
    }

    #[test]
    fn hidden_and_splittable() {
        assert!(is_hidden("_SUCCESS"));
        assert!(is_hidden(".crc"));
        assert!(!is_hidden("part-r-00000"));
        assert!(!is_splittable(InputFormat::Text, "/a/b.gz"));
        assert!(is_splittable(InputFormat::Text, "/a/b.txt"));
    }

    #[test]
    fn split_serializes() {
        let s = InputSplit::File {
            path: "/a".into(),
            start: 5,
            length: 10,
            hosts: vec!["h1".into()],
            racks: vec!["/r1".into()],
        };
        let j = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<InputSplit>(&j).unwrap(), s);
        assert_eq!(s.describe(), "/a:5+10");
    }
}
