//! A frame-level filter between the socket and tungstenite, so that an incoming message over
//! `maxMessageBytes` or one that is not UTF-8 can be reported and skipped, as on stdio, instead
//! of ending the connection (tungstenite's stream is unusable after any error, and it has no way
//! to skip a message).
//!
//! It reads the server's frame headers (RFC 6455 5.2) as the bytes go by:
//! - a data message whose payload would pass `max` bytes is not handed on from that frame on:
//!   the rest of its payload (its continuation frames too) is read and dropped as it arrives,
//!   never buffered, and in place of its final frame tungstenite gets an empty final frame
//!   (binary, or a continuation when part of the message was handed on already). The message's
//!   sequence number and full size go into [`Oversized`], where the reader finds them when
//!   tungstenite yields that (truncated) message, and reports `TooLarge` instead. Control frames
//!   in the middle of a dropped message pass as they are (pings are still answered);
//! - text frames are handed on as binary (opcode 1 -> 2): tungstenite validates UTF-8 only for
//!   text, and fails the connection on bad UTF-8; the reader checks it and reports `NotUtf8`.
//!
//! Until the handshake's response head is complete the bytes pass unparsed, and never past the
//! head's end: tungstenite keeps what it reads beyond the head as the first frames, which would
//! then bypass the filter. After a response other than 101 everything passes (tungstenite reads
//! the error body).

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// How much is read from the socket at once (tungstenite's own read chunk is 128 KiB).
const CHUNK: usize = 64 * 1024;
/// A response head longer than this is not a codex answer: the filter stops looking for its end
/// and lets tungstenite fail on it.
const MAX_HEAD: usize = 16 * 1024;

/// Messages the filter dropped, for the reader: (sequence number among data messages, size).
#[derive(Default)]
pub(super) struct Oversized {
    /// Entries in `queue`: read on every message, the lock taken only when there are some.
    pending: AtomicUsize,
    queue: Mutex<VecDeque<(u64, u64)>>,
}

impl Oversized {
    fn push(&self, seq: u64, size: u64) {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        queue.push_back((seq, size));
        self.pending.store(queue.len(), Ordering::Release);
    }

    /// The full size of data message `seq` (counted from 0) if it was dropped.
    pub(super) fn take(&self, seq: u64) -> Option<u64> {
        if self.pending.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        match queue.front() {
            Some(&(s, size)) if s == seq => {
                queue.pop_front();
                self.pending.store(queue.len(), Ordering::Release);
                Some(size)
            }
            _ => None,
        }
    }
}

enum Mode {
    /// Reading the handshake response head; `head` holds it so far.
    Handshake {
        head: Vec<u8>,
    },
    /// Not a WebSocket connection (a refused handshake): bytes pass as they are.
    Passthrough,
    Frames,
}

/// The data message being received.
struct Message {
    /// Payload bytes so far, its dropped frames included.
    size: u64,
    /// Whether a frame of it was handed on (its replacement end is then a continuation).
    handed_on: bool,
    dropping: bool,
}

pub(super) struct Filter<S> {
    inner: S,
    max: u64,
    oversized: Arc<Oversized>,
    mode: Mode,
    /// Read from the socket, not yet looked at: `buf[start..end]`.
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    /// The frame header being read.
    header: [u8; 14],
    header_len: usize,
    /// Header bytes to hand on before anything else: `out[out_start..out_len]`.
    out: [u8; 14],
    out_start: usize,
    out_len: usize,
    /// Payload bytes of the current frame still to hand on, or to drop.
    forward: u64,
    discard: u64,
    message: Option<Message>,
    /// Data messages completed (handed on or replaced) so far.
    completed: u64,
}

impl<S> Filter<S> {
    pub(super) fn new(inner: S, max: usize, oversized: Arc<Oversized>) -> Self {
        Filter {
            inner,
            max: max as u64,
            oversized,
            mode: Mode::Handshake { head: Vec::new() },
            buf: vec![0; CHUNK].into_boxed_slice(),
            start: 0,
            end: 0,
            header: [0; 14],
            header_len: 0,
            out: [0; 14],
            out_start: 0,
            out_len: 0,
            forward: 0,
            discard: 0,
            message: None,
            completed: 0,
        }
    }

