//! End-to-end HLS: deterministic inputs, a poller that records every version of a playlist
//! and every segment as it was when first listed, and what ffprobe/ffmpeg read of a segment.
//! The rules checked on a capture are in [`super::hls_rules`].

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, sleep, JoinHandle};
use std::time::{Duration, Instant};

use super::m3u8::playlist_uris;
use super::nginx::{ffmpeg_publish_file, run_with_timeout, Nginx};

// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------

/// Which tracks a stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Av,
    AudioOnly,
    VideoOnly,
}

impl Kind {
    pub fn video(self) -> bool {
        self != Kind::AudioOnly
    }
    pub fn audio(self) -> bool {
        self != Kind::VideoOnly
    }
}

/// A pre-encoded FLV file and what decoding it gives: one MD5 per decoded video picture and
/// per decoded audio frame, in order.
#[derive(Debug, Clone)]
pub struct Input {
    pub path: PathBuf,
    pub kind: Kind,
    pub video_packets: usize,
    pub audio_packets: usize,
    pub video_md5: Vec<String>,
    pub audio_md5: Vec<String>,
}

fn run_ok(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Per-frame MD5 of the decoded stream `sel` (`v` or `a`) of `file`; (hashes, stderr).
/// `-fps_mode passthrough`: no frame is duplicated or dropped to fit a frame rate.
pub fn frame_md5(file: &Path, sel: &str) -> (Vec<String>, String) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error", "-i"])
        .arg(file)
        .args([
            "-map",
            &format!("0:{sel}:0"),
            "-fps_mode",
            "passthrough",
            "-f",
            "framemd5",
            "-",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run ffmpeg framemd5");
    let hashes = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.rsplit(',').next().map(|h| h.trim().to_owned()))
        .collect();
    (hashes, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn count_packets(file: &Path) -> (usize, usize) {
    let out = run_ok(
        Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "packet=codec_type",
                "-of",
                "compact",
            ])
            .arg(file),
        "ffprobe count",
    );
    let v = out
        .lines()
        .filter(|l| l.contains("codec_type=video"))
        .count();
    let a = out
        .lines()
        .filter(|l| l.contains("codec_type=audio"))
        .count();
    (v, a)
}

impl Input {
    /// The input `path` (an FLV file Debian's ffmpeg reads), described by decoding it.
    pub fn describe(path: PathBuf, kind: Kind) -> Input {
        let (video_packets, audio_packets) = count_packets(&path);
        let video_md5 = if kind.video() {
            frame_md5(&path, "v").0
        } else {
            Vec::new()
        };
        let audio_md5 = if kind.audio() {
            frame_md5(&path, "a").0
        } else {
            Vec::new()
        };
        assert_eq!(
            video_md5.len(),
            video_packets,
            "{}: decoded video frames",
            path.display()
        );
        assert_eq!(
            audio_md5.len(),
            audio_packets,
            "{}: decoded audio frames",
            path.display()
        );
        Input {
            path,
            kind,
            video_packets,
            audio_packets,
            video_md5,
            audio_md5,
        }
    }

    /// Encodes the test pattern: H.264 320x240 at 30 fps with a fixed 2 s GOP and B-frames
    /// (so PTS ≠ DTS), AAC 44.1 kHz, `secs` long, as FLV.
    pub fn encode_av(dir: &Path, name: &str, secs: u32) -> Input {
        Input::encode(
            dir,
            name,
            secs,
            &["-g", "60", "-keyint_min", "60", "-sc_threshold", "0"],
        )
    }

    /// The test pattern with other GOP settings (`gop_args` for libx264).
    pub fn encode(dir: &Path, name: &str, secs: u32, gop_args: &[&str]) -> Input {
        fs::create_dir_all(dir).expect("input dir");
        let path = dir.join(format!("{name}.flv"));
        run_ok(
            Command::new("ffmpeg")
                .args(["-hide_banner", "-nostdin", "-v", "error", "-y"])
                .args(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=30"])
                .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
                .args(["-t", &secs.to_string()])
                .args([
                    "-c:v", "libx264", "-preset", "veryfast", "-bf", "2", "-threads", "1",
                ])
                .args(gop_args)
                .args(["-pix_fmt", "yuv420p"])
                .args(["-c:a", "aac", "-b:a", "64k", "-f", "flv"])
                .arg(&path),
            "ffmpeg encode input",
        );
        Input::describe(path, Kind::Av)
    }

    /// A copy of this input's packets with only the tracks of `kind`.
    pub fn derive(&self, kind: Kind, name: &str) -> Input {
        let path = self.path.with_file_name(format!("{name}.flv"));
        let mut cmd = Command::new("ffmpeg");
        cmd.args(["-hide_banner", "-nostdin", "-v", "error", "-y", "-i"])
            .arg(&self.path);
        match kind {
            Kind::Av => {}
            Kind::AudioOnly => {
                cmd.arg("-vn");
            }
            Kind::VideoOnly => {
                cmd.arg("-an");
            }
        }
        cmd.args(["-c", "copy", "-f", "flv"]).arg(&path);
        run_ok(&mut cmd, "ffmpeg derive input");
        Input::describe(path, kind)
    }

    /// The first `secs` seconds of this input's packets (`-c copy`, cut at a GOP boundary
    /// when `secs` is a multiple of the GOP).
    pub fn head(&self, secs: u32, name: &str) -> Input {
        let path = self.path.with_file_name(format!("{name}.flv"));
        run_ok(
            Command::new("ffmpeg")
                .args(["-hide_banner", "-nostdin", "-v", "error", "-y", "-i"])
                .arg(&self.path)
                .args(["-t", &secs.to_string(), "-c", "copy", "-f", "flv"])
                .arg(&path),
            "ffmpeg cut input",
        );
        Input::describe(path, self.kind)
    }
}

/// The inputs of the HLS tests, encoded once per test binary (tests run in parallel threads
/// and share them): 20 s A/V, its audio-only and video-only copies, and 6 s, 10 s and 2 s
/// heads of it.
pub struct StdInputs {
    /// 16 s A/V whose keyframes are at 0, 2, 4, 6, 10.5, 12.5 and 14.5 s: one 4.5 s GOP
    /// after 2 s ones (an encoder with an irregular GOP longer than the target duration).
    pub irregular16: Input,
    pub av20: Input,
    pub audio20: Input,
    pub video20: Input,
    pub av6: Input,
    pub av10: Input,
    pub av2: Input,
}

pub fn std_inputs() -> &'static StdInputs {
    static INPUTS: OnceLock<StdInputs> = OnceLock::new();
    INPUTS.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target/e2e")
            .join(format!("hls-inputs-{}", std::process::id()));
        let av20 = Input::encode_av(&dir, "av20", 20);
        StdInputs {
            irregular16: Input::encode(
                &dir,
                "irregular16",
                16,
                &[
                    "-x264-params",
                    "keyint=300:min-keyint=1:scenecut=0",
                    "-force_key_frames",
                    "0,2,4,6,10.5,12.5,14.5",
                ],
            ),
            audio20: av20.derive(Kind::AudioOnly, "audio20"),
            video20: av20.derive(Kind::VideoOnly, "video20"),
            av6: av20.head(6, "av6"),
            av10: av20.head(10, "av10"),
            av2: av20.head(2, "av2"),
            av20,
        }
    })
}

