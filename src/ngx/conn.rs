//! One RTMP connection: nginx socket I/O and timers around the sans-IO [`Session`].
//!
//! Data flow: the read handler drains the socket (epoll is edge-triggered) into
//! [`Session::feed`], answers the session's requests with the server's policy ([`policy`]),
//! then writes whatever the session wants sent. Partial writes keep their tail and arm the
//! write event. The read event's timer follows [`Session::poll_timeout`].

use std::collections::VecDeque;
use std::io::IoSlice;
use std::ptr::NonNull;

use bytes::Bytes;
use nginx_sys::ngx_event_t;

use super::log::Level;
use super::net::{Connection, LogError, Recv, Sent};
use super::now_ms as now;
use super::policy::{Policy, Route};
use super::worker::{self, Client, ClientCard, RecorderCard};
use crate::conf::ServerConf;
use crate::http::{HttpError, Response};
use crate::live::{Delivery, StreamKey};
use crate::rtmp::{
    Blame, InputState, Limits, ReadPacing, ReadPlan, Session, SessionConfig, SessionError,
};

/// A connection whose unsent output exceeds this is too slow to keep.
const MAX_PENDING_OUTPUT: usize = 8 * 1024 * 1024;
/// How long a closing connection may take to receive its last messages.
const LINGER_MS: nginx_sys::ngx_msec_t = 5_000;

pub struct Conn {
    c: Connection,
    session: Session,
    policy: Policy,
    out: VecDeque<Bytes>,
    /// Bytes of `out.front()` already sent.
    out_sent: usize,
    out_len: usize,
    closing: bool,
    send_timeout_ms: nginx_sys::ngx_msec_t,
    /// Whether the last flush wrote anything (re-arms the send timeout).
    progressed: bool,
    /// Its stream was taken over by another publisher: close.
    evicted: bool,
    /// `play_flush_interval`; `flush_deferred`: waiting for the worker's flush timer.
    flush_interval_ms: nginx_sys::ngx_msec_t,
    flush_deferred: bool,
    /// `publish_read_interval`: when the socket is worth reading ([`crate::rtmp::read_pacing`]).
    pacing: ReadPacing,
    read_plan: ReadPlan,
    /// The socket's `SO_RCVLOWAT` (1, the kernel's default, until changed).
    low_water: usize,
}

