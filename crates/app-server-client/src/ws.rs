//! WebSocket client transport (RFC 6455, no TLS, no extensions) for `codex app-server
//! --listen ws://IP:PORT` and `--listen unix://PATH`; codex speaks WebSocket on both, the
//! unix socket after an ordinary HTTP Upgrade. One JSON-RPC message per WebSocket message.
//!
//! The reader answers pings and close frames itself; it shares the write half with the
//! writer through a mutex, so control frames never interleave with a data frame.
//! The bearer token is only ever written into the upgrade request: no error, `Debug` output
//! or log contains it.

use std::hash::{BuildHasher, Hasher};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
};
use tokio::sync::Mutex;

use crate::error::{Error, Result};
use crate::transport::{BoxFuture, FrameReader, FrameWriter, ReadFrame};

/// The reader and writer halves of one WebSocket connection.
pub type WsHalves = (Box<dyn FrameReader>, Box<dyn FrameWriter>);

const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const MAX_RESPONSE_HEAD: usize = 16 * 1024;
const MAX_ERROR_BODY: usize = 4096;
/// Outgoing bytes queued by `write_frame` before they are pushed without waiting for `flush`.
const WRITE_HIGH_WATER: usize = 256 * 1024;
/// Response header by which codex (unix listener) announces the largest message it takes in
/// one frame.
const MAX_UNFRAGMENTED_HEADER: &str = "x-codex-websocket-max-unfragmented-message-bytes";
/// Frame size used when the server announces none: codex 0.169.0 drops the connection on a
/// larger single frame on both listeners (the ws:// one does not send the header) but takes
/// fragmented messages up to 64 MiB.
pub const DEFAULT_MAX_OUTGOING_FRAME_BYTES: usize = 16 * 1024 * 1024;

const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// Connects to `ws://host:port[/path]` (IPv6 hosts in brackets). `wss://` is refused: codex
/// listens on plain WebSocket only. With `token`, sends `Authorization: Bearer <token>`
/// (`--ws-auth capability-token`).
pub async fn connect_tcp(
    url: &str,
    token: Option<&str>,
    max_frame_bytes: usize,
) -> Result<WsHalves> {
    let target = parse_ws_url(url)?;
    check_token(token)?;
    let stream = tokio::net::TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|e| closed(format!("could not connect to {}: {e}", target.label)))?;
    let _ = stream.set_nodelay(true);
    let (read, write) = stream.into_split();
    handshake(
        read,
        write,
        &target.authority,
        &target.resource,
        token,
        max_frame_bytes,
        &target.label,
    )
    .await
}

/// Connects to a unix socket on which codex listens (`--listen unix://PATH`; plain
/// `--listen unix://` uses `$CODEX_HOME/app-server-control/app-server-control.sock`).
#[cfg(unix)]
pub async fn connect_unix(
    path: &std::path::Path,
    token: Option<&str>,
    max_frame_bytes: usize,
) -> Result<WsHalves> {
    check_token(token)?;
    let label = format!("unix://{}", path.display());
    let stream = tokio::net::UnixStream::connect(path)
        .await
        .map_err(|e| closed(format!("could not connect to {label}: {e}")))?;
    let (read, write) = stream.into_split();
    handshake(
        read,
        write,
        "localhost",
        "/",
        token,
        max_frame_bytes,
        &label,
    )
    .await
}

/// Runs the client handshake over an already connected byte stream, given as its two halves.
/// `host` is the `Host` header, `resource` the request path (e.g. `/`).
pub async fn connect_over<R, W>(
    read: R,
    write: W,
    host: &str,
    resource: &str,
    token: Option<&str>,
    max_frame_bytes: usize,
) -> Result<WsHalves>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    check_token(token)?;
    let label = format!("ws://{host}{}", resource.split('?').next().unwrap_or(""));
    handshake(read, write, host, resource, token, max_frame_bytes, &label).await
}

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (base64 of SHA-1 of key + GUID), for tests
/// and servers.
pub fn accept_key(key: &str) -> String {
    let mut input = Vec::with_capacity(key.len() + GUID.len());
    input.extend_from_slice(key.as_bytes());
    input.extend_from_slice(GUID.as_bytes());
    base64_encode(&sha1(&input))
}

