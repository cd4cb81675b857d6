//! A session: one connection to one app-server (owned child process or not), the
//! `initialize` handshake, threads and turns.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};
use tokio::io::BufReader;
use tokio::sync::{mpsc, watch};

use crate::approval::{ApprovalPolicy, PolicyRouter};
use crate::connection::{Connection, ConnectionHooks, Diagnostic, MessageTap, RetryPolicy};
use crate::error::{Error, Result};
use crate::input::Input;
use crate::lock::lock;
use crate::process::{ChildProcess, ExitInfo, SpawnOptions, StderrListener, StderrTail};
use crate::server_request::{self, ServerRequestHandler};
use crate::server_version;
use crate::transport::{FrameReader, FrameWriter, LineReader, LineWriter, DEFAULT_MAX_FRAME_BYTES};
use crate::turn::{EventStream, Turn};
use crate::turn_state::{Outlet, TurnShared};

#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub name: String,
    pub version: String,
    pub title: Option<String>,
}

impl Default for ClientInfo {
    fn default() -> Self {
        ClientInfo {
            name: "codex-native".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            title: None,
        }
    }
}

/// Where the app-server is.
#[derive(Clone, Default)]
pub enum TransportKind {
    /// Spawn `codex app-server` and talk over its stdin/stdout (the session owns the process).
    #[default]
    Stdio,
    /// Connect to `codex app-server --listen ws://...`; `token` goes in `Authorization: Bearer`.
    WebSocket { url: String, token: Option<String> },
    /// Connect to `codex app-server --listen unix://PATH` (default path under CODEX_HOME).
    Unix {
        path: Option<PathBuf>,
        token: Option<String>,
    },
    /// Spawn `command args...` (`docker exec -i <ctr> codex app-server`, `ssh host codex
    /// app-server`): any program that speaks the protocol on stdio. Owned exactly as stdio's
    /// codex is (containment, shutdown, stderr tail, exit); nothing of `SpawnOptions` applies.
    Command {
        command: String,
        args: Vec<String>,
        /// Added to (and overriding) the inherited environment.
        env: Vec<(String, String)>,
        cwd: Option<PathBuf>,
    },
    /// Streams the caller already has (the Node binding's `readable`/`writable`): open it with
    /// [`Session::connect`]; [`Session::open`] refuses it. The session owns nothing.
    Stream,
}

// Never print the token.
impl std::fmt::Debug for TransportKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TransportKind::Stdio => f.write_str("Stdio"),
            TransportKind::WebSocket { url, token } => f
                .debug_struct("WebSocket")
                .field("url", url)
                .field("token", &token.as_ref().map(|_| "<redacted>"))
                .finish(),
            TransportKind::Unix { path, token } => f
                .debug_struct("Unix")
                .field("path", path)
                .field("token", &token.as_ref().map(|_| "<redacted>"))
                .finish(),
            // Values of env may be secrets: names only.
            TransportKind::Command {
                command,
                args,
                env,
                cwd,
            } => f
                .debug_struct("Command")
                .field("command", command)
                .field("args", args)
                .field("env", &env.iter().map(|(k, _)| k).collect::<Vec<_>>())
                .field("cwd", cwd)
                .finish(),
            TransportKind::Stream => f.write_str("Stream"),
        }
    }
}

pub struct SessionOptions {
    pub client_info: ClientInfo,
    pub transport: TransportKind,
    pub spawn: SpawnOptions,
    /// `-c key=value` overrides; values are TOML-encoded.
    pub config: Map<String, Value>,
    pub experimental_api: bool,
    pub opt_out_notification_methods: Vec<String>,
    /// Default timeout of every request; `None` waits for ever.
    pub request_timeout: Option<Duration>,
    /// How long the child gets after stdin EOF, and again after SIGTERM.
    pub shutdown_grace: Duration,
    pub max_frame_bytes: usize,
    /// Answers server requests ahead of the approval policies (Rust callers). Default: none.
    pub server_requests: Option<Arc<dyn ServerRequestHandler>>,
    /// How approvals are answered when nothing more specific applies. Default: decline.
    pub approval_policy: ApprovalPolicy,
    /// How long a handler may take before its request is declined. Default: no limit.
    pub handler_timeout: Option<Duration>,
    /// Default turn watchdog (see [`TurnSetup::inactivity_timeout`]). Default: none.
    pub turn_inactivity_timeout: Option<Duration>,
    pub diagnostics: Option<mpsc::UnboundedSender<Diagnostic>>,
    /// Subscribe to session-wide notifications before the handshake, so that none sent
    /// during start-up is missed; see [`Session::take_startup_notifications`].
    pub listen_from_start: bool,
    pub overload_retry: crate::connection::RetryPolicy,
    /// Sees every frame in and out.
    pub message_tap: Option<crate::connection::MessageTap>,
    /// May change or drop each message, in order (see [`crate::Interceptor`]). Default: none,
    /// which costs nothing.
    pub interceptors: Vec<Arc<dyn crate::Interceptor>>,
    /// Receives each line the server writes to stderr (owned processes only).
    pub stderr_listener: Option<crate::process::StderrListener>,
    /// Limit on the whole start (spawn or connect, then `initialize`): a server that never
    /// answers must not hold `open` for ever. Default 30 s.
    pub startup_timeout: Duration,
    /// Becoming `true` stops a start in progress: it fails `ABORTED` after releasing what it
    /// started (the process is stopped as by `close`).
    pub start_cancel: Option<watch::Receiver<bool>>,
    /// Restart an owned (stdio) server that exits unexpectedly. Default: off.
    pub restart: Option<RestartPolicy>,
    /// Told of each restart attempt.
    pub on_restart: Option<RestartListener>,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            client_info: ClientInfo::default(),
            transport: TransportKind::Stdio,
            spawn: SpawnOptions {
                stderr_tail_lines: 50,
                ..SpawnOptions::default()
            },
            config: Map::new(),
            experimental_api: false,
            opt_out_notification_methods: Vec::new(),
            request_timeout: None,
            shutdown_grace: Duration::from_secs(2),
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            server_requests: None,
            approval_policy: ApprovalPolicy::AutoDecline,
            handler_timeout: None,
            turn_inactivity_timeout: None,
            diagnostics: None,
            listen_from_start: false,
            overload_retry: crate::connection::RetryPolicy::default(),
            message_tap: None,
            interceptors: Vec::new(),
            stderr_listener: None,
            startup_timeout: DEFAULT_STARTUP_TIMEOUT,
            start_cancel: None,
            restart: None,
            on_restart: None,
        }
    }
}

