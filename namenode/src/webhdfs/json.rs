//! WebHDFS JSON bodies with Hadoop's field names (`JsonUtil`). serde_json's
//! maps keep keys sorted, as Hadoop's `TreeMap`s do.

use crate::types::{ContentSummary, FileStatus, FsStats, InodeKind};
use serde_json::{json, Value};

/// Hadoop's `BLOCK_STORAGE_POLICY_ID_UNSPECIFIED`: Tusk has no storage policies.
const STORAGE_POLICY_UNSPECIFIED: u8 = 0;
/// `HdfsConstants.QUOTA_RESET`: no quota.
const NO_QUOTA: i64 = -1;

/// One `FileStatus` object (without its `{"FileStatus": …}` wrapper).
pub fn file_status(st: &FileStatus) -> Value {
    json!({
        "accessTime": st.atime_ms,
        "blockSize": st.block_size,
        "childrenNum": st.children_num,
        "fileId": st.file_id,
        "group": st.group,
        "length": st.length,
        "modificationTime": st.mtime_ms,
        "owner": st.owner,
        "pathSuffix": st.name,
        "permission": format!("{:o}", st.permission & 0o7777),
        "replication": st.replication,
        "storagePolicy": STORAGE_POLICY_UNSPECIFIED,
        "type": match st.kind {
            InodeKind::File => "FILE",
            InodeKind::Dir => "DIRECTORY",
        },
    })
}

/// `{"FileStatus": {…}}` (GETFILESTATUS).
pub fn file_status_body(st: &FileStatus) -> String {
    json!({ "FileStatus": file_status(st) }).to_string()
}

/// The entries of a listing, comma-separated (for a streamed `FileStatuses`).
pub fn file_status_list(entries: &[FileStatus]) -> String {
    let mut out = String::new();
    for (k, e) in entries.iter().enumerate() {
        if k > 0 {
            out.push(',');
        }
        out.push_str(&file_status(e).to_string());
    }
    out
}

/// The opening of `{"FileStatuses":{"FileStatus":[…]}}` (LISTSTATUS).
pub const FILE_STATUSES_HEAD: &str = "{\"FileStatuses\":{\"FileStatus\":[";
/// Its closing.
pub const FILE_STATUSES_TAIL: &str = "]}}";

/// `{"DirectoryListing":{"partialListing":{"FileStatuses":{"FileStatus":[…]}},"remainingEntries":n}}`
/// (LISTSTATUS_BATCH).
pub fn directory_listing(entries: &[FileStatus], remaining: u64) -> String {
    let list: Vec<Value> = entries.iter().map(file_status).collect();
    json!({
        "DirectoryListing": {
            "partialListing": { "FileStatuses": { "FileStatus": list } },
            "remainingEntries": remaining,
        }
    })
    .to_string()
}

/// `{"ContentSummary": …}`, replication only (3.3's fields); `quota` is the
/// directory's (name, space) quotas, `-1` each when unset.
pub fn content_summary(c: &ContentSummary, quota: Option<(i64, i64)>) -> String {
    let (q, sq) = quota.unwrap_or((NO_QUOTA, NO_QUOTA));
    json!({
        "ContentSummary": {
            "directoryCount": c.directory_count,
            "ecPolicy": "Replicated",
            "fileCount": c.file_count,
            "length": c.length,
            "quota": q,
            "snapshotDirectoryCount": 0,
            "snapshotFileCount": 0,
            "snapshotLength": 0,
            "snapshotSpaceConsumed": 0,
            "spaceConsumed": c.space_consumed,
            "spaceQuota": sq,
            "typeQuota": {},
        }
    })
    .to_string()
}

/// `{"QuotaUsage": …}`: usage and the (name, space) quotas, `-1` when unset.
pub fn quota_usage(c: &ContentSummary, quota: Option<(i64, i64)>) -> String {
    let (q, sq) = quota.unwrap_or((NO_QUOTA, NO_QUOTA));
    json!({
        "QuotaUsage": {
            "fileAndDirectoryCount": c.file_count + c.directory_count,
            "quota": q,
            "spaceConsumed": c.space_consumed,
            "spaceQuota": sq,
            "typeQuota": {},
        }
    })
    .to_string()
}

/// `{"boolean": b}`.
pub fn boolean(b: bool) -> String {
    json!({ "boolean": b }).to_string()
}

/// `{"Path": p}`.
pub fn path(p: &str) -> String {
    json!({ "Path": p }).to_string()
}

