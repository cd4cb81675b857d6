//! Transports move whole frames (one JSON-RPC message each). stdio frames are lines;
//! a websocket transport would frame by message. The connection only sees these traits.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::mpsc;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Default ceiling for one incoming frame. Larger frames are reported and skipped without being
/// buffered, over stdio (`LineReader`) and websocket/unix (`ws.rs`, its frame filter) alike.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug)]
pub enum ReadFrame {
    Frame(String),
    /// A frame over the size limit; its bytes were discarded as they arrived.
    TooLarge {
        size: usize,
    },
    /// A frame that is not UTF-8.
    NotUtf8,
}

pub trait FrameReader: Send {
    /// The next frame, or `None` at end of stream.
    fn next_frame(&mut self) -> BoxFuture<'_, io::Result<Option<ReadFrame>>>;
}

pub trait FrameWriter: Send {
    /// Queues one frame; `flush` pushes everything queued to the peer.
    fn write_frame<'a>(&'a mut self, frame: &'a str) -> BoxFuture<'a, io::Result<()>>;
    fn flush(&mut self) -> BoxFuture<'_, io::Result<()>>;
    /// Signals end of input to the peer (stdin EOF for a child).
    fn close(&mut self) -> BoxFuture<'_, io::Result<()>>;
}

/// Newline-delimited frames over any byte stream.
pub struct LineReader<R> {
    inner: R,
    max_frame_bytes: usize,
    /// A line longer than the read buffer, in pieces; joined once, at its exact size, when its
    /// newline arrives. (Growing one buffer instead copies the line again at every doubling and
    /// touches about three times its size in fresh pages: a third of the reader's time on a
    /// 20 MB `item/completed`.)
    pieces: Vec<Vec<u8>>,
}

/// Bounds of a piece's capacity: pieces grow with the line, so a long line takes few of them.
const MIN_PIECE: usize = 64 * 1024;
const MAX_PIECE: usize = 4 * 1024 * 1024;

impl<R: AsyncBufRead + Unpin + Send> LineReader<R> {
    pub fn new(inner: R, max_frame_bytes: usize) -> Self {
        Self {
            inner,
            max_frame_bytes,
            pieces: Vec::new(),
        }
    }

    async fn read_line(&mut self) -> io::Result<Option<ReadFrame>> {
        // The common case: the whole line is in the buffer. It is copied once, into a string of
        // exactly its size, which then becomes the notification's frame as it is.
        let available = self.inner.fill_buf().await?;
        if let Some(pos) = memchr_newline(available) {
            let line = &available[..pos];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let frame = if pos > self.max_frame_bytes {
                ReadFrame::TooLarge { size: pos }
            } else {
                match std::str::from_utf8(line) {
                    Ok(s) => ReadFrame::Frame(s.to_owned()),
                    Err(_) => ReadFrame::NotUtf8,
                }
            };
            self.inner.consume(pos + 1);
            return Ok(Some(frame));
        }
        self.pieces.clear();
        let mut size = 0usize;
        let mut too_large = false;
        loop {
            let available = self.inner.fill_buf().await?;
            if available.is_empty() {
                // EOF: a final unterminated line still counts as a frame.
                if size == 0 {
                    return Ok(None);
                }
                break;
            }
            let (chunk, found_newline) = match memchr_newline(available) {
                Some(pos) => (&available[..pos], Some(pos)),
                None => (available, None),
            };
            size += chunk.len();
            if !too_large {
                if size > self.max_frame_bytes {
                    too_large = true;
                    self.pieces = Vec::new();
                } else {
                    append_piece(&mut self.pieces, chunk, size);
                }
            }
            let consumed = found_newline.map_or(chunk.len(), |pos| pos + 1);
            self.inner.consume(consumed);
            if found_newline.is_some() {
                break;
            }
        }
        if too_large {
            return Ok(Some(ReadFrame::TooLarge { size }));
        }
        let mut bytes = Vec::with_capacity(size);
        for piece in self.pieces.drain(..) {
            bytes.extend_from_slice(&piece);
        }
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        Ok(Some(match String::from_utf8(bytes) {
            Ok(s) => ReadFrame::Frame(s),
            Err(_) => ReadFrame::NotUtf8,
        }))
    }
}

/// Appends `chunk` to the last piece, or to a new one sized for a line of `size` bytes so far.
fn append_piece(pieces: &mut Vec<Vec<u8>>, chunk: &[u8], size: usize) {
    match pieces.last_mut() {
        Some(last) if last.capacity() - last.len() >= chunk.len() => last.extend_from_slice(chunk),
        _ => {
            let mut piece = Vec::with_capacity(size.clamp(MIN_PIECE, MAX_PIECE).max(chunk.len()));
            piece.extend_from_slice(chunk);
            pieces.push(piece);
        }
    }
}

fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', bytes)
}

impl<R: AsyncBufRead + Unpin + Send> FrameReader for LineReader<R> {
    fn next_frame(&mut self) -> BoxFuture<'_, io::Result<Option<ReadFrame>>> {
        Box::pin(async move {
            loop {
                match self.read_line().await? {
                    // Blank lines carry nothing; skip them rather than reporting garbage.
                    Some(ReadFrame::Frame(s)) if s.trim().is_empty() => continue,
                    other => return Ok(other),
                }
            }
        })
    }
}

pub struct LineWriter<W> {
    inner: Option<W>,
}

impl<W: AsyncWrite + Unpin + Send> LineWriter<W> {
    pub fn new(inner: W) -> Self {
        Self { inner: Some(inner) }
    }

    fn inner(&mut self) -> io::Result<&mut W> {
        self.inner
            .as_mut()
            .ok_or_else(|| io::Error::new(io::ErrorKind::BrokenPipe, "writer closed"))
    }
}

