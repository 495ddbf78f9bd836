//! The play checks of `rtmp_hls` playlist requests, with `rtmp_hls_play_check on`: the
//! contract of an RTMP play ([`super::http_play`]) on the playlist's stream, checked on the
//! query arguments without the LL-HLS delivery directives.
//!
//! `allow`/`deny play` and `play_secret` run on every request (cheap, synchronous).
//! `on_play` runs once per (application, stream, client address, arguments) and its verdict
//! is reused for `rtmp_hls_play_cache` ([`crate::hls_http::access`]): players reload a
//! playlist every target duration, LL-HLS players about three times a second. While the
//! callback is out the request is suspended (its count raised, `NGX_DONE`) and waits in the
//! worker's map with every other request of the same key; the answer continues each with
//! the playlist (blocking reloads then wait as usual) or ends it with 403. A client that goes
//! away meanwhile is forgotten by its request's cleanup. There is no `on_play_done`: an HLS
//! player is a series of requests, not a session, and nothing tells when it stopped.

use core::ffi::c_void;
use core::ptr::NonNull;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use ::ngx::http::Request;
use nginx_sys::{
    ngx_http_request_t, ngx_int_t, NGX_DONE, NGX_HTTP_FORBIDDEN, NGX_HTTP_INTERNAL_SERVER_ERROR,
    NGX_HTTP_SERVICE_UNAVAILABLE,
};

use super::hls_wait::finish;
use super::http_play::{self, Checked, HttpPlay};
use super::log::Log;
use super::net::Connection;
use super::worker::with_hls_access;
use crate::auth::http_play::check_local;
use crate::conf::{AppConf, Call};
use crate::hls_http::access::{verdict, without_directives, Key, Known, Suspended, Verdict};
use crate::hls_http::Directives;
use crate::http::{HttpError, Response};

/// Ids of waiting requests (their cleanups name them).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The outcome of [`check`].
pub enum Access {
    /// Serve the playlist now.
    Read,
    /// The content handler returns this (`NGX_DONE`: suspended; 403, 404, 503, 500).
    Answer(ngx_int_t),
}

/// A playlist request: what it reads and how its answer goes on once allowed.
pub struct Asked<'a> {
    pub app: &'static AppConf,
    pub stream: &'a str,
    pub playlist: &'a Path,
    pub directives: Directives,
    pub max_waiting: usize,
    /// `rtmp_hls_play_cache`.
    pub cache_ms: u64,
}

fn str_of(s: &nginx_sys::ngx_str_t) -> &str {
    if s.len == 0 || s.data.is_null() {
        return "";
    }
    core::str::from_utf8(s.as_bytes()).unwrap_or("")
}

/// Runs the play checks of playlist request `r` (`req`).
///
/// # Safety
/// `r` must be the live request of a content handler that is running, and `req` it.
pub unsafe fn check(req: &Request, r: *mut ngx_http_request_t, a: Asked<'_>) -> Access {
    let rr = req.as_ref();
    // SAFETY: a live request has its connection, alive as long as the request; the handle
    // is used within this call only.
    let Some(c) = (unsafe { Connection::from_raw(rr.connection) }) else {
        return Access::Answer(NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t);
    };
    let (log, ip, number) = (c.log(), c.peer_ip(), c.number());
    let args = without_directives(str_of(&rr.args));
    let app = a.app;
    let now = nginx_sys::ngx_time() as u64;
    if let Err(why) = check_local(&app.name, &app.settings, ip, a.stream, &args, now) {
        refused(log, number, app, a.stream, &why.to_string());
        return Access::Answer(why.status() as ngx_int_t);
    }
    if app.settings.notify.get(Call::Play).is_none() {
        return Access::Read;
    }
    let key = Key::new(&app.name, a.stream, ip, &args);
    let now_ms = super::now_ms();
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let Some(handle) = NonNull::new(r) else {
        return Access::Answer(NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t);
    };
    let waiter = Suspended {
        request: handle,
        playlist: a.playlist.to_path_buf(),
        directives: a.directives,
        max_waiting: a.max_waiting,
    };
    match with_hls_access(|v| v.lookup(&key, now_ms)) {
        Known::Verdict(true) => return Access::Read,
        Known::Verdict(false) => {
            return Access::Answer(NGX_HTTP_FORBIDDEN as ngx_int_t);
        }
        Known::Asking => {
            if with_hls_access(|v| v.join(&key, id, waiter, a.max_waiting)).is_err() {
                return Access::Answer(NGX_HTTP_SERVICE_UNAVAILABLE as ngx_int_t);
            }
            // SAFETY: the running content handler's request (contract).
            return Access::Answer(unsafe { suspend(r, id) });
        }
        Known::Unknown => {}
    }
    if let Err(full) = with_hls_access(|v| v.can_ask(a.max_waiting)) {
        log_warn!(
            log,
            "rtmp_hls: client {number}: play \"{}/{}\" not checked: {full:?} full",
            app.name,
            a.stream
        );
        return Access::Answer(NGX_HTTP_SERVICE_UNAVAILABLE as ngx_int_t);
    }
    let referer = rr.headers_in.referer;
    // SAFETY: a non-null header element of a live request is valid.
    let referer = unsafe { referer.as_ref() }.map_or("", |h| str_of(&h.value));
    let uri = str_of(&rr.unparsed_uri);
    let path = uri.split('?').next().unwrap_or(uri);
    let scheme = if c.is_tls() { "https" } else { "http" };
    let sep = if args.is_empty() { "" } else { "?" };
    let url = format!(
        "{scheme}://{}{path}{sep}{args}",
        str_of(&rr.headers_in.server)
    );
    let play = HttpPlay {
        app,
        ip,
        client: number,
        name: a.stream,
        args: &args,
        url: &url,
        referer,
        log,
    };
    let (stream, cache_ms) = (a.stream.to_owned(), a.cache_ms);
    let answer: http_play::Answer = Box::new(move |result| {
        let _ = super::catch(|| settled(&key, &stream, result, cache_ms, log, app));
    });
    match http_play::check(&play, answer) {
        Checked::Play(_) => Access::Read,
        Checked::Refused(why) => {
            refused(log, number, app, a.stream, &why.to_string());
            Access::Answer(why.status() as ngx_int_t)
        }
        Checked::Waiting => {
            if with_hls_access(|v| v.ask(key, id, waiter)).is_err() {
                return Access::Answer(NGX_HTTP_SERVICE_UNAVAILABLE as ngx_int_t);
            }
            // SAFETY: the running content handler's request (contract).
            Access::Answer(unsafe { suspend(r, id) })
        }
    }
}

