//! `ngx_rtmp_rs_http_hls_module`: `rtmp_hls` in `location {}` serves the playlists, segments
//! and parts of every HLS application's `hls_path`, on every worker, with LL-HLS blocking
//! playlist reload and delta updates; `rtmp_hls_max_waiting` bounds the requests a worker
//! holds waiting. `rtmp_hls_play_check on` applies the play checks of HTTP players to
//! playlist requests ([`super::hls_access`]); off by default.
//!
//! The path after the location prefix is looked up in the applications' directories
//! ([`crate::hls_http::candidates`]); nothing outside them is served (the path is checked,
//! then the file's real path must lie inside the directory's real path, so symbolic links
//! out are refused).

use core::ffi::{c_char, c_void};
use core::ptr;
use std::fs;
use std::path::{Path, PathBuf};

use ::ngx::core::{NGX_CONF_ERROR, NGX_CONF_OK};
use ::ngx::http::{
    HttpModule, HttpModuleLocationConf, Merge, MergeConfigError, NgxHttpCoreModule, Request,
};
use nginx_sys::{
    ngx_command_t, ngx_conf_t, ngx_http_conf_ctx_t, ngx_http_module_t, ngx_http_request_t,
    ngx_int_t, ngx_module_t, ngx_uint_t, NGX_CONF_NOARGS, NGX_CONF_TAKE1, NGX_HTTP_BAD_REQUEST,
    NGX_HTTP_INTERNAL_SERVER_ERROR, NGX_HTTP_LOC_CONF, NGX_HTTP_NOT_FOUND,
};

use super::conf::{args, log_error};
use super::hls_access::{self, Access, Asked};
use super::hls_wait::{self, labels};
use super::http_reply;
use super::worker;
use crate::conf::{parse_flag, parse_time_ms, AppConf};
use crate::hls_http::access::DEFAULT_CACHE_MS;
use crate::hls_http::block::wait_limit_ms;
use crate::hls_http::{
    candidates, classify, playlist_of_part, stream_of_playlist, Awaited, Directives, FileKind,
    PathError, PlaylistState,
};

/// Default of `rtmp_hls_max_waiting`: waiting requests a worker holds before answering 503.
pub const DEFAULT_MAX_WAITING: usize = 10_000;
/// Longest `rtmp_hls_play_cache`.
const MAX_PLAY_CACHE_MS: u64 = 86_400_000;
/// The http module, for ngx's typed access to its location configuration.
pub struct HttpHlsModule;

impl HttpModule for HttpHlsModule {
    fn module() -> &'static ngx_module_t {
        // SAFETY: nginx writes the module's indexes while it loads the configuration, before
        // any handler of the module runs; nothing writes the module afterwards.
        unsafe { &*ptr::addr_of!(ngx_rtmp_rs_http_hls_module) }
    }
}

// SAFETY: `HTTP_CTX` creates this module's location configurations as `LocConf`s.
unsafe impl HttpModuleLocationConf for HttpHlsModule {
    type LocationConf = LocConf;
}

/// Location configuration: None is "not set at this level".
#[derive(Debug, Default)]
pub struct LocConf {
    enabled: Option<bool>,
    max_waiting: Option<usize>,
    /// `rtmp_hls_play_check`: off by default, because many nginx-rtmp configurations say
    /// `deny play all` for RTMP while their HLS is public, and because an LL-HLS player
    /// reloads its playlist about three times a second.
    play_check: Option<bool>,
    /// `rtmp_hls_play_cache`.
    play_cache_ms: Option<u64>,
}

/// What a request of a location is served with.
#[derive(Debug, Clone, Copy)]
struct Settings {
    max_waiting: usize,
    /// The cache time of `on_play` verdicts when the play checks are on.
    play_check: Option<u64>,
}

impl LocConf {
    fn settings(&self) -> Settings {
        let cache = self.play_cache_ms.unwrap_or(DEFAULT_CACHE_MS);
        Settings {
            max_waiting: self.max_waiting.unwrap_or(DEFAULT_MAX_WAITING),
            play_check: self.play_check.unwrap_or(false).then_some(cache),
        }
    }
}

impl Merge for LocConf {
    fn merge(&mut self, prev: &LocConf) -> Result<(), MergeConfigError> {
        self.enabled = self.enabled.or(prev.enabled);
        self.max_waiting = self.max_waiting.or(prev.max_waiting);
        self.play_check = self.play_check.or(prev.play_check);
        self.play_cache_ms = self.play_cache_ms.or(prev.play_cache_ms);
        Ok(())
    }
}

