//! The child process's own reporting, with a shell script in the place of codex: the stderr
//! tail (its bound, its line ends), the exit it reports, and the kill when a runtime shutdown drops
//! it unreaped. (Unix: the script needs `/bin/sh`.)
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

/// Whether process `pid` is gone: no such process, or a zombie (dead, only not yet reaped).
fn is_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // The state follows the command's closing parenthesis: "pid (comm) S ...".
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
    }
}

/// A runtime shut down under the reaper (an application exiting with the session open) drops
/// the child unreaped: the child's tree is killed then, not left running.
#[cfg(target_os = "linux")]
#[test]
fn a_child_dropped_unreaped_by_a_runtime_shutdown_is_killed() {
    let dir = std::env::temp_dir().join(format!("codex-child-{}-drop", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pid_file = dir.join("pid");
    let _ = std::fs::remove_file(&pid_file);
    // The script records its pid, then becomes a long sleep (the same process).
    let body = format!(
        "echo $$ > '{}.tmp'\nmv '{0}.tmp' '{0}'\nexec sleep 60",
        pid_file.display()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (child, pid) = runtime.block_on(async {
        let child = spawn(script("drop", &body), 4);
        let pid = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Ok(text) = std::fs::read_to_string(&pid_file) {
                    break text.trim().parse::<u32>().unwrap();
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the script wrote its pid");
        (child, pid)
    });
    assert!(!is_gone(pid), "the script runs");
    // The handle outlives the runtime: only the reaper task's drop can stop the child.
    drop(runtime);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !is_gone(pid) {
        assert!(
            std::time::Instant::now() < deadline,
            "the child outlived the runtime that owned it"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(child);
}