/// Why a connection ends.
enum End {
    PeerClosed,
    /// The peer does not take what it is sent.
    Slow(&'static str),
    Session(SessionError),
    Io(&'static str),
    Finished,
}

pub(super) fn session_config(server: &ServerConf) -> SessionConfig {
    let s = &server.settings;
    let defaults = SessionConfig::default();
    SessionConfig {
        chunk_size: s.chunk_size,
        ack_window: s.ack_window,
        timeout_ms: s.timeout_ms,
        // The handshake deadline never exceeds the connection timeout.
        handshake_timeout_ms: defaults.handshake_timeout_ms.min(s.timeout_ms),
        ping_ms: s.ping_ms,
        ping_timeout_ms: s.ping_timeout_ms,
        max_streams: s.max_streams,
        limits: Limits {
            max_message: s.max_message,
            ..defaults.limits
        },
    }
}

/// A client connected (after its TLS handshake on a `listen ... ssl` socket): its RTMP
/// session starts and reads what already arrived (after TLS, OpenSSL may hold it with nothing
/// left in the socket to wake the read event).
pub(super) fn begin(c: Connection, server: &ServerConf) {
    let conn = start(c, server);
    // SAFETY: `start` made `conn`, which nothing else uses yet.
    unsafe { read(conn) };
}

/// Makes the `Conn` of a new connection, registers it and hands the connection's events to
/// it: the caller runs its first read.
fn start(c: Connection, server: &ServerConf) -> *mut Conn {
    worker::with(|w| w.counters.accepted += 1);
    // nginx's connection number: unique across the workers of a master, and the id the stat
    // page, rtmp_control and the callbacks' `clientid` show.
    let id = c.number();
    let seed = ((nginx_sys::ngx_random() as u64) << 32) ^ id;
    // The connection's log lives as long as the connection, which owns the policy.
    let log = c.log();
    let policy = Policy::new(server, log, id, c.addr_text(), c.peer_ip());
    c.set_log_error(LogError::Info);
    c.set_handlers(read_handler, write_handler);
    // The socket's low-water mark counts TLS records, not the session's bytes: a TLS client
    // is read as soon as anything arrives.
    let read_interval = if c.is_tls() {
        0
    } else {
        server.settings.publish_read_interval_ms
    };
    let conn = Box::new(Conn {
        c,
        session: Session::new(session_config(server), now(), seed),
        policy,
        out: VecDeque::new(),
        out_sent: 0,
        out_len: 0,
        closing: false,
        send_timeout_ms: server.settings.timeout_ms as nginx_sys::ngx_msec_t,
        progressed: false,
        evicted: false,
        flush_interval_ms: server.settings.play_flush_interval_ms as nginx_sys::ngx_msec_t,
        flush_deferred: false,
        pacing: ReadPacing::new(read_interval),
        read_plan: ReadPlan::EAGER,
        low_water: 1,
    });
    log_info!(log, "rtmp: client {} connected", id);
    let conn = Box::into_raw(conn);
    // The handlers find the `Conn` through `data`; the box is freed by `finish`.
    // SAFETY: `conn` is the allocation just released from its box, used by nothing else.
    unsafe { (*conn).c.set_data(conn) };
    let client: *mut dyn Client = conn;
    // SAFETY: the `Conn` lives until `finish`, which unregisters it first, and its handlers
    // mark it busy while they hold it (`run`).
    worker::clients(|c| unsafe { c.register(id, NonNull::new_unchecked(client)) });
    conn
}

unsafe extern "C" fn read_handler(rev: *mut ngx_event_t) {
    // SAFETY: nginx calls this only for connections set up by `start`, whose `data` is their
    // `Conn` until `finish` frees it.
    unsafe { read(Connection::data_of(rev)) };
}

unsafe extern "C" fn write_handler(wev: *mut ngx_event_t) {
    // SAFETY: as in `read_handler`.
    unsafe { run(Connection::data_of(wev), Conn::on_write) };
}

/// Runs the read side of `conn`.
///
/// # Safety
/// As for [`run`].
unsafe fn read(conn: *mut Conn) {
    // SAFETY: the caller's contract.
    unsafe { run(conn, Conn::on_read) };
    // Reads are where clients connect, publish, play and leave.
    let _ = super::catch(|| worker::with(|w| super::stat_snapshot::note_changes(w)));
}

/// Runs `handler` on `conn`, then closes the connection if the handler decided so.
///
/// # Safety
/// `conn` must be a `Conn` made by `start` and not yet finished, with no reference to it in
/// use; it is freed when the handler ends the connection.
unsafe fn run(conn: *mut Conn, handler: fn(&mut Conn) -> Option<End>) {
    let end = super::catch(|| {
        // SAFETY: the caller's contract; the reference ends with the closure.
        let conn = unsafe { &mut *conn };
        // Not handed out by the registry while this reference is in use.
        let _busy = worker::clients(|c| c.enter(conn.policy.client_id()));
        handler(conn)
    })
    .unwrap_or(Some(End::Io("panic")));
    if let Some(end) = end {
        // SAFETY: the caller's contract: ownership goes back to a box exactly once, and
        // `finish` closes the connection, so no handler finds the `Conn` again.
        finish(unsafe { Box::from_raw(conn) }, end);
    }
}

/// Ends a connection: its streams end, the socket closes, the `Conn` is freed.
fn finish(conn: Box<Conn>, end: End) {
    worker::clients(|c| c.unregister(conn.policy.client_id()));
    let _ = super::catch(|| conn.log_end(&end));
    let Conn { c, policy, .. } = *conn;
    let _ = super::catch(move || policy.on_close());
    c.close_accepted();
    worker::with(|w| super::stat_snapshot::note_changes(w));
}

impl Client for Conn {
    /// A live message of a stream this connection plays on `stream_id`. Called from the
    /// publisher's (or the shared-memory reader's) context: queues, never writes or closes here;
    /// the write happens in this connection's posted write handler, so that all messages of an
    /// event loop iteration go out in one `writev`.
    fn deliver(&mut self, stream_id: u32, d: &Delivery) {
        let pending = self.session.pending_bytes() + self.out_len;
        let queued = match self.policy.route(stream_id, d, pending) {
            Route::Send(msg) => self.session.send_prepared(stream_id, msg),
            Route::Skip => false,
            Route::Fail(description) => self.session.fail_play(stream_id, &description),
        };
        if queued {
            if self.flush_interval_ms == 0 {
                self.post_write();
            } else if !self.flush_deferred {
                self.flush_deferred = true;
                super::fanout::defer_flush(self.policy.client_id(), self.flush_interval_ms);
            }
        }
    }

    /// The worker's flush timer: write what `deliver` queued.
    fn flush_now(&mut self) {
        self.flush_deferred = false;
        self.post_write();
    }

    /// The publisher of the stream played on `stream_id` left (`published == false`) or came
    /// back.
    fn notify(&mut self, stream_id: u32, published: bool) {
        if published {
            self.session.send_publish_notify(stream_id);
        } else {
            // StreamEOF + NetStream.Play.UnpublishNotify: ffmpeg/ffplay end on it, Flash-era
            // players wait for PublishNotify.
            self.session.send_unpublish_notify(stream_id);
        }
        self.policy.reset_queue(stream_id);
        self.post_write();
    }

    fn pull_ready(&mut self, key: &StreamKey, ok: bool) {
        self.policy.pull_ready(&mut self.session, key, ok, now());
        self.post_write();
    }

    /// Another client takes over a stream this one publishes: end that publication now and
    /// close this connection from its own handler.
    fn evict(&mut self, key: &StreamKey) {
        if self.policy.end_publication_of(key) {
            self.evicted = true;
            // The posted read handler closes the connection.
            self.post_read();
        }
    }

    /// The HTTP callback a request of this connection waited for answered: decide, then let
    /// this connection's own read handler send the answer and go on.
    fn notified(&mut self, result: Result<Response, HttpError>) {
        self.policy.notified(&mut self.session, result, now());
        self.post_read();
    }

    fn updated(&mut self, result: Result<Response, HttpError>) {
        self.policy.updated(result, now());
        // The read handler closes it when the update refused it, or re-arms its timer.
        self.post_read();
    }

    /// Closes the connection from its own read handler, soon (`rtmp_control drop`): it stops
    /// reading, sends what is queued and ends; its streams end as on a disconnect.
    fn request_close(&mut self) {
        if self.closing {
            return;
        }
        self.closing = true;
        log_info!(
            self.c.log(),
            "rtmp: client {} dropped by rtmp_control",
            self.policy.client_id()
        );
        // The posted read handler finishes the connection (never freed from here).
        self.post_read();
    }

    fn redirect(&mut self, what: crate::stat::RedirectWhat<'_>, newname: &str) -> bool {
        if self.closing {
            return false;
        }
        let moved = self
            .policy
            .redirect(&mut self.session, what, newname, now());
        if moved {
            // Its handlers send what the new play or publish produced.
            self.post_read();
        }
        moved
    }

    fn card(&self) -> ClientCard<'_> {
        let p = &self.policy;
        ClientCard {
            number: self.c.number(),
            server: p.server() as *const ServerConf as usize,
            app: p.app_name(),
            addr: p.addr(),
            flashver: p.flashver(),
            tls: self.c.is_tls(),
            http: false,
            bytes_in: self.session.bytes_received(),
            bytes_out: self.session.bytes_sent(),
            publications: p.publications().collect(),
            playbacks: p.playbacks().collect(),
            recordings: p
                .recordings()
                .map(|(stream, r)| RecorderCard {
                    stream,
                    handle: r.handle(),
                    settings: r.settings(),
                    failed: r.failed_file().map(|p| p.as_path()),
                })
                .collect(),
        }
    }
}

impl Conn {
    /// Runs the read handler later in this event loop iteration: never frees the connection
    /// from here.
    fn post_read(&mut self) {
        self.c.read_event().post();
    }

