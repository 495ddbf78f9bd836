//! The current FFmpeg (9.x, from the imageio-ffmpeg wheel in the project's `.venv`) that the
//! modern-codec tests publish and play with: Debian's 5.1 predates Enhanced RTMP.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

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

/// FFmpeg 9's `framemd5` of stream `map` (`0:v:0`, `0:a:0`) of `input`: the MD5 of each
/// decoded frame, or with `copy` of each packet, in order; and what FFmpeg printed on stderr
/// (warnings and errors: a clean decode prints nothing).
pub fn frame_md5(input: &Path, map: &str, copy: bool) -> (Vec<String>, String) {
    let mut c = command();
    c.args(["-v", "warning", "-i"])
        .arg(input)
        .args(["-map", map]);
    if copy {
        c.args(["-c", "copy"]);
    }
    let out = c
        .args(["-fps_mode", "passthrough", "-f", "framemd5", "-"])
        .stdin(Stdio::null())
        .output()
        .expect("run FFmpeg 9");
    assert!(out.status.success(), "FFmpeg 9 on {}", input.display());
    let hashes = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.rsplit(',').next().map(|h| h.trim().to_owned()))
        .collect();
    (
        hashes,
        String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    )
}

/// Encodes `seconds` of a test pattern (testsrc2, 320x240, 15 fps, yuv420p) and a 440 Hz tone
/// (48 kHz) with FFmpeg 9 and `codec_args` into the FLV file `out`.
pub fn encode_test_pattern(out: &Path, seconds: &str, codec_args: &[&str]) {
    let run = command()
        .args(["-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=15"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", seconds, "-pix_fmt", "yuv420p"])
        .args(codec_args)
        .args(["-f", "flv"])
        .arg(out)
        .stdin(Stdio::null())
        .output()
        .expect("run FFmpeg 9");
    assert!(
        run.status.success(),
        "encoding {}: {}",
        out.display(),
        String::from_utf8_lossy(&run.stderr)
    );
}
