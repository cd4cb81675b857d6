//! What sending costs: 100k requests (round trips to an in-process peer that answers at once),
//! notifications and responses, through the public API, on one thread. Frames go nowhere
//! (the peer reads only a request's id), so this is the client's own cost per frame: encoding,
//! the writer task, and for requests the pending map and the reader.
//!
//!     cargo run --release -p app-server-client --example outgoing_bench

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use app_server_client::transport::{BoxFuture, FrameReader, FrameWriter, ReadFrame};
use app_server_client::{Session, SessionOptions};
use serde_json::value::RawValue;
use tokio::sync::{mpsc, Notify};

const COUNT: usize = 100_000;

/// Answers every request at once with an empty result (`initialize` with what the handshake
/// needs); counts every frame written.
struct Peer {
    answers: mpsc::UnboundedSender<String>,
    written: Arc<AtomicUsize>,
    wrote: Arc<Notify>,
}

impl FrameWriter for Peer {
    fn write_frame<'a>(&'a mut self, frame: &'a str) -> BoxFuture<'a, io::Result<()>> {
        self.written.fetch_add(1, Ordering::Relaxed);
        // Only requests carry both an id and a method; their frames start with the id.
        if frame.contains("\"method\"") {
            if let Some(rest) = frame.strip_prefix("{\"id\":") {
                let id: String = rest.chars().take_while(char::is_ascii_digit).collect();
                let result = if frame.contains("\"initialize\"") {
                    r#"{"userAgent":"bench/1","codexHome":"/tmp","platformFamily":"unix","platformOs":"linux"}"#
                } else {
                    "{}"
                };
                let _ = self
                    .answers
                    .send(format!("{{\"id\":{id},\"result\":{result}}}"));
            }
        }
        Box::pin(async { Ok(()) })
    }
    fn flush(&mut self) -> BoxFuture<'_, io::Result<()>> {
        self.wrote.notify_one();
        Box::pin(async { Ok(()) })
    }
    fn close(&mut self) -> BoxFuture<'_, io::Result<()>> {
        Box::pin(async { Ok(()) })
    }
}

struct Answers(mpsc::UnboundedReceiver<String>);

impl FrameReader for Answers {
    fn next_frame(&mut self) -> BoxFuture<'_, io::Result<Option<ReadFrame>>> {
        Box::pin(async { Ok(self.0.recv().await.map(ReadFrame::Frame)) })
    }
}

fn report(what: &str, started: Instant) {
    let elapsed = started.elapsed();
    println!(
        "{what:<44} {:>8.1} ms  {:>7.0} ns/op",
        elapsed.as_secs_f64() * 1e3,
        elapsed.as_nanos() as f64 / COUNT as f64
    );
}

async fn wait_written(written: &AtomicUsize, wrote: &Notify, count: usize) {
    while written.load(Ordering::Relaxed) < count {
        wrote.notified().await;
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> app_server_client::Result<()> {
    let (tx, rx) = mpsc::unbounded_channel();
    let written = Arc::new(AtomicUsize::new(0));
    let wrote = Arc::new(Notify::new());
    let peer = Peer {
        answers: tx,
        written: Arc::clone(&written),
        wrote: Arc::clone(&wrote),
    };
    let session = Session::connect(
        Box::new(Answers(rx)),
        Box::new(peer),
        SessionOptions::default(),
    )
    .await?;
    let conn = session.connection();
    let params = r#"{"threadId":"0199a213-81c0-7800-8aa1-bbab2a035a53","cursor":null,"limit":50}"#;
    let value: serde_json::Value = serde_json::from_str(params).unwrap_or_default();

    for round in 0..2 {
        println!("round {round}");
        let started = Instant::now();
        for _ in 0..COUNT {
            session.request("thread/list", params, None).await?;
        }
        report("request (params as JSON text), round trip", started);

        let started = Instant::now();
        for _ in 0..COUNT {
            conn.request("thread/list", &value, None).await?;
        }
        report("request (params as Value), round trip", started);

        let base = written.load(Ordering::Relaxed);
        let started = Instant::now();
        for _ in 0..COUNT {
            conn.notify("thread/heartbeat", Some(params))?;
        }
        wait_written(&written, &wrote, base + COUNT).await;
        report("notify, until written", started);

        let id = RawValue::from_string("42".into()).unwrap_or_default();
        let result = RawValue::from_string(r#"{"decision":"accept"}"#.into()).unwrap_or_default();
        let base = written.load(Ordering::Relaxed);
        let started = Instant::now();
        for _ in 0..COUNT {
            conn.respond(&id, Ok(&result))?;
        }
        wait_written(&written, &wrote, base + COUNT).await;
        report("respond (result), until written", started);

        let error = app_server_client::RpcError {
            code: -32601,
            message: "item/tool/call: declined by the client's \"approval\" policy".into(),
            data: None,
        };
        let base = written.load(Ordering::Relaxed);
        let started = Instant::now();
        for _ in 0..COUNT {
            conn.respond(&id, Err(&error))?;
        }
        wait_written(&written, &wrote, base + COUNT).await;
        report("respond (error), until written", started);
    }
    session.close().await;
    Ok(())
}
