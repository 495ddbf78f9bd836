//! TLS clients through nginx's OpenSSL, as nginx's proxy module speaks TLS to its upstreams:
//! an `ngx_ssl_t` context made when the configuration is read, `ngx_ssl_create_connection` and
//! `ngx_ssl_handshake` on an established connection, after which nginx has swapped the
//! connection's `recv`/`send` for its SSL functions, so the connection is used as before.
//!
//! As in nginx's proxy, OpenSSL verifies the server's chain during the handshake without
//! aborting it, and the result is checked after it: a refused certificate is one reason the
//! caller reports (the chain, or the host name, which OpenSSL checks with the chain), not an
//! alert per attempt. The server name goes out as SNI (not for an address, RFC 6066).

use std::cell::Cell;
use std::ffi::{c_char, c_long, c_void, CStr, CString};
use std::net::IpAddr;
use std::ptr::{self, NonNull};

use nginx_sys::{
    ngx_conf_t, ngx_connection_t, ngx_create_pool, ngx_destroy_pool, ngx_int_t, ngx_log_t,
    ngx_ssl_create, ngx_ssl_create_connection, ngx_ssl_handshake, ngx_ssl_shutdown, ngx_ssl_t,
    ngx_uint_t, ERR_clear_error, ERR_error_string_n, ERR_get_error, NGX_SSL_SSLv2, NGX_SSL_SSLv3,
    NGX_SSL_TLSv1, NGX_SSL_TLSv1_1, NGX_SSL_TLSv1_2, NGX_SSL_TLSv1_3, SSL_CTX_free,
    SSL_CTX_load_verify_locations, SSL_CTX_new, SSL_CTX_set_default_verify_paths, SSL_ctrl,
    SSL_get0_param, SSL_get_verify_result, TLSEXT_NAMETYPE_host_name, TLS_client_method,
    X509_VERIFY_PARAM_set1_host, X509_VERIFY_PARAM_set1_ip_asc, X509_VERIFY_PARAM_set_hostflags,
    X509_verify_cert_error_string, NGX_AGAIN, NGX_OK, NGX_SSL_CLIENT, SSL_CTRL_SET_TLSEXT_HOSTNAME,
    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, X509_V_ERR_HOSTNAME_MISMATCH,
    X509_V_ERR_IP_ADDRESS_MISMATCH, X509_V_OK,
};

use super::capture::Capture;
use crate::conf::{RelaySsl, TlsProtocol, TlsProtocols};
use crate::ngx::net::Connection;
use crate::relay::reason_of_log_line;

/// What nginx calls when a handshake that returned [`Step::Again`] ends, either way.
pub type Handler = unsafe extern "C" fn(*mut ngx_connection_t);

/// `SSL_CTRL_MODE` and `SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER` (macros OpenSSL keeps out of the
/// bindings): a write retried after `NGX_AGAIN` may come from another address.
const SSL_CTRL_MODE: i32 = 33;
const SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER: c_long = 2;

/// Where a TLS handshake is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Up, and the certificate accepted (or not checked): the connection carries the session.
    Done,
    /// Waiting for the peer: nginx calls the handler given to [`ClientContext::start`].
    Again,
    /// Failed or refused, with the reason.
    Failed(String),
}

fn protocol_bits(p: TlsProtocols) -> ngx_uint_t {
    p.iter()
        .map(|p| match p {
            TlsProtocol::SslV2 => NGX_SSL_SSLv2,
            TlsProtocol::SslV3 => NGX_SSL_SSLv3,
            TlsProtocol::TlsV1 => NGX_SSL_TLSv1,
            TlsProtocol::TlsV1_1 => NGX_SSL_TLSv1_1,
            TlsProtocol::TlsV1_2 => NGX_SSL_TLSv1_2,
            TlsProtocol::TlsV1_3 => NGX_SSL_TLSv1_3,
        } as ngx_uint_t)
        .fold(0, |a, b| a | b)
}

/// OpenSSL's error queue as nginx prints it (` (SSL: error:...)`), emptied; empty when the
/// queue is.
fn openssl_errors() -> String {
    let mut errors = Vec::new();
    loop {
        // SAFETY: OpenSSL's per-thread error queue, used on the worker's only thread.
        let e = unsafe { ERR_get_error() };
        if e == 0 {
            break;
        }
        let mut buf = [0 as c_char; 256];
        // SAFETY: `buf` is writable for its length; OpenSSL NUL-terminates within it.
        let text = unsafe {
            ERR_error_string_n(e, buf.as_mut_ptr(), buf.len());
            CStr::from_ptr(buf.as_ptr())
        };
        errors.push(text.to_string_lossy().into_owned());
    }
    if errors.is_empty() {
        String::new()
    } else {
        format!(" (SSL: {})", errors.join(" "))
    }
}

