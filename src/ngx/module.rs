//! Module statics. The `.so` holds two modules:
//!
//! - `ngx_rtmp_rs_module`, an `NGX_CORE_MODULE` owning the top-level `rtmp {}` directive;
//! - `ngx_rtmp_rs_conf_module`, of a private module type, owning the directives inside
//!   `rtmp {}` (nginx only dispatches a block's directives to modules of `cf->module_type`).
//!
//! - `ngx_rtmp_rs_http_module`, an `NGX_HTTP_MODULE` with the stat and control directives;
//! - `ngx_rtmp_rs_http_hls_module`, an `NGX_HTTP_MODULE` with `rtmp_hls`.
//!
//! `ngx::ngx_modules!` only handles one module, so the three exported tables are written here.

use core::ffi::{c_char, c_void};
use core::ptr;

use ::ngx::ngx_string;
use nginx_sys::{
    ngx_command_t, ngx_core_module_t, ngx_cycle_t, ngx_int_t, ngx_module_t, ngx_str_t, ngx_uint_t,
    NGX_CONF_1MORE, NGX_CONF_ANY, NGX_CONF_BLOCK, NGX_CONF_NOARGS, NGX_CONF_TAKE1, NGX_CORE_MODULE,
    NGX_MAIN_CONF, NGX_OK,
};

use super::conf::{
    self, RTMP_APP_CONF, RTMP_CONF_MODULE, RTMP_MAIN_CONF, RTMP_REC_CONF, RTMP_SRV_CONF,
};
use super::{http_hls, http_stat};

const ANY_LEVEL: ngx_uint_t = RTMP_MAIN_CONF | RTMP_SRV_CONF | RTMP_APP_CONF;
/// The `record*` directives, `on_record_done` and `exec_record_done`: any level and
/// `recorder` blocks.
const RECORD_LEVELS: ngx_uint_t = ANY_LEVEL | RTMP_REC_CONF;

static mut CORE_CTX: ngx_core_module_t = ngx_core_module_t {
    name: ngx_string!("rtmp_rs"),
    create_conf: None,
    init_conf: None,
};

static mut CORE_COMMANDS: [ngx_command_t; 2] = [
    ngx_command_t {
        name: ngx_string!("rtmp"),
        type_: (NGX_MAIN_CONF | NGX_CONF_BLOCK | NGX_CONF_NOARGS) as ngx_uint_t,
        set: Some(conf::rtmp_block),
        conf: 0,
        offset: 0,
        post: ptr::null_mut(),
    },
    ngx_command_t::empty(),
];

/// A directive inside `rtmp {}` interpreted by [`crate::conf::RtmpConf::set`].
const fn simple(name: ngx_str_t, levels: ngx_uint_t) -> ngx_command_t {
    ngx_command_t {
        name,
        type_: levels | NGX_CONF_ANY as ngx_uint_t,
        set: Some(conf::directive),
        conf: 0,
        offset: 0,
        post: ptr::null_mut(),
    }
}

