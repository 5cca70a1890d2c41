//! Lets gRPC's C-core clients (Python, Ruby, PHP, C++ grpcio) call the API
//! over the Unix socket with no options.
//!
//! For a `unix:/run/x.sock` target those clients send the socket path,
//! percent-encoded, as the HTTP/2 `:authority` (`run%2Fx.sock`). The h2
//! server under tonic accepts `%` in an authority only in an IPv6 zone, so
//! it answers every such request with RST_STREAM(PROTOCOL_ERROR), and h2
//! has no setting to relax that. The authority means nothing on a Unix
//! socket, so [`AuthorityFix`] wraps each accepted Unix connection and,
//! in the request header blocks the client sends, replaces the characters
//! an authority may not hold (`%`, `/`, `\`, space) with `_` in literal
//! `:authority` values sent without Huffman coding (as C-core sends them).
//! The value keeps its length, so the HPACK dynamic table (whose entry
//! sizes count value lengths) stays the same on both sides, and later
//! indexed references to the entry resolve to the fixed value. Huffman-coded
//! values pass unchanged. Everything else (the preface, SETTINGS, DATA) is
//! passed through byte for byte. Only the Unix socket is wrapped.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The client connection preface.
const PREFACE_LEN: usize = 24;
/// HTTP/2 frame types.
const HEADERS: u8 = 0x1;
const CONTINUATION: u8 = 0x9;
/// Frame flags.
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;
/// Largest frame payload accepted before giving up on rewriting (h2's own
/// limit applies after us; larger frames just pass through).
const MAX_HELD: usize = 1 << 20;

/// A Unix stream whose incoming request headers get a usable `:authority`.
pub struct AuthorityFix<S> {
    inner: S,
    /// Bytes read from the client, not yet framed.
    incoming: Vec<u8>,
    /// Bytes ready to hand to the HTTP/2 server.
    ready: Vec<u8>,
    /// How much of `ready` was handed over.
    ready_pos: usize,
    /// Preface bytes still to pass through.
    preface_left: usize,
    /// Frames of a header block waiting for END_HEADERS.
    held: Vec<u8>,
    /// Stop parsing (something unexpected): pass everything through.
    passthrough: bool,
}

