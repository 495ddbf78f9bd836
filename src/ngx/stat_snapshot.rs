//! This worker's part of the stat model, published on the stat board, and the execution of
//! `rtmp_control` commands.
//!
//! A 100 ms worker timer (on the worker's tick grid, [`super::timer::Timer::arm_on_grid`])
//! polls the worker's mailbox (drops and record commands posted by whichever worker answered
//! the control request) and republishes the snapshot when it is due (bitrates, once a second)
//! or a record command ran; a change of streams, players or connections republishes within
//! 10 ms ([`note_changes`]). The http handlers ([`super::http_stat`]) publish this worker's
//! snapshot fresh, then merge every live worker's slot. How a record command is answered for
//! a publisher of another worker is in [`crate::stat::record_control`].

use std::collections::{HashMap, HashSet};

use nginx_sys::{ngx_event_t, ngx_msec_t, ngx_shm_zone_t};

use super::now_ms;
use super::remote::REMOTE_PUBLISHER;
use super::shm::is_alive;
use super::stat_board;
use super::timer::Timer;
use super::worker::{self, owner_id, ClientCard, RecorderCard, StatState, Worker};
use crate::conf::{RtmpConf, ServerConf};
use crate::stat::record_control::{self, full_path};
use crate::stat::{
    self, ClientInput, ClientView, Command, Control, ControlError, LocalFigures, MergeContext,
    ProcessStat, RecordAction, RecordCommand, RecorderStat, RelayStat, ServerLayout, Snapshot,
    StatView, StreamId, StreamInput, WorkerInput,
};

/// The mailbox is polled this often (a control command takes effect within it).
const TICK_MS: ngx_msec_t = 100;
/// A change is republished within this.
const CHANGE_MS: ngx_msec_t = 10;
/// Snapshots are republished at least this often (bitrates move).
const REFRESH_MS: u64 = stat::bitrate::WINDOW_MS;
/// A slot not updated for this long belongs to a stuck or exiting worker: not shown.
const STALE_MS: u64 = 10_000;

fn unix_ms() -> u64 {
    super::file_ops::now().unix_ms
}

fn pid() -> u32 {
    // SAFETY: getpid has no preconditions.
    unsafe { libc::getpid() as u32 }
}

/// A worker starts: attach the board, claim a slot, start the timer.
///
/// # Safety
/// `zone` must be null or the board zone of the worker's cycle; `conf` must live as long as
/// the worker.
pub unsafe fn init(zone: *mut ngx_shm_zone_t, conf: &'static RtmpConf) {
    // SAFETY: see the contract.
    let board = unsafe { stat_board::attach(zone) };
    let claimed = board.and_then(|b| b.board.claim(&b.region, owner_id(), is_alive).ok());
    worker::with_stat(|s| {
        s.board = board;
        s.slot = claimed.map(|c| c.0);
        s.cursor = claimed.map_or(0, |c| c.1);
        s.conf = Some(conf);
        s.started_unix = unix_ms() / 1000;
    });
    arm();
}

/// Streams, players or connections of this worker changed (checked after every connection
/// event): republish within [`CHANGE_MS`] instead of at the next tick, so every worker's
/// stat answer lists them at once. Costs a comparison when nothing changed.
pub fn note_changes(w: &Worker) {
    let sig = signature(w);
    worker::with_stat(|s| {
        let Some(timer) = s.timer else {
            return;
        };
        if s.last_signature == sig || s.soon {
            return;
        }
        s.soon = true;
        timer.rearm(CHANGE_MS);
    });
}

fn arm() {
    worker::with_stat(|s| {
        s.timer
            .get_or_insert_with(|| Timer::new(on_timer))
            .arm_on_grid(TICK_MS)
    });
}

