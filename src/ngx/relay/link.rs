//! The connection of one relay: an outgoing [`Peer`] driven by a sans-IO [`LinkDriver`] (a
//! push or a pull), and the byte sink a push's [`PushOutput`](crate::relay::PushOutput)
//! writes into.
//!
//! A [`Link`] is shared (`Rc<RefCell<_>>`) by the stream's outputs (through [`PushSink`]), the
//! worker's relay ticker (a weak reference) and, while connected, the connection's event
//! handlers (its `data` points at the `RefCell`; the link owns the peer, so the connection is
//! closed before the link's memory goes). Everything runs on the worker's only thread.
//!
//! Writes never block: what the socket does not take waits in `unsent` and is told to the
//! push, whose queue then holds the stream back within `relay_buffer` — the publisher and
//! the local players never wait for a target.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::rc::{Rc, Weak};

use bytes::Bytes;
use nginx_sys::ngx_event_t;

use super::resolve::{resolve, Lookup, NameService, Resolving};
use crate::live::{ByteSink, StreamKey};
use crate::ngx::log::{Level, Log};
use crate::ngx::net::{ConnectError, Connected, Connection, LogError, Peer, Recv, Sent};
use crate::relay::{ErrorKind, LinkDriver, LinkOp, LogLevel, RelayKind};
use crate::stat::RelayStat;

/// Bytes read from the socket at a time (on the stack).
const RECV_CHUNK: usize = 16 * 1024;

/// One relay target's connection.
pub struct Link {
    driver: Rc<RefCell<dyn LinkDriver>>,
    peer: Option<Peer>,
    /// The TCP connection is established (not only started).
    connected: bool,
    /// Bytes the socket has not taken yet, in order.
    unsent: VecDeque<Bytes>,
    unsent_bytes: usize,
    log: Log,
    /// How names are resolved, and the lookup in flight (dropped: cancelled).
    names: NameService,
    lookup: Option<Lookup>,
    /// Itself, for the connection's handlers (which hold a strong reference while they run).
    me: Weak<RefCell<Link>>,
    /// The stream the relay belongs to and which side of it the relay is, for stat.
    owner: Option<(RelayKind, StreamKey)>,
}

pub type SharedLink = Rc<RefCell<Link>>;

impl Link {
    pub fn new(driver: Rc<RefCell<dyn LinkDriver>>, names: NameService) -> SharedLink {
        Rc::new_cyclic(|me| {
            RefCell::new(Link {
                driver,
                peer: None,
                connected: false,
                unsent: VecDeque::new(),
                unsent_bytes: 0,
                log: Log::cycle(),
                names,
                lookup: None,
                me: me.clone(),
                owner: None,
            })
        })
    }

    /// Shows the relay in stat under `stream`.
    pub fn set_owner(&mut self, kind: RelayKind, stream: StreamKey) {
        self.owner = Some((kind, stream));
    }

    /// The stream the relay belongs to and what stat shows of it (`now_ms`: the time in its
    /// state); None for a relay of no stream.
    pub fn stat(&self, now_ms: u64) -> Option<(&StreamKey, RelayStat)> {
        let (kind, stream) = self.owner.as_ref()?;
        let driver = self.driver.try_borrow().ok()?;
        let st = driver.stats();
        let stat = RelayStat {
            kind: match kind {
                RelayKind::Push => "push",
                RelayKind::Pull => "pull",
            }
            .to_owned(),
            state: st.state.as_str().to_owned(),
            target: st.target.to_owned(),
            addr: st.addr.map(|a| a.to_string()).unwrap_or_default(),
            bytes_out: st.bytes_out,
            bytes_in: st.bytes_in,
            reconnects: u64::from(st.reconnects),
            failures: u64::from(st.failures),
            last_error: st.last_error.unwrap_or_default().to_owned(),
            time_in_state_ms: now_ms.saturating_sub(st.since_ms),
            pid: 0,
        };
        Some((stream, stat))
    }

    /// When the push next wants a tick (now when an answer waits).
    pub fn deadline(&self) -> Option<u64> {
        if self.lookup.as_ref().is_some_and(Lookup::ready) {
            return Some(0);
        }
        self.driver.try_borrow().ok()?.deadline()
    }

    /// Time passed.
    pub fn tick(this: &SharedLink, now_ms: u64) {
        let Ok(mut link) = this.try_borrow_mut() else {
            return;
        };
        link.take_answer(now_ms);
        if let Ok(mut p) = link.driver.try_borrow_mut() {
            p.tick(now_ms);
        }
        link.process(this, now_ms);
    }

    /// The lookup in flight answered (nginx's resolver, from the event loop).
    fn on_lookup(this: &SharedLink) {
        let Ok(mut link) = this.try_borrow_mut() else {
            // The next tick picks the answer up.
            return;
        };
        let now = super::super::now_ms();
        link.take_answer(now);
        link.process(this, now);
    }