/// `{"Location": url}` (a redirect with `noredirect=true`).
pub fn location(url: &str) -> String {
    json!({ "Location": url }).to_string()
}

/// What `GETSERVERDEFAULTS` reports.
pub struct ServerDefaults {
    pub block_size: u64,
    pub bytes_per_checksum: u32,
    pub write_packet_size: u32,
    pub replication: u32,
}

/// `{"FsServerDefaults": …}`. checksumType 2 is Hadoop's CRC32C;
/// defaultStoragePolicyId 7 is HOT (all replicas on DISK); trashInterval 0:
/// the namenode never empties trash (the `dfs` shell moves to trash itself).
pub fn server_defaults(d: &ServerDefaults) -> String {
    json!({
        "FsServerDefaults": {
            "blockSize": d.block_size,
            "bytesPerChecksum": d.bytes_per_checksum,
            "checksumType": 2,
            "defaultStoragePolicyId": 7,
            "encryptDataTransfer": false,
            "fileBufferSize": 4096,
            "keyProviderUri": "",
            "replication": d.replication,
            "trashInterval": 0,
            "writePacketSize": d.write_packet_size,
        }
    })
    .to_string()
}

/// `{"FsStatus": {capacity, used, remaining}}`.
pub fn fs_status(s: &FsStats) -> String {
    json!({
        "FsStatus": {
            "capacity": s.capacity,
            "remaining": s.remaining,
            "used": s.used,
        }
    })
    .to_string()
}

/// One replica of a block for `BlockLocation`: host name, transfer address,
/// rack.
pub struct Replica {
    pub host: String,
    pub name: String,
    pub rack: String,
}

/// One `BlockLocation` (Hadoop's `FileSystem.getFileBlockLocations`).
pub struct BlockLoc {
    pub offset: u64,
    pub length: u64,
    pub corrupt: bool,
    pub replicas: Vec<Replica>,
}

/// `{"BlockLocations":{"BlockLocation":[…]}}` (GETFILEBLOCKLOCATIONS).
pub fn block_locations(blocks: &[BlockLoc]) -> String {
    let list: Vec<Value> = blocks
        .iter()
        .map(|b| {
            json!({
                "cachedHosts": [],
                "corrupt": b.corrupt,
                "hosts": b.replicas.iter().map(|r| r.host.as_str()).collect::<Vec<_>>(),
                "length": b.length,
                "names": b.replicas.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
                "offset": b.offset,
                "storageTypes": b.replicas.iter().map(|_| "DISK").collect::<Vec<_>>(),
                "topologyPaths": b
                    .replicas
                    .iter()
                    .map(|r| format!("{}/{}", r.rack.trim_end_matches('/'), r.name))
                    .collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "BlockLocations": { "BlockLocation": list } }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_status_has_hadoops_fields() {
        let st = FileStatus {
            name: "a b".into(),
            kind: InodeKind::Dir,
            length: 0,
            owner: "alice".into(),
            group: "staff".into(),
            permission: 0o1777,
            mtime_ms: 5,
            atime_ms: 4,
            replication: 0,
            block_size: 0,
            file_id: 16386,
            children_num: 2,
            under_construction: false,
        };
        let v: Value = serde_json::from_str(&file_status_body(&st)).unwrap();
        let f = &v["FileStatus"];
        assert_eq!(f["permission"], "1777");
        assert_eq!(f["type"], "DIRECTORY");
        assert_eq!(f["pathSuffix"], "a b");
        assert_eq!(f["childrenNum"], 2);
        assert_eq!(f["storagePolicy"], 0);
        assert_eq!(f.as_object().unwrap().len(), 13);
    }

    #[test]
    fn topology_paths_join_rack_and_name() {
        let b = BlockLoc {
            offset: 0,
            length: 3,
            corrupt: false,
            replicas: vec![Replica {
                host: "h".into(),
                name: "10.0.0.1:9866".into(),
                rack: "/default-rack".into(),
            }],
        };
        let v: Value = serde_json::from_str(&block_locations(&[b])).unwrap();
        let l = &v["BlockLocations"]["BlockLocation"][0];
        assert_eq!(l["topologyPaths"][0], "/default-rack/10.0.0.1:9866");
        assert_eq!(l["storageTypes"][0], "DISK");
        assert_eq!(l["cachedHosts"].as_array().unwrap().len(), 0);
    }
}