/// Default of [`SessionOptions::startup_timeout`].
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// Resolves when `cancel` turns true; never without one (or once its sender is gone).
async fn cancelled(cancel: Option<watch::Receiver<bool>>) {
    if let Some(mut cancel) = cancel {
        if cancel.wait_for(|c| *c).await.is_ok() {
            return;
        }
    }
    std::future::pending::<()>().await
}

fn start_aborted() -> Error {
    Error::Aborted("the session was still starting; everything it started is released".into())
}

/// A connected, initialized session. Cheap to clone; `close` ends it for every clone.
#[derive(Clone)]
pub struct Session {
    inner: Arc<SessionInner>,
}

struct SessionInner {
    conn: Connection,
    /// What belongs to the current server (replaced when it is restarted): the `initialize`
    /// response, version, pid, stderr tail.
    live: Mutex<Live>,
    child: Mutex<Option<ChildProcess>>,
    exit: Option<tokio::sync::watch::Receiver<Option<crate::process::ExitInfo>>>,
    /// With restarts, `exit` follows this (the last server's exit) instead of the first child's.
    exit_tx: Option<watch::Sender<Option<crate::process::ExitInfo>>>,
    policies: Arc<PolicyRouter>,
    shutdown_grace: Duration,
    turn_inactivity_timeout: Option<Duration>,
    /// Initialized with `experimentalApi`: experimental requests (goals) need it.
    experimental_api: bool,
    close_started: AtomicBool,
    close_done: watch::Sender<bool>,
    startup_notifications: Mutex<Option<EventStream>>,
    /// Threads handed out, for re-attachment after a restart (only with restarts on).
    threads: Mutex<std::collections::HashMap<String, std::sync::Weak<ThreadEntry>>>,
    /// Set once some thread could not be re-attached: requests naming it are checked.
    threads_lost: AtomicBool,
    /// For the restart supervisor: where a new server's requests go (the same dispatcher).
    requests_tx: Mutex<Option<RequestSender>>,
    /// The restart supervisor, when there is one: `close` waits for it to finish.
    supervisor: Mutex<Option<watch::Receiver<bool>>>,
}

impl Session {
    /// Opens the session over `options.transport`: spawns the server (stdio) or connects to a
    /// running one (websocket, unix socket), then initializes.
    pub async fn open(options: SessionOptions) -> Result<Session> {
        let deadline = tokio::time::Instant::now() + options.startup_timeout;
        let connect_timeout = options
            .request_timeout
            .map_or(options.startup_timeout, |t| t.min(options.startup_timeout));
        let cancel = options.start_cancel.clone();
        let connected = match options.transport.clone() {
            TransportKind::Stdio => return Session::spawn(options).await,
            TransportKind::Command {
                command,
                args,
                env,
                cwd,
            } => {
                // The stdio path with another program: found here (PATH of its own env, with
                // Windows' `.exe`/`.cmd` names) so that a failed exec can be explained.
                let path_var = env
                    .iter()
                    .rev()
                    .find(|(k, _)| k == "PATH")
                    .map(|(_, v)| std::ffi::OsString::from(v));
                let program =
                    crate::discovery::resolve_command(&command, cwd.as_deref(), path_var)?;
                let mut options = options;
                options.spawn = SpawnOptions {
                    program: Some(program),
                    args,
                    env,
                    cwd,
                    stderr_tail_lines: options.spawn.stderr_tail_lines,
                    ..SpawnOptions::default()
                };
                return Session::spawn(options).await;
            }
            TransportKind::Stream => {
                return Err(Error::invalid_argument(
                    "transport.type",
                    "a `stream` transport brings its own streams: open it with Session::connect",
                ))
            }
            TransportKind::WebSocket { url, token } => {
                tokio::select! {
                    r = tokio::time::timeout(
                        connect_timeout,
                        crate::ws::connect_tcp(&url, token.as_deref(), options.max_frame_bytes),
                    ) => r,
                    () = cancelled(cancel) => return Err(start_aborted()),
                }
            }
            TransportKind::Unix { path, token } => {
                let path = match path {
                    Some(p) => p,
                    None => default_socket_path(&options)?,
                };
                #[cfg(unix)]
                {
                    tokio::select! {
                        r = tokio::time::timeout(
                            connect_timeout,
                            crate::ws::connect_unix(&path, token.as_deref(), options.max_frame_bytes),
                        ) => r,
                        () = cancelled(cancel) => return Err(start_aborted()),
                    }
                }
                #[cfg(not(unix))]
                {
                    let _ = (path, token);
                    return Err(Error::invalid_argument(
                        "transport.type",
                        "unix sockets need a unix platform",
                    ));
                }
            }
        };
        let (reader, writer) = connected.map_err(|_| Error::TransportClosed {
            reason: format!(
                "could not connect within {} ms",
                connect_timeout.as_millis()
            ),
            stderr_tail: String::new(),
        })??;
        Session::start_unowned(reader, writer, options, deadline).await
    }

    /// Spawns `codex app-server` and initializes it; with [`SessionOptions::restart`], keeps
    /// a supervisor that restarts it when it exits unexpectedly.
    pub async fn spawn(mut options: SessionOptions) -> Result<Session> {
        // `options.restart` stays set: `start` prepares what the supervisor needs.
        let restart = options.restart;
        let on_restart = options.on_restart.take();
        let respawn = restart.map(|policy| Respawn::new(&options, policy, on_restart));
        let session = Session::spawn_once(options).await?;
        if let Some(respawn) = respawn {
            start_supervisor(&session, respawn?);
        }
        Ok(session)
    }

