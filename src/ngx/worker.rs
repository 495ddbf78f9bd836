//! The state of one nginx worker, all of it in one place. A worker is a single-threaded
//! process, so the state lives in one thread-local; nothing here is shared between workers.
//!
//! The parts are borrowed separately, because work on one part runs inside work on another:
//! a publisher's message is fanned out while the streams are borrowed ([`with`]), and each
//! player then queues itself for the flush timer ([`with_flush`]); a client of the registry
//! ([`Clients`]) runs while nothing is borrowed. Every shell file may use this one; it uses no
//! shell file but the leaves it takes types from (timers, the shared zones, the delete queue).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::PathBuf;
use std::ptr::NonNull;
use std::rc::Rc;
use std::time::SystemTime;

use super::process::registry::Processes;
use super::shm::{ShmRegion, Zone};
use super::stat_board::BoardZone;
use super::timer::Timer;
use crate::conf::{AppConf, RecorderSettings, RtmpConf};
use crate::hls_http::access::{Suspended, Verdicts};
use crate::hls_http::Waiters;
use crate::http::{HttpError, Response};
use crate::live::shm::SlotReader;
use crate::live::{ClientId, Delivery, Hub, StreamHandle, StreamKey};
use crate::record::RecordHandle;
use crate::stat::Aggregator;

/// Size of the buffer every connection of the worker reads into.
pub const RECV_BUF: usize = 64 * 1024;

/// The live streams and what belongs with them.
pub struct Worker {
    pub hub: Hub,
    /// The live shared-memory zone (None without `live on` anywhere).
    pub zone: Option<Zone>,
    /// Streams of other workers mirrored for players of this one.
    pub feeds: Vec<Feed>,
    /// Names players wait for that no worker publishes yet.
    pub waiting_wants: HashMap<StreamKey, Want>,
    /// Counters for the stat page.
    pub counters: Counters,
}

/// Per-worker counters that outlive connections and streams.
#[derive(Default)]
pub struct Counters {
    /// RTMP connections accepted.
    pub accepted: u64,
    /// Refused publish requests by reason.
    pub rejected_publish: HashMap<&'static str, u64>,
    /// Accepted connections per server block (keyed by the `ServerConf` address).
    pub accepted_by_server: HashMap<usize, u64>,
    /// HLS segments completed.
    pub hls_segments: u64,
    /// Streams transcoded now, per `server {}` (by address), for `transcode_max`: each
    /// transcoded stream holds its server's count while it lives.
    pub transcoding: HashMap<usize, Rc<Cell<u32>>>,
    /// Streams served at their source quality only because of `transcode_max`.
    pub transcode_refused: u64,
    /// Recorded files whose writing failed (a full disk, a vanished `record_path`).
    pub record_failed: u64,
}

/// A stream of another worker that this one mirrors: its ring, read on a timer.
pub struct Feed {
    pub reader: SlotReader<ShmRegion>,
    pub handle: StreamHandle,
    pub idle_streams: bool,
    /// What the feed was looked for as (its players look for the stream again with it).
    pub want: Want,
    /// When the feed last checked that a silent writer's worker still lives.
    pub owner_checked_ms: u64,
}

/// What a worker needs to look for a stream in the zone.
#[derive(Clone)]
pub struct Want {
    pub key: StreamKey,
    pub ring_key: String,
    pub chunk_size: u32,
    pub app: &'static AppConf,
}

/// Players whose output waits for the flush timer (`play_flush_interval`).
#[derive(Default)]
pub struct FlushQueue {
    pub clients: Vec<ClientId>,
    pub timer: Option<Timer>,
}

/// Files whose deletion waits for its deadline (segments that left a playlist's window).
#[derive(Default)]
pub struct DeleteQueue {
    pub pending: Vec<PendingDelete>,
    pub timer: Option<Timer>,
}

