//! Captured output of one stream (stdout or stderr) of one process: an
//! append-only log addressed by logical byte offset, kept in at most two
//! segment files `<stream>.<base offset>` of half the cap each, so a chatty
//! process never holds more than the cap on disk. Readers get the oldest
//! byte kept when they ask for rotated-away output, and can wait for more.
//!
//! The pump (supervisor.rs) appends; the API reads. Files are small page-cache
//! writes and reads, done inline (the pump) or on the blocking pool (readers).

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tokio::sync::watch;

/// Which stream a log holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Standard output (or the terminal).
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    /// File name prefix.
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// How far a log has been written, and whether more can come.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogPos {
    /// Logical offset one past the last byte written.
    pub end: u64,
    /// No writer is left: the end is final.
    pub closed: bool,
}

#[derive(Clone, Copy, Debug)]
struct Segment {
    base: u64,
    len: u64,
}

#[derive(Debug)]
struct Segments {
    /// Oldest first; at most two.
    list: Vec<Segment>,
    /// The newest segment's file, opened on the first write.
    file: Option<File>,
}

/// One captured stream.
#[derive(Debug)]
pub struct OutputLog {
    dir: PathBuf,
    stream: Stream,
    segment_cap: u64,
    /// The pump appends while readers look up segments; held only for the
    /// file write or a copy of the list, never across an await.
    segments: Mutex<Segments>,
    /// Publishes the end offset so readers following the log can wait.
    pos: watch::Sender<LogPos>,
}

impl OutputLog {
    /// A new, empty, open log for a process just started. `cap` is the
    /// most bytes kept.
    pub fn new(dir: &Path, stream: Stream, cap: u64) -> Self {
        Self::with_segments(dir, stream, cap, vec![Segment { base: 0, len: 0 }], false)
    }