/// Publishes `inputs` one after the other as `<app>/<name>` while a poller records
/// `<dir>/<name>.m3u8`; `gap` separates the publishes, `linger` keeps watching after the end
/// (for cleanup). The playlist is awaited for up to 5 s to end with `#EXT-X-ENDLIST`.
pub fn publish_and_capture(
    n: &Nginx,
    app: &str,
    dir: &Path,
    name: &str,
    inputs: &[&Input],
    gap: Duration,
    linger: Duration,
) -> Capture {
    let poller = Poller::start(dir, name);
    for (i, input) in inputs.iter().enumerate() {
        if i > 0 {
            sleep(gap);
        }
        let (ok, err) = run_with_timeout(
            ffmpeg_publish_file(&input.path, &n.rtmp_url(app, name)),
            Duration::from_secs(90),
        );
        assert!(
            ok,
            "publishing {} as {app}/{name} failed: {err}\n{}",
            input.path.display(),
            n.error_log()
        );
    }
    poller.finish(Duration::from_secs(5), linger)
}

// ---------------------------------------------------------------------------------------------
// Capture: every playlist version, every segment as first listed
// ---------------------------------------------------------------------------------------------

/// One segment as read when it first appeared in the playlist.
#[derive(Debug, Clone)]
pub struct CapturedSegment {
    pub uri: String,
    pub bytes: Vec<u8>,
    pub listed_at: Instant,
    /// When it left the playlist window (first version without it), if it did.
    pub left_at: Option<Instant>,
    /// When the file was seen gone from disk, if it was.
    pub deleted_at: Option<Instant>,
    /// Whether the file was still on disk at the end of the capture and equal to `bytes`
    /// (`None` when it was gone).
    pub unchanged_at_end: Option<bool>,
}

