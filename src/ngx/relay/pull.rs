//! Pulls in the shell: an edge's streams that come from an origin. A pull is a core
//! [`Pull`] (demand, failover, the RTMP of a player) wrapped in a [`ShellPull`] that is the
//! [`LinkDriver`] of an outgoing [`Link`]: what the origin plays enters the stream's pipeline
//! exactly as a publisher's messages do (GOP cache, HLS/DASH/record, pushes, the shared ring
//! for players on the other workers).
//!
//! One pull per stream across the workers: the worker that starts a pull claims the stream's
//! slot in the shared zone at once, as a publisher does, and keeps it while the pull
//! connects and reconnects. A player on another worker then finds the slot and reads the
//! stream from the ring instead of starting its own pull. Who watches: this worker's players
//! (live, waiting, and players whose play waits for the pull to stream) and the readers of
//! the slot on other workers (they renew its `wanted` time while they read).
//!
//! A player whose play started the pull (or came while it reconnects) is answered when the
//! pull streams — Play.Start and the stream at once — or refused with Play.Failed when every
//! origin failed.

use std::cell::RefCell;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::rc::Rc;

use bytes::Bytes;

use super::link::{Link, SharedLink};
use super::resolve::NameService;
use super::ticker;
use crate::conf::{AppConf, ServerConf};
use crate::live::shm::{self, ClaimError, SlotWriter, WANT_MS};
use crate::live::{ClientId, Incoming, Pipeline, StreamHandle, StreamKey};
use crate::ngx::fanout::notify;
use crate::ngx::file_ops;
use crate::ngx::ingest::ingest;
use crate::ngx::log::Log;
use crate::ngx::outputs::OutputFiles;
use crate::ngx::shm::{is_alive, ring_key, ShmRegion};
use crate::ngx::timer::Timer;
use crate::ngx::transcode;
use crate::ngx::worker::{self, owner_id};
use crate::relay::{
    ErrorKind, LinkDriver, LinkOp, Pull, PullConfig, PullEvent, RelayEndpoint, RelayStats,
    RelayTarget,
};

/// How often a pull looks at who watches it (and renews its claim on the slot).
const WATCH_MS: u64 = 500;

/// The "client ids" of pulled streams' publishers: far above nginx's connection numbers,
/// never [`REMOTE_PUBLISHER`](crate::ngx::remote::REMOTE_PUBLISHER).
const PULL_PUBLISHER_BASE: ClientId = 1 << 62;

/// What [`start`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    /// This worker pulls the stream (now, or it already did).
    Here,
    /// Another worker pulls or publishes the stream: read it from the shared zone.
    Elsewhere,
}

struct Entry {
    key: StreamKey,
    pull: Rc<RefCell<ShellPull>>,
    _link: SharedLink,
}

#[derive(Default)]
struct Registry {
    pulls: Vec<Entry>,
    next_id: u64,
}

thread_local! {
    static PULLS: RefCell<Registry> = RefCell::new(Registry::default());
}

/// Forgets pulls that ended (not the one running now, which is borrowed).
fn sweep() {
    PULLS.with(|r| {
        r.borrow_mut().pulls.retain(|e| {
            e.pull
                .try_borrow()
                .map_or(true, |p| !p.done || p.retry_answer.is_some())
        })
    });
}

/// Whether this worker pulls `key` (streaming or not).
pub fn is_pulled_here(key: &StreamKey) -> bool {
    sweep();
    PULLS.with(|r| r.borrow().pulls.iter().any(|e| &e.key == key))
}

/// Registers `client` as a player whose play waits for the pull of `key` to stream; it gets
/// `Client::pull_ready` then. `false` when this worker does not pull `key`.
pub fn add_waiter(key: &StreamKey, client: ClientId) -> bool {
    let pull = PULLS.with(|r| {
        r.borrow()
            .pulls
            .iter()
            .find(|e| &e.key == key)
            .map(|e| e.pull.clone())
    });
    let Some(pull) = pull else {
        return false;
    };
    let added = match pull.try_borrow_mut() {
        Ok(mut p) if !p.done => {
            p.waiters.push(client);
            true
        }
        _ => false,
    };
    added
}