    /// The log of a process from an earlier run of noded, closed.
    pub fn restore(dir: &Path, stream: Stream, cap: u64) -> Self {
        let prefix = format!("{}.", stream.name());
        let mut list: Vec<Segment> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                let base = name.strip_prefix(&prefix)?.parse::<u64>().ok()?;
                Some(Segment {
                    base,
                    len: entry.metadata().ok()?.len(),
                })
            })
            .collect();
        list.sort_by_key(|s| s.base);
        if list.is_empty() {
            list.push(Segment { base: 0, len: 0 });
        }
        Self::with_segments(dir, stream, cap, list, true)
    }

    fn with_segments(
        dir: &Path,
        stream: Stream,
        cap: u64,
        list: Vec<Segment>,
        closed: bool,
    ) -> Self {
        let last = list.last().copied().unwrap_or(Segment { base: 0, len: 0 });
        OutputLog {
            dir: dir.to_path_buf(),
            stream,
            segment_cap: (cap / 2).max(1),
            segments: Mutex::new(Segments { list, file: None }),
            pos: watch::Sender::new(LogPos {
                end: last.base + last.len,
                closed,
            }),
        }
    }

    fn segment_path(&self, base: u64) -> PathBuf {
        self.dir.join(format!("{}.{base}", self.stream.name()))
    }

    /// Appends bytes, rotating when the newest segment is full. Segments
    /// never exceed half the cap, so the two kept never exceed the cap.
    pub fn append(&self, mut data: &[u8]) -> std::io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        let end = {
            let mut seg = self.segments.lock().unwrap_or_else(|e| e.into_inner());
            while !data.is_empty() {
                let mut last = *seg.list.last().expect("a log always has a segment");
                if last.len >= self.segment_cap {
                    last = Segment {
                        base: last.base + last.len,
                        len: 0,
                    };
                    seg.list.push(last);
                    seg.file = None;
                    while seg.list.len() > 2 {
                        let old = seg.list.remove(0);
                        let _ = std::fs::remove_file(self.segment_path(old.base));
                    }
                }
                if seg.file.is_none() {
                    seg.file = Some(self.open_segment(last.base)?);
                }
                let room = (self.segment_cap - last.len).min(data.len() as u64) as usize;
                let file = seg.file.as_mut().expect("opened above");
                file.write_all(&data[..room])?;
                seg.list.last_mut().expect("a log always has a segment").len += room as u64;
                data = &data[room..];
            }
            let newest = seg.list.last().expect("a log always has a segment");
            newest.base + newest.len
        };
        self.pos.send_modify(|p| p.end = end);
        Ok(())
    }

    /// Opens a segment for appending; the directory is made on the first
    /// byte of output, so a silent process costs no files.
    fn open_segment(&self, base: u64) -> std::io::Result<File> {
        let open = || {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.segment_path(base))
        };
        match open() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(&self.dir)?;
                open()
            }
            result => result,
        }
    }

    /// Marks the log final: followers stop at its end.
    pub fn close(&self) {
        self.segments.lock().unwrap_or_else(|e| e.into_inner()).file = None;
        self.pos.send_modify(|p| p.closed = true);
    }

    /// Where the log stands now.
    pub fn pos(&self) -> LogPos {
        *self.pos.borrow()
    }

    /// A receiver that wakes when the log grows or closes.
    pub fn subscribe(&self) -> watch::Receiver<LogPos> {
        self.pos.subscribe()
    }

    /// Reads up to `max` bytes from `offset` (blocking file I/O). Returns the
    /// offset actually read from, which is later than `offset` when that
    /// output was rotated away, and the bytes (empty at the end).
    pub fn read_at(&self, offset: u64, max: usize) -> std::io::Result<(u64, Vec<u8>)> {
        // A segment can be deleted between the lookup and the open: retry
        // with the fresh list.
        for _ in 0..3 {
            let list = self
                .segments
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .list
                .clone();
            let oldest = list.first().map_or(0, |s| s.base);
            let offset = offset.max(oldest);
            let Some(seg) = list.iter().find(|s| s.base + s.len > offset) else {
                return Ok((offset, Vec::new()));
            };
            let want = (seg.base + seg.len - offset).min(max as u64) as usize;
            let file = match File::open(self.segment_path(seg.base)) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let mut buf = vec![0; want];
            let n = file.read_at(&mut buf, offset - seg.base)?;
            buf.truncate(n);
            return Ok((offset, buf));
        }
        Err(std::io::Error::other(
            "output segment rotated away while reading",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_was_written_from_any_offset() {
        let dir = tempfile::tempdir().unwrap();
        let log = OutputLog::new(dir.path(), Stream::Stdout, 1 << 20);
        log.append(b"hello ").unwrap();
        log.append(b"world").unwrap();
        assert_eq!(
            log.pos(),
            LogPos {
                end: 11,
                closed: false
            }
        );
        assert_eq!(log.read_at(0, 100).unwrap(), (0, b"hello world".to_vec()));
        assert_eq!(log.read_at(6, 3).unwrap(), (6, b"wor".to_vec()));
        assert_eq!(log.read_at(11, 100).unwrap(), (11, vec![]));
        log.close();
        assert!(log.pos().closed);
    }

    #[test]
    fn rotation_keeps_at_most_the_cap_and_skips_to_the_oldest_byte() {
        let dir = tempfile::tempdir().unwrap();
        let log = OutputLog::new(dir.path(), Stream::Stderr, 20);
        log.append(b"0123456789abcde").unwrap();
        log.append(b"fghij").unwrap();
        log.append(b"ABCDEFGHIJklmnopqrst").unwrap();
        assert_eq!(log.pos().end, 40);
        let on_disk: u64 = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum();
        assert!(on_disk <= 20, "{on_disk} bytes on disk");
        let (off, data) = log.read_at(0, 100).unwrap();
        assert_eq!((off, data.as_slice()), (20, &b"ABCDEFGHIJ"[..]));
        assert_eq!(log.read_at(30, 100).unwrap().1, b"klmnopqrst");
    }

    #[test]
    fn a_restored_log_is_closed_and_complete() {
        let dir = tempfile::tempdir().unwrap();
        let log = OutputLog::new(dir.path(), Stream::Stdout, 20);
        log.append(b"0123456789").unwrap();
        log.append(b"abcdefghij").unwrap();
        log.append(b"xyz").unwrap();
        drop(log);
        let again = OutputLog::restore(dir.path(), Stream::Stdout, 20);
        assert_eq!(
            again.pos(),
            LogPos {
                end: 23,
                closed: true
            }
        );
        assert_eq!(again.read_at(0, 100).unwrap(), (10, b"abcdefghij".to_vec()));
        assert_eq!(again.read_at(20, 100).unwrap(), (20, b"xyz".to_vec()));
    }
}