unsafe extern "C" fn on_timer(_ev: *mut ngx_event_t) {
    let _ = super::catch(|| {
        worker::with_stat(|s| s.soon = false);
        let mut recorded = false;
        for cmd in poll_mailbox() {
            match cmd {
                Control::Drop(cmd) => {
                    drop_local(&cmd);
                }
                Control::Redirect(cmd) => {
                    redirect_local(&cmd);
                }
                Control::Record(cmd) => {
                    // The answer was given by the worker that posted it.
                    let _ = record_local(&cmd);
                    recorded = true;
                }
            }
        }
        let sig = worker::with(|w| signature(w));
        let (changed, due) = worker::with_stat(|s| {
            (
                s.last_signature != sig,
                now_ms().saturating_sub(s.last_publish_ms) >= REFRESH_MS,
            )
        });
        // A record command changes what the other workers answer: show it at once.
        if changed || due || recorded {
            publish();
        }
    });
    arm();
}

/// Changes worth an immediate republish: streams, players, connections.
fn signature(w: &Worker) -> (u64, usize) {
    (w.hub.changes(), worker::clients(|c| c.len()))
}

fn poll_mailbox() -> Vec<Control> {
    worker::with_stat(|s| {
        let (Some(b), Some(slot)) = (s.board, s.slot) else {
            return Vec::new();
        };
        let mut cursor = s.cursor;
        let cmds = b.board.poll(&b.region, slot, &mut cursor);
        s.cursor = cursor;
        cmds.iter().filter_map(|c| Control::decode(c)).collect()
    })
}

fn server_index(conf: &RtmpConf, server: *const ServerConf) -> Option<u32> {
    conf.servers
        .iter()
        .position(|s| std::ptr::eq(s, server))
        .map(|i| i as u32)
}

/// Reads what this worker's snapshot is made of: its streams, its connections and its counters.
fn collect(conf: &RtmpConf, started_unix: u64, w: &Worker) -> WorkerInput {
    let stream_id = |key: &crate::live::StreamKey| {
        server_index(conf, key.server as *const ServerConf).map(|server| StreamId {
            server,
            app: key.app.clone(),
            name: key.name.clone(),
        })
    };
    let mut recorders: HashMap<StreamId, Vec<RecorderStat>> = HashMap::new();
    worker::clients(|registry| {
        registry.for_each(|_, c| {
            for r in c.card().recordings {
                if let Some(id) = w.hub.get(r.stream).and_then(|s| stream_id(&s.key)) {
                    recorders.entry(id).or_default().push(recorder_stat(&r));
                }
            }
        })
    });
    let mut relays: HashMap<StreamId, Vec<RelayStat>> = HashMap::new();
    crate::ngx::relay::relay_stats(now_ms(), |key, stat| {
        if let Some(id) = stream_id(key) {
            relays.entry(id).or_default().push(stat);
        }
    });
    let streams = w
        .hub
        .streams()
        .filter_map(|s| {
            let id = stream_id(&s.key)?;
            let recorders = recorders.remove(&id).unwrap_or_default();
            Some(StreamInput {
                relays: relays.remove(&id).unwrap_or_default(),
                id,
                started_ms: s.started_ms,
                bytes_in: s.pipeline.counters().bytes_in,
                published: (s.publisher != REMOTE_PUBLISHER).then(|| {
                    let c = s.pipeline.counters();
                    LocalFigures {
                        audio_bytes: c.audio_bytes,
                        video_bytes: c.video_bytes,
                        video_messages: c.video_messages,
                        codecs: s.pipeline.codecs().codec_info(),
                        recorders,
                    }
                }),
            })
        })
        .collect();
    let mut clients = Vec::new();
    worker::clients(|registry| {
        registry.for_each(|key, c| {
            let card = c.card();
            clients.push(ClientInput {
                key,
                number: card.number,
                server: server_index(conf, card.server as *const ServerConf),
                address: card.addr.to_owned(),
                flashver: card.flashver.to_owned(),
                tls: card.tls,
                http: card.http,
                bytes_in: card.bytes_in,
                bytes_out: card.bytes_out,
                publishing: card
                    .publications
                    .iter()
                    .filter_map(|&h| stream_id(&w.hub.get(h)?.key))
                    .collect(),
                playing: card
                    .playbacks
                    .iter()
                    .filter_map(|&(key, dropped)| Some((stream_id(key)?, dropped)))
                    .collect(),
            });
        })
    });
    let mut accepted = vec![0; conf.servers.len()];
    for (&ptr, &n) in &w.counters.accepted_by_server {
        let server = server_index(conf, ptr as *const ServerConf);
        if let Some(slot) = server.and_then(|i| accepted.get_mut(i as usize)) {
            *slot = n;
        }
    }
    WorkerInput {
        now_ms: now_ms(),
        unix_ms: unix_ms(),
        pid: pid(),
        started_unix,
        naccepted: w.counters.accepted,
        hls_segments: w.counters.hls_segments,
        transcode_refused: w.counters.transcode_refused,
        record_failed: w.counters.record_failed,
        accepted,
        rejected: w
            .counters
            .rejected_publish
            .iter()
            .map(|(k, v)| ((*k).to_owned(), *v))
            .collect(),
        streams,
        clients,
        pending_relays: relays.into_iter().collect(),
        processes: super::process::cards()
            .into_iter()
            .map(|c| ProcessStat {
                label: c.label,
                worker: 0,
                pid: c.summary.pid.map_or(0, |p| p as u32),
                uptime_ms: c.summary.uptime_ms,
                restarts: c.summary.restarts,
                last_exit: c
                    .summary
                    .last_exit
                    .map(|e| e.to_string())
                    .unwrap_or_default(),
                log: c.log.map(|l| l.display().to_string()).unwrap_or_default(),
            })
            .collect(),
    }
}

