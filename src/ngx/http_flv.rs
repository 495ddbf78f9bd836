//! HTTP-FLV: `flv_live on` in a `location {}` makes it serve live streams as FLV over HTTP,
//! with nginx-http-flv-module's URLs (`/flv?app=live&stream=name`, optional `port=`/`srv=`;
//! and `/flv/live/name.flv`). The response is `video/x-flv`, its head through nginx's header
//! filters (`add_header` for CORS works as usual), its body chunked or not as nginx decides
//! (`chunked_transfer_encoding`, HTTP/1.0), and lasts as long as the stream: the request is
//! an [`FlvPlayer`] of it until the publisher leaves (the response ends cleanly), the client
//! goes, or it takes nothing for `send_timeout`.
//!
//! Lifecycle: the content handler runs the play checks and joins the stream, then keeps the
//! request (`count`) and returns `NGX_DONE`; the player lives until the request's pool is
//! destroyed (a pool cleanup frees it), so the buffers nginx holds stay valid. Only the
//! request's own write handler finalizes it, never a delivery.

use core::ffi::{c_char, c_void};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

use ::ngx::core::{NGX_CONF_ERROR, NGX_CONF_OK};
use ::ngx::http::{HttpModuleLocationConf, NgxHttpCoreModule, Request};
use nginx_sys::{
    ngx_command_t, ngx_conf_t, ngx_http_finalize_request, ngx_http_request_t, ngx_int_t,
    ngx_pool_cleanup_add, ngx_str_t, NGX_HTTP_INTERNAL_SERVER_ERROR,
};

use super::conf::{args, log_error};
use super::flv_player::{FlvPlayer, Identity, Step};
use super::net::Connection;
use super::worker::{self, Client};
use crate::conf::{RtmpConf, ServerConf};
use crate::http::flv_url::{FlvRequest, ServerChoice};

/// HTTP-FLV players' ids in the worker's client registry: above every connection number.
const ID_BASE: u64 = 1 << 62;
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// `flv_live on|off`.
pub unsafe extern "C" fn flv_live_directive(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    _conf: *mut c_void,
) -> *mut c_char {
    super::catch(|| {
        // SAFETY: a directive handler's `cf`, in an http location: its `ctx` holds the
        // location's configurations.
        let (conf, a) = unsafe { (&*cf, args(cf)) };
        let Some(clcf) = NgxHttpCoreModule::location_conf_mut(conf) else {
            return NGX_CONF_ERROR;
        };
        match a.get(1).copied() {
            Some("on") => {
                clcf.handler = Some(flv_handler);
                NGX_CONF_OK
            }
            Some("off") => NGX_CONF_OK,
            other => log_error(
                cf,
                &format!(
                    "invalid value \"{}\" in \"flv_live\" directive, it must be \"on\" or \"off\"",
                    other.unwrap_or_default()
                ),
            ),
        }
    })
    .unwrap_or(NGX_CONF_ERROR)
}

fn str_of(s: &ngx_str_t) -> &str {
    if s.len == 0 || s.data.is_null() {
        return "";
    }
    core::str::from_utf8(s.as_bytes()).unwrap_or("")
}

/// The `rtmp` server block a request names.
fn server_of<'a>(conf: &'a RtmpConf, choice: &ServerChoice) -> Option<&'a ServerConf> {
    match choice {
        ServerChoice::First => conf.servers.first(),
        ServerChoice::Port(p) => conf
            .servers
            .iter()
            .find(|s| s.listens.iter().any(|l| l.addr.port() == *p)),
        ServerChoice::Index(i) => conf.servers.get(*i),
    }
}

unsafe extern "C" fn flv_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    // SAFETY: nginx calls a content handler with a live request.
    super::catch(|| unsafe { content(r) }).unwrap_or(NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t)
}