fn refused(log: Log, number: u64, app: &AppConf, stream: &str, why: &str) {
    log_info!(
        log,
        "rtmp_hls: client {number}: play \"{}/{stream}\" refused: {why}",
        app.name
    );
}

/// Suspends request `r`, waiting for a verdict as `id`.
///
/// # Safety
/// `r` must be the live request of a content handler that is running.
unsafe fn suspend(r: *mut ngx_http_request_t, id: u64) -> ngx_int_t {
    // SAFETY: a live request (contract) that its handler finalizes with what this returns.
    let rc = unsafe { super::http_reply::suspend(r, id, cleanup) };
    if rc != NGX_DONE as ngx_int_t {
        with_hls_access(|v| v.forget(id));
    }
    rc
}

/// A request ended (client gone, or answered: then it is no longer waiting and this does
/// nothing).
unsafe extern "C" fn cleanup(data: *mut c_void) {
    let _ = super::catch(|| with_hls_access(|v| v.forget(data as usize as u64)));
}

/// The callback of `key` answered: the verdict is kept, the waiting requests go on.
fn settled(
    key: &Key,
    stream: &str,
    result: Result<Response, HttpError>,
    cache_ms: u64,
    log: Log,
    app: &AppConf,
) {
    let v = verdict(stream, result);
    match &v {
        Verdict::Allowed => {}
        Verdict::Refused(why) | Verdict::Failed(why) => {
            log_info!(
                log,
                "rtmp_hls: play \"{}/{stream}\" refused: {why}",
                app.name
            );
        }
    }
    let allowed = v == Verdict::Allowed;
    let waiters = with_hls_access(|w| w.settle(key, v.kept(), super::now_ms(), cache_ms));
    for w in waiters {
        resume(w, allowed);
    }
}

/// Continues a request that waited for its verdict: the playlist's answer, or 403.
fn resume(w: Suspended<NonNull<ngx_http_request_t>>, allowed: bool) {
    let r = w.request.as_ptr();
    let rc = super::catch(|| {
        if !allowed {
            return NGX_HTTP_FORBIDDEN as ngx_int_t;
        }
        // SAFETY: a waiting request stays alive until it is finalized here (its raised
        // count); one that ended earlier was forgotten by its cleanup.
        let req = unsafe { Request::from_ngx_http_request(r) };
        super::hls_wait::playlist(req, r, &w.playlist, &w.directives, w.max_waiting)
    });
    finish(r, rc.unwrap_or(NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t));
}

/// The worker exits: requests still waiting for a verdict get 503 (their clients retry on a
/// live worker).
pub fn answer_all() {
    for w in with_hls_access(|v| v.drain()) {
        finish(
            w.request.as_ptr(),
            NGX_HTTP_SERVICE_UNAVAILABLE as ngx_int_t,
        );
    }
}
