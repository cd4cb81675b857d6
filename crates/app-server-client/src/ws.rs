//! WebSocket client transport for `codex app-server --listen ws://IP:PORT` and
//! `--listen unix://PATH`; codex speaks WebSocket on both, the unix socket after an ordinary
//! HTTP Upgrade. One JSON-RPC message per WebSocket message. No TLS: codex listens on plain
//! ws:// only.
//!
//! The protocol (handshake, framing, masking, pings, the close handshake) is tokio-tungstenite's.
//! What stays here is codex's own limits and our error texts:
//! - outgoing messages over the size the server announces in
//!   `x-codex-websocket-max-unfragmented-message-bytes` (16 MiB when it announces none) go out
//!   as several frames: codex 0.169.0 drops the connection on a larger single frame;
//! - an incoming message over `max_frame_bytes` is reported (`ReadFrame::TooLarge`) and
//!   skipped, its payload dropped as it arrives, and so is a text message that is not UTF-8
//!   (`ReadFrame::NotUtf8`); the connection goes on, as on stdio. tungstenite cannot skip a
//!   message (its stream ends after any error), so `filter.rs` does it below tungstenite, frame
//!   by frame;
//! - the bearer token is only ever written into the upgrade request (as a sensitive header
//!   value): no error, `Debug` output or log contains it.

use std::io;
use std::sync::Arc;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::error::{CapacityError, ProtocolError};
use tokio_tungstenite::tungstenite::http::{header, HeaderValue, Uri};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Bytes, Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

use crate::error::{Error, Result};
use crate::transport::{BoxFuture, FrameReader, FrameWriter, ReadFrame};

mod filter;
use filter::{Filter, Oversized};

/// The reader and writer halves of one WebSocket connection.
pub type WsHalves = (Box<dyn FrameReader>, Box<dyn FrameWriter>);

/// Response header by which codex (unix listener) announces the largest message it takes in
/// one frame.
const MAX_UNFRAGMENTED_HEADER: &str = "x-codex-websocket-max-unfragmented-message-bytes";
/// Frame size used when the server announces none: codex 0.169.0 drops the connection on a
/// larger single frame on both listeners (the ws:// one does not send the header) but takes
/// fragmented messages up to 64 MiB.
pub const DEFAULT_MAX_OUTGOING_FRAME_BYTES: usize = 16 * 1024 * 1024;
/// Outgoing bytes tungstenite buffers before writing them without waiting for `flush`: many
/// small messages (approval answers, a burst of requests) leave in one write.
const WRITE_BUFFER: usize = 256 * 1024;

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
    handshake(stream, target.uri, token, max_frame_bytes, &target.label).await
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
    handshake(
        stream,
        Uri::from_static("ws://localhost/"),
        token,
        max_frame_bytes,
        &label,
    )
    .await
}

/// Runs the client handshake over an already connected byte stream. `url` gives the `Host`
/// header and the request path (e.g. `ws://localhost/`).
pub async fn connect_over<S>(
    stream: S,
    url: &str,
    token: Option<&str>,
    max_frame_bytes: usize,
) -> Result<WsHalves>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let target = parse_ws_url(url)?;
    check_token(token)?;
    handshake(stream, target.uri, token, max_frame_bytes, &target.label).await
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

#[derive(Debug)]
struct WsTarget {
    /// Host to connect to, without IPv6 brackets.
    host: String,
    port: u16,
    /// What the upgrade request asks for: `ws://authority/path?query`.
    uri: Uri,
    /// For messages: scheme, authority and path, no query.
    label: String,
}

/// The host of a `ws://` URL (IPv6 without brackets), if it parses; for the option checks.
pub(crate) fn url_host(url: &str) -> Option<String> {
    parse_ws_url(url).ok().map(|t| t.host)
}

