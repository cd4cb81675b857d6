//! The WebSocket transport against a minimal in-process server, then against the real codex
//! (`--listen ws://` with and without a capability token, `--listen unix://`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use app_server_client::transport::{FrameReader, ReadFrame};
use app_server_client::{ws, Error, Session, SessionOptions};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

const LIMIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// A minimal server, driven frame by frame by the test.

struct Upgrade {
    request_line: String,
    /// Lower-cased names.
    headers: Vec<(String, String)>,
}

impl Upgrade {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

struct Frame {
    fin: bool,
    opcode: u8,
    mask: Option<[u8; 4]>,
    payload: Vec<u8>,
}

struct Server {
    io: BufReader<TcpStream>,
}

impl Server {
    /// Accepts one connection and reads its request head.
    async fn accept(listener: &TcpListener) -> (Server, Upgrade) {
        let (stream, _) = tokio::time::timeout(LIMIT, listener.accept())
            .await
            .expect("no client")
            .unwrap();
        let mut io = BufReader::new(stream);
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            io.read_line(&mut line).await.unwrap();
            let line = line.trim_end().to_owned();
            if line.is_empty() {
                break;
            }
            lines.push(line);
        }
        let headers = lines[1..]
            .iter()
            .map(|l| {
                let (n, v) = l.split_once(':').expect("header line");
                (n.trim().to_ascii_lowercase(), v.trim().to_owned())
            })
            .collect();
        (
            Server { io },
            Upgrade {
                request_line: lines[0].clone(),
                headers,
            },
        )
    }

    fn switching_protocols(upgrade: &Upgrade) -> Vec<u8> {
        let key = upgrade
            .header("sec-websocket-key")
            .expect("Sec-WebSocket-Key");
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
            derive_accept_key(key.as_bytes())
        )
        .into_bytes()
    }

    async fn write(&mut self, bytes: &[u8]) {
        self.io.get_mut().write_all(bytes).await.unwrap();
    }

    async fn send(&mut self, fin: bool, opcode: u8, payload: &[u8]) {
        let bytes = encode(fin, opcode, payload);
        self.write(&bytes).await;
    }

    async fn recv(&mut self) -> Option<Frame> {
        tokio::time::timeout(LIMIT, async {
            let mut head = [0u8; 2];
            match self.io.read_exact(&mut head).await {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return None,
                Err(e) => panic!("server read: {e}"),
            }
            let len = match head[1] & 0x7f {
                126 => u64::from(self.io.read_u16().await.unwrap()),
                127 => self.io.read_u64().await.unwrap(),
                n => u64::from(n),
            };
            let mask = if head[1] & 0x80 != 0 {
                let mut m = [0u8; 4];
                self.io.read_exact(&mut m).await.unwrap();
                Some(m)
            } else {
                None
            };
            let mut payload = vec![0u8; len as usize];
            self.io.read_exact(&mut payload).await.unwrap();
            if let Some(m) = mask {
                for (i, b) in payload.iter_mut().enumerate() {
                    *b ^= m[i % 4];
                }
            }
            Some(Frame {
                fin: head[0] & 0x80 != 0,
                opcode: head[0] & 0x0f,
                mask,
                payload,
            })
        })
        .await
        .expect("server waited too long for a frame")
    }
}