fn closed(reason: String) -> Error {
    Error::TransportClosed {
        reason,
        stderr_tail: String::new(),
    }
}

fn check_token(token: Option<&str>) -> Result<()> {
    match token {
        None => Ok(()),
        Some("") => Err(Error::invalid_argument("token", "is empty")),
        // Visible ASCII only: anything else could break (or inject into) the request head.
        Some(t) if !t.bytes().all(|b| (0x21..=0x7e).contains(&b)) => Err(Error::invalid_argument(
            "token",
            "contains characters that cannot be sent in an HTTP header",
        )),
        Some(_) => Ok(()),
    }
}

#[derive(Debug, PartialEq)]
struct WsTarget {
    /// Host to connect to, without IPv6 brackets.
    host: String,
    port: u16,
    /// `Host` header: the authority as written.
    authority: String,
    /// Request target: path and query.
    resource: String,
    /// For messages: scheme, authority and path, no query.
    label: String,
}

/// The host of a `ws://` URL (IPv6 without brackets), if it parses; for the option checks.
pub(crate) fn url_host(url: &str) -> Option<String> {
    parse_ws_url(url).ok().map(|t| t.host)
}

fn parse_ws_url(url: &str) -> Result<WsTarget> {
    let bad = |message: String| Error::invalid_argument("url", message);
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        bad(format!(
            "`{url}` is not a ws:// URL (expected ws://host:port[/path])"
        ))
    })?;
    if scheme.eq_ignore_ascii_case("wss") {
        return Err(bad(
            "wss:// (TLS) is not supported: codex app-server listens on plain ws:// (use an SSH tunnel or a TLS proxy)"
                .into(),
        ));
    }
    if !scheme.eq_ignore_ascii_case("ws") {
        return Err(bad(format!(
            "unsupported scheme `{scheme}://` (expected ws://host:port[/path])"
        )));
    }
    let rest = rest.split('#').next().unwrap_or("");
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, resource) = rest.split_at(split);
    if authority.contains('@') {
        return Err(bad(
            "credentials in the URL are not supported; pass the token separately".into(),
        ));
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| bad(format!("unterminated IPv6 address in `{authority}`")))?;
        match after {
            "" => (host, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => return Err(bad(format!("unexpected `{after}` after the IPv6 address"))),
            },
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(bad(format!("`{url}` has no host")));
    }
    let port = match port {
        None => 80,
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| bad(format!("invalid port `{p}`")))?,
    };
    let resource = match resource {
        "" => "/".to_owned(),
        r if r.starts_with('?') => format!("/{r}"),
        r => r.to_owned(),
    };
    let path = resource.split('?').next().unwrap_or("/");
    Ok(WsTarget {
        host: host.to_owned(),
        port,
        authority: authority.to_owned(),
        label: format!("ws://{authority}{path}"),
        resource,
    })
}