/// # Safety
/// `r` must be what nginx passed to a content handler.
unsafe fn content(r: *mut ngx_http_request_t) -> ngx_int_t {
    // SAFETY: the caller's contract; the reference ends before the request can end.
    let req = unsafe { Request::from_ngx_http_request(r) };
    let allowed = (nginx_sys::NGX_HTTP_GET | nginx_sys::NGX_HTTP_HEAD) as usize;
    if req.as_ref().method & allowed == 0 {
        return nginx_sys::NGX_HTTP_NOT_ALLOWED as ngx_int_t;
    }
    let rc = req.discard_request_body();
    if !rc.is_ok() {
        return rc.into();
    }
    let Some(clcf) = NgxHttpCoreModule::location_conf(req) else {
        return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
    };
    let (prefix, send_timeout) = (str_of(&clcf.name), clcf.send_timeout);
    // SAFETY: a live request has its connection (alive as long as the request).
    let Some(c) = (unsafe { Connection::from_raw(req.as_ref().connection) }) else {
        return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
    };
    let log = c.log();
    let r_ref = req.as_ref();
    let flv = match FlvRequest::parse(str_of(&r_ref.uri), prefix, str_of(&r_ref.args)) {
        Ok(f) => f,
        Err(e) => {
            log_info!(log, "http-flv: client {}: {}", c.number(), e);
            return nginx_sys::NGX_HTTP_BAD_REQUEST as ngx_int_t;
        }
    };
    let conf = worker::with_stat(|s| s.conf);
    let Some((server, app)) = conf
        .and_then(|conf| server_of(conf, &flv.server))
        .and_then(|s| Some((s, s.application(&flv.app)?)))
    else {
        log_info!(
            log,
            "http-flv: client {}: no application \"{}\"",
            c.number(),
            flv.app
        );
        return nginx_sys::NGX_HTTP_NOT_FOUND as ngx_int_t;
    };
    // SAFETY: a `ServerConf` lives as long as the configuration cycle, which outlives the
    // worker and so every request.
    let server: &'static ServerConf = unsafe { &*(server as *const ServerConf) };
    let app = server
        .applications
        .iter()
        .find(|a| a.name == app.name)
        .unwrap_or_else(|| unreachable!("found above"));
    let referer = r_ref.headers_in.referer;
    // SAFETY: a non-null header element of a live request is valid.
    let referer = unsafe { referer.as_ref() }.map_or("", |h| str_of(&h.value));
    let scheme = if c.is_tls() { "https" } else { "http" };
    let who = Identity {
        id: ID_BASE + NEXT_ID.fetch_add(1, Ordering::Relaxed),
        number: c.number(),
        addr: c.addr_text(),
        ip: c.peer_ip(),
        tls: c.is_tls(),
        server,
        app,
        name: flv.name,
        args: flv.args,
        url: format!(
            "{scheme}://{}{}",
            str_of(&r_ref.headers_in.server),
            str_of(&r_ref.unparsed_uri)
        ),
        referer: referer.to_owned(),
    };
    let id = who.id;
    // SAFETY: the player is freed by the cleanup of the request's pool, after the request.
    let Some(player) = (unsafe { FlvPlayer::new(r, who, log, send_timeout) }) else {
        return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
    };
    // SAFETY: a live request's pool.
    let cln = unsafe { ngx_pool_cleanup_add(r_ref.pool, 0) };
    if cln.is_null() {
        return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
    }
    let raw = Box::into_raw(Box::new(player));
    // SAFETY: `cln` is the pool's new cleanup; `raw` is released to it (freed once, there).
    unsafe {
        (*cln).handler = Some(on_cleanup);
        (*cln).data = raw.cast();
    }
    let client: *mut dyn Client = raw;
    // SAFETY: the player lives until the pool cleanup, which unregisters it first; its
    // handlers mark it busy while they hold it.
    worker::clients(|reg| unsafe { reg.register(id, NonNull::new_unchecked(client)) });
    let answer: super::http_play::Answer = Box::new(move |result| {
        // The request may be gone by now.
        worker::clients(|reg| reg.with(id, |c| c.notified(result)));
    });
    let step = {
        let _busy = worker::clients(|reg| reg.enter(id));
        // SAFETY: `raw` is live (freed only by the pool cleanup) and not otherwise in use.
        unsafe { (*raw).begin(answer) }
    };
    worker::with(|w| super::stat_snapshot::note_changes(w));
    match step {
        Step::Finalize(rc) => rc,
        Step::Wait => {
            // SAFETY: a live request; the count keeps it until `on_write` finalizes it or
            // nginx terminates it (the client went).
            unsafe {
                let main = (*r).main;
                (*main).set_count((*main).count() + 1);
                (*r).read_event_handler = Some(nginx_sys::ngx_http_test_reading);
                (*r).write_event_handler = Some(on_write);
            }
            nginx_sys::NGX_DONE as ngx_int_t
        }
    }
}

/// The player of `r`: the data of its pool's cleanup that frees it (a request's pool has a
/// handful of cleanups), or null.
fn player_of(r: *mut ngx_http_request_t) -> *mut FlvPlayer {
    let ours = on_cleanup as unsafe extern "C" fn(*mut c_void) as usize;
    // SAFETY: a live request's pool and its cleanup list (nginx's, read on its only thread).
    let mut c = unsafe { (*(*r).pool).cleanup };
    while !c.is_null() {
        // SAFETY: a node of the list.
        let (handler, data, next) = unsafe { ((*c).handler, (*c).data, (*c).next) };
        if handler.map(|h| h as usize) == Some(ours) {
            return data.cast();
        }
        c = next;
    }
    std::ptr::null_mut()
}

/// The request's write handler: deliveries, a writable socket, the send timeout, the
/// `on_play` answer.
unsafe extern "C" fn on_write(r: *mut ngx_http_request_t) {
    let p = player_of(r);
    if p.is_null() {
        return;
    }
    let step = super::catch(|| {
        // SAFETY: the player lives until the pool cleanup, which cannot run while this
        // handler holds it; the registry does not hand it out meanwhile.
        let player = unsafe { &mut *p };
        let _busy = worker::clients(|reg| reg.enter(player.id()));
        player.on_write()
    })
    .unwrap_or(Step::Finalize(nginx_sys::NGX_ERROR as ngx_int_t));
    let _ = super::catch(|| worker::with(|w| super::stat_snapshot::note_changes(w)));
    if let Step::Finalize(rc) = step {
        // SAFETY: nginx called this handler with its live request; the player is no longer
        // borrowed (finalizing may free it).
        unsafe { ngx_http_finalize_request(r, rc) };
    }
}

/// The request's pool is destroyed: the player leaves and is freed.
unsafe extern "C" fn on_cleanup(data: *mut c_void) {
    // SAFETY: `data` is the player released to this cleanup by `content`, freed only here.
    let mut player = unsafe { Box::from_raw(data.cast::<FlvPlayer>()) };
    worker::clients(|reg| reg.unregister(player.id()));
    let _ = super::catch(move || {
        player.close();
        drop(player);
        worker::with(|w| super::stat_snapshot::note_changes(w));
    });
}
