//! Directory handles: `readdir` pages through `list_page`, never holding
//! more than one listing page of a directory however big it is.
//!
//! Offsets (the cookies the kernel hands back) are positions: 1 is `.`, 2
//! is `..`, 3 the first entry. The cursor keeps the current page and the
//! name to list after for the next one; the kernel reads forward, so every
//! call is served from the page in hand or the next one. A seek backwards
//! (rewinddir) lists from the start again.

use crate::errno::errno;
use crate::fs::Shared;
use crate::inodes::parent_path;
use fuser::{Errno, FileType, INodeNo, ReplyDirectory};
use tusk_client::FileStatus;

/// Cookie of the first real entry.
const FIRST: u64 = 3;

/// One open directory.
pub struct DirCursor {
    path: String,
    ino: u64,
    /// Cookie of `entries[0]`.
    base: u64,
    entries: Vec<FileStatus>,
    /// The name to list after for the next page; `None` after the last.
    next_after: Option<String>,
    loaded: bool,
}

impl DirCursor {
    pub fn new(path: String, ino: u64) -> Self {
        DirCursor {
            path,
            ino,
            base: FIRST,
            entries: Vec::new(),
            next_after: None,
            loaded: false,
        }
    }

    /// Adds entries after cookie `offset` until the reply is full or the
    /// directory ends.
    pub async fn fill(
        &mut self,
        s: &Shared,
        offset: u64,
        reply: &mut ReplyDirectory,
    ) -> Result<(), Errno> {
        if offset == 0 && reply.add(INodeNo(self.ino), 1, FileType::Directory, ".") {
            return Ok(());
        }
        if offset <= 1 {
            let parent = s
                .inodes
                .lock()
                .peek(parent_path(&self.path))
                .unwrap_or(crate::inodes::ROOT_INO);
            if reply.add(INodeNo(parent), 2, FileType::Directory, "..") {
                return Ok(());
            }
        }
        let mut want = offset.max(2) + 1;
        if !self.loaded || want < self.base {
            self.base = FIRST;
            self.entries.clear();
            self.load(s, String::new()).await?;
        }
        loop {
            while want >= self.base + self.entries.len() as u64 {
                let Some(after) = self.next_after.take() else {
                    return Ok(());
                };
                self.base += self.entries.len() as u64;
                self.load(s, after).await?;
            }
            let st = &self.entries[(want - self.base) as usize];
            let ino = s.dirent_ino(&st.path, st.file_id);
            let kind = if st.is_dir() {
                FileType::Directory
            } else {
                FileType::RegularFile
            };
            if reply.add(INodeNo(ino), want, kind, &st.name) {
                return Ok(());
            }
            want += 1;
        }
    }

    /// Loads the page after `after` (`""` = the first).
    async fn load(&mut self, s: &Shared, after: String) -> Result<(), Errno> {
        let page = s
            .client
            .list_page(&self.path, &after)
            .await
            .map_err(|e| errno(&e))?;
        if page.entries.len() == 1 && page.entries[0].path == self.path {
            // list_page of a file answers the file itself.
            return Err(Errno::ENOTDIR);
        }
        self.next_after = if page.has_more() {
            page.entries.last().map(|e| e.name.clone())
        } else {
            None
        };
        for st in &page.entries {
            s.attrs.put(&st.path, st.clone());
        }
        self.entries = page.entries;
        self.loaded = true;
        Ok(())
    }
}
