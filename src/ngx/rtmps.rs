//! RTMPS ingest: a client of a `listen ... ssl` socket does its TLS handshake before its RTMP
//! session starts ([`super::conn::begin`]).
//!
//! The first bytes are looked at before OpenSSL sees them: a TLS connection starts with a
//! handshake record (`16 03 xx`), so a plain RTMP client (`03`, the RTMP version) or garbage
//! is told apart at once and closed with one line at info, as hostile plain clients are,
//! without OpenSSL's own (louder) report of a malformed record. The whole TLS handshake runs
//! under the RTMP handshake's deadline (the server's `timeout`, at most 10 s).

use nginx_sys::{ngx_connection_t, ngx_event_t};

use super::listen::Listener;
use super::net::{Connection, Handshake, LogError, Recv};
use super::ssl::SslContext;
use crate::conf::ServerConf;
use crate::rtmp::opening::{Opening, OPENING_LEN};

/// Takes a client of a `listen ... ssl` socket: waits for its first bytes (under the
/// handshake deadline), then runs the TLS handshake. Owns the connection until the RTMP
/// session starts, closing it on any failure.
pub(super) fn accept(c: Connection, server: &ServerConf, ctx: SslContext) {
    // Peer errors (resets, bad handshakes) are the peer's: info, as for plain clients.
    c.set_log_error(LogError::Info);
    c.set_handlers(sniff_handler, sniff_handler);
    let deadline = super::conn::session_config(server).handshake_timeout_ms;
    c.read_event().add_timer(deadline as nginx_sys::ngx_msec_t);
    sniff(c, server, ctx);
}

/// The listener of an accepted connection: its server and TLS context, alive for the cycle.
fn listener_of<'cycle>(c: &Connection) -> Option<(&'cycle ServerConf, SslContext)> {
    let listener = c.listening_servers().cast::<Listener>();
    // SAFETY: only connections of our `listen ... ssl` sockets get this module's handlers,
    // and their `servers` is a `Listener` alive for the cycle, as is its server.
    let listener = unsafe { listener.as_ref() }?;
    // SAFETY: as above.
    let server = unsafe { listener.server.as_ref() }?;
    Some((server, listener.tls?))
}

unsafe extern "C" fn sniff_handler(ev: *mut ngx_event_t) {
    // SAFETY: `ev` is an event of a connection handed to `accept`, which owns it until it
    // closes it or the RTMP session starts: its events belong to this module.
    let c = unsafe { (*ev).data.cast::<ngx_connection_t>() };
    // SAFETY: as above; nothing else holds a handle to the connection.
    let Some(c) = (unsafe { Connection::from_raw(c) }) else {
        return;
    };
    let _ = super::catch(move || {
        if c.read_event().timedout() {
            return close(c, "TLS handshake timed out");
        }
        let Some((server, ctx)) = listener_of(&c) else {
            return close(c, "no TLS context");
        };
        sniff(c, server, ctx);
    });
}

/// Looks at the first bytes without taking them; starts TLS on a handshake record.
fn sniff(c: Connection, server: &ServerConf, ctx: SslContext) {
    let mut first = [0u8; OPENING_LEN];
    match c.peek(&mut first) {
        Recv::Data(n) => match Opening::of(first.get(..n).unwrap_or_default()) {
            Opening::Tls => handshake(c, server, ctx),
            Opening::Unknown => wait(c),
            Opening::PlainRtmp => close(c, "plain RTMP on a TLS port"),
            Opening::Other(b) => {
                let why = format!("not a TLS handshake (first byte 0x{b:02x})");
                close(c, &why)
            }
        },
        Recv::WouldBlock => wait(c),
        Recv::Closed => close(c, "closed before the TLS handshake"),
        Recv::Error => close(c, "socket error before the TLS handshake"),
    }
}

fn wait(c: Connection) {
    if c.arm_read().is_err() {
        close(c, "could not arm read event");
    }
}

fn handshake(c: Connection, server: &ServerConf, ctx: SslContext) {
    match c.start_tls_server(ctx, handshake_done) {
        Handshake::Done => established(c, server),
        // nginx runs the handshake from the connection's events (the read timer stays);
        // the handle goes away without closing.
        Handshake::InProgress => {}
        Handshake::Failed => close(c, "TLS handshake failed"),
    }
}

/// `c->ssl->handler`: the handshake that was in progress ended.
unsafe extern "C" fn handshake_done(c: *mut ngx_connection_t) {
    // SAFETY: nginx calls this for a connection whose handshake `handshake` started; this
    // module still owns it and nothing else holds a handle.
    let Some(c) = (unsafe { Connection::from_raw(c) }) else {
        return;
    };
    let _ = super::catch(move || {
        if !c.tls_handshaked() {
            let why = if c.read_event().timedout() {
                "TLS handshake timed out"
            } else {
                "TLS handshake failed"
            };
            return close(c, why);
        }
        let Some((server, _)) = listener_of(&c) else {
            return close(c, "no TLS context");
        };
        established(c, server);
    });
}

fn established(c: Connection, server: &ServerConf) {
    c.read_event().del_timer();
    super::conn::begin(c, server);
}

fn close(c: Connection, why: &str) {
    log_info!(
        c.log(),
        "rtmp: client {} ({}) closed: {}",
        c.number(),
        c.addr_text(),
        why
    );
    c.close_accepted();
}
