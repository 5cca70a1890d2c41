//! The `kv/` part of the filesystem model (SPEC §8): the caller's keys of
//! the coordination store as files. Reading `kv/app/port` gets the key
//! `app/port`, writing it sets it; a `/` in a key makes directories.
//! docs/design/coord.md ("As files") has the rules; in short:
//!
//! - Every user sees their own keys (the store keeps a space per user):
//!   calls act for the caller's user ([`KvCaller`]), so a mount run by
//!   root serves every user. An inode stands for a (user, path) pair, so
//!   two users' `kv/x` are different inodes, and every operation checks
//!   the caller is that user (else ENOENT). Nothing here is cached: the
//!   kernel is given a zero TTL and reads are linearizable.
//! - Writes change the open file; close(2) (or fsync) stores its whole
//!   content as the key's new value, one version per close, so a watcher
//!   never sees half a value. Like NFS, a store's error (ENOSPC, EIO)
//!   comes from close; a value over the limit fails the write itself
//!   (EFBIG) and then nothing of that open is stored, so the key keeps
//!   its value.
//! - O_TRUNC alone is not a change yet: a shell's `cmd > KEY` opens,
//!   dup2s and closes the first descriptor before `cmd` writes, and that
//!   first close must not store an empty value (`echo x > KEY` makes one
//!   version, x). A truncation with no write is stored at a later close
//!   (`: > KEY` closes twice) or else when the file is released.
//! - The store has no directories: a directory is a prefix some key has,
//!   or one made (mkdir) or seen through this mount, which stays, empty,
//!   until rmdir, so `mkdir -p` before a write and `rm -r` work.
//! - A key that is also another key's prefix (`a` and `a/b`) shows as the
//!   file; keys with an empty path component (`a//b`, `a/`) are not shown.
//! - rename of a file sets the new key and deletes the old (two writes);
//!   a directory's rename answers EXDEV, so `mv` copies it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use dashmap::DashMap;
use proto::coord_limits::{MAX_KEY_BYTES, MAX_VALUE_BYTES};

use super::{Attr, Entry, Kind, NefeleFs, View, dir};
use crate::backend::{Backend, FsError, FsResult};

/// Who makes a `kv/` request: the user whose keys it sees, and the ids
/// its files are shown with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvCaller {
    /// The Unix user name (root's keys are root's own).
    pub user: String,
    /// Owner of the files shown.
    pub uid: u32,
    /// Group of the files shown.
    pub gid: u32,
}

/// What a path of a user's is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Node {
    File(u64),
    Dir,
}

/// An open key: its content, changed by writes, stored at close.
struct KvHandle {
    user: String,
    key: String,
    content: Vec<u8>,
    /// Writes go to the end (O_APPEND).
    append: bool,
    /// Written since opened or last stored.
    written: bool,
    /// Opened with O_TRUNC, and the empty value not stored yet.
    truncated: bool,
    /// Closes (flushes) seen.
    flushes: u32,
    /// A write failed: nothing of this open is stored.
    failed: bool,
}

impl KvHandle {
    fn new(caller: &KvCaller, key: String, content: Vec<u8>, append: bool) -> Self {
        KvHandle {
            user: caller.user.clone(),
            key,
            content,
            append,
            written: false,
            truncated: false,
            flushes: 0,
            failed: false,
        }
    }
}

/// A path of a user's: what a `kv/` inode stands for.
type UserPath = (String, String);

/// Numbers of the (user, path) pairs seen: their inodes. One entry per
/// distinct pair ever looked up, which is bounded by what users create.
#[derive(Default)]
struct KvIds {
    by_pair: HashMap<UserPath, u32>,
    pairs: Vec<UserPath>,
}

/// The `kv/` state of a mount.
pub(super) struct KvTree {
    ids: Mutex<KvIds>,
    /// Directories made or seen through this mount.
    dirs: Mutex<HashSet<UserPath>>,
    handles: DashMap<u64, Arc<tokio::sync::Mutex<KvHandle>>>,
    /// The time every entry shows (the store keeps none).
    mounted: SystemTime,
}