static mut CONF_COMMANDS: [ngx_command_t; 109] = [
    ngx_command_t {
        name: ngx_string!("server"),
        type_: RTMP_MAIN_CONF | (NGX_CONF_BLOCK | NGX_CONF_NOARGS) as ngx_uint_t,
        set: Some(conf::server_block),
        conf: 0,
        offset: 0,
        post: ptr::null_mut(),
    },
    ngx_command_t {
        name: ngx_string!("application"),
        type_: RTMP_SRV_CONF | (NGX_CONF_BLOCK | NGX_CONF_TAKE1) as ngx_uint_t,
        set: Some(conf::application_block),
        conf: 0,
        offset: 0,
        post: ptr::null_mut(),
    },
    ngx_command_t {
        name: ngx_string!("listen"),
        type_: RTMP_SRV_CONF | NGX_CONF_1MORE as ngx_uint_t,
        set: Some(conf::directive),
        conf: 0,
        offset: 0,
        post: ptr::null_mut(),
    },
    simple(ngx_string!("chunk_size"), RTMP_MAIN_CONF | RTMP_SRV_CONF),
    simple(ngx_string!("live_shm_size"), RTMP_MAIN_CONF),
    simple(
        ngx_string!("play_flush_interval"),
        RTMP_MAIN_CONF | RTMP_SRV_CONF,
    ),
    simple(
        ngx_string!("publish_read_interval"),
        RTMP_MAIN_CONF | RTMP_SRV_CONF,
    ),
    simple(ngx_string!("timeout"), RTMP_MAIN_CONF | RTMP_SRV_CONF),
    simple(ngx_string!("ping"), RTMP_MAIN_CONF | RTMP_SRV_CONF),
    simple(ngx_string!("ping_timeout"), RTMP_MAIN_CONF | RTMP_SRV_CONF),
    simple(ngx_string!("max_message"), RTMP_MAIN_CONF | RTMP_SRV_CONF),
    simple(ngx_string!("ack_window"), RTMP_MAIN_CONF | RTMP_SRV_CONF),
    simple(ngx_string!("max_streams"), RTMP_MAIN_CONF | RTMP_SRV_CONF),
    simple(
        ngx_string!("ssl_certificate"),
        RTMP_MAIN_CONF | RTMP_SRV_CONF,
    ),
    simple(
        ngx_string!("ssl_certificate_key"),
        RTMP_MAIN_CONF | RTMP_SRV_CONF,
    ),
    simple(ngx_string!("ssl_protocols"), RTMP_MAIN_CONF | RTMP_SRV_CONF),
    simple(ngx_string!("ssl_ciphers"), RTMP_MAIN_CONF | RTMP_SRV_CONF),
    simple(
        ngx_string!("ssl_session_cache"),
        RTMP_MAIN_CONF | RTMP_SRV_CONF,
    ),
    simple(
        ngx_string!("ssl_session_timeout"),
        RTMP_MAIN_CONF | RTMP_SRV_CONF,
    ),
    simple(ngx_string!("live"), ANY_LEVEL),
    simple(ngx_string!("idle_streams"), ANY_LEVEL),
    simple(ngx_string!("gop_cache"), ANY_LEVEL),
    simple(ngx_string!("wait_key"), ANY_LEVEL),
    simple(ngx_string!("wait_video"), ANY_LEVEL),
    simple(ngx_string!("player_buffer"), ANY_LEVEL),
    simple(ngx_string!("drop_idle_publisher"), ANY_LEVEL),
    simple(ngx_string!("publish_takeover"), ANY_LEVEL),
    simple(ngx_string!("on_connect"), ANY_LEVEL),
    simple(ngx_string!("on_publish"), ANY_LEVEL),
    simple(ngx_string!("on_play"), ANY_LEVEL),
    simple(ngx_string!("on_publish_done"), ANY_LEVEL),
    simple(ngx_string!("on_play_done"), ANY_LEVEL),
    simple(ngx_string!("on_done"), ANY_LEVEL),
    simple(ngx_string!("on_record_done"), RECORD_LEVELS),
    simple(ngx_string!("on_update"), ANY_LEVEL),
    simple(ngx_string!("notify_method"), ANY_LEVEL),
    simple(ngx_string!("notify_update_timeout"), ANY_LEVEL),
    simple(ngx_string!("notify_update_strict"), ANY_LEVEL),
    simple(ngx_string!("notify_relay_redirect"), ANY_LEVEL),
    simple(ngx_string!("allow"), ANY_LEVEL),
    simple(ngx_string!("deny"), ANY_LEVEL),
    simple(ngx_string!("publish_keys"), ANY_LEVEL),
    simple(ngx_string!("publish_secret"), ANY_LEVEL),
    simple(ngx_string!("play_secret"), ANY_LEVEL),
    ngx_command_t {
        name: ngx_string!("recorder"),
        type_: RTMP_APP_CONF | (NGX_CONF_BLOCK | NGX_CONF_TAKE1) as ngx_uint_t,
        set: Some(conf::recorder_block),
        conf: 0,
        offset: 0,
        post: ptr::null_mut(),
    },
    simple(ngx_string!("record"), RECORD_LEVELS),
    simple(ngx_string!("record_path"), RECORD_LEVELS),
    simple(ngx_string!("record_suffix"), RECORD_LEVELS),
    simple(ngx_string!("record_unique"), RECORD_LEVELS),
    simple(ngx_string!("record_append"), RECORD_LEVELS),
    simple(ngx_string!("record_lock"), RECORD_LEVELS),
    simple(ngx_string!("record_notify"), RECORD_LEVELS),
    simple(ngx_string!("record_max_size"), RECORD_LEVELS),
    simple(ngx_string!("record_max_frames"), RECORD_LEVELS),
    simple(ngx_string!("record_interval"), RECORD_LEVELS),
    simple(ngx_string!("record_format"), RECORD_LEVELS),
    simple(ngx_string!("record_fragment"), RECORD_LEVELS),
    simple(ngx_string!("hls"), ANY_LEVEL),
    simple(ngx_string!("hls_path"), ANY_LEVEL),
    simple(ngx_string!("hls_fragment"), ANY_LEVEL),
    simple(ngx_string!("hls_playlist_length"), ANY_LEVEL),
    simple(ngx_string!("hls_max_fragment"), ANY_LEVEL),
    simple(ngx_string!("hls_continuous"), ANY_LEVEL),
    simple(ngx_string!("hls_nested"), ANY_LEVEL),
    simple(ngx_string!("hls_cleanup"), ANY_LEVEL),
    simple(ngx_string!("hls_fragment_naming"), ANY_LEVEL),
    simple(ngx_string!("hls_fragment_slicing"), ANY_LEVEL),
    simple(ngx_string!("hls_type"), ANY_LEVEL),
    simple(ngx_string!("hls_fragment_type"), ANY_LEVEL),
    simple(ngx_string!("hls_base_url"), ANY_LEVEL),
    simple(ngx_string!("hls_variant"), ANY_LEVEL),
    simple(ngx_string!("hls_low_latency"), ANY_LEVEL),
    simple(ngx_string!("hls_part_duration"), ANY_LEVEL),
    simple(ngx_string!("hls_program_date_time"), ANY_LEVEL),
    simple(ngx_string!("dash"), ANY_LEVEL),
    simple(ngx_string!("dash_path"), ANY_LEVEL),
    simple(ngx_string!("dash_fragment"), ANY_LEVEL),
    simple(ngx_string!("dash_playlist_length"), ANY_LEVEL),
    simple(ngx_string!("dash_nested"), ANY_LEVEL),
    simple(ngx_string!("dash_cleanup"), ANY_LEVEL),
    simple(ngx_string!("hls_rendition"), RTMP_APP_CONF),
    simple(ngx_string!("transcode_ffmpeg"), ANY_LEVEL),
    simple(ngx_string!("transcode_max"), RTMP_MAIN_CONF | RTMP_SRV_CONF),
    simple(ngx_string!("exec"), ANY_LEVEL),
    simple(ngx_string!("exec_push"), ANY_LEVEL),
    simple(ngx_string!("exec_publish"), ANY_LEVEL),
    simple(ngx_string!("exec_publish_done"), ANY_LEVEL),
    simple(ngx_string!("exec_play"), ANY_LEVEL),
    simple(ngx_string!("exec_play_done"), ANY_LEVEL),
    simple(ngx_string!("exec_static"), ANY_LEVEL),
    simple(ngx_string!("exec_pull"), ANY_LEVEL),
    simple(ngx_string!("exec_record_done"), RECORD_LEVELS),
    simple(ngx_string!("exec_options"), ANY_LEVEL),
    simple(ngx_string!("exec_kill_signal"), ANY_LEVEL),
    simple(ngx_string!("respawn"), ANY_LEVEL),
    simple(ngx_string!("respawn_timeout"), ANY_LEVEL),
    simple(ngx_string!("push"), ANY_LEVEL),
    simple(ngx_string!("push_reconnect"), ANY_LEVEL),
    simple(ngx_string!("relay_buffer"), ANY_LEVEL),
    simple(ngx_string!("session_relay"), ANY_LEVEL),
    ngx_command_t {
        name: ngx_string!("resolver"),
        type_: ANY_LEVEL | NGX_CONF_1MORE as ngx_uint_t,
        set: Some(conf::directive),
        conf: 0,
        offset: 0,
        post: ptr::null_mut(),
    },
    simple(ngx_string!("resolver_timeout"), ANY_LEVEL),
    simple(ngx_string!("pull"), ANY_LEVEL),
    simple(ngx_string!("pull_reconnect"), ANY_LEVEL),
    simple(ngx_string!("pull_grace"), ANY_LEVEL),
    simple(ngx_string!("relay_ssl_verify"), ANY_LEVEL),
    simple(ngx_string!("relay_ssl_trusted_certificate"), ANY_LEVEL),
    simple(ngx_string!("relay_ssl_protocols"), ANY_LEVEL),
    ngx_command_t::empty(),
];

