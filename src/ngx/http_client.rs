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

use nginx_sys::ngx_event_t;

use super::log::Log;
use super::net::{ConnectError, Connected, Connection, Peer, Recv, Sent};
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
    let name = match url.host() {
        Host::Name(n) => format!("{n}:{} ({addr})", url.port()),
        Host::Ip(_) => addr.to_string(),
    };
    let mut call = Box::new(Call {
        peer: Peer::new(log, addr, name),
        exchange: Exchange::new(req_bytes),
        on_done: Some(on_done),
    });
    // On failure `call` is dropped with `on_done` uncalled.
    let connected = call.peer.connect().map_err(|e| match e {
        ConnectError::Refused(errno) => HttpError::Connect(errno),
        ConnectError::Failed => {
            HttpError::Start("no free connection or socket error (see error log)")
        }
    })?;
    // Connected at once (possible on loopback): write from the event loop, so that the
    // callback can never run inside this function. Otherwise the write event fires when
    // connect completes (or fails).
    call.exchange.connected = connected == Connected::Now;
    if let Some(c) = call.peer.connection() {
        c.set_handlers(on_event, on_event);
        c.read_event()
            .add_timer(timeout_ms.clamp(1, MAX_TIMEOUT_MS) as nginx_sys::ngx_msec_t);
        if connected == Connected::Now {
            c.write_event().post();
        }
    }
    // From here on the connection's handlers own the request through `data`.
    let data = Box::into_raw(call);
    // SAFETY: `data` is the allocation just released from its box, valid and used by nothing
    // else until the event loop runs the handlers.
    unsafe { (*data).peer.set_data(data) };
    Ok(())
}

/// One request in flight: the connection and the bytes it carries.
struct Call {
    peer: Peer,
    exchange: Exchange,
    /// Taken when the request finishes.
    on_done: Option<Callback>,
}

/// The request's bytes and the answer's parser.
struct Exchange {
    out: Vec<u8>,
    /// Bytes of `out` already sent.
    sent: usize,
    parser: ResponseParser,
    /// Whether the connection is known to be established.
    connected: bool,
}

impl Call {
    /// Makes what progress the socket allows. `Some` when the request is over.
    fn advance(&mut self) -> Option<Result<Response, HttpError>> {
        let Some(c) = self.peer.connection() else {
            return Some(Err(HttpError::Internal("request without a connection")));
        };
        self.exchange.advance(c)
    }
}

impl Exchange {
    fn new(out: Vec<u8>) -> Exchange {
        Exchange {
            out,
            sent: 0,
            parser: ResponseParser::default(),
            connected: false,
        }
    }

    fn advance(&mut self, c: &Connection) -> Option<Result<Response, HttpError>> {
        if c.read_event().timedout() || c.write_event().timedout() {
            return Some(Err(HttpError::Timeout));
        }
        if !self.connected {
            // An event on a connecting socket: connect finished, successfully or not.
            match c.pending_error() {
                None => self.connected = true,
                Some(errno) => return Some(Err(HttpError::Connect(Some(errno)))),
            }
        }
        if let Some(end) = self.send(c) {
            return Some(end);
        }
        if self.sent < self.out.len() {
            return None;
        }
        self.receive(c)
    }

    /// Writes the unsent tail of the request. `Some(Err)` on failure; `None` when all went out
    /// or the rest waits for the write event.
    fn send(&mut self, c: &Connection) -> Option<Result<Response, HttpError>> {
        while let Some(rest) = self.out.get(self.sent..).filter(|r| !r.is_empty()) {
            match c.send(rest) {
                Sent::Bytes(n) => self.sent += n.min(rest.len()),
                Sent::WouldBlock => {
                    // A no-op with epoll, where the connection is registered for both
                    // directions.
                    if c.arm_write().is_err() {
                        return Some(Err(HttpError::Io("could not arm write event")));
                    }
                    return None;
                }
                Sent::Error => return Some(Err(HttpError::Io("send failed"))),
            }
        }
        None
    }

    /// Reads until the answer is complete or the socket would block.
    fn receive(&mut self, c: &Connection) -> Option<Result<Response, HttpError>> {
        let mut buf = [0u8; RECV_CHUNK];
        loop {
            let n = match c.recv(&mut buf) {
                Recv::Data(n) => n,
                Recv::WouldBlock => {
                    if c.arm_read().is_err() {
                        return Some(Err(HttpError::Io("could not arm read event")));
                    }
                    return None;
                }
                Recv::Closed => return Some(self.parser.eof().map_err(HttpError::Parse)),
                Recv::Error => return Some(Err(HttpError::Io("recv failed"))),
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
    // `data` is their `Call` until `finish` frees it; this handler is its only user meanwhile.
    let call = unsafe { Connection::data_of::<Call>(ev) };
    // SAFETY: as above.
    let end = super::catch(|| unsafe { (*call).advance() })
        .unwrap_or(Some(Err(HttpError::Internal("panic in the http client"))));
    if let Some(result) = end {
        // SAFETY: as above; ownership goes back to a box exactly once: `finish` closes the
        // connection first, so no handler finds the request again.
        finish(unsafe { Box::from_raw(call) }, result);
    }
}

/// Closes the connection (which removes its timer, its posted and registered events), calls
/// the callback, frees the request.
fn finish(mut call: Box<Call>, result: Result<Response, HttpError>) {
    call.peer.close();
    let Some(on_done) = call.on_done.take() else {
        return;
    };
    if super::catch(move || on_done(result)).is_none() {
        log_alert!(
            call.peer.log(),
            "http: panic in the completion of a request to {}",
            String::from_utf8_lossy(call.peer.name())
        );
    }
}
