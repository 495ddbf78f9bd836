//! A live nginx connection behind a safe handle.
//!
//! [`Connection`] is a pointer with a promise: the connection it names is live (handed out by
//! nginx, not yet closed) for as long as the handle exists. The promise is made once, by the
//! `unsafe` [`Connection::from_raw`] of whoever owns the connection; the handle is not `Clone`
//! and ends in [`Connection::close_accepted`] or [`Connection::close`], which consume it.
//! Every method runs on the worker's only thread, inside nginx's event loop, and holds no Rust
//! reference into nginx's memory beyond the call, so methods take `&self`.

use std::ffi::{c_int, c_void};
use std::io::{self, IoSlice};
use std::marker::PhantomData;
use std::net::IpAddr;
use std::ptr::{self, NonNull};

use nginx_sys::{
    ngx_add_timer, ngx_close_connection, ngx_connection_t, ngx_del_timer, ngx_destroy_pool,
    ngx_event_t, ngx_handle_read_event, ngx_handle_write_event, ngx_msec_t, ngx_post_event,
    NGX_AGAIN, NGX_OK,
};

use super::sockaddr;
use crate::ngx::log::Log;

/// The handler of a read or write event.
pub type EventHandler = unsafe extern "C" fn(*mut ngx_event_t);

/// What a read from the socket gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recv {
    /// This many bytes (at least one) are at the start of the buffer.
    Data(usize),
    /// Nothing to read now; wait for the read event ([`Connection::arm_read`]).
    WouldBlock,
    /// The peer closed its side.
    Closed,
    /// The socket failed (reset by the peer, ...); nginx has logged it.
    Error,
}

/// What a write to the socket did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    /// This many bytes went out, from the start of what was given.
    Bytes(usize),
    /// The socket takes nothing now; wait for the write event ([`Connection::arm_write`]).
    WouldBlock,
    /// The socket failed.
    Error,
}

/// The event module could not arm an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArmError;

/// The level at which nginx logs the connection's socket errors (`c->log_error`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogError {
    Err,
    Info,
}

impl LogError {
    pub(super) fn raw(self) -> nginx_sys::ngx_connection_log_error_e {
        match self {
            LogError::Err => nginx_sys::ngx_connection_log_error_e_NGX_ERROR_ERR,
            LogError::Info => nginx_sys::ngx_connection_log_error_e_NGX_ERROR_INFO,
        }
    }
}

/// Parts given to one `writev`: Linux's `UIO_MAXIOV`; the rest waits for the next call.
const MAX_WRITEV_PARTS: usize = 1024;

/// A live `ngx_connection_t` (see the module documentation for the invariant).
pub struct Connection(NonNull<ngx_connection_t>);

impl Connection {
    /// The handle of `c`; `None` for a null pointer.
    ///
    /// # Safety
    /// `c` must be null or a live connection that stays live for as long as the handle exists
    /// (it is closed only through the handle, or after the handle is gone), with no other
    /// handle to it in use.
    pub unsafe fn from_raw(c: *mut ngx_connection_t) -> Option<Connection> {
        NonNull::new(c).map(Connection)
    }

    /// The `data` of the connection `ev` belongs to, as set by [`Connection::set_data`].
    ///
    /// # Safety
    /// `ev` must be the read or write event of a live connection.
    pub unsafe fn data_of<T>(ev: *mut ngx_event_t) -> *mut T {
        // SAFETY: a connection's events point at it through `data` (nginx sets them up so);
        // the connection is live (contract).
        unsafe { (*(*ev).data.cast::<ngx_connection_t>()).data.cast() }
    }

    pub(super) fn raw(&self) -> *mut ngx_connection_t {
        self.0.as_ptr()
    }

    /// The raw connection, for nginx functions of other shell parts that take one (TLS
    /// clients): valid while the handle is.
    pub fn as_ptr(&self) -> *mut ngx_connection_t {
        self.raw()
    }

    pub(super) fn fd(&self) -> c_int {
        // SAFETY: the handle's invariant: the connection is live.
        unsafe { (*self.raw()).fd }
    }