#[derive(Debug, Clone, Default)]
pub struct Capture {
    /// Distinct playlist texts in the order seen.
    pub versions: Vec<String>,
    pub segments: BTreeMap<String, CapturedSegment>,
    /// Listed segments that could not be read.
    pub problems: Vec<String>,
    /// When the publisher(s) ended ([`Poller::finish`] was called).
    pub ended_at: Option<Instant>,
    /// Whether the playlist file was gone at the end of the capture.
    pub playlist_gone_at_end: bool,
    /// Files left in the directory at the end of the capture.
    pub files_at_end: Vec<String>,
}

/// Playlist lines that are URIs.
/// Watches `dir/<name>.m3u8` (plain layout: segment URIs are file names in `dir`).
pub struct Poller {
    stop: Arc<AtomicBool>,
    /// (wait for ENDLIST at most, then linger) once stopping.
    after: Arc<Mutex<(Duration, Duration)>>,
    state: Arc<Mutex<Capture>>,
    handle: Option<JoinHandle<()>>,
}

const POLL: Duration = Duration::from_millis(15);

impl Poller {
    pub fn start(dir: &Path, name: &str) -> Poller {
        let stop = Arc::new(AtomicBool::new(false));
        let after = Arc::new(Mutex::new((Duration::ZERO, Duration::ZERO)));
        let state = Arc::new(Mutex::new(Capture::default()));
        let (dir, playlist) = (dir.to_owned(), dir.join(format!("{name}.m3u8")));
        let (s, a, st) = (stop.clone(), after.clone(), state.clone());
        let prefix = format!("{name}-");
        let own = format!("{name}.");
        let handle = thread::spawn(move || {
            let mut last = String::new();
            let mut stop_seen: Option<Instant> = None;
            // When the playlist was first seen ended after the stop request.
            let mut ended_seen: Option<Instant> = None;
            loop {
                let now = Instant::now();
                let text = fs::read_to_string(&playlist).unwrap_or_default();
                let mut cap = st.lock().unwrap();
                if !text.is_empty() && text != last {
                    let uris = playlist_uris(&text);
                    for seg in cap.segments.values_mut() {
                        if seg.left_at.is_none() && !uris.contains(&seg.uri) {
                            seg.left_at = Some(now);
                        }
                    }
                    for uri in uris {
                        if cap.segments.contains_key(&uri) {
                            continue;
                        }
                        match fs::read(dir.join(&uri)) {
                            Ok(bytes) => {
                                cap.segments.insert(
                                    uri.clone(),
                                    CapturedSegment {
                                        uri,
                                        bytes,
                                        listed_at: now,
                                        left_at: None,
                                        deleted_at: None,
                                        unchanged_at_end: None,
                                    },
                                );
                            }
                            Err(e) => cap.problems.push(format!("listed {uri} unreadable: {e}")),
                        }
                    }
                    cap.versions.push(text.clone());
                    last = text;
                }
                for seg in cap.segments.values_mut() {
                    if seg.deleted_at.is_none() && !dir.join(&seg.uri).exists() {
                        seg.deleted_at = Some(now);
                    }
                }
                if s.load(Ordering::SeqCst) {
                    let since = *stop_seen.get_or_insert(now);
                    let (wait_end, linger) = *a.lock().unwrap();
                    if ended_seen.is_none() && last.contains("#EXT-X-ENDLIST") {
                        ended_seen = Some(now);
                    }
                    let done = match ended_seen {
                        Some(t) => now >= t + linger,
                        None => now >= since + wait_end + linger,
                    };
                    if done {
                        for seg in cap.segments.values_mut() {
                            seg.unchanged_at_end =
                                fs::read(dir.join(&seg.uri)).ok().map(|b| b == seg.bytes);
                        }
                        cap.playlist_gone_at_end = !playlist.exists();
                        cap.files_at_end = fs::read_dir(&dir)
                            .map(|rd| {
                                rd.filter_map(|e| e.ok())
                                    .map(|e| e.file_name().to_string_lossy().into_owned())
                                    .filter(|f| f.starts_with(&prefix) || f.starts_with(&own))
                                    .collect()
                            })
                            .unwrap_or_default();
                        return;
                    }
                }
                drop(cap);
                sleep(POLL);
            }
        });
        Poller {
            stop,
            after,
            state,
            handle: Some(handle),
        }
    }