    async fn spawn_once(options: SessionOptions) -> Result<Session> {
        let deadline = tokio::time::Instant::now() + options.startup_timeout;
        let mut spawn = options.spawn.clone();
        // Resolved here so that a failed exec can be explained from the file (see below).
        let binary = match &spawn.program {
            // A `command` transport's program: its env is not necessarily codex's (docker, ssh).
            Some(program) => program.clone(),
            None => {
                check_codex_home(&options.spawn.env)?;
                let binary = spawn.discovery.resolve()?;
                spawn.discovery.explicit = Some(binary.clone());
                binary
            }
        };
        let server_name = match &spawn.program {
            Some(program) => program.display().to_string(),
            None => "codex app-server".to_owned(),
        };
        let mut config_args = Vec::with_capacity(options.config.len() * 2);
        for (key, value) in &options.config {
            config_args.push("-c".to_owned());
            config_args.push(crate::toml::config_override(key, value)?);
        }
        config_args.append(&mut spawn.args);
        spawn.args = config_args;

        let (child, pipes) = ChildProcess::spawn(&spawn).map_err(|e| match e {
            // The OS says "Exec format error" or, for a missing interpreter, "No such file or
            // directory" about a file that exists; the file's first bytes say which it was.
            Error::SpawnFailed {
                reason,
                tried,
                stderr_tail,
            } => Error::SpawnFailed {
                reason: match crate::discovery::why_exec_failed(&binary) {
                    Some(why) => format!("{} could not be started: {why}", binary.display()),
                    None => reason,
                },
                tried,
                stderr_tail,
            },
            other => other,
        })?;
        let stderr = child.stderr.clone();
        // The last `Error:` line codex wrote, for the message if it dies during start-up: codex
        // follows it with a backtrace that can push it out of a short tail.
        let last_error_line: Arc<Mutex<Option<String>>> = Arc::default();
        let user_listener = options.stderr_listener.clone();
        let seen = Arc::clone(&last_error_line);
        stderr.set_listener(Some(Arc::new(move |line: &str| {
            if line.starts_with("Error:") {
                *lock(&seen) = Some(line.trim().to_owned());
            }
            if let Some(listener) = &user_listener {
                listener(line);
            }
        })));
        let pid = child.pid;
        let reader = Box::new(LineReader::new(
            BufReader::with_capacity(64 * 1024, pipes.stdout),
            options.max_frame_bytes,
        ));
        let writer = Box::new(LineWriter::new(pipes.stdin));
        let result = Session::start(
            reader,
            writer,
            options,
            Some(child),
            stderr.clone(),
            pid,
            deadline,
        )
        .await;
        if let Err(Error::TransportClosed {
            reason,
            stderr_tail,
        }) = result
        {
            // A write to the dead child's stdin can end the connection before the reader sees
            // EOF, and the writer knows no stderr: the tail is read here (a program that printed
            // why and exited at once, `docker exec` into no container, lost it half the time).
            let stderr_tail = if stderr_tail.is_empty() {
                stderr.settled_text(Duration::from_millis(250)).await
            } else {
                stderr_tail
            };
            // The child died during the handshake: that is a failure to spawn a working server.
            // A file that is no program for this machine gets here too: on ENOEXEC, execvp
            // hands it to /bin/sh, which fails in its turn.
            let reason = match crate::discovery::why_exec_failed(&binary) {
                Some(why) => format!("{} could not be started: {why}", binary.display()),
                None => {
                    let why = lock(&last_error_line)
                        .as_deref()
                        .map(|l| format!(": {l}"))
                        .unwrap_or_default();
                    format!("{server_name} exited during initialize ({reason}){why}")
                }
            };
            return Err(Error::SpawnFailed {
                reason,
                tried: Vec::new(),
                stderr_tail,
            });
        }
        result
    }

    /// Initializes a session over an existing transport (used by tests and non-stdio
    /// transports). The session does not own a process.
    pub async fn connect(
        reader: Box<dyn FrameReader>,
        writer: Box<dyn FrameWriter>,
        options: SessionOptions,
    ) -> Result<Session> {
        let deadline = tokio::time::Instant::now() + options.startup_timeout;
        Session::start_unowned(reader, writer, options, deadline).await
    }

    /// Initializes over a transport whose server this session does not own (no child process).
    async fn start_unowned(
        reader: Box<dyn FrameReader>,
        writer: Box<dyn FrameWriter>,
        options: SessionOptions,
        deadline: tokio::time::Instant,
    ) -> Result<Session> {
        Session::start(
            reader,
            writer,
            options,
            None,
            StderrTail::default(),
            None,
            deadline,
        )
        .await
    }

    async fn start(
        reader: Box<dyn FrameReader>,
        writer: Box<dyn FrameWriter>,
        options: SessionOptions,
        child: Option<ChildProcess>,
        stderr: StderrTail,
        pid: Option<u32>,
        deadline: tokio::time::Instant,
    ) -> Result<Session> {
        let (req_tx, req_rx) = mpsc::unbounded_channel();
        let requests_for_restart = req_tx.clone();
        let tail = stderr.clone();
        let hooks = ConnectionHooks {
            tap: options.message_tap.clone(),
            stderr_tail: Box::new(move || {
                let tail = tail.clone();
                Box::pin(async move { tail.settled_text(Duration::from_millis(250)).await })
            }),
            server_requests: req_tx,
            diagnostics: options.diagnostics.clone(),
            interceptors: options.interceptors.clone(),
        };
        let conn = Connection::start(reader, writer, hooks, options.request_timeout);
        conn.set_retry_policy(options.overload_retry);
        let policies = Arc::new(PolicyRouter::new(options.approval_policy.clone()));
        let handler: Arc<dyn ServerRequestHandler> = match options.server_requests.clone() {
            Some(h) => h,
            None => Arc::clone(&policies) as Arc<dyn ServerRequestHandler>,
        };
        tokio::spawn(server_request::dispatch(
            req_rx,
            conn.clone(),
            handler,
            options.handler_timeout,
            options.diagnostics.clone(),
        ));

        let startup_notifications = options
            .listen_from_start
            .then(|| EventStream::for_connection(lock(&conn.inner.routes).listen(), conn.clone()));
        let (close_done, _) = watch::channel(false);
        let owned = child.is_some();
        let exit_tx = options
            .restart
            .is_some()
            .then(|| watch::channel(None).0)
            .filter(|_| owned);
        let exit_tx_requests = exit_tx.as_ref().map(|_| requests_for_restart.clone());
        let mut session = SessionInner {
            conn: conn.clone(),
            live: Mutex::new(Live {
                info: RawValue::from_string("null".into())
                    .map_err(|e| Error::Protocol(e.to_string()))?,
                server_version: None,
                pid,
                stderr,
                last_exit: None,
            }),
            exit: match &exit_tx {
                Some(tx) => Some(tx.subscribe()),
                None => child.as_ref().map(ChildProcess::exit_watch),
            },
            exit_tx,
            child: Mutex::new(child),
            policies,
            shutdown_grace: options.shutdown_grace,
            turn_inactivity_timeout: options.turn_inactivity_timeout,
            experimental_api: options.experimental_api,
            close_started: AtomicBool::new(false),
            close_done,
            startup_notifications: Mutex::new(startup_notifications),
            threads: Mutex::default(),
            threads_lost: AtomicBool::new(false),
            supervisor: Mutex::new(None),
            requests_tx: Mutex::new(exit_tx_requests),
        };
        let init = initialize_params(&options);
        let handshake = async {
            let info = conn.request("initialize", &init, None).await?;
            conn.notify("initialized", None)?;
            Ok::<_, Error>(info)
        };
        let startup_timeout = options.startup_timeout;
        let outcome = tokio::select! {
            r = handshake => r,
            () = tokio::time::sleep_until(deadline) => Err(Error::RequestTimeout {
                method: "initialize".into(),
                timeout: startup_timeout,
            }),
            () = cancelled(options.start_cancel.clone()) => Err(start_aborted()),
        };
        match outcome {
            Ok(info) => {
                let live = session
                    .live
                    .get_mut()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                live.server_version =
                    server_version::from_initialize(&info, &options.client_info.name);
                live.info = info;
            }
            Err(e) => {
                // Release everything we started before reporting.
                let session = Session {
                    inner: Arc::new(session),
                };
                session.close().await;
                return Err(match e {
                    // The startup limit, not a request's own timeout (REQUEST_TIMEOUT as ever).
                    Error::RequestTimeout { method, timeout }
                        if method == "initialize" && timeout == startup_timeout =>
                    {
                        let reason = format!(
                            "the server did not answer initialize within {} ms \
                             (startupTimeoutMs); it was stopped",
                            startup_timeout.as_millis()
                        );
                        let stderr_tail = session
                            .stderr()
                            .settled_text(Duration::from_millis(250))
                            .await;
                        if owned {
                            Error::SpawnFailed {
                                reason: format!("codex app-server started, but {reason}"),
                                tried: Vec::new(),
                                stderr_tail,
                            }
                        } else {
                            Error::TransportClosed {
                                reason,
                                stderr_tail,
                            }
                        }
                    }
                    e => e,
                });
            }
        }
        Ok(Session {
            inner: Arc::new(session),
        })
    }

