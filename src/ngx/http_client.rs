//! Asynchronous HTTP requests on nginx's event loop, for notify callbacks.
//!
//! One request, one connection, one timer, one callback:
//!
//! 1. [`request`] connects with `ngx_event_connect_peer` (a non-blocking socket from the
//!    worker's connection pool, registered with the event module) and arms a timer covering
//!    the whole exchange (connect, send, answer) on the connection's read event.
//! 2. The read and write events share one handler. Once the connection is up (`SO_ERROR`
//!    checked when connect was in progress) it writes the request, keeping the unsent tail and
//!    waiting for the write event on `NGX_AGAIN`, then reads until `NGX_AGAIN` (epoll is
//!    edge-triggered), feeding the sans-IO [`ResponseParser`]; the answer is complete at the
//!    end of its header block, so a huge body is never read.
//! 3. On the answer, a timeout, a connect/send/receive error, a malformed answer or a panic,
//!    the connection is closed (which removes its timer and events), then the callback runs
//!    exactly once with the result, then the request's memory is freed.
//!
//! The callback never runs inside [`request`] (an immediate connect is finished by a posted
//! write event), so the caller may hold its own state borrowed while it calls [`request`]. It
//! may run after the caller is gone (a publisher that disconnected while its `on_publish` was
//! pending, `on_done` after the connection closed): it must find its connection by id, not
//! through a pointer captured earlier.
//!
//! The request's timer is not cancelable: a worker that shuts down gracefully (reload) waits
//! for its pending requests, at most their timeouts, so done-callbacks still go out.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use ::ngx::ngx_log_error;
use nginx_sys::{
    ngx_add_timer, ngx_close_connection, ngx_connection_t, ngx_event_connect_peer, ngx_event_t,
    ngx_handle_read_event, ngx_handle_write_event, ngx_log_t, ngx_msec_t, ngx_peer_connection_t,
    ngx_post_event, ngx_str_t, NGX_AGAIN, NGX_DECLINED, NGX_LOG_ALERT, NGX_OK,
};

use super::log::Log;
use crate::http::{Host, HttpError, Response, ResponseParser, Status, Url};

/// What a request's completion receives.
pub type Callback = Box<dyn FnOnce(Result<Response, HttpError>)>;

/// Bytes read from the socket at a time (on the stack).
const RECV_CHUNK: usize = 4096;
/// The longest accepted timeout, about 24 days: far beyond any sensible callback timeout,
/// and safe for nginx's timer arithmetic on every platform.
const MAX_TIMEOUT_MS: u64 = i32::MAX as u64;

/// Resolves the URL's host at configuration time (in the master process, where blocking is
/// allowed), as nginx-rtmp does with `ngx_parse_url`: an IP literal as is, a host name with
/// the system resolver, IPv4 addresses first (as nginx orders them), then IPv6.
pub fn resolve_at_config(url: &Url) -> Result<SocketAddr, HttpError> {
    let name = match url.host() {
        Host::Ip(ip) => return Ok(SocketAddr::new(*ip, url.port())),
        Host::Name(name) => name,
    };
    let fail = |reason: String| HttpError::Resolve {
        host: name.clone(),
        reason,
    };
    let addrs: Vec<SocketAddr> = (name.as_str(), url.port())
        .to_socket_addrs()
        .map_err(|e| fail(e.to_string()))?
        .collect();
    addrs
        .iter()
        .find(|a| matches!(a.ip(), IpAddr::V4(_)))
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| fail("no address".into()))
}

