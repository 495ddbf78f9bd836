//! Listening sockets for the `listen` directives of `rtmp {}` servers.
//!
//! nginx owns the sockets: `ngx_create_listening` registers them in the cycle, so they are
//! opened by the master, inherited by workers and kept across `nginx -s reload`.

use core::mem;
use std::net::SocketAddr;

use nginx_sys::{ngx_conf_t, ngx_create_listening, socklen_t};

use super::ssl::SslContext;
use crate::conf::{Listen, ServerConf};

/// What a listening socket's `servers` points at: the server its clients belong to and, for
/// `listen ... ssl`, the TLS context their handshake uses.
pub struct Listener {
    pub server: *const ServerConf,
    pub tls: Option<SslContext>,
}

/// Registers a listening socket whose accepted connections go to `handler`.
///
/// # Safety
/// `cf` must be the live configuration being parsed and `listener` (and its server) must
/// outlive the cycle's listeners (they live in the `ParseState` freed with the cycle pool).
pub unsafe fn add(
    cf: *mut ngx_conf_t,
    listen: &Listen,
    listener: &Listener,
    handler: nginx_sys::ngx_connection_handler_pt,
) -> Result<(), String> {
    // SAFETY: all-zero is a valid `sockaddr_in`/`sockaddr_in6`.
    let mut v4: libc::sockaddr_in = unsafe { mem::zeroed() };
    // SAFETY: as above.
    let mut v6: libc::sockaddr_in6 = unsafe { mem::zeroed() };
    let (sa, len) = match listen.addr {
        SocketAddr::V4(a) => {
            v4.sin_family = libc::AF_INET as libc::sa_family_t;
            v4.sin_port = a.port().to_be();
            v4.sin_addr.s_addr = u32::from(*a.ip()).to_be();
            (
                (&mut v4 as *mut libc::sockaddr_in).cast::<nginx_sys::sockaddr>(),
                mem::size_of::<libc::sockaddr_in>(),
            )
        }
        SocketAddr::V6(a) => {
            v6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            v6.sin6_port = a.port().to_be();
            v6.sin6_addr.s6_addr = a.ip().octets();
            v6.sin6_scope_id = a.scope_id();
            (
                (&mut v6 as *mut libc::sockaddr_in6).cast::<nginx_sys::sockaddr>(),
                mem::size_of::<libc::sockaddr_in6>(),
            )
        }
    };
    // SAFETY: `sa` points at a filled sockaddr of `len` bytes; nginx copies it into the pool.
    let ls = unsafe { ngx_create_listening(cf, sa, len as socklen_t) };
    if ls.is_null() {
        return Err(format!("could not create listening socket {}", listen.addr));
    }
    // SAFETY: `ls` was just created by nginx and is not yet used by anything else.
    unsafe {
        let ls = &mut *ls;
        ls.set_addr_ntop(1);
        ls.handler = handler;
        // What nginx puts there per connection (log, peer address and its text) fits in
        // 256 bytes, as for nginx's stream module; more would be allocated per client.
        ls.pool_size = 256;
        ls.backlog = listen.backlog;
        ls.servers = (listener as *const Listener).cast_mut().cast();
        ls.logp = &mut (*(*cf).cycle).new_log;
        ls.log.data = (&mut ls.addr_text as *mut nginx_sys::ngx_str_t).cast();
        ls.set_wildcard(u32::from(listen.addr.ip().is_unspecified()));
        if let Some(only) = listen.ipv6only {
            ls.set_ipv6only(u32::from(only));
        }
    }
    Ok(())
}