    /// The `initialize` response (userAgent, codexHome, platformFamily, platformOs) as JSON,
    /// of the current server (a restarted one's after a restart).
    pub fn info(&self) -> Box<RawValue> {
        lock(&self.inner.live).info.clone()
    }

    /// The server's version (`0.169.0`), read from `userAgent`; None if it shows none.
    pub fn server_version(&self) -> Option<String> {
        lock(&self.inner.live).server_version.clone()
    }

    /// The approval policies: session-wide, per thread, and per-method overrides.
    pub fn policies(&self) -> &PolicyRouter {
        &self.inner.policies
    }

    pub fn connection(&self) -> &Connection {
        &self.inner.conn
    }

    pub fn is_closed(&self) -> bool {
        self.inner.conn.is_closed()
    }

    /// The current server's pid (a restarted one's after a restart).
    pub fn pid(&self) -> Option<u32> {
        lock(&self.inner.live).pid
    }

    pub fn stderr(&self) -> StderrTail {
        lock(&self.inner.live).stderr.clone()
    }

    /// True while a crashed server is being replaced (see [`SessionOptions::restart`]).
    pub fn is_restarting(&self) -> bool {
        self.inner.conn.is_restarting()
    }

    /// Resolves with how the owned server process ended; `None` at once without one.
    pub fn exited(
        &self,
    ) -> impl std::future::Future<Output = Option<crate::process::ExitInfo>> + Send + 'static {
        let exit = self.inner.exit.clone();
        async move {
            let mut exit = exit?;
            let info = match exit.wait_for(Option::is_some).await {
                Ok(info) => *info,
                Err(_) => None,
            };
            info
        }
    }

    /// Any request, with params as JSON text; the result comes back as raw JSON.
    pub async fn request(
        &self,
        method: &str,
        params_json: &str,
        timeout: Option<Duration>,
    ) -> Result<Box<RawValue>> {
        let lost = || self.inner.threads_lost.load(Ordering::Relaxed);
        if lost() {
            self.check_thread_param(params_json)?;
        }
        let answer = self
            .inner
            .conn
            .request_raw(method, params_json, timeout)
            .await;
        // It may have waited for a restart that lost its thread.
        match answer {
            Err(e) if lost() => Err(self.check_thread_param(params_json).err().unwrap_or(e)),
            other => other,
        }
    }

    /// A stream of every notification from now on.
    pub fn notifications(&self) -> EventStream {
        let rx = lock(&self.inner.conn.inner.routes).listen();
        EventStream::for_connection(rx, self.inner.conn.clone())
    }

    /// The stream subscribed before the handshake (with `listen_from_start`); once.
    pub fn take_startup_notifications(&self) -> Option<EventStream> {
        lock(&self.inner.startup_notifications).take()
    }

    /// Server requests received and not answered yet.
    pub fn pending_server_requests(&self) -> usize {
        self.inner.conn.pending_server_requests()
    }

    /// Counters for leak checks: (live turns, session listeners, pending requests).
    pub fn stats(&self) -> (usize, usize, usize) {
        let routes = lock(&self.inner.conn.inner.routes);
        (
            routes.live_turns(),
            routes.listener_count(),
            self.inner.conn.pending_requests(),
        )
    }

    /// Open thread-wide subscriptions (`Thread::events`), for leak checks.
    pub fn thread_subscribers(&self) -> usize {
        lock(&self.inner.conn.inner.routes).thread_listener_count()
    }

    pub async fn start_thread(&self, params: Map<String, Value>) -> Result<Thread> {
        self.open_thread("thread/start", Value::Object(params))
            .await
    }

    pub async fn start_ephemeral_thread(&self, mut params: Map<String, Value>) -> Result<Thread> {
        params.insert("ephemeral".into(), Value::Bool(true));
        self.open_thread("thread/start", Value::Object(params))
            .await
    }

    pub async fn resume_thread(
        &self,
        thread_id: &str,
        mut params: Map<String, Value>,
    ) -> Result<Thread> {
        params.insert("threadId".into(), Value::String(thread_id.to_owned()));
        self.open_thread("thread/resume", Value::Object(params))
            .await
    }

    pub async fn fork_thread(
        &self,
        thread_id: &str,
        mut params: Map<String, Value>,
    ) -> Result<Thread> {
        params.insert("threadId".into(), Value::String(thread_id.to_owned()));
        self.open_thread("thread/fork", Value::Object(params)).await
    }

    /// `thread/read`: the thread, with its turns when `include_turns`.
    pub async fn read_thread(&self, thread_id: &str, include_turns: bool) -> Result<Box<RawValue>> {
        let params = json!({ "threadId": thread_id, "includeTurns": include_turns });
        self.inner.conn.request("thread/read", &params, None).await
    }

    /// `thread/list`.
    pub async fn list_threads(&self, params: Map<String, Value>) -> Result<Box<RawValue>> {
        self.inner
            .conn
            .request("thread/list", &Value::Object(params), None)
            .await
    }

    /// `thread/archive`.
    pub async fn archive_thread(&self, thread_id: &str) -> Result<()> {
        self.inner
            .conn
            .request("thread/archive", &json!({ "threadId": thread_id }), None)
            .await
            .map(drop)
    }

    /// `thread/unarchive`, then `thread/resume`: the server does not load an unarchived
    /// thread by itself, and a thread that is not loaded cannot run turns.
    pub async fn unarchive_thread(&self, thread_id: &str) -> Result<Thread> {
        self.inner
            .conn
            .request("thread/unarchive", &json!({ "threadId": thread_id }), None)
            .await?;
        self.resume_thread(thread_id, Map::new()).await
    }

    /// `model/list`.
    pub async fn list_models(&self, params: Map<String, Value>) -> Result<Box<RawValue>> {
        self.inner
            .conn
            .request("model/list", &Value::Object(params), None)
            .await
    }

    /// `command/exec`: runs a command outside any thread (in the server's sandbox) and
    /// resolves with its exit code and output.
    pub async fn exec(
        &self,
        command: Vec<String>,
        mut params: Map<String, Value>,
    ) -> Result<Box<RawValue>> {
        if command.is_empty() {
            return Err(Error::invalid_argument("command", "is empty"));
        }
        params.insert("command".into(), json!(command));
        self.inner
            .conn
            .request("command/exec", &Value::Object(params), None)
            .await
    }

    /// `account/read`.
    pub async fn read_account(&self, params: Map<String, Value>) -> Result<Box<RawValue>> {
        self.inner
            .conn
            .request("account/read", &Value::Object(params), None)
            .await
    }

    /// `account/login/start` with an API key.
    pub async fn login_with_api_key(&self, api_key: &str) -> Result<Box<RawValue>> {
        let params = json!({ "type": "apiKey", "apiKey": api_key });
        self.inner
            .conn
            .request("account/login/start", &params, None)
            .await
    }

    /// `account/logout`.
    pub async fn logout(&self) -> Result<()> {
        self.inner
            .conn
            .request("account/logout", &Value::Null, None)
            .await
            .map(drop)
    }

    /// `account/rateLimits/read`.
    pub async fn read_rate_limits(&self) -> Result<Box<RawValue>> {
        self.inner
            .conn
            .request("account/rateLimits/read", &Value::Null, None)
            .await
    }

    /// `config/read`.
    pub async fn read_config(&self, params: Map<String, Value>) -> Result<Box<RawValue>> {
        self.inner
            .conn
            .request("config/read", &Value::Object(params), None)
            .await
    }

    async fn open_thread(&self, method: &str, params: Value) -> Result<Thread> {
        let response = self.inner.conn.request(method, &params, None).await?;
        #[derive(Deserialize)]
        struct Opened {
            thread: ThreadHead,
        }
        #[derive(Deserialize)]
        struct ThreadHead {
            id: String,
        }
        let opened: Opened = crate::frame::object(response.get())
            .ok_or_else(|| Error::Protocol(format!("{method} response without thread.id")))?;
        let entry = self.register_thread(&opened.thread.id, &params);
        Ok(Thread {
            id: opened.thread.id,
            session: self.clone(),
            response,
            entry,
        })
    }

    /// Ends the session: everything pending settles with `SESSION_CLOSED`, the server gets
    /// stdin EOF, then SIGTERM, then SIGKILL. Idempotent; concurrent calls all wait for the end.
    pub async fn close(&self) {
        let mut done = self.inner.close_done.subscribe();
        if self.inner.close_started.swap(true, Ordering::SeqCst) {
            let _ = done.wait_for(|d| *d).await;
            return;
        }
        self.inner.conn.close(Error::SessionClosed);
        // A restart in progress stops (and stops what it started) before close resolves.
        let supervisor = lock(&self.inner.supervisor).take();
        if let Some(mut done) = supervisor {
            let _ = done.wait_for(|d| *d).await;
        }
        let child = lock(&self.inner.child).take();
        let exit = match child {
            Some(child) => child.shutdown(self.inner.shutdown_grace).await,
            None => lock(&self.inner.live).last_exit,
        };
        if let Some(tx) = &self.inner.exit_tx {
            tx.send_replace(exit);
        }
        self.inner.close_done.send_replace(true);
    }
}