/// Nothing reads the context of a module of a private type; it only must not be null.
static mut CONF_CTX: [usize; 1] = [0];

#[no_mangle]
#[allow(non_upper_case_globals)]
pub static mut ngx_rtmp_rs_module: ngx_module_t = ngx_module_t {
    ctx: ptr::addr_of_mut!(CORE_CTX) as *mut c_void,
    commands: ptr::addr_of_mut!(CORE_COMMANDS) as *mut ngx_command_t,
    type_: NGX_CORE_MODULE as ngx_uint_t,
    init_process: Some(init_process),
    exit_process: Some(exit_process),
    ..ngx_module_t::default()
};

/// The `rtmp {}` block of `cycle`, if it has one.
///
/// # Safety
/// `cycle` must be nginx's current cycle (or the one being initialised); the state lives as
/// long as it.
unsafe fn parse_state<'a>(cycle: *mut ngx_cycle_t) -> Option<&'a conf::ParseState> {
    // SAFETY: the core module's slot in the cycle's `conf_ctx` holds the `ParseState`
    // of the `rtmp {}` block (or null without one), alive as long as the cycle.
    unsafe {
        let index = (*ptr::addr_of!(ngx_rtmp_rs_module)).index;
        (*(*cycle).conf_ctx.add(index))
            .cast::<conf::ParseState>()
            .as_ref()
    }
}