/// What stat shows of a recorder.
fn recorder_stat(r: &RecorderCard<'_>) -> RecorderStat {
    let st = r.handle.status();
    let dir = r.settings.path.to_string_lossy();
    // The shell stops writing a file that failed; the recorder goes on to its next file.
    let failed = st.path.as_ref().is_some_and(|name| {
        r.failed
            == Some(
                r.settings
                    .path
                    .join(format!("{}.part", name.as_str()))
                    .as_path(),
            )
    });
    RecorderStat {
        id: r.settings.config.id.clone(),
        path: r
            .handle
            .target()
            .map(|name| full_path(&dir, &name))
            .unwrap_or_default(),
        recording: st.path.is_some() && !failed,
        failed,
        bytes: st.bytes,
        duration_ms: st.duration_ms,
        frames: st.frames,
        files: st.files,
        manual: r.settings.config.mode.manual,
        started: st.started,
    }
}

/// Builds this worker's snapshot.
fn build(st: &mut StatState, w: &Worker) -> Snapshot {
    let Some(conf) = st.conf else {
        return Snapshot::default();
    };
    let input = collect(conf, st.started_unix, w);
    st.aggregator.snapshot(input)
}

/// Builds and publishes this worker's snapshot; returns it.
fn publish() -> Snapshot {
    worker::with_stat(|s| {
        let snap = worker::with(|w| {
            let sig = signature(w);
            let snap = build(s, w);
            s.last_signature = sig;
            snap
        });
        s.last_publish_ms = now_ms();
        if let (Some(b), Some(slot)) = (s.board, s.slot) {
            if let Some(bytes) = stat::codec::encode(&snap, b.board.data_capacity()) {
                let _ = b.board.publish(&b.region, slot, &bytes, snap.taken_unix_ms);
            }
        }
        snap
    })
}

