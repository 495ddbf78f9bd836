//! The only `unsafe` of the load generator: safe wrappers over inotify(7) and poll(2), which
//! `std` lacks.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

pub use libc::pollfd;

/// An inotify instance (non-blocking) watching one directory.
pub struct Inotify {
    fd: OwnedFd,
}

impl Inotify {
    /// Watches `dir` for files closed after writing or renamed into it.
    pub fn watch_dir(dir: &Path) -> io::Result<Inotify> {
        let cdir = CString::new(dir.as_os_str().as_encoded_bytes())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        // SAFETY: a plain syscall without pointer arguments.
        let raw = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: `fd` is a valid inotify descriptor, `cdir` a NUL-terminated path.
        let wd = unsafe {
            libc::inotify_add_watch(
                fd.as_raw_fd(),
                cdir.as_ptr(),
                libc::IN_MOVED_TO | libc::IN_CLOSE_WRITE,
            )
        };
        if wd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Inotify { fd })
    }

    pub fn as_raw_fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }

    /// Reads pending events into `buf`; 0 when there are none.
    pub fn read(&self, buf: &mut [u8]) -> usize {
        // SAFETY: reading at most `buf.len()` bytes into `buf` from a descriptor we own.
        let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        usize::try_from(n).unwrap_or(0)
    }
}

/// poll(2) on `fds`; returns how many are ready (0 on timeout or error).
pub fn poll(fds: &mut [pollfd], timeout_ms: i32) -> usize {
    // SAFETY: `fds` is a valid array of `pollfd` of the given length.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    usize::try_from(n).unwrap_or(0)
}
