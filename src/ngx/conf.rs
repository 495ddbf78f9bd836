//! The `rtmp {}` block, parsed with nginx's own parser (so errors name file and line) and
//! interpreted by the pure [`crate::conf`] model.

use core::ffi::{c_char, c_void};
use core::ptr;

use ::ngx::core::{NGX_CONF_ERROR, NGX_CONF_OK};
use ::ngx::ngx_conf_log_error;
use nginx_sys::{
    ngx_command_t, ngx_conf_parse, ngx_conf_t, ngx_pool_cleanup_add, ngx_str_t, ngx_uint_t,
    NGX_LOG_EMERG, NGX_LOG_WARN,
};

use super::ssl::client::{self as tls_client, ClientContext, ClientContexts};
use crate::conf::{AppConf, Call, ConfError, RtmpConf, Scope};
use crate::exec::ExecKind;

mod args;

use args::{load_key_map, notify_url, readable_file};

/// Module type of `ngx_rtmp_rs_conf_module` ("RRTS"); distinct from nginx-rtmp-module's.
pub const RTMP_CONF_MODULE: ngx_uint_t = 0x5252_5453;
/// `cf->cmd_type` inside `rtmp {}`, `server {}` and `application {}`.
pub const RTMP_MAIN_CONF: ngx_uint_t = 0x0200_0000;
pub const RTMP_SRV_CONF: ngx_uint_t = 0x0400_0000;
pub const RTMP_APP_CONF: ngx_uint_t = 0x0800_0000;
/// `cf->cmd_type` inside `recorder {}`.
pub const RTMP_REC_CONF: ngx_uint_t = 0x1000_0000;

/// Tags of the module's shared zones: stable addresses that tell nginx a zone is ours across
/// reloads.
static LIVE_ZONE_TAG: u8 = 1;
static STAT_ZONE_TAG: u8 = 2;

/// What the parse of one `rtmp {}` block builds; lives in the cycle's pool until the cycle ends.
pub struct ParseState {
    pub conf: RtmpConf,
    /// The live shared-memory zone, when an application has `live on`.
    pub shm_zone: *mut nginx_sys::ngx_shm_zone_t,
    /// The stat board zone (snapshots of every worker, control mailboxes).
    pub stat_zone: *mut nginx_sys::ngx_shm_zone_t,
    /// `resolver` lines' nginx resolvers, and relay hosts resolved when the block ended.
    pub names: super::resolver::Names,
    /// One TLS client context per distinct TLS setting of applications with `rtmps://`
    /// relays, made when the configuration is read (a bad setting fails `nginx -t`).
    pub relay_tls: ClientContexts,
    scope: Scope,
    /// Where each `listen` was written (`file:line`), for errors found when the block ends.
    listen_at: Vec<(std::net::SocketAddr, String)>,
    /// What each listening socket's `servers` points at: boxed, so that they stay in place
    /// while the list grows.
    #[allow(clippy::vec_box)]
    listeners: Vec<Box<super::listen::Listener>>,
    /// `cf->ctx` for directives inside the block: nginx reads `((void ***) ctx)[0][ctx_index]`.
    slot: [*mut c_void; 1],
    ctx: [*mut *mut c_void; 1],
}

fn ngx_str(s: &ngx_str_t) -> &str {
    // Config tokens are bytes; the directives we accept are ASCII, and a non-UTF-8 token is
    // reported as invalid by the model (it becomes U+FFFD-free empty string here).
    core::str::from_utf8(s.as_bytes()).unwrap_or("\u{fffd}")
}

/// Arguments of the directive being parsed (`cf->args`), the name first.
///
/// # Safety
/// `cf` must be the `ngx_conf_t` nginx passed to a directive handler.
pub(super) unsafe fn args<'a>(cf: *mut ngx_conf_t) -> Vec<&'a str> {
    // SAFETY: during a directive handler `cf->args` is an array of `ngx_str_t` tokens owned by
    // the config pool, alive for the whole parse.
    let elts = unsafe { (*(*cf).args).as_slice::<ngx_str_t>() };
    elts.iter().map(ngx_str).collect()
}

pub(super) fn log_error(cf: *mut ngx_conf_t, msg: &dyn core::fmt::Display) -> *mut c_char {
    ngx_conf_log_error!(NGX_LOG_EMERG, cf, "{}", msg);
    NGX_CONF_ERROR
}

