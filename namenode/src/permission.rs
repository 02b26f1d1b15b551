//! HDFS permission checks: who the caller is and whether an inode's owner,
//! group and mode let them do something. Pure functions over [`Inode`]s.

use crate::error::{NnError, NnResult};
use crate::types::Inode;

pub const READ: u32 = 4;
pub const WRITE: u32 = 2;
pub const EXECUTE: u32 = 1;
pub const STICKY: u32 = 0o1000;

/// The user an operation runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user: String,
    pub groups: Vec<String>,
    /// The namenode's superuser or a member of the supergroup: no checks.
    pub superuser: bool,
}

impl Caller {
    pub fn new(user: &str, groups: Vec<String>, superuser: &str, supergroup: &str) -> Self {
        let is_super = user == superuser || groups.iter().any(|g| g == supergroup);
        Caller {
            user: user.to_string(),
            groups,
            superuser: is_super,
        }
    }

    /// A superuser caller (for internal work and tests).
    pub fn superuser(user: &str) -> Self {
        Caller {
            user: user.to_string(),
            groups: Vec::new(),
            superuser: true,
        }
    }

    pub fn in_group(&self, g: &str) -> bool {
        self.groups.iter().any(|x| x == g)
    }
}

/// HDFS's FsAction names: READ, WRITE_EXECUTE, ALL, ...
pub fn access_name(bits: u32) -> &'static str {
    match bits & 7 {
        0 => "NONE",
        1 => "EXECUTE",
        2 => "WRITE",
        3 => "WRITE_EXECUTE",
        4 => "READ",
        5 => "READ_EXECUTE",
        6 => "READ_WRITE",
        _ => "ALL",
    }
}

/// `drwxr-xr-x`-style rendering (with `t`/`T` for the sticky bit).
pub fn mode_string(inode: &Inode) -> String {
    let p = inode.permission;
    let mut s = String::with_capacity(10);
    s.push(if inode.is_dir() { 'd' } else { '-' });
    for shift in [6, 3, 0] {
        let b = (p >> shift) & 7;
        s.push(if b & 4 != 0 { 'r' } else { '-' });
        s.push(if b & 2 != 0 { 'w' } else { '-' });
        let x = b & 1 != 0;
        if shift == 0 && p & STICKY != 0 {
            s.push(if x { 't' } else { 'T' });
        } else {
            s.push(if x { 'x' } else { '-' });
        }
    }
    s
}

fn describe(path: &str, inode: &Inode) -> String {
    format!(
        "\"{}\":{}:{}:{}",
        path,
        inode.owner,
        inode.group,
        mode_string(inode)
    )
}

/// Checks that `caller` may perform `access` (READ|WRITE|EXECUTE bits) on
/// `inode` found at `path`.
pub fn check(caller: &Caller, inode: &Inode, path: &str, access: u32) -> NnResult<()> {
    if caller.superuser {
        return Ok(());
    }
    let p = inode.permission;
    let bits = if caller.user == inode.owner {
        (p >> 6) & 7
    } else if caller.in_group(&inode.group) {
        (p >> 3) & 7
    } else {
        p & 7
    };
    if bits & access == access {
        Ok(())
    } else {
        Err(NnError::PermissionDenied(format!(
            "Permission denied: user={}, access={}, inode={}",
            caller.user,
            access_name(access),
            describe(path, inode)
        )))
    }
}

/// The sticky-bit rule: in a sticky directory only the entry's owner, the
/// directory's owner or a superuser may delete or rename the entry.
pub fn check_sticky(
    caller: &Caller,
    parent: &Inode,
    parent_path: &str,
    child: &Inode,
    child_path: &str,
) -> NnResult<()> {
    if caller.superuser
        || parent.permission & STICKY == 0
        || caller.user == parent.owner
        || caller.user == child.owner
    {
        return Ok(());
    }
    Err(NnError::PermissionDenied(format!(
        "Permission denied by sticky bit: user={}, path={}, parent={}",
        caller.user,
        describe(child_path, child),
        describe(parent_path, parent)
    )))
}

/// Only the owner (or a superuser) may change mode, group, ...
pub fn check_owner(caller: &Caller, inode: &Inode, path: &str) -> NnResult<()> {
    if caller.superuser || caller.user == inode.owner {
        Ok(())
    } else {
        Err(NnError::PermissionDenied(format!(
            "Permission denied. user={} is not the owner of inode={}",
            caller.user,
            describe(path, inode)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::InodeKind;

    fn inode(owner: &str, group: &str, perm: u32, dir: bool) -> Inode {
        let kind = if dir { InodeKind::Dir } else { InodeKind::File };
        Inode {
            owner: owner.into(),
            group: group.into(),
            permission: perm,
            replication: 1,
            block_size: 1,
            ..Inode::blank(2, 1, "x", kind)
        }
    }

    fn user(name: &str, groups: &[&str]) -> Caller {
        Caller::new(
            name,
            groups.iter().map(|s| s.to_string()).collect(),
            "root",
            "supergroup",
        )
    }

    #[test]
    fn owner_group_other_bits() {
        let i = inode("alice", "staff", 0o750, true);
        assert!(check(&user("alice", &[]), &i, "/x", READ | WRITE | EXECUTE).is_ok());
        assert!(check(&user("bob", &["staff"]), &i, "/x", READ | EXECUTE).is_ok());
        assert!(check(&user("bob", &["staff"]), &i, "/x", WRITE).is_err());
        let e = check(&user("carol", &[]), &i, "/x", READ).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Permission denied: user=carol, access=READ, inode=\"/x\":alice:staff:drwxr-x---"
        );
        // Owner bits apply to the owner even when the group would allow more.
        let i = inode("alice", "staff", 0o070, false);
        assert!(check(&user("alice", &["staff"]), &i, "/x", READ).is_err());
    }

    #[test]
    fn superusers_bypass() {
        let i = inode("alice", "staff", 0o000, false);
        assert!(check(&user("root", &[]), &i, "/x", READ | WRITE).is_ok());
        assert!(check(&user("dave", &["supergroup"]), &i, "/x", WRITE).is_ok());
    }

    #[test]
    fn sticky_bit() {
        let tmp = inode("root", "supergroup", 0o1777, true);
        let f = inode("alice", "supergroup", 0o644, false);
        assert_eq!(mode_string(&tmp), "drwxrwxrwt");
        assert!(check_sticky(&user("alice", &[]), &tmp, "/tmp", &f, "/tmp/f").is_ok());
        assert!(check_sticky(&user("bob", &[]), &tmp, "/tmp", &f, "/tmp/f").is_err());
        assert!(check_sticky(&user("root", &[]), &tmp, "/tmp", &f, "/tmp/f").is_ok());
        let plain = inode("root", "supergroup", 0o777, true);
        assert!(check_sticky(&user("bob", &[]), &plain, "/tmp", &f, "/tmp/f").is_ok());
    }

    #[test]
    fn names() {
        assert_eq!(access_name(WRITE | EXECUTE), "WRITE_EXECUTE");
        assert_eq!(access_name(7), "ALL");
    }
}
