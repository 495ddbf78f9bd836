//! Complete http responses of the `rtmp_hls` handler: a body from memory (playlists) or a
//! file sent by nginx's output chain (segments, parts), with the content type and cache
//! policy of the file; and requests suspended until their answer is known ([`suspend`]).

use core::ffi::c_void;
use core::ptr;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use ::ngx::core::Status;
use ::ngx::http::Request;
use nginx_sys::{
    ngx_buf_t, ngx_chain_t, ngx_create_temp_buf, ngx_file_t, ngx_int_t, ngx_pool_cleanup_add,
    ngx_pool_cleanup_file, ngx_pool_cleanup_file_t, ngx_str_t, ngx_uint_t,
    NGX_HTTP_INTERNAL_SERVER_ERROR, NGX_HTTP_NOT_FOUND,
};
use nginx_sys::{ngx_http_cleanup_add, ngx_http_request_t, ngx_http_test_reading, NGX_DONE};

/// How a response is labelled.
#[derive(Clone, Copy)]
pub struct Labels {
    /// A static string: nginx only reads it while sending the header.
    pub content_type: &'static str,
    pub cache_control: &'static str,
}

/// Status line and headers; `Err` carries what the handler returns when the header failed or
/// no body follows (HEAD).
fn header(
    req: &mut Request,
    labels: Labels,
    length: i64,
    mtime: Option<i64>,
) -> Result<(), ngx_int_t> {
    let out = &mut req.as_mut().headers_out;
    out.status = 200 as ngx_uint_t;
    out.content_type = ngx_str_t {
        len: labels.content_type.len(),
        data: labels.content_type.as_ptr().cast_mut(),
    };
    out.content_type_len = labels.content_type.len();
    out.content_type_lowcase = ptr::null_mut();
    out.content_length_n = length as nginx_sys::off_t;
    if let Some(t) = mtime {
        // nginx answers If-Modified-Since from it (not-modified filter).
        out.last_modified_time = t as nginx_sys::time_t;
    }
    if req
        .add_header_out("Cache-Control", labels.cache_control)
        .is_none()
    {
        return Err(NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t);
    }
    let rc = req.send_header();
    if rc == Status::NGX_ERROR || rc > Status::NGX_OK || req.header_only() {
        return Err(rc.into());
    }
    Ok(())
}

fn send_buf(req: &mut Request, buf: *mut ngx_buf_t) -> ngx_int_t {
    // SAFETY: `buf` was allocated from the request's pool just before and is not shared.
    unsafe {
        (*buf).set_last_buf(u32::from(req.is_main()));
        (*buf).set_last_in_chain(1);
    }
    let mut chain = ngx_chain_t {
        buf,
        next: ptr::null_mut(),
    };
    req.output_filter(&mut chain).into()
}

/// Sends `body` as a complete 200 response.
pub fn body(req: &mut Request, labels: Labels, body: &[u8]) -> ngx_int_t {
    if let Err(rc) = header(req, labels, body.len() as i64, None) {
        return rc;
    }
    if body.is_empty() {
        return ngx_http_send_special_last(req);
    }
    // SAFETY: the request's pool is live for the request; the buffer gets `body.len()`
    // writable bytes at `pos`.
    let buf = unsafe { ngx_create_temp_buf(req.as_mut().pool, body.len()) };
    if buf.is_null() {
        return Status::NGX_ERROR.into();
    }
    // SAFETY: as above: `pos` has room for `body.len()` bytes, which do not overlap `body`.
    unsafe {
        ptr::copy_nonoverlapping(body.as_ptr(), (*buf).pos, body.len());
        (*buf).last = (*buf).pos.add(body.len());
    }
    send_buf(req, buf)
}

fn ngx_http_send_special_last(req: &mut Request) -> ngx_int_t {
    // SAFETY: a live request owned by the caller.
    unsafe {
        nginx_sys::ngx_http_send_special(
            ptr::from_mut(req.as_mut()),
            nginx_sys::NGX_HTTP_LAST as ngx_uint_t,
        )
    }
}

