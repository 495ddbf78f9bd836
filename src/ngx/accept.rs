//! `ls->handler` of the `rtmp {}` listening sockets: a plain client's RTMP session starts at
//! once ([`super::conn::begin`]); a client of a `listen ... ssl` socket does its TLS handshake
//! first ([`super::rtmps`]).

use nginx_sys::ngx_connection_t;

use super::listen::Listener;
use super::net::Connection;

/// A client connected to an `rtmp {}` listen socket.
pub unsafe extern "C" fn init(c: *mut ngx_connection_t) {
    let taken = super::catch(|| {
        // SAFETY: nginx hands over a live accepted connection; from here on this module owns
        // it and closes it exactly once (below on failure, else where it is handed).
        let conn = unsafe { Connection::from_raw(c) }?;
        let listener = conn.listening_servers().cast::<Listener>();
        // SAFETY: the listening socket is one of ours, so `servers` points at a `Listener`
        // alive for the cycle, and its server too.
        let listener = unsafe { listener.as_ref() }?;
        // SAFETY: as above.
        let server = unsafe { listener.server.as_ref() }?;
        match listener.tls {
            Some(ctx) => super::rtmps::accept(conn, server, ctx),
            None => super::conn::begin(conn, server),
        }
        Some(())
    });
    if taken.flatten().is_none() {
        // SAFETY: the setup failed before the connection had handlers that could close it;
        // closing a connection we never registered is what nginx expects.
        if let Some(c) = unsafe { Connection::from_raw(c) } {
            c.close_accepted();
        }
    }
}