/// Like [`log_error`] for a directive read earlier: `at` is where it was written.
fn log_error_at(cf: *mut ngx_conf_t, at: &str, msg: &dyn core::fmt::Display) -> *mut c_char {
    let text = format!("{msg} in {at}");
    // SAFETY: `cf->log` is the configuration's log, valid during the parse; nginx copies the
    // message.
    unsafe { ::ngx::log::log_error(NGX_LOG_EMERG as ngx_uint_t, (*cf).log, 0, text.as_bytes()) };
    NGX_CONF_ERROR
}

/// Where the directive being parsed is written: `file:line`.
///
/// # Safety
/// `cf` must be the `ngx_conf_t` nginx passed to a directive handler.
unsafe fn position(cf: *mut ngx_conf_t) -> String {
    // SAFETY: during a directive handler `cf->conf_file` is the file being read.
    let Some(file) = (unsafe { (*cf).conf_file.as_ref() }) else {
        return String::from("?");
    };
    format!("{}:{}", ngx_str(&file.file.name), file.line)
}

/// Parses the body of the current block with `cmd_type` as the directive level.
///
/// # Safety
/// `cf` must be the `ngx_conf_t` nginx passed to a block directive handler.
unsafe fn parse_block(cf: *mut ngx_conf_t, cmd_type: nginx_sys::ngx_uint_t) -> *mut c_char {
    // SAFETY: nginx's own block directives (http, server, ...) save `*cf`, change the context
    // and restore it after the nested parse; we do the same.
    unsafe {
        let saved = *cf;
        (*cf).cmd_type = cmd_type;
        let rv = ngx_conf_parse(cf, ptr::null_mut());
        *cf = saved;
        rv
    }
}

unsafe extern "C" fn drop_state(data: *mut c_void) {
    // SAFETY: `data` is the `Box<ParseState>` leaked in `rtmp_block`; the pool runs this
    // cleanup exactly once, when the cycle that owns the configuration is destroyed.
    let _ = super::catch(|| drop(unsafe { Box::from_raw(data.cast::<ParseState>()) }));
}

