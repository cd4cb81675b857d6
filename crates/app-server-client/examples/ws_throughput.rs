//! WebSocket transport throughput: 100,000 small notifications (~100 B of JSON each),
//! server -> client, read one by one through the transport's `FrameReader`.
//!
//! ```sh
//! cargo run --release -p app-server-client --example ws_throughput [-- MESSAGES RUNS]
//! ```
//!
//! The server side uses tokio-tungstenite only for the handshake, then writes pre-encoded
//! frames in 1 MiB writes, so the figure is the client's reading cost (plus the kernel's),
//! not the server's encoding. Prints every run and the median; see bench/README.md.

use std::time::{Duration, Instant};

use app_server_client::transport::ReadFrame;
use app_server_client::ws;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

const NOTIFICATION: &str = r#"{"jsonrpc":"2.0","method":"item/agentMessage/delta","params":{"threadId":"t1","turnId":"u1","itemId":"i1","delta":"hello"}}"#;

/// Unmasked server frames, all text, each under 126 bytes (2-byte header).
fn encoded(messages: usize) -> Vec<u8> {
    assert!(NOTIFICATION.len() < 126);
    let mut out = Vec::with_capacity(messages * (NOTIFICATION.len() + 2));
    for _ in 0..messages {
        out.push(0x81);
        out.push(NOTIFICATION.len() as u8);
        out.extend_from_slice(NOTIFICATION.as_bytes());
    }
    out
}

async fn one_run(bytes: &'static [u8], messages: usize) -> Duration {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("local addr").port();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        let ws = tokio_tungstenite::accept_async(stream)
            .await
            .expect("server handshake");
        let mut stream = ws.into_inner();
        for chunk in bytes.chunks(1 << 20) {
            stream.write_all(chunk).await.expect("server write");
        }
        stream.flush().await.expect("server flush");
        // Keep the connection open until the client has read everything.
        stream
    });
    let (mut reader, _writer) = ws::connect_tcp(&format!("ws://127.0.0.1:{port}"), None, 64 << 20)
        .await
        .expect("connect");
    let start = Instant::now();
    let mut seen = 0usize;
    while seen < messages {
        match reader.next_frame().await.expect("read") {
            Some(ReadFrame::Frame(text)) => {
                assert_eq!(text.len(), NOTIFICATION.len());
                seen += 1;
            }
            other => panic!("unexpected {other:?} after {seen} messages"),
        }
    }
    let elapsed = start.elapsed();
    drop(server.await.expect("server task"));
    elapsed
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let messages: usize = args
        .next()
        .map_or(100_000, |a| a.parse().expect("MESSAGES"));
    let runs: usize = args.next().map_or(7, |a| a.parse().expect("RUNS"));
    let bytes: &'static [u8] = Box::leak(encoded(messages).into_boxed_slice());
    // One warm-up run (allocator, page cache), not counted.
    one_run(bytes, messages).await;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = one_run(bytes, messages).await;
        println!(
            "run: {:.1} ms, {:.0} messages/s",
            t.as_secs_f64() * 1e3,
            messages as f64 / t.as_secs_f64()
        );
        times.push(t);
    }
    times.sort();
    let median = times[times.len() / 2];
    println!(
        "median of {runs}: {:.1} ms for {messages} messages of {} B = {:.0} messages/s ({:.0} ns/message)",
        median.as_secs_f64() * 1e3,
        NOTIFICATION.len(),
        messages as f64 / median.as_secs_f64(),
        median.as_nanos() as f64 / messages as f64
    );
}