/// The body of this module's directives: `set` gets the location configuration and the
/// directive's arguments and says whether the location's content handler becomes ours.
///
/// # Safety
/// `cf` must be what nginx passed to a directive handler of this module.
unsafe fn loc_directive(
    cf: *mut ngx_conf_t,
    set: impl FnOnce(&mut LocConf, &[&str]) -> Result<bool, String>,
) -> *mut c_char {
    super::catch(|| {
        // SAFETY: a directive handler's `cf` (contract), in an http location.
        let (conf, a) = unsafe { (&*cf, args(cf)) };
        let (Some(lc), Some(clcf)) = (
            HttpHlsModule::location_conf_mut(conf),
            NgxHttpCoreModule::location_conf_mut(conf),
        ) else {
            return NGX_CONF_ERROR;
        };
        match set(lc, &a) {
            Ok(handler) => {
                if handler {
                    clcf.handler = Some(hls_handler);
                }
                NGX_CONF_OK
            }
            Err(e) => log_error(cf, &e),
        }
    })
    .unwrap_or(NGX_CONF_ERROR)
}

unsafe extern "C" fn hls_directive(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    _conf: *mut c_void,
) -> *mut c_char {
    let set = |lc: &mut LocConf, _: &[&str]| {
        if lc.enabled.is_some() {
            return Err("\"rtmp_hls\" directive is duplicate".to_owned());
        }
        lc.enabled = Some(true);
        Ok(true)
    };
    // SAFETY: nginx calls this as a directive handler of this module.
    unsafe { loc_directive(cf, set) }
}

unsafe extern "C" fn max_waiting_directive(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    _conf: *mut c_void,
) -> *mut c_char {
    let set = |lc: &mut LocConf, a: &[&str]| {
        if lc.max_waiting.is_some() {
            return Err("\"rtmp_hls_max_waiting\" directive is duplicate".to_owned());
        }
        let v = a.get(1).copied().unwrap_or_default();
        let n = v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1_000_000).contains(n))
            .ok_or_else(|| {
                format!("invalid \"rtmp_hls_max_waiting\" value \"{v}\" (1..1000000)")
            })?;
        lc.max_waiting = Some(n);
        Ok(false)
    };
    // SAFETY: nginx calls this as a directive handler of this module.
    unsafe { loc_directive(cf, set) }
}

unsafe extern "C" fn play_check_directive(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    _conf: *mut c_void,
) -> *mut c_char {
    let set = |lc: &mut LocConf, a: &[&str]| {
        if lc.play_check.is_some() {
            return Err("\"rtmp_hls_play_check\" directive is duplicate".to_owned());
        }
        let v = a.get(1).copied().unwrap_or_default();
        let on = parse_flag(v).map_err(|_| {
            format!(
                "invalid value \"{v}\" in \"rtmp_hls_play_check\" directive, \
                 it must be \"on\" or \"off\""
            )
        })?;
        lc.play_check = Some(on);
        Ok(false)
    };
    // SAFETY: nginx calls this as a directive handler of this module.
    unsafe { loc_directive(cf, set) }
}

unsafe extern "C" fn play_cache_directive(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    _conf: *mut c_void,
) -> *mut c_char {
    let set = |lc: &mut LocConf, a: &[&str]| {
        if lc.play_cache_ms.is_some() {
            return Err("\"rtmp_hls_play_cache\" directive is duplicate".to_owned());
        }
        let v = a.get(1).copied().unwrap_or_default();
        let ms = parse_time_ms(v)
            .ok()
            .filter(|ms| *ms <= MAX_PLAY_CACHE_MS)
            .ok_or_else(|| format!("invalid \"rtmp_hls_play_cache\" value \"{v}\" (0..1d)"))?;
        lc.play_cache_ms = Some(ms);
        Ok(false)
    };
    // SAFETY: nginx calls this as a directive handler of this module.
    unsafe { loc_directive(cf, set) }
}

pub static mut HTTP_CTX: ngx_http_module_t = ngx_http_module_t {
    preconfiguration: None,
    postconfiguration: None,
    create_main_conf: None,
    init_main_conf: None,
    create_srv_conf: None,
    merge_srv_conf: None,
    create_loc_conf: Some(HttpHlsModule::create_loc_conf),
    merge_loc_conf: Some(HttpHlsModule::merge_loc_conf),
};

const LOC_CONF_OFFSET: ngx_uint_t = core::mem::offset_of!(ngx_http_conf_ctx_t, loc_conf);