/// `rtmp { ... }` at the top level.
pub unsafe extern "C" fn rtmp_block(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    super::catch(|| {
        // SAFETY: for an NGX_MAIN_CONF directive, `conf` points at this module's slot in the
        // cycle's `conf_ctx` array.
        let slot = unsafe { &mut *conf.cast::<*mut c_void>() };
        if !slot.is_null() {
            return log_error(cf, &"\"rtmp\" directive is duplicate");
        }
        let state = Box::into_raw(Box::new(ParseState {
            conf: RtmpConf::new(),
            shm_zone: ptr::null_mut(),
            stat_zone: ptr::null_mut(),
            names: super::resolver::Names::default(),
            relay_tls: ClientContexts::default(),
            scope: Scope::Main,
            listen_at: Vec::new(),
            listeners: Vec::new(),
            slot: [ptr::null_mut()],
            ctx: [ptr::null_mut()],
        }));
        // SAFETY: `state` is a valid, uniquely owned allocation; the cleanup frees it with the
        // cycle pool, after every connection of this cycle is gone.
        unsafe {
            let cln = ngx_pool_cleanup_add((*cf).pool, 0);
            if cln.is_null() {
                drop(Box::from_raw(state));
                return NGX_CONF_ERROR;
            }
            (*cln).handler = Some(drop_state);
            (*cln).data = state.cast();
            (*state).slot[0] = state.cast();
            (*state).ctx[0] = (*state).slot.as_mut_ptr();
        }
        *slot = state.cast();
        // SAFETY: assigns `ctx_index` to the modules of our private type, as nginx's http
        // block does for http modules; needed before directives are dispatched to them.
        unsafe { nginx_sys::ngx_count_modules((*cf).cycle, RTMP_CONF_MODULE) };

        // SAFETY: as in `parse_block`; `ctx` stays valid while `state` lives.
        let rv = unsafe {
            let saved = *cf;
            (*cf).ctx = (*state).ctx.as_mut_ptr().cast();
            (*cf).module_type = RTMP_CONF_MODULE;
            (*cf).cmd_type = RTMP_MAIN_CONF;
            let rv = ngx_conf_parse(cf, ptr::null_mut());
            *cf = saved;
            rv
        };
        if rv != NGX_CONF_OK {
            return rv;
        }
        // SAFETY: `state` is valid (see above) and nothing else refers to it during config.
        let state = unsafe { &mut *state };
        if let Err(e) = state.conf.finish() {
            if let ConfError::Tls(tls) = &e {
                let addr = tls.listen();
                if let Some((_, at)) = state.listen_at.iter().find(|(a, _)| *a == addr) {
                    return log_error_at(cf, at, &e);
                }
            }
            return log_error(cf, &e);
        }
        if let Err(e) = default_encoder(&mut state.conf) {
            return log_error(cf, &e);
        }
        // SAFETY: `cf->log` is nginx's log for the whole configuration parse.
        if let Some(log) = unsafe { super::log::Log::from_raw((*cf).log) } {
            state.names.resolve_at_load(&state.conf, log);
        }
        // SAFETY: `cf` is the live configuration, whose log outlives the contexts (they go
        // with `state`, freed with the cycle).
        if let Err(e) = unsafe { relay_tls_contexts(cf, state) } {
            return log_error(cf, &e);
        }
        if state.conf.has_live() {
            let tag = ptr::addr_of!(LIVE_ZONE_TAG).cast_mut().cast();
            // SAFETY: `cf` is live; the tag is a stable address across reloads.
            match unsafe { super::shm::add(cf, state.conf.live_shm_size(), tag) } {
                Ok(zone) => state.shm_zone = zone,
                Err(e) => return log_error(cf, &e),
            }
        }
        let tag = ptr::addr_of!(STAT_ZONE_TAG).cast_mut().cast();
        // SAFETY: `cf` is live; the tag is a stable address across reloads.
        match unsafe { super::stat_board::add(cf, tag) } {
            Ok(zone) => state.stat_zone = zone,
            Err(e) => return log_error(cf, &e),
        }
        for server in &state.conf.servers {
            let tls = match &server.tls {
                // SAFETY: `cf` is the live config.
                Some(tls) => match unsafe { super::ssl::server_context(cf, tls) } {
                    Ok(ctx) => Some(ctx),
                    Err(()) => {
                        // nginx has said what failed; say which listen needed it.
                        let listen = server.listens.iter().find(|l| l.ssl);
                        let addr = listen.map(|l| l.addr);
                        let at = state.listen_at.iter().find(|(a, _)| Some(*a) == addr);
                        let msg = format_args!(
                            "could not set up TLS for the \"listen {} ssl\" directive",
                            addr.map(|a| a.to_string()).unwrap_or_default()
                        );
                        return match at {
                            Some((_, at)) => log_error_at(cf, at, &msg),
                            None => log_error(cf, &msg),
                        };
                    }
                },
                None => None,
            };
            for listen in &server.listens {
                let listener = Box::new(super::listen::Listener {
                    server,
                    tls: if listen.ssl { tls } else { None },
                });
                let handler = Some(super::accept::init as _);
                // SAFETY: `cf` is the live config; `listener` and `server` are kept in
                // `state`, which outlives the cycle's listeners.
                if let Err(e) = unsafe { super::listen::add(cf, listen, &listener, handler) } {
                    return log_error(cf, &e);
                }
                state.listeners.push(listener);
            }
        }
        NGX_CONF_OK
    })
    .unwrap_or(NGX_CONF_ERROR)
}

/// The TLS client contexts of the applications with `rtmps://` relays or with `on_publish` /
/// `on_play` (whose 3xx answer may name an `rtmps://` target), one per distinct setting.
///
/// # Safety
/// `cf` must be the configuration being read.
unsafe fn relay_tls_contexts(cf: *mut ngx_conf_t, state: &mut ParseState) -> Result<(), String> {
    let apps = state
        .conf
        .servers
        .iter()
        .flat_map(|s| s.applications.iter());
    let may_use_tls = |a: &&AppConf| {
        a.settings.relay.uses_tls()
            || a.settings.notify.get(Call::Publish).is_some()
            || a.settings.notify.get(Call::Play).is_some()
    };
    for app in apps.filter(may_use_tls) {
        let ssl = &app.settings.relay.ssl;
        if state.relay_tls.get(ssl).is_some() {
            continue;
        }
        // SAFETY: the caller's contract.
        let context = unsafe { ClientContext::new(cf, ssl) }
            .map_err(|e| format!("application \"{}\": {e}", app.name))?;
        state.relay_tls.add(ssl.clone(), context);
    }
    Ok(())
}

