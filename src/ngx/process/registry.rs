//! The worker's supervised children: each one's command, supervisor, running process,
//! stderr capture, and the owner that hears what happens to it.

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, Write};
use std::path::PathBuf;
use std::rc::Rc;

use bytes::Bytes;

use super::child::Child;
use super::spawn::{spawn, Command, Stdio};
use crate::ngx::log::Log;
use crate::process::{Action, ChildSummary, ExitStatus, Policy, StderrTail, Supervisor};

/// A child of the registry; stable across respawns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChildId(u64);

/// What happens to a child, as its owner hears it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChildEvent {
    /// A (new) process runs: a respawned encoder needs its input from the start.
    Started { pid: i32 },
    /// It wrote this on stdout.
    Stdout(Bytes),
    /// The process ended; it starts again in `respawn_in` ms, or never.
    Exited {
        status: ExitStatus,
        respawn_in: Option<u64>,
    },
    /// Stopped or dead for good, and reaped: the id is free.
    Gone,
}

/// The part of the shell that owns a child and hears what happens to it. Called with nothing
/// of the worker borrowed.
pub trait ChildOwner {
    fn on_event(&self, id: ChildId, event: ChildEvent);
    /// The worker exits: the child is killed next (unless it outlives the worker).
    fn worker_exits(&self) {}
}

/// A child's owner, kept by the registry as long as the child.
pub type Listener = Rc<dyn ChildOwner>;

/// How to run and supervise one child.
#[derive(Clone)]
pub struct Spec {
    /// For logs and stat: what it is and for which stream.
    pub label: String,
    pub command: Command,
    pub policy: Policy,
    /// The signal that asks it to stop (SIGKILL follows after the policy's grace).
    pub stop_signal: libc::c_int,
    /// A copy of its stderr, bounded to `LOG_MAX` bytes.
    pub log: Option<PathBuf>,
    pub listener: Option<Listener>,
    /// Stopped as soon as the worker starts shutting down (`nginx -s reload|quit`) rather
    /// than when it exits: a child of the server, not of a connection, that the next
    /// worker starts again.
    pub stop_when_exiting: bool,
}

/// Size bound of a child's stderr log: past it, the file starts again.
const LOG_MAX: u64 = 1 << 20;
/// stderr kept in memory for the log line that says why a child died.
const TAIL: usize = 2048;
/// Read per child and tick from stdout at most (media of a rendition: well over a tick's).
const STDOUT_READ_MAX: usize = 4 << 20;

/// Timer periods: a child with a media stdout is read often, others are only watched.
const TICK_MEDIA_MS: u64 = 20;
const TICK_IDLE_MS: u64 = 250;

/// A child's stderr copy on disk, started again past its bound.
struct BoundedLog {
    path: PathBuf,
    file: File,
    written: u64,
}

impl BoundedLog {
    fn open(path: PathBuf) -> io::Result<BoundedLog> {
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let written = file.metadata()?.len();
        Ok(BoundedLog {
            path,
            file,
            written,
        })
    }

    fn write(&mut self, data: &[u8]) {
        if self.written + data.len() as u64 > LOG_MAX {
            // Failures only lose the copy; the child's tail in memory still says why it died.
            let _ = self.file.set_len(0);
            let _ = self.file.rewind();
            self.written = 0;
        }
        if self.file.write_all(data).is_ok() {
            self.written += data.len() as u64;
        }
    }
}

struct Slot {
    id: ChildId,
    spec: Spec,
    sup: Supervisor,
    child: Option<Child>,
    tail: StderrTail,
    log: Option<BoundedLog>,
}

/// What stat shows of a child.
#[derive(Debug, Clone)]
pub struct ChildCard {
    pub label: String,
    pub summary: ChildSummary,
    pub log: Option<PathBuf>,
}

/// The worker's children.
#[derive(Default)]
pub struct Processes {
    slots: Vec<Slot>,
    next_id: u64,
    buf: Vec<u8>,
    /// Events of children started outside a tick, delivered at the next one (owners hear
    /// nothing while they are calling in).
    pending: Vec<(Listener, ChildId, ChildEvent)>,
}

impl Processes {
    /// Registers a child and starts it now: a worker that exits right after (the old worker of
    /// a reload as its last publisher leaves) must not lose an `exec_publish_done`. Its
    /// `Started` event comes with the next tick (the caller arms it).
    pub fn start(&mut self, spec: Spec, now_ms: u64, log: Log) -> ChildId {
        self.next_id += 1;
        let id = ChildId(self.next_id);
        let file = spec
            .log
            .clone()
            .and_then(|p| match BoundedLog::open(p.clone()) {
                Ok(l) => Some(l),
                Err(e) => {
                    log_warn!(
                        log,
                        "rtmp: {}: cannot open its log \"{}\": {}",
                        spec.label,
                        p.display(),
                        e
                    );
                    None
                }
            });
        self.slots.push(Slot {
            id,
            sup: Supervisor::new(spec.policy),
            spec,
            child: None,
            tail: StderrTail::new(TAIL),
            log: file,
        });
        let gone = self
            .slots
            .last_mut()
            .is_some_and(|slot| tend(slot, &mut self.buf, now_ms, log, &mut self.pending));
        if gone {
            // It could not start and is not retried.
            if let Some(l) = self.slots.pop().and_then(|s| s.spec.listener) {
                self.pending.push((l, id, ChildEvent::Gone));
            }
        }
        id
    }