async fn handshake<R, W>(
    read: R,
    mut write: W,
    host: &str,
    resource: &str,
    token: Option<&str>,
    max_frame_bytes: usize,
    label: &str,
) -> Result<WsHalves>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let failed = |what: String| closed(format!("websocket handshake with {label} failed: {what}"));
    let mut nonce = [0u8; 16];
    nonce[..8].copy_from_slice(&random_seed().to_le_bytes());
    nonce[8..].copy_from_slice(&random_seed().to_le_bytes());
    let key = base64_encode(&nonce);

    let mut request = format!(
        "GET {resource} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
    );
    if let Some(token) = token {
        request.push_str("Authorization: Bearer ");
        request.push_str(token);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    let sent = async {
        write.write_all(request.as_bytes()).await?;
        write.flush().await
    }
    .await;
    drop(request);
    sent.map_err(|e| failed(format!("could not send the upgrade request: {e}")))?;

    let mut read = BufReader::with_capacity(64 * 1024, read);
    let head = read_response_head(&mut read)
        .await
        .map_err(|e| failed(e.to_string()))?;
    if head.status != 101 {
        let body = read_error_body(&mut read, &head).await;
        let mut what = format!("HTTP {} {}", head.status, head.reason);
        if head.status == 401 {
            what.push_str(match token {
                Some(_) => " (authentication failed: the server rejected the token)",
                None => " (authentication failed: the server requires a token)",
            });
        }
        let body = sanitize(&body, token);
        if !body.is_empty() {
            what.push_str(": ");
            what.push_str(&body);
        }
        return Err(failed(what));
    }
    let upgrade_ok = head
        .header("upgrade")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"));
    let connection_ok = head.header("connection").is_some_and(|v| {
        v.split(',')
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
    });
    if !upgrade_ok || !connection_ok {
        return Err(failed(
            "101 response without `Upgrade: websocket` and `Connection: Upgrade`".into(),
        ));
    }
    match head.header("sec-websocket-accept") {
        Some(accept) if accept.trim() == accept_key(&key) => {}
        Some(_) => {
            return Err(failed(
                "Sec-WebSocket-Accept does not match the key sent".into(),
            ))
        }
        None => return Err(failed("101 response without Sec-WebSocket-Accept".into())),
    }
    if head
        .header("sec-websocket-extensions")
        .is_some_and(|v| !v.trim().is_empty())
    {
        return Err(failed(
            "server selected an extension the client did not offer".into(),
        ));
    }
    let fragment_limit = head
        .header(MAX_UNFRAGMENTED_HEADER)
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(DEFAULT_MAX_OUTGOING_FRAME_BYTES);

    let out = Arc::new(Mutex::new(Outbound {
        io: Some(write),
        close_sent: false,
    }));
    let reader = WsReader {
        io: read,
        out: Arc::clone(&out),
        max: max_frame_bytes,
        rng: Rng::new(),
        msg: Vec::new(),
        msg_size: 0,
        in_message: false,
        too_large: false,
        done: false,
    };
    let writer = WsWriter {
        out,
        pending: Vec::new(),
        fragment_limit,
        rng: Rng::new(),
    };
    Ok((Box::new(reader), Box::new(writer)))
}

struct ResponseHead {
    status: u16,
    reason: String,
    /// Lower-cased names.
    headers: Vec<(String, String)>,
}

impl ResponseHead {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

async fn read_response_head<R: AsyncBufRead + Unpin>(read: &mut R) -> io::Result<ResponseHead> {
    let mut total = 0usize;
    let mut lines = Vec::new();
    loop {
        let mut line = Vec::new();
        let limit = (MAX_RESPONSE_HEAD - total) as u64 + 1;
        let n = (&mut *read)
            .take(limit)
            .read_until(b'\n', &mut line)
            .await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection before answering",
            ));
        }
        total += n;
        if total > MAX_RESPONSE_HEAD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "response head over 16 KiB",
            ));
        }
        if line.last() != Some(&b'\n') {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection mid-response",
            ));
        }
        let text = String::from_utf8_lossy(&line)
            .trim_end_matches(['\r', '\n'])
            .to_owned();
        if text.is_empty() {
            break;
        }
        lines.push(text);
    }
    let status_line = lines.first().map(String::as_str).unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    let status = parts.next().and_then(|s| s.parse::<u16>().ok());
    let status = match status {
        Some(s) if version.starts_with("HTTP/") => s,
        _ => {
            let shown: String = status_line.chars().take(80).collect();
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("not an HTTP response: `{shown}`"),
            ));
        }
    };
    let reason = parts.next().unwrap_or("").trim().to_owned();
    let headers = lines[1..]
        .iter()
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok(ResponseHead {
        status,
        reason,
        headers,
    })
}

/// The body of a refusal, when it is small and announced by length; bounded in time because
/// the server may keep the connection open.
async fn read_error_body<R: AsyncRead + Unpin>(read: &mut R, head: &ResponseHead) -> String {
    let Some(len) = head
        .header("content-length")
        .and_then(|v| v.trim().parse::<usize>().ok())
    else {
        return String::new();
    };
    if len == 0 || len > MAX_ERROR_BODY {
        return String::new();
    }
    let mut body = vec![0u8; len];
    match tokio::time::timeout(Duration::from_secs(2), read.read_exact(&mut body)).await {
        Ok(Ok(_)) => String::from_utf8_lossy(&body).into_owned(),
        _ => String::new(),
    }
}