    /// What the event handlers find through [`Connection::data_of`].
    pub fn set_data<T>(&self, data: *mut T) {
        // SAFETY: the handle's invariant; nginx never reads `data` itself.
        unsafe { (*self.raw()).data = data.cast() };
    }

    /// The handlers nginx calls when the socket is readable or writable, or a timer fires.
    pub fn set_handlers(&self, read: EventHandler, write: EventHandler) {
        // SAFETY: the handle's invariant; a live connection has both events.
        unsafe {
            (*(*self.raw()).read).handler = Some(read);
            (*(*self.raw()).write).handler = Some(write);
        }
    }

    pub fn set_log_error(&self, level: LogError) {
        // SAFETY: the handle's invariant.
        unsafe { (*self.raw()).set_log_error(level.raw()) };
    }

    /// nginx's connection number: unique across the workers of a master.
    pub fn number(&self) -> u64 {
        // SAFETY: the handle's invariant.
        unsafe { (*self.raw()).number }
    }

    /// The connection's log: its messages carry the connection number. As [`Log`] says, keep
    /// it only in state the connection owns: it is valid while the connection is.
    pub fn log(&self) -> Log {
        // SAFETY: the handle's invariant; a connection's log lives as long as the connection.
        unsafe { Log::from_raw((*self.raw()).log) }.unwrap_or_else(Log::cycle)
    }

    /// The peer's address as text (`addr_text`, set by nginx for listeners with `addr_ntop`).
    pub fn addr_text(&self) -> String {
        // SAFETY: the handle's invariant; `addr_text` lives in the connection's pool.
        let s = unsafe { &(*self.raw()).addr_text };
        String::from_utf8_lossy(s.as_bytes()).into_owned()
    }

    /// The peer's IP address.
    pub fn peer_ip(&self) -> Option<IpAddr> {
        // SAFETY: the handle's invariant; a connection's `sockaddr` is null or its peer's
        // address, of the size of its family.
        unsafe { sockaddr::ip_of((*self.raw()).sockaddr.cast()) }
    }

    /// The `servers` of the listening socket that accepted the connection (null for a
    /// connection nginx made for us): what the listener's owner put there.
    pub fn listening_servers(&self) -> *mut c_void {
        // SAFETY: the handle's invariant; an accepted connection's `listening` lives as long
        // as the cycle.
        unsafe { (*self.raw()).listening.as_ref() }.map_or(ptr::null_mut(), |ls| ls.servers)
    }