/// Loads the PEM authorities of `path` into `ctx`.
///
/// # Safety
/// `ctx` must be a live `SSL_CTX`.
unsafe fn load_authorities(ctx: *mut nginx_sys::SSL_CTX, path: &str) -> Result<(), String> {
    let file = CString::new(path).map_err(|_| format!("invalid file name \"{path}\""))?;
    // SAFETY: `ctx` is live (contract); `file` is a NUL-terminated string for the call.
    let ok = unsafe {
        ERR_clear_error();
        SSL_CTX_load_verify_locations(ctx, file.as_ptr(), ptr::null())
    };
    if ok == 1 {
        Ok(())
    } else {
        Err(format!(
            "cannot load trusted certificates from \"{path}\"{}",
            openssl_errors()
        ))
    }
}

/// Whether `path` holds PEM certificates OpenSSL can trust (checked when the directive is
/// read, so that `nginx -t` names its line).
pub fn check_authorities(path: &str) -> Result<(), String> {
    // SAFETY: a fresh context, freed below; OpenSSL is initialised by nginx before the
    // configuration is read.
    let ctx = unsafe { SSL_CTX_new(TLS_client_method()) };
    if ctx.is_null() {
        return Err(format!("SSL_CTX_new() failed{}", openssl_errors()));
    }
    // SAFETY: `ctx` is the live context made above.
    let r = unsafe { load_authorities(ctx, path) };
    // SAFETY: made above, freed once.
    unsafe { SSL_CTX_free(ctx) };
    r
}

/// An `ngx_ssl_t` for clients: protocols, and the trusted authorities when verifying.
pub struct ClientContext {
    ssl: NonNull<ngx_ssl_t>,
    verify: bool,
}

impl ClientContext {
    /// A context for `settings`, logging through the configuration's log.
    ///
    /// # Safety
    /// `cf` must be the configuration being read, whose log outlives the context.
    pub unsafe fn new(cf: *mut ngx_conf_t, settings: &RelaySsl) -> Result<ClientContext, String> {
        // All zero, as nginx's own modules get it from `ngx_pcalloc`: the fields differ between
        // nginx versions (1.28 adds the certificate list and the stapling tree), and
        // `ngx_ssl_create` initialises what it needs from that state.
        // SAFETY: `ngx_ssl_t` is a C struct of pointers, integers and nested C structs of the
        // same, for which all-zero bytes are a valid value.
        let mut zeroed: ngx_ssl_t = unsafe { core::mem::zeroed() };
        // SAFETY: `cf` is live (contract).
        zeroed.log = unsafe { (*cf).log };
        let ssl = Box::into_raw(Box::new(zeroed));
        let context = ClientContext {
            // SAFETY: `Box::into_raw` never gives null.
            ssl: unsafe { NonNull::new_unchecked(ssl) },
            verify: settings.verify,
        };
        // SAFETY: `ssl` is the allocation above with its log set, as `ngx_ssl_create` needs;
        // it logs its own failures through that log.
        let rc = unsafe { ngx_ssl_create(ssl, protocol_bits(settings.protocols), ptr::null_mut()) };
        if rc != NGX_OK as ngx_int_t {
            return Err("cannot create the TLS client context of relays".into());
        }
        if settings.verify {
            // SAFETY: `ngx_ssl_create` made `ctx`.
            let ctx = unsafe { (*ssl).ctx };
            match &settings.trusted_certificate {
                // SAFETY: `ctx` is live.
                Some(path) => unsafe { load_authorities(ctx, path) }?,
                None => {
                    // SAFETY: as above.
                    if unsafe { SSL_CTX_set_default_verify_paths(ctx) } != 1 {
                        return Err(format!(
                            "cannot load the system's trusted certificates{}",
                            openssl_errors()
                        ));
                    }
                }
            }
        }
        Ok(context)
    }

