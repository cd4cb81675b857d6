//! Process-tree containment of the `codex app-server` child, per OS. The why and the
//! guarantees are described in `process.rs`; this module is the mechanics.
//!
//! - Linux: the spawned child is a supervisor (a fork of this process that never execs) that
//!   is a child subreaper, forks codex and kills every descendant when codex or its owner dies.
//! - macOS: codex leads its own process group; a kqueue `NOTE_EXIT` watch kills the group when
//!   codex exits, before it is reaped (so the group id cannot have been reused).
//! - Windows: codex is assigned to a job object with `KILL_ON_JOB_CLOSE`; the reaper holds the
//!   only handle, so the job's processes die when codex has exited or this process dies.

/// What the client asks of the child. Sent only by the reaper, which owns the child's wait:
/// the child has not been reaped, so its pid cannot name another process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Graceful: SIGTERM to codex (no such thing on Windows: there it is `Kill`).
    Term,
    /// Codex and everything it started, now.
    Kill,
}

// ---------------------------------------------------------------------------------------------
// Linux

#[cfg(target_os = "linux")]
pub(crate) use linux::{prepare, Containment};

#[cfg(target_os = "linux")]
mod linux {
    use std::collections::BTreeMap;
    use std::ffi::{CString, OsStr, OsString};
    use std::fs::File;
    use std::io::{self, Read};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::ffi::{OsStrExt, OsStringExt};

    use libc::{c_char, c_int, c_void, pid_t, sigset_t};
    use tokio::process::{Child, Command};

    use super::Stop;

    /// The supervisor forwards this to codex (graceful stop).
    const SIG_STOP: c_int = libc::SIGTERM;
    /// The supervisor kills codex and the tree at once.
    const SIG_KILL_TREE: c_int = libc::SIGUSR1;
    /// The supervisor's parent-death signal: its owner (the thread that spawned it) is gone.
    const SIG_OWNER_DIED: c_int = libc::SIGUSR2;

    /// Before spawn: the pipe on which the supervisor reports codex's pid.
    pub(crate) struct Prepared {
        pid_read: OwnedFd,
        pid_write: OwnedFd,
    }

    pub(crate) struct Containment {
        /// The tokio `Child`: the supervisor, never SIGKILLed by us (that would orphan the
        /// tree); or codex itself where no supervisor could be made.
        child: u32,
        supervised: bool,
    }

    pub(crate) fn prepare(cmd: &mut Command) -> io::Result<Prepared> {
        let mut fds = [0 as c_int; 2];
        // Non-blocking: the pid is written before spawn() returns, so reading never waits.
        // SAFETY: plain syscall on a local array.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: pipe2 just returned these two fds, owned by nobody else.
        let (pid_read, pid_write) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let report_fd = pid_write.as_raw_fd();
        let owner = std::process::id() as pid_t;
        let plan = ExecPlan::of(cmd)?;
        // SAFETY: the closure runs in the forked child, which has one thread; it makes only
        // raw syscalls on stack memory and on `plan`, built here (no allocation, no locks, no
        // std I/O).
        unsafe {
            cmd.pre_exec(move || become_supervisor(owner, report_fd, &plan));
        }
        Ok(Prepared {
            pid_read,
            pid_write,
        })
    }

    impl Prepared {
        /// After a successful spawn: codex's pid, from the supervisor. Nothing on the pipe
        /// (spawn() has returned, so the supervisor would have written it) means there is no
        /// supervisor: the child is codex.
        pub(crate) fn finish(self, child: &Child) -> io::Result<(Containment, Option<u32>)> {
            drop(self.pid_write);
            let id = child
                .id()
                .ok_or_else(|| io::Error::other("the child is gone"))?;
            let mut buf = [0u8; 4];
            match File::from(self.pid_read).read_exact(&mut buf) {
                Ok(()) => {
                    let codex = u32::try_from(i32::from_ne_bytes(buf)).ok();
                    let containment = Containment {
                        child: id,
                        supervised: true,
                    };
                    Ok((containment, codex))
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::UnexpectedEof
                    ) =>
                {
                    let containment = Containment {
                        child: id,
                        supervised: false,
                    };
                    Ok((containment, Some(id)))
                }
                Err(e) => Err(io::Error::new(
                    e.kind(),
                    format!("the supervisor did not report codex's pid: {e}"),
                )),
            }
        }
    }

