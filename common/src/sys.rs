//! Small facts about the process and its machine.

use std::path::Path;

/// The login name of the effective user (falls back to `$USER`, then "nobody").
pub fn login_user() -> String {
    // SAFETY: getpwuid returns a pointer into static storage or null; we copy
    // the name out immediately and do not keep the pointer.
    unsafe {
        let pw = libc::getpwuid(libc::geteuid());
        if !pw.is_null() && !(*pw).pw_name.is_null() {
            if let Ok(s) = std::ffi::CStr::from_ptr((*pw).pw_name).to_str() {
                return s.to_string();
            }
        }
    }
    std::env::var("USER").unwrap_or_else(|_| "nobody".into())
}

/// The groups a user belongs to according to this machine's `/etc/group`
/// (primary group first when it can be found). Used by the namenode, as HDFS's
/// default `ShellBasedUnixGroupsMapping` does.
pub fn user_groups(user: &str) -> Vec<String> {
    let mut groups = Vec::new();
    let Ok(passwd) = std::fs::read_to_string("/etc/passwd") else {
        return groups;
    };
    let gid = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 3 && f[0] == user)
        .map(|f| f[3].to_string());
    let group_file = std::fs::read_to_string("/etc/group").unwrap_or_default();
    for l in group_file.lines() {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 4 {
            continue;
        }
        if Some(f[2]) == gid.as_deref() {
            groups.insert(0, f[0].to_string());
        } else if f[3].split(',').any(|m| m == user) {
            groups.push(f[0].to_string());
        }
    }
    groups
}

/// Writes `addr` to `dir/name` atomically (temp file + rename), so scripts that
/// poll for the file never read half of it.
pub fn write_addr_file(dir: &Path, name: &str, addr: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, format!("{addr}\n"))?;
    std::fs::rename(&tmp, dir.join(name))
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