    fn emit(&mut self, header: &[u8]) {
        self.out[..header.len()].copy_from_slice(header);
        self.out_start = 0;
        self.out_len = header.len();
    }

    /// Takes header bytes from `buf`; decides what to do with the frame once it is complete.
    fn read_header(&mut self) {
        while self.start < self.end {
            let needed = header_size(&self.header[..self.header_len]);
            if self.header_len == needed {
                break;
            }
            let take = (needed - self.header_len).min(self.end - self.start);
            self.header[self.header_len..self.header_len + take]
                .copy_from_slice(&self.buf[self.start..self.start + take]);
            self.header_len += take;
            self.start += take;
        }
        let needed = header_size(&self.header[..self.header_len]);
        if self.header_len < needed {
            return;
        }
        let header = self.header;
        let header = &header[..needed];
        self.header_len = 0;
        self.on_frame(header);
    }

    fn on_frame(&mut self, header: &[u8]) {
        let fin = header[0] & 0x80 != 0;
        let opcode = header[0] & 0x0f;
        let len = payload_len(header);
        // Control frames, reserved opcodes, a continuation without a message: handed on as
        // they are (tungstenite answers pings, and refuses what is not allowed).
        let data = opcode <= 2 && (opcode != 0 || self.message.is_some());
        if !data {
            self.emit(header);
            self.forward = len;
            return;
        }
        if opcode != 0 {
            // A new message (one interrupting an unfinished one is tungstenite's to refuse).
            self.message = Some(Message {
                size: 0,
                handed_on: false,
                dropping: false,
            });
        }
        let max = self.max;
        let Some(message) = self.message.as_mut() else {
            return;
        };
        message.size = message.size.saturating_add(len);
        if message.dropping || message.size > max {
            message.dropping = true;
            self.discard = len;
            if fin {
                // The message ends here: tungstenite gets an empty end for it.
                let opcode = if message.handed_on { 0x0 } else { 0x2 };
                let size = message.size;
                self.message = None;
                self.emit(&[0x80 | opcode, 0]);
                self.oversized.push(self.completed, size);
                self.completed += 1;
            }
            return;
        }
        message.handed_on = true;
        if fin {
            self.message = None;
            self.completed += 1;
        }
        // Text as binary: the reader checks UTF-8 itself, and reports a bad message.
        let mut rewritten = [0u8; 14];
        rewritten[..header.len()].copy_from_slice(header);
        if opcode == 0x1 {
            rewritten[0] = (rewritten[0] & 0xf0) | 0x2;
        }
        self.emit(&rewritten[..header.len()]);
        self.forward = len;
    }

    /// The common case in one step: a whole data frame within the limit, its header and payload
    /// in `buf` and room for both in `out`, handed on without going through `header`/`out`
    /// (`ws_throughput`: 210 -> 191 ns per 123 B message; 175 without the filter, bench/README.md).
    /// False if it is not that.
    fn pass_whole_frame(&mut self, out: &mut ReadBuf<'_>) -> bool {
        let available = &self.buf[self.start..self.end];
        let size = header_size(available);
        if available.len() < size {
            return false;
        }
        let head = &available[..size];
        let opcode = head[0] & 0x0f;
        let len = payload_len(head);
        let total = size as u64 + len;
        let fits = total <= available.len() as u64 && total <= out.remaining() as u64;
        // Data frames that do not touch the message state beyond counting it.
        let simple = match (opcode, &self.message) {
            (0x1 | 0x2, None) => head[0] & 0x80 != 0 && len <= self.max,
            _ => false,
        };
        if !(fits && simple) {
            return false;
        }
        let total = total as usize;
        let first = if opcode == 0x1 {
            (head[0] & 0xf0) | 0x2
        } else {
            head[0]
        };
        out.put_slice(&[first]);
        out.put_slice(&available[1..total]);
        self.start += total;
        self.completed += 1;
        true
    }