    impl Containment {
        /// Only from the reaper, before it has reaped the supervisor.
        pub(crate) fn signal(&self, _child: &mut Child, stop: Stop) {
            let sig = match (stop, self.supervised) {
                (Stop::Term, _) => SIG_STOP,
                (Stop::Kill, true) => SIG_KILL_TREE,
                (Stop::Kill, false) => libc::SIGKILL,
            };
            // SAFETY: plain syscall; the child is unreaped, so the pid is still ours.
            unsafe {
                libc::kill(self.child as pid_t, sig);
            }
        }

        pub(crate) fn watches_exit(&self) -> bool {
            false
        }

        pub(crate) async fn server_exited(&mut self) {
            std::future::pending::<()>().await
        }

        /// Nothing to do: the supervisor killed the tree before it exited.
        pub(crate) fn after_reap(&mut self) {}
    }

    fn errno() -> io::Error {
        io::Error::last_os_error()
    }

    /// codex's execve arguments, made in the parent (where allocating is fine) from what the
    /// Command holds, as std would: program (searched on the child's PATH when it has no '/'),
    /// argv, and this process's environment with the Command's changes.
    struct ExecPlan {
        _strings: Vec<CString>,
        path: *const c_char,
        argv: Vec<*const c_char>,
        envp: Vec<*const c_char>,
    }

    // SAFETY: the pointers point into `_strings`, owned by the plan and never mutated.
    unsafe impl Send for ExecPlan {}
    unsafe impl Sync for ExecPlan {}

