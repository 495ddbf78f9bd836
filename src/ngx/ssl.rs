//! nginx's OpenSSL contexts (`ngx_ssl_t`) for the module's TLS sockets, made with nginx's own
//! API while the configuration is read, so that a reload reads certificates again.
//!
//! - [`server_context`]: the context of a server's `listen ... ssl` sockets (RTMPS ingest).
//! - [`client`]: client contexts for relays to `rtmps://` targets, and TLS on their outgoing
//!   connections; `capture` keeps what nginx's SSL functions log, for a failure's reason.
//!
//! A context lives in the configuration's pool; a pool cleanup frees its `SSL_CTX` with the
//! cycle (connections still open hold a reference of their own).

mod capture;
pub mod client;

use core::ffi::c_void;
use core::ptr::{self, NonNull};

use nginx_sys::{
    ngx_conf_t, ngx_int_t, ngx_pcalloc, ngx_pnalloc, ngx_pool_cleanup_add, ngx_ssl_certificate,
    ngx_ssl_ciphers, ngx_ssl_cleanup_ctx, ngx_ssl_create, ngx_ssl_session_cache, ngx_ssl_t,
    ngx_str_t, ngx_uint_t, NGX_OK,
};

use crate::conf::{SessionCache, TlsProtocol, TlsProtocols, TlsSettings};

/// The TLS context of a listening socket, alive for the cycle.
#[derive(Clone, Copy)]
pub struct SslContext(NonNull<ngx_ssl_t>);

impl SslContext {
    pub fn as_ptr(self) -> *mut ngx_ssl_t {
        self.0.as_ptr()
    }
}

/// Session ids of one context are valid only there (OpenSSL's session id context).
const SESSION_ID_CONTEXT: &str = "RTMPS";

/// nginx's `NGX_SSL_*` bits of a protocol set.
fn protocol_mask(set: TlsProtocols) -> ngx_uint_t {
    set.iter()
        .map(|p| match p {
            TlsProtocol::SslV2 => nginx_sys::NGX_SSL_SSLv2,
            TlsProtocol::SslV3 => nginx_sys::NGX_SSL_SSLv3,
            TlsProtocol::TlsV1 => nginx_sys::NGX_SSL_TLSv1,
            TlsProtocol::TlsV1_1 => nginx_sys::NGX_SSL_TLSv1_1,
            TlsProtocol::TlsV1_2 => nginx_sys::NGX_SSL_TLSv1_2,
            TlsProtocol::TlsV1_3 => nginx_sys::NGX_SSL_TLSv1_3,
        } as ngx_uint_t)
        .fold(0, |a, b| a | b)
}

/// A copy of `s` in the configuration pool, NUL-terminated (OpenSSL opens files by C string,
/// and nginx keeps certificate names for its messages), as an `ngx_str_t` without the NUL.
///
/// # Safety
/// `cf` must be the live configuration.
unsafe fn pool_str(cf: *mut ngx_conf_t, s: &str) -> Option<ngx_str_t> {
    let len = s.len();
    // SAFETY: `cf->pool` is the configuration's pool, alive for the cycle.
    let p = unsafe { ngx_pnalloc((*cf).pool, len + 1) }.cast::<u8>();
    if p.is_null() {
        return None;
    }
    // SAFETY: `p` has room for `len + 1` bytes and does not overlap `s`.
    unsafe {
        ptr::copy_nonoverlapping(s.as_ptr(), p, len);
        *p.add(len) = 0;
    }
    Some(ngx_str_t { len, data: p })
}

fn ok(rc: ngx_int_t) -> Result<(), ()> {
    if rc == NGX_OK as ngx_int_t {
        Ok(())
    } else {
        Err(())
    }
}

/// Makes the context of a server's `listen ... ssl` sockets: protocols, ciphers, every
/// certificate and key, the session cache. `Err` when nginx refused something; nginx has
/// then logged why (the file, OpenSSL's reason) and the caller says where.
///
/// # Safety
/// `cf` must be the live configuration being parsed.
pub unsafe fn server_context(cf: *mut ngx_conf_t, tls: &TlsSettings) -> Result<SslContext, ()> {
    // SAFETY: `cf->pool` lives as long as the cycle; zeroed is nginx's starting state.
    let ssl = unsafe { ngx_pcalloc((*cf).pool, size_of::<ngx_ssl_t>()) }.cast::<ngx_ssl_t>();
    let ssl = NonNull::new(ssl).ok_or(())?;
    let raw = ssl.as_ptr();
    // SAFETY: `raw` is a zeroed `ngx_ssl_t` of the pool; nginx's calls below get the live
    // configuration, and every string they keep is in the pool (`pool_str`).
    unsafe {
        (*raw).log = (*cf).log;
        ok(ngx_ssl_create(
            raw,
            protocol_mask(tls.protocols),
            ptr::null_mut(),
        ))?;
        let cln = ngx_pool_cleanup_add((*cf).pool, 0);
        if cln.is_null() {
            ngx_ssl_cleanup_ctx(raw.cast::<c_void>());
            return Err(());
        }
        (*cln).handler = Some(ngx_ssl_cleanup_ctx);
        (*cln).data = raw.cast();

        let mut ciphers = pool_str(cf, &tls.ciphers).ok_or(())?;
        ok(ngx_ssl_ciphers(cf, raw, &mut ciphers, 0))?;
        for pair in &tls.certificates {
            let mut cert = pool_str(cf, &pair.certificate).ok_or(())?;
            let mut key = pool_str(cf, &pair.key).ok_or(())?;
            ok(ngx_ssl_certificate(
                cf,
                raw,
                &mut cert,
                &mut key,
                ptr::null_mut(),
            ))?;
        }
        let builtin = match tls.session_cache {
            SessionCache::Off => nginx_sys::NGX_SSL_NO_SCACHE as isize,
            SessionCache::None => nginx_sys::NGX_SSL_NONE_SCACHE as isize,
            SessionCache::Builtin(None) => nginx_sys::NGX_SSL_DFLT_BUILTIN_SCACHE as isize,
            SessionCache::Builtin(Some(n)) => n as isize,
        };
        let mut sess_ctx = pool_str(cf, SESSION_ID_CONTEXT).ok_or(())?;
        let timeout_s = (tls.session_timeout_ms / 1000) as nginx_sys::time_t;
        // The certificates are loaded (not per connection), so nginx derives the session
        // id context from the context itself: no list is passed.
        ok(ngx_ssl_session_cache(
            raw,
            &mut sess_ctx,
            ptr::null_mut(),
            builtin,
            ptr::null_mut(),
            timeout_s,
        ))?;
    }
    Ok(SslContext(ssl))
}
