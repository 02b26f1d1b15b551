//! Hadoop-style counters: named groups of named 64-bit counts.
//!
//! Built-in counters use Hadoop's group class names ([`TASK_GROUP`],
//! [`FS_GROUP`], [`JOB_GROUP`]) and counter names, so a Hadoop user reads
//! the same report. User counters live in any other group. Counters are
//! serializable (they travel in task reports) and merge by addition.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Hadoop's `TaskCounter` group ("Map-Reduce Framework").
pub const TASK_GROUP: &str = "org.apache.hadoop.mapreduce.TaskCounter";
/// Hadoop's `FileSystemCounter` group ("File System Counters").
pub const FS_GROUP: &str = "org.apache.hadoop.mapreduce.FileSystemCounter";
/// Hadoop's `JobCounter` group ("Job Counters").
pub const JOB_GROUP: &str = "org.apache.hadoop.mapreduce.JobCounter";

pub const MAP_INPUT_RECORDS: &str = "MAP_INPUT_RECORDS";
pub const MAP_OUTPUT_RECORDS: &str = "MAP_OUTPUT_RECORDS";
pub const MAP_OUTPUT_BYTES: &str = "MAP_OUTPUT_BYTES";
pub const SPILLED_RECORDS: &str = "SPILLED_RECORDS";
pub const COMBINE_INPUT_RECORDS: &str = "COMBINE_INPUT_RECORDS";
pub const COMBINE_OUTPUT_RECORDS: &str = "COMBINE_OUTPUT_RECORDS";
pub const REDUCE_INPUT_GROUPS: &str = "REDUCE_INPUT_GROUPS";
pub const REDUCE_INPUT_RECORDS: &str = "REDUCE_INPUT_RECORDS";
pub const REDUCE_OUTPUT_RECORDS: &str = "REDUCE_OUTPUT_RECORDS";
pub const REDUCE_SHUFFLE_BYTES: &str = "REDUCE_SHUFFLE_BYTES";
pub const HDFS_BYTES_READ: &str = "HDFS_BYTES_READ";
pub const HDFS_BYTES_WRITTEN: &str = "HDFS_BYTES_WRITTEN";
pub const DATA_LOCAL_MAPS: &str = "DATA_LOCAL_MAPS";
pub const RACK_LOCAL_MAPS: &str = "RACK_LOCAL_MAPS";
pub const OTHER_LOCAL_MAPS: &str = "OTHER_LOCAL_MAPS";
pub const TOTAL_LAUNCHED_MAPS: &str = "TOTAL_LAUNCHED_MAPS";
pub const TOTAL_LAUNCHED_REDUCES: &str = "TOTAL_LAUNCHED_REDUCES";
pub const NUM_FAILED_MAPS: &str = "NUM_FAILED_MAPS";
pub const NUM_FAILED_REDUCES: &str = "NUM_FAILED_REDUCES";

/// Groups of counters, both sorted by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    groups: BTreeMap<String, BTreeMap<String, i64>>,
}

impl Counters {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `n` to `group`/`name` (creating it at 0).
    pub fn incr(&mut self, group: &str, name: &str, n: i64) {
        if let Some(g) = self.groups.get_mut(group) {
            if let Some(v) = g.get_mut(name) {
                *v += n;
                return;
            }
            g.insert(name.to_string(), n);
            return;
        }
        self.groups
            .entry(group.to_string())
            .or_default()
            .insert(name.to_string(), n);
    }

    /// Adds to a built-in task counter.
    pub fn task(&mut self, name: &str, n: i64) {
        self.incr(TASK_GROUP, name, n);
    }

    /// The value of `group`/`name`, 0 when never set.
    pub fn get(&self, group: &str, name: &str) -> i64 {
        self.groups
            .get(group)
            .and_then(|g| g.get(name))
            .copied()
            .unwrap_or(0)
    }

    /// Adds every counter of `other` into `self`.
    pub fn merge(&mut self, other: &Counters) {
        for (g, names) in &other.groups {
            for (n, v) in names {
                self.incr(g, n, *v);
            }
        }
    }

    /// Iterates (group, name, value) in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, i64)> {
        self.groups
            .iter()
            .flat_map(|(g, names)| names.iter().map(move |(n, v)| (g.as_str(), n.as_str(), *v)))
    }

    /// Hadoop's display name of a group ("Map-Reduce Framework" …); other
    /// groups show as themselves.
    pub fn display_group(group: &str) -> &str {
        match group {
            TASK_GROUP => "Map-Reduce Framework",
            FS_GROUP => "File System Counters",
            JOB_GROUP => "Job Counters",
            other => other,
        }
    }

    /// Hadoop's end-of-job layout: `Counters: N`, then each group and its
    /// counters indented.
    pub fn render(&self) -> String {
        let mut out = format!("Counters: {}\n", self.iter().count());
        for (g, names) in &self.groups {
            out.push_str(&format!("\t{}\n", Self::display_group(g)));
            for (n, v) in names {
                out.push_str(&format!("\t\t{n}={v}\n"));
            }
        }
        out
    }

    /// JSON text (for reports and job history).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    /// Parses [`Counters::to_json`] output.
    pub fn from_json(s: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incr_merge_and_round_trip() {
        let mut a = Counters::new();
        a.task(MAP_INPUT_RECORDS, 3);
        a.task(MAP_INPUT_RECORDS, 4);
        a.incr("user", "bad_lines", 1);
        let mut b = Counters::new();
        b.task(MAP_INPUT_RECORDS, 10);
        b.incr(FS_GROUP, HDFS_BYTES_READ, 100);
        a.merge(&b);
        assert_eq!(a.get(TASK_GROUP, MAP_INPUT_RECORDS), 17);
        assert_eq!(a.get(FS_GROUP, HDFS_BYTES_READ), 100);
        assert_eq!(a.get("user", "bad_lines"), 1);
        assert_eq!(a.get("user", "nothing"), 0);
        let back = Counters::from_json(&a.to_json()).unwrap();
        assert_eq!(back, a);
        let text = a.render();
        assert!(text.starts_with("Counters: 3\n"), "{text}");
        assert!(text.contains("Map-Reduce Framework"), "{text}");
        assert!(text.contains("\t\tMAP_INPUT_RECORDS=17"), "{text}");
    }
}
