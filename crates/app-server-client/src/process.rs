//! Starting and stopping the `codex app-server` child process (finding it: `discovery`).
//!
//! # Containment: nothing codex starts outlives it
//!
//! codex runs commands (and MCP servers) in sessions and process groups of their own (measured
//! with 0.169.0: `bash -lc <cmd>` is a session leader), so a process group around codex does
//! not hold them, and when codex dies without cleaning up (SIGKILL, a crash, its owner killed)
//! they are re-parented to init and keep running. What each OS gets (`contain.rs` has the
//! mechanics):
//!
//! - **Linux**: the child we spawn is a *supervisor*: in `pre_exec` (after fork, before exec)
//!   it makes itself a child subreaper, takes a parent-death signal of its own, starts codex
//!   (a vfork-style clone that execs it, with SIGKILL as its parent-death signal: it dies with
//!   the supervisor) and never returns. It closes every inherited fd (stdio becomes /dev/null, so codex alone holds
//!   the pipes and EOF means what it meant), blocks its signals and waits for them:
//!   - codex exits (SIGCHLD): it SIGKILLs its children until none are left (as a subreaper it
//!     inherits every orphan of the tree, whatever its group or session), then exits as codex
//!     did (same code, or re-raising codex's signal), so `onExit` reports codex's exit;
//!   - its owner dies (SIGUSR2, the parent-death signal: it fires when the *thread* that
//!     spawned it ends, so a terminated worker thread counts too): SIGKILL to codex, then as
//!     above;
//!   - the client stops it: SIGTERM is forwarded to codex (graceful), SIGUSR1 kills codex at
//!     once; the tree goes when codex has gone. The client never SIGKILLs the supervisor:
//!     that would orphan the tree.
//!
//!   Why not a process-group/session wrapper (`process-wrap`, measured): it has groups,
//!   sessions, kill-on-drop and Windows job objects, but nothing that survives codex's
//!   commands leaving the group, nor anything that acts when *we* are SIGKILLed. A PID
//!   namespace needs unprivileged user namespaces (restricted on Ubuntu 24.04), cgroups need
//!   delegation; a separate supervisor executable would have to be shipped per platform.
//!   Cost: about 1 ms per spawn in a small process, and a 200 MB one spawns faster than
//!   before (codex's vfork-style start copies no page tables; numbers in the commits); the
//!   price is memory the supervisor keeps from the fork of this process (copy-on-write:
//!   measured 15 MB private after a 230 MB Node process churned its heap).
//!   `ChildProcess::pid` is codex's pid (the supervisor's parent is us, codex's is the
//!   supervisor), so signalling it from JavaScript reaches codex and still cleans up.
//! - **macOS**: codex leads its own process group; a kqueue `EVFILT_PROC`/`NOTE_EXIT` watch
//!   kills the group when codex exits (before reaping it, so the group id cannot have been
//!   reused). Not covered: what codex starts in other groups or sessions, and anything when
//!   this process is SIGKILLed (no parent-death signal; codex then sees stdin EOF and cleans
//!   up itself, as far as it does).
//! - **Windows**: codex is put in a job object with `JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE` right
//!   after spawn; the reaper holds the only handle, so the job's processes die when codex has
//!   exited, when the session is dropped, and when this process dies however it dies.
//!
//! Every signal goes out from the reaper task, which owns the child's `wait`: a pid that has
//! been reaped (and maybe reused) is never signalled.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};
use tokio::sync::{mpsc, watch};

use crate::contain::{self, Stop};
use crate::error::{Error, Result};
use crate::lock::lock;

// Callers used to find `Discovery` here; it lives in `discovery` now.
pub use crate::discovery::Discovery;

