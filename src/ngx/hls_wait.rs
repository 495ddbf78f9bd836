//! The answer of an `rtmp_hls` playlist request ([`playlist`]: at once, 400, or a wait; also
//! where a request allowed by a late `on_play` verdict goes on), and the waiting requests:
//! blocking playlist reloads and requests of the hinted next part. The publisher may be on any worker, so the wake-up comes from the files: one timer
//! per worker, armed only while requests wait, stats each watched playlist every
//! [`TICK_MS`] and re-reads it when it changed (a rename gives it a new inode), then answers
//! the requests it satisfies ([`crate::hls_http::Waiters`] decides). A waiting request is a
//! suspended nginx request (its count raised, `NGX_DONE`) plus an entry here: a client that
//! goes away is forgotten by the request's cleanup; the wait ends in 503 at its limit.

use core::ffi::c_void;
use core::ptr::NonNull;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use ::ngx::http::Request;
use nginx_sys::{
    ngx_event_t, ngx_http_finalize_request, ngx_http_request_t, ngx_http_run_posted_requests,
    ngx_int_t, NGX_DONE, NGX_HTTP_BAD_REQUEST, NGX_HTTP_INTERNAL_SERVER_ERROR, NGX_HTTP_NOT_FOUND,
    NGX_HTTP_SERVICE_UNAVAILABLE,
};

use super::http_reply::{self, Labels};
use super::timer::Timer;
use super::worker::with_hls_waits;
use crate::hls_http::block::wait_limit_ms;
use crate::hls_http::{
    classify, decide, delta, Awaited, Decision, Directives, Outcome, PlaylistState, Stamp, Woken,
};

/// How often watched playlists are checked while requests wait: well under the 50 ms a
/// listed part may take to reach a waiting client, a `stat` per watched file per tick.
pub const TICK_MS: u64 = 5;

/// Largest playlist read into memory.
const MAX_PLAYLIST_BYTES: u64 = 4 << 20;

/// Labels of playlists.
pub const PLAYLIST: Labels = Labels {
    content_type: "application/vnd.apple.mpegurl",
    cache_control: "no-cache",
};

/// The version of the file at `path`, or `None` when it is missing.
pub fn stamp(path: &Path) -> Option<Stamp> {
    let m = fs::metadata(path).ok()?;
    let mtime_ns = (m.mtime() as u64).wrapping_mul(1_000_000_000) + m.mtime_nsec() as u64;
    Some([m.dev(), m.ino(), mtime_ns, m.size()])
}

pub fn read_playlist(path: &Path) -> Option<String> {
    let m = fs::metadata(path).ok()?;
    if m.len() > MAX_PLAYLIST_BYTES {
        return None;
    }
    fs::read_to_string(path).ok()
}

/// Logs why a request is refused (info: clients cause it).
pub fn note(req: &Request, msg: core::fmt::Arguments<'_>) {
    // SAFETY: the request's connection log lives as long as the request.
    if let Some(log) = unsafe { super::log::Log::from_raw(req.log()) } {
        log_info!(log, "{msg}");
    }
}

/// Serves the playlist at `path` (its access checked) as `directives` ask: at once, 400, or
/// after a wait. An asynchronous access check (`on_play`) continues here once it allowed
/// the request: then `r` is a suspended request (its count raised), answered by the caller.
pub fn playlist(
    req: &mut Request,
    r: *mut ngx_http_request_t,
    path: &Path,
    directives: &Directives,
    max_waiting: usize,
) -> ngx_int_t {
    let stamp = stamp(path);
    let Some(text) = read_playlist(path) else {
        return NGX_HTTP_NOT_FOUND as ngx_int_t;
    };
    let state = PlaylistState::parse(&text);
    match decide(directives, &state) {
        Decision::Now => {
            let d = directives.skip.and_then(|s| delta(&text, s));
            http_reply::body(req, PLAYLIST, d.as_deref().unwrap_or(&text).as_bytes())
        }
        Decision::Bad(why) => {
            note(
                req,
                format_args!("rtmp_hls: blocking request refused: {why}"),
            );
            NGX_HTTP_BAD_REQUEST as ngx_int_t
        }
        Decision::Wait(want) => {
            let awaited = Awaited::Playlist {
                want,
                skip: directives.skip,
            };
            let limit = wait_limit_ms(&state);
            // SAFETY: `r` is the running content handler's request, or a suspended one that
            // its caller finalizes with what this returns.
            unsafe { suspend(r, path, stamp, awaited, limit, max_waiting) }
        }
    }
}