/// Sends the regular file at `path` (already checked to lie inside its `hls_path`) as a
/// complete 200 response. The descriptor is closed with the request's pool.
pub fn file(req: &mut Request, labels: Labels, path: &Path) -> ngx_int_t {
    let Ok(cpath) = CString::new(path.as_os_str().as_bytes()) else {
        return NGX_HTTP_NOT_FOUND as ngx_int_t;
    };
    let flags = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOFOLLOW;
    // SAFETY: `cpath` is a NUL-terminated path.
    let fd = unsafe { libc::open(cpath.as_ptr(), flags) };
    if fd < 0 {
        return NGX_HTTP_NOT_FOUND as ngx_int_t;
    }
    let pool = req.as_mut().pool;
    let log = req.log();
    // The name lives in the pool as long as the descriptor (nginx logs it on errors).
    let name = req
        .pool()
        .alloc_unaligned(cpath.as_bytes_with_nul().len())
        .cast::<u8>();
    // SAFETY: the request's pool is live; the cleanup closes `fd` when the pool is freed.
    let cln =
        unsafe { ngx_pool_cleanup_add(pool, core::mem::size_of::<ngx_pool_cleanup_file_t>()) };
    if cln.is_null() || name.is_null() {
        // SAFETY: `fd` is ours and not yet handed to anyone.
        unsafe { libc::close(fd) };
        return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
    }
    // SAFETY: `cln` and `name` were just allocated with the sizes written; `data` points to
    // an `ngx_pool_cleanup_file_t`-sized block.
    unsafe {
        let bytes = cpath.as_bytes_with_nul();
        ptr::copy_nonoverlapping(bytes.as_ptr(), name, bytes.len());
        (*cln).handler = Some(ngx_pool_cleanup_file);
        let data = (*cln).data.cast::<ngx_pool_cleanup_file_t>();
        (*data).fd = fd;
        (*data).name = name;
        (*data).log = log;
    }
    // SAFETY: an all-zero `stat` is valid; `fd` is open.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::fstat(fd, &mut st) } != 0 || st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return NGX_HTTP_NOT_FOUND as ngx_int_t;
    }
    let size = st.st_size;
    // nginx's range filter answers `Range` requests from the file buffer.
    req.as_mut().set_allow_ranges(1);
    if let Err(rc) = header(req, labels, size, Some(st.st_mtime)) {
        return rc;
    }
    if size == 0 {
        return ngx_http_send_special_last(req);
    }
    let buf = req.pool().calloc_type::<ngx_buf_t>();
    let file = req.pool().calloc_type::<ngx_file_t>();
    if buf.is_null() || file.is_null() {
        return Status::NGX_ERROR.into();
    }
    // SAFETY: both were just allocated zeroed from the request's pool; `name` and `fd` live
    // as long as that pool.
    unsafe {
        (*file).fd = fd;
        (*file).name = ngx_str_t {
            len: cpath.as_bytes().len(),
            data: name,
        };
        (*file).log = log;
        (*buf).file = file;
        (*buf).set_in_file(1);
        (*buf).file_pos = 0;
        (*buf).file_last = size;
    }
    send_buf(req, buf)
}

/// Suspends request `r` as waiter `id` of its caller: the request stays open after its
/// handler returns, and `cleanup(id)` runs if it ends before it is answered (the client went,
/// the worker exits). Returns what the handler returns: `NGX_DONE`, or 500 when nginx had no
/// memory for the cleanup (then nothing was changed).
///
/// # Safety
/// `r` must be a live request whose handler (a content handler that is running, or the code
/// that finalizes an already suspended request) finalizes it with what this returns.
pub unsafe fn suspend(
    r: *mut ngx_http_request_t,
    id: u64,
    cleanup: unsafe extern "C" fn(*mut c_void),
) -> ngx_int_t {
    // SAFETY: a live request (contract).
    let cln = unsafe { ngx_http_cleanup_add(r, 0) };
    if cln.is_null() {
        return NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;
    }
    // SAFETY: `cln` was just added to the live request; `main` is the live main request. The
    // raised count keeps the request alive after the handler returns `NGX_DONE` until the
    // caller finalizes it when answering; `ngx_http_test_reading` finalizes it when the
    // client closes, which runs the cleanup.
    unsafe {
        (*cln).handler = Some(cleanup);
        (*cln).data = id as usize as *mut c_void;
        let main = (*r).main;
        (*main).set_count((*main).count() + 1);
        (*r).read_event_handler = Some(ngx_http_test_reading);
    }
    NGX_DONE as ngx_int_t
}