impl<W: AsyncWrite + Unpin + Send> FrameWriter for LineWriter<W> {
    fn write_frame<'a>(&'a mut self, frame: &'a str) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move {
            let w = self.inner()?;
            w.write_all(frame.as_bytes()).await?;
            w.write_all(b"\n").await
        })
    }

    fn flush(&mut self) -> BoxFuture<'_, io::Result<()>> {
        Box::pin(async move { self.inner()?.flush().await })
    }

    fn close(&mut self) -> BoxFuture<'_, io::Result<()>> {
        Box::pin(async move {
            if let Some(mut w) = self.inner.take() {
                w.shutdown().await?;
            }
            Ok(())
        })
    }
}

/// What feeds a [`ChannelReader`]: chunks of bytes; an `Err` ends the stream with that error,
/// dropping every sender ends it cleanly (EOF).
pub type ChunkSender = mpsc::UnboundedSender<io::Result<Vec<u8>>>;

/// A byte stream made of chunks pushed from outside the runtime (the Node binding's `stream`
/// transport pushes a readable's `data` chunks from the JavaScript thread, which cannot await).
/// It reads the chunks in place, so a [`LineReader`] over it needs no `BufReader` copy.
/// Unbounded: the connection's reader drains it as fast as frames can be parsed, as it drains a
/// pipe.
pub struct ChannelReader {
    rx: mpsc::UnboundedReceiver<io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    pos: usize,
}

impl ChannelReader {
    pub fn new() -> (ChunkSender, ChannelReader) {
        let (tx, rx) = mpsc::unbounded_channel();
        let reader = ChannelReader {
            rx,
            chunk: Vec::new(),
            pos: 0,
        };
        (tx, reader)
    }
}

impl AsyncBufRead for ChannelReader {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        while this.pos >= this.chunk.len() {
            match this.rx.poll_recv(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    this.chunk = chunk;
                    this.pos = 0;
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                Poll::Ready(None) => return Poll::Ready(Ok(&[])),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(&this.chunk[this.pos..]))
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        let this = self.get_mut();
        this.pos = (this.pos + amt).min(this.chunk.len());
    }
}

impl AsyncRead for ChannelReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let available = match self.as_mut().poll_fill_buf(cx) {
            Poll::Ready(Ok(available)) => available,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        };
        let n = available.len().min(buf.remaining());
        buf.put_slice(&available[..n]);
        self.consume(n);
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::BufReader;

    async fn frames(input: &[u8], max: usize) -> Vec<String> {
        let mut r = LineReader::new(BufReader::with_capacity(4, input), max);
        let mut out = Vec::new();
        while let Some(f) = r.next_frame().await.unwrap() {
            out.push(match f {
                ReadFrame::Frame(s) => s,
                ReadFrame::TooLarge { size } => format!("<too large {size}>"),
                ReadFrame::NotUtf8 => "<not utf8>".into(),
            });
        }
        out
    }

    #[tokio::test]
    async fn splits_lines_across_small_reads() {
        assert_eq!(
            frames(b"{\"a\":1}\n\n{\"b\":2}\r\n{\"c\":3}", 100).await,
            ["{\"a\":1}", "{\"b\":2}", "{\"c\":3}"]
        );
    }

    #[tokio::test]
    async fn a_line_longer_than_the_buffer_is_joined_whole() {
        // Long enough for several pieces; multi-byte characters straddle piece boundaries.
        let long: String = (0..150_000)
            .map(|i| if i % 7 == 0 { 'é' } else { 'x' })
            .collect();
        let input = format!("{long}\r\nnext\n{long}");
        let mut r = LineReader::new(BufReader::with_capacity(1000, input.as_bytes()), usize::MAX);
        let mut got = Vec::new();
        while let Some(ReadFrame::Frame(s)) = r.next_frame().await.unwrap() {
            got.push(s);
        }
        assert_eq!(got.len(), 3);
        assert!(got[0] == long && got[1] == "next" && got[2] == long);
    }

    #[tokio::test]
    async fn a_channel_reader_joins_pushed_chunks_into_frames_and_ends_as_told() {
        let (tx, reader) = ChannelReader::new();
        let mut r = LineReader::new(reader, 100);
        for chunk in [
            &b"{\"a\""[..],
            b":1}\n{\"b",
            b"\":2}\n",
            b"",
            b"{\"c\":3}\n",
        ] {
            tx.send(Ok(chunk.to_vec())).unwrap();
        }
        let mut got = Vec::new();
        for _ in 0..3 {
            match r.next_frame().await.unwrap() {
                Some(ReadFrame::Frame(s)) => got.push(s),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(got, ["{\"a\":1}", "{\"b\":2}", "{\"c\":3}"]);
        // An error pushed ends the stream with it; dropping the sender is EOF.
        tx.send(Err(io::Error::other("socket reset"))).unwrap();
        let e = r.next_frame().await.unwrap_err();
        assert_eq!(e.to_string(), "socket reset");
        let (tx, reader) = ChannelReader::new();
        tx.send(Ok(b"last".to_vec())).unwrap();
        drop(tx);
        let mut r = LineReader::new(reader, 100);
        assert!(matches!(r.next_frame().await.unwrap(), Some(ReadFrame::Frame(s)) if s == "last"));
        assert!(r.next_frame().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn oversized_line_is_skipped_and_reading_continues() {
        let mut input = vec![b'x'; 50];
        input.extend_from_slice(b"\nok\n\xff\xfe\nend\n");
        assert_eq!(
            frames(&input, 10).await,
            ["<too large 50>", "ok", "<not utf8>", "end"]
        );
    }
}