impl<S> AuthorityFix<S> {
    /// Wraps an accepted connection.
    pub fn new(inner: S) -> Self {
        AuthorityFix {
            inner,
            incoming: Vec::new(),
            ready: Vec::new(),
            ready_pos: 0,
            preface_left: PREFACE_LEN,
            held: Vec::new(),
            passthrough: false,
        }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Moves every complete unit of `incoming` to `ready`.
    fn process(&mut self) {
        if self.passthrough {
            self.ready.append(&mut self.held);
            self.ready.append(&mut self.incoming);
            return;
        }
        if self.preface_left > 0 {
            let n = self.preface_left.min(self.incoming.len());
            self.ready.extend(self.incoming.drain(..n));
            self.preface_left -= n;
            if self.preface_left > 0 {
                return;
            }
        }
        while self.incoming.len() >= 9 {
            let len = u32::from_be_bytes([0, self.incoming[0], self.incoming[1], self.incoming[2]])
                as usize;
            if len > MAX_HELD {
                self.passthrough = true;
                return self.process();
            }
            if self.incoming.len() < 9 + len {
                return;
            }
            let frame: Vec<u8> = self.incoming.drain(..9 + len).collect();
            let (kind, flags) = (frame[3], frame[4]);
            let in_block = !self.held.is_empty();
            match kind {
                HEADERS | CONTINUATION if kind == HEADERS || in_block => {
                    self.held.extend_from_slice(&frame);
                    if flags & END_HEADERS != 0 {
                        let mut block = std::mem::take(&mut self.held);
                        fix_header_block(&mut block);
                        self.ready.extend_from_slice(&block);
                    } else if self.held.len() > MAX_HELD {
                        self.passthrough = true;
                        return self.process();
                    }
                }
                _ if in_block => {
                    // A frame inside a header block is a protocol error:
                    // let h2 see it as it is.
                    self.passthrough = true;
                    self.held.extend_from_slice(&frame);
                    return self.process();
                }
                _ => self.ready.extend_from_slice(&frame),
            }
        }
    }
}

/// Fixes the `:authority` literals in the header block carried by `frames`
/// (one HEADERS frame and its CONTINUATIONs, whole, with their frame
/// headers), in place.
fn fix_header_block(frames: &mut [u8]) {
    // The fragments' positions in `frames`, in order.
    let mut parts = Vec::new();
    let mut at = 0;
    while at + 9 <= frames.len() {
        let len = u32::from_be_bytes([0, frames[at], frames[at + 1], frames[at + 2]]) as usize;
        let (kind, flags) = (frames[at + 3], frames[at + 4]);
        let mut start = at + 9;
        let mut end = (at + 9 + len).min(frames.len());
        if kind == HEADERS {
            if flags & PADDED != 0 && start < end {
                let pad = frames[start] as usize;
                start += 1;
                end = end.saturating_sub(pad).max(start);
            }
            if flags & PRIORITY != 0 {
                start = (start + 5).min(end);
            }
        }
        parts.push((start, end));
        at += 9 + len;
    }
    // Walk the block through a view of its bytes that skips frame headers.
    let positions: Vec<usize> = parts.iter().flat_map(|&(s, e)| s..e).collect();
    let byte = |i: usize, frames: &[u8]| positions.get(i).map(|&p| frames[p]);
    let mut i = 0;
    while let Some(first) = byte(i, frames) {
        // Indexed fields and table size updates carry no literal value.
        let skip = if first & 0x80 != 0 {
            Some(7)
        } else if first & 0xe0 == 0x20 {
            Some(5)
        } else {
            None
        };
        if let Some(prefix) = skip {
            match read_int(&positions, frames, i, prefix) {
                Some((_, next)) => {
                    i = next;
                    continue;
                }
                None => return,
            }
        }
        // A literal: with incremental indexing (01), else without (0000)
        // or never indexed (0001).
        let prefix = if first & 0xc0 == 0x40 { 6 } else { 4 };
        let Some((index, next)) = read_int(&positions, frames, i, prefix) else {
            return;
        };
        i = next;
        let is_authority = if index == 0 {
            let Some((name, next)) = read_string(&positions, frames, i) else {
                return;
            };
            i = next;
            name == Some(b":authority".to_vec())
        } else {
            index == 1
        };
        let Some((value_start, value_len, huffman, next)) = string_span(&positions, frames, i)
        else {
            return;
        };
        if is_authority && !huffman {
            for &p in &positions[value_start..value_start + value_len] {
                if matches!(frames[p], b'%' | b'/' | b'\\' | b' ') {
                    frames[p] = b'_';
                }
            }
        }
        i = next;
    }
}

/// Reads an HPACK integer with an `n`-bit prefix at `i`: (value, next).
fn read_int(positions: &[usize], frames: &[u8], i: usize, n: u32) -> Option<(u64, usize)> {
    let at = |k: usize| positions.get(k).map(|&p| frames[p]);
    let max = (1u64 << n) - 1;
    let mut value = u64::from(at(i)?) & max;
    let mut k = i + 1;
    if value < max {
        return Some((value, k));
    }
    let mut shift = 0;
    loop {
        let b = at(k)?;
        k += 1;
        value += u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some((value, k));
        }
        shift += 7;
        if shift > 56 {
            return None;
        }
    }
}

/// A string literal at `i`: (start of its bytes, length, Huffman?, next).
fn string_span(
    positions: &[usize],
    frames: &[u8],
    i: usize,
) -> Option<(usize, usize, bool, usize)> {
    let huffman = frames[*positions.get(i)?] & 0x80 != 0;
    let (len, start) = read_int(positions, frames, i, 7)?;
    let len = usize::try_from(len).ok()?;
    let end = start.checked_add(len)?;
    (end <= positions.len()).then_some((start, len, huffman, end))
}

