//! `ngx_rtmp_rs_http_module`: the http side — `rtmp_stat`, `rtmp_stat_format`,
//! `rtmp_stat_stylesheet` and `rtmp_control` in `location {}` (and `flv_live`, whose handler
//! is [`super::http_flv`]). Each of `rtmp_stat` and
//! `rtmp_control` makes its location's content handler ours.
//!
//! The handlers answer from the stat board ([`super::stat_snapshot`]): every worker's snapshot
//! merged, and control commands executed on every worker.

use core::ffi::{c_char, c_void};
use core::ptr;

use ::ngx::core::{Buffer, Status, NGX_CONF_ERROR, NGX_CONF_OK};
use ::ngx::http::{
    HttpModule, HttpModuleLocationConf, Merge, MergeConfigError, NgxHttpCoreModule, Request,
};
use nginx_sys::{
    ngx_command_t, ngx_conf_t, ngx_http_conf_ctx_t, ngx_http_module_t, ngx_http_request_t,
    ngx_int_t, ngx_module_t, ngx_str_t, ngx_uint_t, NGX_CONF_1MORE, NGX_CONF_TAKE1,
    NGX_HTTP_INTERNAL_SERVER_ERROR, NGX_HTTP_LOC_CONF,
};

use super::conf::{args, log_error};
use super::stat_snapshot;
use crate::stat::record_control;
use crate::stat::{Control, ControlSections, Format, Sections};

/// The http module, for ngx's typed access to its location configuration.
pub struct HttpStatModule;

impl HttpModule for HttpStatModule {
    fn module() -> &'static ngx_module_t {
        // SAFETY: nginx writes the module's indexes while it loads the configuration, before
        // any handler of the module runs; nothing writes the module afterwards.
        unsafe { &*ptr::addr_of!(ngx_rtmp_rs_http_module) }
    }
}

// SAFETY: `HTTP_CTX` creates this module's location configurations as `LocConf`s.
unsafe impl HttpModuleLocationConf for HttpStatModule {
    type LocationConf = LocConf;
}

/// Location configuration: None is "not set at this level" (inherited from the enclosing one).
#[derive(Debug, Default)]
pub struct LocConf {
    /// `rtmp_stat`: the sections shown.
    stat: Option<Sections>,
    format: Option<Format>,
    /// `rtmp_control`: the commands allowed.
    control: Option<ControlSections>,
    stylesheet: Option<String>,
}

impl Merge for LocConf {
    fn merge(&mut self, prev: &LocConf) -> Result<(), MergeConfigError> {
        self.stat = self.stat.or(prev.stat);
        self.format = self.format.or(prev.format);
        self.control = self.control.or(prev.control);
        if self.stylesheet.is_none() {
            self.stylesheet.clone_from(&prev.stylesheet);
        }
        Ok(())
    }
}

/// A content handler of this module.
type Handler = unsafe extern "C" fn(*mut ngx_http_request_t) -> ngx_int_t;

/// The body of this module's location directives: `set` gets the location configuration, the
/// directive's arguments (its name first) and the location's content handler to set; an error
/// fails `nginx -t` with file and line.
///
/// # Safety
/// `cf` must be what nginx passed to a directive handler of this module.
unsafe fn loc_directive(
    cf: *mut ngx_conf_t,
    set: impl FnOnce(&mut LocConf, &[&str], &mut Option<Handler>) -> Result<(), String>,
) -> *mut c_char {
    super::catch(|| {
        // SAFETY: a directive handler's `cf` (contract), in an http location: its `ctx` holds
        // the location's configurations.
        let (conf, a) = unsafe { (&*cf, args(cf)) };
        let (Some(lc), Some(clcf)) = (
            HttpStatModule::location_conf_mut(conf),
            NgxHttpCoreModule::location_conf_mut(conf),
        ) else {
            return NGX_CONF_ERROR;
        };
        match set(lc, &a, &mut clcf.handler) {
            Ok(()) => NGX_CONF_OK,
            Err(e) => log_error(cf, &e),
        }
    })
    .unwrap_or(NGX_CONF_ERROR)
}