/// `client` no longer waits for the pull of `key` (it stopped or left).
pub fn remove_waiter(key: &StreamKey, client: ClientId) {
    PULLS.with(|r| {
        for e in r.borrow().pulls.iter().filter(|e| &e.key == key) {
            if let Ok(mut p) = e.pull.try_borrow_mut() {
                p.waiters.retain(|c| *c != client);
            }
        }
    });
}

/// Starts one pull of the stream `key` from `origins` (tried in order), unless this worker
/// or another one already pulls or publishes it. `ring_key` is the stream's slot name
/// ([`ring_key`]). A `static` pull runs for ever; another runs while anybody watches, plus
/// the application's `pull_grace`. This is also how a pull is started from elsewhere (a
/// callback's redirect to an `rtmp://` URL: one origin). `None`: nothing to pull from, or
/// the name is published on this worker already.
pub fn start(
    app: &'static AppConf,
    server: &'static ServerConf,
    key: &StreamKey,
    origins: Vec<RelayTarget>,
    is_static: bool,
) -> Option<Started> {
    if origins.is_empty() {
        return None;
    }
    if is_pulled_here(key) {
        return Some(Started::Here);
    }
    // The shared zone would hand this worker its own publisher's slot as a leftover.
    if worker::with(|w| w.hub.handle_of(key).is_some()) {
        return None;
    }
    let now = super::super::now_ms();
    let ring_key = ring_key(server, key);
    // The slot first: it makes this worker the stream's only puller.
    let reservation = match claim(&ring_key, now) {
        Ok(r) => r,
        Err(Unclaimed::Elsewhere) => return Some(Started::Elsewhere),
        // Workers starting together contend for the zone's lock: a static pull waits for
        // the next round rather than run beside the one that got it.
        Err(Unclaimed::Contended) if is_static => return None,
        // A player waits: a pull of its own beats none.
        Err(Unclaimed::Contended) => None,
    };
    let relay = &app.settings.relay;
    let id = PULLS.with(|r| {
        let mut r = r.borrow_mut();
        r.next_id += 1;
        PULL_PUBLISHER_BASE + r.next_id
    });
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (key.name.as_str(), now, std::process::id(), id).hash(&mut h);
    let core = Pull::new(PullConfig {
        origins,
        local_name: key.name.clone(),
        reconnect_ms: relay.pull_reconnect_ms,
        grace_ms: relay.pull_grace_ms,
        seed: h.finish(),
    });
    let pull = Rc::new(RefCell::new(ShellPull {
        core,
        app,
        server,
        key: key.clone(),
        ring_key,
        id,
        is_static,
        reservation,
        publication: None,
        waiters: Vec::new(),
        retry_answer: None,
        next_watch: 0,
        log: Log::cycle(),
        done: false,
    }));
    let link = Link::new(
        pull.clone() as Rc<RefCell<dyn LinkDriver>>,
        NameService::of(relay),
    );
    link.borrow_mut()
        .set_owner(crate::relay::RelayKind::Pull, key.clone());
    // Each origin says whether it is `rtmps://`; the link takes the context then.
    link.borrow_mut()
        .set_tls(crate::ngx::ssl::client::context_for(&relay.ssl));
    ticker::add(&link);
    PULLS.with(|r| {
        r.borrow_mut().pulls.push(Entry {
            key: key.clone(),
            pull,
            _link: link.clone(),
        })
    });
    // The first look at who watches starts the pull (the caller registers its player first
    // when it has one: `add_waiter` right after this).
    Some(Started::Here)
}

/// Gives a pull just started its first tick (after its first player was registered).
pub fn kick(key: &StreamKey) {
    let link = PULLS.with(|r| {
        r.borrow()
            .pulls
            .iter()
            .find(|e| &e.key == key)
            .map(|e| e._link.clone())
    });
    if let Some(link) = link {
        Link::tick(&link, super::super::now_ms());
    }
}

