//! Starting and stopping the `codex app-server` child process (finding it: `discovery`).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};
use tokio::sync::{mpsc, watch};

use crate::connection::lock;
use crate::error::{Error, Result};

// Callers used to find `Discovery` here; it lives in `discovery` now.
pub use crate::discovery::Discovery;

/// How to start `binary`. npm's `codex.cmd` shim on Windows (the last resort of discovery) is
/// a batch file, which CreateProcess cannot start: it goes through `cmd.exe`.
fn command_for(binary: &Path) -> Command {
    let is_cmd_shim = binary
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("cmd"));
    if cfg!(windows) && is_cmd_shim {
        let mut c = Command::new("cmd.exe");
        c.arg("/d").arg("/s").arg("/c").arg(binary);
        c
    } else {
        Command::new(binary)
    }
}

/// What to start.
#[derive(Debug, Clone, Default)]
pub struct SpawnOptions {
    pub discovery: Discovery,
    /// Arguments after `app-server` (already including `-c` overrides).
    pub args: Vec<String>,
    pub cwd: Option<PathBuf>,
    /// Added to (and overriding) the inherited environment.
    pub env: Vec<(String, String)>,
    /// Lines of stderr kept for error messages.
    pub stderr_tail_lines: usize,
}

/// The last lines the child wrote to stderr, bounded, plus an optional live listener.
#[derive(Clone, Default)]
pub struct StderrTail {
    inner: Arc<Mutex<StderrRing>>,
    done: Option<watch::Receiver<bool>>,
}

/// Receives each line the server writes to stderr.
pub type StderrListener = Arc<dyn Fn(&str) + Send + Sync>;

#[derive(Default)]
struct StderrRing {
    lines: VecDeque<String>,
    capacity: usize,
    listener: Option<StderrListener>,
}

/// Longest stderr line kept, so a runaway line cannot grow the buffer without bound.
const MAX_STDERR_LINE: usize = 4096;

impl StderrTail {
    pub fn text(&self) -> String {
        let ring = lock(&self.inner);
        ring.lines
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The tail once the child's stderr has closed (bounded wait: a grandchild may hold it).
    pub async fn settled_text(&self, wait: Duration) -> String {
        if let Some(mut done) = self.done.clone() {
            let _ = tokio::time::timeout(wait, done.wait_for(|d| *d)).await;
        }
        self.text()
    }

    pub fn set_listener(&self, listener: Option<StderrListener>) {
        lock(&self.inner).listener = listener;
    }

    fn push(&self, line: String) {
        let listener = {
            let mut ring = lock(&self.inner);
            let mut line = line;
            if line.len() > MAX_STDERR_LINE {
                let mut cut = MAX_STDERR_LINE;
                while !line.is_char_boundary(cut) {
                    cut -= 1;
                }
                line.truncate(cut);
                line.push('…');
            }
            if ring.lines.len() >= ring.capacity.max(1) {
                ring.lines.pop_front();
            }
            ring.lines.push_back(line.clone());
            ring.listener.clone().map(|l| (l, line))
        };
        if let Some((listener, line)) = listener {
            listener(&line);
        }
    }
}

/// How a child process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitInfo {
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

impl From<ExitStatus> for ExitInfo {
    fn from(status: ExitStatus) -> Self {
        #[cfg(unix)]
        let signal = std::os::unix::process::ExitStatusExt::signal(&status);
        #[cfg(not(unix))]
        let signal = None;
        ExitInfo {
            code: status.code(),
            signal,
        }
    }
}

/// A running app-server child. A reaper task owns the process: it publishes the exit as soon
/// as it happens, and kills the child when every handle is gone (`kill_on_drop` semantics).
/// On Linux the child also dies with the thread that started it (parent-death signal), so it
/// cannot outlive its owner.
pub struct ChildProcess {
    pub pid: Option<u32>,
    pub binary: PathBuf,
    pub stderr: StderrTail,
    exit: watch::Receiver<Option<ExitInfo>>,
    kill: mpsc::UnboundedSender<()>,
}

pub struct ChildPipes {
    pub stdin: ChildStdin,
    pub stdout: ChildStdout,
}

impl ChildProcess {
    pub fn spawn(options: &SpawnOptions) -> Result<(ChildProcess, ChildPipes)> {
        let binary = options.discovery.resolve()?;
        let mut cmd = command_for(&binary);
        cmd.arg("app-server")
            .args(&options.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(cwd) = &options.cwd {
            cmd.current_dir(cwd);
        }
        for (k, v) in &options.env {
            cmd.env(k, v);
        }
        set_parent_death_signal(&mut cmd);
        let mut child = cmd.spawn().map_err(|e| {
            Error::spawn_failed(
                format!("{} could not be started: {e}", binary.display()),
                vec![binary.display().to_string()],
            )
        })?;
        let pid = child.id();
        let (stdin, stdout, stderr) =
            match (child.stdin.take(), child.stdout.take(), child.stderr.take()) {
                (Some(i), Some(o), Some(e)) => (i, o, e),
                _ => {
                    return Err(Error::spawn_failed(
                        "child started without its pipes",
                        vec![binary.display().to_string()],
                    ))
                }
            };
        let (done_tx, done_rx) = watch::channel(false);
        let stderr_tail = StderrTail {
            inner: Arc::new(Mutex::new(StderrRing {
                capacity: options.stderr_tail_lines.max(1),
                ..StderrRing::default()
            })),
            done: Some(done_rx),
        };
        tokio::spawn(pump_stderr(stderr, stderr_tail.clone(), done_tx));
        let (exit_tx, exit) = watch::channel(None);
        let (kill, kill_rx) = mpsc::unbounded_channel();
        tokio::spawn(reap(child, exit_tx, kill_rx));
        Ok((
            ChildProcess {
                pid,
                binary,
                stderr: stderr_tail,
                exit,
                kill,
            },
            ChildPipes { stdin, stdout },
        ))
    }

    /// A receiver of the exit (None until the child has ended).
    pub fn exit_watch(&self) -> watch::Receiver<Option<ExitInfo>> {
        self.exit.clone()
    }

    /// How the child ended, once it has.
    pub fn exit_info(&self) -> Option<ExitInfo> {
        *self.exit.borrow()
    }

    /// Resolves with the exit once the child has ended.
    pub fn exited(&self) -> impl std::future::Future<Output = Option<ExitInfo>> + Send + 'static {
        let mut exit = self.exit.clone();
        async move {
            match exit.wait_for(Option::is_some).await {
                Ok(info) => *info,
                Err(_) => None,
            }
        }
    }