/// Checks a `ws://` URL with `http::Uri` (as tungstenite re-exports it) and says what is wrong
/// in our terms: wss://, other schemes, credentials, a missing host or a bad port.
fn parse_ws_url(url: &str) -> Result<WsTarget> {
    let bad = |message: String| Error::invalid_argument("url", message);
    let expected = "expected ws://host:port[/path]";
    // A fragment never reaches the server.
    let without_fragment = url.split('#').next().unwrap_or("");
    let uri: Uri = without_fragment
        .parse()
        .map_err(|e| bad(format!("`{url}` is not a ws:// URL ({e}; {expected})")))?;
    match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("wss") => {
            return Err(bad(
                "wss:// (TLS) is not supported: codex app-server listens on plain ws:// (use an SSH tunnel or a TLS proxy)"
                    .into(),
            ))
        }
        Some(s) if s.eq_ignore_ascii_case("ws") => {}
        Some(s) => return Err(bad(format!("unsupported scheme `{s}://` ({expected})"))),
        None => return Err(bad(format!("`{url}` is not a ws:// URL ({expected})"))),
    }
    let authority = uri
        .authority()
        .ok_or_else(|| bad(format!("`{url}` has no host")))?;
    if authority.as_str().contains('@') {
        return Err(bad(
            "credentials in the URL are not supported; pass the token separately".into(),
        ));
    }
    let host = authority.host();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        return Err(bad(format!("`{url}` has no host")));
    }
    // Read the port from the text: `Authority::port` says None for one out of range.
    let port = match authority
        .as_str()
        .strip_prefix(authority.host())
        .and_then(|rest| rest.strip_prefix(':'))
    {
        None | Some("") => 80,
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| bad(format!("invalid port `{p}`")))?,
    };
    let path = match uri.path() {
        "" => "/",
        p => p,
    };
    let resource = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    let label = format!("ws://{authority}{path}");
    let uri = Uri::builder()
        .scheme("ws")
        .authority(authority.as_str())
        .path_and_query(resource)
        .build()
        .map_err(|e| bad(format!("`{url}` is not a ws:// URL ({e}; {expected})")))?;
    Ok(WsTarget {
        host: host.to_owned(),
        port,
        uri,
        label,
    })
}

fn config(max_frame_bytes: usize) -> WebSocketConfig {
    // The filter hands tungstenite no data message over the maximum; these limits are a
    // backstop (a control frame claiming more: the connection ends, before it is buffered).
    WebSocketConfig::default()
        .max_message_size(Some(max_frame_bytes))
        .max_frame_size(Some(max_frame_bytes))
        .write_buffer_size(WRITE_BUFFER)
}

async fn handshake<S>(
    stream: S,
    uri: Uri,
    token: Option<&str>,
    max_frame_bytes: usize,
    label: &str,
) -> Result<WsHalves>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let failed = |what: String| {
        closed(format!(
            "websocket handshake with {label} failed: {}",
            sanitize(&what, token)
        ))
    };
    let oversized = Arc::new(Oversized::default());
    let stream = Filter::new(stream, max_frame_bytes, Arc::clone(&oversized));
    let mut request = uri
        .into_client_request()
        .map_err(|e| failed(e.to_string()))?;
    if let Some(token) = token {
        let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            Error::invalid_argument(
                "token",
                "contains characters that cannot be sent in an HTTP header",
            )
        })?;
        // Sensitive values print as `Sensitive` in `Debug` output.
        value.set_sensitive(true);
        request.headers_mut().insert(header::AUTHORIZATION, value);
    }
    let (ws, response) =
        tokio_tungstenite::client_async_with_config(request, stream, Some(config(max_frame_bytes)))
            .await
            .map_err(|e| failed(describe_handshake_error(e, token.is_some())))?;
    // tungstenite does not check this one yet (RFC 6455 4.1, point 5).
    if response
        .headers()
        .get(header::SEC_WEBSOCKET_EXTENSIONS)
        .is_some_and(|v| !v.as_bytes().trim_ascii().is_empty())
    {
        return Err(failed(
            "server selected an extension the client did not offer".into(),
        ));
    }
    let fragment_limit = response
        .headers()
        .get(MAX_UNFRAGMENTED_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(DEFAULT_MAX_OUTGOING_FRAME_BYTES);

    let (sink, stream) = ws.split();
    let sink = Arc::new(Mutex::new(sink));
    let reader = WsReader {
        stream,
        sink: Arc::clone(&sink),
        max: max_frame_bytes,
        state: ReadState::Open,
        oversized,
        messages: 0,
    };
    let writer = WsWriter {
        sink,
        fragment_limit,
    };
    Ok((Box::new(reader), Box::new(writer)))
}

