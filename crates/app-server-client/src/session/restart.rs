//! Restarting an owned server that exits unexpectedly (`SessionOptions::restart`).
//!
//! The connection outlives its transports: when the reader (or writer) of the current one ends,
//! `Connection` fails what was in flight (`TRANSPORT_CLOSED` with the stderr tail, as on any
//! close), keeps the session's listeners, parks new requests, and tells the supervisor below,
//! which stops what is left of the old process tree, spawns a new server with the same
//! options, attaches its pipes to the connection, runs `initialize` and re-attaches the threads
//! the application still holds (`thread/resume`) before the parked requests go ahead.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde_json::value::RawValue;
use serde_json::{Map, Value};
use tokio::io::BufReader;
use tokio::sync::{mpsc, watch};

use super::{Session, SessionInner, SessionOptions, Thread};
use crate::connection::{ConnectionHooks, MessageTap, RetryPolicy};
use crate::error::{Error, Result};
use crate::lock::lock;
use crate::process::{ChildProcess, ExitInfo, SpawnOptions, StderrListener, StderrTail};
use crate::transport::{LineReader, LineWriter};

/// When and how often a crashed server is restarted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RestartPolicy {
    /// Restarts allowed before the session gives up (closes with the last error). The count
    /// starts again once a server has stayed up for `reset_after`.
    pub max_restarts: u32,
    /// Delay before the first restart; it doubles per attempt (with jitter) up to `max_delay`.
    pub initial_delay: Duration,
    pub max_delay: Duration,
    pub reset_after: Duration,
}

impl Default for RestartPolicy {
    /// `restart: true`: 3 restarts within a minute, after 250 ms, 500 ms, 1 s (each with up to
    /// half taken off as jitter), at most 5 s apart.
    fn default() -> Self {
        RestartPolicy {
            max_restarts: 3,
            initial_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(5),
            reset_after: Duration::from_secs(60),
        }
    }
}

impl RestartPolicy {
    /// Delay before restart `attempt` (1-based): the same capped exponential with jitter as
    /// the overload retries (`RetryPolicy::delay`, `rand` already in the tree).
    fn delay(&self, attempt: u32) -> Duration {
        RetryPolicy {
            max_attempts: u32::MAX,
            initial_delay: self.initial_delay,
            max_delay: self.max_delay,
        }
        .delay(attempt)
    }
}

/// What `onRestart` is told, once per attempt, before it is made.
#[derive(Debug, Clone)]
pub struct RestartEvent {
    /// 1 for the first restart since the count was last reset.
    pub attempt: u32,
    /// How the server that is replaced ended (none if it could not be found out).
    pub exit: Option<ExitInfo>,
    /// The last lines it wrote to stderr.
    pub stderr_tail: String,
}

/// Called on the supervisor task; must be quick.
pub type RestartListener = Arc<dyn Fn(RestartEvent) + Send + Sync>;

/// What belongs to the current server.
pub(super) struct Live {
    pub(super) info: Box<RawValue>,
    pub(super) server_version: Option<String>,
    pub(super) pid: Option<u32>,
    pub(super) stderr: StderrTail,
    /// The exit of a server replaced or given up on, for `exited()` when no child is left.
    pub(super) last_exit: Option<ExitInfo>,
}

/// A thread handed out; the session keeps it weakly (a thread nobody holds is not resumed).
pub(super) struct ThreadEntry {
    ephemeral: bool,
    /// The `thread/resume` fields that re-create it as it was opened (model, cwd, sandbox...).
    resume: Mutex<Map<String, Value>>,
    /// Why it could not be re-attached after a restart.
    lost: Mutex<Option<String>>,
}

/// Fields of thread/start, resume and fork that thread/resume also takes (pinned schema).
const RESUMABLE: &[&str] = &[
    "approvalPolicy",
    "approvalsReviewer",
    "baseInstructions",
    "config",
    "cwd",
    "developerInstructions",
    "model",
    "modelProvider",
    "personality",
    "sandbox",
    "serviceTier",
];