    /// Runs the write handler later in this event loop iteration.
    fn post_write(&mut self) {
        self.c.write_event().post();
    }

    fn log_end(&self, end: &End) {
        let id = self.policy.client_id();
        let log = self.c.log();
        match end {
            End::PeerClosed | End::Finished => {
                log_info!(log, "rtmp: client {} disconnected", id);
            }
            End::Slow(what) => {
                log_info!(log, "rtmp: client {} closed: {}", id, what);
            }
            End::Io(what) => {
                log_err!(log, "rtmp: client {} closed: {}", id, what);
            }
            End::Session(e) => {
                let level = match e.blame() {
                    Blame::PeerMalformed | Blame::PeerMisbehaved => Level::Warn,
                    Blame::Unsupported => Level::Info,
                    Blame::Local => Level::Err,
                };
                log_at!(log, level, "rtmp: client {} closed: {}", id, e);
            }
        }
    }

    fn on_read(&mut self) -> Option<End> {
        if self.evicted {
            return Some(End::Slow(
                "publisher replaced by a new one (publish_takeover)",
            ));
        }
        // A timer wake also marks the socket readable (data may wait below the low-water mark).
        if self.c.take_read_timeout() {
            if self.closing {
                return Some(End::Slow("timed out while closing"));
            }
            if let Err(e) = self.session.handle_timeout(now()) {
                return Some(self.fail(e));
            }
        }
        if !self.closing {
            if let Some(end) = self.drain_socket() {
                return Some(end);
            }
            self.pace_reads();
        }
        self.after_io()
    }

