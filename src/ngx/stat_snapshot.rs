//! This worker's part of the stat model, published on the stat board, and the execution of
//! `rtmp_control` commands.
//!
//! A 1 s worker timer polls the worker's mailbox (drops requested by whichever worker
//! answered the control request) and republishes the snapshot (bitrates); a change of
//! streams, players or connections republishes within 10 ms ([`note_changes`]). The http
//! handlers ([`super::http_stat`]) publish this worker's snapshot fresh, then merge every
//! live worker's slot.

use std::cell::RefCell;
use std::collections::HashSet;

use nginx_sys::{ngx_add_timer, ngx_del_timer, ngx_event_t, ngx_msec_t, ngx_shm_zone_t};

use super::conn::Conn;
use super::now_ms;
use super::remote::REMOTE_PUBLISHER;
use super::shm::{is_alive, owner_id};
use super::stat_board::{self, BoardZone};
use super::worker::{self, Worker};
use crate::conf::{RtmpConf, ServerConf};
use crate::stat::{
    self, Aggregator, ClientInput, ClientView, Command, MergeContext, Published, ServerLayout,
    Snapshot, StatView, StreamId, StreamInput, WorkerInput,
};

/// The mailbox is polled and the snapshot refreshed this often.
const TICK_MS: ngx_msec_t = 1000;
/// A change is republished within this.
const CHANGE_MS: ngx_msec_t = 10;
/// Snapshots are republished at least this often (bitrates move).
const REFRESH_MS: u64 = stat::bitrate::WINDOW_MS;
/// A slot not updated for this long belongs to a stuck or exiting worker: not shown.
const STALE_MS: u64 = 10_000;

struct State {
    board: Option<BoardZone>,
    slot: Option<usize>,
    cursor: u64,
    conf: *const RtmpConf,
    started_unix: u64,
    timer: *mut ngx_event_t,
    last_publish_ms: u64,
    last_signature: (u64, usize),
    /// A republish for a change is scheduled.
    soon: bool,
    aggregator: Aggregator,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State {
        board: None,
        slot: None,
        cursor: 0,
        conf: std::ptr::null(),
        started_unix: 0,
        timer: std::ptr::null_mut(),
        last_publish_ms: 0,
        last_signature: (0, 0),
        soon: false,
        aggregator: Aggregator::default(),
    });
}

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
pub unsafe fn init(zone: *mut ngx_shm_zone_t, conf: &RtmpConf) {
    // SAFETY: see the contract.
    let board = unsafe { stat_board::attach(zone) };
    let claimed = board.and_then(|b| b.board.claim(&b.region, owner_id(), is_alive).ok());
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        s.board = board;
        s.slot = claimed.map(|c| c.0);
        s.cursor = claimed.map_or(0, |c| c.1);
        s.conf = conf;
        s.started_unix = unix_ms() / 1000;
    });
    arm();
}

/// Streams, players or connections of this worker changed (checked after every connection
/// event): republish within [`CHANGE_MS`] instead of at the next tick, so every worker's
/// stat answer lists them at once. Costs a comparison when nothing changed.
pub fn note_changes(w: &Worker) {
    let sig = signature(w);
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        if s.last_signature == sig || s.soon || s.timer.is_null() {
            return;
        }
        s.soon = true;
        // SAFETY: the worker's own event.
        unsafe {
            if (*s.timer).timer_set() != 0 {
                ngx_del_timer(s.timer);
            }
            ngx_add_timer(s.timer, CHANGE_MS);
        }
    });
}

fn arm() {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        if s.timer.is_null() {
            s.timer = super::worker_timer(on_timer);
        }
        // SAFETY: the worker's own event.
        unsafe {
            if (*s.timer).timer_set() == 0 {
                ngx_add_timer(s.timer, TICK_MS);
            }
        }
    });
}

unsafe extern "C" fn on_timer(_ev: *mut ngx_event_t) {
    let _ = super::catch(|| {
        STATE.with(|s| s.borrow_mut().soon = false);
        for cmd in poll_mailbox() {
            drop_local(&cmd);
        }
        let sig = worker::with(|w| signature(w));
        let (changed, due) = STATE.with(|s| {
            let s = s.borrow();
            (
                s.last_signature != sig,
                now_ms().saturating_sub(s.last_publish_ms) >= REFRESH_MS,
            )
        });
        if changed || due {
            publish();
        }
    });
    arm();
}

/// Changes worth an immediate republish: streams, players, connections.
fn signature(w: &Worker) -> (u64, usize) {
    (w.hub.changes(), w.conns.len())
}

