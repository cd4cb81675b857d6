//! The `stream` transport's two directions, between Node streams and the core's framing.
//!
//! In: main.js pushes each `data` chunk of the readable into a [`StreamInput`] (from the
//! JavaScript thread, which cannot await), which feeds a core `ChannelReader`; the core's line
//! framing reads it as it reads a pipe. Out: the connection's writer task queues frames and,
//! at each flush, hands them to `writable.write` through a typed callback; when `write`
//! returns false (over the writable's highWaterMark) the writer task waits for main.js to report
//! `'drain'`, so a slow peer holds back the writer, not memory. When the writer goes (the
//! session closed or its connection ended) `onEnd` tells main.js, which ends the writable and
//! lets go of the readable; neither stream is destroyed.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use app_server_client as core;
use core::transport::{
    BoxFuture, ChannelReader, ChunkSender, FrameReader, FrameWriter, LineReader,
};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::Status;
use napi_derive::napi;
use tokio::sync::Notify;

use crate::callbacks::EndCallback;
use crate::lock::lock;
use crate::text::JsText;

/// `(text) => boolean`: `writable.write(text)`, whose answer says whether to wait for 'drain'.
pub type WriteCallback = ThreadsafeFunction<JsText, bool, JsText, Status, false, true>;

/// What the writer and main.js share: the drain wake-up, and whether the writable is gone.
#[derive(Default)]
struct WriteState {
    drained: Notify,
    gone: AtomicBool,
}

impl WriteState {
    /// Nothing more is written: a waiting writer wakes and fails, later writes fail at once.
    fn release(&self) {
        self.gone.store(true, Ordering::SeqCst);
        self.drained.notify_one();
    }
}

/// The JavaScript side of a `stream` transport, made by main.js before `Session.create` so that
/// the server's first bytes (the `initialize` answer) have somewhere to go. Held in [`INPUTS`]
/// by id (functions, not a class: napi would declare a class in the public types).
struct StreamInput {
    sender: Mutex<Option<ChunkSender>>,
    reader: Mutex<Option<ChannelReader>>,
    write: Arc<WriteState>,
}

static INPUTS: LazyLock<Mutex<HashMap<u32, Arc<StreamInput>>>> = LazyLock::new(Mutex::default);
static NEXT_INPUT: AtomicU32 = AtomicU32::new(1);

fn input(id: u32) -> Option<Arc<StreamInput>> {
    lock(&INPUTS).get(&id).cloned()
}

/// A new input; its id goes to `Session.create` (hooks.streamId) and the calls below.
#[napi(js_name = "_streamOpen", skip_typescript)]
pub fn stream_open() -> u32 {
    let (sender, reader) = ChannelReader::new();
    let id = NEXT_INPUT.fetch_add(1, Ordering::Relaxed);
    let input = StreamInput {
        sender: Mutex::new(Some(sender)),
        reader: Mutex::new(Some(reader)),
        write: Arc::default(),
    };
    lock(&INPUTS).insert(id, Arc::new(input));
    id
}

/// A chunk the readable emitted. Ignored once the input has ended.
#[napi(js_name = "_streamPush", skip_typescript)]
pub fn stream_push(id: u32, chunk: &[u8]) {
    if let Some(input) = input(id) {
        if let Some(sender) = lock(&input.sender).as_ref() {
            let _ = sender.send(Ok(chunk.to_vec()));
        }
    }
}

/// The readable ended (`error` null) or failed: the connection ends TRANSPORT_CLOSED. A writer
/// waiting for a 'drain' that will not come (the peer is gone) is let go.
#[napi(js_name = "_streamEnd", skip_typescript)]
pub fn stream_end(id: u32, error: Option<String>) {
    if let Some(input) = input(id) {
        if let (Some(sender), Some(message)) = (lock(&input.sender).take(), error) {
            let _ = sender.send(Err(io::Error::other(message)));
        }
        input.write.release();
    }
}

/// The writable emitted 'drain' (or went away: `gone`, and every later write fails).
#[napi(js_name = "_streamDrained", skip_typescript)]
pub fn stream_drained(id: u32, gone: bool) {
    if let Some(input) = input(id) {
        if gone {
            input.write.release();
        } else {
            input.write.drained.notify_one();
        }
    }
}

/// main.js let go of the streams (the session closed, or its start failed): the id is
/// forgotten, the input ends, and a writer still waiting for 'drain' gives up, so that the
/// connection's writer can close (and end the writable) even when the peer stopped reading.
#[napi(js_name = "_streamRelease", skip_typescript)]
pub fn stream_release(id: u32) {
    if let Some(input) = lock(&INPUTS).remove(&id) {
        input.write.release();
    }
}

/// The input's side of a session's connection; once (a second session over the same input gets
/// `None`). Taken on the JavaScript thread, made into the transport in the start.
pub fn take_stream(id: u32) -> Option<StreamParts> {
    let input = input(id)?;
    let reader = lock(&input.reader).take()?;
    Some(StreamParts {
        reader,
        state: Arc::clone(&input.write),
    })
}

pub struct StreamParts {
    reader: ChannelReader,
    state: Arc<WriteState>,
}

impl StreamParts {
    /// The connection's reader (frames up to `max_frame_bytes`, as over stdio) and writer.
    pub fn into_transport(
        self,
        max_frame_bytes: usize,
        write: WriteCallback,
        on_end: EndCallback,
    ) -> (Box<dyn FrameReader>, Box<dyn FrameWriter>) {
        let reader = Box::new(LineReader::new(self.reader, max_frame_bytes));
        let writer = Box::new(StreamWriter {
            pending: String::new(),
            write,
            on_end: Some(on_end),
            state: self.state,
        });
        (reader, writer)
    }
}

/// Frames out to `writable.write`, one call per flush (the writer task flushes once per batch).
pub struct StreamWriter {
    pending: String,
    write: WriteCallback,
    on_end: Option<EndCallback>,
    state: Arc<WriteState>,
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the writable stream has closed")
}

impl FrameWriter for StreamWriter {
    fn write_frame<'a>(&'a mut self, frame: &'a str) -> BoxFuture<'a, io::Result<()>> {
        self.pending.push_str(frame);
        self.pending.push('\n');
        Box::pin(async { Ok(()) })
    }

    fn flush(&mut self) -> BoxFuture<'_, io::Result<()>> {
        Box::pin(async move {
            if self.pending.is_empty() {
                return Ok(());
            }
            if self.state.gone.load(Ordering::SeqCst) {
                return Err(gone());
            }
            let text = JsText(std::mem::take(&mut self.pending));
            let more = self
                .write
                .call_async_catch(text)
                .await
                .map_err(|e| io::Error::new(io::ErrorKind::BrokenPipe, e.reason.clone()))?;
            if !more {
                // A permit stored by a 'drain' that came first is taken at once.
                self.state.drained.notified().await;
                if self.state.gone.load(Ordering::SeqCst) {
                    return Err(gone());
                }
            }
            Ok(())
        })
    }

    fn close(&mut self) -> BoxFuture<'_, io::Result<()>> {
        self.end();
        Box::pin(async { Ok(()) })
    }
}

impl StreamWriter {
    fn end(&mut self) {
        if let Some(on_end) = self.on_end.take() {
            on_end.call(None, ThreadsafeFunctionCallMode::NonBlocking);
        }
    }
}

/// However the connection ends (closed, or the peer gone), main.js hears it once.
impl Drop for StreamWriter {
    fn drop(&mut self) {
        self.end();
    }
}
