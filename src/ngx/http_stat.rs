//! `ngx_rtmp_rs_http_module`: the http side — `rtmp_stat`, `rtmp_stat_format`,
//! `rtmp_stat_stylesheet` and `rtmp_control` in `location {}`. Each of `rtmp_stat` and
//! `rtmp_control` makes its location's content handler ours.
//!
//! The handlers answer from the stat board ([`super::stat_snapshot`]): every worker's snapshot
//! merged, and control commands executed on every worker.

use core::ffi::{c_char, c_void};
use core::ptr;

use nginx_sys::{
    ngx_command_t, ngx_conf_t, ngx_http_conf_ctx_t, ngx_http_core_loc_conf_t, ngx_http_core_module,
    ngx_http_module_t, ngx_http_request_t, ngx_int_t, ngx_str_t, ngx_uint_t, NGX_CONF_1MORE,
    NGX_CONF_TAKE1, NGX_HTTP_LOC_CONF,
};

use super::conf::{args, log_error};
use super::stat_snapshot;
use crate::stat::{Command, ControlSections, Format, Sections};

const NGX_CONF_OK: *mut c_char = ptr::null_mut();
const NGX_CONF_ERROR: *mut c_char = usize::MAX as *mut c_char;

const SET: u32 = 0x8000_0000;
const GLOBAL: u32 = 1;
const LIVE: u32 = 2;
const CLIENTS: u32 = 4;
const DROP: u32 = 1;
const REDIRECT: u32 = 2;
const RECORD: u32 = 4;

/// Location configuration (allocated zeroed by nginx's pool: all unset).
#[repr(C)]
pub struct LocConf {
    /// `rtmp_stat` sections | SET.
    stat: u32,
    /// `rtmp_stat_format`: 0 unset, 1 xml, 2 json, 3 prometheus.
    format: u32,
    /// `rtmp_control` sections | SET.
    control: u32,
    /// `rtmp_stat_stylesheet` (len 0: unset); the token lives in the cycle's pool.
    stylesheet: ngx_str_t,
    stylesheet_set: u32,
}

impl LocConf {
    fn sections(&self) -> Sections {
        Sections {
            global: self.stat & GLOBAL != 0,
            live: self.stat & LIVE != 0,
            clients: self.stat & CLIENTS != 0,
        }
    }

    fn format(&self) -> Format {
        match self.format {
            2 => Format::Json,
            3 => Format::Prometheus,
            _ => Format::Xml,
        }
    }

    fn control(&self) -> ControlSections {
        ControlSections {
            drop: self.control & DROP != 0,
            redirect: self.control & REDIRECT != 0,
            record: self.control & RECORD != 0,
        }
    }
}

fn str_of(s: &ngx_str_t) -> &str {
    if s.len == 0 || s.data.is_null() {
        return "";
    }
    core::str::from_utf8(s.as_bytes()).unwrap_or("")
}

/// The body of this module's location directives: `set` gets the location configuration and
/// the directive's arguments (its name first); an error fails `nginx -t` with file and line.
///
/// # Safety
/// `cf` and `conf` must be what nginx passed to a directive handler of this module.
unsafe fn loc_directive(
    cf: *mut ngx_conf_t,
    conf: *mut c_void,
    set: impl FnOnce(&mut LocConf, &[&str]) -> Result<(), String>,
) -> *mut c_char {
    super::catch(|| {
        // SAFETY: nginx passes this module's location configuration (contract).
        let lc = unsafe { &mut *conf.cast::<LocConf>() };
        // SAFETY: a directive handler's `cf` (contract).
        let a = unsafe { args(cf) };
        match set(lc, &a) {
            Ok(()) => NGX_CONF_OK,
            Err(e) => log_error(cf, &e),
        }
    })
    .unwrap_or(NGX_CONF_ERROR)
}

fn duplicate(name: &str) -> String {
    format!("\"{name}\" directive is duplicate")
}

