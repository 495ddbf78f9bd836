//! One RTMP connection: nginx socket I/O and timers around the sans-IO [`Session`].
//!
//! Data flow: the read handler drains the socket (epoll is edge-triggered) into
//! [`Session::feed`], answers the session's requests with the server's policy ([`policy`]),
//! then writes whatever the session wants sent. Partial writes keep their tail and arm the
//! write event. The read event's timer follows [`Session::poll_timeout`].

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::Bytes;
use nginx_sys::{
    ngx_add_timer, ngx_close_connection, ngx_connection_t, ngx_del_timer, ngx_destroy_pool,
    ngx_event_t, ngx_handle_read_event, ngx_handle_write_event, ngx_post_event, NGX_AGAIN,
};

use super::log::{Level, Log};
use super::now_ms as now;
use super::policy::Policy;
use super::worker;
use crate::conf::ServerConf;
use crate::live::{MediaInfo, StreamKey};
use crate::rtmp::chunk::PreparedMessage;
use crate::rtmp::{
    Blame, InputState, Limits, ReadPacing, ReadPlan, Session, SessionConfig, SessionError,
};

/// A connection whose unsent output exceeds this is too slow to keep.
const MAX_PENDING_OUTPUT: usize = 8 * 1024 * 1024;
/// How long a closing connection may take to receive its last messages.
const LINGER_MS: nginx_sys::ngx_msec_t = 5_000;

pub struct Conn {
    c: *mut ngx_connection_t,
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

fn session_config(server: &ServerConf) -> SessionConfig {
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

/// `ls->handler`: a client connected to an `rtmp {}` listen socket.
pub unsafe extern "C" fn init(c: *mut ngx_connection_t) {
    let ok = super::catch(|| {
        // SAFETY: nginx hands us a fully set up accepted connection whose listening socket is
        // one of ours, so `servers` points at a `ServerConf` alive for the cycle.
        let (server, log, number) = unsafe {
            let server = &*(*(*c).listening).servers.cast::<ServerConf>();
            (server, (*c).log, (*c).number)
        };
        worker::with(|w| w.count_accepted());
        // nginx's connection number: unique across the workers of a master, and the id the
        // stat page, rtmp_control and the callbacks' `clientid` show.
        let id = number;
        let seed = ((nginx_sys::ngx_random() as u64) << 32) ^ number;
        // SAFETY: the connection's log lives as long as the connection, which owns the policy.
        let policy_log = unsafe { Log::from_raw(log) }.unwrap_or_else(Log::cycle);
        let conn = Box::new(Conn {
            c,
            session: Session::new(session_config(server), now(), seed),
            policy: Policy::new(server, policy_log, id, addr_text(c), peer_ip(c)),
            out: VecDeque::new(),
            out_sent: 0,
            out_len: 0,
            closing: false,
            send_timeout_ms: server.settings.timeout_ms as nginx_sys::ngx_msec_t,
            progressed: false,
            evicted: false,
            flush_interval_ms: server.settings.play_flush_interval_ms as nginx_sys::ngx_msec_t,
            flush_deferred: false,
            pacing: ReadPacing::new(server.settings.publish_read_interval_ms),
            read_plan: ReadPlan::EAGER,
            low_water: 1,
        });
        log_info!(policy_log, "rtmp: client {} connected", id);
        let conn = Box::into_raw(conn);
        worker::with(|w| w.conns.insert(id, conn));
        // SAFETY: `c` is ours until we close it; the handlers find the `Conn` through `data`.
        unsafe {
            (*c).data = conn.cast();
            (*c).set_log_error(nginx_sys::ngx_connection_log_error_e_NGX_ERROR_INFO);
            (*(*c).read).handler = Some(read_handler);
            (*(*c).write).handler = Some(write_handler);
            read_handler((*c).read);
        }
    });
    if ok.is_none() {
        // SAFETY: the panic happened before `data` was set or in the read handler, which closes
        // on its own panics; closing a connection we never registered is what nginx expects.
        unsafe { close_raw(c) };
    }
}

fn addr_text(c: *mut ngx_connection_t) -> String {
    // SAFETY: `addr_text` is set by nginx for listeners with `addr_ntop` and lives in the
    // connection's pool.
    let s = unsafe { &(*c).addr_text };
    String::from_utf8_lossy(s.as_bytes()).into_owned()
}

/// The client's IP address.
fn peer_ip(c: *mut ngx_connection_t) -> Option<IpAddr> {
    // SAFETY: an accepted connection's `sockaddr`/`socklen` describe its peer address.
    unsafe {
        let sa = (*c).sockaddr;
        if sa.is_null() {
            return None;
        }
        match i32::from((*sa).sa_family) {
            libc::AF_INET => {
                let sin = &*sa.cast::<libc::sockaddr_in>();
                Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                    sin.sin_addr.s_addr,
                ))))
            }
            libc::AF_INET6 => {
                let sin6 = &*sa.cast::<libc::sockaddr_in6>();
                Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
            }
            _ => None,
        }
    }
}