    /// Stops a child for good (the stop signal now, SIGKILL after the grace period).
    pub fn stop(&mut self, id: ChildId, now_ms: u64) {
        let Some(slot) = self.slots.iter_mut().find(|s| s.id == id) else {
            return;
        };
        if let Some(Action::Signal { .. }) = slot.sup.stop(now_ms) {
            if let Some(child) = &mut slot.child {
                child.close_stdin();
                child.signal(slot.spec.stop_signal);
            }
        }
    }

    /// The worker shuts down: children marked `stop_when_exiting` are stopped.
    pub fn exiting(&mut self, now_ms: u64) {
        let ids: Vec<ChildId> = self
            .slots
            .iter()
            .filter(|s| s.spec.stop_when_exiting)
            .map(|s| s.id)
            .collect();
        for id in ids {
            self.stop(id, now_ms);
        }
    }

    /// Writes what the child's stdin takes now: 0 when the pipe is full, an error when the
    /// child is not running or closed it.
    #[allow(dead_code)]
    pub fn write_stdin(&mut self, id: ChildId, data: &[u8]) -> io::Result<usize> {
        match self
            .slots
            .iter_mut()
            .find(|s| s.id == id)
            .and_then(|s| s.child.as_mut())
        {
            Some(child) => child.write_stdin(data),
            None => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    #[allow(dead_code)]
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Every child, for stat.
    pub fn cards(&self, now_ms: u64) -> Vec<ChildCard> {
        self.slots
            .iter()
            .map(|s| ChildCard {
                label: s.spec.label.clone(),
                summary: s.sup.summary(now_ms),
                log: s.log.as_ref().map(|l| l.path.clone()),
            })
            .collect()
    }

    /// The owners of every child, for the worker's exit.
    pub fn owners(&self) -> Vec<Listener> {
        self.slots
            .iter()
            .filter_map(|s| s.spec.listener.clone())
            .collect()
    }

    /// The worker exits: every child that dies with it is killed now (it would die with it
    /// anyway); the others are left to finish, and to init to reap.
    pub fn kill_all(&mut self) {
        for s in &mut self.slots {
            if !s.spec.command.die_with_worker {
                // A command registered in the worker's last turn (`exec_publish_done` of the
                // publisher whose departure lets it exit) starts now, or it never would.
                if s.child.is_none() && s.sup.is_wanted() && s.sup.summary(0).restarts == 0 {
                    let _ = spawn(&s.spec.command);
                }
                continue;
            }
            if let Some(child) = &s.child {
                child.signal(libc::SIGKILL);
                // Reaped if it is already gone; otherwise init reaps it after the worker.
                let _ = child.try_wait();
            }
        }
        self.slots.clear();
    }

    /// Reads, reaps and supervises every child; returns the events for their owners and
    /// when to tick again (`None`: no child left).
    pub fn tick(
        &mut self,
        now_ms: u64,
        log: Log,
    ) -> (Vec<(Listener, ChildId, ChildEvent)>, Option<u64>) {
        let mut events = std::mem::take(&mut self.pending);
        let mut i = 0;
        while let Some(slot) = self.slots.get_mut(i) {
            let forget = tend(slot, &mut self.buf, now_ms, log, &mut events);
            if forget {
                let slot = self.slots.remove(i);
                if let Some(l) = slot.spec.listener.clone() {
                    events.push((l, slot.id, ChildEvent::Gone));
                }
            } else {
                i += 1;
            }
        }
        (events, self.next_tick(now_ms))
    }

    fn next_tick(&self, now_ms: u64) -> Option<u64> {
        if self.slots.is_empty() {
            return None;
        }
        let mut next = TICK_IDLE_MS;
        for s in &self.slots {
            if s.child.as_ref().is_some_and(Child::has_stdout) {
                next = next.min(TICK_MEDIA_MS);
            }
            if let Some(d) = s.sup.deadline() {
                next = next.min(d.saturating_sub(now_ms));
            }
        }
        Some(next.max(1))
    }
}

fn drain_stderr(slot: &mut Slot, buf: &mut [u8]) {
    let Some(child) = &mut slot.child else {
        return;
    };
    while let Ok(Some(n)) = child.read_stderr(buf) {
        let Some(data) = buf.get(..n).filter(|d| !d.is_empty()) else {
            break;
        };
        slot.tail.push(data);
        if let Some(l) = &mut slot.log {
            l.write(data);
        }
    }
}

fn drain_stdout(
    slot: &mut Slot,
    buf: &mut Vec<u8>,
    events: &mut Vec<(Listener, ChildId, ChildEvent)>,
) {
    let Some(child) = &mut slot.child else {
        return;
    };
    let mut out = Vec::new();
    buf.resize(256 * 1024, 0);
    while out.len() < STDOUT_READ_MAX {
        match child.read_stdout(buf) {
            Ok(Some(n)) if n > 0 => out.extend_from_slice(buf.get(..n).unwrap_or_default()),
            _ => break,
        }
    }
    if let (Some(l), false) = (slot.spec.listener.clone(), out.is_empty()) {
        events.push((l, slot.id, ChildEvent::Stdout(Bytes::from(out))));
    }
}

/// One child's turn; `true` when it is gone for good.
fn tend(
    slot: &mut Slot,
    buf: &mut Vec<u8>,
    now_ms: u64,
    log: Log,
    events: &mut Vec<(Listener, ChildId, ChildEvent)>,
) -> bool {
    if buf.len() < 64 * 1024 {
        buf.resize(64 * 1024, 0);
    }
    drain_stderr(slot, buf);
    drain_stdout(slot, buf, events);
    let exited = slot.child.as_ref().map(Child::try_wait);
    match exited {
        Some(Ok(Some(status))) => {
            // What it wrote last is read before it is forgotten.
            drain_stderr(slot, buf);
            drain_stdout(slot, buf, events);
            let pid = slot.child.take().map_or(0, |c| c.pid);
            let wanted = slot.sup.is_wanted();
            let respawn_in = slot.sup.exited(status, now_ms);
            report_exit(slot, pid, status, wanted, respawn_in, log);
            slot.tail.clear();
            if let Some(l) = slot.spec.listener.clone() {
                events.push((l, slot.id, ChildEvent::Exited { status, respawn_in }));
            }
        }
        Some(Err(e)) => {
            log_err!(
                log,
                "rtmp: {}: cannot wait for its process: {}",
                slot.spec.label,
                e
            );
        }
        _ => {}
    }
    while let Some(action) = slot.sup.poll(now_ms) {
        match action {
            Action::Spawn => match spawn(&slot.spec.command) {
                Ok(s) => {
                    let pid = s.pid;
                    slot.child = Some(Child::from(s));
                    // A respawn was announced by the line that reported the death.
                    if slot.sup.summary(now_ms).restarts == 0 {
                        log_info!(log, "rtmp: {} started, pid {}", slot.spec.label, pid);
                    }
                    slot.sup.spawned(pid, now_ms);
                    if let Some(l) = slot.spec.listener.clone() {
                        events.push((l, slot.id, ChildEvent::Started { pid }));
                    }
                }
                Err(e) => {
                    let retry = slot.sup.spawn_failed(now_ms);
                    log_err!(
                        log,
                        "rtmp: {}: cannot start: {}{}",
                        slot.spec.label,
                        e,
                        retry.map_or(String::new(), |d| format!("; trying again in {d} ms"))
                    );
                }
            },
            Action::Signal { kill, .. } => {
                if let Some(child) = &slot.child {
                    child.signal(if kill {
                        libc::SIGKILL
                    } else {
                        slot.spec.stop_signal
                    });
                }
            }
            Action::Forget => return true,
        }
    }
    false
}

/// One line per death: what happened, what comes next, what the child said last.
fn report_exit(
    slot: &Slot,
    pid: i32,
    status: ExitStatus,
    wanted: bool,
    respawn_in: Option<u64>,
    log: Log,
) {
    let said = slot.tail.last_lines(3).join(" | ");
    let said = if said.is_empty() {
        String::new()
    } else {
        format!("; last output: {said}")
    };
    let label = &slot.spec.label;
    match (wanted, respawn_in) {
        (false, _) => log_info!(log, "rtmp: {} (pid {}) stopped: {}", label, pid, status),
        (true, Some(d)) => log_err!(
            log,
            "rtmp: {} (pid {}) {}; restarting in {} ms{}",
            label,
            pid,
            status,
            d,
            said
        ),
        (true, None) if status.success() => {
            log_info!(log, "rtmp: {} (pid {}) {}", label, pid, status)
        }
        (true, None) => log_warn!(log, "rtmp: {} (pid {}) {}{}", label, pid, status, said),
    }
}

impl Spec {
    /// Whether the child's stdout is read as media (the registry ticks faster for it).
    #[allow(dead_code)]
    pub fn reads_stdout(&self) -> bool {
        self.command.stdout == Stdio::Pipe
    }
}