/// Makes `handler` the content handler of the location being parsed.
///
/// # Safety
/// `cf` must be the `ngx_conf_t` of a directive handler in a `location {}`.
unsafe fn set_handler(
    cf: *mut ngx_conf_t,
    handler: unsafe extern "C" fn(*mut ngx_http_request_t) -> ngx_int_t,
) {
    // SAFETY: in http location context `cf->ctx` is an `ngx_http_conf_ctx_t` whose
    // `loc_conf[ngx_http_core_module.ctx_index]` is the location's core configuration.
    unsafe {
        let ctx = (*cf).ctx.cast::<ngx_http_conf_ctx_t>();
        let index = (*ptr::addr_of!(ngx_http_core_module)).ctx_index;
        let clcf = (*(*ctx).loc_conf.add(index)).cast::<ngx_http_core_loc_conf_t>();
        (*clcf).handler = Some(handler);
    }
}

unsafe extern "C" fn stat_directive(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    let set = |lc: &mut LocConf, a: &[&str]| {
        if lc.stat & SET != 0 {
            return Err(duplicate("rtmp_stat"));
        }
        let s = Sections::parse(a.iter().skip(1).copied())?;
        lc.stat = SET
            | if s.global { GLOBAL } else { 0 }
            | if s.live { LIVE } else { 0 }
            | if s.clients { CLIENTS } else { 0 };
        // SAFETY: a location directive's `cf`.
        unsafe { set_handler(cf, stat_handler) };
        Ok(())
    };
    // SAFETY: nginx calls this as a directive handler of this module.
    unsafe { loc_directive(cf, conf, set) }
}

unsafe extern "C" fn format_directive(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    let set = |lc: &mut LocConf, a: &[&str]| {
        if lc.format != 0 {
            return Err(duplicate("rtmp_stat_format"));
        }
        lc.format = match a.get(1).copied() {
            Some("xml") => 1,
            Some("json") => 2,
            Some("prometheus") => 3,
            other => {
                return Err(format!(
                    "invalid value \"{}\" in \"rtmp_stat_format\" (xml, json, prometheus)",
                    other.unwrap_or_default()
                ))
            }
        };
        Ok(())
    };
    // SAFETY: nginx calls this as a directive handler of this module.
    unsafe { loc_directive(cf, conf, set) }
}

unsafe extern "C" fn stylesheet_directive(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    let set = |lc: &mut LocConf, a: &[&str]| {
        if lc.stylesheet_set != 0 {
            return Err(duplicate("rtmp_stat_stylesheet"));
        }
        let text = a.get(1).copied().unwrap_or_default();
        if text.is_empty() || text.contains('\u{fffd}') || text.chars().any(char::is_control) {
            return Err("invalid \"rtmp_stat_stylesheet\" value".into());
        }
        // SAFETY: `cf->args` holds the directive name and one value (TAKE1), allocated in
        // the cycle's pool: the token outlives every request of the cycle.
        lc.stylesheet = unsafe {
            *(*(*cf).args)
                .as_slice::<ngx_str_t>()
                .get(1)
                .unwrap_or(&ngx_str_t::default())
        };
        lc.stylesheet_set = 1;
        Ok(())
    };
    // SAFETY: nginx calls this as a directive handler of this module.
    unsafe { loc_directive(cf, conf, set) }
}

unsafe extern "C" fn control_directive(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    let set = |lc: &mut LocConf, a: &[&str]| {
        if lc.control & SET != 0 {
            return Err(duplicate("rtmp_control"));
        }
        let s = ControlSections::parse(a.iter().skip(1).copied())?;
        lc.control = SET
            | if s.drop { DROP } else { 0 }
            | if s.redirect { REDIRECT } else { 0 }
            | if s.record { RECORD } else { 0 };
        // SAFETY: a location directive's `cf`.
        unsafe { set_handler(cf, control_handler) };
        Ok(())
    };
    // SAFETY: nginx calls this as a directive handler of this module.
    unsafe { loc_directive(cf, conf, set) }
}