    /// Gives the driver the answer of the lookup in flight, if it is there.
    fn take_answer(&mut self, now_ms: u64) {
        let Some(answer) = self.lookup.as_ref().and_then(Lookup::answer) else {
            return;
        };
        self.lookup = None;
        if let Ok(mut p) = self.driver.try_borrow_mut() {
            p.on_resolved(now_ms, answer);
        }
    }

    /// Resolves `host` for the driver: answered now, or later ([`Link::on_lookup`], or a
    /// tick for a helper thread's answer).
    fn resolve(&mut self, host: &str, now_ms: u64) {
        self.lookup = None;
        let me = self.me.clone();
        let wake = Box::new(move || {
            if let Some(this) = me.upgrade() {
                Link::on_lookup(&this);
            }
        });
        match resolve(&self.names, host, wake) {
            Resolving::Answered(answer) => {
                if let Ok(mut p) = self.driver.try_borrow_mut() {
                    p.on_resolved(now_ms, answer);
                }
            }
            Resolving::Pending(lookup) => self.lookup = Some(lookup),
        }
    }

    /// Writes what the push has for the connection and executes its operations, until it
    /// has nothing more.
    fn process(&mut self, this: &SharedLink, now_ms: u64) {
        loop {
            self.drain_output(now_ms);
            let op = match self.driver.try_borrow_mut() {
                Ok(mut p) => p.poll_op(),
                Err(_) => None,
            };
            let Some(op) = op else { return };
            match op {
                LinkOp::Log { level, line } => self.log_line(level, &line),
                LinkOp::Resolve(host) => self.resolve(&host, now_ms),
                LinkOp::Connect(addr) => self.connect(this, addr, now_ms),
                LinkOp::Close => self.close(),
            }
        }
    }

    fn log_line(&self, level: LogLevel, line: &str) {
        let level = match level {
            // nginx's debug level needs a debug build: relay debug lines go nowhere.
            LogLevel::Debug => return,
            LogLevel::Info => Level::Info,
            LogLevel::Warn => Level::Warn,
            LogLevel::Error => Level::Err,
        };
        log_at!(self.log, level, "rtmp: {}", line);
    }

    fn connect(&mut self, this: &SharedLink, addr: SocketAddr, now_ms: u64) {
        self.close();
        let mut peer = Peer::new(self.log, addr, addr.to_string());
        let started = peer.connect();
        let connected = match started {
            Ok(c) => c,
            Err(e) => {
                let why = match e {
                    ConnectError::Refused(Some(errno)) => {
                        io::Error::from_raw_os_error(errno).to_string()
                    }
                    ConnectError::Refused(None) => "connection refused".to_owned(),
                    ConnectError::Failed => "no free connection or socket error".to_owned(),
                };
                if let Ok(mut p) = self.driver.try_borrow_mut() {
                    p.on_error(now_ms, ErrorKind::Connect, &why);
                }
                return;
            }
        };
        if let Some(c) = peer.connection() {
            c.set_handlers(on_event, on_event);
            // The relay logs what a failure means for it (once per state change): nginx's
            // own socket errors go to the info level.
            c.set_log_error(LogError::Info);
        }
        peer.set_data(Rc::as_ptr(this).cast_mut());
        self.peer = Some(peer);
        if connected == Connected::Now {
            self.on_established(now_ms);
        }
    }

    fn on_established(&mut self, now_ms: u64) {
        self.connected = true;
        if let Ok(mut p) = self.driver.try_borrow_mut() {
            p.on_connected(now_ms);
        }
    }

    /// Closes the connection (its events and timers go with it) and forgets what it held;
    /// a lookup in flight is cancelled.
    fn close(&mut self) {
        self.lookup = None;
        if let Some(mut peer) = self.peer.take() {
            // A polite end (FCUnpublish, deleteStream) goes out if the socket takes it now.
            self.flush_unsent();
            peer.close();
        }
        self.connected = false;
        self.unsent.clear();
        self.unsent_bytes = 0;
    }

    /// Moves the push's bytes to the socket (or to `unsent`), telling the push what waits
    /// each time: room on the socket lets the queue feed the session again.
    fn drain_output(&mut self, now_ms: u64) {
        loop {
            let unsent = self.unsent_bytes;
            let out = match self.driver.try_borrow_mut() {
                Ok(mut p) => {
                    p.set_unsent(now_ms, unsent);
                    p.output()
                }
                Err(_) => None,
            };
            let Some(out) = out else { break };
            self.write(out);
        }
    }

    /// Queues `data` after what waits and sends what the socket takes.
    fn write(&mut self, data: Bytes) {
        if data.is_empty() || self.peer.is_none() {
            return;
        }
        self.unsent_bytes += data.len();
        self.unsent.push_back(data);
        if self.connected {
            self.flush_unsent();
        }
    }

