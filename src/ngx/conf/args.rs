//! Directive arguments that name something outside the configuration: callback URLs
//! (resolved now) and files (relative to the configuration's directory, checked now).

use nginx_sys::ngx_conf_t;

use super::ngx_str;
use crate::auth::KeyMap;
use crate::conf::NotifyUrl;
use crate::http::Url;

/// `on_publish URL` and friends: an `http://` URL, resolved now (nginx-rtmp resolves callback
/// hosts when it reads the configuration too).
pub(super) fn notify_url(values: &[&str]) -> Result<NotifyUrl, String> {
    let [raw] = values else {
        return Err("a callback takes one argument: its http:// URL".into());
    };
    let url = Url::parse(raw).map_err(|e| format!("invalid callback URL \"{raw}\": {e}"))?;
    let addr = crate::ngx::http_client::resolve_at_config(&url)
        .map_err(|e| format!("callback URL \"{raw}\": {e}"))?;
    Ok(NotifyUrl { url, addr })
}

/// The file of `ssl_certificate FILE` or `ssl_certificate_key FILE`, relative to the
/// configuration's directory as nginx reads it, checked readable now. `data:` values (PEM in
/// the directive itself) are nginx's to read.
///
/// # Safety
/// `cf` must be a directive handler's configuration.
pub(super) unsafe fn readable_file(
    cf: *mut ngx_conf_t,
    name: &str,
    values: &[&str],
) -> Result<String, String> {
    let [file] = values else {
        return Err(format!(
            "invalid number of arguments in \"{name}\" directive"
        ));
    };
    if file.starts_with("data:") {
        return Ok((*file).to_owned());
    }
    // SAFETY: the caller's contract.
    let path = unsafe { conf_path(cf, file) };
    match std::fs::File::open(&path) {
        Ok(f) if f.metadata().is_ok_and(|m| m.is_file()) => {}
        Ok(_) => return Err(format!("{name} \"{}\": not a file", path.display())),
        Err(e) => return Err(format!("{name} \"{}\": {e}", path.display())),
    }
    path.into_os_string()
        .into_string()
        .map_err(|p| format!("{name} \"{}\": not UTF-8", p.to_string_lossy()))
}

/// Reads `publish_keys FILE` (relative paths are relative to the configuration's directory).
///
/// # Safety
/// `cf` must be a directive handler's configuration.
pub(super) unsafe fn load_key_map(cf: *mut ngx_conf_t, values: &[&str]) -> Result<KeyMap, String> {
    let [file] = values else {
        return Err("invalid number of arguments in \"publish_keys\" directive".into());
    };
    // SAFETY: the caller's contract.
    let path = unsafe { conf_path(cf, file) };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("publish_keys \"{}\": {e}", path.display()))?;
    KeyMap::parse(&text).map_err(|e| format!("publish_keys \"{}\": {e}", path.display()))
}

/// `file` as a directive names it: relative paths are relative to the configuration's
/// directory, as nginx's own file directives take them.
///
/// # Safety
/// `cf` must be a directive handler's configuration.
unsafe fn conf_path(cf: *mut ngx_conf_t, file: &str) -> std::path::PathBuf {
    let path = std::path::PathBuf::from(file);
    if path.is_absolute() {
        return path;
    }
    // SAFETY: `conf_prefix` is set by nginx for the whole configuration parse.
    let prefix = unsafe { &(*(*cf).cycle).conf_prefix };
    std::path::Path::new(ngx_str(prefix)).join(path)
}
