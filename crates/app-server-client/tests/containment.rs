//! Process-tree containment on Linux (the supervisor of `contain.rs`), with a shell script in
//! the place of codex that starts a `sleep` in a session of its own (as codex does with the
//! commands it runs) and reports its pid. Whatever ends the "server", the sleep must go.
#![cfg(target_os = "linux")]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use app_server_client::process::{ChildProcess, Discovery, SpawnOptions};
use tokio::io::{AsyncBufReadExt, BufReader};

/// A script that starts `setsid sleep <n>`, prints the sleep's pid, then reads stdin until EOF.
fn fake_server(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("codex-contain-{}-{label}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("codex");
    std::fs::write(
        &path,
        "#!/bin/sh\nsetsid sleep 3761 </dev/null >/dev/null 2>&1 &\necho $!\nexec cat >/dev/null\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn is_sleep(pid: i32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.starts_with(b"sleep\0"))
}

/// Spawns the fake server; returns it, its stdin, and the pid of the sleep it started.
async fn start(label: &str) -> (ChildProcess, tokio::process::ChildStdin, i32) {
    let options = SpawnOptions {
        discovery: Discovery {
            explicit: Some(fake_server(label)),
            ..Discovery::default()
        },
        stderr_tail_lines: 10,
        ..SpawnOptions::default()
    };
    let (child, pipes) = ChildProcess::spawn(&options).expect("spawn");
    let mut line = String::new();
    BufReader::new(pipes.stdout)
        .read_line(&mut line)
        .await
        .unwrap();
    let sleep: i32 = line
        .trim()
        .parse()
        .expect("the script prints the sleep's pid");
    // `$!` is printed as soon as the background job is forked: wait for its exec.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !is_sleep(sleep) {
        assert!(
            Instant::now() < deadline,
            "pid {sleep} never became the sleep"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (child, pipes.stdin, sleep)
}

/// Polls (the sleep is not our child: nothing tells us when it dies); the bound is the test.
async fn gone_within(pid: i32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while is_sleep(pid) {
        if Instant::now() > deadline {
            // Clean up so a failing run leaves nothing behind.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

#[tokio::test]
async fn sigkill_of_the_server_kills_what_it_started_and_is_reported_as_such() {
    let (child, _stdin, sleep) = start("sigkill").await;
    let pid = child.pid.expect("the server's pid") as i32;
    assert_ne!(pid, sleep);
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let exit = tokio::time::timeout(Duration::from_secs(10), child.exited())
        .await
        .unwrap();
    assert_eq!(exit.and_then(|e| e.signal), Some(libc::SIGKILL), "{exit:?}");
    assert!(
        gone_within(sleep, Duration::from_secs(5)).await,
        "the server's session-leader child survived"
    );
}

#[tokio::test]
async fn stdin_eof_still_ends_the_server_and_its_tree_goes_with_it() {
    let (child, stdin, sleep) = start("eof").await;
    drop(stdin);
    let exit = tokio::time::timeout(Duration::from_secs(10), child.exited())
        .await
        .unwrap();
    assert_eq!(
        exit.map(|e| (e.code, e.signal)),
        Some((Some(0), None)),
        "exit code passed through"
    );
    assert!(gone_within(sleep, Duration::from_secs(5)).await);
}

#[tokio::test]
async fn kill_now_kills_the_tree() {
    let (child, _stdin, sleep) = start("kill-now").await;
    child.kill_now();
    let exit = tokio::time::timeout(Duration::from_secs(10), child.exited())
        .await
        .unwrap();
    assert_eq!(exit.and_then(|e| e.signal), Some(libc::SIGKILL), "{exit:?}");
    assert!(gone_within(sleep, Duration::from_secs(5)).await);
}

#[tokio::test]
async fn shutdown_terminates_a_server_that_ignores_eof() {
    // SIGTERM reaches the server (here `cat` still reading: stdin is kept open), not only the
    // supervisor; the tree goes after it.
    let (child, _stdin, sleep) = start("term").await;
    let exit = tokio::time::timeout(
        Duration::from_secs(10),
        child.shutdown(Duration::from_millis(100)),
    )
    .await
    .unwrap();
    assert_eq!(exit.and_then(|e| e.signal), Some(libc::SIGTERM), "{exit:?}");
    assert!(gone_within(sleep, Duration::from_secs(5)).await);
}