fn poll_mailbox() -> Vec<Command> {
    STATE.with(|s| {
        let mut s = s.borrow_mut();
        let (Some(b), Some(slot)) = (s.board, s.slot) else {
            return Vec::new();
        };
        let mut cursor = s.cursor;
        let cmds = b.board.poll(&b.region, slot, &mut cursor);
        s.cursor = cursor;
        cmds.iter().filter_map(|c| Command::decode(c)).collect()
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
    let streams = w
        .hub
        .streams()
        .filter_map(|s| {
            Some(StreamInput {
                id: stream_id(&s.key)?,
                started_ms: s.started_ms,
                bytes_in: s.pipeline.counters().bytes_in,
                published: (s.publisher != REMOTE_PUBLISHER).then(|| {
                    let c = s.pipeline.counters();
                    Published {
                        audio_bytes: c.audio_bytes,
                        video_bytes: c.video_bytes,
                        video_messages: c.video_messages,
                        codecs: s.pipeline.codecs().codec_info(),
                    }
                }),
            })
        })
        .collect();
    let clients = w
        .conns
        .iter()
        .map(|(&key, &conn)| {
            // SAFETY: `conns` holds live connections; this runs from a timer or an http
            // handler, never inside a connection's own handler, so no `&mut Conn` exists
            // meanwhile.
            let conn: &Conn = unsafe { &*conn };
            let policy = conn.policy();
            let session = conn.session();
            ClientInput {
                key,
                number: conn.number(),
                server: server_index(conf, policy.server()),
                address: policy.addr().to_owned(),
                flashver: policy.flashver().to_owned(),
                bytes_in: session.bytes_received(),
                bytes_out: session.bytes_sent(),
                publishing: policy
                    .publications()
                    .filter_map(|h| stream_id(&w.hub.get(h)?.key))
                    .collect(),
                playing: policy
                    .playbacks()
                    .filter_map(|(key, dropped)| Some((stream_id(key)?, dropped)))
                    .collect(),
            }
        })
        .collect();
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
        naccepted: w.accepted(),
        hls_segments: w.counters.hls_segments,
        accepted,
        rejected: w
            .counters
            .rejected_publish
            .iter()
            .map(|(k, v)| ((*k).to_owned(), *v))
            .collect(),
        streams,
        clients,
    }
}

/// Builds this worker's snapshot.
fn build(st: &mut State, w: &Worker) -> Snapshot {
    // SAFETY: set at init from the cycle's configuration, alive as long as the worker.
    let Some(conf) = (unsafe { st.conf.as_ref() }) else {
        return Snapshot::default();
    };
    let input = collect(conf, st.started_unix, w);
    st.aggregator.snapshot(input)
}

/// Builds and publishes this worker's snapshot; returns it.
fn publish() -> Snapshot {
    let snap = STATE.with(|s| {
        let mut s = s.borrow_mut();
        let snap = worker::with(|w| {
            let sig = signature(w);
            let snap = build(&mut s, w);
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
    });
    snap
}

/// Snapshots of the other live workers, with their slot index.
fn others() -> Vec<(usize, Snapshot)> {
    STATE.with(|s| {
        let s = s.borrow();
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
    STATE.with(|s| {
        // SAFETY: as in `build`.
        let Some(conf) = (unsafe { s.borrow().conf.as_ref() }) else {
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
    let targets: Vec<*mut Conn> = worker::with(|w| {
        let conf = STATE.with(|s| s.borrow().conf);
        // SAFETY: as in `build`.
        let Some(conf) = (unsafe { conf.as_ref() }) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for &conn_ptr in w.conns.values() {
            // SAFETY: as in `build`: live connections, none inside its own handler.
            let conn: &Conn = unsafe { &*conn_ptr };
            let policy = conn.policy();
            let server = server_index(conf, policy.server()).unwrap_or(u32::MAX);
            let base = ClientView {
                server,
                app: policy.app_name().unwrap_or_default(),
                addr: policy.addr(),
                id: conn.number(),
                publishing: None,
                playing: None,
            };
            let mut hit = cmd.matches(&base);
            for h in policy.publications() {
                if let Some(s) = w.hub.get(h) {
                    hit |= cmd.matches(&ClientView {
                        app: &s.key.app,
                        publishing: Some(&s.key.name),
                        ..base
                    });
                }
            }
            for (key, _) in policy.playbacks() {
                hit |= cmd.matches(&ClientView {
                    app: &key.app,
                    playing: Some(&key.name),
                    ..base
                });
            }
            if hit {
                out.push(conn_ptr);
            }
        }
        out
    });
    for &c in &targets {
        // SAFETY: collected above from `conns` in this same call; nothing ran in between
        // that could close a connection (closing happens in posted handlers, later).
        unsafe { (*c).request_close() };
    }
    targets.len() as u64
}

/// Executes a control command on every worker: here at once, elsewhere through their
/// mailboxes (within ~100 ms). Returns the clients affected: exact for this worker, from the
/// latest snapshots for the others.
pub fn control(cmd: &Command) -> u64 {
    let mut n = drop_local(cmd);
    let encoded = cmd.encode();
    if let Some(b) = STATE.with(|s| s.borrow().board) {
        let me = owner_id();
        for slot in 0..b.board.slots {
            let owner = b.board.owner(&b.region, slot);
            if owner != 0 && owner != me && is_alive(owner) {
                let _ = b.board.post(&b.region, slot, &encoded);
            }
        }
    }
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
