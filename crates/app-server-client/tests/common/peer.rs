//! The server side of an in-memory pipe, driven frame by frame by a test: the one scripted
//! peer of `fake_peer.rs` and of the regression tests in `fuzz.rs` (the fuzzer's chaotic peer
//! is its own: it writes random frames without waiting on the client).

use std::time::Duration;

use app_server_client::transport::{LineReader, LineWriter};
use app_server_client::{Input, Session, SessionOptions, Thread, Turn, TurnSetup};
use serde_json::{json, Map, Value};
use tokio::io::{
    AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, Lines, ReadHalf, WriteHalf,
};

/// The pipe's capacity by default: big enough that no test's burst waits on the client.
pub const PIPE_BYTES: usize = 1 << 20;

pub struct Peer {
    /// What the client writes, line by line.
    pub lines: Lines<BufReader<ReadHalf<DuplexStream>>>,
    /// Where the peer writes; dropping it (with the peer) closes the client's transport.
    pub out: WriteHalf<DuplexStream>,
}

impl Peer {
    /// The next frame from the client, within 5 s.
    pub async fn recv(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(5), self.lines.next_line())
            .await
            .expect("peer waited 5 s for a frame")
            .expect("read")
            .expect("client closed its output");
        serde_json::from_str(&line).expect("client sent JSON")
    }

    /// The next frame, which must be `method`: its (id, params).
    pub async fn expect(&mut self, method: &str) -> (Value, Value) {
        let msg = self.recv().await;
        assert_eq!(msg["method"], method, "unexpected frame {msg}");
        (msg["id"].clone(), msg["params"].clone())
    }

    /// Writes `line` and a newline, verbatim (malformed frames included).
    pub async fn send_raw(&mut self, line: &str) {
        self.out.write_all(line.as_bytes()).await.unwrap();
        self.out.write_all(b"\n").await.unwrap();
    }

    pub async fn send(&mut self, msg: Value) {
        self.send_raw(&msg.to_string()).await;
    }

    pub async fn answer(&mut self, id: &Value, result: Value) {
        self.send(json!({ "id": id, "result": result })).await;
    }

    /// `initialize` answered as codex does, then `initialized`.
    pub async fn handshake(&mut self) {
        let (id, params) = self.expect("initialize").await;
        assert_eq!(params["clientInfo"]["name"], "codex-native");
        self.answer(&id, json!({"userAgent": "fake/1", "codexHome": "/tmp", "platformFamily": "unix", "platformOs": "linux"}))
            .await;
        let msg = self.recv().await;
        assert_eq!(msg["method"], "initialized");
        assert!(msg.get("id").is_none());
    }
}

/// A session connected to a fresh peer through a pipe of `pipe_bytes`, handshake done.
pub async fn connect_with_pipe(options: SessionOptions, pipe_bytes: usize) -> (Session, Peer) {
    let (client_side, server_side) = tokio::io::duplex(pipe_bytes);
    let (client_read, client_write) = tokio::io::split(client_side);
    let (server_read, server_write) = tokio::io::split(server_side);
    let mut peer = Peer {
        lines: BufReader::new(server_read).lines(),
        out: server_write,
    };
    let reader = Box::new(LineReader::new(BufReader::new(client_read), 1024 * 1024));
    let writer = Box::new(LineWriter::new(client_write));
    let (session, ()) = tokio::join!(
        async {
            Session::connect(reader, writer, options)
                .await
                .expect("connect")
        },
        peer.handshake()
    );
    (session, peer)
}

pub async fn connect_with(options: SessionOptions) -> (Session, Peer) {
    connect_with_pipe(options, PIPE_BYTES).await
}

pub async fn connect() -> (Session, Peer) {
    connect_with(SessionOptions::default()).await
}

/// `thread/start`, answered with thread id `id`.
pub async fn open_thread(session: &Session, peer: &mut Peer, id: &str) -> Thread {
    let (thread, ()) = tokio::join!(
        async { session.start_thread(Map::new()).await.unwrap() },
        async {
            let (rid, _) = peer.expect("thread/start").await;
            peer.answer(&rid, json!({ "thread": { "id": id } })).await;
        }
    );
    thread
}

/// Starts a turn that the peer answers, at once, with turn id `turn_id`.
pub async fn start_turn(thread: &Thread, peer: &mut Peer, turn_id: &str, setup: TurnSetup) -> Turn {
    let ((turn, _), ()) = tokio::join!(
        async {
            thread
                .start_turn(Input::from("x"), Map::new(), setup)
                .await
                .unwrap()
        },
        async {
            let (id, _) = peer.expect("turn/start").await;
            peer.answer(&id, json!({"turn": {"id": turn_id}})).await;
        }
    );
    turn
}
