//! Starting a child process so that nginx never sees it.
//!
//! nginx's SIGCHLD handler runs in workers too (inherited from the master): it reaps any
//! child with `waitpid(-1)` and logs "unknown process ... exited" for one it does not know
//! (an alert when a signal killed it). A worker has no child of nginx's own, so before its
//! first child the worker puts SIGCHLD back to its default disposition (discarded; not
//! `SIG_IGN`, which would reap children itself and lose their status): nginx's handler no
//! longer runs there, and the worker reaps its children through their pidfds
//! (`CLONE_PIDFD`, `waitid(P_PIDFD)`), with no race against pid reuse. A child cloned with
//! no exit signal is not enough: `execve` resets the exit signal to SIGCHLD.
//!
//! The child: its own process group (stopping it stops what it started), every signal at
//! its default disposition and unblocked (nginx ignores SIGPIPE, and an ignored signal stays
//! ignored across exec), SIGKILL when the worker dies (`PR_SET_PDEATHSIG`) unless it is meant
//! to outlive it ([`Command::die_with_worker`]), no descriptor of
//! the worker's but the three standard ones.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Where a standard descriptor of the child goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stdio {
    /// `/dev/null`.
    Null,
    /// A pipe whose other end the worker keeps (non-blocking).
    Pipe,
}

/// A descriptor of the child opened on a file or copied from another, after the standard
/// ones are set (nginx-rtmp's `exec` redirections: `>file`, `2>>file`, `<file`, `2>&1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redirect {
    File {
        fd: RawFd,
        path: CString,
        flags: libc::c_int,
    },
    Dup {
        fd: RawFd,
        from: RawFd,
    },
}

/// What to run. Built once; respawns reuse it.
#[derive(Debug, Clone)]
pub struct Command {
    /// Absolute path of the program (resolved before spawning: the worker's environment may
    /// have no `PATH`).
    pub program: CString,
    /// The arguments, `argv[0]` included.
    pub argv: Vec<CString>,
    /// `NAME=value` entries of the child's environment.
    pub env: Vec<CString>,
    pub stdin: Stdio,
    pub stdout: Stdio,
    pub stderr: Stdio,
    pub redirects: Vec<Redirect>,
    /// SIGKILL when the worker dies (an encoder, a supervised `exec`). Off for a one-shot
    /// command, which finishes its job even when its worker exits meanwhile (an
    /// `exec_publish_done` in the old worker of a reload).
    pub die_with_worker: bool,
}

/// A started child and the worker's ends of its pipes.
#[derive(Debug)]
pub struct Spawned {
    pub pid: i32,
    pub pidfd: OwnedFd,
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

/// Pipe capacity asked for media pipes: a second or more of a rendition, so that the
/// worker's timer-driven reads never stall an encoder.
const PIPE_SIZE: libc::c_int = 1 << 20;

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// A pipe: (read end, write end), both close-on-exec.
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 succeeded: both descriptors are open and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn set_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we own.
    let flags = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    // SAFETY: as above.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) })?;
    Ok(())
}

/// The child's end and the worker's end of one standard descriptor.
struct Std {
    child: Option<OwnedFd>,
    worker: Option<OwnedFd>,
}

fn std_pipe(stdio: Stdio, child_reads: bool, big: bool) -> io::Result<Std> {
    if stdio == Stdio::Null {
        return Ok(Std {
            child: None,
            worker: None,
        });
    }
    let (r, w) = pipe()?;
    let (child, worker) = if child_reads { (r, w) } else { (w, r) };
    set_nonblocking(&worker)?;
    if big {
        // A smaller pipe only means more frequent reads: the result is not checked.
        // SAFETY: fcntl on a descriptor we own.
        unsafe { libc::fcntl(worker.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_SIZE) };
    }
    Ok(Std {
        child: Some(child),
        worker: Some(worker),
    })
}

/// Takes SIGCHLD away from nginx's handler in this worker (see the module comment).
fn quiet_sigchld() {
    // SAFETY: a zeroed sigaction with SIG_DFL is a valid disposition; sigaction only reads it.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = libc::SIG_DFL;
        libc::sigemptyset(&mut act.sa_mask);
        libc::sigaction(libc::SIGCHLD, &act, std::ptr::null_mut());
    }
}

