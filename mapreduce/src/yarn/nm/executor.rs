//! Who a container runs as, and the directories it gets (Hadoop's
//! `LinuxContainerExecutor` vs. `DefaultContainerExecutor`).
//!
//! In **user** mode (`[nodemanager] container_executor = "user"`, or
//! `"auto"` with the node manager running as root) a container runs as its
//! application's user when that account exists on the node, its uid is at
//! least `[security] container_min_user_id` and it is not in
//! `container_banned_users`; otherwise as `container_fallback_user`. The
//! child sets its groups, gid and uid between fork and exec. Its working
//! dir, its log dir and the application's local dir are owned by that
//! account, mode 0700, so other applications' users cannot read them; the
//! node manager (root) still reads logs and map outputs and deletes
//! everything when the application ends.
//!
//! In **process** mode every container runs as the node manager's own user
//! (the behaviour before; the only choice for a node manager that is not
//! root).

use std::collections::HashSet;
use std::ffi::{CStr, CString};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tusk_common::config::ContainerExecutor;
use tusk_common::TuskConfig;

/// An account on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups (with `gid`).
    pub groups: Vec<u32>,
}

/// The account a container runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunAs {
    pub account: Account,
    /// Whether the child switches to it (user mode); else it is the node
    /// manager's own.
    pub switch: bool,
    /// Why it is not the application's user, if it is not.
    pub note: Option<String>,
}

/// The node manager's policy.
#[derive(Debug, Clone)]
pub(crate) struct Executor {
    user_mode: bool,
    min_uid: u32,
    fallback: String,
    banned: HashSet<String>,
}

impl Executor {
    /// From the configuration; `user` mode without root is an error.
    pub fn new(cfg: &TuskConfig) -> Result<Executor, String> {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let user_mode = match cfg.nodemanager.container_executor {
            ContainerExecutor::Auto => root,
            ContainerExecutor::Process => false,
            ContainerExecutor::User if root => true,
            ContainerExecutor::User => {
                return Err(format!(
                    "[nodemanager] container_executor = \"user\" needs the node manager to run as root \
                     (it runs as {}); use \"auto\" or \"process\"",
                    tusk_common::sys::login_user()
                ))
            }
        };
        let s = &cfg.security;
        Ok(Executor {
            user_mode,
            min_uid: s.container_min_user_id,
            fallback: s.container_fallback_user.clone(),
            banned: s.container_banned_users.iter().cloned().collect(),
        })
    }

    pub fn user_mode(&self) -> bool {
        self.user_mode
    }

    pub fn mode_name(&self) -> &'static str {
        if self.user_mode {
            "user"
        } else {
            "process"
        }
    }

    /// The account a container of `user` runs as.
    pub fn run_as(&self, user: &str) -> Result<RunAs, String> {
        if !self.user_mode {
            // SAFETY: geteuid/getegid have no preconditions.
            let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
            return Ok(RunAs {
                account: Account {
                    name: tusk_common::sys::login_user(),
                    uid,
                    gid,
                    groups: Vec::new(),
                },
                switch: false,
                note: None,
            });
        }
        let why_not = match lookup(user) {
            Some(a) if self.banned.contains(&a.name) => format!("user {user} is banned"),
            Some(a) if a.uid < self.min_uid => format!(
                "user {user} has uid {} < container_min_user_id {}",
                a.uid, self.min_uid
            ),
            Some(a) => {
                return Ok(RunAs {
                    account: a,
                    switch: true,
                    note: None,
                })
            }
            None => format!("user {user} has no account on this node"),
        };
        let fallback = lookup(&self.fallback).ok_or_else(|| {
            format!(
                "{why_not}, and container_fallback_user {:?} has no account on this node either",
                self.fallback
            )
        })?;
        if fallback.uid == 0 {
            return Err(format!(
                "{why_not}, and container_fallback_user {:?} is root: refusing",
                self.fallback
            ));
        }
        Ok(RunAs {
            note: Some(format!("{why_not}: running as {}", fallback.name)),
            account: fallback,
            switch: true,
        })
    }
}

/// Looks an account up (getpwnam_r) with its groups (getgrouplist).
pub(crate) fn lookup(name: &str) -> Option<Account> {
    let cname = CString::new(name).ok()?;
    let mut buf = vec![0 as libc::c_char; 16 << 10];
    // SAFETY: a zeroed passwd is a valid out-parameter; getpwnam_r writes
    // into it and `buf`, both alive for the call; `result` is checked
    // before use and the strings are copied before `buf` goes.
    let (uid, gid, pw_name) = unsafe {
        let mut pw: libc::passwd = std::mem::zeroed();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwnam_r(
            cname.as_ptr(),
            &mut pw,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        );
        if rc != 0 || result.is_null() {
            return None;
        }
        (
            pw.pw_uid,
            pw.pw_gid,
            CStr::from_ptr(pw.pw_name).to_string_lossy().into_owned(),
        )
    };
    let mut n: libc::c_int = 64;
    let mut groups: Vec<libc::gid_t> = vec![0; n as usize];
    loop {
        let mut got = n;
        // SAFETY: `groups` has room for `got` entries; getgrouplist writes
        // at most that many and sets `got` to the number it needs.
        let rc = unsafe { libc::getgrouplist(cname.as_ptr(), gid, groups.as_mut_ptr(), &mut got) };
        if rc >= 0 {
            groups.truncate(got.max(0) as usize);
            break;
        }
        if got <= n || n > 1 << 16 {
            groups = vec![gid];
            break;
        }
        n = got;
        groups = vec![0; n as usize];
    }
    Some(Account {
        name: pw_name,
        uid,
        gid,
        groups,
    })
}