/// Starts the `static` pulls of `conf`: each worker tries, the one that claims the stream's
/// slot first pulls it; the others' players read it from the shared zone. The others try
/// again every [`STATIC_RETRY_MS`]: a static pull whose worker exits (a reload's old worker,
/// a crash) is taken over by another.
pub fn start_static(conf: &'static crate::conf::RtmpConf) {
    let any = conf.servers.iter().any(|s| {
        s.applications
            .iter()
            .any(|a| a.settings.relay.static_pulls().next().is_some())
    });
    if !any {
        return;
    }
    STATIC.with(|s| s.borrow_mut().conf = Some(conf));
    try_static();
}

/// The worker exits: every pull ends here (its publication finishes, its connection
/// closes), so that nothing is left open behind the worker.
pub fn stop_all() {
    let entries = PULLS.with(|r| std::mem::take(&mut r.borrow_mut().pulls));
    let now = super::super::now_ms();
    for e in &entries {
        if let Ok(mut p) = e.pull.try_borrow_mut() {
            p.core.stop(now);
            p.unpublish(now);
            p.reservation = None;
            p.done = true;
        }
    }
    // The links go with the entries: their connections close.
    drop(entries);
}

/// How often a worker tries to take the `static` pulls that no worker runs.
const STATIC_RETRY_MS: u64 = 1000;

#[derive(Default)]
struct StaticPulls {
    conf: Option<&'static crate::conf::RtmpConf>,
    timer: Option<Timer>,
}

thread_local! {
    static STATIC: RefCell<StaticPulls> = RefCell::new(StaticPulls::default());
}

fn try_static() {
    let Some(conf) = STATIC.with(|s| s.borrow().conf) else {
        return;
    };
    if crate::ngx::process::worker_exiting() {
        return;
    }
    for server in &conf.servers {
        for app in &server.applications {
            for target in app.settings.relay.static_pulls() {
                let key = StreamKey {
                    server: server as *const ServerConf as usize,
                    app: app.name.clone(),
                    name: target.name.clone(),
                };
                // A local publisher of the name has it already.
                let published_here = worker::with(|w| w.hub.handle_of(&key).is_some());
                if published_here || is_pulled_here(&key) {
                    continue;
                }
                if start(app, server, &key, vec![target.clone()], true) == Some(Started::Here) {
                    kick(&key);
                }
            }
        }
    }
    STATIC.with(|s| {
        s.borrow_mut()
            .timer
            .get_or_insert_with(|| Timer::new(on_static_timer))
            .arm(STATIC_RETRY_MS as nginx_sys::ngx_msec_t)
    });
}

unsafe extern "C" fn on_static_timer(_ev: *mut nginx_sys::ngx_event_t) {
    let _ = super::super::catch(try_static);
}

/// Why a stream's slot was not claimed.
enum Unclaimed {
    /// Another worker holds it.
    Elsewhere,
    /// The zone's lock stayed busy: another worker is claiming something right now.
    Contended,
}

/// Claims the stream's slot. `Ok(None)`: no zone or no free slot (the stream then plays on
/// this worker only).
fn claim(ring_key: &str, now: u64) -> Result<Option<SlotWriter<ShmRegion>>, Unclaimed> {
    let Some(zone) = worker::with(|w| w.zone) else {
        return Ok(None);
    };
    match shm::claim(
        zone.region,
        zone.layout,
        ring_key,
        owner_id(),
        now,
        is_alive,
    ) {
        Ok(w) => Ok(Some(w)),
        Err(ClaimError::Busy { .. }) => Err(Unclaimed::Elsewhere),
        Err(ClaimError::Contended) => Err(Unclaimed::Contended),
        Err(_) => Ok(None),
    }
}