/// Applications with renditions and no `transcode_ffmpeg` use `ffmpeg` found on PATH now.
fn default_encoder(conf: &mut RtmpConf) -> Result<(), String> {
    let apps = conf
        .servers
        .iter_mut()
        .flat_map(|s| s.applications.iter_mut());
    for app in apps.filter(|a| !a.settings.renditions.is_empty()) {
        if app.settings.transcode_ffmpeg.is_none() {
            let path = super::executable::resolve("ffmpeg").map_err(|e| {
                format!(
                    "\"hls_rendition\" in application \"{}\" needs ffmpeg: {e}; set \"transcode_ffmpeg\"",
                    app.name
                )
            })?;
            app.settings.transcode_ffmpeg = Some(path);
        }
    }
    Ok(())
}

/// # Safety
/// `conf` must be the pointer nginx resolved from our `cf->ctx`, i.e. the `ParseState`.
unsafe fn state<'a>(conf: *mut c_void) -> &'a mut ParseState {
    // SAFETY: see the function's contract.
    unsafe { &mut *conf.cast::<ParseState>() }
}

/// `server { ... }` inside `rtmp {}`.
pub unsafe extern "C" fn server_block(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    super::catch(|| {
        // SAFETY: nginx passes the `ParseState` it found through `cf->ctx`.
        let st = unsafe { state(conf) };
        let idx = st.conf.add_server();
        st.scope = Scope::Server(idx);
        // SAFETY: `cf` is the live config of a block directive.
        let rv = unsafe { parse_block(cf, RTMP_SRV_CONF) };
        // SAFETY: as above; re-borrowed after the nested parse used it.
        unsafe { state(conf) }.scope = Scope::Main;
        rv
    })
    .unwrap_or(NGX_CONF_ERROR)
}

/// `application NAME { ... }` inside `server {}`.
pub unsafe extern "C" fn application_block(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    super::catch(|| {
        // SAFETY: nginx passes the `ParseState` it found through `cf->ctx`.
        let st = unsafe { state(conf) };
        let Scope::Server(server) = st.scope else {
            return log_error(cf, &"\"application\" directive is not allowed here");
        };
        // SAFETY: a directive handler's `cf`.
        let name = unsafe { args(cf) }.get(1).copied().unwrap_or_default();
        let app = match st.conf.add_application(server, name) {
            Ok(app) => app,
            Err(e) => return log_error(cf, &e),
        };
        st.scope = Scope::Application { server, app };
        // SAFETY: `cf` is the live config of a block directive.
        let rv = unsafe { parse_block(cf, RTMP_APP_CONF) };
        // SAFETY: as above.
        unsafe { state(conf) }.scope = Scope::Server(server);
        rv
    })
    .unwrap_or(NGX_CONF_ERROR)
}

/// `recorder NAME { ... }` inside `application {}`.
pub unsafe extern "C" fn recorder_block(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    super::catch(|| {
        // SAFETY: nginx passes the `ParseState` it found through `cf->ctx`.
        let st = unsafe { state(conf) };
        let outer = st.scope;
        // SAFETY: a directive handler's `cf`.
        let name = unsafe { args(cf) }.get(1).copied().unwrap_or_default();
        match st.conf.add_recorder(outer, name) {
            Ok(scope) => st.scope = scope,
            Err(e) => return log_error(cf, &e),
        }
        // SAFETY: `cf` is the live config of a block directive.
        let rv = unsafe { parse_block(cf, RTMP_REC_CONF) };
        // SAFETY: as above.
        unsafe { state(conf) }.scope = outer;
        rv
    })
    .unwrap_or(NGX_CONF_ERROR)
}