impl Default for KvTree {
    fn default() -> Self {
        KvTree {
            ids: Mutex::default(),
            dirs: Mutex::default(),
            handles: DashMap::new(),
            mounted: SystemTime::now(),
        }
    }
}

/// Whether an inode is `kv/` or in it.
pub fn is_kv(ino: u64) -> bool {
    matches!(Entry::from_ino(ino), Some(Entry::KvDir | Entry::Kv(_)))
}

/// The key of `name` in directory `parent` ("" is `kv/` itself).
fn child(parent: &str, name: &str) -> FsResult<String> {
    if name.is_empty() || name == "." || name == ".." {
        return Err(FsError::Invalid(format!("{name:?} cannot be a key's name")));
    }
    let key = if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}/{name}")
    };
    if key.len() > MAX_KEY_BYTES {
        return Err(FsError::NameTooLong);
    }
    Ok(key)
}

/// The prefix of the keys in directory `path`.
fn prefix(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("{path}/")
    }
}

impl<B: Backend> NefeleFs<B> {
    fn kv_id(&self, caller: &KvCaller, path: &str) -> u32 {
        let mut ids = self.kv.ids.lock().unwrap_or_else(|e| e.into_inner());
        let pair = (caller.user.clone(), path.to_string());
        if let Some(id) = ids.by_pair.get(&pair) {
            return *id;
        }
        let id = u32::try_from(ids.pairs.len()).unwrap_or(u32::MAX);
        ids.pairs.push(pair.clone());
        ids.by_pair.insert(pair, id);
        id
    }

    /// The path (key) an inode stands for, if it is the caller's.
    fn kv_path(&self, ino: u64, caller: &KvCaller) -> FsResult<String> {
        if self.view == View::Procps {
            return Err(FsError::NotFound);
        }
        match Entry::from_ino(ino) {
            Some(Entry::KvDir) => Ok(String::new()),
            Some(Entry::Kv(id)) => {
                let ids = self.kv.ids.lock().unwrap_or_else(|e| e.into_inner());
                match ids.pairs.get(id as usize) {
                    Some((user, path)) if *user == caller.user => Ok(path.clone()),
                    _ => Err(FsError::NotFound),
                }
            }
            _ => Err(FsError::NotFound),
        }
    }

    fn kv_attr(&self, caller: &KvCaller, path: &str, node: Node) -> Attr {
        let ino = if path.is_empty() {
            Entry::KvDir.ino()
        } else {
            Entry::Kv(self.kv_id(caller, path)).ino()
        };
        let (kind, perm, size) = match node {
            Node::Dir => (Kind::Dir, 0o755, 0),
            Node::File(size) => (Kind::File, 0o644, size),
        };
        Attr {
            ino,
            kind,
            perm,
            size,
            uid: caller.uid,
            gid: caller.gid,
            mtime: self.kv.mounted,
        }
    }

    fn kv_dirs(&self) -> std::sync::MutexGuard<'_, HashSet<UserPath>> {
        self.kv.dirs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the mount keeps `path` as a directory of `user`'s.
    fn kv_kept_dir(&self, user: &str, path: &str) -> bool {
        self.kv_dirs()
            .contains(&(user.to_string(), path.to_string()))
    }

    /// Whether directory `path` has no keys and no kept directories.
    async fn kv_empty_dir(&self, caller: &KvCaller, path: &str) -> FsResult<bool> {
        let under = prefix(path);
        let kept_under = self
            .kv_dirs()
            .iter()
            .any(|(u, p)| *u == caller.user && p.starts_with(&under));
        Ok(!kept_under
            && self
                .backend
                .kv_list(&caller.user, &under, true)
                .await?
                .is_empty())
    }

    /// What `path` is for `caller` now: a key, else a directory (a prefix
    /// of keys, or one this mount keeps), else ENOENT.
    async fn kv_node(&self, caller: &KvCaller, path: &str) -> FsResult<Node> {
        if path.is_empty() {
            return Ok(Node::Dir);
        }
        if let Some(kv) = self.backend.kv_get(&caller.user, path).await? {
            return Ok(Node::File(kv.value.len() as u64));
        }
        if self.kv_kept_dir(&caller.user, path)
            || !self
                .backend
                .kv_list(&caller.user, &prefix(path), true)
                .await?
                .is_empty()
        {
            // Seen: it stays while this mount runs (see the module doc).
            self.kv_dirs()
                .insert((caller.user.clone(), path.to_string()));
            return Ok(Node::Dir);
        }
        Err(FsError::NotFound)
    }