    pub fn read_event(&self) -> Event<'_> {
        // SAFETY: the handle's invariant; a live connection has its read event.
        Event::new(unsafe { (*self.raw()).read })
    }

    pub fn write_event(&self) -> Event<'_> {
        // SAFETY: the handle's invariant; a live connection has its write event.
        Event::new(unsafe { (*self.raw()).write })
    }

    /// Reads into `buf` with the connection's nginx I/O function (`c->recv`).
    pub fn recv(&self, buf: &mut [u8]) -> Recv {
        let c = self.raw();
        // SAFETY: the handle's invariant; nginx sets `recv` on every connection it hands out.
        let Some(recv) = (unsafe { (*c).recv }) else {
            return Recv::Error;
        };
        // SAFETY: `recv` writes at most `buf.len()` bytes into `buf`, borrowed for the call.
        let n = unsafe { recv(c, buf.as_mut_ptr(), buf.len()) };
        match usize::try_from(n) {
            Ok(0) => Recv::Closed,
            Ok(n) => Recv::Data(n),
            Err(_) if n == NGX_AGAIN as isize => Recv::WouldBlock,
            Err(_) => Recv::Error,
        }
    }

    /// Writes from `buf` with the connection's nginx I/O function (`c->send`).
    pub fn send(&self, buf: &[u8]) -> Sent {
        let c = self.raw();
        // SAFETY: the handle's invariant; nginx sets `send` on every connection it hands out.
        let Some(send) = (unsafe { (*c).send }) else {
            return Sent::Error;
        };
        // SAFETY: `send` reads at most `buf.len()` bytes from `buf`, borrowed for the call.
        let n = unsafe { send(c, buf.as_ptr().cast_mut(), buf.len()) };
        match usize::try_from(n) {
            // nginx's `send` returns 0 when the socket took nothing; it has marked the write
            // event not ready, as for NGX_AGAIN.
            Ok(0) => Sent::WouldBlock,
            Ok(n) => Sent::Bytes(n),
            Err(_) if n == NGX_AGAIN as isize => Sent::WouldBlock,
            Err(_) => Sent::Error,
        }
    }

    /// Writes `parts` with one `writev` (the first [`MAX_WRITEV_PARTS`] of them), retrying when
    /// a signal interrupts it. On [`Sent::WouldBlock`] the write event is marked not ready, as
    /// nginx's own send functions do. On a TLS connection the parts go through nginx's TLS
    /// layer instead (see [`super::tls`]; no parts then flushes its buffer).
    pub fn writev(&self, parts: &[IoSlice<'_>]) -> Sent {
        if self.is_tls() {
            return self.send_tls(parts);
        }
        let parts = parts.get(..MAX_WRITEV_PARTS).unwrap_or(parts);
        loop {
            // SAFETY: `fd` is the live connection's socket; `IoSlice` is ABI-compatible with
            // `iovec` on Unix, and every part borrows memory that stays valid and unchanged
            // during the call.
            let n = unsafe { libc::writev(self.fd(), parts.as_ptr().cast(), parts.len() as c_int) };
            if let Ok(n) = usize::try_from(n) {
                return Sent::Bytes(n);
            }
            match io::Error::last_os_error().kind() {
                io::ErrorKind::WouldBlock => {
                    self.write_event().set_ready(false);
                    return Sent::WouldBlock;
                }
                io::ErrorKind::Interrupted => {}
                _ => return Sent::Error,
            }
        }
    }

    /// Re-arms the read event after a read stopped at [`Recv::WouldBlock`] (epoll is
    /// edge-triggered: nginx registers the socket once and this keeps it so).
    pub fn arm_read(&self) -> Result<(), ArmError> {
        // SAFETY: the handle's invariant; arms the read event of a live connection.
        let rc = unsafe { ngx_handle_read_event((*self.raw()).read, 0) };
        if rc == NGX_OK as nginx_sys::ngx_int_t {
            Ok(())
        } else {
            Err(ArmError)
        }
    }

    /// Arms the write event after a write stopped at [`Sent::WouldBlock`].
    pub fn arm_write(&self) -> Result<(), ArmError> {
        // SAFETY: the handle's invariant; arms the write event of a live connection.
        let rc = unsafe { ngx_handle_write_event((*self.raw()).write, 0) };
        if rc == NGX_OK as nginx_sys::ngx_int_t {
            Ok(())
        } else {
            Err(ArmError)
        }
    }

    /// Whether the read event fired because its timer expired. If so, clears that and marks
    /// the socket readable: with EPOLLRDHUP, nginx's `recv` reads only after an epoll event
    /// marked data available, and a timer wake may find data held below the socket's low-water
    /// mark, so it is marked the way nginx's own deferred read handlers do.
    pub fn take_read_timeout(&self) -> bool {
        let rev = self.read_event();
        if !rev.timedout() {
            return false;
        }
        // SAFETY: `rev` is the read event of the live connection.
        unsafe {
            (*rev.ev).set_timedout(0);
            (*rev.ev).set_ready(1);
            (*rev.ev).available = -1;
        }
        true
    }

    /// Sets the socket's `SO_RCVLOWAT`: the kernel wakes the reader once this many bytes wait.
    /// Fails on sockets that have none (unix sockets).
    pub fn set_low_water(&self, bytes: usize) -> io::Result<()> {
        let v = c_int::try_from(bytes).unwrap_or(c_int::MAX);
        // SAFETY: `fd` is the live connection's socket; the option value is a live `c_int` of
        // the size given.
        let rc = unsafe {
            libc::setsockopt(
                self.fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVLOWAT,
                ptr::addr_of!(v).cast(),
                size_of::<c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// The socket's pending error (`SO_ERROR`), or the error of asking: after a non-blocking
    /// `connect()`, `None` means it succeeded.
    pub fn pending_error(&self) -> Option<i32> {
        let mut err: c_int = 0;
        let mut len = size_of::<c_int>() as libc::socklen_t;
        // SAFETY: `fd` is the live connection's socket; `err` and `len` are valid for writes of
        // the sizes given.
        let rc = unsafe {
            libc::getsockopt(
                self.fd(),
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                ptr::addr_of_mut!(err).cast(),
                &mut len,
            )
        };
        if rc == -1 {
            let asking = io::Error::last_os_error().raw_os_error();
            Some(asking.unwrap_or(libc::EINVAL))
        } else {
            (err != 0).then_some(err)
        }
    }

    /// Closes an accepted connection (removing its timers, posted and registered events) and
    /// frees its pool, as nginx's stream module does. A TLS connection says close_notify
    /// first; if the socket cannot take it now, nginx closes the connection a little later.
    pub fn close_accepted(self) {
        if self.is_tls() && !self.shutdown_tls(close_after_tls_shutdown) {
            return;
        }
        let c = self.raw();
        // SAFETY: the handle's invariant; the handle is consumed, so nothing uses the
        // connection afterwards, and the pool is read before the connection is released.
        unsafe {
            let pool = (*c).pool;
            ngx_close_connection(c);
            if !pool.is_null() {
                ngx_destroy_pool(pool);
            }
        }
    }

    /// Closes a connection nginx made for us (`ngx_event_connect_peer`; its memory belongs to
    /// whoever asked for it), removing its timers, posted and registered events.
    pub fn close(self) {
        // SAFETY: the handle's invariant; the handle is consumed, so nothing uses the
        // connection afterwards.
        unsafe { ngx_close_connection(self.raw()) };
    }
}

/// Closes an accepted connection whose TLS shutdown nginx finished in the background.
unsafe extern "C" fn close_after_tls_shutdown(c: *mut ngx_connection_t) {
    // SAFETY: nginx calls this once, with the connection whose handle was consumed by
    // `close_accepted`; nothing else uses it.
    if let Some(c) = unsafe { Connection::from_raw(c) } {
        let _ = crate::ngx::catch(move || c.close_accepted());
    }
}

/// The read or write event of a live [`Connection`], borrowed from its handle.
pub struct Event<'c> {
    ev: *mut ngx_event_t,
    _conn: PhantomData<&'c Connection>,
}

impl Event<'_> {
    fn new(ev: *mut ngx_event_t) -> Self {
        Event {
            ev,
            _conn: PhantomData,
        }
    }

    fn set_ready(&self, ready: bool) {
        // SAFETY: an `Event` is an event of a live connection (it borrows the handle).
        unsafe { (*self.ev).set_ready(ready.into()) };
    }

    /// Whether the event fired because its timer expired.
    pub fn timedout(&self) -> bool {
        // SAFETY: as in `set_ready`.
        unsafe { (*self.ev).timedout() != 0 }
    }

    pub fn timer_set(&self) -> bool {
        // SAFETY: as in `set_ready`.
        unsafe { (*self.ev).timer_set() != 0 }
    }

    /// Fires the event in `ms`. nginx keeps a pending timer that would move by less than
    /// `NGX_TIMER_LAZY_DELAY` (300 ms); [`Event::reset_timer`] moves it exactly.
    pub fn add_timer(&self, ms: ngx_msec_t) {
        // SAFETY: as in `set_ready`; the worker's timer tree is used on its only thread.
        unsafe { ngx_add_timer(self.ev, ms) };
    }

    /// Fires the event in exactly `ms`, however close to the pending deadline: deletes the
    /// timer, then adds it.
    pub fn reset_timer(&self, ms: ngx_msec_t) {
        self.del_timer();
        self.add_timer(ms);
    }

    /// Removes the event's timer, if set.
    pub fn del_timer(&self) {
        if self.timer_set() {
            // SAFETY: as in `add_timer`; the timer is in the tree.
            unsafe { ngx_del_timer(self.ev) };
        }
    }

    /// Runs the event's handler later in this event loop iteration (nginx ignores an event
    /// that is already posted).
    pub fn post(&self) {
        // SAFETY: as in `set_ready`; the posted queue is the worker's, used on its only thread.
        unsafe { ngx_post_event(self.ev, ptr::addr_of_mut!(nginx_sys::ngx_posted_events)) };
    }
}