/// The `initialize` params (also sent to a restarted server).
fn initialize_params(options: &SessionOptions) -> Value {
    json!({
        "clientInfo": {
            "name": options.client_info.name,
            "version": options.client_info.version,
            "title": options.client_info.title,
        },
        "capabilities": {
            "experimentalApi": options.experimental_api,
            "optOutNotificationMethods": options.opt_out_notification_methods,
        },
    })
}

/// A `CODEX_HOME` (from the session's env, else inherited) that is missing, not a directory or
/// not writable makes codex exit during start-up with a message that does not always name it
/// ("failed to initialize sqlite state runtime under ..."), after a backtrace; say it plainly,
/// before spawning. Unset, codex uses (and creates) `~/.codex` itself.
fn check_codex_home(env: &[(String, String)]) -> Result<()> {
    let (home, source) = match env.iter().rev().find(|(k, _)| k == "CODEX_HOME") {
        Some((_, v)) => (PathBuf::from(v), "env.CODEX_HOME"),
        None => match std::env::var_os("CODEX_HOME").filter(|v| !v.is_empty()) {
            Some(v) => (PathBuf::from(v), "CODEX_HOME (inherited)"),
            None => return Ok(()),
        },
    };
    let problem = match std::fs::metadata(&home) {
        Err(_) => "does not exist (codex does not create it: create it first)",
        Ok(meta) if !meta.is_dir() => "is not a directory",
        Ok(_) if !writable_dir(&home) => {
            "is not writable (codex keeps its state database and sessions there)"
        }
        Ok(_) => return Ok(()),
    };
    Err(Error::spawn_failed(
        format!("{source} {} {problem}", home.display()),
        Vec::new(),
    ))
}