/// How to start `binary`. npm's `codex.cmd` shim on Windows (the last resort of discovery) is
/// a batch file, which CreateProcess cannot start: it goes through `cmd.exe`.
/// What to start.
#[derive(Debug, Clone, Default)]
pub struct SpawnOptions {
    pub discovery: Discovery,
    /// Started instead of `codex app-server`, with `args` alone (a `command` transport);
    /// `discovery` is then unused.
    pub program: Option<PathBuf>,
    /// Arguments after `app-server` (already including `-c` overrides), or `program`'s.
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
/// as it happens, and kills the child and its tree when every handle is gone. See the module
/// docs for what dies with what on each OS.
pub struct ChildProcess {
    /// codex's pid (on Linux not the spawned supervisor's: see the module docs).
    pub pid: Option<u32>,
    pub binary: PathBuf,
    pub stderr: StderrTail,
    exit: watch::Receiver<Option<ExitInfo>>,
    kill: mpsc::UnboundedSender<Stop>,
}

pub struct ChildPipes {
    pub stdin: ChildStdin,
    pub stdout: ChildStdout,
}

impl ChildProcess {
    pub fn spawn(options: &SpawnOptions) -> Result<(ChildProcess, ChildPipes)> {
        let binary = match &options.program {
            Some(program) => program.clone(),
            None => options.discovery.resolve()?,
        };
        // npm's `codex.cmd` shim is a batch file: Rust's std (>= 1.77.2) runs `.cmd`/`.bat`
        // programs through `cmd.exe /e:ON /v:OFF /d /c` with the quoting cmd.exe needs, and
        // refuses arguments it cannot pass safely. Our own `cmd.exe /d /s /c "<path>"` lost the
        // path's quotes under `/s`: a shim in `C:\Users\Jane Doe\...` failed to start (found
        // under Wine by scripts/foreign-run.sh).
        let mut cmd = Command::new(&binary);
        if options.program.is_none() {
            cmd.arg("app-server");
        }
        cmd.args(&options.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(cwd) = &options.cwd {
            cmd.current_dir(cwd);
        }
        for (k, v) in &options.env {
            cmd.env(k, v);
        }
        let failed = |e: std::io::Error| {
            Error::spawn_failed(
                format!("{} could not be started: {e}", binary.display()),
                vec![binary.display().to_string()],
            )
        };
        let prepared = contain::prepare(&mut cmd).map_err(failed)?;
        let mut child = cmd.spawn().map_err(failed)?;
        let (containment, pid) = match prepared.finish(&child) {
            Ok(done) => done,
            Err(e) => {
                // Only at spawn, before codex has started anything: killing the child (on
                // Linux the supervisor, which takes codex with it) leaves nothing behind.
                let _ = child.start_kill();
                return Err(failed(e));
            }
        };
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
        tokio::spawn(reap(Owned { child, containment }, exit_tx, kill_rx));
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

    /// Kills codex and everything it started, without waiting.
    pub fn kill_now(&self) {
        let _ = self.kill.send(Stop::Kill);
    }

    /// Asks codex to stop (SIGTERM; a kill on Windows). Sent by the reaper, which owns the
    /// child's wait: a pid that was reaped (and maybe reused) is never signalled.
    fn terminate(&self) {
        let _ = self.kill.send(Stop::Term);
    }
}

/// The child with its containment. Dropped unreaped (the runtime shut down under the reaper),
/// it kills the tree: tokio's `kill_on_drop` would SIGKILL the Linux supervisor, orphaning it.
struct Owned {
    child: Child,
    containment: contain::Containment,
}

impl Drop for Owned {
    fn drop(&mut self) {
        if self.child.id().is_some() {
            self.containment.signal(&mut self.child, Stop::Kill);
        }
    }
}

/// Owns the child: publishes its exit, and stops it when asked or when every handle is gone.
/// Signals go from here only: `child.wait()` cannot have reaped the pid while a request is
/// being handled, so the pid still names our child.
async fn reap(
    mut owned: Owned,
    exit: watch::Sender<Option<ExitInfo>>,
    mut requests: mpsc::UnboundedReceiver<Stop>,
) {
    let mut handles_gone = false;
    // macOS watches codex's exit itself (kqueue) so that its process group is killed before
    // codex is reaped; elsewhere the reap is the exit.
    let watches_exit = owned.containment.watches_exit();
    let status = loop {
        tokio::select! {
            status = owned.child.wait(), if !watches_exit => break status.ok(),
            () = owned.containment.server_exited(), if watches_exit => {
                break owned.child.wait().await.ok();
            }
            request = requests.recv(), if !handles_gone => {
                let Owned { child, containment } = &mut owned;
                match request {
                    Some(stop) => containment.signal(child, stop),
                    None => {
                        // Every handle is gone: kill, then wait for the exit without listening.
                        containment.signal(child, Stop::Kill);
                        handles_gone = true;
                    }
                }
            }
        }
    };
    owned.containment.after_reap();
    exit.send_replace(status.map(ExitInfo::from));
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn tail(capacity: usize) -> (StderrTail, watch::Sender<bool>) {
        let (done_tx, done_rx) = watch::channel(false);
        let tail = StderrTail {
            inner: Arc::new(Mutex::new(StderrRing {
                capacity,
                ..StderrRing::default()
            })),
            done: Some(done_rx),
        };
        (tail, done_tx)
    }

    #[test]
    fn the_tail_keeps_the_last_lines_in_order() {
        let (tail, _done) = tail(3);
        assert_eq!(tail.text(), "");
        tail.push("one".into());
        assert_eq!(tail.text(), "one");
        for line in ["two", "three", "four", "five"] {
            tail.push(line.into());
        }
        assert_eq!(tail.text(), "three\nfour\nfive");
        let (one, _done) = self::tail(0); // a capacity of 0 still keeps the last line
        one.push("a".into());
        one.push("b".into());
        assert_eq!(one.text(), "b");
    }

    #[test]
    fn a_runaway_line_is_cut_at_a_character_boundary() {
        let (tail, _done) = tail(2);
        let exact = "x".repeat(MAX_STDERR_LINE);
        tail.push(exact.clone());
        assert_eq!(
            tail.text(),
            exact,
            "a line of exactly the limit is kept whole"
        );
        // 4095 ASCII bytes, then a 2-byte character across the limit.
        let long = format!("{}é{}", "y".repeat(MAX_STDERR_LINE - 1), "z".repeat(100));
        tail.push(long);
        let kept = tail.text().lines().last().unwrap().to_owned();
        assert_eq!(kept, format!("{}…", "y".repeat(MAX_STDERR_LINE - 1)));
    }

    #[test]
    fn the_listener_hears_each_line_until_removed() {
        let (tail, _done) = tail(8);
        let heard = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = Arc::clone(&heard);
        tail.set_listener(Some(Arc::new(move |line: &str| {
            lock(&sink).push(line.to_owned())
        })));
        tail.push("a".into());
        tail.push("b".into());
        tail.set_listener(None);
        tail.push("c".into());
        assert_eq!(*lock(&heard), ["a", "b"]);
        assert_eq!(tail.text(), "a\nb\nc");
    }

    #[tokio::test]
    async fn settled_text_waits_for_the_end_of_stderr_within_its_bound() {
        let (tail, done) = tail(4);
        tail.push("early".into());
        let settled = tokio::spawn({
            let tail = tail.clone();
            async move { tail.settled_text(Duration::from_secs(10)).await }
        });
        // One turn of the (current-thread) runtime: the task above is now waiting for the end.
        tokio::task::yield_now().await;
        tail.push("last words".into());
        done.send_replace(true);
        assert_eq!(settled.await.unwrap(), "early\nlast words");
        // Without an end (a grandchild holding stderr open), the bound applies.
        let (open, _never) = self::tail(4);
        open.push("x".into());
        assert_eq!(open.settled_text(Duration::from_millis(10)).await, "x");
    }
}
