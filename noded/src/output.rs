//! Captured output of one stream (stdout or stderr) of one process: an
//! append-only log addressed by logical byte offset, kept in at most two
//! segment files `<stream>.<base offset>` of half the cap each, so a chatty
//! process never holds more than the cap on disk. Readers get the oldest
//! byte kept when they ask for rotated-away output, and can wait for more.
//!
//! A log may have a window (`SpawnRequest.output_backpressure`): the pump
//! then asks [`OutputLog::room`] before each read from the process, and
//! readers report with [`OutputLog::delivered`] how far they have sent the
//! stream, so the process is held back like a writer to a full pipe.
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

/// How far readers have taken a windowed log.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Flow {
    /// The furthest offset delivered to any reader.
    pub(crate) delivered: u64,
    /// The window no longer applies (the process has exited).
    lifted: bool,
}

/// Pipe-like flow control of one log.
#[derive(Debug)]
struct Window {
    /// Most bytes appended but not delivered before the pump must wait.
    size: u64,
    /// Raised by readers and by the reaper; the pump waits on it.
    flow: watch::Sender<Flow>,
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
    /// Backpressure, for processes that asked for it; `None` costs the
    /// pump nothing.
    window: Option<Window>,
}

impl OutputLog {
    /// A new, empty, open log for a process just started. `cap` is the
    /// most bytes kept.
    pub fn new(dir: &Path, stream: Stream, cap: u64) -> Self {
        Self::with_segments(dir, stream, cap, vec![Segment { base: 0, len: 0 }], false)
    }

    /// A new, empty, open log whose pump holds the process back while
    /// `window` bytes are undelivered (at most half of `cap`, so nothing
    /// undelivered is rotated away).
    pub fn with_window(dir: &Path, stream: Stream, cap: u64, window: u64) -> Self {
        let mut log = Self::new(dir, stream, cap);
        log.window = Some(Window {
            size: window.clamp(1, log.segment_cap),
            flow: watch::Sender::new(Flow::default()),
        });
        log
    }

    /// The log of a process from an earlier run of noded, closed.
    pub fn restore(dir: &Path, stream: Stream, cap: u64) -> Self {
        let mut list = Self::scan(dir, stream);
        if list.is_empty() {
            list.push(Segment { base: 0, len: 0 });
        }
        Self::with_segments(dir, stream, cap, list, true)
    }

    /// The segments of `stream` on disk, oldest first.
    fn scan(dir: &Path, stream: Stream) -> Vec<Segment> {
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
        list
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
            window: None,
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

    /// Whether the log holds its process back (it has a window).
    pub fn has_window(&self) -> bool {
        self.window.is_some()
    }

    /// Waits until the pump may read more from the process and returns
    /// how much, at most `max`. Without a window, or once it is lifted,
    /// that is `max` at once; with one, it is what keeps the undelivered
    /// bytes within the window, waiting while there is no room.
    pub async fn room(&self, max: usize) -> usize {
        let Some(window) = &self.window else {
            return max;
        };
        let mut flow = window.flow.subscribe();
        loop {
            // Only the pump (our caller) moves the end, so it cannot change
            // while we wait; readers and the reaper wake `changed`.
            let now = *flow.borrow_and_update();
            if now.lifted {
                return max;
            }
            let pending = self.pos().end.saturating_sub(now.delivered);
            if pending < window.size {
                return (window.size - pending).min(max as u64) as usize;
            }
            if flow.changed().await.is_err() {
                // The sender lives in `self`, which we borrow.
                return max;
            }
        }
    }

    /// A reader has sent the stream up to `offset` (or starts following
    /// it there): the pump may read ahead of the furthest such offset by
    /// the window. Offsets past the end count as the end.
    pub fn delivered(&self, offset: u64) {
        let Some(window) = &self.window else {
            return;
        };
        let offset = offset.min(self.pos().end);
        window.flow.send_if_modified(|f| {
            let raise = offset > f.delivered;
            if raise {
                f.delivered = offset;
            }
            raise
        });
    }

    /// Stops holding the process back: it has exited, so whatever is left
    /// in its pipe is read to the end.
    pub fn lift_window(&self) {
        if let Some(window) = &self.window {
            window.flow.send_modify(|f| f.lifted = true);
        }
    }

    /// Where a reader that wants only output not yet taken starts: with a
    /// window, the first byte no reader has been sent (output waiting in
    /// the window is still "in the pipe"); without one, the end.
    pub fn undelivered(&self) -> u64 {
        let end = self.pos().end;
        match &self.window {
            Some(window) => window.flow.borrow().delivered.min(end),
            None => end,
        }
    }

    /// Wakes when readers take a windowed log further (`None` without a
    /// window).
    pub(crate) fn flow(&self) -> Option<watch::Receiver<Flow>> {
        self.window.as_ref().map(|w| w.flow.subscribe())
    }

    /// The segments on disk as `(base, len)`, oldest first.
    pub fn segments(&self) -> Vec<(u64, u64)> {
        self.segments
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .list
            .iter()
            .map(|s| (s.base, s.len))
            .collect()
    }

    /// The furthest offset delivered to a reader (0 without a window).
    pub fn delivered_offset(&self) -> u64 {
        self.window
            .as_ref()
            .map_or(0, |w| w.flow.borrow().delivered)
    }

    /// Makes this log a reader's copy of one written by another process
    /// (the keeper): takes its segments, whether it is final and how far
    /// readers took it. Wakes followers when it grew or closed.
    pub fn mirror(&self, segments: &[(u64, u64)], closed: bool, delivered: u64) {
        if let Some(&(base, len)) = segments.last() {
            let mut seg = self.segments.lock().unwrap_or_else(|e| e.into_inner());
            seg.list = segments
                .iter()
                .map(|&(base, len)| Segment { base, len })
                .collect();
            drop(seg);
            self.pos.send_if_modified(|p| {
                let next = LogPos {
                    end: p.end.max(base + len),
                    closed: p.closed || closed,
                };
                let changed = next != *p;
                *p = next;
                changed
            });
        } else if closed {
            self.pos
                .send_if_modified(|p| !std::mem::replace(&mut p.closed, true));
        }
        self.delivered(delivered);
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
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    // Rotated away since the list was taken (by the keeper,
                    // whose next report may not be here yet): what is on
                    // disk now is the truth.
                    let on_disk = Self::scan(&self.dir, self.stream);
                    if !on_disk.is_empty() {
                        self.segments.lock().unwrap_or_else(|e| e.into_inner()).list = on_disk;
                    }
                    continue;
                }
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
    use std::sync::Arc;

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

    /// Polls a future once: whether it is ready now.
    fn now<F: std::future::Future>(f: F) -> Option<F::Output> {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let mut f = std::pin::pin!(f);
        match f.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => Some(v),
            std::task::Poll::Pending => None,
        }
    }