    /// Starts TLS on `c`, an established connection to `host` (a name or an address literal,
    /// without brackets). The returned [`ClientTls`] goes with the connection until
    /// [`ClientTls::close`]. On [`Step::Again`] nginx drives the handshake with its own event
    /// handlers and calls `on_done` when it ends; the caller then sets its handlers again and
    /// calls [`ClientTls::resume`].
    pub fn start(&self, c: &Connection, host: &str, on_done: Handler) -> (ClientTls, Step) {
        let raw = c.as_ptr();
        // SAFETY: `c` is live (the handle's invariant); its log is valid.
        let saved_log = unsafe { (*raw).log };
        // SAFETY: as above.
        let capture = unsafe { Capture::new(saved_log) };
        // nginx's SSL functions log through the connection's log: the capture keeps the
        // reason of a failure for the caller's one line.
        // SAFETY: as above; the capture outlives its use as the log (restored before it goes).
        unsafe { (*raw).log = capture.as_log() };
        let mut tls = ClientTls {
            capture: Some(capture),
            saved_log,
            own_pool: false,
            verify: self.verify,
            host: host.to_owned(),
        };
        // SAFETY: `c` is live; the context is live for the configuration's lifetime.
        let step = unsafe { tls.begin(raw, self.ssl.as_ptr(), on_done) };
        let step = match step {
            Ok(()) => {
                // SAFETY: `c` is live and has its SSL connection.
                let rc = unsafe { ngx_ssl_handshake(raw) };
                if rc == NGX_OK as ngx_int_t {
                    tls.finish(c)
                } else if rc == NGX_AGAIN as ngx_int_t {
                    Step::Again
                } else {
                    Step::Failed(tls.reason(c, "handshake failed"))
                }
            }
            Err(why) => Step::Failed(tls.reason(c, &why)),
        };
        (tls, step)
    }
}

impl Drop for ClientContext {
    fn drop(&mut self) {
        let ssl = self.ssl.as_ptr();
        // SAFETY: the allocation made by `new`, freed once with its OpenSSL context; the
        // configuration that owns the context is being freed, and its connections are gone.
        unsafe {
            if !(*ssl).ctx.is_null() {
                SSL_CTX_free((*ssl).ctx);
            }
            drop(Box::from_raw(ssl));
        }
    }
}

/// The client contexts of a configuration, one per distinct setting.
#[derive(Default)]
pub struct ClientContexts(Vec<(RelaySsl, ClientContext)>);

impl ClientContexts {
    pub fn get(&self, ssl: &RelaySsl) -> Option<&ClientContext> {
        self.0.iter().find(|(s, _)| s == ssl).map(|(_, c)| c)
    }

    pub fn add(&mut self, ssl: RelaySsl, context: ClientContext) {
        self.0.push((ssl, context));
    }
}

thread_local! {
    /// The contexts of the configuration the worker runs.
    static WORKER_CONTEXTS: Cell<Option<&'static ClientContexts>> = const { Cell::new(None) };
}

/// A worker starts with `contexts` (its cycle's, which outlive everything it runs).
pub fn install(contexts: &'static ClientContexts) {
    WORKER_CONTEXTS.with(|c| c.set(Some(contexts)));
}

/// The worker's client context for relays with `ssl`.
pub fn context_for(ssl: &RelaySsl) -> Option<&'static ClientContext> {
    WORKER_CONTEXTS.with(Cell::get)?.get(ssl)
}

/// The TLS of one connection, from [`ClientContext::start`] until [`ClientTls::close`].
pub struct ClientTls {
    /// Installed as the connection's log while the handshake runs.
    capture: Option<Capture>,
    saved_log: *mut ngx_log_t,
    /// The connection had no pool (connections nginx makes for us do not): one was made for
    /// the SSL state and is destroyed on close.
    own_pool: bool,
    verify: bool,
    host: String,
}

impl ClientTls {
    /// The SSL connection, SNI and the name to verify.
    ///
    /// # Safety
    /// `raw` must be a live connection and `ssl` a live context.
    unsafe fn begin(
        &mut self,
        raw: *mut ngx_connection_t,
        ssl: *mut ngx_ssl_t,
        on_done: Handler,
    ) -> Result<(), String> {
        // SAFETY: `raw` is live (contract).
        unsafe {
            if (*raw).pool.is_null() {
                let pool = ngx_create_pool(1024, self.saved_log);
                if pool.is_null() {
                    return Err("out of memory".into());
                }
                (*raw).pool = pool;
                self.own_pool = true;
            }
        }
        // SAFETY: `raw` and `ssl` are live (contract); the SSL state lives in the connection's
        // pool.
        if unsafe { ngx_ssl_create_connection(ssl, raw, NGX_SSL_CLIENT as ngx_uint_t) }
            != NGX_OK as ngx_int_t
        {
            return Err("cannot start TLS".into());
        }
        let name = CString::new(self.host.as_str()).map_err(|_| "invalid host name".to_owned())?;
        let ip = self.host.parse::<IpAddr>().is_ok();
        // SAFETY: `ngx_ssl_create_connection` set `c->ssl` and its SSL object; `name` is a
        // NUL-terminated string OpenSSL copies.
        unsafe {
            let sc = (*(*raw).ssl).connection;
            SSL_ctrl(
                sc,
                SSL_CTRL_MODE,
                SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER,
                ptr::null_mut(),
            );
            if !ip
                && SSL_ctrl(
                    sc,
                    SSL_CTRL_SET_TLSEXT_HOSTNAME as i32,
                    TLSEXT_NAMETYPE_host_name as c_long,
                    name.as_ptr().cast_mut().cast::<c_void>(),
                ) != 1
            {
                return Err(format!("cannot set the server name{}", openssl_errors()));
            }
            if self.verify {
                let param = SSL_get0_param(sc);
                let ok = if ip {
                    X509_VERIFY_PARAM_set1_ip_asc(param, name.as_ptr())
                } else {
                    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
                    X509_VERIFY_PARAM_set1_host(param, name.as_ptr(), self.host.len())
                };
                if ok != 1 {
                    return Err(format!("cannot set the name to verify{}", openssl_errors()));
                }
            }
            (*(*raw).ssl).handler = Some(on_done);
        }
        Ok(())
    }