impl Session {
    /// The entry of a thread just opened; registered for restarts when they are on.
    pub(super) fn register_thread(&self, id: &str, params: &Value) -> Arc<ThreadEntry> {
        let resume: Map<String, Value> = RESUMABLE
            .iter()
            .filter_map(|k| params.get(*k).map(|v| ((*k).to_owned(), v.clone())))
            .collect();
        let ephemeral = params.get("ephemeral") == Some(&Value::Bool(true));
        if lock(&self.inner.supervisor).is_none() {
            return Arc::new(ThreadEntry {
                ephemeral,
                resume: Mutex::new(resume),
                lost: Mutex::default(),
            });
        }
        let mut threads = lock(&self.inner.threads);
        threads.retain(|_, entry| entry.strong_count() > 0);
        // Opened again (resumed twice): one entry, the latest options.
        if let Some(entry) = threads.get(id).and_then(Weak::upgrade) {
            *lock(&entry.resume) = resume;
            *lock(&entry.lost) = None;
            return entry;
        }
        let entry = Arc::new(ThreadEntry {
            ephemeral,
            resume: Mutex::new(resume),
            lost: Mutex::default(),
        });
        threads.insert(id.to_owned(), Arc::downgrade(&entry));
        entry
    }

    /// `THREAD_LOST` for a request naming a thread that a restart could not bring back.
    pub(super) fn check_thread_param(&self, params_json: &str) -> Result<()> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Named {
            thread_id: Option<String>,
        }
        let Some(id) = serde_json::from_str::<Named>(params_json)
            .ok()
            .and_then(|n| n.thread_id)
        else {
            return Ok(());
        };
        let entry = lock(&self.inner.threads).get(&id).and_then(Weak::upgrade);
        match entry.and_then(|e| lock(&e.lost).clone()) {
            Some(reason) => Err(Error::ThreadLost {
                thread_id: id,
                reason,
            }),
            None => Ok(()),
        }
    }
}

impl Thread {
    pub(super) fn check_usable(&self) -> Result<()> {
        match lock(&self.entry.lost).clone() {
            Some(reason) => Err(Error::ThreadLost {
                thread_id: self.id.clone(),
                reason,
            }),
            None => Ok(()),
        }
    }
}

/// Everything needed to start the same server again.
pub(super) struct Respawn {
    policy: RestartPolicy,
    on_restart: Option<RestartListener>,
    spawn: SpawnOptions,
    init: Value,
    client_name: String,
    max_frame_bytes: usize,
    startup_timeout: Duration,
    shutdown_grace: Duration,
    stderr_listener: Option<StderrListener>,
    tap: Option<MessageTap>,
    diagnostics: Option<mpsc::UnboundedSender<crate::connection::Diagnostic>>,
}

impl Respawn {
    pub(super) fn new(
        options: &SessionOptions,
        policy: RestartPolicy,
        on_restart: Option<RestartListener>,
    ) -> Result<Respawn> {
        let mut spawn = options.spawn.clone();
        let mut args = Vec::with_capacity(options.config.len() * 2);
        for (key, value) in &options.config {
            args.push("-c".to_owned());
            args.push(crate::toml::config_override(key, value)?);
        }
        args.append(&mut spawn.args);
        spawn.args = args;
        Ok(Respawn {
            policy,
            on_restart,
            spawn,
            init: super::initialize_params(options),
            client_name: options.client_info.name.clone(),
            max_frame_bytes: options.max_frame_bytes,
            startup_timeout: options.startup_timeout,
            shutdown_grace: options.shutdown_grace,
            stderr_listener: options.stderr_listener.clone(),
            tap: options.message_tap.clone(),
            diagnostics: options.diagnostics.clone(),
        })
    }
}