    /// Looks `name` up in a `kv/` directory.
    pub async fn kv_lookup(&self, parent: u64, name: &str, caller: &KvCaller) -> FsResult<Attr> {
        let path = child(&self.kv_path(parent, caller)?, name).map_err(|e| match e {
            FsError::Invalid(_) => FsError::NotFound,
            e => e,
        })?;
        let node = self.kv_node(caller, &path).await?;
        Ok(self.kv_attr(caller, &path, node))
    }

    /// Attributes of `kv/` or an entry in it.
    pub async fn kv_getattr(&self, ino: u64, caller: &KvCaller) -> FsResult<Attr> {
        let path = self.kv_path(ino, caller)?;
        let node = self.kv_node(caller, &path).await?;
        Ok(self.kv_attr(caller, &path, node))
    }

    /// A `kv/` directory's entries with their attributes, `.` and `..`
    /// first.
    pub async fn kv_readdir(&self, ino: u64, caller: &KvCaller) -> FsResult<Vec<(Attr, String)>> {
        let path = self.kv_path(ino, caller)?;
        if let Node::File(_) = self.kv_node(caller, &path).await? {
            return Err(FsError::NotDir);
        }
        let under = prefix(&path);
        let mut entries: BTreeMap<String, Node> = BTreeMap::new();
        for kv in self.backend.kv_list(&caller.user, &under, false).await? {
            let Some(rest) = kv.key.strip_prefix(&under) else {
                continue;
            };
            match rest.split_once('/') {
                None if !rest.is_empty() => {
                    entries.insert(rest.to_string(), Node::File(kv.value.len() as u64));
                }
                Some((name, tail))
                    if !name.is_empty()
                        && !tail.is_empty()
                        && !tail.split('/').any(str::is_empty) =>
                {
                    entries.entry(name.to_string()).or_insert(Node::Dir);
                }
                _ => {}
            }
        }
        for (user, kept) in self.kv_dirs().iter() {
            let name = kept.strip_prefix(&under).filter(|n| !n.contains('/'));
            if let (true, Some(name)) = (*user == caller.user, name)
                && !name.is_empty()
            {
                entries.entry(name.to_string()).or_insert(Node::Dir);
            }
        }
        let parent = match path.rsplit_once('/') {
            _ if path.is_empty() => dir(super::ROOT),
            Some((up, _)) => self.kv_attr(caller, up, Node::Dir),
            None => self.kv_attr(caller, "", Node::Dir),
        };
        let mut out = vec![
            (self.kv_attr(caller, &path, Node::Dir), ".".to_string()),
            (parent, "..".to_string()),
        ];
        for (name, node) in entries {
            let key = child(&path, &name)?;
            out.push((self.kv_attr(caller, &key, node), name));
        }
        Ok(out)
    }

    fn kv_handle(&self, handle: KvHandle) -> u64 {
        let fh = self.next_handle.fetch_add(1, Ordering::Relaxed);
        self.kv
            .handles
            .insert(fh, Arc::new(tokio::sync::Mutex::new(handle)));
        fh
    }

    /// Opens a key: its value now is what reads see, unless `truncate`.
    pub async fn kv_open(
        &self,
        ino: u64,
        caller: &KvCaller,
        truncate: bool,
        append: bool,
    ) -> FsResult<u64> {
        let path = self.kv_path(ino, caller)?;
        if path.is_empty() {
            return Err(FsError::IsDir);
        }
        let content = match self.backend.kv_get(&caller.user, &path).await? {
            Some(_) if truncate => Vec::new(),
            Some(kv) => kv.value,
            None if self.kv_node(caller, &path).await? == Node::Dir => {
                return Err(FsError::IsDir);
            }
            None => return Err(FsError::NotFound),
        };
        Ok(self.kv_handle(KvHandle {
            truncated: truncate,
            ..KvHandle::new(caller, path, content, append)
        }))
    }