/// Every simple directive: handed to the model with the current scope.
pub unsafe extern "C" fn directive(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    super::catch(|| {
        // SAFETY: nginx passes the `ParseState` it found through `cf->ctx`.
        let st = unsafe { state(conf) };
        // SAFETY: a directive handler's `cf`.
        let args = unsafe { args(cf) };
        let Some((name, values)) = args.split_first() else {
            return NGX_CONF_ERROR;
        };
        if let Some(call) = Call::from_directive(name) {
            let r = notify_url(values).and_then(|url| {
                st.conf
                    .set_notify(st.scope, call, url)
                    .map_err(|e| e.to_string())
            });
            return match r {
                Ok(()) => NGX_CONF_OK,
                Err(e) => log_error(cf, &e),
            };
        }
        if let Some(kind) = ExecKind::from_directive(name) {
            let program = values.first().copied().unwrap_or_default();
            let path = match super::executable::resolve(program) {
                Ok(path) => path,
                Err(e) => return log_error(cf, &format_args!("\"{name}\": program {e}")),
            };
            if let Err(e) = st.conf.set_exec(st.scope, kind, path, values) {
                return log_error(cf, &e);
            }
            let redirects_stderr = values.iter().any(|v| v.starts_with("2>"));
            if kind.is_managed() && !redirects_stderr {
                // SAFETY: a directive handler's `cf`.
                unsafe { prepare_child_log_dir(cf) };
            }
            return NGX_CONF_OK;
        }
        if *name == "resolver" {
            // SAFETY: a directive handler's `cf`; nginx logs what it refuses.
            let Some(id) = (unsafe { st.names.create(cf) }) else {
                return NGX_CONF_ERROR;
            };
            return match st.conf.set_resolver(st.scope, id) {
                Ok(()) => NGX_CONF_OK,
                Err(e) => log_error(cf, &e),
            };
        }
        if *name == "publish_keys" {
            // SAFETY: a directive handler's `cf`.
            return match unsafe { load_key_map(cf, values) } {
                Ok(map) => match st.conf.set_publish_keys(st.scope, map) {
                    Ok(()) => NGX_CONF_OK,
                    Err(e) => log_error(cf, &e),
                },
                Err(e) => log_error(cf, &e),
            };
        }
        if matches!(
            *name,
            "ssl_certificate" | "ssl_certificate_key" | "relay_ssl_trusted_certificate"
        ) {
            // nginx reads the files when the block ends; a missing or unreadable one is
            // reported here, where its line is known. The model keeps the absolute path.
            // SAFETY: a directive handler's `cf`.
            let path = match unsafe { readable_file(cf, name, values) } {
                Ok(path) => path,
                Err(e) => return log_error(cf, &e),
            };
            if *name == "relay_ssl_trusted_certificate" {
                if let Err(e) = tls_client::check_authorities(&path) {
                    return log_error(cf, &format_args!("{name} {e}"));
                }
            }
            return match st.conf.set(st.scope, name, &[&path]) {
                Ok(()) => NGX_CONF_OK,
                Err(e) => log_error(cf, &e),
            };
        }
        if *name == "transcode_ffmpeg" {
            // Workers run without the configuration's environment: the program is found now,
            // and the model keeps its absolute path.
            let [program] = values else {
                return log_error(cf, &"invalid number of arguments in \"transcode_ffmpeg\"");
            };
            return match super::executable::resolve(program) {
                Ok(path) => {
                    let path = path.to_string_lossy();
                    match st.conf.set(st.scope, name, &[&path]) {
                        Ok(()) => NGX_CONF_OK,
                        Err(e) => log_error(cf, &e),
                    }
                }
                Err(e) => log_error(cf, &format_args!("transcode_ffmpeg {e}")),
            };
        }
        if let Err(e) = st.conf.set(st.scope, name, values) {
            return log_error(cf, &e);
        }
        if *name == "listen" {
            if let Scope::Server(s) = st.scope {
                if let Some(l) = st.conf.servers.get(s).and_then(|s| s.listens.last()) {
                    // SAFETY: a directive handler's `cf`.
                    st.listen_at.push((l.addr, unsafe { position(cf) }));
                }
            }
        }
        if *name == "hls_rendition" {
            // Encoders' stderr copies go where supervised children's do.
            // SAFETY: a directive handler's `cf`.
            unsafe { prepare_child_log_dir(cf) };
        }
        if matches!(*name, "hls_path" | "dash_path" | "record_path") {
            // SAFETY: a directive handler's `cf`.
            let user = unsafe { super::paths::worker_user(cf) };
            let dir = std::path::Path::new(values.first().copied().unwrap_or_default());
            if let Err(e) = super::paths::prepare_output_dir(dir, user.as_ref()) {
                return log_error(cf, &format_args!("{name} {e}"));
            }
        }
        NGX_CONF_OK
    })
    .unwrap_or(NGX_CONF_ERROR)
}

/// Makes the directory of supervised children's stderr copies writable by the workers
/// (nginx's log directory is often not). A failure only loses the copies: a warning.
///
/// # Safety
/// `cf` must be a directive handler's configuration.
unsafe fn prepare_child_log_dir(cf: *mut ngx_conf_t) {
    // SAFETY: the caller's contract.
    let Some(dir) = (unsafe { super::log::child_log_dir_at_conf(cf) }) else {
        return;
    };
    // SAFETY: as above.
    let user = unsafe { super::paths::worker_user(cf) };
    if let Err(e) = super::paths::prepare_output_dir(&dir, user.as_ref()) {
        ngx_conf_log_error!(
            NGX_LOG_WARN,
            cf,
            "the stderr of supervised children (exec, encoders) will not be kept: {}",
            e
        );
    }
}