/// Suspends request `r` until `playlist` (read at `stamp`) satisfies `awaited`, for at most
/// `limit_ms`. Returns what the content handler returns: `NGX_DONE`, or 503 when this worker
/// already holds `max` waiting requests.
///
/// # Safety
/// `r` must be the live request of a content handler that is running, or a suspended request
/// (its count raised) that the caller finalizes with what this returns.
pub unsafe fn suspend(
    r: *mut ngx_http_request_t,
    playlist: &Path,
    stamp: Option<Stamp>,
    awaited: Awaited,
    limit_ms: u64,
    max: usize,
) -> ngx_int_t {
    if with_hls_waits(|h| h.waiters.len()) >= max {
        return NGX_HTTP_SERVICE_UNAVAILABLE as ngx_int_t;
    }
    let Some(handle) = NonNull::new(r) else {
        return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
    };
    let deadline = super::now_ms() + limit_ms;
    let id = with_hls_waits(|h| h.waiters.add(handle, playlist, stamp, awaited, deadline));
    // SAFETY: `r` is live and finalized by the caller with what this returns (contract).
    let rc = unsafe { http_reply::suspend(r, id, cleanup) };
    if rc != NGX_DONE as ngx_int_t {
        with_hls_waits(|h| h.waiters.remove(id));
        return rc;
    }
    timer().arm(TICK_MS as _);
    rc
}

/// The worker's watch timer, created on first use.
fn timer() -> Timer {
    let t = with_hls_waits(|h| h.timer);
    t.unwrap_or_else(|| {
        let t = Timer::new(tick);
        with_hls_waits(|h| h.timer = Some(t));
        t
    })
}

/// A waiting request ended before it was answered (client gone, worker exiting).
unsafe extern "C" fn cleanup(data: *mut c_void) {
    let _ = super::catch(|| with_hls_waits(|h| h.waiters.remove(data as usize as u64)));
}

unsafe extern "C" fn tick(_ev: *mut ngx_event_t) {
    let _ = super::catch(watch);
}

fn watch() {
    for (path, old) in with_hls_waits(|h| h.waiters.watched()) {
        let now = stamp(&path);
        if now.is_some() && now == old {
            continue;
        }
        let text = now.and_then(|_| fs::read_to_string(&path).ok());
        let state = text.as_deref().map(PlaylistState::parse);
        let woken = with_hls_waits(|h| h.waiters.update(&path, now, state.as_ref()));
        for w in woken {
            answer(w, text.as_deref());
        }
    }
    for w in with_hls_waits(|h| h.waiters.expire(super::now_ms())) {
        answer(w, None);
    }
    if with_hls_waits(|h| !h.waiters.is_empty()) {
        timer().arm(TICK_MS as _);
    }
}

/// The worker exits (a reload's old worker, quit, stop): nginx does not wait for suspended
/// requests, so every waiting client gets 503 now and retries on a live worker.
pub fn answer_all() {
    if let Some(t) = with_hls_waits(|h| h.timer) {
        t.cancel();
    }
    for w in with_hls_waits(|h| h.waiters.expire(u64::MAX)) {
        answer(w, None);
    }
}

/// Answers a woken request and ends it.
fn answer(w: Woken<NonNull<ngx_http_request_t>>, text: Option<&str>) {
    let r = w.handle.as_ptr();
    let rc = super::catch(|| {
        // SAFETY: a waiting request stays alive until it is finalized here (its raised count);
        // one that ended earlier was removed from the waiters by its cleanup.
        let req = unsafe { Request::from_ngx_http_request(r) };
        match (w.outcome, w.awaited, text) {
            (Outcome::Expired, ..) => NGX_HTTP_SERVICE_UNAVAILABLE as ngx_int_t,
            (Outcome::Gone, ..) => NGX_HTTP_NOT_FOUND as ngx_int_t,
            (Outcome::Ready, Awaited::Playlist { skip, .. }, Some(text)) => {
                let d = skip.and_then(|s| delta(text, s));
                http_reply::body(req, PLAYLIST, d.as_deref().unwrap_or(text).as_bytes())
            }
            (Outcome::Ready, Awaited::Part { file }, _) => {
                let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
                match classify(name) {
                    Ok(t) => http_reply::file(req, labels(t.kind, t.content_type), &file),
                    Err(_) => NGX_HTTP_NOT_FOUND as ngx_int_t,
                }
            }
            (Outcome::Ready, Awaited::Playlist { .. }, None) => NGX_HTTP_NOT_FOUND as ngx_int_t,
        }
    });
    finish(r, rc.unwrap_or(NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t));
}

/// Labels of a served file.
pub fn labels(kind: crate::hls_http::FileKind, content_type: &'static str) -> Labels {
    Labels {
        content_type,
        cache_control: kind.cache_control(),
    }
}

/// Ends a suspended request with `rc` and runs what it posted.
pub fn finish(r: *mut ngx_http_request_t, rc: ngx_int_t) {
    // SAFETY: `r` is a suspended request, alive until this finalization; its connection is
    // read before and stays valid for the posted requests, as in nginx's own event handlers.
    unsafe {
        let c = (*r).connection;
        ngx_http_finalize_request(r, rc);
        ngx_http_run_posted_requests(c);
    }
}