/// # Safety
/// `ev` must be a read or write event of a connection created by [`init`] and not closed.
unsafe fn conn_of<'a>(ev: *mut ngx_event_t) -> &'a mut Conn {
    // SAFETY: see the contract; `data` holds our `Box<Conn>` until `close`.
    unsafe { &mut *(*(*ev).data.cast::<ngx_connection_t>()).data.cast::<Conn>() }
}

unsafe extern "C" fn read_handler(rev: *mut ngx_event_t) {
    // SAFETY: nginx calls this only for connections set up by `init`.
    let conn: *mut Conn = unsafe { conn_of(rev) };
    // SAFETY: `conn` is valid until `finish` frees it, which happens last.
    let end = super::catch(|| unsafe { (*conn).on_read() }).unwrap_or(Some(End::Io("panic")));
    // SAFETY: as above.
    unsafe { finish(conn, end) };
    // Reads are where clients connect, publish, play and leave.
    worker::with(|w| super::stat_snapshot::note_changes(w));
}

unsafe extern "C" fn write_handler(wev: *mut ngx_event_t) {
    // SAFETY: nginx calls this only for connections set up by `init`.
    let conn: *mut Conn = unsafe { conn_of(wev) };
    // SAFETY: `conn` is valid until `finish` frees it, which happens last.
    let end = super::catch(|| unsafe { (*conn).on_write() }).unwrap_or(Some(End::Io("panic")));
    // SAFETY: as above.
    unsafe { finish(conn, end) };
}

/// Closes the connection if the handler decided so.
///
/// # Safety
/// `conn` must be a live connection; it is freed when `end` is `Some`.
unsafe fn finish(conn: *mut Conn, end: Option<End>) {
    let Some(end) = end else { return };
    // SAFETY: the caller guarantees `conn` is live; we take back ownership exactly once.
    let conn = unsafe { Box::from_raw(conn) };
    worker::with(|w| w.conns.remove(&conn.policy.client_id()));
    let c = conn.c;
    let _ = super::catch(|| conn.log_end(&end));
    let _ = super::catch(move || conn.policy.on_close());
    // SAFETY: nothing refers to the connection any more.
    unsafe { close_raw(c) };
    worker::with(|w| super::stat_snapshot::note_changes(w));
}

/// # Safety
/// `c` must be an accepted connection that is not used afterwards.
unsafe fn close_raw(c: *mut ngx_connection_t) {
    // SAFETY: as in nginx's stream module: close the socket (removing timers and events),
    // then free the connection's pool.
    unsafe {
        let pool = (*c).pool;
        ngx_close_connection(c);
        if !pool.is_null() {
            ngx_destroy_pool(pool);
        }
    }
}

impl Conn {
    /// A live message of a stream this connection plays on `stream_id`. Called from the
    /// publisher's (or the shared-memory reader's) context: queues, never writes or closes here;
    /// the write happens in this connection's posted write handler, so that all messages of an
    /// event loop iteration go out in one `writev`.
    pub fn deliver(&mut self, stream_id: u32, info: &MediaInfo, msg: &PreparedMessage) {
        let pending = self.session.pending_bytes() + self.out_len;
        if self.policy.admit(stream_id, info, pending) && self.session.send_prepared(stream_id, msg)
        {
            if self.flush_interval_ms == 0 {
                self.post_write();
            } else if !self.flush_deferred {
                self.flush_deferred = true;
                super::fanout::defer_flush(self.policy.client_id(), self.flush_interval_ms);
            }
        }
    }

    /// The worker's flush timer: write what `deliver` queued.
    pub fn flush_now(&mut self) {
        self.flush_deferred = false;
        self.post_write();
    }