    #[test]
    fn without_a_window_the_pump_never_waits() {
        let dir = tempfile::tempdir().unwrap();
        let log = OutputLog::new(dir.path(), Stream::Stdout, 20);
        log.append(&[b'x'; 100]).unwrap();
        assert!(!log.has_window());
        assert_eq!(now(log.room(64)), Some(64));
        assert_eq!(log.undelivered(), 100);
    }

    #[test]
    fn the_window_holds_the_pump_until_a_reader_catches_up() {
        let dir = tempfile::tempdir().unwrap();
        let log = OutputLog::with_window(dir.path(), Stream::Stdout, 1000, 10);
        assert_eq!(now(log.room(64)), Some(10));
        log.append(b"0123456").unwrap();
        assert_eq!(now(log.room(64)), Some(3), "only what fills the window");
        log.append(b"789").unwrap();
        assert_eq!(now(log.room(64)), None, "a full window waits");
        assert_eq!(log.undelivered(), 0);

        log.delivered(4);
        assert_eq!(now(log.room(64)), Some(4));
        log.delivered(2);
        assert_eq!(now(log.room(64)), Some(4), "the furthest reader counts");
        assert_eq!(log.undelivered(), 4);
        log.delivered(1_000);
        assert_eq!(log.undelivered(), 10, "delivery stops at the end");
        assert_eq!(now(log.room(64)), Some(10));
    }

    #[tokio::test]
    async fn a_waiting_pump_wakes_on_delivery_and_on_lifting() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(OutputLog::with_window(dir.path(), Stream::Stderr, 1000, 4));
        log.append(b"abcd").unwrap();
        let waiting = tokio::spawn({
            let log = log.clone();
            async move { log.room(64).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        log.delivered(3);
        assert_eq!(waiting.await.unwrap(), 3);

        log.append(b"efg").unwrap();
        let waiting = tokio::spawn({
            let log = log.clone();
            async move { log.room(64).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        log.lift_window();
        assert_eq!(waiting.await.unwrap(), 64, "a lifted window is no limit");
    }

    #[test]
    fn the_window_never_exceeds_what_rotation_keeps() {
        let dir = tempfile::tempdir().unwrap();
        let log = OutputLog::with_window(dir.path(), Stream::Stdout, 20, 1_000);
        log.append(&[b'x'; 10]).unwrap();
        assert_eq!(now(log.room(64)), None, "window clamped to half the cap");
    }

    #[test]
    fn a_mirror_reads_what_another_writer_wrote_even_across_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let writer = OutputLog::new(dir.path(), Stream::Stdout, 20);
        let reader = OutputLog::new(dir.path(), Stream::Stdout, 20);
        writer.append(b"0123456789").unwrap();
        reader.mirror(&writer.segments(), false, 0);
        assert_eq!(reader.pos().end, 10);
        assert_eq!(reader.read_at(0, 100).unwrap(), (0, b"0123456789".to_vec()));
        // The writer rotates twice; the reader's report is stale.
        writer.append(b"abcdefghij").unwrap();
        writer.append(b"ABCDEFGHIJ").unwrap();
        assert_eq!(
            reader.read_at(0, 100).unwrap(),
            (10, b"abcdefghij".to_vec())
        );
        reader.mirror(&writer.segments(), true, 0);
        assert_eq!(
            reader.pos(),
            LogPos {
                end: 30,
                closed: true
            }
        );
        assert_eq!(
            reader.read_at(20, 100).unwrap(),
            (20, b"ABCDEFGHIJ".to_vec())
        );
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