    /// Moves what is ready from the filter's state into `out`: header bytes, then payload
    /// (handed on or dropped). Returns once `out` is full or `buf` is used up.
    fn process(&mut self, out: &mut ReadBuf<'_>) {
        loop {
            if self.out_start < self.out_len {
                let n = (self.out_len - self.out_start).min(out.remaining());
                out.put_slice(&self.out[self.out_start..self.out_start + n]);
                self.out_start += n;
                if self.out_start < self.out_len {
                    return;
                }
            }
            if out.remaining() == 0 || self.start == self.end {
                return;
            }
            let available = self.end - self.start;
            match &mut self.mode {
                Mode::Passthrough => {
                    let n = available.min(out.remaining());
                    out.put_slice(&self.buf[self.start..self.start + n]);
                    self.start += n;
                }
                Mode::Handshake { head } => {
                    // Byte by byte up to the end of the head: it is short, and read once.
                    let n = available.min(out.remaining());
                    let mut taken = 0;
                    let mut done = false;
                    while taken < n {
                        head.push(self.buf[self.start + taken]);
                        taken += 1;
                        if head.ends_with(b"\r\n\r\n") {
                            done = true;
                            break;
                        }
                    }
                    out.put_slice(&self.buf[self.start..self.start + taken]);
                    self.start += taken;
                    if done {
                        if is_switching_protocols(head) {
                            // What follows the head is frames, for the next read: tungstenite
                            // would keep what this one returns past the head unfiltered.
                            self.mode = Mode::Frames;
                            return;
                        }
                        // A refusal: its body is read with the head (for the error message).
                        self.mode = Mode::Passthrough;
                        continue;
                    }
                    if head.len() > MAX_HEAD {
                        self.mode = Mode::Passthrough;
                    }
                }
                Mode::Frames => {
                    if self.forward > 0 {
                        let n = clamp(self.forward, available.min(out.remaining()));
                        out.put_slice(&self.buf[self.start..self.start + n]);
                        self.start += n;
                        self.forward -= n as u64;
                    } else if self.discard > 0 {
                        let n = clamp(self.discard, available);
                        self.start += n;
                        self.discard -= n as u64;
                    } else if self.header_len > 0 || !self.pass_whole_frame(out) {
                        self.read_header();
                    }
                }
            }
        }
    }
}

/// `limit` bytes, but no more than `available`.
fn clamp(limit: u64, available: usize) -> usize {
    usize::try_from(limit).map_or(available, |l| l.min(available))
}

/// Whether a response head is a `101` (the status code is the second word of its first line).
fn is_switching_protocols(head: &[u8]) -> bool {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    line.split(|&b| b == b' ').nth(1) == Some(&b"101"[..])
}

