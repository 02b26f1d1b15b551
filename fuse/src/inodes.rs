//! The inode table: FUSE inode numbers ↔ Tusk paths (pure, no I/O).
//!
//! Tusk names files by path, the kernel by inode number. A number is
//! allocated the first time the kernel looks a path up and lives until the
//! kernel forgets it (its lookup count drops to 0). A rename moves the
//! numbers of the path and of everything below it to the new path, so open
//! files and cached dentries stay valid; an unlink or a replaced rename
//! target detaches its number from the path (the kernel still holds it until
//! it forgets).

use std::collections::HashMap;

/// The root's inode number (FUSE's `FUSE_ROOT_ID`).
pub const ROOT_INO: u64 = 1;

#[derive(Debug)]
struct Node {
    path: String,
    /// How many lookups the kernel holds (entries replied, minus forgets).
    lookups: u64,
    /// The path no longer names this node (unlinked or replaced).
    detached: bool,
}

/// Inode numbers ↔ paths.
#[derive(Debug)]
pub struct InodeTable {
    by_ino: HashMap<u64, Node>,
    by_path: HashMap<String, u64>,
    next: u64,
}

impl Default for InodeTable {
    fn default() -> Self {
        Self::new()
    }
}

impl InodeTable {
    pub fn new() -> Self {
        let mut t = InodeTable {
            by_ino: HashMap::new(),
            by_path: HashMap::new(),
            next: ROOT_INO + 1,
        };
        t.by_ino.insert(
            ROOT_INO,
            Node {
                path: "/".into(),
                lookups: 1,
                detached: false,
            },
        );
        t.by_path.insert("/".into(), ROOT_INO);
        t
    }

    /// The path of an inode; `None` when unknown or detached.
    pub fn path(&self, ino: u64) -> Option<String> {
        self.by_ino
            .get(&ino)
            .filter(|n| !n.detached)
            .map(|n| n.path.clone())
    }

    /// The inode of a path, without counting a lookup.
    pub fn peek(&self, path: &str) -> Option<u64> {
        self.by_path.get(path).copied()
    }

    /// The inode of a path (allocated on first use), counting one kernel
    /// lookup: call it exactly once per entry replied to the kernel.
    pub fn lookup(&mut self, path: &str) -> u64 {
        if let Some(&ino) = self.by_path.get(path) {
            if let Some(n) = self.by_ino.get_mut(&ino) {
                n.lookups += 1;
            }
            return ino;
        }
        let ino = self.next;
        self.next += 1;
        self.by_ino.insert(
            ino,
            Node {
                path: path.to_string(),
                lookups: 1,
                detached: false,
            },
        );
        self.by_path.insert(path.to_string(), ino);
        ino
    }

    /// The kernel dropped `n` lookups of `ino`; the number is freed at 0.
    pub fn forget(&mut self, ino: u64, n: u64) {
        if ino == ROOT_INO {
            return;
        }
        let Some(node) = self.by_ino.get_mut(&ino) else {
            return;
        };
        node.lookups = node.lookups.saturating_sub(n);
        if node.lookups == 0 {
            let node = self.by_ino.remove(&ino).expect("present");
            if !node.detached && self.by_path.get(&node.path) == Some(&ino) {
                self.by_path.remove(&node.path);
            }
        }
    }

    /// The path was deleted (or replaced): its inode no longer names it.
    pub fn detach(&mut self, path: &str) {
        if let Some(ino) = self.by_path.remove(path) {
            if let Some(n) = self.by_ino.get_mut(&ino) {
                n.detached = true;
            }
        }
        // A deleted directory takes its descendants with it.
        let prefix = format!("{}/", path.trim_end_matches('/'));
        let below: Vec<String> = self
            .by_path
            .keys()
            .filter(|p| p.starts_with(&prefix))
            .cloned()
            .collect();
        for p in below {
            if let Some(ino) = self.by_path.remove(&p) {
                if let Some(n) = self.by_ino.get_mut(&ino) {
                    n.detached = true;
                }
            }
        }
    }

    /// `src` was renamed to `dst`: a node at `dst` is detached (replaced),
    /// and `src` and everything below it move under `dst`.
    pub fn rename(&mut self, src: &str, dst: &str) {
        if src == dst {
            return;
        }
        self.detach(dst);
        let prefix = format!("{}/", src.trim_end_matches('/'));
        let moved: Vec<(String, u64)> = self
            .by_path
            .iter()
            .filter(|(p, _)| p.as_str() == src || p.starts_with(&prefix))
            .map(|(p, &i)| (p.clone(), i))
            .collect();
        for (old, ino) in moved {
            self.by_path.remove(&old);
            let new = format!("{dst}{}", &old[src.len()..]);
            if let Some(n) = self.by_ino.get_mut(&ino) {
                n.path = new.clone();
            }
            self.by_path.insert(new, ino);
        }
    }

    /// Inodes the kernel still holds (the root included).
    pub fn len(&self) -> usize {
        self.by_ino.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_ino.is_empty()
    }
}

/// `parent/name` for an absolute `parent`.
pub fn child_path(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

/// The parent of an absolute path (`/` for `/` and top-level names).
pub fn parent_path(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_is_stable_and_forget_frees() {
        let mut t = InodeTable::new();
        let a = t.lookup("/a");
        assert_eq!(t.lookup("/a"), a);
        assert_eq!(t.path(a).as_deref(), Some("/a"));
        t.forget(a, 1);
        assert_eq!(t.path(a).as_deref(), Some("/a"));
        t.forget(a, 1);
        assert_eq!(t.path(a), None);
        assert_eq!(t.peek("/a"), None);
        let b = t.lookup("/a");
        assert_ne!(a, b, "numbers are not reused");
        t.forget(ROOT_INO, 100);
        assert_eq!(t.path(ROOT_INO).as_deref(), Some("/"));
    }

    #[test]
    fn rename_moves_descendants_and_detaches_the_target() {
        let mut t = InodeTable::new();
        let d = t.lookup("/d");
        let f = t.lookup("/d/f");
        let g = t.lookup("/d/sub/g");
        let other = t.lookup("/dd");
        let target = t.lookup("/e");
        t.rename("/d", "/e");
        assert_eq!(t.path(d).as_deref(), Some("/e"));
        assert_eq!(t.path(f).as_deref(), Some("/e/f"));
        assert_eq!(t.path(g).as_deref(), Some("/e/sub/g"));
        assert_eq!(
            t.path(other).as_deref(),
            Some("/dd"),
            "a sibling prefix is untouched"
        );
        assert_eq!(t.path(target), None, "the replaced target is detached");
        assert_eq!(t.peek("/e"), Some(d));
        // Forgetting the detached node does not remove the live path.
        t.forget(target, 1);
        assert_eq!(t.peek("/e"), Some(d));
    }

    #[test]
    fn detach_removes_a_tree() {
        let mut t = InodeTable::new();
        let d = t.lookup("/d");
        let f = t.lookup("/d/f");
        t.detach("/d");
        assert_eq!(t.path(d), None);
        assert_eq!(t.path(f), None);
        let d2 = t.lookup("/d");
        assert_ne!(d, d2);
        t.forget(d, 1);
        assert_eq!(t.peek("/d"), Some(d2));
    }

    #[test]
    fn paths() {
        assert_eq!(child_path("/", "a"), "/a");
        assert_eq!(child_path("/a", "b"), "/a/b");
        assert_eq!(parent_path("/a"), "/");
        assert_eq!(parent_path("/a/b"), "/a");
        assert_eq!(parent_path("/"), "/");
    }
}
