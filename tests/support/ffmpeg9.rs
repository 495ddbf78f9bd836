//! The current FFmpeg (9.x, from the imageio-ffmpeg wheel in the project's `.venv`) that the
//! modern-codec tests publish and play with: Debian's 5.1 predates Enhanced RTMP.

use std::path::PathBuf;
use std::process::Command;

/// Path of the FFmpeg 9 executable: `NGX_RTMP_FFMPEG9` (set by `scripts/test.sh`), else the
/// one in the project's `.venv`. Panics with the way to get it when neither exists: these
/// tests are never skipped.
pub fn ffmpeg9() -> PathBuf {
    if let Some(p) = std::env::var_os("NGX_RTMP_FFMPEG9") {
        return PathBuf::from(p);
    }
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    let out = Command::new(&python)
        .args([
            "-c",
            "import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())",
        ])
        .output();
    match out {
        Ok(o) if o.status.success() => {
            PathBuf::from(String::from_utf8_lossy(&o.stdout).trim().to_owned())
        }
        _ => panic!(
            "FFmpeg 9 is required: run scripts/test.sh (it installs imageio-ffmpeg into .venv)"
        ),
    }
}

/// A `Command` for FFmpeg 9, quiet and never waiting for stdin.
pub fn command() -> Command {
    let mut c = Command::new(ffmpeg9());
    c.args(["-hide_banner", "-nostdin", "-loglevel", "error"]);
    c
}
