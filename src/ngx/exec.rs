//! nginx-rtmp's `exec` family in the worker: one call per lifecycle event (publish,
//! unpublish, play, stop playing, worker start) turns the application's lines into children
//! of the worker's supervised processes ([`super::process`]). `exec`/`exec_push` and
//! `exec_static` children are supervised (respawned with backoff, stopped with
//! `exec_kill_signal` then SIGKILL); the others run once and are reaped.

use std::ffi::CString;
use std::path::PathBuf;

use crate::conf::{AppConf, ExecPolicy, RecorderSettings, RtmpConf};
use crate::exec::{ExecKind, ExecLine, Invocation, RedirectError, Redirection, Source, Vars};
use crate::process::{Backoff, Policy};

use super::log::{child_log_path, Log};
use super::process::{self, ChildId, Command, Redirect, Spec};

/// How long a stopped child has between `exec_kill_signal` and SIGKILL.
const GRACE_MS: u64 = 1000;

/// The supervised children of one publication and the values its `exec_publish_done` lines
/// are evaluated with.
pub struct PublishExec {
    vars: Vars,
    children: Vec<ChildId>,
}

/// A publish started: `exec_publish` lines run, `exec`/`exec_push` children start. `None`:
/// the application has no `exec` line.
pub fn on_publish(app: &AppConf, vars: Vars, log: Log) -> Option<PublishExec> {
    let exec = &app.settings.exec;
    if exec.lines.is_empty() {
        return None;
    }
    for line in exec.lines_for(ExecKind::Publish, &vars.name) {
        run(line, 0, Some(&vars), &app.name, exec.policy, log);
    }
    let children = exec
        .lines_for(ExecKind::Push, &vars.name)
        .enumerate()
        .filter_map(|(i, line)| run(line, i, Some(&vars), &app.name, exec.policy, log))
        .collect();
    Some(PublishExec { vars, children })
}

/// The publish ended: its children are stopped (never respawned again), then
/// `exec_publish_done` lines run.
pub fn on_publish_done(app: &AppConf, run_state: PublishExec, log: Log) {
    for id in run_state.children {
        process::stop(id);
    }
    let exec = &app.settings.exec;
    for line in exec.lines_for(ExecKind::PublishDone, &run_state.vars.name) {
        run(line, 0, Some(&run_state.vars), &app.name, exec.policy, log);
    }
}

/// A play started: `exec_play` lines run. Returns the values to keep for `exec_play_done`
/// when the application has such lines.
pub fn on_play(app: &AppConf, vars: Vars, log: Log) -> Option<Box<Vars>> {
    let exec = &app.settings.exec;
    for line in exec.lines_for(ExecKind::Play, &vars.name) {
        run(line, 0, Some(&vars), &app.name, exec.policy, log);
    }
    let keep = exec
        .lines_for(ExecKind::PlayDone, &vars.name)
        .next()
        .is_some();
    keep.then(|| Box::new(vars))
}

/// Players want stream `vars.name`, which nobody publishes: the `exec_pull` children start
/// (supervised: respawned with backoff until [`process::stop`]). Empty: no line applies.
pub fn start_pull(app: &AppConf, vars: &Vars, log: Log) -> Vec<ChildId> {
    let exec = &app.settings.exec;
    exec.lines_for(ExecKind::Pull, &vars.name)
        .enumerate()
        .filter_map(|(i, line)| run(line, i, Some(vars), &app.name, exec.policy, log))
        .collect()
}

/// A play ended: `exec_play_done` lines run.
pub fn on_play_done(app: &AppConf, vars: &Vars, log: Log) {
    let exec = &app.settings.exec;
    for line in exec.lines_for(ExecKind::PlayDone, &vars.name) {
        run(line, 0, Some(vars), &app.name, exec.policy, log);
    }
}

/// A recorder finished a file: its `exec_record_done` lines run once each and are reaped.
/// `vars` are the publisher's values with the file's ([`Vars::with_record_file`]).
pub fn on_record_done(app: &AppConf, recorder: &RecorderSettings, vars: &Vars, log: Log) {
    let policy = app.settings.exec.policy;
    for c in recorder.record_done_commands(vars) {
        start(c.line, c.invocation, 0, Some(vars), &app.name, policy, log);
    }
}