/// One line of printable text, at most 200 characters, with the token (should a server echo
/// it) removed.
fn sanitize(text: &str, token: Option<&str>) -> String {
    let mut text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if let Some(token) = token.filter(|t| !t.is_empty()) {
        text = text.replace(token, "<redacted>");
    }
    let text = text.trim();
    let mut shown: String = text.chars().take(200).collect();
    if shown.len() < text.len() {
        shown.push('…');
    }
    shown
}

/// The write half and whether a close frame went out, shared by reader (pongs, close replies)
/// and writer.
struct Outbound<W> {
    io: Option<W>,
    close_sent: bool,
}

impl<W: AsyncWrite + Unpin> Outbound<W> {
    /// Writes one control frame unless the connection is closing.
    async fn control(&mut self, opcode: u8, payload: &[u8], rng: &mut Rng) -> io::Result<()> {
        if self.close_sent {
            return Ok(());
        }
        let Some(io) = self.io.as_mut() else {
            return Ok(());
        };
        let mut frame = Vec::with_capacity(payload.len() + 6);
        encode_frame(&mut frame, true, opcode, payload, rng.mask());
        if opcode == OP_CLOSE {
            self.close_sent = true;
        }
        io.write_all(&frame).await?;
        io.flush().await
    }
}

fn encode_frame(out: &mut Vec<u8>, fin: bool, opcode: u8, payload: &[u8], mask: [u8; 4]) {
    out.push(if fin { 0x80 } else { 0 } | opcode);
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= u16::MAX as usize {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], mask, 0);
}

/// XORs `data` with `mask`, `offset` bytes into the payload.
fn apply_mask(data: &mut [u8], mask: [u8; 4], offset: usize) {
    for (i, b) in data.iter_mut().enumerate() {
        *b ^= mask[(offset + i) & 3];
    }
}

struct WsWriter<W> {
    out: Arc<Mutex<Outbound<W>>>,
    /// Encoded frames not yet written.
    pending: Vec<u8>,
    /// Messages longer than this go out as several frames.
    fragment_limit: usize,
    rng: Rng,
}

impl<W: AsyncWrite + Unpin + Send> WsWriter<W> {
    async fn push_pending(&mut self, flush: bool) -> io::Result<()> {
        let mut out = self.out.lock().await;
        if out.close_sent {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "websocket is closed",
            ));
        }
        let io = out
            .io
            .as_mut()
            .ok_or_else(|| io::Error::new(io::ErrorKind::BrokenPipe, "websocket is closed"))?;
        if !self.pending.is_empty() {
            io.write_all(&self.pending).await?;
            self.pending.clear();
        }
        if flush {
            io.flush().await?;
        }
        Ok(())
    }
}

impl<W: AsyncWrite + Unpin + Send> FrameWriter for WsWriter<W> {
    fn write_frame<'a>(&'a mut self, frame: &'a str) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move {
            let bytes = frame.as_bytes();
            let limit = self.fragment_limit;
            match bytes.len() {
                len if len > limit => {
                    let count = len.div_ceil(limit);
                    for (i, chunk) in bytes.chunks(limit).enumerate() {
                        let opcode = if i == 0 { OP_TEXT } else { OP_CONTINUATION };
                        let mask = self.rng.mask();
                        encode_frame(&mut self.pending, i + 1 == count, opcode, chunk, mask);
                        if self.pending.len() >= WRITE_HIGH_WATER {
                            self.push_pending(false).await?;
                        }
                    }
                }
                _ => {
                    let mask = self.rng.mask();
                    encode_frame(&mut self.pending, true, OP_TEXT, bytes, mask);
                }
            }
            if self.pending.len() >= WRITE_HIGH_WATER {
                self.push_pending(false).await?;
            }
            Ok(())
        })
    }

    fn flush(&mut self) -> BoxFuture<'_, io::Result<()>> {
        Box::pin(self.push_pending(true))
    }

    /// Sends what is queued and a close frame (1000), then shuts the write half down.
    fn close(&mut self) -> BoxFuture<'_, io::Result<()>> {
        Box::pin(async move {
            let mut out = self.out.lock().await;
            let Some(mut io) = out.io.take() else {
                return Ok(());
            };
            let mut result = Ok(());
            if !out.close_sent {
                out.close_sent = true;
                encode_frame(
                    &mut self.pending,
                    true,
                    OP_CLOSE,
                    &1000u16.to_be_bytes(),
                    self.rng.mask(),
                );
                result = io.write_all(&self.pending).await;
                if result.is_ok() {
                    result = io.flush().await;
                }
            }
            self.pending.clear();
            let shut = io.shutdown().await;
            result.and(shut)
        })
    }
}

