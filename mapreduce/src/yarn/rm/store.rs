//! The resource manager's application store: one record per application
//! (`AppRecord`, prost), keyed by application id, in a sled tree; plus the
//! sequence of application numbers. An in-memory store serves unit tests.

use crate::yarn::pb;
use prost::Message;
use std::path::Path;

/// Where application records live.
pub(crate) trait AppStore: Send + Sync {
    /// Writes (replaces) a record; durable at the next `flush`.
    fn put(&self, rec: &pb::AppRecord) -> Result<(), String>;
    /// Every record, by application id.
    fn load(&self) -> Result<Vec<pb::AppRecord>, String>;
    /// Makes every `put` so far durable.
    fn flush(&self) -> Result<(), String>;
}

pub(crate) struct SledStore {
    db: sled::Db,
    apps: sled::Tree,
}

impl SledStore {
    pub fn open(dir: &Path) -> Result<SledStore, String> {
        let path = dir.join("rmstore");
        let db = sled::Config::new()
            .path(&path)
            .cache_capacity(16 << 20)
            .open()
            .map_err(|e| format!("opening {}: {e}", path.display()))?;
        let apps = db
            .open_tree("apps")
            .map_err(|e| format!("opening {}: {e}", path.display()))?;
        Ok(SledStore { db, apps })
    }
}

fn app_id_of(rec: &pb::AppRecord) -> String {
    rec.report
        .as_ref()
        .map(|r| r.app_id.clone())
        .unwrap_or_default()
}

impl AppStore for SledStore {
    fn put(&self, rec: &pb::AppRecord) -> Result<(), String> {
        let id = app_id_of(rec);
        self.apps
            .insert(id.as_bytes(), rec.encode_to_vec())
            .map(|_| ())
            .map_err(|e| format!("storing application {id}: {e}"))
    }

    fn load(&self) -> Result<Vec<pb::AppRecord>, String> {
        let mut out = Vec::new();
        for kv in self.apps.iter() {
            let (k, v) = kv.map_err(|e| format!("reading the application store: {e}"))?;
            let rec = pb::AppRecord::decode(v.as_ref()).map_err(|e| {
                format!(
                    "application {} in the store is unreadable: {e}",
                    String::from_utf8_lossy(&k)
                )
            })?;
            out.push(rec);
        }
        Ok(out)
    }

    fn flush(&self) -> Result<(), String> {
        self.db
            .flush()
            .map(|_| ())
            .map_err(|e| format!("flushing the application store: {e}"))
    }
}

/// For unit tests.
#[cfg(test)]
#[derive(Default)]
pub(crate) struct MemStore {
    apps: parking_lot::Mutex<std::collections::BTreeMap<String, pb::AppRecord>>,
}

#[cfg(test)]
impl AppStore for MemStore {
    fn put(&self, rec: &pb::AppRecord) -> Result<(), String> {
        self.apps.lock().insert(app_id_of(rec), rec.clone());
        Ok(())
    }

    fn load(&self) -> Result<Vec<pb::AppRecord>, String> {
        Ok(self.apps.lock().values().cloned().collect())
    }

    fn flush(&self) -> Result<(), String> {
        Ok(())
    }
}