/// `init_process`: a worker starts; it finds the live zone and the stat board of its cycle.
unsafe extern "C" fn init_process(cycle: *mut ngx_cycle_t) -> ngx_int_t {
    let _ = super::catch(|| {
        // SAFETY: nginx passes the worker's cycle.
        let Some(state) = (unsafe { parse_state(cycle) }) else {
            return;
        };
        super::resolver::set_worker_names(&state.names);
        // SAFETY: the zone was mapped and initialised before workers start.
        let zone = unsafe { super::shm::attach(state.shm_zone) };
        super::worker::with(|w| w.zone = zone);
        // SAFETY: the contexts live in the `ParseState`, as long as the cycle.
        super::ssl::client::install(unsafe { &*ptr::addr_of!(state.relay_tls) });
        // SAFETY: the board zone and the configuration live as long as the cycle, which
        // outlives the worker.
        unsafe { super::stat_snapshot::init(state.stat_zone, &*ptr::addr_of!(state.conf)) };
        super::exec::start_static(&state.conf, super::log::Log::cycle());
        // SAFETY: as above, the configuration lives as long as the cycle.
        super::relay::pull::start_static(unsafe { &*ptr::addr_of!(state.conf) });
    });
    NGX_OK as ngx_int_t
}

/// `exit_process`: the worker exits; its children go with it now rather than by the
/// kernel's death signal after it.
unsafe extern "C" fn exit_process(_cycle: *mut ngx_cycle_t) {
    let _ = super::catch(super::relay::pull::stop_all);
    let _ = super::catch(super::exec_pull::stop_all);
    let _ = super::catch(super::process::kill_all);
    // nginx frees its resolvers with the cycle after this.
    let _ = super::catch(super::resolver::cancel_all);
}

#[no_mangle]
#[allow(non_upper_case_globals)]
pub static mut ngx_rtmp_rs_conf_module: ngx_module_t = ngx_module_t {
    ctx: ptr::addr_of_mut!(CONF_CTX) as *mut c_void,
    commands: ptr::addr_of_mut!(CONF_COMMANDS) as *mut ngx_command_t,
    type_: RTMP_CONF_MODULE,
    ..ngx_module_t::default()
};

#[no_mangle]
#[allow(non_upper_case_globals)]
pub static mut ngx_modules: [*const ngx_module_t; 5] = [
    ptr::addr_of!(ngx_rtmp_rs_module),
    ptr::addr_of!(ngx_rtmp_rs_conf_module),
    ptr::addr_of!(http_stat::ngx_rtmp_rs_http_module),
    ptr::addr_of!(http_hls::ngx_rtmp_rs_http_hls_module),
    ptr::null(),
];

#[no_mangle]
#[allow(non_upper_case_globals)]
pub static mut ngx_module_names: [*const c_char; 5] = [
    c"ngx_rtmp_rs_module".as_ptr(),
    c"ngx_rtmp_rs_conf_module".as_ptr(),
    c"ngx_rtmp_rs_http_module".as_ptr(),
    c"ngx_rtmp_rs_http_hls_module".as_ptr(),
    ptr::null(),
];

#[no_mangle]
#[allow(non_upper_case_globals)]
pub static mut ngx_module_order: [*const c_char; 1] = [ptr::null()];