/// A file to delete, with the time the deletion was scheduled: a file modified after that
/// (another worker resumed the stream) is kept.
pub struct PendingDelete {
    pub path: PathBuf,
    pub not_before_ms: u64,
    pub scheduled: SystemTime,
}

/// The reading of other workers' rings: its timer and the buffer a record is read into.
#[derive(Default)]
pub struct MirrorIo {
    pub timer: Option<Timer>,
    pub buf: Vec<u8>,
}

/// This worker's part of the stat board, and the state of its publishing.
pub struct StatState {
    pub board: Option<BoardZone>,
    pub slot: Option<usize>,
    pub cursor: u64,
    pub conf: Option<&'static RtmpConf>,
    pub started_unix: u64,
    pub timer: Option<Timer>,
    pub last_publish_ms: u64,
    pub last_signature: (u64, usize),
    /// A republish for a change is scheduled.
    pub soon: bool,
    pub aggregator: Aggregator,
}

/// The worker's child processes and the timer that watches them.
#[derive(Default)]
pub struct ProcessState {
    pub registry: Processes,
    pub timer: Option<Timer>,
    /// The worker started shutting down and the children that end with it were stopped.
    pub exiting: bool,
}

/// The `rtmp_hls` requests of this worker that wait for a playlist to change, and the timer
/// that watches the playlists while any waits.
#[derive(Default)]
pub struct HlsWaits {
    pub waiters: Waiters<NonNull<nginx_sys::ngx_http_request_t>>,
    pub timer: Option<Timer>,
}

/// What the rest of the shell asks of a connection of this worker, without knowing its type.
pub trait Client {
    /// A live message of a stream it plays on `stream_id` (queued, written later).
    fn deliver(&mut self, stream_id: u32, d: &Delivery);
    /// The flush timer: write what `deliver` queued.
    fn flush_now(&mut self);
    /// The publisher of the stream it plays on `stream_id` came (`true`) or left.
    fn notify(&mut self, stream_id: u32, published: bool);
    /// The pull of `key` that its play waits for streams (`true`: play it now) or failed at
    /// every origin (`false`: the play is refused).
    fn pull_ready(&mut self, key: &StreamKey, ok: bool);
    /// Another client takes over a stream it publishes.
    fn evict(&mut self, key: &StreamKey);
    /// The HTTP callback one of its requests waited for answered.
    fn notified(&mut self, result: Result<Response, HttpError>);
    /// Its `on_update` call answered (or failed).
    fn updated(&mut self, result: Result<Response, HttpError>);
    /// `rtmp_control drop`: close soon, from its own handler.
    fn request_close(&mut self);
    /// `rtmp_control redirect`: the streams `what` names go on under `newname`; whether any
    /// did.
    fn redirect(&mut self, what: crate::stat::RedirectWhat<'_>, newname: &str) -> bool;
    /// What stat and control read of it.
    fn card(&self) -> ClientCard<'_>;
}

/// What stat and control read of a client.
pub struct ClientCard<'a> {
    /// nginx's connection number: unique across the workers of a master.
    pub number: u64,
    /// Its `server {}` block (by address).
    pub server: usize,
    pub app: Option<&'a str>,
    pub addr: &'a str,
    pub flashver: &'a str,
    /// Connected over TLS (RTMPS, HTTPS).
    pub tls: bool,
    /// An HTTP-FLV player.
    pub http: bool,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Hub streams it publishes.
    pub publications: Vec<StreamHandle>,
    /// Streams it plays, with the messages dropped for it.
    pub playbacks: Vec<(&'a StreamKey, u64)>,
    /// The recorders of the streams it publishes.
    pub recordings: Vec<RecorderCard<'a>>,
}

/// A recorder of a stream a client publishes, as stat and control reach it.
pub struct RecorderCard<'a> {
    /// The hub stream it records.
    pub stream: StreamHandle,
    /// Status, and `start`/`stop` for `record manual`.
    pub handle: &'a RecordHandle,
    pub settings: &'a RecorderSettings,
    /// The part file of the last file whose writing failed, if one did.
    pub failed: Option<&'a std::path::Path>,
}