    /// Creates (or, unless `exclusive`, opens) the key `name` in a `kv/`
    /// directory, empty; returns its attributes and handle.
    pub async fn kv_create(
        &self,
        parent: u64,
        name: &str,
        caller: &KvCaller,
        exclusive: bool,
        append: bool,
    ) -> FsResult<(Attr, u64)> {
        let path = child(&self.kv_path(parent, caller)?, name)?;
        match self
            .backend
            .kv_put(&caller.user, &path, Vec::new(), true)
            .await
        {
            Ok(()) => {}
            Err(FsError::Exists) if !exclusive => {
                let attr = self.kv_lookup(parent, name, caller).await?;
                let fh = self.kv_open(attr.ino, caller, false, append).await?;
                return Ok((attr, fh));
            }
            Err(e) => return Err(e),
        }
        let fh = self.kv_handle(KvHandle::new(caller, path.clone(), Vec::new(), append));
        Ok((self.kv_attr(caller, &path, Node::File(0)), fh))
    }

    fn kv_open_handle(&self, fh: u64) -> FsResult<Arc<tokio::sync::Mutex<KvHandle>>> {
        self.kv
            .handles
            .get(&fh)
            .map(|h| h.clone())
            .ok_or(FsError::BadHandle)
    }

    /// Reads an open key.
    pub async fn kv_read(&self, fh: u64, offset: u64, size: usize) -> FsResult<Vec<u8>> {
        let handle = self.kv_open_handle(fh)?;
        let handle = handle.lock().await;
        Ok(super::slice(&handle.content, offset, size))
    }

    /// Writes to an open key (stored at close).
    pub async fn kv_write(&self, fh: u64, offset: u64, data: &[u8]) -> FsResult<usize> {
        let handle = self.kv_open_handle(fh)?;
        let mut handle = handle.lock().await;
        let at = if handle.append {
            Some(handle.content.len())
        } else {
            usize::try_from(offset).ok()
        };
        let Some(end) = at
            .and_then(|at| at.checked_add(data.len()))
            .filter(|end| *end <= MAX_VALUE_BYTES)
        else {
            handle.failed = true;
            return Err(FsError::TooBig);
        };
        let at = end - data.len();
        if handle.content.len() < end {
            handle.content.resize(end, 0);
        }
        handle.content[at..end].copy_from_slice(data);
        handle.written = true;
        Ok(data.len())
    }

    /// Stores an open key's content if it was written, or truncated and
    /// this is not the first close (see the module doc): close, fsync.
    pub async fn kv_flush(&self, fh: u64) -> FsResult<()> {
        let handle = self.kv_open_handle(fh)?;
        let mut handle = handle.lock().await;
        handle.flushes += 1;
        let store = handle.written || (handle.truncated && handle.flushes > 1);
        if store && !handle.failed {
            self.backend
                .kv_put(&handle.user, &handle.key, handle.content.clone(), false)
                .await?;
            handle.written = false;
            handle.truncated = false;
        }
        Ok(())
    }

    /// Forgets an open key, storing a truncation no close has stored.
    pub async fn kv_release(&self, fh: u64) {
        let Some((_, handle)) = self.kv.handles.remove(&fh) else {
            return;
        };
        let handle = handle.lock().await;
        if handle.truncated && !handle.failed {
            let stored = self
                .backend
                .kv_put(&handle.user, &handle.key, handle.content.clone(), false)
                .await;
            if let Err(e) = stored {
                tracing::warn!(key = %handle.key, error = %e, "cannot store the truncation");
            }
        }
    }