/// Sends `req_bytes` (from [`crate::http::build_request`]) to `addr`, the address of `url`
/// resolved by [`resolve_at_config`], and calls `on_done` with the answer's head, or why there
/// is none, within `timeout_ms` (connect, send and answer together).
///
/// Call it from a worker's event loop only (not at configuration time).
///
/// `Err` means the request could not even start (no free connection, `connect()` refused at
/// once, ...): `on_done` is then dropped without being called. After `Ok`, `on_done` is called
/// exactly once, later, from the event loop, never from within this function.
///
/// `log` (the caller's connection log, or the cycle's) is copied: messages about the request
/// carry the caller's connection number, and the request does not depend on the caller's
/// memory.
pub fn request(
    log: Log,
    addr: SocketAddr,
    url: &Url,
    req_bytes: Vec<u8>,
    timeout_ms: u64,
    on_done: Callback,
) -> Result<(), HttpError> {
    let call = Box::into_raw(Box::new(Call::new(log, addr, url, req_bytes, on_done)));
    // SAFETY: `call` is a valid, exclusively owned heap allocation; the peer connection's
    // pointers (address, name, log) point into it and stay valid until it is freed, which
    // happens only after the connection is closed. `ngx_event_connect_peer` runs on the
    // worker's thread, as all nginx event code.
    let rc = unsafe {
        (*call).link();
        ngx_event_connect_peer(std::ptr::addr_of_mut!((*call).pc))
    };
    if rc != NGX_OK as nginx_sys::ngx_int_t && rc != NGX_AGAIN as nginx_sys::ngx_int_t {
        // Read errno before anything else can change it (nginx logged it already).
        let errno = std::io::Error::last_os_error().raw_os_error();
        // SAFETY: on failure nginx closed any connection it had made (`pc.connection` is
        // null) and keeps no pointer into `call`, which we still own.
        drop(unsafe { Box::from_raw(call) });
        return Err(if rc == NGX_DECLINED as nginx_sys::ngx_int_t {
            HttpError::Connect(errno.filter(|&e| e != 0))
        } else {
            HttpError::Start("no free connection or socket error (see error log)")
        });
    }
    // SAFETY: on NGX_OK/NGX_AGAIN `pc.connection` is a live connection registered with the
    // event module; from here on its handlers own `call` through `data`.
    unsafe {
        let c = (*call).pc.connection;
        (*c).data = call.cast();
        (*(*c).read).handler = Some(on_event);
        (*(*c).write).handler = Some(on_event);
        ngx_add_timer((*c).read, timeout_ms.clamp(1, MAX_TIMEOUT_MS) as ngx_msec_t);
        if rc == NGX_OK as nginx_sys::ngx_int_t {
            // Connected at once (possible on loopback): write from the event loop, so that the
            // callback can never run inside this function.
            (*call).connected = true;
            ngx_post_event(
                (*c).write,
                std::ptr::addr_of_mut!(nginx_sys::ngx_posted_events),
            );
        }
        // NGX_AGAIN: the write event fires when connect completes (or fails).
    }
    Ok(())
}

/// One request in flight. Boxed, never moved: nginx holds pointers into it.
struct Call {
    pc: ngx_peer_connection_t,
    /// The caller's log, copied: nginx logs through `pc.log`, `c->log` and the events' logs.
    log: ngx_log_t,
    /// `pc.name`: the peer address as text, for nginx's messages.
    name: ngx_str_t,
    name_text: Vec<u8>,
    sockaddr: libc::sockaddr_storage,
    socklen: libc::socklen_t,
    out: Vec<u8>,
    /// Bytes of `out` already sent.
    sent: usize,
    parser: ResponseParser,
    /// Whether the connection is known to be established.
    connected: bool,
    /// Taken when the request finishes.
    on_done: Option<Callback>,
}

impl Call {
    fn new(log: Log, addr: SocketAddr, url: &Url, out: Vec<u8>, on_done: Callback) -> Call {
        // SAFETY: a `Log` is valid while used; a plain C struct, copied by value.
        let mut log = unsafe { *log.as_ptr() };
        // The copy outlives the caller: drop what could point into the caller's memory
        // (`next`, `file` and `writer` data live as long as the cycle).
        log.handler = None;
        log.data = std::ptr::null_mut();
        log.action = std::ptr::null_mut();
        let (sockaddr, socklen) = sockaddr_of(addr);
        let name_text = match url.host() {
            Host::Name(n) => format!("{n}:{} ({addr})", url.port()),
            Host::Ip(_) => addr.to_string(),
        }
        .into_bytes();
        Call {
            // SAFETY: a C struct of pointers, integers and optional function pointers, for all
            // of which all-zero is a valid value (null, 0, None); nginx zeroes it the same way.
            pc: unsafe { std::mem::zeroed() },
            log,
            name: ngx_str_t {
                len: 0,
                data: std::ptr::null_mut(),
            },
            name_text,
            sockaddr,
            socklen,
            out,
            sent: 0,
            parser: ResponseParser::default(),
            connected: false,
            on_done: Some(on_done),
        }
    }