struct Entry {
    client: NonNull<dyn Client>,
    /// Its own handler runs (and holds it): it is not handed out meanwhile.
    busy: Cell<bool>,
}

/// Every live connection of the worker, by id.
///
/// A connection registers itself when it starts and unregisters before it is freed, and
/// marks itself busy while its own handlers run ([`Clients::enter`]). So a client handed out
/// by [`Clients::with`] is live and nothing else holds it: a publisher that plays its own
/// stream is simply not delivered to from inside its own read handler.
#[derive(Default)]
pub struct Clients {
    map: RefCell<HashMap<ClientId, Rc<Entry>>>,
}

/// Marks a client busy until dropped.
pub struct Busy(Option<Rc<Entry>>);

impl Drop for Busy {
    fn drop(&mut self) {
        if let Some(e) = &self.0 {
            e.busy.set(false);
        }
    }
}

impl Clients {
    /// # Safety
    /// `client` must stay valid until [`Clients::unregister`] of `id`, and may be used
    /// through this registry only while no [`Busy`] of it is alive.
    pub unsafe fn register(&self, id: ClientId, client: NonNull<dyn Client>) {
        let entry = Rc::new(Entry {
            client,
            busy: Cell::new(false),
        });
        self.map.borrow_mut().insert(id, entry);
    }

    pub fn unregister(&self, id: ClientId) {
        self.map.borrow_mut().remove(&id);
    }

    /// The client's own handler runs: it is not handed out until the guard drops.
    pub fn enter(&self, id: ClientId) -> Busy {
        let entry = self.map.borrow().get(&id).cloned();
        if let Some(e) = &entry {
            e.busy.set(true);
        }
        Busy(entry)
    }

    /// Runs `f` on client `id` unless it is gone or busy.
    pub fn with<T>(&self, id: ClientId, f: impl FnOnce(&mut dyn Client) -> T) -> Option<T> {
        let entry = self.map.borrow().get(&id).cloned()?;
        if entry.busy.replace(true) {
            return None;
        }
        let _busy = Busy(Some(entry.clone()));
        let mut client = entry.client;
        // SAFETY: registered clients are live (the `register` contract) and this one is not
        // busy: no other reference to it exists until `_busy` drops. The registry's map is
        // not borrowed while `f` runs.
        Some(f(unsafe { client.as_mut() }))
    }

    /// Runs `f` on every client that is not busy.
    pub fn for_each(&self, mut f: impl FnMut(ClientId, &mut dyn Client)) {
        let ids: Vec<ClientId> = self.map.borrow().keys().copied().collect();
        for id in ids {
            self.with(id, |c| f(id, c));
        }
    }

    pub fn len(&self) -> usize {
        self.map.borrow().len()
    }
}

struct Parts {
    worker: RefCell<Worker>,
    clients: Clients,
    recv: RefCell<Vec<u8>>,
    flush: RefCell<FlushQueue>,
    deletes: RefCell<DeleteQueue>,
    mirror: RefCell<MirrorIo>,
    stat: RefCell<StatState>,
    processes: RefCell<ProcessState>,
    hls_waits: RefCell<HlsWaits>,
    /// `on_play` verdicts of `rtmp_hls` playlist requests, and the requests waiting for one.
    hls_access: RefCell<Verdicts<Suspended<NonNull<nginx_sys::ngx_http_request_t>>>>,
    /// This worker's identity in the shared zones: its pid and a per-process nonce (pids are
    /// reused).
    owner: u64,
}