/// Snapshots of the other live workers, with their slot index.
fn others() -> Vec<(usize, Snapshot)> {
    worker::with_stat(|s| {
        let Some(b) = s.board else {
            return Vec::new();
        };
        let me = owner_id();
        let now = unix_ms();
        let mut out = Vec::new();
        for i in 0..b.board.slots {
            let Ok(Some((owner, updated, bytes))) = b.board.read(&b.region, i) else {
                continue;
            };
            if owner == me || now.saturating_sub(updated) > STALE_MS || !is_alive(owner) {
                continue;
            }
            if let Ok(snap) = stat::codec::decode(&bytes) {
                out.push((i, snap));
            }
        }
        out
    })
}

fn layout() -> Vec<ServerLayout> {
    worker::with_stat(|s| {
        let Some(conf) = s.conf else {
            return Vec::new();
        };
        conf.servers
            .iter()
            .map(|srv| ServerLayout {
                applications: srv
                    .applications
                    .iter()
                    .map(|a| (a.name.clone(), a.settings.live))
                    .collect(),
            })
            .collect()
    })
}

/// Every worker's view, merged (for the stat handler).
pub fn view() -> StatView {
    let mut snaps = vec![publish()];
    snaps.extend(others().into_iter().map(|(_, s)| s));
    let ctx = MergeContext {
        nginx_version: nginx_sys::NGINX_VERSION.to_string_lossy().into_owned(),
        module_version: env!("CARGO_PKG_VERSION").into(),
        pid: pid(),
        now_unix_ms: unix_ms(),
    };
    stat::merge(&ctx, &layout(), snaps)
}

/// Closes this worker's clients that `cmd` matches; returns how many.
fn drop_local(cmd: &Command) -> u64 {
    let Some(conf) = worker::with_stat(|s| s.conf) else {
        return 0;
    };
    let mut dropped = 0;
    worker::with(|w| {
        worker::clients(|registry| {
            registry.for_each(|_, c| {
                if matches(cmd, conf, w, &c.card()) {
                    c.request_close();
                    dropped += 1;
                }
            })
        })
    });
    dropped
}

/// Moves this worker's clients that the redirect `cmd` matches to its new name; returns how
/// many.
fn redirect_local(cmd: &Command) -> u64 {
    let (Some(conf), Some(newname)) = (worker::with_stat(|s| s.conf), cmd.newname.as_deref())
    else {
        return 0;
    };
    let what = cmd.redirect_what();
    // Matched first, moved after: a redirect changes the hub (a new publication, a new
    // player), which must not be borrowed meanwhile.
    let mut ids = Vec::new();
    worker::with(|w| {
        worker::clients(|registry| {
            registry.for_each(|id, c| {
                if matches(cmd, conf, w, &c.card()) {
                    ids.push(id);
                }
            })
        })
    });
    let mut moved = 0;
    for id in ids {
        if worker::clients(|r| r.with(id, |c| c.redirect(what, newname))) == Some(true) {
            moved += 1;
        }
    }
    moved
}

/// Whether `cmd` names the client: by itself, or by a stream it publishes or plays.
fn matches(cmd: &Command, conf: &RtmpConf, w: &Worker, card: &ClientCard<'_>) -> bool {
    let base = ClientView {
        server: server_index(conf, card.server as *const ServerConf).unwrap_or(u32::MAX),
        app: card.app.unwrap_or_default(),
        addr: card.addr,
        id: card.number,
        publishing: None,
        playing: None,
    };
    let publishing = card.publications.iter().filter_map(|&h| w.hub.get(h));
    let playing = card.playbacks.iter().map(|&(key, _)| key);
    cmd.matches(&base)
        || publishing.into_iter().any(|s| {
            cmd.matches(&ClientView {
                app: &s.key.app,
                publishing: Some(&s.key.name),
                ..base
            })
        })
        || playing.into_iter().any(|key| {
            cmd.matches(&ClientView {
                app: &key.app,
                playing: Some(&key.name),
                ..base
            })
        })
}

/// Posts a command to every other live worker's mailbox.
fn post_others(encoded: &[u8]) {
    if let Some(b) = worker::with_stat(|s| s.board) {
        let me = owner_id();
        for slot in 0..b.board.slots {
            let owner = b.board.owner(&b.region, slot);
            if owner != 0 && owner != me && is_alive(owner) {
                let _ = b.board.post(&b.region, slot, encoded);
            }
        }
    }
}

