//! `nginx -t` checks for output directories: created if missing, writable by the workers.

use std::ffi::CString;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use ::ngx::core::{CoreModuleMainConf, NgxCoreModule};
use nginx_sys::ngx_conf_t;

/// The user workers will run as, as far as the configuration parsed so far tells.
pub struct WorkerUser {
    pub uid: u32,
    pub gid: u32,
    pub name: String,
}

/// `None` when the master does not run as root: then workers run as the current user, who
/// creates the directories.
///
/// # Safety
/// `cf` must be the configuration being parsed.
pub unsafe fn worker_user(cf: *mut ngx_conf_t) -> Option<WorkerUser> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    // SAFETY: `cf` is live (contract); the core module's conf exists once parsing started.
    let ccf = NgxCoreModule::main_conf(unsafe { &*cf });
    if let Some(ccf) = ccf.filter(|c| c.user != u32::MAX) {
        // SAFETY: `username` is set together with `user` by the `user` directive.
        let name = unsafe { std::ffi::CStr::from_ptr(ccf.username) };
        return Some(WorkerUser {
            uid: ccf.user,
            gid: ccf.group,
            name: name.to_string_lossy().into_owned(),
        });
    }
    // No `user` directive (yet): nginx's default for a root master is "nobody".
    let nobody = CString::new("nobody").ok()?;
    // SAFETY: getpwnam with a valid C string; the result is read before any other call.
    let pw = unsafe { libc::getpwnam(nobody.as_ptr()) };
    if pw.is_null() {
        return None;
    }
    // SAFETY: non-null result of getpwnam.
    let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
    Some(WorkerUser {
        uid,
        gid,
        name: "nobody".into(),
    })
}

/// Creates `dir` if missing (owned by the worker user when we are root) and checks that the
/// worker user can write into it.
pub fn prepare_output_dir(dir: &Path, user: Option<&WorkerUser>) -> Result<(), String> {
    if !dir.exists() {
        fs::create_dir_all(dir).map_err(|e| format!("cannot create \"{}\": {e}", dir.display()))?;
        let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o755));
        if let Some(u) = user {
            std::os::unix::fs::chown(dir, Some(u.uid), Some(u.gid))
                .map_err(|e| format!("cannot chown \"{}\" to {}: {e}", dir.display(), u.name))?;
        }
    }
    let meta = fs::metadata(dir).map_err(|e| format!("\"{}\": {e}", dir.display()))?;
    if !meta.is_dir() {
        return Err(format!("\"{}\" is not a directory", dir.display()));
    }
    let Some(u) = user else {
        // Workers run as us: ask the kernel whether we may create files there.
        let c = CString::new(dir.as_os_str().as_encoded_bytes())
            .map_err(|_| format!("\"{}\": invalid path", dir.display()))?;
        // SAFETY: `c` is a valid NUL-terminated path; access() only reads it.
        let r = unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) };
        return if r == 0 {
            Ok(())
        } else {
            Err(format!(
                "\"{}\" is not writable by the workers' user",
                dir.display()
            ))
        };
    };
    if u.uid == 0 {
        return Ok(());
    }
    let mode = meta.mode();
    let writable = if meta.uid() == u.uid {
        mode & 0o300 == 0o300
    } else if meta.gid() == u.gid {
        mode & 0o030 == 0o030
    } else {
        mode & 0o003 == 0o003
    };
    if writable {
        Ok(())
    } else {
        Err(format!(
            "\"{}\" is not writable by the worker user \"{}\" (chown it, or set `user`)",
            dir.display(),
            u.name
        ))
    }
}