/// One pulled stream in the shell: the link's driver.
pub struct ShellPull {
    core: Pull,
    app: &'static AppConf,
    server: &'static ServerConf,
    key: StreamKey,
    ring_key: String,
    /// The stream's publisher id in the hub.
    id: ClientId,
    is_static: bool,
    /// The stream's slot while the pull is not streaming (held so that no other worker
    /// starts a pull of its own meanwhile).
    reservation: Option<SlotWriter<ShmRegion>>,
    /// The local publication while the origin plays the stream to us.
    publication: Option<(StreamHandle, OutputFiles)>,
    /// Players whose play waits for the pull to stream.
    waiters: Vec<ClientId>,
    /// An answer some waiters could not get yet (their own handler was running: the pull
    /// failed at once, inside the play that started it); given at the next tick.
    retry_answer: Option<bool>,
    next_watch: u64,
    log: Log,
    done: bool,
}

impl ShellPull {
    /// Who watches: players here (live, waiting, or waiting for the pull) and readers of the
    /// stream's slot on other workers.
    fn watch(&mut self, now: u64) {
        self.next_watch = now + WATCH_MS;
        // A worker on its way out (a reload's old one) keeps a static pull only for its own
        // players: the new workers take it over once it closes.
        if self.is_static && crate::ngx::process::worker_exiting() {
            self.is_static = false;
        }
        let local = worker::with(|w| w.hub.players_of(&self.key)) + self.waiters.len();
        let watched = self.is_static || local > 0 || self.read_elsewhere(now);
        self.core.set_watched(now, watched);
        if let Some(r) = &mut self.reservation {
            if r.heartbeat(now).is_err() {
                self.reservation = None;
            }
        }
    }

    /// Whether a worker read the stream's slot lately.
    fn read_elsewhere(&self, now: u64) -> bool {
        let Some(zone) = worker::with(|w| w.zone) else {
            return false;
        };
        shm::find(zone.region, zone.layout, &self.ring_key).is_some_and(|r| {
            let at = r.wanted_at();
            at != 0 && now.saturating_sub(at) <= WANT_MS
        })
    }

    /// Executes what the pulled stream did.
    fn drain(&mut self) {
        while let Some(ev) = self.core.poll_event() {
            let now = super::super::now_ms();
            match ev {
                PullEvent::Playing => self.publish(now),
                PullEvent::Media {
                    type_id,
                    timestamp,
                    payload,
                } => self.media(type_id, timestamp, &payload),
                PullEvent::Ended => self.unpublish(now),
                PullEvent::AllFailed => self.answer_waiters(false),
            }
        }
    }

    /// Once the pull has nothing left to do (its ops are out): it is forgotten.
    fn check_done(&mut self) {
        if self.core.is_done() && !self.done {
            self.done = true;
            self.reservation = None;
            self.answer_waiters(false);
            log_info!(self.log, "rtmp: pull \"{}\" closed", self.key);
        }
    }

    /// The origin plays the stream: it is published here as a publisher's would be.
    fn publish(&mut self, now: u64) {
        if self.publication.is_some() {
            return;
        }
        let ring = match self.reservation.take() {
            Some(r) => Some(r),
            None => claim(&self.ring_key, now).ok().flatten(),
        };
        let pipeline = Pipeline::published(
            self.app.settings.gop_cache(),
            self.server.settings.chunk_size,
        );
        let (key, id, app, server, log) =
            (self.key.clone(), self.id, self.app, self.server, self.log);
        let taken = crate::ngx::tracks::taken_rendition_name(server, &key);
        let published = worker::with(|w| {
            let h = w.hub.publish(key.clone(), id, now, pipeline).ok()?;
            let players = w.hub.get(h).map(|s| s.players.clone()).unwrap_or_default();
            let s = w.hub.get_mut(h)?;
            let files = transcode::start_outputs(
                app,
                server,
                &key,
                ring,
                &mut s.pipeline,
                &mut w.counters,
                taken,
                log,
            );
            Some((h, files, players))
        });
        let Some((h, files, players)) = published else {
            log_warn!(
                self.log,
                "rtmp: pull \"{}\": the name is published here already; the pulled stream is \
                 dropped",
                self.key
            );
            return;
        };
        notify(&players, true);
        log_notice!(
            self.log,
            "rtmp: pull \"{}\" from {} publishes",
            self.key,
            self.core.endpoint().url
        );
        self.publication = Some((h, files));
        self.answer_waiters(true);
    }