    async fn wait_exit(&self, limit: Duration) -> Option<ExitInfo> {
        tokio::time::timeout(limit, self.exited())
            .await
            .ok()
            .flatten()
    }

    /// Stops the child: it has `grace` to exit after stdin EOF, then SIGTERM and `grace` more,
    /// then SIGKILL.
    pub async fn shutdown(&self, grace: Duration) -> Option<ExitInfo> {
        if let Some(info) = self.wait_exit(grace).await {
            return Some(info);
        }
        self.terminate();
        if let Some(info) = self.wait_exit(grace).await {
            return Some(info);
        }
        self.kill_now();
        self.exited().await
    }

    /// SIGKILL without waiting.
    pub fn kill_now(&self) {
        let _ = self.kill.send(());
    }

    fn terminate(&self) {
        #[cfg(unix)]
        if let (Some(pid), None) = (self.pid, self.exit_info()) {
            // SAFETY: plain syscall. The reaper has not reaped the pid (no exit published), so
            // it still names our child.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGTERM);
            }
        }
        #[cfg(not(unix))]
        self.kill_now();
    }
}

/// Owns the child: publishes its exit, and kills it when asked or when every handle is gone.
async fn reap(
    mut child: Child,
    exit: watch::Sender<Option<ExitInfo>>,
    mut kill: mpsc::UnboundedReceiver<()>,
) {
    let status = loop {
        tokio::select! {
            status = child.wait() => break status.ok(),
            request = kill.recv() => {
                let _ = child.start_kill();
                if request.is_none() {
                    // Every handle is gone: the kill is sent; wait for the exit without listening.
                    break child.wait().await.ok();
                }
            }
        }
    };
    exit.send_replace(status.map(ExitInfo::from));
}

#[cfg(target_os = "linux")]
fn set_parent_death_signal(cmd: &mut Command) {
    // SAFETY: only async-signal-safe calls between fork and exec.
    let parent = std::process::id() as libc::pid_t;
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl: then nobody will signal us.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn set_parent_death_signal(_cmd: &mut Command) {}

async fn pump_stderr(stderr: ChildStderr, tail: StderrTail, done: watch::Sender<bool>) {
    let mut lines = BufReader::new(stderr);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match lines.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                    buf.pop();
                }
                tail.push(String::from_utf8_lossy(&buf).into_owned());
            }
        }
    }
    done.send_replace(true);
}