/// Executes a control command on every worker: here at once, elsewhere through their
/// mailboxes (within ~100 ms). Returns the clients affected: exact for this worker, from the
/// latest snapshots for the others.
pub fn control(cmd: &Command) -> u64 {
    let mut n = if cmd.newname.is_some() {
        redirect_local(cmd)
    } else {
        drop_local(cmd)
    };
    post_others(&cmd.encode());
    for (_, snap) in others() {
        let mut ids = HashSet::new();
        for s in &snap.streams {
            for c in &s.clients {
                let v = ClientView {
                    server: s.server,
                    app: &s.app,
                    addr: &c.address,
                    id: c.id,
                    publishing: c.publishing.then_some(s.name.as_str()),
                    playing: (!c.publishing).then_some(s.name.as_str()),
                };
                if cmd.matches(&v) {
                    ids.insert(c.id);
                }
            }
        }
        n += ids.len() as u64;
    }
    n
}

/// Runs a record command on this worker's publishers that it names; returns the paths
/// answered (nginx-rtmp's: `record_path/name`), or nginx-rtmp's error for a recorder the
/// application does not have.
fn record_local(cmd: &RecordCommand) -> Result<Vec<String>, ControlError> {
    let Some(conf) = worker::with_stat(|s| s.conf) else {
        return Ok(Vec::new());
    };
    let mut paths = Vec::new();
    let mut missing = false;
    worker::with(|w| {
        worker::clients(|registry| {
            registry.for_each(|_, c| {
                let card = c.card();
                let Some(server) = server_index(conf, card.server as *const ServerConf) else {
                    return;
                };
                for h in &card.publications {
                    let Some(key) = w.hub.get(*h).map(|s| &s.key) else {
                        continue;
                    };
                    if !cmd.matches(server, &key.app, &key.name) {
                        continue;
                    }
                    let found = card
                        .recordings
                        .iter()
                        .find(|r| r.stream == *h && r.settings.config.id == cmd.rec);
                    let Some(r) = found else {
                        missing = true;
                        continue;
                    };
                    let answered = match cmd.action {
                        RecordAction::Start => r.handle.start_at(cmd.at_unix_s),
                        RecordAction::Stop => r.handle.stop(),
                    };
                    if let Some(name) = answered {
                        paths.push(full_path(&r.settings.path.to_string_lossy(), &name));
                    }
                }
            })
        })
    });
    if missing {
        return Err(record_control::not_found());
    }
    Ok(paths)
}

/// Executes `/control/record/start|stop` whichever worker holds the publisher: this
/// worker's publishers at once, the others' through their mailboxes, and answers the paths
/// (exact for this worker, from the latest snapshots for the others).
pub fn record(cmd: &RecordCommand) -> Result<Vec<String>, ControlError> {
    let Some(conf) = worker::with_stat(|s| s.conf) else {
        return Ok(Vec::new());
    };
    if cmd.srv as usize >= conf.servers.len() {
        return Err(record_control::server_out_of_range());
    }
    let mut paths = record_local(cmd)?;
    let started = paths.len();
    post_others(&Control::Record(cmd.clone()).encode());
    let snaps = others();
    let lookup = |server: u32, app: &str, rec: &str| {
        let app = conf
            .servers
            .get(server as usize)?
            .applications
            .iter()
            .find(|a| a.name == app)?;
        let r = app.settings.record.iter().find(|r| r.config.id == rec)?;
        Some((&r.config, r.path.to_str()?))
    };
    paths.extend(cmd.remote_answers(snaps.iter().flat_map(|(_, s)| s.streams.iter()), lookup)?);
    if started > 0 {
        // What this worker did shows at once in what the others answer.
        publish();
    }
    Ok(paths)
}