fn duplicate(name: &str) -> String {
    format!("\"{name}\" directive is duplicate")
}

unsafe extern "C" fn stat_directive(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    _conf: *mut c_void,
) -> *mut c_char {
    let set = |lc: &mut LocConf, a: &[&str], handler: &mut Option<Handler>| {
        if lc.stat.is_some() {
            return Err(duplicate("rtmp_stat"));
        }
        lc.stat = Some(Sections::parse(a.iter().skip(1).copied())?);
        *handler = Some(stat_handler);
        Ok(())
    };
    // SAFETY: nginx calls this as a directive handler of this module.
    unsafe { loc_directive(cf, set) }
}

unsafe extern "C" fn format_directive(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    _conf: *mut c_void,
) -> *mut c_char {
    let set = |lc: &mut LocConf, a: &[&str], _: &mut Option<Handler>| {
        if lc.format.is_some() {
            return Err(duplicate("rtmp_stat_format"));
        }
        lc.format = Some(Format::from_directive(
            a.get(1).copied().unwrap_or_default(),
        )?);
        Ok(())
    };
    // SAFETY: nginx calls this as a directive handler of this module.
    unsafe { loc_directive(cf, set) }
}

unsafe extern "C" fn stylesheet_directive(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    _conf: *mut c_void,
) -> *mut c_char {
    let set = |lc: &mut LocConf, a: &[&str], _: &mut Option<Handler>| {
        if lc.stylesheet.is_some() {
            return Err(duplicate("rtmp_stat_stylesheet"));
        }
        let text = a.get(1).copied().unwrap_or_default();
        if text.is_empty() || text.contains('\u{fffd}') || text.chars().any(char::is_control) {
            return Err("invalid \"rtmp_stat_stylesheet\" value".into());
        }
        lc.stylesheet = Some(text.to_owned());
        Ok(())
    };
    // SAFETY: nginx calls this as a directive handler of this module.
    unsafe { loc_directive(cf, set) }
}

