//! Finding an external program when the configuration is read (`transcode_ffmpeg`, `exec*`):
//! a path with a slash is taken as it is, a bare name is looked up on PATH (as a shell would;
//! a standard PATH when the environment has none: nginx clears its workers'); either must be
//! a regular file the process may execute.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Where programs are looked for when the environment has no `PATH`.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The program's absolute path, or why it cannot be run.
pub fn resolve(program: &str) -> Result<PathBuf, String> {
    if program.is_empty() {
        return Err("\"\": empty program name".into());
    }
    if program.contains('/') {
        let path = std::path::absolute(program).map_err(|e| format!("\"{program}\": {e}"))?;
        return executable(&path).map(|()| path);
    }
    let dirs = std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into());
    for dir in std::env::split_paths(&dirs) {
        let candidate = dir.join(program);
        if executable(&candidate).is_ok() {
            return std::path::absolute(&candidate).map_err(|e| format!("\"{program}\": {e}"));
        }
    }
    Err(format!("\"{program}\": not found on PATH"))
}

fn executable(path: &Path) -> Result<(), String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("\"{shown}\": {e}"))?;
    if !meta.is_file() {
        return Err(format!("\"{shown}\": not a regular file"));
    }
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| format!("\"{shown}\": NUL in path"))?;
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call; access(2) only
    // reads it.
    if unsafe { libc::access(c.as_ptr(), libc::X_OK) } != 0 {
        return Err(format!(
            "\"{shown}\": not executable ({})",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}