    /// The publisher of the stream played on `stream_id` left (`published == false`) or came
    /// back.
    pub fn notify(&mut self, stream_id: u32, published: bool) {
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

    /// Another client takes over a stream this one publishes: end that publication now and
    /// close this connection from its own handler.
    pub fn evict(&mut self, key: &StreamKey) {
        if self.policy.end_publication_of(key) {
            self.evicted = true;
            // The posted read handler closes the connection.
            self.post_read();
        }
    }

    /// The HTTP callback a request of this connection waited for answered: decide, then let
    /// this connection's own read handler send the answer and go on.
    pub fn notified(&mut self, result: Result<crate::http::Response, crate::http::HttpError>) {
        self.policy.notified(&mut self.session, result, now());
        self.post_read();
    }

    fn post_read(&mut self) {
        // SAFETY: `c` is live; the posted read handler runs later in this event loop
        // iteration and never frees the connection from here.
        unsafe {
            ngx_post_event(
                (*self.c).read,
                std::ptr::addr_of_mut!(nginx_sys::ngx_posted_events),
            )
        };
    }

    fn post_write(&mut self) {
        // SAFETY: `c` is live; posting its write event runs `write_handler` later in this event
        // loop iteration (nginx ignores an event that is already posted).
        unsafe {
            ngx_post_event(
                (*self.c).write,
                std::ptr::addr_of_mut!(nginx_sys::ngx_posted_events),
            )
        };
    }

    fn log(&self) -> Log {
        // SAFETY: a live connection's log lives as long as the connection.
        unsafe { Log::from_raw((*self.c).log) }.unwrap_or_else(Log::cycle)
    }

    fn log_end(&self, end: &End) {
        let id = self.policy.client_id();
        let log = self.log();
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

    /// # Safety
    /// `self.c` must be live.
    unsafe fn on_read(&mut self) -> Option<End> {
        let c = self.c;
        // SAFETY: `c` is live (contract).
        let rev = unsafe { (*c).read };
        if self.evicted {
            return Some(End::Slow(
                "publisher replaced by a new one (publish_takeover)",
            ));
        }
        // SAFETY: as above.
        if unsafe { (*rev).timedout() } != 0 {
            // SAFETY: as above. With EPOLLRDHUP, nginx's `recv` only reads after an event
            // marked data available; a timer wake may find data held below the low-water
            // mark, so mark it the way nginx's own deferred read handlers do.
            unsafe {
                (*rev).set_timedout(0);
                (*rev).set_ready(1);
                (*rev).available = -1;
            }
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
            keyframe_len: self.policy.keyframe_len(),
        };
        self.read_plan = self.pacing.plan(now(), input);
        let want = self.read_plan.low_water;
        if want == self.low_water {
            return;
        }
        let v = libc::c_int::try_from(want).unwrap_or(libc::c_int::MAX);
        // SAFETY: `c` is live and `fd` is its socket; the option value is a live `c_int`.
        let rc = unsafe {
            libc::setsockopt(
                (*self.c).fd,
                libc::SOL_SOCKET,
                libc::SO_RCVLOWAT,
                std::ptr::addr_of!(v).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            self.low_water = want;
        } else {
            // Not a TCP socket (a unix listener): read every message, as with interval 0.
            self.pacing = ReadPacing::new(0);
            self.read_plan = ReadPlan::EAGER;
        }
    }

    /// # Safety
    /// `self.c` must be live.
    unsafe fn on_write(&mut self) -> Option<End> {
        // SAFETY: `c` is live (contract).
        let wev = unsafe { (*self.c).write };
        // SAFETY: as above.
        if unsafe { (*wev).timedout() } != 0 {
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
        let c = self.c;
        worker::with_recv_buf(|buf| loop {
            // SAFETY: `c` is live; `recv` is nginx's I/O function for this connection and
            // writes at most `buf.len()` bytes into `buf`.
            let n = unsafe { ((*c).recv.unwrap_unchecked())(c, buf.as_mut_ptr(), buf.len()) };
            if n == NGX_AGAIN as isize {
                // SAFETY: re-arms the (edge-triggered) read event of a live connection.
                if unsafe { ngx_handle_read_event((*c).read, 0) } != 0 {
                    return Some(End::Io("could not arm read event"));
                }
                return None;
            }
            if n == 0 {
                return Some(End::PeerClosed);
            }
            let Ok(n) = usize::try_from(n) else {
                return Some(End::PeerClosed); // NGX_ERROR: reset by peer, logged by nginx
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
        let c = self.c;
        while !self.out.is_empty() {
            let mut iov = [libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            }; MAX_IOV];
            let mut n_iov = 0;
            for (i, b) in self.out.iter().take(MAX_IOV).enumerate() {
                let part = if i == 0 {
                    b.get(self.out_sent..).unwrap_or_default()
                } else {
                    &b[..]
                };
                iov[n_iov] = libc::iovec {
                    iov_base: part.as_ptr().cast_mut().cast(),
                    iov_len: part.len(),
                };
                n_iov += 1;
            }
            // SAFETY: `c` is live and its `fd` is its socket; every iovec points into a `Bytes`
            // held by `self.out`, unchanged until the call returns.
            let n = unsafe { libc::writev((*c).fd, iov.as_ptr(), n_iov as libc::c_int) };
            if n < 0 {
                let err = std::io::Error::last_os_error();
                match err.kind() {
                    std::io::ErrorKind::WouldBlock => {
                        // SAFETY: as in nginx's own send functions: the socket is not writable.
                        unsafe { (*(*c).write).set_ready(0) };
                        return Ok(false);
                    }
                    std::io::ErrorKind::Interrupted => continue,
                    _ => return Err(End::PeerClosed),
                }
            }
            let mut n = n as usize;
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
        Ok(true)
    }

    /// Sends what the session produced, arms events and timers, decides whether to close.
    fn after_io(&mut self) -> Option<End> {
        if let Some(why) = self.policy.publisher_gone(now()) {
            return Some(End::Slow(why));
        }
        self.queue_output();
        self.progressed = false;
        let all_sent = match self.flush() {
            Ok(done) => done,
            Err(end) => return Some(end),
        };
        if self.out_len > MAX_PENDING_OUTPUT {
            return Some(End::Slow("client does not read its data"));
        }
        let c = self.c;
        if self.session.is_closing() && !self.closing {
            self.closing = true;
        }
        if self.closing && all_sent {
            return Some(End::Finished);
        }
        // SAFETY: `c` is live; arming events and timers of a live connection.
        unsafe {
            let wev = (*c).write;
            if !all_sent {
                if ngx_handle_write_event(wev, 0) != 0 {
                    return Some(End::Io("could not arm write event"));
                }
                // A peer that takes nothing for `timeout` is closed (send timeout).
                if (*wev).timer_set() == 0 || self.progressed {
                    ngx_add_timer(wev, self.send_timeout_ms);
                }
            } else if (*wev).timer_set() != 0 {
                ngx_del_timer(wev);
            }
            let rev = (*c).read;
            if self.closing {
                ngx_add_timer(rev, LINGER_MS);
            } else if let Some(at) = [
                self.session.poll_timeout(),
                self.policy.idle_deadline(),
                self.read_plan.deadline_ms,
            ]
            .into_iter()
            .flatten()
            .min()
            {
                // nginx leaves a timer alone when it would move by less than 300 ms
                // (NGX_TIMER_LAZY_DELAY); the read deadline must move with each read.
                if Some(at) == self.read_plan.deadline_ms && (*rev).timer_set() != 0 {
                    ngx_del_timer(rev);
                }
                ngx_add_timer(
                    rev,
                    at.saturating_sub(now()).max(1) as nginx_sys::ngx_msec_t,
                );
            } else if (*rev).timer_set() != 0 {
                ngx_del_timer(rev);
            }
        }
        None
    }
}

/// Accessors for the stat page and `rtmp_control` ([`super::stat_snapshot`]).
impl Conn {
    /// nginx's connection number: unique across the workers of a master.
    pub fn number(&self) -> u64 {
        // SAFETY: `c` is live while the `Conn` exists.
        unsafe { (*self.c).number }
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Closes the connection from its own read handler, soon (`rtmp_control drop`): it stops
    /// reading, sends what is queued and ends; its streams end as on a disconnect.
    pub fn request_close(&mut self) {
        if self.closing {
            return;
        }
        self.closing = true;
        log_info!(
            self.log(),
            "rtmp: client {} dropped by rtmp_control",
            self.policy.client_id()
        );
        // The posted read handler finishes the connection (never freed from here).
        self.post_read();
    }
}
