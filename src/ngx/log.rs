//! Logging into nginx's error logs through a small safe handle, so that shell code passes a
//! [`Log`] (or finds one in its connection) instead of a raw `*mut ngx_log_t`.
//!
//! ```ignore
//! log_warn!(log, "rtmp: client {} refused: {}", id, why);
//! ```

use std::fmt;
use std::mem::MaybeUninit;
use std::ptr::NonNull;

use nginx_sys::{
    ngx_log_t, ngx_uint_t, NGX_LOG_ALERT, NGX_LOG_ERR, NGX_LOG_INFO, NGX_LOG_NOTICE, NGX_LOG_WARN,
};

/// An nginx log: a connection's (its messages carry the connection number) or the cycle's.
///
/// Invariant: the pointer stays valid while the handle is used. A connection's log lives as
/// long as the connection, so a handle taken from a connection is kept only by state that the
/// connection owns; the cycle's log lives as long as the worker.
#[derive(Clone, Copy)]
pub struct Log(NonNull<ngx_log_t>);

/// nginx's severities that the module uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Something is wrong with the module itself (a panic caught at an entry point).
    Alert,
    Err,
    Warn,
    Notice,
    Info,
}

impl Level {
    fn raw(self) -> ngx_uint_t {
        (match self {
            Level::Alert => NGX_LOG_ALERT,
            Level::Err => NGX_LOG_ERR,
            Level::Warn => NGX_LOG_WARN,
            Level::Notice => NGX_LOG_NOTICE,
            Level::Info => NGX_LOG_INFO,
        }) as ngx_uint_t
    }
}

impl Log {
    /// # Safety
    /// `log` must be null or stay valid for as long as the handle (and its copies) is used.
    pub unsafe fn from_raw(log: *mut ngx_log_t) -> Option<Log> {
        NonNull::new(log).map(Log)
    }

    /// The current cycle's log (no connection context).
    pub fn cycle() -> Log {
        // SAFETY: `ngx_cycle` is set before any module code runs and its log lives as long as
        // the cycle; the worker runs one thread.
        let log = unsafe { (*nginx_sys::ngx_cycle).log };
        // SAFETY: as above.
        unsafe { Log::from_raw(log) }.unwrap_or_else(|| unreachable!("a cycle always has a log"))
    }

    /// The raw pointer, for nginx functions that take one.
    pub fn as_ptr(self) -> *mut ngx_log_t {
        self.0.as_ptr()
    }

    /// Writes `args` at `level` when the log's level lets it through.
    pub fn write(self, level: Level, args: fmt::Arguments<'_>) {
        let level = level.raw();
        // SAFETY: the handle's invariant: the log is valid.
        if level > unsafe { self.0.as_ref().log_level } {
            return;
        }
        let mut buf = [const { MaybeUninit::<u8>::uninit() }; ::ngx::log::LOG_BUFFER_SIZE];
        let message = ::ngx::log::write_fmt(&mut buf, args);
        // SAFETY: as above; `message` is a byte slice nginx copies with `%*s`.
        unsafe { ::ngx::log::log_error(level, self.0.as_ptr(), 0, message) };
    }
}

/// `log_at!(log, level, "fmt", args...)`.
macro_rules! log_at {
    ($log:expr, $level:expr, $($arg:tt)+) => {
        $crate::ngx::log::Log::write($log, $level, format_args!($($arg)+))
    };
}
macro_rules! log_alert {
    ($log:expr, $($arg:tt)+) => { log_at!($log, $crate::ngx::log::Level::Alert, $($arg)+) };
}
macro_rules! log_err {
    ($log:expr, $($arg:tt)+) => { log_at!($log, $crate::ngx::log::Level::Err, $($arg)+) };
}
macro_rules! log_warn {
    ($log:expr, $($arg:tt)+) => { log_at!($log, $crate::ngx::log::Level::Warn, $($arg)+) };
}
macro_rules! log_notice {
    ($log:expr, $($arg:tt)+) => { log_at!($log, $crate::ngx::log::Level::Notice, $($arg)+) };
}
macro_rules! log_info {
    ($log:expr, $($arg:tt)+) => { log_at!($log, $crate::ngx::log::Level::Info, $($arg)+) };
}

/// Where supervised children's stderr copies go: a directory next to nginx's error log
/// (which is often not writable by the workers' user; this one is made so when the
/// configuration is read).
const CHILD_LOG_DIR: &str = "rtmp-children";

/// The directory of `log`'s file, if it is a file with an absolute path.
///
/// # Safety
/// `log` must be null or a live nginx log whose file, if any, is live.
unsafe fn dir_of(log: *const ngx_log_t) -> Option<std::path::PathBuf> {
    // SAFETY: the caller's contract; a null file is checked.
    let name = unsafe { log.as_ref()?.file.as_ref()?.name.as_bytes().to_vec() };
    let path = std::path::PathBuf::from(
        <std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(name),
    );
    if !path.is_absolute() {
        return None;
    }
    path.parent().map(|d| d.join(CHILD_LOG_DIR))
}

/// The stderr copy of a supervised child named by `parts` (stream, program, ...):
/// `rtmp-children/PART-PART-....log`, each part reduced to letters, digits, `-`, `_`, `.`.
pub fn child_log_path(parts: &[&str]) -> Option<std::path::PathBuf> {
    let name: Vec<String> = parts
        .iter()
        .map(|p| {
            p.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                        c
                    } else {
                        '_'
                    }
                })
                .take(64)
                .collect()
        })
        .collect();
    Some(child_log_dir()?.join(format!("{}.log", name.join("-"))))
}

/// The directory of children's stderr copies in this worker.
pub fn child_log_dir() -> Option<std::path::PathBuf> {
    // SAFETY: the cycle's log and its open file live as long as the cycle; one thread.
    unsafe { dir_of((*nginx_sys::ngx_cycle).log) }
}

/// The same directory as the configuration being read names it (`None` before an
/// `error_log` directive).
///
/// # Safety
/// `cf` must be the configuration being parsed.
pub unsafe fn child_log_dir_at_conf(cf: *mut nginx_sys::ngx_conf_t) -> Option<std::path::PathBuf> {
    // SAFETY: the cycle being configured and its `new_log` live through the parse.
    unsafe { dir_of(std::ptr::addr_of!((*(*cf).cycle).new_log)) }
}