#[cfg(unix)]
fn writable_dir(dir: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a NUL-terminated path; access(2) only reads it. It answers for this process's
    // real uid, which is the child's, and knows read-only mounts (EROFS) even for root.
    unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) == 0 }
}

#[cfg(not(unix))]
fn writable_dir(dir: &std::path::Path) -> bool {
    std::fs::metadata(dir).is_ok_and(|m| !m.permissions().readonly())
}

/// Where `codex app-server --listen unix://` puts its socket by default:
/// `$CODEX_HOME/app-server-control/app-server-control.sock` (CODEX_HOME from the session's env,
/// the process env, or `~/.codex`).
fn default_socket_path(options: &SessionOptions) -> Result<PathBuf> {
    let from_options = options
        .spawn
        .env
        .iter()
        .rev()
        .find(|(k, _)| k == "CODEX_HOME")
        .map(|(_, v)| PathBuf::from(v));
    let home = from_options
        .or_else(|| {
            std::env::var_os("CODEX_HOME")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".codex")))
        .ok_or_else(|| {
            Error::invalid_argument(
                "transport.path",
                "no CODEX_HOME or HOME to find the default socket",
            )
        })?;
    Ok(home
        .join("app-server-control")
        .join("app-server-control.sock"))
}

/// A handle that does not keep the session alive.
#[derive(Clone)]
pub struct WeakSession(std::sync::Weak<SessionInner>);

impl WeakSession {
    pub fn upgrade(&self) -> Option<Session> {
        self.0.upgrade().map(|inner| Session { inner })
    }
}

impl Session {
    pub fn downgrade(&self) -> WeakSession {
        WeakSession(Arc::downgrade(&self.inner))
    }

    /// Ends the session at once, without waiting: for process exit and worker teardown,
    /// where nothing async can run any more. The child gets SIGKILL.
    pub fn kill_now(&self) {
        self.inner.close_started.store(true, Ordering::SeqCst);
        self.inner.conn.close(Error::SessionClosed);
        if let Some(child) = lock(&self.inner.child).take() {
            child.kill_now();
        }
        self.inner.close_done.send_replace(true);
    }
}

/// A thread on a session.
#[derive(Clone)]
pub struct Thread {
    id: String,
    session: Session,
    /// The response that opened the thread (thread/start, resume or fork), raw.
    pub response: Box<RawValue>,
    /// What a restart needs to re-attach it, and whether it could be.
    entry: Arc<ThreadEntry>,
}

/// Ends a `turn/start` that will never finish (its future was dropped).
struct StartGuard<'a> {
    conn: &'a Connection,
    thread_id: &'a str,
    armed: bool,
}

impl Drop for StartGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            lock(&self.conn.inner.routes).finish_turn_start(self.thread_id, None);
        }
    }
}

/// How a new turn is followed.
#[derive(Debug, Clone, Copy, Default)]
pub struct TurnSetup {
    /// Independent streams in addition to the turn's own (e.g. a callback pump), fed from the
    /// turn's first event on.
    pub extra_streams: usize,
    /// Watchdog: with no event for this long, the turn's streams and result end with
    /// `TURN_STALLED` (it stays interruptible). Overrides the session's default.
    pub inactivity_timeout: Option<Duration>,
}

impl Thread {
    pub fn id(&self) -> &str {
        &self.id
    }

    fn conn(&self) -> &Connection {
        &self.session.inner.conn
    }

    async fn call(&self, method: &str, mut params: Map<String, Value>) -> Result<Box<RawValue>> {
        self.check_usable()?;
        params.insert("threadId".into(), Value::String(self.id.clone()));
        self.conn()
            .request(method, &Value::Object(params), None)
            .await
            .map_err(|e| self.lost_or(e))
    }

    /// `thread/read`.
    pub async fn read(&self, include_turns: bool) -> Result<Box<RawValue>> {
        self.check_usable()?;
        self.session
            .read_thread(&self.id, include_turns)
            .await
            .map_err(|e| self.lost_or(e))
    }

    /// `thread/name/set`.
    pub async fn set_name(&self, name: &str) -> Result<()> {
        let mut params = Map::new();
        params.insert("name".into(), Value::String(name.to_owned()));
        self.call("thread/name/set", params).await.map(drop)
    }

    /// `thread/compact/start`: compaction runs as a turn of its own; this resolves once the
    /// server has accepted it.
    pub async fn compact(&self) -> Result<()> {
        self.call("thread/compact/start", Map::new())
            .await
            .map(drop)
    }

    /// `thread/unsubscribe`: stop receiving this thread's events on this connection.
    pub async fn unsubscribe(&self) -> Result<()> {
        self.call("thread/unsubscribe", Map::new()).await.map(drop)
    }

    pub async fn archive(&self) -> Result<()> {
        self.check_usable()?;
        self.session.archive_thread(&self.id).await
    }

    /// Unarchives and reloads this thread, so that it can run turns again.
    pub async fn unarchive(&self) -> Result<()> {
        self.session.unarchive_thread(&self.id).await.map(drop)
    }

    /// `thread/fork`: a new thread with this one's history.
    pub async fn fork(&self, params: Map<String, Value>) -> Result<Thread> {
        self.check_usable()?;
        self.session.fork_thread(&self.id, params).await
    }

