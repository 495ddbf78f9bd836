//! The connection of one relay: an outgoing [`Peer`] driven by a sans-IO [`LinkDriver`] (a
//! push or a pull), and the byte sink a push's [`PushOutput`](crate::relay::PushOutput)
//! writes into.
//!
//! A [`Link`] is shared (`Rc<RefCell<_>>`) by the stream's outputs (through [`PushSink`]), the
//! worker's relay ticker (a weak reference) and, while connected, the connection's event
//! handlers (its `data` points at the `RefCell`; the link owns the peer, so the connection is
//! closed before the link's memory goes). Everything runs on the worker's only thread.
//!
//! An `rtmps://` target gets TLS through nginx's OpenSSL once TCP is up ([`ClientContext`]):
//! while the handshake runs, nginx's handshake handler has the connection's events and calls
//! [`on_tls_done`] at its end; the push hears `on_connected` only when TLS is up and the
//! certificate accepted, and the session then runs over nginx's SSL `send`/`recv`.
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
use nginx_sys::{ngx_connection_t, ngx_event_t};

use super::resolve::{resolve, Lookup, NameService, Resolving};
use crate::live::{ByteSink, StreamKey};
use crate::ngx::log::{Level, Log};
use crate::ngx::net::{ConnectError, Connected, Connection, LogError, Peer, Recv, Sent};
use crate::ngx::ssl::client::{ClientContext, ClientTls, Step};
use crate::relay::{ErrorKind, LinkDriver, LinkOp, LogLevel, RelayKind};
use crate::stat::RelayStat;

/// Bytes read from the socket at a time (on the stack).
const RECV_CHUNK: usize = 16 * 1024;

/// One relay target's connection.
pub struct Link {
    driver: Rc<RefCell<dyn LinkDriver>>,
    peer: Option<Peer>,
    /// The connection carries the session: TCP established, and TLS up for `rtmps://`.
    connected: bool,
    /// The TLS client context of an `rtmps://` target.
    tls_context: Option<&'static ClientContext>,
    /// The connection's TLS, from the start of its handshake until it closes.
    tls: Option<ClientTls>,
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
                tls_context: None,
                tls: None,
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

    /// The TLS client context for an `rtmps://` target (from the application's settings);
    /// without one such a target fails each attempt.
    pub fn set_tls(&mut self, context: Option<&'static ClientContext>) {
        self.tls_context = context;
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
            if let Err(why) = self.on_tcp_up(now_ms) {
                // The caller goes on with the push's operations (the close it now asks).
                if let Ok(mut p) = self.driver.try_borrow_mut() {
                    p.on_error(now_ms, ErrorKind::Tls, &why);
                }
            }
        }
    }

    /// TCP is up: TLS starts for an `rtmps://` target, else the session does. `Err`: TLS
    /// failed, with the reason.
    fn on_tcp_up(&mut self, now_ms: u64) -> Result<(), String> {
        let tls = self.driver.try_borrow().is_ok_and(|p| p.endpoint().tls);
        if !tls {
            self.on_established(now_ms);
            return Ok(());
        }
        match self.start_tls()? {
            Step::Done => self.on_established(now_ms),
            // nginx drives the handshake and calls `on_tls_done`.
            Step::Again => {}
            Step::Failed(why) => return Err(why),
        }
        Ok(())
    }

    fn start_tls(&mut self) -> Result<Step, String> {
        let context = self
            .tls_context
            .ok_or("no TLS client context for this relay")?;
        let host = match self.driver.try_borrow() {
            Ok(p) => p.endpoint().host.clone(),
            Err(_) => return Err("relay busy".into()),
        };
        let c = self
            .peer
            .as_ref()
            .and_then(Peer::connection)
            .ok_or("no connection")?;
        let (tls, step) = context.start(c, &host, on_tls_done);
        self.tls = Some(tls);
        Ok(step)
    }

    /// The TLS handshake that nginx drove ended.
    fn on_handshake(&mut self, this: &SharedLink, now_ms: u64) {
        let step = {
            let (Some(c), Some(tls)) =
                (self.peer.as_ref().and_then(Peer::connection), &mut self.tls)
            else {
                return;
            };
            // nginx's handshake handler had the connection's events: they are the link's again.
            c.set_handlers(on_event, on_event);
            tls.resume(c)
        };
        match step {
            Step::Done => {
                self.on_established(now_ms);
                // What the session sends first goes out, and what came with the handshake's
                // end is read.
                self.on_socket_event(this, now_ms);
            }
            Step::Again => {}
            Step::Failed(why) => self.fail(this, now_ms, ErrorKind::Tls, &why),
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
        // A polite end (FCUnpublish, deleteStream) goes out if the socket takes it now.
        if self.connected {
            self.flush_unsent();
        }
        if let Some(mut peer) = self.peer.take() {
            if let (Some(tls), Some(c)) = (self.tls.take(), peer.connection()) {
                tls.close(c);
            }
            peer.close();
        }
        self.tls = None;
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
                None => {
                    if let Err(why) = self.on_tcp_up(now_ms) {
                        self.fail(this, now_ms, ErrorKind::Tls, &why);
                        return;
                    }
                    if !self.connected {
                        // TLS handshaking: nginx has the connection's events until it ends.
                        return;
                    }
                }
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

/// What nginx calls when the TLS handshake of a relay connection ends, either way.
unsafe extern "C" fn on_tls_done(c: *mut ngx_connection_t) {
    // SAFETY: nginx calls this only for connections whose TLS `Link::start_tls` started: live
    // connections opened by `Link::connect`, whose `data` is the `RefCell<Link>` of a live
    // `Rc` (as in `on_event`).
    let cell = unsafe { &*(*c).data.cast::<RefCell<Link>>() };
    let _ = super::super::catch(|| {
        let Some(this) = cell.try_borrow().ok().and_then(|l| l.me.upgrade()) else {
            return;
        };
        let Ok(mut link) = this.try_borrow_mut() else {
            return;
        };
        link.on_handshake(&this, super::super::now_ms());
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

impl Drop for Link {
    /// The TLS state and the connection never outlive the link.
    fn drop(&mut self) {
        self.close();
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