struct WsReader<R, W> {
    io: BufReader<R>,
    out: Arc<Mutex<Outbound<W>>>,
    max: usize,
    rng: Rng,
    /// Payload of the message being assembled (empty while skipping an oversized one).
    msg: Vec<u8>,
    /// Payload bytes announced so far for the current message.
    msg_size: usize,
    in_message: bool,
    too_large: bool,
    done: bool,
}

fn protocol_error(message: impl Into<String>) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("websocket protocol error: {}", message.into()),
    )
}

impl<R: AsyncRead + Unpin + Send, W: AsyncWrite + Unpin + Send> WsReader<R, W> {
    /// Fills `buf`; `false` on EOF before the first byte.
    async fn read_exact_or_eof(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        let mut filled = 0;
        while filled < buf.len() {
            let n = self.io.read(&mut buf[filled..]).await?;
            if n == 0 {
                if filled == 0 {
                    return Ok(false);
                }
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed mid-frame",
                ));
            }
            filled += n;
        }
        Ok(true)
    }

    async fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        if buf.is_empty() || self.read_exact_or_eof(buf).await? {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed mid-frame",
            ))
        }
    }

    /// Streams `len` payload bytes into the message, or past it when `keep` is false.
    async fn read_payload(
        &mut self,
        len: u64,
        mask: Option<[u8; 4]>,
        keep: bool,
    ) -> io::Result<()> {
        let mut remaining = len;
        let mut offset = 0usize;
        while remaining > 0 {
            let available = self.io.fill_buf().await?;
            if available.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed mid-frame",
                ));
            }
            let n = available
                .len()
                .min(usize::try_from(remaining).unwrap_or(usize::MAX));
            if keep {
                let start = self.msg.len();
                self.msg.extend_from_slice(&available[..n]);
                if let Some(mask) = mask {
                    apply_mask(&mut self.msg[start..], mask, offset);
                }
            }
            self.io.consume(n);
            offset = offset.wrapping_add(n);
            remaining -= n as u64;
        }
        Ok(())
    }

    async fn on_close(&mut self, payload: &[u8]) -> io::Result<Option<ReadFrame>> {
        self.done = true;
        let code = (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
        let reply = code.map(u16::to_be_bytes);
        {
            let mut out = self.out.lock().await;
            let _ = out
                .control(
                    OP_CLOSE,
                    reply.as_ref().map_or(&[][..], |c| &c[..]),
                    &mut self.rng,
                )
                .await;
            if let Some(mut io) = out.io.take() {
                let _ = io.shutdown().await;
            }
        }
        match code {
            None | Some(1000) | Some(1001) => Ok(None),
            Some(code) => {
                let reason = sanitize(&String::from_utf8_lossy(&payload[2..]), None);
                let reason = if reason.is_empty() {
                    String::new()
                } else {
                    format!(": {reason}")
                };
                Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    format!("server closed the websocket with code {code}{reason}"),
                ))
            }
        }
    }

    async fn next_message(&mut self) -> io::Result<Option<ReadFrame>> {
        loop {
            if self.done {
                return Ok(None);
            }
            let mut head = [0u8; 2];
            if !self.read_exact_or_eof(&mut head).await? {
                self.done = true;
                if self.in_message {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed mid-message",
                    ));
                }
                return Ok(None);
            }
            let fin = head[0] & 0x80 != 0;
            let opcode = head[0] & 0x0f;
            if head[0] & 0x70 != 0 {
                return Err(protocol_error(
                    "reserved bits set (no extension was negotiated)",
                ));
            }
            let masked = head[1] & 0x80 != 0;
            let len = match head[1] & 0x7f {
                126 => {
                    let mut b = [0u8; 2];
                    self.read_exact(&mut b).await?;
                    u64::from(u16::from_be_bytes(b))
                }
                127 => {
                    let mut b = [0u8; 8];
                    self.read_exact(&mut b).await?;
                    let len = u64::from_be_bytes(b);
                    if len >> 63 != 0 {
                        return Err(protocol_error("payload length with the high bit set"));
                    }
                    len
                }
                n => u64::from(n),
            };
            // Servers must not mask; accept it anyway rather than dropping the connection.
            let mask = if masked {
                let mut m = [0u8; 4];
                self.read_exact(&mut m).await?;
                Some(m)
            } else {
                None
            };
            match opcode {
                OP_CLOSE | OP_PING | OP_PONG => {
                    if !fin || len > 125 {
                        return Err(protocol_error("fragmented or oversized control frame"));
                    }
                    let mut payload = [0u8; 125];
                    let payload = &mut payload[..len as usize];
                    self.read_exact(payload).await?;
                    if let Some(mask) = mask {
                        apply_mask(payload, mask, 0);
                    }
                    match opcode {
                        OP_PING => {
                            let payload = payload.to_vec();
                            // A failed pong shows up as a read or write failure soon enough.
                            let _ = self
                                .out
                                .lock()
                                .await
                                .control(OP_PONG, &payload, &mut self.rng)
                                .await;
                        }
                        OP_CLOSE => {
                            let payload = payload.to_vec();
                            return self.on_close(&payload).await;
                        }
                        _ => {}
                    }
                }
                OP_TEXT | OP_BINARY | OP_CONTINUATION => {
                    if opcode == OP_CONTINUATION && !self.in_message {
                        return Err(protocol_error("continuation frame outside a message"));
                    }
                    if opcode != OP_CONTINUATION {
                        if self.in_message {
                            return Err(protocol_error(
                                "new message before the previous one ended",
                            ));
                        }
                        self.in_message = true;
                        self.too_large = false;
                        self.msg_size = 0;
                        self.msg.clear();
                    }
                    self.msg_size = self
                        .msg_size
                        .saturating_add(usize::try_from(len).unwrap_or(usize::MAX));
                    if !self.too_large && self.msg_size > self.max {
                        self.too_large = true;
                        self.msg = Vec::new();
                    }
                    let keep = !self.too_large;
                    self.read_payload(len, mask, keep).await?;
                    if fin {
                        self.in_message = false;
                        if self.too_large {
                            return Ok(Some(ReadFrame::TooLarge {
                                size: self.msg_size,
                            }));
                        }
                        let bytes = std::mem::take(&mut self.msg);
                        return Ok(Some(match String::from_utf8(bytes) {
                            Ok(text) => ReadFrame::Frame(text),
                            Err(_) => ReadFrame::NotUtf8,
                        }));
                    }
                }
                other => return Err(protocol_error(format!("unknown opcode {other:#x}"))),
            }
        }
    }
}