thread_local! {
    static PARTS: Parts = Parts {
        worker: RefCell::new(Worker {
            hub: Hub::new(),
            zone: None,
            feeds: Vec::new(),
            waiting_wants: HashMap::new(),
            counters: Counters::default(),
        }),
        clients: Clients::default(),
        recv: RefCell::new(vec![0; RECV_BUF]),
        flush: RefCell::new(FlushQueue::default()),
        deletes: RefCell::new(DeleteQueue::default()),
        mirror: RefCell::new(MirrorIo::default()),
        stat: RefCell::new(StatState {
            board: None,
            slot: None,
            cursor: 0,
            conf: None,
            started_unix: 0,
            timer: None,
            last_publish_ms: 0,
            last_signature: (0, 0),
            soon: false,
            aggregator: Aggregator::default(),
        }),
        processes: RefCell::new(ProcessState::default()),
        hls_waits: RefCell::new(HlsWaits::default()),
        hls_access: RefCell::new(Verdicts::default()),
        owner: {
            // SAFETY: getpid has no preconditions.
            let pid = unsafe { libc::getpid() } as u64;
            (pid << 32) | (nginx_sys::ngx_random() as u64 & 0xFFFF_FFFF) | 1
        },
    };
}

/// Runs `f` with the streams. Not reentrant: `f` must not call back into `with`.
pub fn with<T>(f: impl FnOnce(&mut Worker) -> T) -> T {
    PARTS.with(|p| f(&mut p.worker.borrow_mut()))
}

/// Runs `f` with the connection registry.
pub fn clients<T>(f: impl FnOnce(&Clients) -> T) -> T {
    PARTS.with(|p| f(&p.clients))
}

/// Runs `f` with the worker's receive buffer.
pub fn with_recv_buf<T>(f: impl FnOnce(&mut [u8]) -> T) -> T {
    PARTS.with(|p| f(&mut p.recv.borrow_mut()))
}

/// Runs `f` with the players waiting for the flush timer.
pub fn with_flush<T>(f: impl FnOnce(&mut FlushQueue) -> T) -> T {
    PARTS.with(|p| f(&mut p.flush.borrow_mut()))
}

/// Runs `f` with the files waiting for deletion.
pub fn with_deletes<T>(f: impl FnOnce(&mut DeleteQueue) -> T) -> T {
    PARTS.with(|p| f(&mut p.deletes.borrow_mut()))
}

/// Runs `f` with the mirrors' timer and buffer.
pub fn with_mirror<T>(f: impl FnOnce(&mut MirrorIo) -> T) -> T {
    PARTS.with(|p| f(&mut p.mirror.borrow_mut()))
}

/// Runs `f` with the stat publishing state.
pub fn with_stat<T>(f: impl FnOnce(&mut StatState) -> T) -> T {
    PARTS.with(|p| f(&mut p.stat.borrow_mut()))
}

/// Runs `f` with the waiting `rtmp_hls` requests. Not reentrant: `f` must not call into
/// nginx (a request's cleanup comes back here).
pub fn with_hls_waits<T>(f: impl FnOnce(&mut HlsWaits) -> T) -> T {
    PARTS.with(|p| f(&mut p.hls_waits.borrow_mut()))
}

/// Runs `f` with the `on_play` verdicts of `rtmp_hls` requests. Not reentrant: `f` must not
/// call into nginx (a request's cleanup comes back here).
pub fn with_hls_access<T>(
    f: impl FnOnce(&mut Verdicts<Suspended<NonNull<nginx_sys::ngx_http_request_t>>>) -> T,
) -> T {
    PARTS.with(|p| f(&mut p.hls_access.borrow_mut()))
}

/// Runs `f` with the worker's child processes.
pub fn with_processes<T>(f: impl FnOnce(&mut ProcessState) -> T) -> T {
    PARTS.with(|p| f(&mut p.processes.borrow_mut()))
}

/// This worker's identity in the shared zones.
pub fn owner_id() -> u64 {
    PARTS.with(|p| p.owner)
}

/// Counts a refused publish request (stat and Prometheus `rtmp_publish_rejected_total`).
pub fn count_rejected_publish(reason: &'static str) {
    with(|w| *w.counters.rejected_publish.entry(reason).or_default() += 1);
}