    impl ExecPlan {
        fn of(cmd: &Command) -> io::Result<ExecPlan> {
            let std = cmd.as_std();
            let mut env: BTreeMap<OsString, OsString> = std::env::vars_os().collect();
            for (key, value) in std.get_envs() {
                match value {
                    Some(value) => env.insert(key.to_owned(), value.to_owned()),
                    None => env.remove(key),
                };
            }
            let program = std.get_program();
            let path = if program.as_bytes().contains(&b'/') {
                program.to_owned()
            } else {
                let dirs = env.get(OsStr::new("PATH")).cloned().unwrap_or_default();
                std::env::split_paths(&dirs)
                    .map(|dir| dir.join(program))
                    .find(|candidate| candidate.is_file())
                    .map_or_else(|| program.to_owned(), |found| found.into_os_string())
            };
            let cstring = |bytes: Vec<u8>| {
                CString::new(bytes).map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "a NUL byte in codex's command or environment",
                    )
                })
            };
            let mut strings = vec![cstring(path.into_vec())?];
            strings.push(cstring(program.as_bytes().to_vec())?);
            for arg in std.get_args() {
                strings.push(cstring(arg.as_bytes().to_vec())?);
            }
            let argc = strings.len() - 1;
            for (key, value) in &env {
                let mut pair = key.as_bytes().to_vec();
                pair.push(b'=');
                pair.extend_from_slice(value.as_bytes());
                strings.push(cstring(pair)?);
            }
            let pointers: Vec<*const c_char> = strings.iter().map(|s| s.as_ptr()).collect();
            let mut argv = pointers[1..=argc].to_vec();
            argv.push(std::ptr::null());
            let mut envp = pointers[argc + 1..].to_vec();
            envp.push(std::ptr::null());
            Ok(ExecPlan {
                path: pointers[0],
                _strings: strings,
                argv,
                envp,
            })
        }
    }

    /// What the supervisor hands to the child that becomes codex (it shares our memory).
    struct Launch<'a> {
        plan: &'a ExecPlan,
        original_mask: sigset_t,
        supervisor: pid_t,
        /// Set by the child when it could not exec.
        failed: c_int,
    }

    /// The child of the supervisor's vfork-style clone, on its own small stack: restore the
    /// signal mask, die with the supervisor, exec codex. Touches only `Launch` (and errno).
    extern "C" fn launch(arg: *mut c_void) -> c_int {
        // SAFETY: `arg` is the supervisor's `Launch`, alive while the supervisor is suspended
        // (CLONE_VFORK) until this child has exec'd or exited.
        unsafe {
            let launch = &mut *arg.cast::<Launch>();
            libc::sigprocmask(
                libc::SIG_SETMASK,
                &launch.original_mask,
                std::ptr::null_mut(),
            );
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0
                || libc::getppid() != launch.supervisor
            {
                launch.failed = errno().raw_os_error().unwrap_or(libc::ECHILD).max(1);
                return 127;
            }
            libc::execve(
                launch.plan.path,
                launch.plan.argv.as_ptr(),
                launch.plan.envp.as_ptr(),
            );
            launch.failed = errno().raw_os_error().unwrap_or(libc::ENOEXEC).max(1);
            127
        }
    }

    /// Runs in the child of fork and never returns Ok: it becomes the supervisor, or returns
    /// the error that kept codex from starting (std then fails the spawn with it).
    fn become_supervisor(owner: pid_t, report_fd: c_int, plan: &ExecPlan) -> io::Result<()> {
        // SAFETY (whole function): raw syscalls on stack memory; see `prepare`.
        unsafe {
            if libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0 {
                // No subreaper here (qemu-user 7.2 answers EINVAL, kernels before 3.4 lack it):
                // no supervisor either. codex becomes this process, as before containment: it
                // dies with its owner's thread; what it starts is not contained. The parent
                // sees no pid on the pipe and signals codex directly.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                    return Err(errno());
                }
                if libc::getppid() != owner {
                    libc::_exit(1);
                }
                return Ok(());
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, SIG_OWNER_DIED, 0, 0, 0) != 0 {
                return Err(errno());
            }
            // The owner may have died between fork and prctl: then nobody will signal us.
            if libc::getppid() != owner {
                libc::_exit(1);
            }
            let me = libc::getpid();
            // Block what we wait for before forking, so that nothing is missed; codex gets the
            // mask std gave us back.
            let mut wanted: sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut wanted);
            for sig in [
                libc::SIGCHLD,
                SIG_STOP,
                SIG_KILL_TREE,
                SIG_OWNER_DIED,
                // A terminal's ^C/^\ or hangup reach the whole foreground group: codex decides
                // for itself; the supervisor stays to clean up after it.
                libc::SIGINT,
                libc::SIGQUIT,
                libc::SIGHUP,
            ] {
                libc::sigaddset(&mut wanted, sig);
            }
            let mut original: sigset_t = std::mem::zeroed();
            libc::sigprocmask(libc::SIG_BLOCK, &wanted, &mut original);
            // The handlers are Node's (libuv writes to fds we are about to close): defaults
            // here. SIGCHLD must not stay ignored (SIG_IGN / SA_NOCLDWAIT, if the host set
            // them): the kernel would then reap codex unseen and send us nothing.
            for sig in 1..=64 {
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, std::ptr::null(), &mut old) != 0 {
                    continue; // not a signal, or one libc keeps for itself
                }
                let handled =
                    old.sa_sigaction != libc::SIG_DFL && old.sa_sigaction != libc::SIG_IGN;
                if handled || sig == libc::SIGCHLD {
                    let default: libc::sigaction = std::mem::zeroed(); // SIG_DFL, no flags
                    libc::sigaction(sig, &default, std::ptr::null_mut());
                }
            }
            // codex starts from a vfork-style clone: it shares our memory until it execs (we
            // are suspended meanwhile), so no page table of this Node-sized address space is
            // copied a second time (measured: a plain fork here doubled the spawn's cost for a
            // 200 MB process, +15 ms). glibc's clone() runs `launch` on the stack given.
            let mut stack = [0u128; 4096]; // 64 KiB, 16-byte aligned
            let top = stack.as_mut_ptr().add(stack.len()).cast::<c_void>();
            let mut launch_data = Launch {
                plan,
                original_mask: original,
                supervisor: me,
                failed: 0,
            };
            let codex = libc::clone(
                launch,
                top,
                libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
                (&mut launch_data as *mut Launch).cast::<c_void>(),
            );
            let failed = std::ptr::read_volatile(&launch_data.failed);
            if codex < 0 || failed != 0 {
                let e = if codex < 0 {
                    errno()
                } else {
                    libc::waitpid(codex, std::ptr::null_mut(), 0);
                    io::Error::from_raw_os_error(failed)
                };
                libc::sigprocmask(libc::SIG_SETMASK, &original, std::ptr::null_mut());
                return Err(e);
            }
            supervise(me, codex as pid_t, report_fd, &wanted)
        }
    }

    /// The supervisor's life: report codex's pid, drop every inherited fd, then wait.
    unsafe fn supervise(me: pid_t, codex: pid_t, report_fd: c_int, wanted: &sigset_t) -> ! {
        let bytes = codex.to_ne_bytes();
        libc::write(report_fd, bytes.as_ptr().cast(), bytes.len());
        // stdio to /dev/null (codex holds the real pipes: their EOF is codex's alone), then
        // close every other fd: std's exec-error pipe (spawn() returns once it is closed
        // everywhere) and every fd of this process, CLOEXEC or not (we never exec).
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            for fd in 0..3 {
                libc::dup2(null, fd);
            }
        }
        close_from(3);
        libc::prctl(libc::PR_SET_NAME, c"codex-supervise".as_ptr(), 0, 0, 0);

        let mut codex_status: Option<c_int> = None;
        loop {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let sig = libc::sigwaitinfo(wanted, &mut info);
            match sig {
                libc::SIGCHLD => reap_all(codex, &mut codex_status),
                SIG_STOP if codex_status.is_none() => {
                    libc::kill(codex, libc::SIGTERM);
                }
                SIG_KILL_TREE | SIG_OWNER_DIED if codex_status.is_none() => {
                    libc::kill(codex, libc::SIGKILL);
                }
                _ => {}
            }
            if let Some(status) = codex_status {
                kill_descendants(me);
                exit_like(status);
            }
        }
    }

    /// Reaps every exited child (orphans re-parented to us too), noting codex's status.
    unsafe fn reap_all(codex: pid_t, codex_status: &mut Option<c_int>) {
        loop {
            let mut status: c_int = 0;
            let pid = libc::waitpid(-1, &mut status, libc::WNOHANG);
            if pid <= 0 {
                return;
            }
            if pid == codex {
                *codex_status = Some(status);
            }
        }
    }

    /// SIGKILLs our children until there are none. As a subreaper we inherit every orphan of
    /// the tree (whatever its process group or session), so killing the children we have,
    /// reaping them and looking again reaches every descendant: a process's children are
    /// re-parented to us before we can reap it. Bounded (about 10 s) so that a process stuck in
    /// the kernel cannot keep the supervisor, and so the client's exit report, forever.
    unsafe fn kill_descendants(me: pid_t) {
        let mut sigchld: sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut sigchld);
        libc::sigaddset(&mut sigchld, libc::SIGCHLD);
        for _ in 0..500 {
            for_each_number_in(c"/proc", |pid, _| {
                if pid != me && parent_of(pid) == Some(me) {
                    libc::kill(pid, libc::SIGKILL);
                }
            });
            loop {
                let mut status: c_int = 0;
                let pid = libc::waitpid(-1, &mut status, libc::WNOHANG);
                if pid > 0 {
                    continue;
                }
                if pid < 0 {
                    return; // ECHILD: nothing left
                }
                break; // children remain
            }
            // Wait for the next death (or 20 ms, for one the scan missed), then look again.
            let pause = libc::timespec {
                tv_sec: 0,
                tv_nsec: 20_000_000,
            };
            libc::sigtimedwait(&sigchld, std::ptr::null_mut(), &pause);
        }
    }

    /// Ends the supervisor the way codex ended, so the client's `onExit` reports codex's exit.
    unsafe fn exit_like(status: c_int) -> ! {
        if libc::WIFSIGNALED(status) {
            let sig = libc::WTERMSIG(status);
            // No core file of the supervisor when codex dumped core.
            let none = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::setrlimit(libc::RLIMIT_CORE, &none);
            libc::signal(sig, libc::SIG_DFL);
            let mut only: sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut only);
            libc::sigaddset(&mut only, sig);
            libc::sigprocmask(libc::SIG_UNBLOCK, &only, std::ptr::null_mut());
            libc::kill(libc::getpid(), sig);
            libc::_exit(128 + sig);
        }
        libc::_exit(if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            1
        })
    }

    /// Closes every fd >= `first`: close_range (Linux 5.9), else the entries of /proc/self/fd.
    unsafe fn close_from(first: c_int) {
        if libc::syscall(libc::SYS_close_range, first as u32, u32::MAX, 0u32) == 0 {
            return;
        }
        // Closing while listing is fine: entries come in fd order and we only close those seen.
        for_each_number_in(c"/proc/self/fd", |fd, listing| {
            if fd >= first && fd != listing {
                libc::close(fd);
            }
        });
    }

    /// Calls `f(number, fd of the listing)` with every all-digits name in `dir` (getdents64
    /// into a stack buffer).
    unsafe fn for_each_number_in(dir: &std::ffi::CStr, mut f: impl FnMut(c_int, c_int)) {
        let fd = libc::open(
            dir.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        );
        if fd < 0 {
            return;
        }
        // linux_dirent64: u64 ino, i64 off, u16 reclen, u8 type, NUL-terminated name.
        let mut buf = [0u64; 1024];
        loop {
            let n = libc::syscall(
                libc::SYS_getdents64,
                fd,
                buf.as_mut_ptr(),
                std::mem::size_of_val(&buf),
            );
            if n <= 0 {
                break;
            }
            let bytes = std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n as usize);
            let mut at = 0usize;
            while at + 19 < bytes.len() {
                let reclen = u16::from_ne_bytes([bytes[at + 16], bytes[at + 17]]) as usize;
                if reclen == 0 {
                    break;
                }
                let name = &bytes[at + 19..(at + reclen).min(bytes.len())];
                if let Some(number) = parse_number(name) {
                    f(number, fd);
                }
                at += reclen;
            }
        }
        libc::close(fd);
    }

    /// The leading decimal number of a NUL-terminated name, if it is all digits.
    fn parse_number(name: &[u8]) -> Option<c_int> {
        let mut value: c_int = 0;
        let mut digits = 0;
        for &b in name {
            match b {
                0 => break,
                b'0'..=b'9' => {
                    value = value.checked_mul(10)?.checked_add(c_int::from(b - b'0'))?;
                    digits += 1;
                }
                _ => return None,
            }
        }
        (digits > 0).then_some(value)
    }

    /// The ppid field of /proc/<pid>/stat: "pid (comm) S ppid ...". comm may hold spaces and
    /// parentheses, so the fields start after the last ')'.
    unsafe fn parent_of(pid: pid_t) -> Option<pid_t> {
        let mut path = [0u8; 32];
        let prefix = b"/proc/";
        path[..prefix.len()].copy_from_slice(prefix);
        let mut at = prefix.len();
        let mut digits = [0u8; 12];
        let mut n = 0;
        let mut rest = pid;
        loop {
            digits[n] = b'0' + (rest % 10) as u8;
            n += 1;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        while n > 0 {
            n -= 1;
            path[at] = digits[n];
            at += 1;
        }
        let suffix = b"/stat\0";
        path[at..at + suffix.len()].copy_from_slice(suffix);
        let fd = libc::open(path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return None;
        }
        let mut buf = [0u8; 512];
        let len = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
        libc::close(fd);
        if len <= 0 {
            return None;
        }
        let stat = &buf[..len as usize];
        let close = stat.iter().rposition(|&b| b == b')')?;
        // ") S ppid "
        let fields = stat.get(close + 4..)?;
        let end = fields.iter().position(|&b| b == b' ')?;
        parse_number(&fields[..end])
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn parses_stat_numbers() {
            assert_eq!(parse_number(b"123\0junk"), Some(123));
            assert_eq!(parse_number(b"self\0"), None);
            assert_eq!(parse_number(b"\0"), None);
            assert_eq!(parse_number(b"99999999999999\0"), None);
            let me = std::process::id() as pid_t;
            // SAFETY: reads /proc like the supervisor does.
            assert_eq!(unsafe { parent_of(me) }, Some(unsafe { libc::getppid() }));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// macOS

#[cfg(target_os = "macos")]
pub(crate) use macos::{prepare, Containment};

#[cfg(target_os = "macos")]
mod macos {
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    use libc::pid_t;
    use tokio::io::unix::AsyncFd;
    use tokio::process::{Child, Command};

    use super::Stop;

    pub(crate) struct Prepared;

    pub(crate) struct Containment {
        /// codex's pid, which is also its process group id.
        group: pid_t,
        /// A kqueue with an EVFILT_PROC/NOTE_EXIT watch on codex; None if it could not be set
        /// up (then the group is killed after the reap, as well as can be).
        exit_watch: Option<AsyncFd<OwnedFd>>,
    }

    pub(crate) fn prepare(cmd: &mut Command) -> io::Result<Prepared> {
        // Its own group, so that what it starts in that group can be killed with it.
        cmd.process_group(0);
        Ok(Prepared)
    }

    impl Prepared {
        pub(crate) fn finish(self, child: &Child) -> io::Result<(Containment, Option<u32>)> {
            let pid = child
                .id()
                .ok_or_else(|| io::Error::other("codex is gone"))?;
            let group = pid as pid_t;
            Ok((
                Containment {
                    group,
                    exit_watch: watch_exit(group).ok(),
                },
                Some(pid),
            ))
        }
    }

    fn watch_exit(pid: pid_t) -> io::Result<AsyncFd<OwnedFd>> {
        // SAFETY: plain syscalls on local memory; the kqueue fd is owned from its creation.
        unsafe {
            let kq = libc::kqueue();
            if kq < 0 {
                return Err(io::Error::last_os_error());
            }
            let kq = OwnedFd::from_raw_fd(kq);
            let change = libc::kevent {
                ident: pid as libc::uintptr_t,
                filter: libc::EVFILT_PROC,
                flags: libc::EV_ADD | libc::EV_ONESHOT,
                fflags: libc::NOTE_EXIT,
                data: 0,
                udata: std::ptr::null_mut(),
            };
            let r = libc::kevent(
                kq.as_raw_fd(),
                &change,
                1,
                std::ptr::null_mut(),
                0,
                std::ptr::null(),
            );
            if r < 0 {
                // ESRCH: it has exited already; the caller kills the group after the reap.
                return Err(io::Error::last_os_error());
            }
            // The AsyncFd owns the kqueue fd from here on; it stays open and the same.
            AsyncFd::register_with_interest(kq, tokio::io::Interest::READABLE)
                .map_err(io::Error::from)
        }
    }

    impl Containment {
        pub(crate) fn signal(&self, child: &mut Child, stop: Stop) {
            match stop {
                // SAFETY: plain syscall; codex is unreaped, so the pid is still ours.
                Stop::Term => unsafe {
                    libc::kill(self.group, libc::SIGTERM);
                },
                Stop::Kill => {
                    let _ = child.start_kill();
                    self.kill_group();
                }
            }
        }

        fn kill_group(&self) {
            // SAFETY: plain syscall. Called while codex is unreaped (a zombie at worst), so the
            // group id cannot have been reused.
            unsafe {
                libc::killpg(self.group, libc::SIGKILL);
            }
        }

        pub(crate) fn watches_exit(&self) -> bool {
            self.exit_watch.is_some()
        }

        /// Resolves once codex has exited (not yet reaped), after killing its group.
        pub(crate) async fn server_exited(&mut self) {
            let Some(watch) = &self.exit_watch else {
                return std::future::pending().await;
            };
            loop {
                let Ok(mut ready) = watch.readable().await else {
                    break;
                };
                let mut event: libc::kevent = unsafe { std::mem::zeroed() };
                let zero = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                // SAFETY: plain syscall on local memory.
                let n = unsafe {
                    libc::kevent(watch.as_raw_fd(), std::ptr::null(), 0, &mut event, 1, &zero)
                };
                if n > 0 {
                    break;
                }
                ready.clear_ready();
            }
            self.kill_group();
            self.exit_watch = None;
        }

        /// After the reap, when no watch was possible: best effort.
        pub(crate) fn after_reap(&mut self) {}
    }
}

// ---------------------------------------------------------------------------------------------
// Windows

#[cfg(windows)]
pub(crate) use windows::{prepare, Containment};

#[cfg(windows)]
mod windows {
    use std::io;
    use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};

    use tokio::process::{Child, Command};
    use windows_sys::Win32::System::JobObjects::{
        AssignProcessToJobObject, CreateJobObjectW, JobObjectExtendedLimitInformation,
        SetInformationJobObject, TerminateJobObject, JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
        JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
    };

    use super::Stop;

    pub(crate) struct Prepared;

    pub(crate) struct Containment {
        /// The only handle to the job (not inheritable): closing it, when the reaper ends or
        /// this process dies, kills every process still in the job.
        job: Option<OwnedHandle>,
    }

    pub(crate) fn prepare(_cmd: &mut Command) -> io::Result<Prepared> {
        Ok(Prepared)
    }

    impl Prepared {
        /// Assigns codex to a new kill-on-close job right after spawn: codex starts commands
        /// only once a turn asks for them, long after this. Processes it started meanwhile
        /// would not be in the job (std cannot create it suspended without its thread handle).
        pub(crate) fn finish(self, child: &Child) -> io::Result<(Containment, Option<u32>)> {
            // Without a job (creation or assignment refused) codex still runs, uncontained:
            // refusing to start would be worse than what Windows gives without one.
            let job = new_job().ok().filter(|job| {
                child.raw_handle().is_some_and(|process| {
                    // SAFETY: both handles are live for the duration of the call.
                    unsafe { AssignProcessToJobObject(job.as_raw_handle(), process) != 0 }
                })
            });
            Ok((Containment { job }, child.id()))
        }
    }

    fn new_job() -> io::Result<OwnedHandle> {
        // SAFETY: plain Win32 calls; the handle is owned from here on.
        unsafe {
            let raw = CreateJobObjectW(std::ptr::null(), std::ptr::null());
            if raw.is_null() {
                return Err(io::Error::last_os_error());
            }
            let job = OwnedHandle::from_raw_handle(raw);
            let mut limits: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = std::mem::zeroed();
            limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
            if SetInformationJobObject(
                job.as_raw_handle(),
                JobObjectExtendedLimitInformation,
                (&limits as *const JOBOBJECT_EXTENDED_LIMIT_INFORMATION).cast(),
                std::mem::size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
            ) == 0
            {
                return Err(io::Error::last_os_error());
            }
            Ok(job)
        }
    }

    impl Containment {
        pub(crate) fn signal(&self, child: &mut Child, _stop: Stop) {
            // No SIGTERM on Windows: both are a kill, of the whole job when there is one.
            match &self.job {
                // SAFETY: the handle is live.
                Some(job) => unsafe {
                    TerminateJobObject(job.as_raw_handle(), 1);
                },
                None => {
                    let _ = child.start_kill();
                }
            }
        }

        pub(crate) fn watches_exit(&self) -> bool {
            false
        }

        pub(crate) async fn server_exited(&mut self) {
            std::future::pending::<()>().await
        }

        /// codex has exited: close the job, killing whatever it left running.
        pub(crate) fn after_reap(&mut self) {
            self.job = None;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Elsewhere (other Unixes): the child alone.

#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
pub(crate) use other::{prepare, Containment};

#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
mod other {
    use super::Stop;
    use std::io;
    use tokio::process::{Child, Command};

    pub(crate) struct Prepared;
    pub(crate) struct Containment;

    pub(crate) fn prepare(_cmd: &mut Command) -> io::Result<Prepared> {
        Ok(Prepared)
    }

    impl Prepared {
        pub(crate) fn finish(self, child: &Child) -> io::Result<(Containment, Option<u32>)> {
            Ok((Containment, child.id()))
        }
    }

    impl Containment {
        pub(crate) fn signal(&self, child: &mut Child, stop: Stop) {
            match (stop, child.id()) {
                // SAFETY: plain syscall; the child is unreaped.
                (Stop::Term, Some(pid)) => unsafe {
                    libc::kill(pid as libc::pid_t, libc::SIGTERM);
                },
                _ => {
                    let _ = child.start_kill();
                }
            }
        }
        pub(crate) fn watches_exit(&self) -> bool {
            false
        }
        pub(crate) async fn server_exited(&mut self) {
            std::future::pending::<()>().await
        }
        pub(crate) fn after_reap(&mut self) {}
    }
}