    /// The publisher is done: wait up to `wait_endlist` for `#EXT-X-ENDLIST`, then watch
    /// `linger` longer (for cleanup), and return what was seen.
    pub fn finish(mut self, wait_endlist: Duration, linger: Duration) -> Capture {
        self.state.lock().unwrap().ended_at = Some(Instant::now());
        *self.after.lock().unwrap() = (wait_endlist, linger);
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            h.join().expect("poller thread");
        }
        let cap = self.state.lock().unwrap().clone();
        cap
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            *self.after.lock().unwrap() = (Duration::ZERO, Duration::ZERO);
            self.stop.store(true, Ordering::SeqCst);
            let _ = h.join();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ffprobe / ffmpeg per segment
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct Packet {
    pub video: bool,
    pub pts: Option<i64>,
    pub dts: Option<i64>,
    pub duration: Option<i64>,
    pub key: bool,
}

pub fn ffprobe_packets(file: &Path) -> Vec<Packet> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "packet=codec_type,pts,dts,duration,flags",
            "-of",
            "compact",
        ])
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .expect("run ffprobe");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut pkts = Vec::new();
    for line in text.lines().filter(|l| l.starts_with("packet|")) {
        let field = |k: &str| {
            line.split('|')
                .find_map(|f| f.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
                .map(str::to_owned)
        };
        let num = |k: &str| field(k).and_then(|v| v.parse::<i64>().ok());
        let kind = field("codec_type").unwrap_or_default();
        if kind != "video" && kind != "audio" {
            continue;
        }
        pkts.push(Packet {
            video: kind == "video",
            pts: num("pts"),
            dts: num("dts"),
            duration: num("duration"),
            key: field("flags").is_some_and(|f| f.starts_with('K')),
        });
    }
    pkts
}

/// stderr of `ffmpeg -v error -i file -f null -` (empty when it decodes cleanly).
///
/// `-enc_time_base -1` keeps the decoded frames in the demuxer's 90 kHz time base. Without it
/// ffmpeg re-times video to 1/30 s after subtracting the file's start time; when that start is
/// not frame-aligned (audio leads the first video frame by 1.5 frames in segments of this test
/// pattern, whoever muxes them) two millisecond-rounded frame times can round to the same tick
/// and the null muxer logs "non monotonically increasing dts": an artefact of that re-timing,
/// not of the stream, which the option avoids without hiding decode errors.
pub fn decode_errors(file: &Path) -> String {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error", "-i"])
        .arg(file)
        .args(["-enc_time_base", "-1", "-f", "null", "-"])
        .stdin(Stdio::null())
        .output()
        .expect("run ffmpeg decode");
    let mut s = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        s.push_str(&format!("(exit {})", out.status));
    }
    s
}