/// Makes the session's connection restartable and starts its supervisor.
pub(super) fn start_supervisor(session: &Session, mut respawn: Respawn) {
    let inner = &session.inner;
    // The binary the first start found: a restart runs the same one.
    if let Some(child) = lock(&inner.child).as_ref() {
        respawn.spawn.discovery.explicit = Some(child.binary.clone());
    }
    let Some(requests) = lock(&inner.requests_tx).take() else {
        return;
    };
    let lost = inner.conn.restartable();
    let (done_tx, done) = watch::channel(false);
    let weak = Arc::downgrade(&session.inner);
    *lock(&inner.supervisor) = Some(done);
    tokio::spawn(async move {
        supervise(weak, lost, respawn, requests).await;
        done_tx.send_replace(true);
    });
}

pub(super) type RequestSender = mpsc::UnboundedSender<(
    crate::frame::ServerRequest,
    u64,
    watch::Receiver<crate::router::RequestFate>,
)>;

/// Waits for the transport to be lost, then restarts, until the session closes or gives up.
/// Holds the session weakly between restarts: a session nobody holds is not kept alive.
async fn supervise(
    weak: Weak<SessionInner>,
    mut lost: mpsc::UnboundedReceiver<Error>,
    respawn: Respawn,
    requests: RequestSender,
) {
    let Some(conn) = weak.upgrade().map(|s| s.conn.clone()) else {
        return;
    };
    let mut attempt = 0u32;
    let mut up_since = tokio::time::Instant::now();
    loop {
        let reason = tokio::select! {
            r = lost.recv() => match r {
                Some(r) => r,
                None => return,
            },
            () = conn.closed() => return,
        };
        let Some(inner) = weak.upgrade() else {
            conn.close(reason);
            return;
        };
        if up_since.elapsed() >= respawn.policy.reset_after {
            attempt = 0;
        }
        let mut last_error = reason;
        let mut exit = stop_child(&inner, respawn.shutdown_grace).await;
        loop {
            if inner.close_started.load(Ordering::SeqCst) {
                return;
            }
            if attempt >= respawn.policy.max_restarts {
                conn.close(give_up(last_error, attempt));
                if let Some(tx) = &inner.exit_tx {
                    tx.send_replace(exit);
                }
                return;
            }
            attempt += 1;
            if let Some(listener) = &respawn.on_restart {
                listener(RestartEvent {
                    attempt,
                    exit,
                    stderr_tail: stderr_of(&last_error),
                });
            }
            tokio::select! {
                () = tokio::time::sleep(respawn.policy.delay(attempt)) => {}
                () = conn.closed() => return,
            }
            match restart_once(&inner, &respawn, &requests).await {
                Ok(()) => {
                    up_since = tokio::time::Instant::now();
                    conn.reopen();
                    break;
                }
                Err(e) => {
                    last_error = e;
                    exit = stop_child(&inner, respawn.shutdown_grace).await;
                }
            }
        }
    }
}

/// The session closes with the last error, still a `TRANSPORT_CLOSED` (with its stderr tail).
fn give_up(last: Error, attempts: u32) -> Error {
    match last {
        Error::TransportClosed { .. } if attempts == 0 => last,
        e => Error::TransportClosed {
            reason: format!(
                "the server exited and {attempts} restart(s) failed (restart.maxRestarts); last: {}",
                match &e {
                    Error::TransportClosed { reason, .. } => reason.clone(),
                    Error::SpawnFailed { reason, .. } => reason.clone(),
                    other => other.to_string(),
                }
            ),
            stderr_tail: stderr_of(&e),
        },
    }
}

fn stderr_of(e: &Error) -> String {
    match e {
        Error::TransportClosed { stderr_tail, .. } | Error::SpawnFailed { stderr_tail, .. } => {
            stderr_tail.clone()
        }
        _ => String::new(),
    }
}