unsafe extern "C" fn control_directive(
    cf: *mut ngx_conf_t,
    _cmd: *mut ngx_command_t,
    _conf: *mut c_void,
) -> *mut c_char {
    let set = |lc: &mut LocConf, a: &[&str], handler: &mut Option<Handler>| {
        if lc.control.is_some() {
            return Err(duplicate("rtmp_control"));
        }
        lc.control = Some(ControlSections::parse(a.iter().skip(1).copied())?);
        *handler = Some(control_handler);
        Ok(())
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
    create_loc_conf: Some(HttpStatModule::create_loc_conf),
    merge_loc_conf: Some(HttpStatModule::merge_loc_conf),
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

pub static mut HTTP_COMMANDS: [ngx_command_t; 6] = [
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
    command(
        ::ngx::ngx_string!("flv_live"),
        NGX_CONF_TAKE1,
        super::http_flv::flv_live_directive,
    ),
    ngx_command_t::empty(),
];

fn str_of(s: &ngx_str_t) -> &str {
    if s.len == 0 || s.data.is_null() {
        return "";
    }
    core::str::from_utf8(s.as_bytes()).unwrap_or("")
}

/// Sends a complete response.
fn respond(req: &mut Request, status: u16, content_type: &'static str, body: &str) -> ngx_int_t {
    let out = &mut req.as_mut().headers_out;
    out.status = status as ngx_uint_t;
    // nginx only reads the content type: a static string serves every request.
    out.content_type = ngx_str_t {
        len: content_type.len(),
        data: content_type.as_ptr().cast_mut(),
    };
    out.content_type_len = content_type.len();
    out.content_type_lowcase = ptr::null_mut();
    out.content_length_n = body.len() as nginx_sys::off_t;
    let _ = req.add_header_out("Cache-Control", "no-cache");
    let _ = req.add_header_out("Access-Control-Allow-Origin", "*");
    let rc = req.send_header();
    if rc == Status::NGX_ERROR || rc > Status::NGX_OK || req.header_only() {
        return rc.into();
    }
    let Some(mut buf) = req.pool().create_buffer_from_str(body) else {
        return Status::NGX_ERROR.into();
    };
    buf.set_last_buf(true);
    buf.set_last_in_chain(true);
    let mut chain = nginx_sys::ngx_chain_t {
        buf: buf.as_ngx_buf_mut(),
        next: ptr::null_mut(),
    };
    req.output_filter(&mut chain).into()
}

/// Method check and request body discard, common to both handlers.
fn prelude(req: &mut Request) -> Result<(), ngx_int_t> {
    let allowed = (nginx_sys::NGX_HTTP_GET | nginx_sys::NGX_HTTP_HEAD) as ngx_uint_t;
    if req.as_ref().method & allowed == 0 {
        return Err(nginx_sys::NGX_HTTP_NOT_ALLOWED as ngx_int_t);
    }
    let rc = req.discard_request_body();
    if !rc.is_ok() {
        return Err(rc.into());
    }
    Ok(())
}

/// The body of a content handler: `answer` gets the request (checked by [`prelude`]) and its
/// location's configuration.
///
/// # Safety
/// `r` must be what nginx passed to a content handler of this module.
unsafe fn content(
    r: *mut ngx_http_request_t,
    answer: impl FnOnce(&mut Request, &LocConf) -> ngx_int_t,
) -> ngx_int_t {
    super::catch(|| {
        // SAFETY: nginx calls a content handler with a live request that the handler owns
        // until it returns.
        let req = unsafe { Request::from_ngx_http_request(r) };
        if let Err(rc) = prelude(req) {
            return rc;
        }
        match HttpStatModule::location_conf(req) {
            Some(lc) => answer(req, lc),
            None => NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t,
        }
    })
    .unwrap_or(NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t)
}

unsafe extern "C" fn stat_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    let answer = |req: &mut Request, lc: &LocConf| {
        let args = str_of(&req.as_ref().args);
        let format = match Format::for_request(args, lc.format.unwrap_or_default()) {
            Ok(f) => f,
            Err(body) => return respond(req, 400, "text/plain", &body),
        };
        let view = stat_snapshot::view();
        let sections = lc.stat.unwrap_or(Sections::NONE);
        let body = format.render(&view, sections, lc.stylesheet.as_deref());
        respond(req, 200, format.content_type(), &body)
    };
    // SAFETY: nginx calls this as a content handler of this module.
    unsafe { content(r, answer) }
}

unsafe extern "C" fn control_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    let answer = |req: &mut Request, lc: &LocConf| {
        let (path, args) = (str_of(&req.as_ref().uri), str_of(&req.as_ref().args));
        let now_s = (super::file_ops::now().unix_ms / 1000) as i64;
        match Control::parse(path, args, lc.control.unwrap_or_default(), now_s) {
            Ok(Control::Drop(cmd) | Control::Redirect(cmd)) => {
                let n = stat_snapshot::control(&cmd);
                respond(req, 200, "text/plain", &format!("{n}"))
            }
            Ok(Control::Record(cmd)) => match stat_snapshot::record(&cmd) {
                Ok(paths) => {
                    let (status, body) = record_control::answer(&paths);
                    respond(req, status, "text/plain", &body)
                }
                Err(e) => respond(req, e.status, "text/plain", &format!("{}\n", e.reason)),
            },
            Err(e) => respond(req, e.status, "text/plain", &format!("{}\n", e.reason)),
        }
    };
    // SAFETY: nginx calls this as a content handler of this module.
    unsafe { content(r, answer) }
}

/// The http side of the module: `rtmp_stat`, `rtmp_stat_format`, `rtmp_stat_stylesheet`,
/// `rtmp_control`.
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static mut ngx_rtmp_rs_http_module: ngx_module_t = ngx_module_t {
    ctx: ptr::addr_of_mut!(HTTP_CTX) as *mut c_void,
    commands: ptr::addr_of_mut!(HTTP_COMMANDS) as *mut ngx_command_t,
    type_: nginx_sys::NGX_HTTP_MODULE as ngx_uint_t,
    ..ngx_module_t::default()
};
