//! Per-worker state. nginx workers are single-threaded processes, so a thread-local is the
//! worker's own; nothing here is shared between workers.

use std::cell::RefCell;
use std::collections::HashMap;

use nginx_sys::{ngx_cycle_t, ngx_int_t, NGX_OK};

use super::conf::ParseState;
use super::conn::Conn;
use super::remote::{Feed, Want};
use super::shm::Zone;
use crate::live::{ClientId, Hub, StreamKey};

/// Size of the buffer every connection of the worker reads into.
pub const RECV_BUF: usize = 64 * 1024;

pub struct Worker {
    pub hub: Hub,
    /// Every live connection of the worker, to deliver media to players.
    pub conns: HashMap<ClientId, *mut Conn>,
    /// The live shared-memory zone (None without `live on` anywhere).
    pub zone: Option<Zone>,
    /// Streams of other workers mirrored for players of this one.
    pub feeds: Vec<Feed>,
    /// Names players wait for that no worker publishes yet.
    pub waiting_wants: HashMap<StreamKey, Want>,
    /// Counters for the stat page ([`super::stat_snapshot`]).
    pub counters: Counters,
    accepted: u64,
}

/// Per-worker counters that outlive connections and streams.
#[derive(Default)]
pub struct Counters {
    /// Refused publish requests by reason.
    pub rejected_publish: HashMap<&'static str, u64>,
    /// Accepted connections per server block (keyed by the `ServerConf` address).
    pub accepted_by_server: HashMap<usize, u64>,
    /// HLS segments completed.
    pub hls_segments: u64,
}

/// Counts a refused publish request (stat and Prometheus `rtmp_publish_rejected_total`).
pub fn count_rejected_publish(reason: &'static str) {
    with(|w| *w.counters.rejected_publish.entry(reason).or_default() += 1);
}

impl Worker {
    /// RTMP connections this worker accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted
    }

    pub fn count_accepted(&mut self) {
        self.accepted += 1;
    }
}

thread_local! {
    static WORKER: RefCell<Worker> = RefCell::new(Worker {
        hub: Hub::new(),
        conns: HashMap::new(),
        zone: None,
        feeds: Vec::new(),
        waiting_wants: HashMap::new(),
        counters: Counters {
            rejected_publish: HashMap::new(),
            accepted_by_server: HashMap::new(),
            hls_segments: 0,
        },
        accepted: 0,
    });
    static RECV: RefCell<Vec<u8>> = RefCell::new(vec![0; RECV_BUF]);
}

/// Runs `f` with the worker state. Not reentrant: `f` must not call back into `with`.
pub fn with<T>(f: impl FnOnce(&mut Worker) -> T) -> T {
    WORKER.with(|w| f(&mut w.borrow_mut()))
}

/// Runs `f` with the worker's receive buffer.
pub fn with_recv_buf<T>(f: impl FnOnce(&mut [u8]) -> T) -> T {
    RECV.with(|b| f(&mut b.borrow_mut()))
}

/// `init_process`: a worker starts; it finds the live zone of its cycle.
pub unsafe extern "C" fn init_process(cycle: *mut ngx_cycle_t) -> ngx_int_t {
    let _ = super::catch(|| {
        // SAFETY: the core module's slot in the cycle's `conf_ctx` holds the `ParseState`
        // of the `rtmp {}` block (or null without one), alive as long as the cycle.
        let state = unsafe {
            let index = (*std::ptr::addr_of!(super::module::ngx_rtmp_rs_module)).index;
            (*(*cycle).conf_ctx.add(index)).cast::<ParseState>()
        };
        if state.is_null() {
            return;
        }
        // SAFETY: as above; the zone was mapped and initialised before workers start.
        let zone = unsafe { super::shm::attach((*state).shm_zone) };
        with(|w| w.zone = zone);
        // SAFETY: as above; the board zone and the configuration live as long as the cycle.
        unsafe { super::stat_snapshot::init((*state).stat_zone, &(*state).conf) };
    });
    NGX_OK as ngx_int_t
}