    /// Points the peer connection at this (boxed, no longer moving) request's fields.
    fn link(&mut self) {
        self.name = ngx_str_t {
            len: self.name_text.len(),
            data: self.name_text.as_mut_ptr(),
        };
        self.pc.sockaddr = std::ptr::addr_of_mut!(self.sockaddr).cast();
        self.pc.socklen = self.socklen;
        self.pc.name = std::ptr::addr_of_mut!(self.name);
        self.pc.log = std::ptr::addr_of_mut!(self.log);
        self.pc.get = Some(nginx_sys::ngx_event_get_peer);
        self.pc.tries = 1;
        self.pc
            .set_log_error(nginx_sys::ngx_connection_log_error_e_NGX_ERROR_ERR);
    }

    /// Makes what progress the socket allows. `Some` when the request is over.
    ///
    /// # Safety
    /// `c` must be this request's live connection.
    unsafe fn advance(&mut self, c: *mut ngx_connection_t) -> Option<Result<Response, HttpError>> {
        // SAFETY: `c` is live (contract), so are its events.
        let (rev, wev) = unsafe { ((*c).read, (*c).write) };
        // SAFETY: as above.
        if unsafe { (*rev).timedout() != 0 || (*wev).timedout() != 0 } {
            return Some(Err(HttpError::Timeout));
        }
        if !self.connected {
            // An event on a connecting socket: connect finished, successfully or not.
            // SAFETY: as above; `fd` is the connection's socket.
            match unsafe { socket_error((*c).fd) } {
                0 => self.connected = true,
                errno => return Some(Err(HttpError::Connect(Some(errno)))),
            }
        }
        // SAFETY: as above.
        if let Some(end) = unsafe { self.send(c, wev) } {
            return Some(end);
        }
        if self.sent < self.out.len() {
            return None;
        }
        // SAFETY: as above.
        unsafe { self.receive(c, rev) }
    }

    /// Writes the unsent tail of the request. `Some(Err)` on failure; `None` when all went out
    /// or the rest waits for the write event.
    ///
    /// # Safety
    /// `c` must be this request's live connection and `wev` its write event.
    unsafe fn send(
        &mut self,
        c: *mut ngx_connection_t,
        wev: *mut ngx_event_t,
    ) -> Option<Result<Response, HttpError>> {
        // SAFETY: `c` is live; `send` is set by `ngx_event_connect_peer`.
        let Some(send) = (unsafe { (*c).send }) else {
            return Some(Err(HttpError::Internal("connection without send")));
        };
        while self.sent < self.out.len() {
            let rest = &self.out[self.sent..];
            // SAFETY: `send` reads at most `rest.len()` bytes from `rest`, which stays
            // borrowed and unchanged during the call.
            let n = unsafe { send(c, rest.as_ptr().cast_mut(), rest.len()) };
            if n == NGX_AGAIN as isize || n == 0 {
                // SAFETY: arms the write event of a live connection (a no-op with epoll,
                // where the connection is registered for both directions).
                if unsafe { ngx_handle_write_event(wev, 0) } != NGX_OK as nginx_sys::ngx_int_t {
                    return Some(Err(HttpError::Io("could not arm write event")));
                }
                return None;
            }
            let Ok(n) = usize::try_from(n) else {
                return Some(Err(HttpError::Io("send failed")));
            };
            self.sent += n.min(rest.len());
        }
        None
    }