/// The worker starts: the first worker runs the `exec_static` lines (each once in the whole
/// server; a worker that shuts down stops them at once, so that after a reload the new first
/// worker's are the only ones).
pub fn start_static(conf: &RtmpConf, log: Log) {
    // SAFETY: nginx sets these process globals before `init_process`; one thread.
    let (kind, worker) = unsafe { (nginx_sys::ngx_process, nginx_sys::ngx_worker) };
    let first_worker =
        kind == nginx_sys::NGX_PROCESS_WORKER as nginx_sys::ngx_uint_t && worker == 0;
    if !(first_worker || kind == nginx_sys::NGX_PROCESS_SINGLE as nginx_sys::ngx_uint_t) {
        return;
    }
    for (i, s) in conf.static_execs.iter().enumerate() {
        run(&s.line, i, None, "", s.policy, log);
    }
}

/// Where a supervised child's stderr is copied when the line does not redirect it: next to
/// nginx's error log, one file per stream and line (`index`: the line's rank).
fn log_path(line: &ExecLine, index: usize, app: &str, vars: Option<&Vars>) -> Option<PathBuf> {
    let program = line
        .path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    // An `exec_pull` child and an `exec` child of the same stream are apart.
    let index = match line.kind {
        ExecKind::Pull => format!("pull{index}"),
        _ => index.to_string(),
    };
    match vars {
        Some(v) => child_log_path(&[app, &v.name, &program, &index]),
        None => child_log_path(&["static", &program, &index]),
    }
}

fn redirect(r: &Redirection) -> Result<Redirect, String> {
    let file = |path: &str, flags| {
        CString::new(path)
            .map(|path| Redirect::File {
                fd: r.fd,
                path,
                flags,
            })
            .map_err(|_| "a NUL byte in a redirection".to_owned())
    };
    match &r.source {
        Source::Truncate(p) => file(p, libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC),
        Source::Append(p) => file(p, libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND),
        Source::Read(p) => file(p, libc::O_RDONLY),
        Source::Fd(from) => Ok(Redirect::Dup {
            fd: r.fd,
            from: *from,
        }),
    }
}

/// Starts one line's child (supervised for `exec`/`exec_static`, once for the others).
fn run(
    line: &ExecLine,
    index: usize,
    vars: Option<&Vars>,
    app: &str,
    policy: ExecPolicy,
    log: Log,
) -> Option<ChildId> {
    start(line, line.invocation(vars), index, vars, app, policy, log)
}

/// Starts one line's child with its evaluated `invocation`.
fn start(
    line: &ExecLine,
    invocation: Result<Invocation, RedirectError>,
    index: usize,
    vars: Option<&Vars>,
    app: &str,
    policy: ExecPolicy,
    log: Log,
) -> Option<ChildId> {
    let label = match vars {
        Some(v) => format!(
            "{} \"{}\" of \"{}/{}\"",
            line.kind.directive(),
            line.program,
            app,
            v.name
        ),
        None => format!("exec_static \"{}\"", line.program),
    };
    let command = invocation.map_err(|e| e.to_string()).and_then(|inv| {
        let mut cmd = Command::new(&line.path, &inv.args).map_err(|e| e.to_string())?;
        if !line.kind.is_managed() {
            // A one-shot command finishes its job even if its worker exits meanwhile (the
            // old worker of a reload exits as its last publisher leaves, right when
            // `exec_publish_done` runs): it neither dies with the worker nor writes into a
            // pipe that closes with it (SIGPIPE). Its output goes where nginx-rtmp sends
            // it, unless redirected.
            cmd.die_with_worker = false;
            cmd.stderr = process::Stdio::Null;
        }
        cmd.redirects = inv
            .redirections
            .iter()
            .map(redirect)
            .collect::<Result<_, _>>()?;
        Ok((cmd, inv.redirects_stderr()))
    });
    let (command, redirects_stderr) = match command {
        Ok(c) => c,
        Err(e) => {
            log_err!(log, "rtmp: {} not started: {}", label, e);
            return None;
        }
    };
    let managed = line.kind.is_managed();
    let spec = Spec {
        label,
        command,
        policy: Policy {
            respawn: (managed && policy.respawn)
                .then(|| Backoff::from_initial(policy.respawn_timeout_ms)),
            grace_ms: GRACE_MS,
        },
        stop_signal: policy.kill_signal,
        log: if managed && !redirects_stderr {
            log_path(line, index, app, vars)
        } else {
            None
        },
        listener: None,
        stop_when_exiting: line.kind == ExecKind::Static,
    };
    Some(process::start(spec))
}