    fn media(&mut self, type_id: u8, timestamp: u32, payload: &Bytes) {
        let Some((h, files)) = &mut self.publication else {
            return;
        };
        let msg = Incoming {
            type_id,
            timestamp,
            payload,
            now: file_ops::now(),
        };
        let (h, log) = (*h, self.log);
        worker::with(|w| ingest(w, h, msg, files, log));
    }

    /// The stream from the origin ended: the local publication ends (players get
    /// UnpublishNotify and wait for the pull's next stream), and the slot is claimed again
    /// while the pull reconnects.
    fn unpublish(&mut self, now: u64) {
        let Some((h, mut files)) = self.publication.take() else {
            return;
        };
        let log = self.log;
        let ended = worker::with(|w| {
            let mut s = w.hub.unpublish(h, true)?;
            s.pipeline.finish(file_ops::now());
            let done = files.run(&mut s.pipeline, log);
            w.counters.hls_segments += done.segments;
            w.counters.record_failed += done.record_failed;
            Some(s)
        });
        drop(files);
        if let Some(s) = ended {
            notify(&s.players, false);
            log_notice!(self.log, "rtmp: pull \"{}\" stopped publishing", self.key);
        }
        if self.core.is_watched() && self.reservation.is_none() && !self.done {
            self.reservation = claim(&self.ring_key, now).ok().flatten();
        }
    }

    /// Answers the players whose play waited for the pull. One whose own handler runs now
    /// (busy in the registry) keeps waiting for the next tick's answer.
    fn answer_waiters(&mut self, ok: bool) {
        let waiters = std::mem::take(&mut self.waiters);
        if waiters.is_empty() {
            return;
        }
        let key = &self.key;
        let busy: Vec<ClientId> = worker::clients(|clients| {
            waiters
                .into_iter()
                .filter(|&id| clients.with(id, |c| c.pull_ready(key, ok)).is_none())
                .collect()
        });
        if !busy.is_empty() {
            self.waiters = busy;
            self.retry_answer = Some(ok);
        }
    }
}

impl LinkDriver for ShellPull {
    fn endpoint(&self) -> &RelayEndpoint {
        self.core.endpoint()
    }

    fn stats(&self) -> RelayStats<'_> {
        self.core.stats()
    }

    fn deadline(&self) -> Option<u64> {
        if self.retry_answer.is_some() {
            return Some(0);
        }
        if self.done {
            return None;
        }
        Some(match self.core.deadline() {
            Some(d) => d.min(self.next_watch),
            None => self.next_watch,
        })
    }

    fn tick(&mut self, now_ms: u64) {
        if let Some(ok) = self.retry_answer.take() {
            self.answer_waiters(ok || self.publication.is_some());
        }
        if self.done {
            return;
        }
        if now_ms >= self.next_watch {
            self.watch(now_ms);
        }
        self.core.tick(now_ms);
        self.drain();
    }

    fn poll_op(&mut self) -> Option<LinkOp> {
        let op = self.core.poll_op();
        self.drain();
        if op.is_none() {
            self.check_done();
        }
        op
    }

    fn output(&mut self) -> Option<Bytes> {
        self.core.output()
    }

    fn set_unsent(&mut self, now_ms: u64, bytes: usize) {
        self.core.set_unsent(now_ms, bytes);
    }

    fn on_resolved(&mut self, now_ms: u64, result: Result<Vec<SocketAddr>, String>) {
        self.core.on_resolved(now_ms, result);
    }

    fn on_connected(&mut self, now_ms: u64) {
        self.core.on_connected(now_ms);
    }

    fn on_data(&mut self, now_ms: u64, data: &[u8]) {
        self.core.on_data(now_ms, data);
        self.drain();
    }

    fn on_error(&mut self, now_ms: u64, kind: ErrorKind, reason: &str) {
        self.core.on_error(now_ms, kind, reason);
        self.drain();
    }

    fn on_closed(&mut self, now_ms: u64) {
        self.core.on_closed(now_ms);
        self.drain();
    }
}