/// Starts `cmd`. nginx neither reaps nor reports the child (see the module comment); the
/// caller reaps it through the returned pidfd.
pub fn spawn(cmd: &Command) -> io::Result<Spawned> {
    quiet_sigchld();
    // SAFETY: open on a constant NUL-terminated path.
    let null = cvt(unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) })?;
    // SAFETY: open succeeded; the descriptor is ours alone.
    let null = unsafe { OwnedFd::from_raw_fd(null) };
    let stdin = std_pipe(cmd.stdin, true, true)?;
    let stdout = std_pipe(cmd.stdout, false, true)?;
    let stderr = std_pipe(cmd.stderr, false, false)?;
    let fd_of = |s: &Std| s.child.as_ref().map_or(null.as_raw_fd(), |f| f.as_raw_fd());
    let child_fds = [fd_of(&stdin), fd_of(&stdout), fd_of(&stderr)];

    // Everything the child touches is prepared here: after the clone it only makes
    // system calls.
    let mut argv: Vec<*const libc::c_char> = cmd.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = cmd.env.iter().map(|a| a.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };

    // Signals stay blocked from the clone until the child has reset their handlers: the
    // child never runs one of nginx's.
    // SAFETY: zeroed sigset_t values are valid arguments for sigfillset/sigprocmask.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: both sets are valid for writing.
    unsafe {
        libc::sigfillset(&mut all);
        libc::sigprocmask(libc::SIG_SETMASK, &all, &mut old);
    }
    let mut pidfd: libc::c_int = -1;
    // SAFETY: a fork-like clone (no CLONE_VM, no new stack: the child runs on a copy of this
    // stack), exit signal SIGCHLD (the low byte of the flags). With CLONE_PIDFD the kernel
    // stores the pidfd through the third argument (the parent tid pointer on x86-64 and
    // arm64), which points at a live local.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (libc::CLONE_PIDFD | libc::SIGCHLD) as libc::c_ulong,
            0 as libc::c_ulong,
            &mut pidfd as *mut libc::c_int,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    if pid == 0 {
        // SAFETY: in the child; every pointer was prepared above and stays valid in the
        // copied address space; the function never returns.
        unsafe {
            child(
                &child_fds,
                &cmd.redirects,
                cmd.die_with_worker,
                &cmd.program,
                &argv,
                &envp,
                parent,
            )
        }
    }
    let err = io::Error::last_os_error();
    // SAFETY: restores the mask saved above.
    unsafe { libc::sigprocmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    if pid < 0 {
        return Err(err);
    }
    // SAFETY: the clone succeeded with CLONE_PIDFD: `pidfd` is an open descriptor that only
    // we own (close-on-exec, as CLONE_PIDFD makes it).
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    Ok(Spawned {
        pid: pid as i32,
        pidfd,
        stdin: stdin.worker,
        stdout: stdout.worker,
        stderr: stderr.worker,
    })
}

/// The child's side: set up descriptors and signals, then exec. Only system calls (no
/// allocation, no lock): the worker's memory is a copy whose locks may be in any state.
///
/// # Safety
/// Called once in a freshly cloned child, with NUL-terminated `argv`/`envp` arrays of valid
/// C strings.
unsafe fn child(
    fds: &[RawFd; 3],
    redirects: &[Redirect],
    die_with_worker: bool,
    program: &CString,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
    parent: libc::pid_t,
) -> ! {
    // SAFETY (whole body): plain system calls on values prepared by the parent.
    unsafe {
        for sig in 1..libc::SIGRTMAX() {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        libc::setpgid(0, 0);
        if die_with_worker {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        }
        if die_with_worker && libc::getppid() != parent {
            // The worker died before the death signal was armed.
            libc::_exit(1);
        }
        for (target, &fd) in fds.iter().enumerate() {
            if libc::dup2(fd, target as RawFd) < 0 {
                libc::_exit(126);
            }
        }
        for r in redirects {
            match r {
                Redirect::File { fd, path, flags } => {
                    let f = libc::open(path.as_ptr(), *flags | libc::O_CLOEXEC, 0o644);
                    if f < 0 || libc::dup2(f, *fd) < 0 {
                        fail(b"cannot open a redirection: ", path);
                    }
                    libc::close(f);
                }
                Redirect::Dup { fd, from } => {
                    libc::dup2(*from, *fd);
                }
            }
        }
        let highest = redirects
            .iter()
            .map(|r| match r {
                Redirect::File { fd, .. } | Redirect::Dup { fd, .. } => *fd,
            })
            .fold(2, RawFd::max);
        if libc::syscall(libc::SYS_close_range, highest + 1, libc::c_uint::MAX, 0) != 0 {
            for fd in highest + 1..65_536 {
                libc::close(fd);
            }
        }
        let none: libc::sigset_t = std::mem::zeroed();
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
        libc::execve(program.as_ptr(), argv.as_ptr(), envp.as_ptr());
        fail(b"cannot execute ", program)
    }
}

/// Writes `what` and `name` to the child's stderr (the worker's capture) and exits 127.
///
/// # Safety
/// Only in the child.
unsafe fn fail(what: &[u8], name: &CString) -> ! {
    // SAFETY: writes from live buffers, then exits.
    unsafe {
        libc::write(2, what.as_ptr().cast(), what.len());
        let name = name.as_bytes();
        libc::write(2, name.as_ptr().cast(), name.len());
        libc::write(2, b"\n".as_ptr().cast(), 1);
        libc::_exit(127)
    }
}