/// The refusal in our words (the tests and users rely on these texts); never the token.
fn describe_handshake_error(e: WsError, sent_token: bool) -> String {
    match e {
        WsError::Http(response) => {
            let status = response.status();
            let mut what = format!(
                "HTTP {} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            )
            .trim_end()
            .to_owned();
            if status.as_u16() == 401 {
                what.push_str(if sent_token {
                    " (authentication failed: the server rejected the token)"
                } else {
                    " (authentication failed: the server requires a token)"
                });
            }
            // The part of the body that arrived with the head (codex sends it in one write).
            if let Some(body) = response.body() {
                let body = String::from_utf8_lossy(body);
                let body = body.trim();
                if !body.is_empty() {
                    what.push_str(": ");
                    what.push_str(body);
                }
            }
            what
        }
        WsError::Protocol(ProtocolError::SecWebSocketAcceptKeyMismatch) => {
            "Sec-WebSocket-Accept does not match the key sent".into()
        }
        WsError::Protocol(
            ProtocolError::MissingUpgradeWebSocketHeader
            | ProtocolError::MissingConnectionUpgradeHeader,
        ) => "101 response without `Upgrade: websocket` and `Connection: Upgrade`".into(),
        WsError::Protocol(ProtocolError::HandshakeIncomplete) => {
            "the server closed the connection before answering".into()
        }
        WsError::Protocol(ProtocolError::HttparseError(e)) => {
            format!("not an HTTP response ({e})")
        }
        WsError::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            "the server closed the connection before answering".into()
        }
        other => other.to_string(),
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

type Sink<S> = Arc<Mutex<SplitSink<WebSocketStream<Filter<S>>, Message>>>;

fn to_io(e: WsError) -> io::Error {
    match e {
        WsError::Io(e) => e,
        WsError::ConnectionClosed
        | WsError::AlreadyClosed
        | WsError::Protocol(ProtocolError::SendAfterClosing) => {
            io::Error::new(io::ErrorKind::BrokenPipe, "websocket is closed")
        }
        other => io::Error::new(
            io::ErrorKind::InvalidData,
            format!("websocket protocol error: {other}"),
        ),
    }
}

struct WsWriter<S> {
    /// Shared with the reader, which flushes the reply to a close frame through it.
    sink: Sink<S>,
    /// Messages longer than this go out as several frames.
    fragment_limit: usize,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> FrameWriter for WsWriter<S> {
    fn write_frame<'a>(&'a mut self, frame: &'a str) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async move {
            let mut sink = self.sink.lock().await;
            // `feed` queues into tungstenite's write buffer, which writes once it holds
            // WRITE_BUFFER bytes; `flush` pushes the rest.
            if frame.len() <= self.fragment_limit {
                return sink.feed(Message::text(frame)).await.map_err(to_io);
            }
            let bytes = Bytes::copy_from_slice(frame.as_bytes());
            let count = bytes.len().div_ceil(self.fragment_limit);
            for i in 0..count {
                let start = i * self.fragment_limit;
                let end = (start + self.fragment_limit).min(bytes.len());
                let opcode = OpCode::Data(if i == 0 { Data::Text } else { Data::Continue });
                let part = Frame::message(bytes.slice(start..end), opcode, i + 1 == count);
                sink.feed(Message::Frame(part)).await.map_err(to_io)?;
            }
            Ok(())
        })
    }

    fn flush(&mut self) -> BoxFuture<'_, io::Result<()>> {
        Box::pin(async move { self.sink.lock().await.flush().await.map_err(to_io) })
    }

    /// Sends what is queued and a close frame (1000). The server answers with its own close
    /// frame and ends the connection, which ends the reader.
    fn close(&mut self) -> BoxFuture<'_, io::Result<()>> {
        Box::pin(async move {
            let mut sink = self.sink.lock().await;
            let close = Message::Close(Some(CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            }));
            match sink.send(close).await {
                // Already closed (by either side): nothing left to do.
                Err(
                    WsError::ConnectionClosed
                    | WsError::AlreadyClosed
                    | WsError::Protocol(ProtocolError::SendAfterClosing),
                ) => Ok(()),
                other => other.map_err(to_io),
            }
        })
    }
}

enum ReadState {
    Open,
    /// tungstenite refused a frame over its limit (a control frame: the filter lets no data
    /// message over it through): it was reported, and tungstenite's stream is unusable after
    /// it; the next read returns this error.
    Failed(String),
    Done,
}

