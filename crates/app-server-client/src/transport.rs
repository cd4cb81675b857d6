//! Transports move whole frames (one JSON-RPC message each). stdio frames are lines;
//! a websocket transport would frame by message. The connection only sees these traits.

use std::future::Future;
use std::io;
use std::pin::Pin;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Default ceiling for one incoming frame. Larger frames are skipped without being buffered.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug)]
pub enum ReadFrame {
    Frame(String),
    /// A frame over the size limit; its bytes were discarded as they arrived.
    TooLarge { size: usize },
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
    line: Vec<u8>,
}

impl<R: AsyncBufRead + Unpin + Send> LineReader<R> {
    pub fn new(inner: R, max_frame_bytes: usize) -> Self {
        Self { inner, max_frame_bytes, line: Vec::new() }
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
        self.line.clear();
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
                    self.line = Vec::new();
                } else {
                    self.line.extend_from_slice(chunk);
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
        if self.line.last() == Some(&b'\r') {
            self.line.pop();
        }
        let bytes = std::mem::take(&mut self.line);
        Ok(Some(match String::from_utf8(bytes) {
            Ok(s) => ReadFrame::Frame(s),
            Err(_) => ReadFrame::NotUtf8,
        }))
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
        self.inner.as_mut().ok_or_else(|| io::Error::new(io::ErrorKind::BrokenPipe, "writer closed"))
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
        assert_eq!(frames(b"{\"a\":1}\n\n{\"b\":2}\r\n{\"c\":3}", 100).await, ["{\"a\":1}", "{\"b\":2}", "{\"c\":3}"]);
    }

    #[tokio::test]
    async fn oversized_line_is_skipped_and_reading_continues() {
        let mut input = vec![b'x'; 50];
        input.extend_from_slice(b"\nok\n\xff\xfe\nend\n");
        assert_eq!(frames(&input, 10).await, ["<too large 50>", "ok", "<not utf8>", "end"]);
    }
}