    /// Truncates (or extends with NULs) a key to `size`, through its open
    /// handle `fh` if it has one.
    pub async fn kv_truncate(
        &self,
        ino: u64,
        fh: Option<u64>,
        size: u64,
        caller: &KvCaller,
    ) -> FsResult<Attr> {
        let path = self.kv_path(ino, caller)?;
        let size = usize::try_from(size)
            .ok()
            .filter(|s| *s <= MAX_VALUE_BYTES)
            .ok_or(FsError::TooBig)?;
        if let Some(handle) = fh.and_then(|fh| self.kv_open_handle(fh).ok()) {
            let mut handle = handle.lock().await;
            handle.content.resize(size, 0);
            handle.written = true;
        } else {
            let Some(kv) = self.backend.kv_get(&caller.user, &path).await? else {
                return Err(match self.kv_node(caller, &path).await? {
                    Node::Dir => FsError::IsDir,
                    Node::File(_) => FsError::NotFound,
                });
            };
            let mut value = kv.value;
            if value.len() != size {
                value.resize(size, 0);
                self.backend
                    .kv_put(&caller.user, &path, value, false)
                    .await?;
            }
        }
        Ok(self.kv_attr(caller, &path, Node::File(size as u64)))
    }

    /// Deletes the key `name` in a `kv/` directory.
    pub async fn kv_unlink(&self, parent: u64, name: &str, caller: &KvCaller) -> FsResult<()> {
        let path = child(&self.kv_path(parent, caller)?, name)?;
        match self.backend.kv_delete(&caller.user, &path).await {
            Err(FsError::NotFound) if self.kv_node(caller, &path).await? == Node::Dir => {
                Err(FsError::IsDir)
            }
            other => other,
        }
    }

    /// Makes a directory (kept by this mount until rmdir).
    pub async fn kv_mkdir(&self, parent: u64, name: &str, caller: &KvCaller) -> FsResult<Attr> {
        let path = child(&self.kv_path(parent, caller)?, name)?;
        match self.kv_node(caller, &path).await {
            Ok(_) => Err(FsError::Exists),
            Err(FsError::NotFound) => {
                self.kv_dirs().insert((caller.user.clone(), path.clone()));
                Ok(self.kv_attr(caller, &path, Node::Dir))
            }
            Err(e) => Err(e),
        }
    }

    /// Removes an empty directory.
    pub async fn kv_rmdir(&self, parent: u64, name: &str, caller: &KvCaller) -> FsResult<()> {
        let path = child(&self.kv_path(parent, caller)?, name)?;
        if self.kv_node(caller, &path).await? != Node::Dir {
            return Err(FsError::NotDir);
        }
        if !self.kv_empty_dir(caller, &path).await? {
            return Err(FsError::NotEmpty);
        }
        self.kv_dirs().remove(&(caller.user.clone(), path));
        Ok(())
    }

    /// Renames a key (set the new, delete the old) or an empty directory;
    /// a directory with keys answers EXDEV. `no_replace` keeps an
    /// existing target (EEXIST).
    pub async fn kv_rename(
        &self,
        from: (u64, &str),
        to: (u64, &str),
        no_replace: bool,
        caller: &KvCaller,
    ) -> FsResult<()> {
        let old = child(&self.kv_path(from.0, caller)?, from.1)?;
        let new = child(&self.kv_path(to.0, caller)?, to.1)?;
        if old == new {
            return Ok(());
        }
        let target = match self.kv_node(caller, &new).await {
            Ok(node) => Some(node),
            Err(FsError::NotFound) => None,
            Err(e) => return Err(e),
        };
        match self.backend.kv_get(&caller.user, &old).await? {
            Some(kv) => {
                match target {
                    Some(_) if no_replace => return Err(FsError::Exists),
                    Some(Node::Dir) => return Err(FsError::IsDir),
                    _ => {}
                }
                self.backend
                    .kv_put(&caller.user, &new, kv.value, no_replace)
                    .await?;
                self.backend.kv_delete(&caller.user, &old).await
            }
            None => {
                self.kv_node(caller, &old).await?;
                if !self.kv_empty_dir(caller, &old).await? {
                    return Err(FsError::CrossDevice);
                }
                match target {
                    Some(Node::File(_)) => Err(FsError::NotDir),
                    Some(Node::Dir) if no_replace => Err(FsError::Exists),
                    _ => {
                        let mut dirs = self.kv_dirs();
                        dirs.remove(&(caller.user.clone(), old));
                        dirs.insert((caller.user.clone(), new));
                        Ok(())
                    }
                }
            }
        }
    }
}