struct WsReader<S> {
    stream: SplitStream<WebSocketStream<Filter<S>>>,
    sink: Sink<S>,
    max: usize,
    state: ReadState,
    /// The messages the filter dropped (tungstenite yields an empty or partial one for each).
    oversized: Arc<Oversized>,
    /// Data messages received so far: the sequence number of the next one.
    messages: u64,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> WsReader<S> {
    /// Tells the server why we stop reading; best effort, the connection is ending anyway.
    async fn close_with(&mut self, code: CloseCode, reason: &'static str) {
        let close = Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }));
        let _ = self.sink.lock().await.send(close).await;
    }

    /// The next data message: reported if the filter dropped it, else checked for UTF-8.
    fn data(&mut self, bytes: &[u8]) -> ReadFrame {
        let seq = self.messages;
        self.messages += 1;
        if let Some(size) = self.oversized.take(seq) {
            let size = usize::try_from(size).unwrap_or(usize::MAX);
            return ReadFrame::TooLarge { size };
        }
        match std::str::from_utf8(bytes) {
            Ok(text) => ReadFrame::Frame(text.to_owned()),
            Err(_) => ReadFrame::NotUtf8,
        }
    }

    async fn next_message(&mut self) -> io::Result<Option<ReadFrame>> {
        loop {
            match &self.state {
                ReadState::Open => {}
                ReadState::Failed(reason) => {
                    let e = io::Error::new(io::ErrorKind::InvalidData, reason.clone());
                    self.state = ReadState::Done;
                    return Err(e);
                }
                ReadState::Done => return Ok(None),
            }
            let message = match self.stream.next().await {
                // The server ended the connection (after the close handshake, or without one:
                // then tungstenite reports an error below).
                None => {
                    self.state = ReadState::Done;
                    return Ok(None);
                }
                Some(Ok(message)) => message,
                Some(Err(WsError::Capacity(CapacityError::MessageTooLong { size, .. }))) => {
                    // Only a control frame gets here (data messages over the limit are
                    // skipped by the filter), and tungstenite cannot go on after it.
                    self.state = ReadState::Failed(format!(
                        "websocket closed after a frame of {size} bytes, over the limit of {} \
                         bytes (maxMessageBytes)",
                        self.max
                    ));
                    self.close_with(CloseCode::Size, "message too big").await;
                    return Ok(Some(ReadFrame::TooLarge { size }));
                }
                Some(Err(e)) => {
                    self.state = ReadState::Done;
                    return Err(to_io(e));
                }
            };
            match message {
                // The filter hands text on as binary; checked here, so that a message that is
                // not UTF-8 is reported and skipped. One copy: the payload shares tungstenite's
                // read buffer. (codex sends text; a binary message that is UTF-8 is taken too.)
                Message::Text(text) => return Ok(Some(self.data(text.as_bytes()))),
                Message::Binary(data) => return Ok(Some(self.data(&data))),
                // tungstenite queued the pong; it leaves with the next read or write.
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                Message::Close(frame) => {
                    self.state = ReadState::Done;
                    // Push tungstenite's reply (it echoes the code) now: nothing may read or
                    // write after this.
                    let _ = self.sink.lock().await.flush().await;
                    return match frame {
                        None => Ok(None),
                        Some(f) if matches!(f.code, CloseCode::Normal | CloseCode::Away) => {
                            Ok(None)
                        }
                        Some(f) => {
                            let reason = sanitize(f.reason.as_str(), None);
                            let reason = if reason.is_empty() {
                                String::new()
                            } else {
                                format!(": {reason}")
                            };
                            Err(io::Error::new(
                                io::ErrorKind::ConnectionAborted,
                                format!(
                                    "server closed the websocket with code {}{reason}",
                                    u16::from(f.code)
                                ),
                            ))
                        }
                    };
                }
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> FrameReader for WsReader<S> {
    fn next_frame(&mut self) -> BoxFuture<'_, io::Result<Option<ReadFrame>>> {
        Box::pin(self.next_message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ws_urls() {
        let t = parse_ws_url("ws://127.0.0.1:4500").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.uri.to_string(), t.label.as_str()),
            (
                "127.0.0.1",
                4500,
                "ws://127.0.0.1:4500/".into(),
                "ws://127.0.0.1:4500/"
            )
        );
        let t = parse_ws_url("WS://[::1]:9/rpc?x=1#frag").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.uri.to_string(), t.label.as_str()),
            ("::1", 9, "ws://[::1]:9/rpc?x=1".into(), "ws://[::1]:9/rpc")
        );
        let t = parse_ws_url("ws://localhost?q").unwrap();
        assert_eq!(
            (t.port, t.uri.to_string()),
            (80, "ws://localhost/?q".into())
        );
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
        assert_eq!(url_host("ws://[::1]:9").as_deref(), Some("::1"));
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
    fn sanitize_removes_the_token_and_control_characters() {
        assert_eq!(
            sanitize("bad token SECRET\r\nagain SECRET", Some("SECRET")),
            "bad token <redacted>  again <redacted>"
        );
        assert_eq!(sanitize(&"x".repeat(300), None).chars().count(), 201);
    }
}