/// A string literal's bytes (`None` inside if Huffman-coded), and next.
fn read_string(positions: &[usize], frames: &[u8], i: usize) -> Option<(Option<Vec<u8>>, usize)> {
    let (start, len, huffman, next) = string_span(positions, frames, i)?;
    let bytes = (!huffman).then(|| (start..start + len).map(|k| frames[positions[k]]).collect());
    Some((bytes, next))
}

impl<S: AsyncRead + Unpin> AsyncRead for AuthorityFix<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        loop {
            if me.ready_pos < me.ready.len() {
                let n = buf.remaining().min(me.ready.len() - me.ready_pos);
                buf.put_slice(&me.ready[me.ready_pos..me.ready_pos + n]);
                me.ready_pos += n;
                if me.ready_pos == me.ready.len() {
                    me.ready.clear();
                    me.ready_pos = 0;
                }
                return Poll::Ready(Ok(()));
            }
            let mut chunk = [0u8; 16 * 1024];
            let mut read = ReadBuf::new(&mut chunk);
            match Pin::new(&mut me.inner).poll_read(cx, &mut read) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) if read.filled().is_empty() => {
                    // EOF: hand over whatever is held, as it is.
                    me.passthrough = true;
                    me.process();
                    if me.ready.is_empty() {
                        return Poll::Ready(Ok(()));
                    }
                }
                Poll::Ready(Ok(())) => {
                    me.incoming.extend_from_slice(read.filled());
                    me.process();
                }
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for AuthorityFix<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl tonic::transport::server::Connected for AuthorityFix<tokio::net::UnixStream> {
    type ConnectInfo = tonic::transport::server::UdsConnectInfo;
    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut f = len.to_be_bytes()[1..].to_vec();
        f.extend_from_slice(&[kind, flags, 0, 0, 0, 1]);
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn a_percent_encoded_authority_is_made_valid_without_changing_lengths() {
        // As grpcio 1.85 sends it: :path literal, then :authority as a
        // literal with a new name, then an indexed field.
        let mut block = b"\x40\x05:path\x18/nefele.v1.Cluster/Nodes".to_vec();
        block.extend_from_slice(b"\x40\x0a:authority\x0etmp%2Fcap.sock\x83\x86");
        // The same with the static name index and without indexing.
        block.extend_from_slice(b"\x01\x05a%2Fb");
        // Split inside the authority's value: the fix spans frames.
        let (one, two) = block.split_at(50);
        let mut wire = frame(HEADERS, 0, one);
        wire.extend(frame(CONTINUATION, END_HEADERS, two));
        let before = wire.len();
        fix_header_block(&mut wire);
        assert_eq!(wire.len(), before);
        let text = String::from_utf8_lossy(&wire);
        assert!(
            text.contains("tmp_2") && text.contains("Fcap.sock"),
            "{text}"
        );
        assert!(!text.contains('%'), "{text}");
        assert!(text.contains("a_2Fb"), "{text}");
        assert!(
            text.contains("/nefele.v1.Cluster/Nodes"),
            "paths untouched: {text}"
        );
    }

    #[tokio::test]
    async fn the_stream_passes_everything_else_through() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut sent = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        sent.extend(frame(0x4, 0, &[0, 3, 0, 0, 0, 100]));
        sent.extend(frame(HEADERS, END_HEADERS, b"\x41\x03a%b\x82"));
        sent.extend(frame(0x0, 0x1, b"data %2F stays"));
        client.write_all(&sent).await.unwrap();
        drop(client);
        let mut fixed = AuthorityFix::new(server);
        let mut got = Vec::new();
        fixed.read_to_end(&mut got).await.unwrap();
        let mut expected = sent.clone();
        let at = expected.windows(3).position(|w| w == b"a%b").unwrap();
        expected[at + 1] = b'_';
        assert_eq!(got, expected);
    }
}
