//! The child process's own reporting, with a shell script in the place of codex: the stderr
//! tail (its bound, its line ends) and the exit it reports. (Unix: the script needs `/bin/sh`.)
#![cfg(unix)]

use std::path::PathBuf;
use std::time::Duration;

use app_server_client::process::{ChildProcess, Discovery, ExitInfo, SpawnOptions};

fn script(label: &str, body: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("codex-child-{}-{label}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("codex");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn spawn(path: PathBuf, stderr_tail_lines: usize) -> ChildProcess {
    let options = SpawnOptions {
        discovery: Discovery {
            explicit: Some(path),
            ..Discovery::default()
        },
        stderr_tail_lines,
        ..SpawnOptions::default()
    };
    let (child, _pipes) = ChildProcess::spawn(&options).expect("spawn");
    child
}

/// How `child` ended, as it reports it (10 s at most).
async fn exit_of(child: &ChildProcess) -> Option<ExitInfo> {
    let exit = tokio::time::timeout(Duration::from_secs(10), child.exited())
        .await
        .expect("the script exits");
    assert_eq!(child.exit_info(), exit, "exit_info() agrees with exited()");
    exit
}

#[tokio::test]
async fn the_stderr_tail_keeps_the_last_lines_without_their_line_ends() {
    // CRLF and LF line ends, and a last line with none.
    let child = spawn(
        script("tail", "printf 'one\\ntwo\\r\\nthree\\nfour' >&2\nexit 0"),
        3,
    );
    let exited = ExitInfo {
        code: Some(0),
        signal: None,
    };
    assert_eq!(exit_of(&child).await, Some(exited));
    let tail = child.stderr.settled_text(Duration::from_secs(10)).await;
    assert_eq!(tail, "two\nthree\nfour");
}

#[tokio::test]
async fn the_exit_is_reported_with_its_code_or_signal() {
    let child = spawn(script("code", "exit 3"), 4);
    let exited = ExitInfo {
        code: Some(3),
        signal: None,
    };
    assert_eq!(exit_of(&child).await, Some(exited));
    let child = spawn(script("signal", "kill -TERM $$"), 4);
    let killed = ExitInfo {
        code: None,
        signal: Some(15),
    };
    assert_eq!(exit_of(&child).await, Some(killed));
}