unsafe extern "C" fn create_loc_conf(cf: *mut ngx_conf_t) -> *mut c_void {
    // SAFETY: a zeroed `LocConf` is its "unset" state; the pool owns it for the cycle.
    unsafe { nginx_sys::ngx_pcalloc((*cf).pool, core::mem::size_of::<LocConf>()) }
}

unsafe extern "C" fn merge_loc_conf(
    _cf: *mut ngx_conf_t,
    parent: *mut c_void,
    child: *mut c_void,
) -> *mut c_char {
    // SAFETY: nginx passes two of our `LocConf`s (parent and nested level).
    let (prev, conf) = unsafe { (&*parent.cast::<LocConf>(), &mut *child.cast::<LocConf>()) };
    if conf.stat == 0 {
        conf.stat = prev.stat;
    }
    if conf.format == 0 {
        conf.format = prev.format;
    }
    if conf.control == 0 {
        conf.control = prev.control;
    }
    if conf.stylesheet_set == 0 {
        conf.stylesheet = prev.stylesheet;
        conf.stylesheet_set = prev.stylesheet_set;
    }
    NGX_CONF_OK
}

pub static mut HTTP_CTX: ngx_http_module_t = ngx_http_module_t {
    preconfiguration: None,
    postconfiguration: None,
    create_main_conf: None,
    init_main_conf: None,
    create_srv_conf: None,
    merge_srv_conf: None,
    create_loc_conf: Some(create_loc_conf),
    merge_loc_conf: Some(merge_loc_conf),
};

const LOC_CONF_OFFSET: ngx_uint_t = core::mem::offset_of!(ngx_http_conf_ctx_t, loc_conf);

const fn command(
    name: ngx_str_t,
    args: u32,
    set: unsafe extern "C" fn(*mut ngx_conf_t, *mut ngx_command_t, *mut c_void) -> *mut c_char,
) -> ngx_command_t {
    ngx_command_t {
        name,
        type_: (NGX_HTTP_LOC_CONF | args) as ngx_uint_t,
        set: Some(set),
        conf: LOC_CONF_OFFSET,
        offset: 0,
        post: ptr::null_mut(),
    }
}

pub static mut HTTP_COMMANDS: [ngx_command_t; 5] = [
    command(
        ::ngx::ngx_string!("rtmp_stat"),
        NGX_CONF_1MORE,
        stat_directive,
    ),
    command(
        ::ngx::ngx_string!("rtmp_stat_format"),
        NGX_CONF_TAKE1,
        format_directive,
    ),
    command(
        ::ngx::ngx_string!("rtmp_stat_stylesheet"),
        NGX_CONF_TAKE1,
        stylesheet_directive,
    ),
    command(
        ::ngx::ngx_string!("rtmp_control"),
        NGX_CONF_1MORE,
        control_directive,
    ),
    ngx_command_t::empty(),
];

/// # Safety
/// `r` must be a request whose location has our configuration.
unsafe fn loc_conf<'a>(r: *mut ngx_http_request_t) -> &'a LocConf {
    // SAFETY: every http location has a configuration for every http module, at the
    // module's `ctx_index`.
    unsafe {
        let index = (*ptr::addr_of!(super::module::ngx_rtmp_rs_http_module)).ctx_index;
        &*(*(*r).loc_conf.add(index)).cast::<LocConf>()
    }
}