pub static mut HTTP_COMMANDS: [ngx_command_t; 5] = [
    ngx_command_t {
        name: ::ngx::ngx_string!("rtmp_hls"),
        type_: (NGX_HTTP_LOC_CONF | NGX_CONF_NOARGS) as ngx_uint_t,
        set: Some(hls_directive),
        conf: LOC_CONF_OFFSET,
        offset: 0,
        post: ptr::null_mut(),
    },
    ngx_command_t {
        name: ::ngx::ngx_string!("rtmp_hls_max_waiting"),
        type_: (NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1) as ngx_uint_t,
        set: Some(max_waiting_directive),
        conf: LOC_CONF_OFFSET,
        offset: 0,
        post: ptr::null_mut(),
    },
    ngx_command_t {
        name: ::ngx::ngx_string!("rtmp_hls_play_check"),
        type_: (NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1) as ngx_uint_t,
        set: Some(play_check_directive),
        conf: LOC_CONF_OFFSET,
        offset: 0,
        post: ptr::null_mut(),
    },
    ngx_command_t {
        name: ::ngx::ngx_string!("rtmp_hls_play_cache"),
        type_: (NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1) as ngx_uint_t,
        set: Some(play_cache_directive),
        conf: LOC_CONF_OFFSET,
        offset: 0,
        post: ptr::null_mut(),
    },
    ngx_command_t::empty(),
];

fn str_of(s: &nginx_sys::ngx_str_t) -> &str {
    if s.len == 0 || s.data.is_null() {
        return "";
    }
    core::str::from_utf8(s.as_bytes()).unwrap_or("")
}

/// The applications with `hls on`, in configuration order.
fn hls_apps() -> Vec<&'static AppConf> {
    let Some(conf) = worker::with_stat(|s| s.conf) else {
        return Vec::new();
    };
    conf.servers
        .iter()
        .flat_map(|s| s.applications.iter())
        .filter(|a| a.settings.hls.is_some())
        .collect()
}

/// `rel` inside `dir`: its real path when it exists and lies inside the real `dir`.
fn inside(dir: &Path, rel: &str) -> Option<PathBuf> {
    let real = fs::canonicalize(dir.join(rel)).ok()?;
    let root = fs::canonicalize(dir).ok()?;
    real.starts_with(&root).then_some(real)
}

/// Where the missing file `rel` of `dir` would be: its parent's real path must lie inside the
/// real `dir`.
fn inside_missing(dir: &Path, rel: &str) -> Option<PathBuf> {
    let full = dir.join(rel);
    let parent = fs::canonicalize(full.parent()?).ok()?;
    let root = fs::canonicalize(dir).ok()?;
    parent
        .starts_with(&root)
        .then(|| parent.join(full.file_name().unwrap_or_default()))
}

/// The path after the location prefix, without its leading `/`.
fn rest_of(req: &Request) -> Option<&str> {
    let uri = str_of(&req.as_ref().uri);
    let prefix = NgxHttpCoreModule::location_conf(req).map_or("", |c| str_of(&c.name));
    let rest = match uri.strip_prefix(prefix) {
        Some(r) if prefix.ends_with('/') => r,
        Some(r) => r.strip_prefix('/')?,
        // A regular-expression location: the whole path.
        None => uri.strip_prefix('/')?,
    };
    Some(rest)
}

unsafe extern "C" fn hls_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    super::catch(|| {
        // SAFETY: nginx calls a content handler with a live request that the handler owns
        // until it returns.
        let req = unsafe { Request::from_ngx_http_request(r) };
        let allowed = (nginx_sys::NGX_HTTP_GET | nginx_sys::NGX_HTTP_HEAD) as ngx_uint_t;
        if req.as_ref().method & allowed == 0 {
            return nginx_sys::NGX_HTTP_NOT_ALLOWED as ngx_int_t;
        }
        let rc = req.discard_request_body();
        if !rc.is_ok() {
            return rc.into();
        }
        let settings = HttpHlsModule::location_conf(req).map_or(
            Settings {
                max_waiting: DEFAULT_MAX_WAITING,
                play_check: None,
            },
            LocConf::settings,
        );
        serve(req, r, settings)
    })
    .unwrap_or(NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t)
}