    /// Sends what waits; `false` when the socket failed.
    fn flush_unsent(&mut self) -> bool {
        let Some(c) = self.peer.as_ref().and_then(Peer::connection) else {
            return true;
        };
        while let Some(front) = self.unsent.front_mut() {
            match c.send(front) {
                Sent::Bytes(n) => {
                    let n = n.min(front.len());
                    self.unsent_bytes -= n;
                    if n == front.len() {
                        self.unsent.pop_front();
                    } else {
                        let _ = front.split_to(n);
                    }
                }
                Sent::WouldBlock => {
                    return c.arm_write().is_ok();
                }
                Sent::Error => return false,
            }
        }
        true
    }

    /// A read or write event of the connection.
    fn on_socket_event(&mut self, this: &SharedLink, now_ms: u64) {
        let Some(c) = self.peer.as_ref().and_then(Peer::connection) else {
            return;
        };
        if !self.connected {
            match c.pending_error() {
                None => self.on_established(now_ms),
                Some(errno) => {
                    let why = io::Error::from_raw_os_error(errno).to_string();
                    self.fail(this, now_ms, ErrorKind::Connect, &why);
                    return;
                }
            }
        }
        if !self.flush_unsent() {
            self.fail(this, now_ms, ErrorKind::Closed, "send failed");
            return;
        }
        let mut buf = [0u8; RECV_CHUNK];
        while let Some(c) = self.peer.as_ref().and_then(Peer::connection) {
            match c.recv(&mut buf) {
                Recv::Data(n) => {
                    if let Ok(mut p) = self.driver.try_borrow_mut() {
                        p.on_data(now_ms, buf.get(..n).unwrap_or_default());
                    }
                    // Answers (handshake, commands) go out, and the session may have
                    // closed the connection.
                    self.process(this, now_ms);
                }
                Recv::WouldBlock => {
                    if c.arm_read().is_err() {
                        self.fail(this, now_ms, ErrorKind::Closed, "could not arm read event");
                        return;
                    }
                    break;
                }
                Recv::Closed => {
                    self.close();
                    if let Ok(mut p) = self.driver.try_borrow_mut() {
                        p.on_closed(now_ms);
                    }
                    break;
                }
                Recv::Error => {
                    self.fail(this, now_ms, ErrorKind::Closed, "recv failed");
                    return;
                }
            }
        }
        self.process(this, now_ms);
    }

    fn fail(&mut self, this: &SharedLink, now_ms: u64, kind: ErrorKind, why: &str) {
        if let Ok(mut p) = self.driver.try_borrow_mut() {
            p.on_error(now_ms, kind, why);
        }
        self.process(this, now_ms);
    }
}

/// The read and write handler of relay connections.
unsafe extern "C" fn on_event(ev: *mut ngx_event_t) {
    // SAFETY: nginx calls this only for events of connections opened by `Link::connect`,
    // whose `data` is the `RefCell<Link>` of a live `Rc` (the link owns the peer, so the
    // connection is closed before that memory is freed).
    let cell = unsafe { &*Connection::data_of::<RefCell<Link>>(ev) };
    let _ = super::super::catch(|| {
        // A strong reference for the duration: nothing the handler does may free the link.
        let Some(this) = cell.try_borrow().ok().and_then(|l| l.me.upgrade()) else {
            return;
        };
        let Ok(mut link) = this.try_borrow_mut() else {
            return;
        };
        link.on_socket_event(&this, super::super::now_ms());
    });
}

/// The byte sink of a push output: the session's bytes go to the link's connection.
pub struct PushSink(pub SharedLink);

impl ByteSink for PushSink {
    fn send(&mut self, data: Bytes) -> io::Result<usize> {
        let len = data.len();
        let this = self.0.clone();
        if let Ok(mut link) = this.try_borrow_mut() {
            link.write(data);
            // The stream ended (a polite end was just written) or the push has more to do.
            link.process(&this, super::super::now_ms());
        }
        // Delivery is the link's business: the push bounds what waits.
        Ok(len)
    }

    fn flush(&mut self) -> io::Result<usize> {
        Ok(0)
    }

    fn pending(&self) -> usize {
        self.0.try_borrow().map_or(0, |l| l.unsent_bytes)
    }
}

impl Drop for PushSink {
    /// The stream's outputs are gone: what the push still asks (its "stopped" line, a close
    /// it had no bytes to send before) is done now, and the connection closed in any case.
    fn drop(&mut self) {
        let this = self.0.clone();
        let Ok(mut link) = this.try_borrow_mut() else {
            return;
        };
        link.process(&this, super::super::now_ms());
        link.close();
    }
}