/// Sends a complete response.
///
/// # Safety
/// `r` must be the request of a content handler.
unsafe fn respond(
    r: *mut ngx_http_request_t,
    status: u16,
    content_type: &'static str,
    body: &[u8],
) -> ngx_int_t {
    // SAFETY: a content handler owns its request; the buffer is allocated from the request's
    // pool and filled before it is handed to the output filters.
    unsafe {
        let req = ::ngx::http::Request::from_ngx_http_request(r);
        (*r).headers_out.status = status as ngx_uint_t;
        (*r).headers_out.content_type = ngx_str_t {
            len: content_type.len(),
            data: content_type.as_ptr().cast_mut(),
        };
        (*r).headers_out.content_type_len = content_type.len();
        (*r).headers_out.content_type_lowcase = ptr::null_mut();
        (*r).headers_out.content_length_n = body.len() as nginx_sys::off_t;
        let _ = req.add_header_out("Cache-Control", "no-cache");
        let _ = req.add_header_out("Access-Control-Allow-Origin", "*");
        let rc = nginx_sys::ngx_http_send_header(r);
        if rc == nginx_sys::NGX_ERROR as ngx_int_t
            || rc > nginx_sys::NGX_OK as ngx_int_t
            || req.header_only()
        {
            return rc;
        }
        let b = nginx_sys::ngx_create_temp_buf((*r).pool, body.len().max(1));
        if b.is_null() {
            return nginx_sys::NGX_ERROR as ngx_int_t;
        }
        ptr::copy_nonoverlapping(body.as_ptr(), (*b).pos, body.len());
        (*b).last = (*b).pos.add(body.len());
        (*b).set_last_buf(1);
        (*b).set_last_in_chain(1);
        let mut out = nginx_sys::ngx_chain_t {
            buf: b,
            next: ptr::null_mut(),
        };
        nginx_sys::ngx_http_output_filter(r, &mut out)
    }
}

/// Method check and request body discard, common to both handlers.
///
/// # Safety
/// `r` must be the request of a content handler.
unsafe fn prelude(r: *mut ngx_http_request_t) -> Result<(), ngx_int_t> {
    // SAFETY: see the contract.
    unsafe {
        if (*r).method & (nginx_sys::NGX_HTTP_GET | nginx_sys::NGX_HTTP_HEAD) as ngx_uint_t == 0 {
            return Err(nginx_sys::NGX_HTTP_NOT_ALLOWED as ngx_int_t);
        }
        let rc = nginx_sys::ngx_http_discard_request_body(r);
        if rc != nginx_sys::NGX_OK as ngx_int_t {
            return Err(rc);
        }
    }
    Ok(())
}

/// The value of `key` in the query string, if present.
fn query_arg(args: &str, key: &str) -> Option<String> {
    crate::auth::query::parse(args)?
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

unsafe extern "C" fn stat_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    super::catch(|| {
        // SAFETY: nginx calls the content handler with a live request.
        if let Err(rc) = unsafe { prelude(r) } {
            return rc;
        }
        // SAFETY: as above.
        let (lc, args) = unsafe { (loc_conf(r), str_of(&(*r).args)) };
        let format = match query_arg(args, "format") {
            Some(f) => match Format::parse(&f) {
                Some(f) => f,
                None => {
                    let body = format!("unknown format \"{f}\" (xml, json, prometheus)\n");
                    // SAFETY: as above.
                    return unsafe { respond(r, 400, "text/plain", body.as_bytes()) };
                }
            },
            None => lc.format(),
        };
        let view = stat_snapshot::view();
        let stylesheet = (lc.stylesheet_set != 0).then(|| str_of(&lc.stylesheet));
        let body = format.render(&view, lc.sections(), stylesheet);
        // SAFETY: as above.
        unsafe { respond(r, 200, format.content_type(), body.as_bytes()) }
    })
    .unwrap_or(nginx_sys::NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t)
}

unsafe extern "C" fn control_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    super::catch(|| {
        // SAFETY: nginx calls the content handler with a live request.
        if let Err(rc) = unsafe { prelude(r) } {
            return rc;
        }
        // SAFETY: as above.
        let (lc, path, args) = unsafe { (loc_conf(r), str_of(&(*r).uri), str_of(&(*r).args)) };
        match Command::parse(path, args, lc.control()) {
            Ok(cmd) => {
                let n = stat_snapshot::control(&cmd);
                // SAFETY: as above.
                unsafe { respond(r, 200, "text/plain", format!("{n}").as_bytes()) }
            }
            Err(e) => {
                let body = format!("{}\n", e.reason);
                // SAFETY: as above.
                unsafe { respond(r, e.status, "text/plain", body.as_bytes()) }
            }
        }
    })
    .unwrap_or(nginx_sys::NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t)
}
