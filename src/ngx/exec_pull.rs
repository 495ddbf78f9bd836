//! nginx-rtmp's `exec_pull`: a player of a stream nobody publishes (and no `pull` provides)
//! starts the application's `exec_pull` commands, which are expected to publish the stream
//! back to this server (`ffmpeg ... -f flv rtmp://localhost/app/$name`). The player waits
//! for that publish as any player of a not-yet-published name does.
//!
//! One run per stream across the workers: the worker that starts the commands claims a
//! marker slot in the shared zone (the stream's slot name with an `exec_pull:` prefix; the
//! stream's own slot stays free for the child's publish, which may land on any worker). A
//! player on another worker finds the marker busy, waits for the publish like the others,
//! and renews the marker's `wanted` time while it waits; once the stream is published, the
//! players of other workers renew the stream's own slot by reading it. The runner watches
//! both (and its own players) and stops the commands (`exec_kill_signal`, then SIGKILL) the
//! application's `pull_grace` after the last player anywhere left. A runner whose worker
//! exits releases the marker (one killed leaves it to a dead owner, which the zone gives
//! away); a worker with waiting players then takes the run over.

use std::cell::RefCell;

use crate::conf::{AppConf, ServerConf};
use crate::exec::Vars;
use crate::live::shm::{self, ClaimError, SlotWriter, WANT_MS};
use crate::live::StreamKey;

use super::log::Log;
use super::process::{self, ChildId};
use super::remote::REMOTE_PUBLISHER;
use super::shm::{is_alive, ring_key, ShmRegion};
use super::timer::Timer;
use super::worker::{self, owner_id};

/// How often runs look at who watches them (and waiting workers renew their interest).
const WATCH_MS: u64 = 500;

/// A run of a stream's `exec_pull` commands on this worker.
struct Run {
    key: StreamKey,
    app: &'static AppConf,
    ring_key: String,
    marker_key: String,
    /// The marker slot (`None`: no shared zone, or no free slot: the run is this worker's).
    marker: Option<SlotWriter<ShmRegion>>,
    children: Vec<ChildId>,
    /// When the last player left (the grace period runs from there).
    unwatched_since: Option<u64>,
}

/// Players of this worker that wait for another worker's run.
struct Wait {
    key: StreamKey,
    app: &'static AppConf,
    server: &'static ServerConf,
    vars: Vars,
    marker_key: String,
}

#[derive(Default)]
struct Registry {
    runs: Vec<Run>,
    waits: Vec<Wait>,
    timer: Option<Timer>,
}

thread_local! {
    static EXEC_PULLS: RefCell<Registry> = RefCell::new(Registry::default());
}

/// The marker's slot name: no stream's slot name starts so (they start with a listen
/// address).
fn marker_key(ring_key: &str) -> String {
    format!("exec_pull:{ring_key}")
}

/// A player wants `key`, which nobody publishes here or in the shared zone and no `pull`
/// provides: its application's `exec_pull` commands run unless they already do (here or on
/// another worker). `true`: the player waits for their publish; `false`: no `exec_pull` line
/// applies to the name.
pub fn want(
    app: &'static AppConf,
    server: &'static ServerConf,
    key: &StreamKey,
    vars: Vars,
    log: Log,
) -> bool {
    if !app.settings.exec.pulls(&key.name) {
        return false;
    }
    let known = EXEC_PULLS.with(|r| {
        let r = r.borrow();
        r.runs.iter().any(|x| &x.key == key) || r.waits.iter().any(|x| &x.key == key)
    });
    if !known {
        let ring_key = ring_key(server, key);
        let marker_key = marker_key(&ring_key);
        let now = super::now_ms();
        match claim(&marker_key, now) {
            Ok(marker) => start_run(app, key, ring_key, marker_key, marker, &vars, log),
            Err(()) => {
                log_info!(log, "rtmp: exec_pull of \"{}\" runs on another worker", key);
                want_marker(&marker_key, now);
                EXEC_PULLS.with(|r| {
                    r.borrow_mut().waits.push(Wait {
                        key: key.clone(),
                        app,
                        server,
                        vars,
                        marker_key,
                    })
                });
            }
        }
    }
    arm();
    true
}

/// The worker exits: its runs stop at once (their markers are released, so that a worker
/// that stays takes them over for its players).
pub fn stop_all() {
    let runs = EXEC_PULLS.with(|r| std::mem::take(&mut r.borrow_mut().runs));
    for run in runs {
        for id in run.children {
            process::stop(id);
        }
    }
}

fn start_run(
    app: &'static AppConf,
    key: &StreamKey,
    ring_key: String,
    marker_key: String,
    marker: Option<SlotWriter<ShmRegion>>,
    vars: &Vars,
    log: Log,
) {
    let children = super::exec::start_pull(app, vars, log);
    log_notice!(
        log,
        "rtmp: exec_pull of \"{}\" started ({} command{})",
        key,
        children.len(),
        if children.len() == 1 { "" } else { "s" }
    );
    EXEC_PULLS.with(|r| {
        r.borrow_mut().runs.push(Run {
            key: key.clone(),
            app,
            ring_key,
            marker_key,
            marker,
            children,
            unwatched_since: None,
        })
    });
}