    /// The handshake that returned [`Step::Again`] ended (nginx called the handler).
    pub fn resume(&mut self, c: &Connection) -> Step {
        let raw = c.as_ptr();
        // SAFETY: `c` is live; `ssl` is null or its SSL state.
        let (handshaked, timedout) = unsafe {
            let ssl = (*raw).ssl;
            (
                !ssl.is_null() && (*ssl).handshaked() != 0,
                (*(*raw).read).timedout() != 0 || (*(*raw).write).timedout() != 0,
            )
        };
        if handshaked {
            self.finish(c)
        } else if timedout {
            self.restore_log(c);
            Step::Failed("handshake timed out".into())
        } else {
            Step::Failed(self.reason(c, "handshake failed"))
        }
    }

    /// The handshake is done: the certificate's verdict.
    fn finish(&mut self, c: &Connection) -> Step {
        self.restore_log(c);
        if !self.verify {
            return Step::Done;
        }
        // SAFETY: `c` is live and handshaked, so it has its SSL state; OpenSSL's strings are
        // static.
        let (rc, what) = unsafe {
            let rc = SSL_get_verify_result((*(*c.as_ptr()).ssl).connection);
            (rc, CStr::from_ptr(X509_verify_cert_error_string(rc)))
        };
        if rc == X509_V_OK as c_long {
            return Step::Done;
        }
        let what = what.to_string_lossy();
        let mismatch = [X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH]
            .contains(&u32::try_from(rc).unwrap_or(0));
        Step::Failed(if mismatch {
            format!("certificate verify failed: {what} (\"{}\")", self.host)
        } else {
            format!("certificate verify failed: {what}")
        })
    }

    /// What nginx logged about the failure, or `fallback`.
    fn reason(&mut self, c: &Connection, fallback: &str) -> String {
        let line = self.capture.as_ref().and_then(Capture::take);
        self.restore_log(c);
        line.map_or_else(|| fallback.to_owned(), |l| reason_of_log_line(&l))
    }

    /// Gives the connection its own log back.
    fn restore_log(&mut self, c: &Connection) {
        if let Some(capture) = self.capture.take() {
            // SAFETY: `c` is live; the saved log is the one it had, valid as long as it is.
            unsafe { (*c.as_ptr()).log = self.saved_log };
            drop(capture);
        }
    }

    /// Ends TLS on `c` before it closes: a close_notify when the socket takes it now (no wait
    /// for the peer's), the SSL state freed, and the pool made for it destroyed.
    pub fn close(mut self, c: &Connection) {
        self.restore_log(c);
        let raw = c.as_ptr();
        // SAFETY: `c` is live; `ssl` is null or its SSL state, which `ngx_ssl_shutdown` frees
        // (setting `c->ssl` to null) unless the close_notify must wait for the socket: then
        // the connection is marked failed and the second call frees it without sending.
        unsafe {
            if !(*raw).ssl.is_null() {
                (*(*raw).ssl).set_no_wait_shutdown(1);
                if ngx_ssl_shutdown(raw) == NGX_AGAIN as ngx_int_t && !(*raw).ssl.is_null() {
                    (*raw).set_error(1);
                    ngx_ssl_shutdown(raw);
                }
            }
            if self.own_pool && !(*raw).pool.is_null() {
                ngx_destroy_pool((*raw).pool);
                (*raw).pool = ptr::null_mut();
            }
        }
    }
}
