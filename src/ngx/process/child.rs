//! A running child: its pidfd and the worker's ends of its pipes, with safe calls on them.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};

use super::spawn::Spawned;
use crate::process::ExitStatus;

/// `waitid`'s id type for a pidfd (Linux 5.4).
const P_PIDFD: libc::idtype_t = 3;

/// A child process started by [`super::spawn::spawn`]. Dropping it closes the pipes (the
/// child sees EOF on stdin) but neither signals nor reaps it.
#[derive(Debug)]
pub struct Child {
    pub pid: i32,
    pidfd: OwnedFd,
    stdin: Option<std::fs::File>,
    stdout: Option<std::fs::File>,
    stderr: Option<std::fs::File>,
}

impl From<Spawned> for Child {
    fn from(s: Spawned) -> Child {
        Child {
            pid: s.pid,
            pidfd: s.pidfd,
            stdin: s.stdin.map(std::fs::File::from),
            stdout: s.stdout.map(std::fs::File::from),
            stderr: s.stderr.map(std::fs::File::from),
        }
    }
}

/// Reads what is available without blocking: `Ok(None)` when nothing is, `Ok(Some(0))` at
/// EOF.
fn read_some(f: &mut Option<std::fs::File>, buf: &mut [u8]) -> io::Result<Option<usize>> {
    let Some(file) = f else {
        return Ok(Some(0));
    };
    match file.read(buf) {
        Ok(0) => {
            *f = None;
            Ok(Some(0))
        }
        Ok(n) => Ok(Some(n)),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(None),
        Err(e) => Err(e),
    }
}

impl Child {
    /// Reaps the child if it has ended.
    pub fn try_wait(&self) -> io::Result<Option<ExitStatus>> {
        // SAFETY: an all-zero siginfo_t is valid; waitid fills it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid on a pidfd we own, with a valid siginfo to fill.
        let r = unsafe {
            libc::waitid(
                P_PIDFD,
                self.pidfd.as_raw_fd() as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: waitid filled `info` for a child event (or left it zeroed: no event).
        let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
        if pid == 0 {
            return Ok(None);
        }
        Ok(Some(if info.si_code == libc::CLD_EXITED {
            ExitStatus::Code(status)
        } else {
            ExitStatus::Signal(status)
        }))
    }

    /// Sends `sig` to the child's process group (and to the child itself, in case it has
    /// not made its group yet). Only while it is not reaped: until then its pid, and so its
    /// group id, cannot be reused.
    pub fn signal(&self, sig: libc::c_int) {
        // SAFETY: plain system calls; the pidfd is ours and refers to this very process.
        unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.pidfd.as_raw_fd(),
                sig,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            );
            libc::kill(-self.pid, sig);
        }
    }

    /// Reads what the child wrote on stdout.
    pub fn read_stdout(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        read_some(&mut self.stdout, buf)
    }

    /// Reads what the child wrote on stderr.
    pub fn read_stderr(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        read_some(&mut self.stderr, buf)
    }

    /// Writes to the child's stdin what the pipe takes now (0 when it is full).
    #[allow(dead_code)]
    pub fn write_stdin(&mut self, data: &[u8]) -> io::Result<usize> {
        let Some(stdin) = &mut self.stdin else {
            return Err(io::ErrorKind::BrokenPipe.into());
        };
        match stdin.write(data) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Closes the child's stdin: it sees EOF.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    pub fn has_stdout(&self) -> bool {
        self.stdout.is_some()
    }
}