/// Claims the marker slot. `Ok(None)`: no zone or no free slot (the run is then this
/// worker's alone); `Err`: another worker runs the stream's commands.
fn claim(marker_key: &str, now: u64) -> Result<Option<SlotWriter<ShmRegion>>, ()> {
    let Some(zone) = worker::with(|w| w.zone) else {
        return Ok(None);
    };
    match shm::claim(
        zone.region,
        zone.layout,
        marker_key,
        owner_id(),
        now,
        is_alive,
    ) {
        Ok(w) => Ok(Some(w)),
        Err(ClaimError::Busy { .. }) | Err(ClaimError::Contended) => Err(()),
        Err(_) => Ok(None),
    }
}

/// A runner killed with its worker leaves the stream's slot open when its command's publish
/// landed there: this worker's mirror of it would never end, and a local publish of the new
/// command would be refused. The slot is taken (its owner is dead: the zone gives it) and
/// closed, which ends the mirror; its players wait for the new command's publish. Nothing
/// happens when a live publisher holds the slot, or when the stream is published here.
fn clear_dead_slot(key: &StreamKey, ring_key: &str, now: u64) {
    let published_here = worker::with(|w| {
        let h = w.hub.handle_of(key)?;
        Some(w.hub.get(h)?.publisher != REMOTE_PUBLISHER)
    });
    if published_here == Some(true) {
        return;
    }
    if let Ok(Some(slot)) = claim(ring_key, now) {
        slot.close();
    }
}

/// Tells the runner that players of this worker want the stream.
fn want_marker(marker_key: &str, now: u64) {
    if let Some(zone) = worker::with(|w| w.zone) {
        if let Some(r) = shm::find(zone.region, zone.layout, marker_key) {
            r.want(now);
        }
    }
}

/// Whether a worker read slot `key` lately.
fn wanted(key: &str, now: u64) -> bool {
    let Some(zone) = worker::with(|w| w.zone) else {
        return false;
    };
    shm::find(zone.region, zone.layout, key).is_some_and(|r| {
        let at = r.wanted_at();
        at != 0 && now.saturating_sub(at) <= WANT_MS
    })
}

fn arm() {
    EXEC_PULLS.with(|r| {
        r.borrow_mut()
            .timer
            .get_or_insert_with(|| Timer::new(on_timer))
            .arm(WATCH_MS as nginx_sys::ngx_msec_t)
    });
}

unsafe extern "C" fn on_timer(_ev: *mut nginx_sys::ngx_event_t) {
    let again = super::catch(watch).unwrap_or(true);
    if again {
        arm();
    }
}

/// Looks at who watches each run and renews this worker's interest in the others' runs.
/// Returns whether anything is left to watch.
fn watch() -> bool {
    let now = super::now_ms();
    let log = Log::cycle();
    let (runs, waits) = EXEC_PULLS.with(|r| {
        let mut r = r.borrow_mut();
        (std::mem::take(&mut r.runs), std::mem::take(&mut r.waits))
    });
    let mut kept_runs = Vec::with_capacity(runs.len());
    for mut run in runs {
        if let Some(m) = &mut run.marker {
            if m.heartbeat(now).is_err() {
                run.marker = None;
            }
        }
        let local = worker::with(|w| w.hub.players_of(&run.key));
        let watched = local > 0 || wanted(&run.ring_key, now) || wanted(&run.marker_key, now);
        if watched {
            run.unwatched_since = None;
            kept_runs.push(run);
            continue;
        }
        let since = *run.unwatched_since.get_or_insert(now);
        if now.saturating_sub(since) < run.app.settings.relay.pull_grace_ms {
            kept_runs.push(run);
            continue;
        }
        for id in run.children {
            process::stop(id);
        }
        log_notice!(
            log,
            "rtmp: exec_pull of \"{}\" stopped: no player left",
            run.key
        );
        // The marker goes with the run.
    }
    let mut kept_waits = Vec::with_capacity(waits.len());
    let mut takeovers = Vec::new();
    for wait in waits {
        if worker::with(|w| w.hub.players_of(&wait.key)) == 0 {
            continue;
        }
        // Tried even while the stream is mirrored here: a runner killed with its worker
        // leaves the stream's slot open behind it, and only its marker tells it is gone.
        match claim(&wait.marker_key, now) {
            // The runner is gone: this worker runs the commands.
            Ok(marker) => {
                takeovers.push((wait, marker));
                continue;
            }
            Err(()) => want_marker(&wait.marker_key, now),
        }
        kept_waits.push(wait);
    }
    EXEC_PULLS.with(|r| {
        let mut r = r.borrow_mut();
        r.runs.append(&mut kept_runs);
        r.waits.append(&mut kept_waits);
    });
    for (wait, marker) in takeovers {
        let ring_key = ring_key(wait.server, &wait.key);
        clear_dead_slot(&wait.key, &ring_key, now);
        start_run(
            wait.app,
            &wait.key,
            ring_key,
            wait.marker_key,
            marker,
            &wait.vars,
            log,
        );
    }
    EXEC_PULLS.with(|r| {
        let r = r.borrow();
        !r.runs.is_empty() || !r.waits.is_empty()
    })
}
