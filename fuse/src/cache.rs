//! The attribute cache and the owner ↔ uid/gid mapping.
//!
//! Statuses come from lookups and from directory listing pages, so `ls -l`
//! of a big directory costs one listing call per page instead of one
//! `get_file_info` per entry. An entry lives `attr_ttl` (the same TTL the
//! kernel is given for its own attribute and entry caches); every change the
//! mount makes drops the entries it touches.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tusk_client::FileStatus;

/// Entries kept at most; past it the expired ones are dropped, then all.
const MAX_ENTRIES: usize = 200_000;

/// Path → (status, when fetched).
pub struct AttrCache {
    ttl: Duration,
    map: Mutex<HashMap<String, (FileStatus, Instant)>>,
}

impl AttrCache {
    pub fn new(ttl: Duration) -> Self {
        AttrCache {
            ttl,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// A fresh status of `path`, if cached.
    pub fn get(&self, path: &str) -> Option<FileStatus> {
        if self.ttl.is_zero() {
            return None;
        }
        let map = self.map.lock();
        match map.get(path) {
            Some((st, at)) if at.elapsed() < self.ttl => Some(st.clone()),
            _ => None,
        }
    }

    pub fn put(&self, path: &str, st: FileStatus) {
        if self.ttl.is_zero() {
            return;
        }
        let mut map = self.map.lock();
        if map.len() >= MAX_ENTRIES {
            let ttl = self.ttl;
            map.retain(|_, (_, at)| at.elapsed() < ttl);
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
        }
        map.insert(path.to_string(), (st, Instant::now()));
    }

    /// Drops `path` and everything below it.
    pub fn invalidate(&self, path: &str) {
        let mut map = self.map.lock();
        map.remove(path);
        let prefix = format!("{}/", path.trim_end_matches('/'));
        map.retain(|p, _| !p.starts_with(&prefix));
    }

    /// Drops one entry only.
    pub fn invalidate_one(&self, path: &str) {
        self.map.lock().remove(path);
    }
}

/// Tusk owner and group names ↔ local uids and gids (from the passwd and
/// group databases). The mount's own Tusk user shows as the mounting
/// process's uid; names unknown locally show as `nobody` (65534).
pub struct IdMap {
    user: String,
    uid: u32,
    gid: u32,
    users: Mutex<HashMap<String, u32>>,
    groups: Mutex<HashMap<String, u32>>,
}

/// `nobody`/`nogroup`.
const NOBODY: u32 = 65534;

/// getpwnam and friends return static storage: one caller at a time.
static PASSWD_LOCK: Mutex<()> = Mutex::new(());

impl IdMap {
    pub fn new(user: &str) -> Self {
        // SAFETY: getuid/getgid cannot fail.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        IdMap {
            user: user.to_string(),
            uid,
            gid,
            users: Mutex::new(HashMap::new()),
            groups: Mutex::new(HashMap::new()),
        }
    }

    pub fn uid(&self, owner: &str) -> u32 {
        if owner == self.user {
            return self.uid;
        }
        if let Some(&u) = self.users.lock().get(owner) {
            return u;
        }
        let u = lookup_uid(owner).unwrap_or(NOBODY);
        self.users.lock().insert(owner.to_string(), u);
        u
    }

    pub fn gid(&self, group: &str) -> u32 {
        if let Some(&g) = self.groups.lock().get(group) {
            return g;
        }
        let g = lookup_gid(group).unwrap_or(if group == self.user { self.gid } else { NOBODY });
        self.groups.lock().insert(group.to_string(), g);
        g
    }

    /// The Tusk name for a uid (`chown`): the passwd name, else the number.
    pub fn user_name(&self, uid: u32) -> String {
        if uid == self.uid {
            return self.user.clone();
        }
        let _g = PASSWD_LOCK.lock();
        // SAFETY: getpwuid returns null or a pointer to static storage that
        // is copied out before the lock is released.
        unsafe {
            let pw = libc::getpwuid(uid);
            if !pw.is_null() && !(*pw).pw_name.is_null() {
                if let Ok(s) = std::ffi::CStr::from_ptr((*pw).pw_name).to_str() {
                    return s.to_string();
                }
            }
        }
        uid.to_string()
    }

    /// The Tusk name for a gid (`chgrp`): the group name, else the number.
    pub fn group_name(&self, gid: u32) -> String {
        let _g = PASSWD_LOCK.lock();
        // SAFETY: as in `user_name`.
        unsafe {
            let gr = libc::getgrgid(gid);
            if !gr.is_null() && !(*gr).gr_name.is_null() {
                if let Ok(s) = std::ffi::CStr::from_ptr((*gr).gr_name).to_str() {
                    return s.to_string();
                }
            }
        }
        gid.to_string()
    }
}

fn lookup_uid(name: &str) -> Option<u32> {
    if let Ok(n) = name.parse::<u32>() {
        return Some(n);
    }
    let c = std::ffi::CString::new(name).ok()?;
    let _g = PASSWD_LOCK.lock();
    // SAFETY: getpwnam returns null or static storage read under the lock.
    unsafe {
        let pw = libc::getpwnam(c.as_ptr());
        (!pw.is_null()).then(|| (*pw).pw_uid)
    }
}

fn lookup_gid(name: &str) -> Option<u32> {
    if let Ok(n) = name.parse::<u32>() {
        return Some(n);
    }
    let c = std::ffi::CString::new(name).ok()?;
    let _g = PASSWD_LOCK.lock();
    // SAFETY: getgrnam returns null or static storage read under the lock.
    unsafe {
        let gr = libc::getgrnam(c.as_ptr());
        (!gr.is_null()).then(|| (*gr).gr_gid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tusk_client::FileType;

    fn st(path: &str) -> FileStatus {
        FileStatus {
            path: path.into(),
            name: path.rsplit('/').next().unwrap_or("").into(),
            file_type: FileType::File,
            length: 1,
            owner: "o".into(),
            group: "g".into(),
            permission: 0o644,
            mtime_ms: 0,
            atime_ms: 0,
            replication: 1,
            block_size: 1,
            file_id: 7,
            children_num: 0,
            under_construction: false,
        }
    }

    #[test]
    fn ttl_and_invalidation() {
        let c = AttrCache::new(Duration::from_secs(60));
        c.put("/d/a", st("/d/a"));
        c.put("/d/b/c", st("/d/b/c"));
        c.put("/dd", st("/dd"));
        assert!(c.get("/d/a").is_some());
        c.invalidate("/d");
        assert!(c.get("/d/a").is_none());
        assert!(c.get("/d/b/c").is_none());
        assert!(c.get("/dd").is_some());
        let off = AttrCache::new(Duration::ZERO);
        off.put("/x", st("/x"));
        assert!(off.get("/x").is_none());
    }

    #[test]
    fn ids() {
        let m = IdMap::new("tuskuser-not-local");
        // SAFETY: getuid cannot fail.
        let me = unsafe { libc::getuid() };
        assert_eq!(m.uid("tuskuser-not-local"), me);
        assert_eq!(m.uid("no-such-user-here"), NOBODY);
        assert_eq!(m.uid("root"), 0);
        assert_eq!(m.user_name(me), "tuskuser-not-local");
    }
}
