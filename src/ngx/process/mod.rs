//! The worker's child processes (encoders of renditions, `exec` commands): started so that
//! nginx neither reaps nor reports them (see [`spawn`]), supervised by the core's
//! [`Supervisor`](crate::process::Supervisor), watched by one worker timer that reads their
//! output, reaps them and respawns them, and killed with the worker (but one-shot commands,
//! which finish their job). A worker that starts shutting down stops at once the children
//! that the next generation of workers starts again (`Spec::stop_when_exiting`).

mod child;
pub(super) mod registry;
mod spawn;

use std::ffi::{CString, OsStr};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use nginx_sys::ngx_event_t;

// The pipes to and from a child are for the encoders of renditions; `exec` lines do not use them.
#[allow(unused_imports)]
pub use registry::{ChildCard, ChildEvent, ChildId, ChildOwner, Spec};
pub use spawn::{Command, Redirect, Stdio};

use super::executable::DEFAULT_PATH;
use super::log::Log;
use super::timer::Timer;
use super::worker::with_processes;

fn cstring(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| io::Error::other("a NUL byte in an argument"))
}

impl Command {
    /// Runs `program` (an absolute path) with `args` (after `argv[0]`), in the worker's
    /// environment (with a default `PATH` if it has none: nginx clears its workers'
    /// environment, and a `sh -c` line needs one), stdin and stdout to /dev/null, stderr to a
    /// pipe.
    pub fn new(program: &Path, args: &[String]) -> io::Result<Command> {
        let mut argv = vec![cstring(program.as_os_str())?];
        for a in args {
            argv.push(cstring(OsStr::new(a))?);
        }
        let mut vars: Vec<_> = std::env::vars_os().collect();
        if !vars.iter().any(|(k, _)| k == "PATH") {
            vars.push(("PATH".into(), DEFAULT_PATH.into()));
        }
        let env = vars
            .into_iter()
            .map(|(k, v)| {
                let mut e = k.into_vec();
                e.push(b'=');
                e.extend(v.into_vec());
                CString::new(e).map_err(|_| io::Error::other("a NUL byte in the environment"))
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Command {
            program: cstring(program.as_os_str())?,
            argv,
            env,
            stdin: Stdio::Null,
            stdout: Stdio::Null,
            stderr: Stdio::Pipe,
            redirects: Vec::new(),
            die_with_worker: true,
        })
    }
}

/// The children's timer.
fn timer() -> Timer {
    with_processes(|p| *p.timer.get_or_insert_with(|| Timer::new(on_tick)))
}

/// Registers a child and starts it at once; its owner hears `Started` at the next turn of
/// the event loop.
pub fn start(spec: Spec) -> ChildId {
    let now = super::now_ms();
    let id = with_processes(|p| p.registry.start(spec, now, Log::cycle()));
    timer().rearm(1);
    id
}

/// Stops a child for good: its stop signal now, SIGKILL after its grace period; its owner
/// hears `Exited` and `Gone`.
pub fn stop(id: ChildId) {
    let now = super::now_ms();
    with_processes(|p| p.registry.stop(id, now));
    timer().rearm(1);
}

/// Writes to a child's stdin what its pipe takes now (0 when full).
#[allow(dead_code)]
pub fn write_stdin(id: ChildId, data: &[u8]) -> io::Result<usize> {
    with_processes(|p| p.registry.write_stdin(id, data))
}

/// Every child of this worker, for stat.
pub fn cards() -> Vec<ChildCard> {
    let now = super::now_ms();
    with_processes(|p| p.registry.cards(now))
}

/// The worker exits: their owners hear it first (renditions end their playlists), then the
/// children go with it (but those meant to outlive it).
pub fn kill_all() {
    for owner in with_processes(|p| p.registry.owners()) {
        owner.worker_exits();
    }
    with_processes(|p| p.registry.kill_all());
}

/// Whether the worker is shutting down (`nginx -s quit`, or the old worker of a reload).
pub(crate) fn worker_exiting() -> bool {
    // SAFETY: flags nginx sets on the worker's only thread (or in its signal handler, as a
    // sig_atomic_t).
    unsafe {
        nginx_sys::ngx_exiting != 0 || nginx_sys::ngx_quit != 0 || nginx_sys::ngx_terminate != 0
    }
}

unsafe extern "C" fn on_tick(_ev: *mut ngx_event_t) {
    let _ = super::catch(|| {
        let now = super::now_ms();
        if worker_exiting() {
            with_processes(|p| {
                if !p.exiting {
                    p.exiting = true;
                    p.registry.exiting(now);
                }
            });
        }
        let (events, next) = with_processes(|p| p.registry.tick(now, Log::cycle()));
        for (owner, id, event) in events {
            owner.on_event(id, event);
        }
        if let Some(ms) = next {
            timer().arm(ms as nginx_sys::ngx_msec_t);
        }
    });
}