    /// Sets the socket's low-water mark and the read deadline for what the session now
    /// expects (a syscall only when the mark changes).
    fn pace_reads(&mut self) {
        let input = InputState {
            received: self.session.bytes_received(),
            publishing: self.session.is_publisher(),
            wanted: self.session.bytes_wanted(),
            keyframe_pending: self.session.keyframe_pending(),
            last_keyframe: self.policy.last_keyframe(),
        };
        self.read_plan = self.pacing.plan(now(), input);
        let want = self.read_plan.low_water;
        if want == self.low_water {
            return;
        }
        if self.c.set_low_water(want).is_ok() {
            self.low_water = want;
        } else {
            // Not a TCP socket (a unix listener): read every message, as with interval 0.
            self.pacing = ReadPacing::new(0);
            self.read_plan = ReadPlan::EAGER;
        }
    }

    fn on_write(&mut self) -> Option<End> {
        if self.c.write_event().timedout() {
            return Some(End::Slow("send timed out"));
        }
        self.after_io()
    }

    /// Reads until the socket would block, feeding the session. Events the session raised
    /// outside a read (after a callback's answer resumed it) are handled first.
    fn drain_socket(&mut self) -> Option<End> {
        if let Some(end) = self.handle_events() {
            return Some(end);
        }
        worker::with_recv_buf(|buf| loop {
            let n = match self.c.recv(buf) {
                Recv::Data(n) => n,
                Recv::WouldBlock => {
                    // Re-arms the (edge-triggered) read event.
                    if self.c.arm_read().is_err() {
                        return Some(End::Io("could not arm read event"));
                    }
                    return None;
                }
                Recv::Closed => return Some(End::PeerClosed),
                // Reset by peer, logged by nginx.
                Recv::Error => return Some(End::PeerClosed),
            };
            let data = buf.get(..n).unwrap_or_default();
            if let Err(e) = self.session.feed(now(), data) {
                return Some(self.fail(e));
            }
            if let Some(end) = self.handle_events() {
                return Some(end);
            }
            if self.closing || self.session.is_closing() {
                return None;
            }
        })
    }

    /// Answers every request the session raised.
    fn handle_events(&mut self) -> Option<End> {
        while let Some(event) = self.session.poll_event() {
            if let Err(e) = self.policy.on_event(&mut self.session, event, now()) {
                return Some(End::Io(e));
            }
        }
        None
    }

