//! TLS on a [`Connection`], through nginx's OpenSSL layer.
//!
//! After a handshake nginx swaps the connection's `recv`/`send`/`send_chain` for its SSL ones,
//! so [`Connection::recv`] reads plaintext unchanged. Writes go through `send_chain` with
//! nginx's 16 KB buffer (`NGX_SSL_BUFFER`): several small parts become one TLS record, and
//! bytes the socket did not take wait in that buffer ([`Connection::tls_pending`]) until the
//! next write flushes them.

use std::io::{self, IoSlice};
use std::mem;
use std::ptr;

use nginx_sys::{
    ngx_buf_t, ngx_chain_t, ngx_connection_t, ngx_ssl_create_connection, ngx_ssl_handshake,
    ngx_ssl_shutdown, NGX_AGAIN, NGX_OK,
};

use super::connection::{Connection, Recv, Sent};
use crate::ngx::ssl::SslContext;

/// Parts given to one `send_chain`; the rest waits for the next call.
const MAX_TLS_PARTS: usize = 64;

/// What starting or going on with a TLS handshake gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handshake {
    /// Done: the connection now reads and writes plaintext.
    Done,
    /// Waiting for the peer: nginx calls the handler given when it ends, or when the read
    /// event's timer fires.
    InProgress,
    /// Failed; nginx has logged why.
    Failed,
}

/// Called by nginx when a handshake that was in progress ends (done, failed or timed out).
pub type HandshakeHandler = unsafe extern "C" fn(*mut ngx_connection_t);

impl Connection {
    /// Whether the connection speaks TLS (its handshake may still be running).
    pub fn is_tls(&self) -> bool {
        // SAFETY: the handle's invariant: the connection is live.
        unsafe { !(*self.raw()).ssl.is_null() }
    }

    /// Whether the TLS handshake completed.
    pub fn tls_handshaked(&self) -> bool {
        // SAFETY: the handle's invariant; `ssl` is null or nginx's live SSL state.
        unsafe { (*self.raw()).ssl.as_ref() }.is_some_and(|s| s.handshaked() != 0)
    }

    /// Starts the server side of a TLS handshake with `ctx`. When it cannot finish at once,
    /// nginx runs it from the connection's events and calls `done` at its end.
    pub fn start_tls_server(&self, ctx: SslContext, done: HandshakeHandler) -> Handshake {
        let c = self.raw();
        // SAFETY: the handle's invariant; `ctx` lives for the cycle. nginx allocates the SSL
        // state in the connection's pool and owns the handlers while the handshake runs.
        unsafe {
            let flags = nginx_sys::NGX_SSL_BUFFER as nginx_sys::ngx_uint_t;
            if ngx_ssl_create_connection(ctx.as_ptr(), c, flags) != NGX_OK as isize {
                return Handshake::Failed;
            }
            match ngx_ssl_handshake(c) {
                rc if rc == NGX_OK as isize => Handshake::Done,
                rc if rc == NGX_AGAIN as isize => {
                    (*(*c).ssl).handler = Some(done);
                    Handshake::InProgress
                }
                _ => Handshake::Failed,
            }
        }
    }

    /// Reads what waits in the socket into `buf` without taking it (`MSG_PEEK`).
    pub fn peek(&self, buf: &mut [u8]) -> Recv {
        loop {
            // SAFETY: `fd` is the live connection's socket; `buf` is writable for its length.
            let n = unsafe {
                libc::recv(
                    self.fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_PEEK,
                )
            };
            match usize::try_from(n) {
                Ok(0) => return Recv::Closed,
                Ok(n) => return Recv::Data(n),
                Err(_) => match io::Error::last_os_error().kind() {
                    io::ErrorKind::WouldBlock => return Recv::WouldBlock,
                    io::ErrorKind::Interrupted => {}
                    _ => return Recv::Error,
                },
            }
        }
    }

    /// Whether written bytes wait in nginx's TLS buffer for the socket.
    pub fn tls_pending(&self) -> bool {
        // SAFETY: the handle's invariant.
        unsafe { (*self.raw()).buffered() & nginx_sys::NGX_SSL_BUFFERED != 0 }
    }

    /// Writes `parts` (the first [`MAX_TLS_PARTS`]) through the connection's `send_chain`,
    /// flushing nginx's TLS buffer; with no parts it only flushes. Bytes copied into the
    /// buffer count as sent: [`Connection::tls_pending`] tells whether they left.
    pub(super) fn send_tls(&self, parts: &[IoSlice<'_>]) -> Sent {
        let c = self.raw();
        // SAFETY: the handle's invariant; nginx sets `send_chain` on every connection.
        let Some(send_chain) = (unsafe { (*c).send_chain }) else {
            return Sent::Error;
        };
        let parts = parts.get(..MAX_TLS_PARTS).unwrap_or(parts);
        // SAFETY: all-zero is a valid empty `ngx_buf_t` / `ngx_chain_t`.
        let mut bufs: [ngx_buf_t; MAX_TLS_PARTS] = unsafe { mem::zeroed() };
        // SAFETY: as above.
        let mut links: [ngx_chain_t; MAX_TLS_PARTS] = unsafe { mem::zeroed() };
        for (i, part) in parts.iter().enumerate() {
            let b = &mut bufs[i];
            let start = part.as_ptr().cast_mut();
            b.start = start;
            b.pos = start;
            // SAFETY: one past the end of the part, which is `len` bytes long.
            b.last = unsafe { start.add(part.len()) };
            b.end = b.last;
            b.set_memory(1);
            // The last part asks for the buffer to be written out now.
            b.set_flush(u32::from(i + 1 == parts.len()));
        }
        let chain = match parts.len() {
            0 => ptr::null_mut(),
            n => {
                for i in 0..n {
                    links[i].buf = &mut bufs[i];
                    links[i].next = if i + 1 < n {
                        &mut links[i + 1]
                    } else {
                        ptr::null_mut()
                    };
                }
                &mut links[0] as *mut ngx_chain_t
            }
        };
        // SAFETY: the chain and its buffers live on this frame during the call; nginx only
        // reads the parts (copying them into its own buffer) and moves the bufs' `pos`.
        let rest = unsafe { send_chain(c, chain, 0) };
        // NGX_CHAIN_ERROR is NGX_ERROR as a pointer.
        if rest as isize == nginx_sys::NGX_ERROR as isize {
            return Sent::Error;
        }
        // SAFETY: each `pos` stays within its part (nginx advances it by what it took).
        let taken: usize = bufs[..parts.len()]
            .iter()
            .map(|b| unsafe { b.pos.offset_from(b.start) } as usize)
            .sum();
        let offered: usize = parts.iter().map(|p| p.len()).sum();
        match taken {
            0 if offered > 0 => Sent::WouldBlock,
            n => Sent::Bytes(n),
        }
    }

    /// Ends TLS before the socket closes: sends close_notify when it can, without waiting for
    /// the peer's. Returns `false` when the socket cannot take it now: nginx then finishes in
    /// the background (a few seconds at most) and calls `closed` to close the connection.
    pub(super) fn shutdown_tls(&self, closed: HandshakeHandler) -> bool {
        let c = self.raw();
        // SAFETY: the handle's invariant; `ssl` is nginx's live SSL state of the connection.
        unsafe {
            let Some(ssl) = (*c).ssl.as_mut() else {
                return true;
            };
            ssl.set_no_wait_shutdown(1);
            ssl.handler = Some(closed);
            ngx_ssl_shutdown(c) != NGX_AGAIN as isize
        }
    }
}