/// An unmasked (server) frame.
fn encode(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
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

async fn next(reader: &mut Box<dyn FrameReader>) -> Option<String> {
    let frame = tokio::time::timeout(LIMIT, reader.next_frame())
        .await
        .expect("client waited too long")
        .unwrap();
    frame.map(|f| match f {
        ReadFrame::Frame(s) => s,
        ReadFrame::TooLarge { size } => format!("<too large {size}>"),
        ReadFrame::NotUtf8 => "<not utf8>".into(),
    })
}

async fn listener() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

#[tokio::test]
async fn handshake_messages_control_frames_and_close() {
    let (listener, port) = listener().await;
    let server = tokio::spawn(async move {
        let (mut s, up) = Server::accept(&listener).await;
        assert_eq!(up.request_line, "GET /rpc?v=1 HTTP/1.1");
        assert_eq!(
            up.header("host"),
            Some(format!("127.0.0.1:{port}").as_str())
        );
        assert!(up
            .header("upgrade")
            .unwrap()
            .eq_ignore_ascii_case("websocket"));
        assert!(up
            .header("connection")
            .unwrap()
            .eq_ignore_ascii_case("upgrade"));
        assert_eq!(up.header("sec-websocket-version"), Some("13"));
        let key = up.header("sec-websocket-key").unwrap();
        assert!(
            key.len() == 24 && key.ends_with("=="),
            "16 random bytes in base64: {key}"
        );
        assert_eq!(up.header("authorization"), Some("Bearer tok-123"));

        // The first message arrives in the same segment as the 101.
        let mut bytes = Server::switching_protocols(&up);
        bytes.extend(encode(true, 0x1, br#"{"first":true}"#));
        s.write(&bytes).await;

        // Fragmented, with a ping between the fragments.
        s.send(false, 0x1, br#"{"a":"#).await;
        s.send(true, 0x9, b"hi").await;
        s.send(true, 0x0, b"1}").await;
        let pong = s.recv().await.expect("pong");
        assert_eq!(
            (pong.opcode, pong.fin, pong.payload.as_slice()),
            (0xA, true, &b"hi"[..])
        );
        assert!(pong.mask.is_some(), "client frames are masked");

        s.send(true, 0x2, br#"{"binary":2}"#).await;
        s.send(true, 0xA, b"unsolicited pong").await;
        s.send(true, 0x2, &[0xff, 0xfe]).await; // binary, not UTF-8: reported, skipped
        let big = format!("\"{}\"", "z".repeat(70_000)); // 64-bit length, under the limit
        s.send(true, 0x1, big.as_bytes()).await;
        s.send(true, 0x1, format!("\"{}\"", "m".repeat(300)).as_bytes())
            .await; // 16-bit length

        // What the client writes.
        let one = s.recv().await.unwrap();
        let two = s.recv().await.unwrap();
        for f in [&one, &two] {
            assert!(f.fin && f.opcode == 0x1 && f.mask.is_some());
        }
        assert_ne!(one.mask, two.mask, "a fresh mask per frame");
        assert_eq!(one.payload, br#"{"hello":1}"#);
        assert_eq!(two.payload.len(), 100_002);

        // Closing: the client answers with a close frame echoing the code.
        s.send(true, 0x8, &[0x03, 0xe8, b'b', b'y', b'e']).await;
        let close = s.recv().await.expect("close reply");
        assert_eq!(
            (close.opcode, &close.payload[..2]),
            (0x8, &[0x03, 0xe8][..])
        );
        assert!(close.mask.is_some());
        assert!(
            s.recv().await.is_none(),
            "nothing after the close reply; the connection ends when the client drops it"
        );
    });

    let url = format!("ws://127.0.0.1:{port}/rpc?v=1");
    let (mut reader, mut writer) = ws::connect_tcp(&url, Some("tok-123"), 100_000)
        .await
        .unwrap();
    assert_eq!(next(&mut reader).await.unwrap(), r#"{"first":true}"#);
    assert_eq!(next(&mut reader).await.unwrap(), r#"{"a":1}"#);
    assert_eq!(next(&mut reader).await.unwrap(), r#"{"binary":2}"#);
    assert_eq!(next(&mut reader).await.unwrap(), "<not utf8>");
    assert_eq!(next(&mut reader).await.unwrap().len(), 70_002);
    assert_eq!(next(&mut reader).await.unwrap().len(), 302);

    writer.write_frame(r#"{"hello":1}"#).await.unwrap();
    writer
        .write_frame(&format!("\"{}\"", "w".repeat(100_000)))
        .await
        .unwrap();
    writer.flush().await.unwrap();

    assert_eq!(next(&mut reader).await, None, "close frame ends the stream");
    assert_eq!(next(&mut reader).await, None);
    // The close handshake is over: writing fails, closing is a no-op.
    writer.write_frame("{}").await.unwrap();
    assert!(writer.flush().await.is_err());
    writer.close().await.unwrap();
    drop((reader, writer));
    server.await.unwrap();
}

/// An oversized message (single-frame, fragmented, dropped from its first or a later frame, a
/// ping in the middle) or a text message that is not UTF-8: the reader reports it (as the stdio
/// reader does) and the connection goes on: the next message arrives. Each case goes out in
/// one write with the 101, so the filter also sees frames that arrive with the handshake.
#[tokio::test]
async fn oversized_or_invalid_messages_are_reported_and_skipped() {
    // (the server's frames: fin, opcode, payload), what is reported
    type Frames = Vec<(bool, u8, Vec<u8>)>;
    let euro: Vec<u8> = "{\"a\":\"€\"}".into();
    let cases: [(Frames, &str); 7] = [
        (vec![(true, 0x1, vec![b'x'; 150_000])], "<too large 150000>"),
        (
            // Part of it handed on before it was too large.
            vec![
                (false, 0x1, vec![b'y'; 60_000]),
                (false, 0x0, vec![b'y'; 30_000]),
                (true, 0x0, vec![b'y'; 30_000]),
            ],
            "<too large 120000>",
        ),
        (
            // Too large from its first frame; a ping between its frames is still answered.
            vec![
                (false, 0x1, vec![b'z'; 150_000]),
                (true, 0x9, b"mid".to_vec()),
                (true, 0x0, vec![b'z'; 10]),
            ],
            "<too large 150010>",
        ),
        // Exactly at the limit: taken.
        (vec![(true, 0x1, vec![b'w'; 100_000])], &"w".repeat(100_000)),
        (
            vec![(true, 0x1, vec![b'{', 0xff, 0xfe, b'}'])],
            "<not utf8>",
        ),
        (
            vec![
                (false, 0x1, vec![b'{', 0xe2]),
                (true, 0x0, vec![0x82, b'}']),
            ],
            "<not utf8>",
        ),
        (
            // A character split between two frames is fine.
            vec![
                (false, 0x1, euro[..8].to_vec()),
                (true, 0x0, euro[8..].to_vec()),
            ],
            "{\"a\":\"€\"}",
        ),
    ];
    for (frames, reported) in cases {
        let (listener, port) = listener().await;
        let pinged = frames.iter().any(|f| f.1 == 0x9);
        let server = tokio::spawn(async move {
            let (mut s, up) = Server::accept(&listener).await;
            let mut bytes = Server::switching_protocols(&up);
            bytes.extend(encode(true, 0x1, b"{\"before\":1}"));
            for (fin, opcode, payload) in frames {
                bytes.extend(encode(fin, opcode, &payload));
            }
            bytes.extend(encode(true, 0x1, b"{\"after\":1}"));
            s.write(&bytes).await;
            let mut got = s.recv().await.expect("a frame from the client");
            if pinged {
                assert_eq!((got.opcode, got.payload.as_slice()), (0xA, &b"mid"[..]));
                got = s.recv().await.expect("close frame");
            }
            // The client closes normally: it did not give up on the connection.
            assert_eq!(
                (got.opcode, &got.payload[..2]),
                (0x8, &1000u16.to_be_bytes()[..])
            );
        });
        let (mut reader, mut writer) =
            ws::connect_tcp(&format!("ws://127.0.0.1:{port}"), None, 100_000)
                .await
                .unwrap();
        assert_eq!(next(&mut reader).await.unwrap(), "{\"before\":1}");
        assert_eq!(next(&mut reader).await.unwrap(), reported);
        assert_eq!(next(&mut reader).await.unwrap(), "{\"after\":1}");
        writer.close().await.unwrap();
        server.await.unwrap();
    }
}

/// A 256 MiB message over a 1 MiB limit: reported and skipped without being buffered (the
/// process's peak heap grows by far less than the message), and the next message arrives.
#[tokio::test]
async fn an_oversized_message_is_not_buffered() {
    const SIZE: u64 = 256 << 20;
    let (listener, port) = listener().await;
    let server = tokio::spawn(async move {
        let (mut s, up) = Server::accept(&listener).await;
        s.write(&Server::switching_protocols(&up)).await;
        let mut head = vec![0x81, 127];
        head.extend_from_slice(&SIZE.to_be_bytes());
        s.write(&head).await;
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..SIZE / chunk.len() as u64 {
            s.write(&chunk).await;
        }
        s.send(true, 0x1, b"{\"after\":1}").await;
        s.recv().await
    });
    let (mut reader, _writer) = ws::connect_tcp(&format!("ws://127.0.0.1:{port}"), None, 1 << 20)
        .await
        .unwrap();
    let base = heap::reset_peak();
    assert_eq!(
        next(&mut reader).await.unwrap(),
        format!("<too large {SIZE}>")
    );
    let grown = heap::peak() - base;
    assert_eq!(next(&mut reader).await.unwrap(), "{\"after\":1}");
    assert!(
        grown < 32 << 20,
        "the peak heap grew by {grown} bytes while a {SIZE}-byte message was skipped"
    );
    drop(reader);
    drop(_writer);
    server.await.unwrap();
}

/// Counts the heap of this test binary, for `an_oversized_message_is_not_buffered`.
mod heap {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counting;
    static CURRENT: AtomicUsize = AtomicUsize::new(0);
    static PEAK: AtomicUsize = AtomicUsize::new(0);

    fn grew(by: usize) {
        let now = CURRENT.fetch_add(by, Ordering::Relaxed) + by;
        PEAK.fetch_max(now, Ordering::Relaxed);
    }

    // SAFETY: every call is passed to `System` unchanged; only the counts are added.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let p = unsafe { System.alloc(layout) };
            if !p.is_null() {
                grew(layout.size());
            }
            p
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { System.dealloc(ptr, layout) };
            CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let p = unsafe { System.realloc(ptr, layout, new_size) };
            if !p.is_null() {
                CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
                grew(new_size);
            }
            p
        }
    }

    #[global_allocator]
    static COUNTING: Counting = Counting;

    /// The heap now, which is also the peak from now on.
    pub fn reset_peak() -> usize {
        let now = CURRENT.load(Ordering::Relaxed);
        PEAK.store(now, Ordering::Relaxed);
        now
    }

    pub fn peak() -> usize {
        PEAK.load(Ordering::Relaxed)
    }
}

#[tokio::test]
async fn announced_frame_limit_fragments_and_close_sends_a_close_frame() {
    let (listener, port) = listener().await;
    let server = tokio::spawn(async move {
        let (mut s, up) = Server::accept(&listener).await;
        assert!(
            up.header("authorization").is_none(),
            "no token, no Authorization header"
        );
        // As codex's unix listener does, announce the largest unfragmented message.
        let head = String::from_utf8(Server::switching_protocols(&up)).unwrap();
        let head = head.replacen(
            "\r\n\r\n",
            "\r\nX-Codex-WebSocket-Max-Unfragmented-Message-Bytes: 1000\r\n\r\n",
            1,
        );
        s.write(head.as_bytes()).await;
        let parts: Vec<Frame> = vec![
            s.recv().await.unwrap(),
            s.recv().await.unwrap(),
            s.recv().await.unwrap(),
        ];
        let shape: Vec<(bool, u8, usize)> = parts
            .iter()
            .map(|f| (f.fin, f.opcode, f.payload.len()))
            .collect();
        assert_eq!(
            shape,
            [(false, 0x1, 1000), (false, 0x0, 1000), (true, 0x0, 500)]
        );
        assert!(parts.iter().all(|f| f.mask.is_some()));
        let whole: Vec<u8> = parts.into_iter().flat_map(|f| f.payload).collect();
        assert_eq!(whole, format!("\"{}\"", "f".repeat(2498)).into_bytes());
        let last = s.recv().await.unwrap();
        assert_eq!(last.payload, b"{\"last\":true}");
        let close = s.recv().await.expect("close frame");
        assert_eq!(
            (close.opcode, close.payload.as_slice()),
            (0x8, &[0x03, 0xe8][..])
        );
        assert!(close.mask.is_some());
        // The server's reply ends the client's input.
        s.send(true, 0x8, &[0x03, 0xe8]).await;
        assert!(s.recv().await.is_none(), "nothing after the close frame");
    });
    let (mut reader, mut writer) = ws::connect_tcp(&format!("ws://127.0.0.1:{port}"), None, 1024)
        .await
        .unwrap();
    writer
        .write_frame(&format!("\"{}\"", "f".repeat(2498)))
        .await
        .unwrap();
    writer.write_frame("{\"last\":true}").await.unwrap();
    writer.flush().await.unwrap();
    writer.close().await.unwrap();
    assert_eq!(next(&mut reader).await, None);
    drop((reader, writer));
    server.await.unwrap();
}

#[tokio::test]
async fn abnormal_close_code_is_reported() {
    let (listener, port) = listener().await;
    let server = tokio::spawn(async move {
        let (mut s, up) = Server::accept(&listener).await;
        s.write(&Server::switching_protocols(&up)).await;
        let mut payload = 1011u16.to_be_bytes().to_vec();
        payload.extend_from_slice(b"internal trouble");
        s.send(true, 0x8, &payload).await;
        let close = s.recv().await.expect("close reply");
        assert_eq!(close.payload[..2], 1011u16.to_be_bytes());
    });
    let (mut reader, _writer) = ws::connect_tcp(&format!("ws://127.0.0.1:{port}"), None, 1024)
        .await
        .unwrap();
    let err = reader.next_frame().await.unwrap_err();
    assert!(err.to_string().contains("1011: internal trouble"), "{err}");
    assert!(reader.next_frame().await.unwrap().is_none());
    server.await.unwrap();
}

#[tokio::test]
async fn unauthorized_answer_names_authentication_and_never_the_token() {
    let token = "SECRET-TOKEN-42";
    let (listener, port) = listener().await;
    let server = tokio::spawn(async move {
        let (mut s, up) = Server::accept(&listener).await;
        assert_eq!(up.header("authorization"), Some("Bearer SECRET-TOKEN-42"));
        // A careless server echoing the token: it must not reach the error either.
        let body = "invalid websocket bearer token SECRET-TOKEN-42";
        s.write(
            format!(
                "HTTP/1.1 401 Unauthorized\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .await;
        // Keep the connection open, as codex does.
        let _ = s.recv().await;
    });
    let err = ws::connect_tcp(&format!("ws://127.0.0.1:{port}/"), Some(token), 1024)
        .await
        .err()
        .expect("must fail");
    let (shown, debug) = (err.to_string(), format!("{err:?}"));
    assert!(matches!(err, Error::TransportClosed { .. }), "{debug}");
    assert!(
        shown.contains("HTTP 401") && shown.contains("authentication failed"),
        "{shown}"
    );
    assert!(shown.contains("invalid websocket bearer token"), "{shown}");
    assert!(
        !shown.contains(token) && !debug.contains(token),
        "token leaked: {shown} / {debug}"
    );
    server.abort();
}

/// Every log record, whatever its level, while the test runs.
struct Capture(std::sync::Mutex<Vec<String>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        let line = format!("{} {}", record.level(), record.args());
        self.0.lock().unwrap().push(line);
    }
    fn flush(&self) {}
}

#[tokio::test]
async fn the_token_never_reaches_a_logger() {
    // tungstenite traces the raw upgrade request; trace logging is compiled out (Cargo.toml).
    static CAPTURE: Capture = Capture(std::sync::Mutex::new(Vec::new()));
    log::set_logger(&CAPTURE).unwrap();
    log::set_max_level(log::LevelFilter::Trace);
    let token = "LOGGED-TOKEN-77";
    let (listener, port) = listener().await;
    let server = tokio::spawn(async move {
        let (mut s, up) = Server::accept(&listener).await;
        assert_eq!(up.header("authorization"), Some("Bearer LOGGED-TOKEN-77"));
        s.write(&Server::switching_protocols(&up)).await;
        s.send(true, 0x1, b"{}").await;
        let _ = s.recv().await;
    });
    let (mut reader, mut writer) =
        ws::connect_tcp(&format!("ws://127.0.0.1:{port}"), Some(token), 1024)
            .await
            .unwrap();
    assert_eq!(next(&mut reader).await.unwrap(), "{}");
    writer.write_frame("{}").await.unwrap();
    writer.flush().await.unwrap();
    server.await.unwrap();
    let lines = CAPTURE.0.lock().unwrap();
    assert!(
        lines.iter().all(|l| !l.contains(token)),
        "token logged: {lines:?}"
    );
}

#[tokio::test]
async fn wrong_accept_other_statuses_and_bad_urls_fail_clearly() {
    let (listener, port) = listener().await;
    let server = tokio::spawn(async move {
        let (mut s, _) = Server::accept(&listener).await;
        s.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n").await;
        let (mut s, _) = Server::accept(&listener).await;
        s.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 9\r\n\r\nno route!")
            .await;
        let (mut s, _) = Server::accept(&listener).await;
        s.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n").await;
    });
    let url = format!("ws://127.0.0.1:{port}");
    let err = ws::connect_tcp(&url, None, 1024)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("Sec-WebSocket-Accept does not match"), "{err}");
    let err = ws::connect_tcp(&url, None, 1024)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("HTTP 404 Not Found: no route!") && !err.contains("authentication"),
        "{err}"
    );
    let err = ws::connect_tcp(&url, None, 1024)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("not an HTTP response"), "{err}");
    server.await.unwrap();

    let err = ws::connect_tcp("wss://127.0.0.1:1", None, 1024)
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), "INVALID_ARGUMENT");
    assert!(err.to_string().contains("TLS"), "{err}");

    // The server task has ended and dropped its listener: the port now refuses connections.
    let err = ws::connect_tcp(&url, None, 1024).await.err().unwrap();
    assert_eq!(err.code(), "TRANSPORT_CLOSED");
    assert!(
        err.to_string()
            .contains("could not connect to ws://127.0.0.1"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// The real codex.

fn codex_bin() -> Option<PathBuf> {
    let path = std::env::var_os("CODEX_BIN").map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(
            "../../node_modules/.pnpm/@openai+codex@0.169.0-linux-x64/node_modules/@openai/codex/vendor/x86_64-unknown-linux-musl/bin/codex",
        )
    });
    // A missing binary fails the test (a skipped test must not pass): run `pnpm install` first.
    assert!(
        path.exists(),
        "no codex binary at {} (run `pnpm install`, or set CODEX_BIN)",
        path.display()
    );
    Some(path)
}

/// A fresh directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "cnws-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Codex {
    child: tokio::process::Child,
    home: TempDir,
}

impl Codex {
    fn start(bin: &Path, listen: &str, extra: &[&str], home: TempDir) -> Codex {
        let stderr = std::fs::File::create(home.0.join("stderr.log")).unwrap();
        let child = tokio::process::Command::new(bin)
            .arg("app-server")
            .args(["--listen", listen])
            .args(extra)
            .args([
                "-c",
                "features.plugins=false",
                "-c",
                "analytics.enabled=false",
            ])
            .env("CODEX_HOME", &home.0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn codex");
        Codex { child, home }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.home.0.join("stderr.log")).unwrap_or_default()
    }

    /// Polls `attempt` until it succeeds, the child exits, or 30 s pass.
    async fn wait_until<F, Fut>(&mut self, what: &str, mut attempt: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if attempt().await {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "codex exited ({status}) before {what} accepted connections:\n{}",
                    self.stderr()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{what} not accepting connections after 30 s:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn wait_tcp(&mut self, port: u16) {
        self.wait_until(&format!("127.0.0.1:{port}"), || async move {
            TcpStream::connect(("127.0.0.1", port)).await.is_ok()
        })
        .await;
    }

    #[cfg(unix)]
    async fn wait_unix(&mut self, path: &Path) {
        let path = path.to_owned();
        self.wait_until(&path.display().to_string(), || {
            let path = path.clone();
            async move { tokio::net::UnixStream::connect(&path).await.is_ok() }
        })
        .await;
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn check_session(halves: ws::WsHalves, home: &Path) {
    let (reader, writer) = halves;
    let session = tokio::time::timeout(
        LIMIT,
        Session::connect(reader, writer, SessionOptions::default()),
    )
    .await
    .expect("initialize timed out")
    .expect("initialize");
    let info = session.info();
    let info = info.get();
    assert!(info.contains("\"codexHome\""), "{info}");
    assert!(info.contains(home.to_str().unwrap()), "{info}");
    // A second request with a larger answer (16-bit frame length).
    let config = tokio::time::timeout(LIMIT, session.read_config(Default::default()))
        .await
        .unwrap()
        .unwrap();
    assert!(config.get().len() > 125, "{}", config.get());
    session.close().await;
}

#[tokio::test]
async fn real_codex_over_ws_with_capability_token() {
    let Some(bin) = codex_bin() else { return };
    let home = TempDir::new("wstok");
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let token = format!("tok-{}-{nanos}", std::process::id());
    let token_file = home.0.join("ws-token");
    std::fs::write(&token_file, &token).unwrap();
    let port = free_port();
    let token_path = token_file.to_str().unwrap().to_owned();
    let mut codex = Codex::start(
        &bin,
        &format!("ws://127.0.0.1:{port}"),
        &[
            "--ws-auth",
            "capability-token",
            "--ws-token-file",
            &token_path,
        ],
        home,
    );
    codex.wait_tcp(port).await;
    let url = format!("ws://127.0.0.1:{port}");

    let halves = ws::connect_tcp(&url, Some(&token), 1 << 20).await.unwrap();
    check_session(halves, &codex.home.0).await;

    let wrong = "wrong-token-0123456789";
    let err = ws::connect_tcp(&url, Some(wrong), 1 << 20)
        .await
        .err()
        .expect("wrong token must fail");
    let (shown, debug) = (err.to_string(), format!("{err:?}"));
    eprintln!("wrong token: {shown}");
    assert!(
        shown.contains("HTTP 401") && shown.contains("authentication failed"),
        "{shown}"
    );
    for secret in [wrong, token.as_str()] {
        assert!(
            !shown.contains(secret) && !debug.contains(secret),
            "token leaked: {debug}"
        );
    }

    let err = ws::connect_tcp(&url, None, 1 << 20)
        .await
        .err()
        .expect("no token must fail")
        .to_string();
    eprintln!("no token: {err}");
    assert!(
        err.contains("HTTP 401") && err.contains("requires a token"),
        "{err}"
    );
    codex.stop().await;
}

#[tokio::test]
async fn real_codex_over_ws_without_auth() {
    let Some(bin) = codex_bin() else { return };
    let port = free_port();
    let mut codex = Codex::start(
        &bin,
        &format!("ws://127.0.0.1:{port}"),
        &[],
        TempDir::new("ws"),
    );
    codex.wait_tcp(port).await;
    // A token the server does not ask for is harmless.
    let halves = ws::connect_tcp(&format!("ws://127.0.0.1:{port}"), Some("unused"), 1 << 20)
        .await
        .unwrap();
    check_session(halves, &codex.home.0).await;
    let halves = ws::connect_tcp(&format!("ws://127.0.0.1:{port}"), None, 1 << 20)
        .await
        .unwrap();
    check_session(halves, &codex.home.0).await;

    // codex drops the connection on a single frame over 16 MiB; the writer fragments such
    // messages, which codex reassembles.
    let (reader, writer) = ws::connect_tcp(&format!("ws://127.0.0.1:{port}"), None, 1 << 20)
        .await
        .unwrap();
    let session = Session::connect(reader, writer, SessionOptions::default())
        .await
        .unwrap();
    let params = serde_json::json!({ "padding": "p".repeat(17 << 20) }).to_string();
    let answer = tokio::time::timeout(
        Duration::from_secs(60),
        session.request("config/read", &params, None),
    )
    .await
    .expect("no answer to a 17 MiB request")
    .expect("config/read with 17 MiB of padding");
    assert!(answer.get().contains("\"config\""));
    session.close().await;
    codex.stop().await;
}

#[cfg(unix)]
#[tokio::test]
async fn real_codex_over_unix_socket() {
    let Some(bin) = codex_bin() else { return };
    let home = TempDir::new("unix");
    let sock = home.0.join("codex.sock");
    let mut codex = Codex::start(&bin, &format!("unix://{}", sock.display()), &[], home);
    codex.wait_unix(&sock).await;
    let halves = ws::connect_unix(&sock, None, 1 << 20).await.unwrap();
    check_session(halves, &codex.home.0).await;
    codex.stop().await;

    // `unix://` without a path: $CODEX_HOME/app-server-control/app-server-control.sock.
    let home = TempDir::new("unixdef");
    let sock = home
        .0
        .join("app-server-control")
        .join("app-server-control.sock");
    let mut codex = Codex::start(&bin, "unix://", &[], home);
    codex.wait_unix(&sock).await;
    let halves = ws::connect_unix(&sock, None, 1 << 20).await.unwrap();
    check_session(halves, &codex.home.0).await;
    codex.stop().await;
}