fn serve(req: &mut Request, r: *mut ngx_http_request_t, settings: Settings) -> ngx_int_t {
    let max_waiting = settings.max_waiting;
    let Some(rest) = rest_of(req) else {
        return NGX_HTTP_NOT_FOUND as ngx_int_t;
    };
    let target = match classify(rest) {
        Ok(t) => t,
        Err(PathError::Bad(why)) => {
            hls_wait::note(req, format_args!("rtmp_hls: refused path: {why}"));
            return NGX_HTTP_BAD_REQUEST as ngx_int_t;
        }
        Err(PathError::NotFound) => return NGX_HTTP_NOT_FOUND as ngx_int_t,
    };
    let directives = if target.kind == FileKind::Playlist {
        match Directives::parse(str_of(&req.as_ref().args)) {
            Ok(d) => d,
            Err(_) => return NGX_HTTP_BAD_REQUEST as ngx_int_t,
        }
    } else {
        Directives::default()
    };
    let apps = hls_apps();
    let names: Vec<&str> = apps.iter().map(|a| a.name.as_str()).collect();
    let found = candidates(target.rel, &names)
        .into_iter()
        .find_map(|(i, rel)| {
            let app = apps.get(i)?;
            let dir = &app.settings.hls.as_ref()?.path;
            inside(dir, rel).map(|p| (*app, rel, p))
        });
    let Some((app, rel, path)) = found else {
        if target.kind == FileKind::Part {
            return wait_for_part(r, target.rel, &apps, &names, max_waiting);
        }
        return NGX_HTTP_NOT_FOUND as ngx_int_t;
    };
    let labels = labels(target.kind, target.content_type);
    if target.kind != FileKind::Playlist {
        return http_reply::file(req, labels, &path);
    }
    // Segments and parts are not checked: their names come from the playlist.
    if let Some(cache_ms) = settings.play_check {
        let asked = Asked {
            app,
            stream: stream_of_playlist(rel),
            playlist: &path,
            directives,
            max_waiting,
            cache_ms,
        };
        // SAFETY: `r` (`req`) is the running content handler's request.
        if let Access::Answer(rc) = unsafe { hls_access::check(req, r, asked) } {
            return rc;
        }
    }
    hls_wait::playlist(req, r, &path, &directives, max_waiting)
}

/// A missing part file: when its playlist's preload hint names it, the request waits for it
/// like a blocking playlist reload; otherwise 404.
fn wait_for_part(
    r: *mut ngx_http_request_t,
    rel: &str,
    apps: &[&'static AppConf],
    names: &[&str],
    max_waiting: usize,
) -> ngx_int_t {
    for (i, rel) in candidates(rel, names) {
        let Some(dir) = apps
            .get(i)
            .and_then(|a| a.settings.hls.as_ref())
            .map(|h| &h.path)
        else {
            continue;
        };
        let Some(list_rel) = playlist_of_part(rel) else {
            continue;
        };
        let (Some(list), Some(file)) = (inside(dir, &list_rel), inside_missing(dir, rel)) else {
            continue;
        };
        let stamp = hls_wait::stamp(&list);
        let Some(state) = hls_wait::read_playlist(&list).map(|t| PlaylistState::parse(&t)) else {
            continue;
        };
        let awaited = Awaited::Part { file };
        let hinted = matches!(&awaited, Awaited::Part { file } if state.preload_hint.as_deref()
            .is_some_and(|h| crate::hls_http::path::hint_names(h, &file.to_string_lossy())));
        if hinted && !state.ended {
            let limit = wait_limit_ms(&state);
            // SAFETY: `r` is the running content handler's request.
            return unsafe { hls_wait::suspend(r, &list, stamp, awaited, limit, max_waiting) };
        }
    }
    NGX_HTTP_NOT_FOUND as ngx_int_t
}

/// `exit_process`: the worker exits with requests still waiting; they are answered first.
unsafe extern "C" fn exit_process(_cycle: *mut nginx_sys::ngx_cycle_t) {
    let _ = super::catch(hls_wait::answer_all);
    let _ = super::catch(hls_access::answer_all);
}

/// `rtmp_hls`, `rtmp_hls_max_waiting`, `rtmp_hls_play_check` and `rtmp_hls_play_cache`.
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static mut ngx_rtmp_rs_http_hls_module: ngx_module_t = ngx_module_t {
    ctx: ptr::addr_of_mut!(HTTP_CTX) as *mut c_void,
    commands: ptr::addr_of_mut!(HTTP_COMMANDS) as *mut ngx_command_t,
    type_: nginx_sys::NGX_HTTP_MODULE as ngx_uint_t,
    exit_process: Some(exit_process),
    ..ngx_module_t::default()
};