impl<S: AsyncRead + Unpin> AsyncRead for Filter<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = out.filled().len();
        loop {
            this.process(out);
            // Something for the caller (or no room for it): done. Returning nothing would
            // read as the end of the stream.
            if out.filled().len() > before || out.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            // `buf` is used up (only dropped bytes, or a partial header, were in it).
            this.start = 0;
            this.end = 0;
            let mut read = ReadBuf::new(&mut this.buf);
            match Pin::new(&mut this.inner).poll_read(cx, &mut read) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => {
                    let n = read.filled().len();
                    if n == 0 {
                        // The end of the stream (mid-frame or not: tungstenite says which).
                        return Poll::Ready(Ok(()));
                    }
                    this.end = n;
                }
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Filter<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The size of the frame header that starts with `head` (2 until its second byte is known).
fn header_size(head: &[u8]) -> usize {
    let Some(&second) = head.get(1) else {
        return 2;
    };
    let extended = match second & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mask = if second & 0x80 != 0 { 4 } else { 0 };
    2 + extended + mask
}

/// The payload length of a complete frame header.
fn payload_len(header: &[u8]) -> u64 {
    match header[1] & 0x7f {
        126 => u64::from(u16::from_be_bytes([header[2], header[3]])),
        127 => {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&header[2..10]);
            u64::from_be_bytes(bytes)
        }
        n => u64::from(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// Gives `data` back a few bytes per read (1, 2, 3, ... `most`, 1, ...): with a small
    /// `most`, headers and the head end up split across reads.
    struct Trickle {
        data: Vec<u8>,
        at: usize,
        step: usize,
        most: usize,
    }

    impl AsyncRead for Trickle {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            out: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            self.step = self.step % self.most + 1;
            let n = self
                .step
                .min(self.data.len() - self.at)
                .min(out.remaining());
            let at = self.at;
            out.put_slice(&self.data[at..at + n]);
            self.at += n;
            Poll::Ready(Ok(()))
        }
    }

    fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
        match payload.len() {
            n if n < 126 => out.push(n as u8),
            n if n <= 0xffff => {
                out.push(126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(payload);
        out
    }

    /// `input` through a filter, read `most` bytes at a time at most, into reads of `room`.
    async fn filtered(
        input: Vec<u8>,
        max: usize,
        most: usize,
        room: usize,
    ) -> (Vec<u8>, Arc<Oversized>) {
        let oversized = Arc::new(Oversized::default());
        let source = Trickle {
            data: input,
            at: 0,
            step: most - 1,
            most,
        };
        let mut filter = Filter::new(source, max, Arc::clone(&oversized));
        let mut out = Vec::new();
        let mut read = vec![0u8; room];
        loop {
            let n = filter.read(&mut read).await.unwrap();
            if n == 0 {
                return (out, oversized);
            }
            out.extend_from_slice(&read[..n]);
        }
    }

    #[tokio::test]
    async fn frames_are_handed_on_dropped_and_replaced_across_split_reads() {
        let head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n".to_vec();
        let mut input = head.clone();
        let mut expected = head;
        // Text handed on as binary.
        input.extend(frame(true, 0x1, b"{\"a\":1}"));
        expected.extend(frame(true, 0x2, b"{\"a\":1}"));
        // Over the limit from its first frame, a ping in the middle: the ping passes, the
        // message becomes one empty binary frame.
        input.extend(frame(false, 0x1, &[b'x'; 300]));
        input.extend(frame(true, 0x9, b"p"));
        input.extend(frame(true, 0x0, &[b'x'; 5]));
        expected.extend(frame(true, 0x9, b"p"));
        expected.extend(frame(true, 0x2, b""));
        // Over the limit at its second frame: the first passes, the end is an empty
        // continuation.
        input.extend(frame(false, 0x2, &[b'y'; 150]));
        input.extend(frame(false, 0x0, &[b'y'; 100]));
        input.extend(frame(true, 0x0, &[b'y'; 100]));
        expected.extend(frame(false, 0x2, &[b'y'; 150]));
        expected.extend(frame(true, 0x0, b""));
        // At the limit, fragmented: passes whole.
        input.extend(frame(false, 0x1, &[b'z'; 100]));
        input.extend(frame(true, 0x0, &[b'z'; 100]));
        expected.extend(frame(false, 0x2, &[b'z'; 100]));
        expected.extend(frame(true, 0x0, &[b'z'; 100]));
        // A 16-bit length over the limit, then a close frame.
        input.extend(frame(true, 0x1, &[b'w'; 70_000]));
        input.extend(frame(true, 0x8, &[0x03, 0xe8]));
        expected.extend(frame(true, 0x2, b""));
        expected.extend(frame(true, 0x8, &[0x03, 0xe8]));

        // Split everywhere; whole frames in one read (the one-step path); in between.
        for (most, room) in [(7, 5), (1 << 20, 1 << 20), (13, 4096), (1 << 20, 9)] {
            let (out, oversized) = filtered(input.clone(), 200, most, room).await;
            assert!(out == expected, "filtered stream differs ({most}, {room})");
            // Data messages 1, 2 and 4 (from 0) were dropped, with their full sizes.
            assert_eq!(oversized.take(0), None);
            assert_eq!(oversized.take(1), Some(305));
            assert_eq!(oversized.take(2), Some(350));
            assert_eq!(oversized.take(3), None);
            assert_eq!(oversized.take(4), Some(70_000));
            assert_eq!(oversized.pending.load(Ordering::Acquire), 0);
        }
    }

    #[tokio::test]
    async fn a_refused_handshake_passes_unparsed() {
        let mut input = b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 4\r\n\r\nnope".to_vec();
        input.extend(frame(true, 0x1, &[b'x'; 300]));
        for (most, room) in [(3, 5), (1 << 20, 1 << 20)] {
            let (out, _) = filtered(input.clone(), 10, most, room).await;
            assert!(out == input);
        }
    }
}