    /// The session failed: it may still have a last message (an error status) to send.
    fn fail(&mut self, e: SessionError) -> End {
        self.queue_output();
        let _ = self.flush();
        End::Session(e)
    }

    fn queue_output(&mut self) {
        while let Some(b) = self.session.poll_transmit() {
            self.out_len += b.len();
            self.out.push_back(b);
        }
    }

    /// Writes queued output with `writev` until done or the socket would block. Returns
    /// whether everything went out.
    fn flush(&mut self) -> Result<bool, End> {
        const MAX_IOV: usize = 64;
        while !self.out.is_empty() {
            let mut iov = [IoSlice::new(&[]); MAX_IOV];
            let mut n_iov = 0;
            for (slot, (i, b)) in iov.iter_mut().zip(self.out.iter().enumerate()) {
                let part = if i == 0 {
                    b.get(self.out_sent..).unwrap_or_default()
                } else {
                    &b[..]
                };
                *slot = IoSlice::new(part);
                n_iov += 1;
            }
            let mut n = match self.c.writev(&iov[..n_iov]) {
                Sent::Bytes(n) => n,
                Sent::WouldBlock => return Ok(false),
                Sent::Error => return Err(End::PeerClosed),
            };
            self.out_len -= n;
            self.progressed |= n > 0;
            while n > 0 {
                let Some(front) = self.out.front() else { break };
                let left = front.len() - self.out_sent;
                if n >= left {
                    n -= left;
                    self.out.pop_front();
                    self.out_sent = 0;
                } else {
                    self.out_sent += n;
                    n = 0;
                }
            }
        }
        // A join burst queues hundreds of pieces; don't keep that capacity per player.
        if self.out.capacity() > 64 {
            self.out.shrink_to(16);
        }
        if self.c.tls_pending() {
            // Bytes that TLS took wait in its buffer until the socket takes them.
            if self.c.writev(&[]) == Sent::Error {
                return Err(End::PeerClosed);
            }
            return Ok(!self.c.tls_pending());
        }
        Ok(true)
    }

    /// Sends what the session produced, arms events and timers, decides whether to close.
    fn after_io(&mut self) -> Option<End> {
        if let Some(why) = self.policy.publisher_gone(now()) {
            return Some(End::Slow(why));
        }
        if self.policy.update_dropped() {
            return Some(End::Slow("dropped by on_update"));
        }
        self.policy.poll_update(now());
        self.queue_output();
        self.progressed = false;
        let all_sent = match self.flush() {
            Ok(done) => done,
            Err(end) => return Some(end),
        };
        if self.out_len > MAX_PENDING_OUTPUT {
            return Some(End::Slow("client does not read its data"));
        }
        if self.session.is_closing() && !self.closing {
            self.closing = true;
        }
        if self.closing && all_sent {
            return Some(End::Finished);
        }
        let wev = self.c.write_event();
        if !all_sent {
            if self.c.arm_write().is_err() {
                return Some(End::Io("could not arm write event"));
            }
            // A peer that takes nothing for `timeout` is closed (send timeout).
            if !wev.timer_set() || self.progressed {
                wev.add_timer(self.send_timeout_ms);
            }
        } else {
            wev.del_timer();
        }
        let rev = self.c.read_event();
        if self.closing {
            rev.add_timer(LINGER_MS);
        } else if let Some(at) = [
            self.session.poll_timeout(),
            self.policy.idle_deadline(),
            self.policy.update_deadline(),
            self.read_plan.deadline_ms,
        ]
        .into_iter()
        .flatten()
        .min()
        {
            let ms = at.saturating_sub(now()).max(1) as nginx_sys::ngx_msec_t;
            // nginx leaves a timer alone when it would move by less than 300 ms
            // (NGX_TIMER_LAZY_DELAY); the read deadline must move with each read.
            if Some(at) == self.read_plan.deadline_ms {
                rev.reset_timer(ms);
            } else {
                rev.add_timer(ms);
            }
        } else {
            rev.del_timer();
        }
        None
    }
}