/// Gives `path` to `run_as` with `mode` (user mode), or just sets `mode`.
pub(crate) fn own(path: &Path, run_as: &RunAs, mode: u32) -> Result<(), String> {
    if run_as.switch {
        std::os::unix::fs::chown(path, Some(run_as.account.uid), Some(run_as.account.gid))
            .map_err(|e| format!("chown {} to {}: {e}", path.display(), run_as.account.name))?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("chmod {mode:o} {}: {e}", path.display()))
}

/// Creates `dir` (and its parents) unless it exists, then [`own`]s it.
pub(crate) fn make_dir(dir: &Path, run_as: &RunAs, mode: u32) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    own(dir, run_as, mode)
}

/// Sets up `cmd` to run as `run_as`: in the child, after fork and before
/// exec, supplementary groups, gid, then uid (in that order: dropping the
/// uid first would forbid the rest).
pub(crate) fn switch_user(cmd: &mut tokio::process::Command, run_as: &RunAs) {
    if !run_as.switch {
        return;
    }
    let a = run_as.account.clone();
    let groups: Vec<libc::gid_t> = if a.groups.is_empty() {
        vec![a.gid]
    } else {
        a.groups.clone()
    };
    // SAFETY: the closure only makes async-signal-safe system calls
    // (setgroups, setgid, setuid) on data prepared before the fork; it
    // allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setgroups(groups.len() as _, groups.as_ptr()) != 0
                || libc::setgid(a.gid) != 0
                || libc::setuid(a.uid) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Every directory from `/` down to `dir` must let other users through
/// (their x bit), or a container running as another user cannot reach its
/// working dir. The error names the first that does not.
pub(crate) fn check_traversable(dir: &Path, what: &str) -> Result<(), String> {
    let mut ancestors: Vec<PathBuf> = dir.ancestors().map(Path::to_path_buf).collect();
    ancestors.reverse();
    for a in ancestors {
        let meta = std::fs::metadata(&a).map_err(|e| format!("{what} {}: {e}", a.display()))?;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o001 == 0 {
            return Err(format!(
                "{what} {}: {} (mode {mode:04o}) does not let other users through, and containers \
                 run as their applications' users ([nodemanager] container_executor = \"user\", or \
                 \"auto\" as root): chmod o+x {}, or set container_executor = \"process\"",
                dir.display(),
                a.display(),
                a.display()
            ));
        }
    }
    Ok(())
}

/// Clears set-user-id, set-group-id and sticky bits below `root` (an
/// unpacked archive must not carry privileges of whoever unpacked it), and
/// gives everything to `run_as` in user mode. Symbolic links are not
/// followed.
pub(crate) fn sanitize_tree(root: &Path, run_as: &RunAs) -> Result<(), String> {
    let meta = std::fs::symlink_metadata(root).map_err(|e| format!("{}: {e}", root.display()))?;
    if meta.file_type().is_symlink() {
        if run_as.switch {
            std::os::unix::fs::lchown(root, Some(run_as.account.uid), Some(run_as.account.gid))
                .map_err(|e| format!("chown {}: {e}", root.display()))?;
        }
        return Ok(());
    }
    if run_as.switch {
        std::os::unix::fs::chown(root, Some(run_as.account.uid), Some(run_as.account.gid))
            .map_err(|e| format!("chown {}: {e}", root.display()))?;
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o7000 != 0 {
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(mode & 0o777))
            .map_err(|e| format!("chmod {}: {e}", root.display()))?;
    }
    if meta.is_dir() {
        for e in std::fs::read_dir(root).map_err(|e| format!("{}: {e}", root.display()))? {
            let e = e.map_err(|e| format!("{}: {e}", root.display()))?;
            sanitize_tree(&e.path(), run_as)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_and_nobody_are_found() {
        let root = lookup("root").expect("root has an account");
        assert_eq!(root.uid, 0);
        assert!(lookup("no-such-user-tusk-xyz").is_none());
    }

    #[test]
    fn process_mode_never_switches() {
        let mut cfg = TuskConfig::default();
        cfg.nodemanager.container_executor = ContainerExecutor::Process;
        let e = Executor::new(&cfg).unwrap();
        let r = e.run_as("root").unwrap();
        assert!(!r.switch);
    }

    #[test]
    fn user_mode_falls_back_for_banned_small_and_unknown_users() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 || lookup("nobody").is_none() {
            eprintln!("skipped: needs root and a nobody account");
            return;
        }
        let mut cfg = TuskConfig::default();
        cfg.nodemanager.container_executor = ContainerExecutor::User;
        let e = Executor::new(&cfg).unwrap();
        let r = e.run_as("root").unwrap();
        assert_eq!(r.account.name, "nobody");
        assert!(r.note.unwrap().contains("banned"));
        let r = e.run_as("no-such-user-tusk-xyz").unwrap();
        assert_eq!(r.account.name, "nobody");
        cfg.security.container_fallback_user = "no-such-user-tusk-xyz".into();
        let e = Executor::new(&cfg).unwrap();
        let err = e.run_as("root").unwrap_err();
        assert!(err.contains("container_fallback_user"), "{err}");
    }

    #[test]
    fn traversal_check_names_the_blocking_dir() {
        let d = tempfile::tempdir().unwrap();
        let inner = d.path().join("a/b");
        std::fs::create_dir_all(&inner).unwrap();
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(d.path().join("a"), std::fs::Permissions::from_mode(0o700))
            .unwrap();
        let e = check_traversable(&inner, "local dir").unwrap_err();
        assert!(
            e.contains(&format!("{} (mode 0700)", d.path().join("a").display())),
            "{e}"
        );
        std::fs::set_permissions(d.path().join("a"), std::fs::Permissions::from_mode(0o711))
            .unwrap();
        check_traversable(&inner, "local dir").unwrap();
    }
}