impl<R: AsyncRead + Unpin + Send, W: AsyncWrite + Unpin + Send> FrameReader for WsReader<R, W> {
    fn next_frame(&mut self) -> BoxFuture<'_, io::Result<Option<ReadFrame>>> {
        Box::pin(async move {
            let result = self.next_message().await;
            if result.is_err() {
                self.done = true;
            }
            result
        })
    }
}

/// 64 unpredictable bits without a dependency: SipHash keyed by the std's per-process random
/// keys (fresh for every `RandomState`), over a counter and the clock.
fn random_seed() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    h.write_u128(now);
    h.finish()
}

/// splitmix64, for frame masks.
struct Rng(u64);

impl Rng {
    fn new() -> Self {
        Rng(random_seed())
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn mask(&mut self) -> [u8; 4] {
        (self.next_u64() as u32).to_ne_bytes()
    }
}

fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut message = Vec::with_capacity(data.len() + 72);
    message.extend_from_slice(data);
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&((data.len() as u64).wrapping_mul(8)).to_be_bytes());
    for block in message.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, &wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (s, v) in h.iter_mut().zip([a, b, c, d, e]) {
            *s = s.wrapping_add(v);
        }
    }
    let mut out = [0u8; 20];
    for (chunk, word) in out.chunks_exact_mut(4).zip(h) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

