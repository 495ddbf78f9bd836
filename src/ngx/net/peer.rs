//! Outgoing connections made with `ngx_event_connect_peer`.
//!
//! nginx keeps pointers into what it is given (`ngx_peer_connection_t`, the peer's address
//! and name, the log that the connection and its events log through): a [`Peer`] holds them
//! in one allocation that never moves and that it reaches only through its pointer, and it
//! outlives its connection (closed by [`Peer::close`] or on drop at the latest).

use std::io;
use std::net::SocketAddr;
use std::ptr::{self, NonNull};

use nginx_sys::{
    ngx_event_connect_peer, ngx_int_t, ngx_log_t, ngx_peer_connection_t, ngx_str_t, NGX_AGAIN,
    NGX_DECLINED, NGX_OK,
};

use super::connection::{Connection, LogError};
use super::sockaddr::SockAddr;
use crate::ngx::log::Log;

/// How far `connect()` got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connected {
    /// Established at once (possible on loopback).
    Now,
    /// In progress: the write event fires when it completes or fails
    /// ([`Connection::pending_error`] tells which).
    Later,
}

/// Why a connection could not start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectError {
    /// `connect()` failed at once, with this errno (nginx logged it).
    Refused(Option<i32>),
    /// No free connection in the worker, or the socket could not be made (nginx logged it).
    Failed,
}

/// An outgoing TCP connection and the memory nginx points into.
pub struct Peer(NonNull<Linked>);

/// Everything nginx may point into, allocated once.
struct Linked {
    pc: ngx_peer_connection_t,
    /// The caller's log, copied: nginx logs through `pc.log`, `c->log` and the events' logs.
    log: ngx_log_t,
    /// `pc.name`: the peer as text, for nginx's messages.
    name: ngx_str_t,
    name_text: Vec<u8>,
    addr: SockAddr,
    /// Set while connected.
    connection: Option<Connection>,
}

impl Peer {
    /// A peer at `addr`, named `name` in nginx's messages, that logs through a copy of `log`:
    /// messages about it carry the caller's connection number, and it does not depend on the
    /// caller's memory.
    pub fn new(log: Log, addr: SocketAddr, name: String) -> Peer {
        // SAFETY: a `Log` is valid while used; a plain C struct, copied by value.
        let mut log = unsafe { *log.as_ptr() };
        // The copy outlives the caller: drop what could point into the caller's memory
        // (`next`, `file` and `writer` data live as long as the cycle).
        log.handler = None;
        log.data = ptr::null_mut();
        log.action = ptr::null_mut();
        let (addr, socklen) = SockAddr::new(addr);
        let linked = NonNull::from(Box::leak(Box::new(Linked {
            // SAFETY: a C struct of pointers, integers and optional function pointers, for all
            // of which all-zero is a valid value (null, 0, None); nginx zeroes it the same way.
            pc: unsafe { std::mem::zeroed() },
            log,
            name: ngx_str_t {
                len: 0,
                data: ptr::null_mut(),
            },
            name_text: name.into_bytes(),
            addr,
            connection: None,
        })));
        let raw = linked.as_ptr();
        // SAFETY: `raw` is the allocation just made, reached by nothing else; the pointers
        // stored in `pc` are taken from it and stay valid until `Drop` frees it.
        unsafe {
            (*raw).name = ngx_str_t {
                len: (*raw).name_text.len(),
                data: (*raw).name_text.as_mut_ptr(),
            };
            let pc = ptr::addr_of_mut!((*raw).pc);
            (*pc).sockaddr = ptr::addr_of_mut!((*raw).addr).cast();
            (*pc).socklen = socklen;
            (*pc).name = ptr::addr_of_mut!((*raw).name);
            (*pc).log = ptr::addr_of_mut!((*raw).log);
            (*pc).get = Some(nginx_sys::ngx_event_get_peer);
            (*pc).tries = 1;
            (*pc).set_log_error(LogError::Err.raw());
        }
        Peer(linked)
    }

    /// Starts connecting: a non-blocking socket from the worker's connection pool, registered
    /// with the event module. Call it once, from a worker's event loop.
    pub fn connect(&mut self) -> Result<Connected, ConnectError> {
        let linked = self.0.as_ptr();
        // SAFETY: `pc` and what it points to live in this peer's allocation (see `new`);
        // `ngx_event_connect_peer` runs on the worker's thread, as all nginx event code.
        let rc = unsafe { ngx_event_connect_peer(ptr::addr_of_mut!((*linked).pc)) };
        if rc != NGX_OK as ngx_int_t && rc != NGX_AGAIN as ngx_int_t {
            // Read errno before anything else can change it. nginx has closed any connection
            // it made (`pc.connection` is null).
            let errno = io::Error::last_os_error().raw_os_error();
            return Err(if rc == NGX_DECLINED as ngx_int_t {
                ConnectError::Refused(errno.filter(|&e| e != 0))
            } else {
                ConnectError::Failed
            });
        }
        // SAFETY: on NGX_OK/NGX_AGAIN `pc.connection` is a live connection registered with
        // the event module, which this peer alone closes (`close`, `Drop`).
        let c = unsafe { Connection::from_raw((*linked).pc.connection) };
        let Some(c) = c else {
            return Err(ConnectError::Failed);
        };
        // SAFETY: `connection` is this peer's field; nginx never points at it.
        unsafe { (*linked).connection = Some(c) };
        Ok(if rc == NGX_OK as ngx_int_t {
            Connected::Now
        } else {
            Connected::Later
        })
    }

    /// The connection, from [`Peer::connect`] until [`Peer::close`].
    pub fn connection(&self) -> Option<&Connection> {
        // SAFETY: as in `connect`; the reference lives as long as `&self`, during which
        // nothing else changes the field.
        unsafe { (*self.0.as_ptr()).connection.as_ref() }
    }

    /// The connection's `data`: what its event handlers find through [`Connection::data_of`].
    pub fn set_data<T>(&self, data: *mut T) {
        if let Some(c) = self.connection() {
            c.set_data(data);
        }
    }

    /// Closes the connection, if open: its timers and events go with it.
    pub fn close(&mut self) {
        let linked = self.0.as_ptr();
        // SAFETY: as in `connect`.
        let c = unsafe { (*linked).connection.take() };
        if let Some(c) = c {
            c.close();
            // SAFETY: as in `connect`; nginx no longer uses `pc` once the connection is closed.
            unsafe { (*linked).pc.connection = ptr::null_mut() };
        }
    }

    /// The peer's log: valid while the peer is.
    pub fn log(&self) -> Log {
        // SAFETY: the log lives in this peer's allocation, freed only on drop.
        unsafe { Log::from_raw(ptr::addr_of_mut!((*self.0.as_ptr()).log)) }
            .unwrap_or_else(Log::cycle)
    }

    /// The peer's name, as given to [`Peer::new`].
    pub fn name(&self) -> &[u8] {
        // SAFETY: as in `connection`; nginx only reads the name.
        unsafe { &(*self.0.as_ptr()).name_text }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.close();
        // SAFETY: the allocation made by `new`, freed once; its connection is closed, so
        // nginx keeps no pointer into it.
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }
}