    /// Drops the last `num_turns` turns from the thread's history. The protocol's primitive is
    /// `thread/revert { beforeTurnId }`, so this reads the turns to find that id.
    pub async fn rollback(&self, num_turns: u32) -> Result<()> {
        if num_turns == 0 {
            return Err(Error::invalid_argument("numTurns", "must be at least 1"));
        }
        #[derive(Deserialize)]
        struct Read {
            thread: ReadThread,
        }
        #[derive(Deserialize)]
        struct ReadThread {
            #[serde(default)]
            turns: Vec<TurnId>,
        }
        #[derive(Deserialize)]
        struct TurnId {
            id: String,
        }
        let read = self.read(true).await?;
        let turns = serde_json::from_str::<Read>(read.get())
            .map_err(|e| {
                Error::Protocol(format!("thread/read response without thread.turns: {e}"))
            })?
            .thread
            .turns;
        let n = num_turns as usize;
        if n > turns.len() {
            return Err(Error::invalid_argument(
                "numTurns",
                format!("is {n} but the thread has {} turn(s)", turns.len()),
            ));
        }
        let mut params = Map::new();
        params.insert(
            "beforeTurnId".into(),
            Value::String(turns[turns.len() - n].id.clone()),
        );
        self.call("thread/revert", params).await.map(drop)
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Every notification of this thread from now on, of every turn (this client's, another
    /// client's on a shared server, the server's own goal continuations), in arrival order.
    /// Ends when the connection does. Dropping the stream unsubscribes.
    pub fn events(&self) -> EventStream {
        let conn = self.conn();
        let rx = lock(&conn.inner.routes).listen_thread(&self.id);
        EventStream::for_connection(rx, conn.clone())
    }

    /// The turn in progress on this thread, joined: its stream starts now, its result is whole
    /// (what happened before the join is read from the server). `None` when the thread is idle.
    /// A turn this client already follows is shared, not joined again.
    pub async fn current_turn(
        &self,
        streams: TurnSetup,
    ) -> Result<Option<(Turn, Vec<EventStream>)>> {
        let conn = &self.session.inner.conn;
        if let Some(live) = lock(&conn.inner.routes).live_turn(&self.id) {
            return Ok(self.follow(live, streams));
        }
        // From here on the router holds this thread's events of turns it does not know: none
        // is lost between the server's answer below and the turn's registration.
        lock(&conn.inner.routes).begin_turn_start(&self.id)?;
        let mut pending = StartGuard {
            conn,
            thread_id: &self.id,
            armed: true,
        };
        let last = self.last_turn().await;
        pending.armed = false;
        let last = match last {
            Ok(Some(turn)) if turn.status == "inProgress" => turn,
            Ok(_) => {
                lock(&conn.inner.routes).finish_turn_start(&self.id, None);
                return Ok(None);
            }
            Err(e) => {
                lock(&conn.inner.routes).finish_turn_start(&self.id, None);
                return Err(e);
            }
        };
        let (outlets, main_rx, receivers) = outlets(streams.extra_streams);
        let shared = TurnShared::new(self.id.clone(), last.id, outlets);
        shared.prime(&last.items);
        shared.mark_started();
        {
            let mut routes = lock(&conn.inner.routes);
            if let Some(live) = routes.live_turn(&self.id) {
                // This client started a turn meanwhile (it is the one in progress).
                routes.finish_turn_start(&self.id, None);
                drop(routes);
                return Ok(self.follow(live, streams));
            }
            routes.finish_turn_start(&self.id, Some(Arc::clone(&shared)));
        }
        Ok(Some(self.turn_of(shared, main_rx, receivers, streams)))
    }

    /// Another view of a turn this client follows, its streams from now on.
    fn follow(
        &self,
        live: Arc<TurnShared>,
        streams: TurnSetup,
    ) -> Option<(Turn, Vec<EventStream>)> {
        let conn = self.conn();
        let main_rx = live.add_outlet()?;
        let mut extra = Vec::with_capacity(streams.extra_streams);
        for _ in 0..streams.extra_streams {
            extra.push(EventStream::for_turn(
                live.add_outlet()?,
                Arc::clone(&live),
                conn,
            ));
        }
        let turn = Turn::new(
            Arc::clone(&live),
            conn.clone(),
            EventStream::for_turn(main_rx, live, conn),
        );
        Some((turn, extra))
    }

    /// The thread's newest turn as the server has it (`thread/turns/list`, newest first, with
    /// full items; `thread/read` with turns on a server without it).
    async fn last_turn(&self) -> Result<Option<TurnSnapshot>> {
        #[derive(Deserialize)]
        struct Page {
            data: Vec<TurnSnapshot>,
        }
        #[derive(Deserialize)]
        struct Read {
            thread: ReadTurns,
        }
        #[derive(Deserialize)]
        struct ReadTurns {
            #[serde(default)]
            turns: Vec<TurnSnapshot>,
        }
        let params = json!({
            "threadId": self.id,
            "limit": 1,
            "sortDirection": "desc",
            "itemsView": "full",
        });
        match self
            .conn()
            .request("thread/turns/list", &params, None)
            .await
        {
            Ok(page) => serde_json::from_str::<Page>(page.get())
                .map(|p| p.data.into_iter().next())
                .map_err(|e| Error::Protocol(format!("thread/turns/list response: {e}"))),
            // A thread that has not run a turn yet is not "materialized": codex refuses to
            // list its turns (code -32600, no code of its own), and it has none in progress.
            Err(Error::Rpc { error, .. }) if error.message.contains("not materialized") => Ok(None),
            Err(Error::Rpc { error, .. }) if error.code == -32601 => {
                let read = self.read(true).await?;
                serde_json::from_str::<Read>(read.get())
                    .map(|r| r.thread.turns.into_iter().last())
                    .map_err(|e| Error::Protocol(format!("thread/read response: {e}")))
            }
            Err(e) => Err(e),
        }
    }

    fn turn_of(
        &self,
        shared: Arc<TurnShared>,
        main_rx: Receiver,
        receivers: Vec<Receiver>,
        streams: TurnSetup,
    ) -> (Turn, Vec<EventStream>) {
        let conn = self.conn();
        if let Some(limit) = streams
            .inactivity_timeout
            .or(self.session.inner.turn_inactivity_timeout)
        {
            tokio::spawn(crate::turn_state::watchdog(Arc::clone(&shared), limit));
        }
        let extra = receivers
            .into_iter()
            .map(|rx| EventStream::for_turn(rx, Arc::clone(&shared), conn))
            .collect();
        let turn = Turn::new(
            Arc::clone(&shared),
            conn.clone(),
            EventStream::for_turn(main_rx, shared, conn),
        );
        (turn, extra)
    }

    /// Goals are experimental in the protocol: without `experimentalApi` the server refuses
    /// them with a message that does not say so.
    fn goals_allowed(&self, method: &str) -> Result<()> {
        if self.session.inner.experimental_api {
            return Ok(());
        }
        Err(Error::invalid_argument(
            "experimentalApi",
            format!("{method} is experimental: open the session with `experimentalApi: true`"),
        ))
    }

    /// `thread/goal/set`: `params` are its fields other than `threadId` (objective, status,
    /// tokenBudget, origin). Resolves with the response (`{ goal }`).
    pub async fn set_goal(&self, params: Map<String, Value>) -> Result<Box<RawValue>> {
        self.goals_allowed("thread/goal/set")?;
        self.call("thread/goal/set", params).await
    }

    /// `thread/goal/get`: `{ goal }` (null without one).
    pub async fn goal(&self) -> Result<Box<RawValue>> {
        self.goals_allowed("thread/goal/get")?;
        self.call("thread/goal/get", Map::new()).await
    }

    /// `thread/goal/clear`: `{ cleared }`.
    pub async fn clear_goal(&self) -> Result<Box<RawValue>> {
        self.goals_allowed("thread/goal/clear")?;
        self.call("thread/goal/clear", Map::new()).await
    }

    /// Starts a turn. `params` are the other `turn/start` fields (model, effort, ...).
    /// Events that arrive before the server answers are kept for the turn.
    pub async fn start_turn(
        &self,
        input: Input,
        params: Map<String, Value>,
        streams: TurnSetup,
    ) -> Result<(Turn, Vec<EventStream>)> {
        self.check_usable()?;
        let mut params = params;
        params.insert("threadId".into(), Value::String(self.id.clone()));
        params.insert("input".into(), Value::Array(input.into_items()?));
        let conn = &self.session.inner.conn;
        lock(&conn.inner.routes).begin_turn_start(&self.id)?;
        // If this future is dropped before the answer (a timeout, an abort), the thread must
        // stop holding early events for it.
        let mut pending_start = StartGuard {
            conn,
            thread_id: &self.id,
            armed: true,
        };
        let answer = conn
            .request("turn/start", &Value::Object(params), None)
            .await;
        pending_start.armed = false;
        let turn_id = answer.and_then(|response| {
            #[derive(Deserialize)]
            struct Started {
                turn: TurnHead,
            }
            #[derive(Deserialize)]
            struct TurnHead {
                id: String,
            }
            crate::frame::object::<Started>(response.get())
                .map(|s| s.turn.id)
                .ok_or_else(|| Error::Protocol("turn/start response without turn.id".into()))
        });
        let turn_id = match turn_id {
            Ok(id) => id,
            Err(e) => {
                lock(&conn.inner.routes).finish_turn_start(&self.id, None);
                return Err(self.lost_or(e));
            }
        };
        {
            // A turn/start on a thread whose turn is running: codex adds the input to that turn
            // and answers with its id. The new Turn is another view of it (the same result),
            // not a second turn.
            let mut routes = lock(&conn.inner.routes);
            if let Some(live) = routes.live_turn(&self.id).filter(|t| t.turn_id == turn_id) {
                routes.finish_turn_start(&self.id, None);
                drop(routes);
                if let Some(followed) = self.follow(live, streams) {
                    return Ok(followed);
                }
            }
        }
        let (outlets, main_rx, receivers) = outlets(streams.extra_streams);
        let shared = TurnShared::new(self.id.clone(), turn_id, outlets);
        lock(&conn.inner.routes).finish_turn_start(&self.id, Some(Arc::clone(&shared)));
        Ok(self.turn_of(shared, main_rx, receivers, streams))
    }
}

type Receiver = mpsc::UnboundedReceiver<Arc<crate::frame::Notification>>;

/// A new turn's outlets: its own stream's and `extra` more.
fn outlets(extra: usize) -> (Vec<Outlet>, Receiver, Vec<Receiver>) {
    let (main_tx, main_rx) = mpsc::unbounded_channel();
    let mut outlets: Vec<Outlet> = vec![main_tx];
    let mut receivers = Vec::with_capacity(extra);
    for _ in 0..extra {
        let (tx, rx) = mpsc::unbounded_channel();
        outlets.push(tx);
        receivers.push(rx);
    }
    (outlets, main_rx, receivers)
}

/// A turn as `thread/turns/list` (or `thread/read`) reports it: enough to join it.
#[derive(Deserialize)]
struct TurnSnapshot {
    id: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    items: Vec<Box<RawValue>>,
}

// ---------------------------------------------------------------------------------------------
// Restarts
//
// Restarting an owned server that exits unexpectedly (`SessionOptions::restart`).
//
// The connection outlives its transports: when the reader (or writer) of the current one ends,
// `Connection` fails what was in flight (`TRANSPORT_CLOSED` with the stderr tail, as on any
// close), keeps the session's listeners, parks new requests, and tells the supervisor below,
// which stops what is left of the old process tree, spawns a new server with the same
// options, attaches its pipes to the connection, runs `initialize` and re-attaches the threads
// the application still holds (`thread/resume`) before the parked requests go ahead.

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
struct Live {
    info: Box<RawValue>,
    server_version: Option<String>,
    pid: Option<u32>,
    stderr: StderrTail,
    /// The exit of a server replaced or given up on, for `exited()` when no child is left.
    last_exit: Option<ExitInfo>,
}

/// A thread handed out; the session keeps it weakly (a thread nobody holds is not resumed).
struct ThreadEntry {
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
    fn register_thread(&self, id: &str, params: &Value) -> Arc<ThreadEntry> {
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
    fn check_thread_param(&self, params_json: &str) -> Result<()> {
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
    /// A request that failed after waiting for a restart that lost this thread: `THREAD_LOST`
    /// (the server's own "thread not found" says less).
    fn lost_or(&self, e: Error) -> Error {
        self.check_usable().err().unwrap_or(e)
    }

    fn check_usable(&self) -> Result<()> {
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
struct Respawn {
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
    interceptors: Vec<Arc<dyn crate::Interceptor>>,
}

impl Respawn {
    fn new(
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
            init: initialize_params(options),
            client_name: options.client_info.name.clone(),
            max_frame_bytes: options.max_frame_bytes,
            startup_timeout: options.startup_timeout,
            shutdown_grace: options.shutdown_grace,
            stderr_listener: options.stderr_listener.clone(),
            tap: options.message_tap.clone(),
            diagnostics: options.diagnostics.clone(),
            interceptors: options.interceptors.clone(),
        })
    }
}

/// Makes the session's connection restartable and starts its supervisor.
fn start_supervisor(session: &Session, mut respawn: Respawn) {
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

type RequestSender = mpsc::UnboundedSender<(
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
            // The new server's messages pass the same chain.
            interceptors: respawn.interceptors.clone(),
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