fn base64_encode(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(chunk.get(1).copied().unwrap_or(0)) << 8)
            | u32::from(chunk.get(2).copied().unwrap_or(0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn sha1_matches_known_vectors() {
        assert_eq!(
            hex(&sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(hex(&sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(
            hex(&sha1(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
        assert_eq!(
            hex(&sha1(&vec![b'a'; 1_000_000])),
            "34aa973cd4c4daa4f61eeb2bdbad27316534016f"
        );
        // Lengths around the padding boundary (reference: Python's hashlib).
        for (n, expected) in [
            (55, "cef734ba81a024479e09eb5a75b6ddae62e6abf1"),
            (56, "901305367c259952f4e7af8323f480d59f81335b"),
            (63, "0ddc4e0cccd9a12850deb5abb0853a4425559fec"),
            (64, "bb2fa3ee7afb9f54c6dfb5d021f14b1ffe40c163"),
            (65, "78c741ddc482e4cdf8c474a0876347a0905b6233"),
        ] {
            assert_eq!(hex(&sha1(&vec![b'x'; n])), expected, "length {n}");
        }
        assert_eq!(
            hex(&sha1(&[0u8; 64])),
            "c8d7d0ef0eedfa82d2ea1aa592845b9a6d4b02b7"
        );
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64_encode(input.as_bytes()), expected);
        }
        assert_eq!(base64_encode(&[0xff, 0xfe, 0xfd]), "//79");
    }

    #[test]
    fn accept_key_matches_rfc6455_example() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn parses_ws_urls() {
        let t = parse_ws_url("ws://127.0.0.1:4500").unwrap();
        assert_eq!(
            (
                t.host.as_str(),
                t.port,
                t.authority.as_str(),
                t.resource.as_str()
            ),
            ("127.0.0.1", 4500, "127.0.0.1:4500", "/")
        );
        let t = parse_ws_url("WS://[::1]:9/rpc?x=1#frag").unwrap();
        assert_eq!(
            (
                t.host.as_str(),
                t.port,
                t.resource.as_str(),
                t.label.as_str()
            ),
            ("::1", 9, "/rpc?x=1", "ws://[::1]:9/rpc")
        );
        let t = parse_ws_url("ws://localhost?q").unwrap();
        assert_eq!((t.port, t.resource.as_str()), (80, "/?q"));
        for bad in [
            "wss://h:1",
            "http://h:1",
            "h:1",
            "ws://",
            "ws://h:99999",
            "ws://u:p@h:1",
            "ws://[::1",
        ] {
            let e = parse_ws_url(bad).unwrap_err();
            assert_eq!(e.code(), "INVALID_ARGUMENT", "{bad}: {e}");
        }
        assert!(parse_ws_url("wss://h:1")
            .unwrap_err()
            .to_string()
            .contains("TLS"));
    }

    #[test]
    fn tokens_are_checked_without_being_echoed() {
        assert!(check_token(Some("abc.DEF-123_~")).is_ok());
        for bad in ["", "has space", "line\r\nX-Injected: 1", "tab\t"] {
            let e = check_token(Some(bad)).unwrap_err();
            assert!(bad.is_empty() || !e.to_string().contains(bad));
        }
    }

    #[test]
    fn frames_are_masked_with_fresh_masks() {
        let mut rng = Rng::new();
        let (m1, m2) = (rng.mask(), rng.mask());
        assert_ne!(m1, m2);
        let mut f = Vec::new();
        encode_frame(&mut f, true, OP_TEXT, &[b'a'; 300], m1);
        assert_eq!(&f[..4], &[0x81, 0x80 | 126, 1, 44]);
        assert_eq!(&f[4..8], &m1);
        let mut payload = f[8..].to_vec();
        apply_mask(&mut payload, m1, 0);
        assert_eq!(payload, vec![b'a'; 300]);
        assert_ne!(random_seed(), random_seed());
    }
}