/// Stops what is left of the current server (its process tree too: containment) and returns
/// how it ended.
async fn stop_child(inner: &SessionInner, grace: Duration) -> Option<ExitInfo> {
    let child = lock(&inner.child).take();
    let exit = match child {
        Some(child) => child.shutdown(grace).await,
        None => None,
    };
    if exit.is_some() {
        lock(&inner.live).last_exit = exit;
    }
    exit
}

/// One restart: spawn, attach, initialize, re-attach threads.
async fn restart_once(
    inner: &Arc<SessionInner>,
    respawn: &Respawn,
    requests: &RequestSender,
) -> Result<()> {
    let (child, pipes) = ChildProcess::spawn(&respawn.spawn)?;
    let stderr = child.stderr.clone();
    stderr.set_listener(respawn.stderr_listener.clone());
    let pid = child.pid;
    {
        // Stored at once, under the lock `close` takes it by: a close from now on stops it; a
        // close that came first is seen here, and the new child is stopped at once.
        let mut slot = lock(&inner.child);
        if inner.close_started.load(Ordering::SeqCst) {
            drop(slot);
            child.kill_now();
            return Err(Error::SessionClosed);
        }
        *slot = Some(child);
    }
    let tail = stderr.clone();
    inner.conn.attach(
        Box::new(LineReader::new(
            BufReader::with_capacity(64 * 1024, pipes.stdout),
            respawn.max_frame_bytes,
        )),
        Box::new(LineWriter::new(pipes.stdin)),
        ConnectionHooks {
            tap: respawn.tap.clone(),
            stderr_tail: Box::new(move || {
                let tail = tail.clone();
                Box::pin(async move { tail.settled_text(Duration::from_millis(250)).await })
            }),
            server_requests: requests.clone(),
            diagnostics: respawn.diagnostics.clone(),
        },
    );
    let conn = &inner.conn;
    let info = conn
        .request_while_restarting("initialize", &respawn.init, Some(respawn.startup_timeout))
        .await?;
    conn.notify("initialized", None)?;
    {
        let mut live = lock(&inner.live);
        live.server_version = crate::server_version::from_initialize(&info, &respawn.client_name);
        live.info = info;
        live.pid = pid;
        live.stderr = stderr;
    }
    reattach_threads(inner, respawn.startup_timeout).await
}

/// Resumes every thread the application still holds; an ephemeral one (or one the new server
/// cannot resume) is marked lost, and using it is `THREAD_LOST`. Eager, not on next use: the
/// server sends a thread's notifications only once it is loaded, so a thread that is only
/// listened to would otherwise hear nothing after a restart.
async fn reattach_threads(inner: &Arc<SessionInner>, timeout: Duration) -> Result<()> {
    let threads: Vec<(String, Arc<ThreadEntry>)> = {
        let mut threads = lock(&inner.threads);
        threads.retain(|_, entry| entry.strong_count() > 0);
        threads
            .iter()
            .filter_map(|(id, e)| e.upgrade().map(|e| (id.clone(), e)))
            .collect()
    };
    let mut lost_any = false;
    for (id, entry) in threads {
        if lock(&entry.lost).is_some() {
            continue;
        }
        if entry.ephemeral {
            *lock(&entry.lost) =
                Some("it was ephemeral, and its server exited: it cannot be resumed".into());
            lost_any = true;
            continue;
        }
        let mut params = lock(&entry.resume).clone();
        params.insert("threadId".into(), Value::String(id.clone()));
        params.insert("excludeTurns".into(), Value::Bool(true));
        match inner
            .conn
            .request_while_restarting("thread/resume", &Value::Object(params), Some(timeout))
            .await
        {
            Ok(_) => {}
            // The new server died too: this attempt failed.
            Err(e @ (Error::TransportClosed { .. } | Error::SessionClosed)) => return Err(e),
            Err(e) => {
                *lock(&entry.lost) = Some(format!("the restarted server could not resume it: {e}"));
                lost_any = true;
            }
        }
    }
    if lost_any {
        inner.threads_lost.store(true, Ordering::Relaxed);
    }
    Ok(())
}