    /// Reads until the answer is complete or the socket would block.
    ///
    /// # Safety
    /// `c` must be this request's live connection and `rev` its read event.
    unsafe fn receive(
        &mut self,
        c: *mut ngx_connection_t,
        rev: *mut ngx_event_t,
    ) -> Option<Result<Response, HttpError>> {
        // SAFETY: `c` is live; `recv` is set by `ngx_event_connect_peer`.
        let Some(recv) = (unsafe { (*c).recv }) else {
            return Some(Err(HttpError::Internal("connection without recv")));
        };
        let mut buf = [0u8; RECV_CHUNK];
        loop {
            // SAFETY: `recv` writes at most `buf.len()` bytes into `buf`.
            let n = unsafe { recv(c, buf.as_mut_ptr(), buf.len()) };
            if n == NGX_AGAIN as isize {
                // SAFETY: re-arms the read event of a live connection.
                if unsafe { ngx_handle_read_event(rev, 0) } != NGX_OK as nginx_sys::ngx_int_t {
                    return Some(Err(HttpError::Io("could not arm read event")));
                }
                return None;
            }
            if n == 0 {
                return Some(self.parser.eof().map_err(HttpError::Parse));
            }
            let Ok(n) = usize::try_from(n) else {
                return Some(Err(HttpError::Io("recv failed")));
            };
            match self.parser.feed(buf.get(..n).unwrap_or_default()) {
                Ok(Status::Complete(r)) => return Some(Ok(r)),
                Ok(Status::Incomplete) => {}
                Err(e) => return Some(Err(HttpError::Parse(e))),
            }
        }
    }
}

/// The read and write handler of request connections.
unsafe extern "C" fn on_event(ev: *mut ngx_event_t) {
    // SAFETY: nginx calls this only for events of connections set up by `request`, whose
    // `data` is their `Call` until `finish` frees it.
    let (c, call) = unsafe {
        let c = (*ev).data.cast::<ngx_connection_t>();
        (c, (*c).data.cast::<Call>())
    };
    // SAFETY: `call` and `c` are live (see above) and used by this handler only.
    let end = super::catch(|| unsafe { (*call).advance(c) })
        .unwrap_or(Some(Err(HttpError::Internal("panic in the http client"))));
    if let Some(result) = end {
        // SAFETY: as above; nothing uses `call` or `c` after this.
        unsafe { finish(call, c, result) };
    }
}

/// Closes the connection, calls the callback, frees the request.
///
/// # Safety
/// `call` must be a live request and `c` its connection; both are gone afterwards.
unsafe fn finish(call: *mut Call, c: *mut ngx_connection_t, result: Result<Response, HttpError>) {
    // SAFETY: we take back the ownership `request` gave to the connection, exactly once: the
    // connection is closed right away, so no handler can find `call` again.
    let mut call = unsafe { Box::from_raw(call) };
    // SAFETY: `c` is live; closing removes its timer, its posted and registered events, and
    // returns it to the worker's free list.
    unsafe { ngx_close_connection(c) };
    call.pc.connection = std::ptr::null_mut();
    let Some(on_done) = call.on_done.take() else {
        return;
    };
    if super::catch(move || on_done(result)).is_none() {
        let log: *mut ngx_log_t = &mut call.log;
        ngx_log_error!(
            NGX_LOG_ALERT,
            log,
            "http: panic in the completion of a request to {}",
            String::from_utf8_lossy(&call.name_text)
        );
    }
}

/// The pending error of a socket (`SO_ERROR`), or the error of asking.
///
/// # Safety
/// `fd` must be an open socket.
unsafe fn socket_error(fd: libc::c_int) -> i32 {
    let mut err: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `err` and `len` are valid for writes of the sizes given.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            std::ptr::addr_of_mut!(err).cast(),
            &mut len,
        )
    };
    if rc == -1 {
        std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EINVAL)
    } else {
        err
    }
}

/// `addr` as a C socket address.
fn sockaddr_of(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid `sockaddr_storage` (an unspecified address).
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from(*a.ip()).to_be(),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: `sockaddr_storage` is larger than and aligned for every sockaddr type.
            unsafe {
                std::ptr::addr_of_mut!(storage)
                    .cast::<libc::sockaddr_in>()
                    .write(sin)
            };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: as above.
            unsafe {
                std::ptr::addr_of_mut!(storage)
                    .cast::<libc::sockaddr_in6>()
                    .write(sin6)
            };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}
