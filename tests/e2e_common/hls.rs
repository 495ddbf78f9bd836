//! HLS checks for end-to-end tests: deterministic inputs, a poller that records every version
//! of a playlist and every segment as it was when first listed, and the rules of issue 3
//! checked on what a player gets (ffmpeg/ffprobe decode, plus a TS parser of our own that
//! reads PIDs, continuity counters, PCR, PES headers, Annex-B and ADTS by hand).
//!
//! The checks take no module-specific shortcut: they run unchanged on the output of Debian's
//! C nginx-rtmp-module, which is how `e2e_hls_vs_c` reports what the C module gets wrong.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, sleep, JoinHandle};
use std::time::{Duration, Instant};

use super::{ffmpeg_publish_file, run_with_timeout, Nginx};

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
    fn describe(path: PathBuf, kind: Kind) -> Input {
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
pub fn playlist_uris(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

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
// Playlist parsing
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct Entry {
    pub seq: u64,
    pub uri: String,
    pub duration_ms: u64,
    pub discontinuity: bool,
}

#[derive(Debug, Clone, Default)]
pub struct M3u8 {
    pub target: Option<u64>,
    pub media_sequence: u64,
    pub discontinuity_sequence: u64,
    pub independent: bool,
    pub endlist: bool,
    pub entries: Vec<Entry>,
    /// Anything malformed (a partial write would show here).
    pub errors: Vec<String>,
}

fn parse_ms(v: &str) -> Option<u64> {
    let (i, f) = v.split_once('.').unwrap_or((v, ""));
    let mut ms = i.parse::<u64>().ok()? * 1000;
    let mut scale = 100;
    for c in f.chars().take(3) {
        ms += u64::from(c.to_digit(10)?) * scale;
        scale /= 10;
    }
    Some(ms)
}

pub fn parse_m3u8(text: &str) -> M3u8 {
    let mut p = M3u8::default();
    if !text.starts_with("#EXTM3U") {
        p.errors.push("does not start with #EXTM3U".into());
    }
    if !text.ends_with('\n') {
        p.errors.push("does not end with a newline".into());
    }
    let mut disc = false;
    let mut dur: Option<u64> = None;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(v) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
            p.target = v.parse().ok();
        } else if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            p.media_sequence = v.parse().unwrap_or(0);
        } else if let Some(v) = line.strip_prefix("#EXT-X-DISCONTINUITY-SEQUENCE:") {
            p.discontinuity_sequence = v.parse().unwrap_or(0);
        } else if line == "#EXT-X-DISCONTINUITY" {
            disc = true;
        } else if line == "#EXT-X-INDEPENDENT-SEGMENTS" {
            p.independent = true;
        } else if line == "#EXT-X-ENDLIST" {
            p.endlist = true;
        } else if let Some(v) = line.strip_prefix("#EXTINF:") {
            dur = parse_ms(v.split(',').next().unwrap_or(""));
            if dur.is_none() {
                p.errors.push(format!("bad {line}"));
            }
        } else if line.starts_with('#') {
            continue;
        } else {
            let seq = p.media_sequence + p.entries.len() as u64;
            match dur.take() {
                Some(duration_ms) => p.entries.push(Entry {
                    seq,
                    uri: line.to_owned(),
                    duration_ms,
                    discontinuity: std::mem::take(&mut disc),
                }),
                None => p.errors.push(format!("{line} without #EXTINF")),
            }
        }
    }
    if p.target.is_none() {
        p.errors.push("no #EXT-X-TARGETDURATION".into());
    }
    p
}

// ---------------------------------------------------------------------------------------------
// MPEG-TS parsing (by hand: 188-byte packets)
// ---------------------------------------------------------------------------------------------

pub const TS_PACKET: usize = 188;

#[derive(Debug, Clone)]
pub struct TsPacket {
    pub pid: u16,
    pub pusi: bool,
    pub cc: u8,
    pub has_payload: bool,
    pub rai: bool,
    pub discontinuity_indicator: bool,
    /// PCR base (90 kHz).
    pub pcr: Option<u64>,
    pub payload: Vec<u8>,
}

pub fn parse_ts_packets(data: &[u8]) -> Result<Vec<TsPacket>, String> {
    if !data.len().is_multiple_of(TS_PACKET) {
        return Err(format!("{} bytes: not a multiple of 188", data.len()));
    }
    let mut out = Vec::with_capacity(data.len() / TS_PACKET);
    for (i, p) in data.chunks(TS_PACKET).enumerate() {
        if p[0] != 0x47 {
            return Err(format!("packet {i}: no sync byte"));
        }
        let pid = (u16::from(p[1] & 0x1f) << 8) | u16::from(p[2]);
        let afc = (p[3] >> 4) & 3;
        let mut pkt = TsPacket {
            pid,
            pusi: p[1] & 0x40 != 0,
            cc: p[3] & 0x0f,
            has_payload: afc & 1 != 0,
            rai: false,
            discontinuity_indicator: false,
            pcr: None,
            payload: Vec::new(),
        };
        let mut off = 4;
        if afc & 2 != 0 {
            let len = usize::from(p[4]);
            if 5 + len > TS_PACKET {
                return Err(format!("packet {i}: adaptation field too long"));
            }
            if len > 0 {
                let flags = p[5];
                pkt.discontinuity_indicator = flags & 0x80 != 0;
                pkt.rai = flags & 0x40 != 0;
                if flags & 0x10 != 0 && len >= 7 {
                    let b = &p[6..12];
                    pkt.pcr = Some(
                        (u64::from(b[0]) << 25)
                            | (u64::from(b[1]) << 17)
                            | (u64::from(b[2]) << 9)
                            | (u64::from(b[3]) << 1)
                            | (u64::from(b[4]) >> 7),
                    );
                }
            }
            off = 5 + len;
        }
        if pkt.has_payload {
            pkt.payload = p[off..].to_vec();
        }
        out.push(pkt);
    }
    Ok(out)
}

/// A PSI section's body from a payload with a pointer field.
fn psi_section(payload: &[u8]) -> Option<&[u8]> {
    let ptr = usize::from(*payload.first()?);
    let sec = payload.get(1 + ptr..)?;
    let len = (usize::from(sec.get(1)? & 0x0f) << 8) | usize::from(*sec.get(2)?);
    sec.get(..3 + len)
}

/// PMT: (PCR PID, [(stream type, PID)]).
fn parse_pmt(payload: &[u8]) -> Option<(u16, Vec<(u8, u16)>)> {
    let sec = psi_section(payload)?;
    if sec[0] != 2 {
        return None;
    }
    let pcr_pid = (u16::from(sec.get(8)? & 0x1f) << 8) | u16::from(*sec.get(9)?);
    let info_len = (usize::from(sec.get(10)? & 0x0f) << 8) | usize::from(*sec.get(11)?);
    let mut i = 12 + info_len;
    let end = sec.len().checked_sub(4)?; // CRC
    let mut streams = Vec::new();
    while i + 5 <= end {
        let st = sec[i];
        let pid = (u16::from(sec[i + 1] & 0x1f) << 8) | u16::from(sec[i + 2]);
        let es_len = (usize::from(sec[i + 3] & 0x0f) << 8) | usize::from(sec[i + 4]);
        streams.push((st, pid));
        i += 5 + es_len;
    }
    Some((pcr_pid, streams))
}

/// PAT: PMT PIDs.
fn parse_pat(payload: &[u8]) -> Option<Vec<u16>> {
    let sec = psi_section(payload)?;
    if sec[0] != 0 {
        return None;
    }
    let end = sec.len().checked_sub(4)?;
    let mut i = 8;
    let mut pids = Vec::new();
    while i + 4 <= end {
        let prog = (u16::from(sec[i]) << 8) | u16::from(sec[i + 1]);
        let pid = (u16::from(sec[i + 2] & 0x1f) << 8) | u16::from(sec[i + 3]);
        if prog != 0 {
            pids.push(pid);
        }
        i += 4;
    }
    Some(pids)
}

fn read_ts(b: &[u8]) -> u64 {
    (u64::from(b[0] >> 1) & 7) << 30
        | u64::from(b[1]) << 22
        | u64::from(b[2] >> 1) << 15
        | u64::from(b[3]) << 7
        | u64::from(b[4] >> 1)
}

#[derive(Debug, Clone)]
pub struct Pes {
    pub pid: u16,
    pub pts: Option<u64>,
    pub dts: Option<u64>,
    /// random_access_indicator of the packet that starts it.
    pub rai: bool,
    /// Index of that packet in the segment.
    pub first_packet: usize,
    pub data: Vec<u8>,
    pub header_ok: bool,
}

impl Pes {
    pub fn decode_ts(&self) -> Option<u64> {
        self.dts.or(self.pts)
    }
}

/// Annex-B NAL unit types in order.
pub fn nal_types(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            if let Some(h) = data.get(i + 3) {
                out.push(h & 0x1f);
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    out
}

/// Lengths of the ADTS frames in `data`, or why it is not a clean ADTS sequence.
pub fn adts_frames(data: &[u8]) -> Result<usize, String> {
    let mut i = 0;
    let mut n = 0;
    while i < data.len() {
        let h = data.get(i..i + 7).ok_or("truncated ADTS header")?;
        if h[0] != 0xff || h[1] & 0xf0 != 0xf0 {
            return Err(format!("no ADTS sync at byte {i}"));
        }
        let len =
            (usize::from(h[3] & 3) << 11) | (usize::from(h[4]) << 3) | (usize::from(h[5]) >> 5);
        if len < 7 {
            return Err("ADTS frame length < 7".into());
        }
        i += len;
        n += 1;
    }
    if i != data.len() {
        return Err("ADTS frames overrun the PES".into());
    }
    Ok(n)
}

/// One segment's TS structure.
#[derive(Debug, Clone, Default)]
pub struct TsSegment {
    pub packets: Vec<TsPacket>,
    pub error: Option<String>,
    /// PMT PID from the PAT.
    pub pmt_pid: Option<u16>,
    pub pcr_pid: Option<u16>,
    /// (stream type, PID) from the PMT.
    pub streams: Vec<(u8, u16)>,
    pub pes: Vec<Pes>,
}

pub const ST_H264: u8 = 0x1b;
pub const ST_AAC: u8 = 0x0f;

impl TsSegment {
    pub fn parse(data: &[u8]) -> TsSegment {
        let mut seg = TsSegment::default();
        match parse_ts_packets(data) {
            Ok(p) => seg.packets = p,
            Err(e) => {
                seg.error = Some(e);
                return seg;
            }
        }
        for p in &seg.packets {
            if p.pid == 0 && p.pusi && seg.pmt_pid.is_none() {
                seg.pmt_pid = parse_pat(&p.payload).and_then(|v| v.first().copied());
            } else if Some(p.pid) == seg.pmt_pid && p.pusi && seg.pcr_pid.is_none() {
                if let Some((pcr, streams)) = parse_pmt(&p.payload) {
                    seg.pcr_pid = Some(pcr);
                    seg.streams = streams;
                }
            }
        }
        let es: BTreeSet<u16> = seg.streams.iter().map(|s| s.1).collect();
        let mut open: HashMap<u16, Pes> = HashMap::new();
        let mut done = Vec::new();
        for (i, p) in seg.packets.iter().enumerate() {
            if !es.contains(&p.pid) || !p.has_payload {
                continue;
            }
            if p.pusi {
                if let Some(prev) = open.remove(&p.pid) {
                    done.push(prev);
                }
                open.insert(
                    p.pid,
                    Pes {
                        pid: p.pid,
                        pts: None,
                        dts: None,
                        rai: p.rai,
                        first_packet: i,
                        data: p.payload.clone(),
                        header_ok: false,
                    },
                );
            } else if let Some(pes) = open.get_mut(&p.pid) {
                pes.data.extend_from_slice(&p.payload);
            }
        }
        done.extend(open.into_values());
        done.sort_by_key(|p| p.first_packet);
        for pes in &mut done {
            let d = std::mem::take(&mut pes.data);
            if d.len() >= 9 && d[0] == 0 && d[1] == 0 && d[2] == 1 {
                let flags = d[7] >> 6;
                let hlen = usize::from(d[8]);
                if flags & 2 != 0 && d.len() >= 14 {
                    pes.pts = Some(read_ts(&d[9..14]));
                }
                if flags == 3 && d.len() >= 19 {
                    pes.dts = Some(read_ts(&d[14..19]));
                }
                if d.len() >= 9 + hlen {
                    pes.header_ok = true;
                    pes.data = d[9 + hlen..].to_vec();
                }
            }
        }
        seg.pes = done;
        seg
    }

    pub fn pid_of(&self, stream_type: u8) -> Option<u16> {
        self.streams
            .iter()
            .find(|s| s.0 == stream_type)
            .map(|s| s.1)
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

// ---------------------------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail(String),
    /// Not applicable to this scenario.
    Na,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Pass => f.write_str("pass"),
            Outcome::Fail(_) => f.write_str("FAIL"),
            Outcome::Na => f.write_str("-"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RuleResult {
    pub rule: &'static str,
    pub outcome: Outcome,
}

/// What was published and how the application is configured.
pub struct Scenario<'a> {
    pub label: String,
    /// The inputs published one after the other under the same name.
    pub publishes: Vec<&'a Input>,
    pub fragment_ms: u64,
    pub playlist_length_ms: u64,
    /// Whether the capture lingered long enough after the end to check `hls_cleanup`.
    pub check_cleanup: bool,
    /// Directory for the segment files and concatenations the checks write.
    pub work: PathBuf,
}

/// Results of every rule, in a fixed order.
pub struct Report {
    pub label: String,
    pub results: Vec<RuleResult>,
    pub segments: usize,
}

impl Report {
    pub fn failures(&self) -> Vec<String> {
        self.results
            .iter()
            .filter_map(|r| match &r.outcome {
                Outcome::Fail(d) => Some(format!("[{}] {}: {}", self.label, r.rule, d)),
                _ => None,
            })
            .collect()
    }

    pub fn get(&self, rule: &str) -> Option<&Outcome> {
        self.results
            .iter()
            .find(|r| r.rule == rule)
            .map(|r| &r.outcome)
    }
}

/// Joins up to `n` problem strings.
fn summary(problems: &[String], n: usize) -> String {
    let mut s: Vec<String> = problems.iter().take(n).cloned().collect();
    if problems.len() > n {
        s.push(format!("... {} in all", problems.len()));
    }
    s.join("; ")
}

fn outcome(problems: Vec<String>) -> Outcome {
    if problems.is_empty() {
        Outcome::Pass
    } else {
        Outcome::Fail(summary(&problems, 6))
    }
}

/// Compares decoded frame hashes with the expected ones: equal sequences pass; otherwise says
/// how many are missing, duplicated or out of order.
fn compare_frames(what: &str, expected: &[String], got: &[String]) -> Option<String> {
    if expected == got {
        return None;
    }
    let mut want: HashMap<&str, i64> = HashMap::new();
    for h in expected {
        *want.entry(h).or_default() += 1;
    }
    let mut extra = 0;
    for h in got {
        match want.get_mut(h.as_str()) {
            Some(c) => *c -= 1,
            None => extra += 1,
        }
    }
    let missing: i64 = want.values().filter(|c| **c > 0).sum();
    let dup: i64 = -want.values().filter(|c| **c < 0).sum::<i64>();
    let first_diff = expected.iter().zip(got).position(|(a, b)| a != b);
    Some(format!(
        "{what}: sent {}, got {} ({missing} missing, {dup} duplicated, {extra} unknown; \
         first difference at frame {})",
        expected.len(),
        got.len(),
        first_diff.map_or("-".into(), |i| i.to_string())
    ))
}

struct Seg {
    entry: Entry,
    bytes: Vec<u8>,
    file: PathBuf,
    ts: TsSegment,
    pkts: Vec<Packet>,
    decode: String,
    /// Index of the publish (run) it belongs to, from its timestamps.
    run: usize,
}

impl Seg {
    fn first(&self, video: bool) -> Option<&Packet> {
        self.pkts.iter().find(|p| p.video == video)
    }
    fn last(&self, video: bool) -> Option<&Packet> {
        self.pkts.iter().rev().find(|p| p.video == video)
    }
    /// Timestamp used for continuity: DTS for video, PTS for audio.
    fn t(p: &Packet) -> Option<i64> {
        if p.video {
            p.dts.or(p.pts)
        } else {
            p.pts
        }
    }
    /// Media start: earliest first-frame time over the tracks (video DTS, audio PTS).
    fn start(&self) -> Option<i64> {
        [self.first(true), self.first(false)]
            .into_iter()
            .flatten()
            .filter_map(Seg::t)
            .min()
    }
}

/// Median of the in-segment deltas of a track (its frame duration), 90 kHz.
fn frame_duration(segs: &[Seg], video: bool) -> Option<i64> {
    let mut d = Vec::new();
    for s in segs {
        let ts: Vec<i64> = s
            .pkts
            .iter()
            .filter(|p| p.video == video)
            .filter_map(Seg::t)
            .collect();
        let mut sorted = ts.clone();
        sorted.sort_unstable();
        d.extend(sorted.windows(2).map(|w| w[1] - w[0]).filter(|x| *x > 0));
    }
    d.sort_unstable();
    d.get(d.len() / 2).copied()
}

/// Runs every rule of issue 3 on a capture.
pub fn check(sc: &Scenario, cap: &Capture) -> Report {
    let kind = sc.publishes[0].kind;
    let mut results: Vec<RuleResult> = Vec::new();
    let mut push =
        |rule: &'static str, outcome: Outcome| results.push(RuleResult { rule, outcome });
    fs::create_dir_all(&sc.work).expect("work dir");

    let versions: Vec<M3u8> = cap.versions.iter().map(|v| parse_m3u8(v)).collect();
    // Every segment ever listed, by media sequence number.
    let mut by_seq: BTreeMap<u64, Entry> = BTreeMap::new();
    let mut seq_conflicts = Vec::new();
    for v in &versions {
        for e in &v.entries {
            match by_seq.get(&e.seq) {
                Some(old) if old.uri != e.uri => {
                    seq_conflicts.push(format!("sequence {} is {} and {}", e.seq, old.uri, e.uri))
                }
                Some(_) => {}
                None => {
                    by_seq.insert(e.seq, e.clone());
                }
            }
        }
    }
    let mut segs: Vec<Seg> = Vec::new();
    for e in by_seq.values() {
        let Some(c) = cap.segments.get(&e.uri) else {
            continue;
        };
        let file = sc.work.join(&e.uri);
        fs::write(&file, &c.bytes).expect("write segment copy");
        segs.push(Seg {
            entry: e.clone(),
            bytes: c.bytes.clone(),
            ts: TsSegment::parse(&c.bytes),
            pkts: ffprobe_packets(&file),
            decode: decode_errors(&file),
            file,
            run: 0,
        });
    }
    let produced = if segs.is_empty() {
        Outcome::Fail(format!(
            "no segment captured ({} playlist versions)",
            cap.versions.len()
        ))
    } else if !cap.problems.is_empty() {
        Outcome::Fail(summary(&cap.problems, 4))
    } else {
        Outcome::Pass
    };
    push("segments produced and readable when listed", produced);

    // Runs (publishes), from the timestamps: a segment starting more than a second before the
    // previous one starts a new publish (each publish restarts its timestamps).
    let mut run = 0;
    let mut prev_start: Option<i64> = None;
    for s in &mut segs {
        let start = s.start();
        if let (Some(p), Some(st)) = (prev_start, start) {
            if st + 90_000 < p {
                run += 1;
            }
        }
        s.run = run;
        prev_start = start.or(prev_start);
    }
    let runs = run + 1;

    // --- decoding and frames ------------------------------------------------------------
    let mut problems = Vec::new();
    for s in &segs {
        if !s.decode.trim().is_empty() {
            problems.push(format!(
                "{}: {}",
                s.entry.uri,
                s.decode.trim().replace('\n', " | ")
            ));
        }
    }
    let mut got_v = Vec::new();
    let mut got_a = Vec::new();
    for r in 0..runs {
        let bytes: Vec<u8> = segs
            .iter()
            .filter(|s| s.run == r)
            .flat_map(|s| s.bytes.clone())
            .collect();
        let file = sc.work.join(format!("run{r}.ts"));
        fs::write(&file, bytes).expect("write concatenation");
        let e = decode_errors(&file);
        if !e.trim().is_empty() {
            problems.push(format!(
                "run {r} concatenated: {}",
                e.trim().replace('\n', " | ")
            ));
        }
        if kind.video() {
            got_v.extend(frame_md5(&file, "v").0);
        }
        if kind.audio() {
            got_a.extend(frame_md5(&file, "a").0);
        }
    }
    push(
        "ffmpeg -v error decodes every segment with no error",
        outcome(problems),
    );
    let exp_v: Vec<String> = sc
        .publishes
        .iter()
        .flat_map(|i| i.video_md5.clone())
        .collect();
    let exp_a: Vec<String> = sc
        .publishes
        .iter()
        .flat_map(|i| i.audio_md5.clone())
        .collect();
    push(
        "one timeline per publish",
        if runs == sc.publishes.len() {
            Outcome::Pass
        } else {
            Outcome::Fail(format!(
                "{} publishes but timestamps show {runs}",
                sc.publishes.len()
            ))
        },
    );
    let v_pkts: usize = segs
        .iter()
        .map(|s| s.pkts.iter().filter(|p| p.video).count())
        .sum();
    let a_pkts: usize = segs
        .iter()
        .map(|s| s.pkts.iter().filter(|p| !p.video).count())
        .sum();
    push(
        "every video frame sent is present exactly once",
        if !kind.video() {
            if v_pkts == 0 {
                Outcome::Na
            } else {
                Outcome::Fail(format!("{v_pkts} video packets in an audio-only stream"))
            }
        } else {
            compare_frames("video", &exp_v, &got_v).map_or(Outcome::Pass, Outcome::Fail)
        },
    );
    push(
        "every audio frame sent is present exactly once",
        if !kind.audio() {
            if a_pkts == 0 {
                Outcome::Na
            } else {
                Outcome::Fail(format!("{a_pkts} audio packets in a video-only stream"))
            }
        } else {
            compare_frames("audio", &exp_a, &got_a).map_or(Outcome::Pass, Outcome::Fail)
        },
    );

    // --- segment starts -------------------------------------------------------------------
    if kind.video() {
        let mut problems = Vec::new();
        for s in &segs {
            match s.first(true) {
                Some(p) if p.key => {}
                Some(_) => problems.push(format!(
                    "{}: first video packet is not a keyframe",
                    s.entry.uri
                )),
                None => problems.push(format!("{}: no video", s.entry.uri)),
            }
            let vpid = s.ts.pid_of(ST_H264);
            if let Some(pes) = s.ts.pes.iter().find(|p| Some(p.pid) == vpid) {
                if !nal_types(&pes.data).contains(&5) {
                    problems.push(format!("{}: first video PES has no IDR", s.entry.uri));
                }
            }
        }
        push(
            "every segment starts with a keyframe (IDR)",
            outcome(problems),
        );
    } else {
        push("every segment starts with a keyframe (IDR)", Outcome::Na);
    }

    // --- timestamps across boundaries -----------------------------------------------------
    let mut problems = Vec::new();
    for video in [true, false] {
        if (video && !kind.video()) || (!video && !kind.audio()) {
            continue;
        }
        let Some(d) = frame_duration(&segs, video) else {
            continue;
        };
        let name = if video { "video DTS" } else { "audio PTS" };
        for w in segs.windows(2) {
            if w[0].run != w[1].run {
                continue;
            }
            let (Some(a), Some(b)) = (
                w[0].last(video).and_then(Seg::t),
                w[1].first(video).and_then(Seg::t),
            ) else {
                continue;
            };
            let gap = b - a;
            // One frame later, within 2 ms (FLV timestamps are whole milliseconds).
            if (gap - d).abs() > 180 {
                problems.push(format!(
                    "{} -> {}: {name} {a} then {b} (gap {:.1} ms, frame {:.1} ms)",
                    w[0].entry.uri,
                    w[1].entry.uri,
                    gap as f64 / 90.0,
                    d as f64 / 90.0
                ));
            }
        }
    }
    push(
        "timestamps continuous across segment boundaries",
        outcome(problems),
    );

    // --- playlists ------------------------------------------------------------------------
    let last = versions.last();
    push(
        "playlist ends with #EXT-X-ENDLIST",
        match last {
            Some(v) if v.endlist => Outcome::Pass,
            Some(_) => Outcome::Fail("last playlist version has no #EXT-X-ENDLIST".into()),
            None => Outcome::Fail("no playlist".into()),
        },
    );
    let mut problems = Vec::new();
    for (i, v) in versions.iter().enumerate() {
        for e in &v.errors {
            problems.push(format!("version {i}: {e}"));
        }
    }
    push(
        "every playlist version is complete (atomic write)",
        outcome(problems),
    );

    let targets: BTreeSet<u64> = versions.iter().filter_map(|v| v.target).collect();
    push(
        "TARGETDURATION constant across rewrites",
        if targets.len() <= 1 {
            Outcome::Pass
        } else {
            Outcome::Fail(format!("values seen: {targets:?}"))
        },
    );
    let mut problems = Vec::new();
    for (i, v) in versions.iter().enumerate() {
        let t = v.target.unwrap_or(0);
        for e in &v.entries {
            let rounded = (e.duration_ms + 500) / 1000;
            if rounded > t {
                problems.push(format!(
                    "version {i}: {} EXTINF {} ms > TARGETDURATION {t}",
                    e.uri, e.duration_ms
                ));
            }
        }
    }
    problems.dedup();
    push("every rounded EXTINF <= TARGETDURATION", outcome(problems));

    // EXTINF against the media: duration = next segment's start - this start; the last of a
    // publish ends with its last frame.
    let dv = frame_duration(&segs, true).unwrap_or(3000);
    let da = frame_duration(&segs, false).unwrap_or(2090);
    let end_of = |s: &Seg| -> Option<i64> {
        s.pkts
            .iter()
            .filter_map(|p| {
                let t = Seg::t(p)?;
                Some(
                    t + p
                        .duration
                        .filter(|d| *d > 0)
                        .unwrap_or(if p.video { dv } else { da }),
                )
            })
            .max()
    };
    let mut problems = Vec::new();
    let mut sum_problems = Vec::new();
    for r in 0..runs {
        let run_segs: Vec<&Seg> = segs.iter().filter(|s| s.run == r).collect();
        let mut sum_extinf = 0i64;
        for (i, s) in run_segs.iter().enumerate() {
            let Some(start) = s.start() else { continue };
            let end = match run_segs.get(i + 1) {
                Some(n) => n.start(),
                None => end_of(s),
            };
            let Some(end) = end else { continue };
            let media_ms = (end - start) as f64 / 90.0;
            let extinf = s.entry.duration_ms as f64;
            sum_extinf += s.entry.duration_ms as i64;
            // Timestamps are whole ms in FLV, and a frame's duration is known to ±1 ms.
            if (media_ms - extinf).abs() > 3.0 {
                problems.push(format!(
                    "{}: EXTINF {extinf} ms, media {media_ms:.1} ms",
                    s.entry.uri
                ));
            }
        }
        let (Some(first), Some(last)) = (run_segs.first(), run_segs.last()) else {
            continue;
        };
        if let (Some(a), Some(b)) = (first.start(), end_of(last)) {
            let media = (b - a) as f64 / 90.0;
            if (media - sum_extinf as f64).abs() > 10.0 {
                sum_problems.push(format!(
                    "publish {r}: sum of EXTINF {sum_extinf} ms, media {media:.1} ms"
                ));
            }
        }
    }
    push(
        "EXTINF is each segment's media duration (±3 ms)",
        outcome(problems),
    );
    push(
        "sum of EXTINF = media duration (±10 ms)",
        outcome(sum_problems),
    );

    let mut problems = seq_conflicts;
    for w in versions.windows(2) {
        if w[1].media_sequence < w[0].media_sequence {
            problems.push(format!(
                "MEDIA-SEQUENCE went back {} -> {}",
                w[0].media_sequence, w[1].media_sequence
            ));
        }
    }
    push(
        "MEDIA-SEQUENCE consistent and non-decreasing",
        outcome(problems),
    );

    // Republish: the sequence continues, a DISCONTINUITY marks the new publish, and nothing
    // else carries one.
    if runs > 1 {
        let mut problems = Vec::new();
        for w in segs.windows(2) {
            if w[1].entry.seq != w[0].entry.seq + 1 {
                problems.push(format!(
                    "{} (seq {}) then {} (seq {})",
                    w[0].entry.uri, w[0].entry.seq, w[1].entry.uri, w[1].entry.seq
                ));
            }
        }
        push(
            "media sequence continues across a republish",
            outcome(problems),
        );
        let mut problems = Vec::new();
        for w in segs.windows(2) {
            if w[0].run != w[1].run && !w[1].entry.discontinuity {
                problems.push(format!("no #EXT-X-DISCONTINUITY before {}", w[1].entry.uri));
            }
        }
        push("#EXT-X-DISCONTINUITY at a republish", outcome(problems));
    } else {
        push("media sequence continues across a republish", Outcome::Na);
        push("#EXT-X-DISCONTINUITY at a republish", Outcome::Na);
    }
    let mut problems = Vec::new();
    for (i, s) in segs.iter().enumerate() {
        let new_run = i > 0 && segs[i - 1].run != s.run;
        if s.entry.discontinuity && !new_run {
            problems.push(format!(
                "#EXT-X-DISCONTINUITY before {} without a break in the media",
                s.entry.uri
            ));
        }
    }
    push("no #EXT-X-DISCONTINUITY without a break", outcome(problems));

    // DISCONTINUITY-SEQUENCE: the number of DISCONTINUITY tags that scrolled out.
    let disc_seqs: BTreeSet<u64> = by_seq
        .values()
        .filter(|e| e.discontinuity)
        .map(|e| e.seq)
        .collect();
    let mut problems = Vec::new();
    let mut scrolled_any = false;
    for (i, v) in versions.iter().enumerate() {
        let expected = disc_seqs.iter().filter(|s| **s < v.media_sequence).count() as u64;
        scrolled_any |= expected > 0;
        if v.discontinuity_sequence != expected {
            problems.push(format!(
                "version {i} (MEDIA-SEQUENCE {}): DISCONTINUITY-SEQUENCE {} but {expected} tags scrolled out",
                v.media_sequence, v.discontinuity_sequence
            ));
        }
    }
    push(
        "EXT-X-DISCONTINUITY-SEQUENCE counts scrolled-out discontinuities",
        if scrolled_any || !problems.is_empty() {
            outcome(problems)
        } else {
            Outcome::Na
        },
    );
    push(
        "#EXT-X-INDEPENDENT-SEGMENTS",
        if !kind.video() {
            Outcome::Na
        } else if last.is_some_and(|v| v.independent) {
            Outcome::Pass
        } else {
            Outcome::Fail("tag missing".into())
        },
    );
    // RFC 8216 4.3.5.1: the tag says every segment listed in that playlist version decodes
    // without the ones before it.
    let tagged = versions.iter().any(|v| v.independent);
    let listed_under_tag: std::collections::HashSet<&str> = versions
        .iter()
        .filter(|v| v.independent)
        .flat_map(|v| v.entries.iter().map(|e| e.uri.as_str()))
        .collect();
    let mut problems = Vec::new();
    if tagged {
        for s in segs
            .iter()
            .filter(|s| listed_under_tag.contains(s.entry.uri.as_str()))
        {
            let Some(vpid) = s.ts.pid_of(ST_H264) else {
                continue;
            };
            let first =
                s.ts.pes
                    .iter()
                    .find(|p| p.pid == vpid)
                    .map(|p| nal_types(&p.data));
            let ok = first.is_some_and(|t| {
                let idr = t.iter().position(|x| *x == 5);
                idr.is_some_and(|i| t[..i].contains(&7) && t[..i].contains(&8))
            });
            if !ok {
                problems.push(format!(
                    "{} does not start with SPS, PPS and an IDR but is listed under the tag",
                    s.entry.uri
                ));
            }
        }
    }
    push(
        "#EXT-X-INDEPENDENT-SEGMENTS only when true",
        if !tagged {
            Outcome::Na
        } else {
            outcome(problems)
        },
    );
    let mut problems = Vec::new();
    for c in cap.segments.values() {
        if c.unchanged_at_end == Some(false) {
            problems.push(format!("{} changed after it was listed", c.uri));
        }
    }
    push(
        "a segment is complete on disk when listed",
        outcome(problems),
    );

    // --- MPEG-TS --------------------------------------------------------------------------
    let mut problems = Vec::new();
    for s in &segs {
        if let Some(e) = &s.ts.error {
            problems.push(format!("{}: {e}", s.entry.uri));
            continue;
        }
        let pids: Vec<u16> = s.ts.packets.iter().take(2).map(|p| p.pid).collect();
        if pids.len() < 2 || pids[0] != 0 || Some(pids[1]) != s.ts.pmt_pid {
            problems.push(format!("{}: first packets are PIDs {pids:?}", s.entry.uri));
        }
    }
    push("PAT and PMT first in every segment", outcome(problems));

    let mut problems = Vec::new();
    for s in &segs {
        let v = s.ts.pid_of(ST_H264).is_some();
        let a = s.ts.pid_of(ST_AAC).is_some();
        if v != kind.video()
            || a != kind.audio()
            || s.ts.streams.len() != usize::from(v) + usize::from(a)
        {
            problems.push(format!("{}: PMT lists {:x?}", s.entry.uri, s.ts.streams));
        }
    }
    push(
        "PMT lists exactly the published tracks (no phantom PID)",
        outcome(problems),
    );

    // Continuity counters, per PID, within segments and across boundaries (not across a
    // republish, where a reset is legitimate).
    let mut within = Vec::new();
    let mut across = Vec::new();
    let mut last_cc: HashMap<u16, u8> = HashMap::new();
    for (i, s) in segs.iter().enumerate() {
        if i > 0 && segs[i - 1].run != s.run {
            last_cc.clear();
        }
        let mut seen_here: BTreeSet<u16> = BTreeSet::new();
        for p in &s.ts.packets {
            if let Some(prev) = last_cc.get(&p.pid) {
                let want = if p.has_payload {
                    (prev + 1) & 15
                } else {
                    *prev
                };
                if p.cc != want {
                    let msg = format!(
                        "{} PID 0x{:x}: CC {} after {}",
                        s.entry.uri, p.pid, p.cc, prev
                    );
                    if seen_here.contains(&p.pid) {
                        within.push(msg);
                    } else {
                        across.push(msg);
                    }
                }
            }
            seen_here.insert(p.pid);
            last_cc.insert(p.pid, p.cc);
        }
    }
    push(
        "continuity counters continuous within segments",
        outcome(within),
    );
    let across_n = across.len();
    push(
        "continuity counters continue across segments",
        if across.is_empty() {
            Outcome::Pass
        } else {
            Outcome::Fail(format!(
                "{across_n} breaks at segment starts: {}",
                summary(&across, 3)
            ))
        },
    );

    // PCR: on the PCR PID, at most 100 ms apart (also across boundaries), never ahead of the
    // DTS of the data it times.
    let mut gaps = Vec::new();
    let mut ahead = Vec::new();
    let mut max_gap = 0u64;
    let mut last_pcr: Option<u64> = None;
    for (i, s) in segs.iter().enumerate() {
        if i > 0 && segs[i - 1].run != s.run {
            last_pcr = None;
        }
        let mut n_pcr = 0;
        let pes_at: HashMap<usize, &Pes> = s.ts.pes.iter().map(|p| (p.first_packet, p)).collect();
        for (k, p) in s.ts.packets.iter().enumerate() {
            if let Some(pcr) = p.pcr.filter(|_| Some(p.pid) == s.ts.pcr_pid) {
                if let Some(prev) = last_pcr {
                    let gap = pcr.wrapping_sub(prev) & ((1 << 33) - 1);
                    max_gap = max_gap.max(gap);
                    if gap > 9_000 {
                        gaps.push(format!(
                            "{}: PCR gap {:.0} ms",
                            s.entry.uri,
                            gap as f64 / 90.0
                        ));
                    }
                }
                last_pcr = Some(pcr);
                n_pcr += 1;
            }
            if let (Some(pes), Some(pcr)) = (pes_at.get(&k), last_pcr) {
                if let Some(t) = pes.decode_ts() {
                    if pcr > 1 << 32 && t < 1 << 32 {
                        ahead.push(format!(
                            "{}: PCR is negative ({:.0} ms, wrapped to {pcr}) before DTS {t}",
                            s.entry.uri,
                            -(((1u64 << 33) - pcr) as f64) / 90.0
                        ));
                    } else if t < pcr {
                        ahead.push(format!(
                            "{}: PES on 0x{:x} with DTS {t} < PCR {pcr}",
                            s.entry.uri, pes.pid
                        ));
                    }
                }
            }
        }
        if n_pcr == 0 {
            gaps.push(format!(
                "{}: no PCR on the PCR PID {:?}",
                s.entry.uri, s.ts.pcr_pid
            ));
        }
    }
    push(
        "PCR at least every 100 ms",
        if gaps.is_empty() {
            Outcome::Pass
        } else {
            Outcome::Fail(format!(
                "max gap {:.0} ms; {}",
                max_gap as f64 / 90.0,
                summary(&gaps, 3)
            ))
        },
    );
    push("PCR never negative nor ahead of DTS", outcome(ahead));

    if kind.video() {
        let mut rai = Vec::new();
        let mut nal = Vec::new();
        let mut pts_dts = Vec::new();
        for s in &segs {
            let Some(vpid) = s.ts.pid_of(ST_H264) else {
                continue;
            };
            for pes in s.ts.pes.iter().filter(|p| p.pid == vpid) {
                let types = nal_types(&pes.data);
                let idr = types.iter().position(|t| *t == 5);
                if idr.is_some() && !pes.rai {
                    rai.push(format!(
                        "{}: keyframe PES without random_access_indicator",
                        s.entry.uri
                    ));
                }
                if types.first() != Some(&9) {
                    nal.push(format!(
                        "{}: access unit does not start with an AUD ({types:?})",
                        s.entry.uri
                    ));
                }
                if let Some(i) = idr {
                    if !types[..i].contains(&7) || !types[..i].contains(&8) {
                        nal.push(format!(
                            "{}: IDR without SPS and PPS before it ({types:?})",
                            s.entry.uri
                        ));
                    }
                }
                match (pes.pts, pes.dts) {
                    (Some(p), Some(d)) if p < d => {
                        pts_dts.push(format!("{}: PTS < DTS", s.entry.uri))
                    }
                    (None, _) => pts_dts.push(format!("{}: video PES without PTS", s.entry.uri)),
                    _ => {}
                }
                if !pes.header_ok {
                    pts_dts.push(format!("{}: bad PES header", s.entry.uri));
                }
            }
        }
        push("random_access_indicator on every keyframe", outcome(rai));
        push("Annex-B: AUD first, SPS+PPS before every IDR", outcome(nal));
        push(
            "video PES headers: PTS present, PTS >= DTS",
            outcome(pts_dts),
        );
    } else {
        push("random_access_indicator on every keyframe", Outcome::Na);
        push("Annex-B: AUD first, SPS+PPS before every IDR", Outcome::Na);
        push("video PES headers: PTS present, PTS >= DTS", Outcome::Na);
    }
    if kind.audio() {
        let mut problems = Vec::new();
        for s in &segs {
            let Some(apid) = s.ts.pid_of(ST_AAC) else {
                continue;
            };
            for pes in s.ts.pes.iter().filter(|p| p.pid == apid) {
                if let Err(e) = adts_frames(&pes.data) {
                    problems.push(format!("{}: {e}", s.entry.uri));
                }
                if pes.pts.is_none() {
                    problems.push(format!("{}: audio PES without PTS", s.entry.uri));
                }
            }
        }
        push("audio PES: ADTS frames with PTS", outcome(problems));
    } else {
        push("audio PES: ADTS frames with PTS", Outcome::Na);
    }

    // --- cleanup --------------------------------------------------------------------------
    if sc.check_cleanup {
        let target_ms = targets.iter().next().copied().unwrap_or(0) * 1000;
        let keep = Duration::from_millis(target_ms + sc.playlist_length_ms);
        // Polling granularity, scheduling of the poller thread, nginx's timer resolution.
        let slack = Duration::from_millis(500);
        let mut problems = Vec::new();
        for c in cap.segments.values() {
            if let (Some(left), Some(del)) = (c.left_at, c.deleted_at) {
                if del + slack < left + keep {
                    problems.push(format!(
                        "{} deleted {:.1} s after leaving the playlist (< {:.1} s)",
                        c.uri,
                        del.saturating_duration_since(left).as_secs_f64(),
                        keep.as_secs_f64()
                    ));
                }
            }
        }
        push(
            "segments stay on disk TARGETDURATION + playlist length after leaving",
            outcome(problems),
        );
        let mut problems = Vec::new();
        if !cap.files_at_end.is_empty() {
            problems.push(format!("left behind: {:?}", cap.files_at_end));
        }
        push(
            "cleanup removes a stream's files after it ends",
            outcome(problems),
        );
    } else {
        push(
            "segments stay on disk TARGETDURATION + playlist length after leaving",
            Outcome::Na,
        );
        push(
            "cleanup removes a stream's files after it ends",
            Outcome::Na,
        );
    }

    Report {
        label: sc.label.clone(),
        results,
        segments: segs.len(),
    }
}

/// A table of rules (rows) by scenario (columns).
pub fn table(reports: &[&Report]) -> String {
    let mut rules: Vec<&'static str> = Vec::new();
    for r in reports {
        for x in &r.results {
            if !rules.contains(&x.rule) {
                rules.push(x.rule);
            }
        }
    }
    let w = rules.iter().map(|r| r.len()).max().unwrap_or(10);
    let mut s = format!("{:w$}", "rule");
    for r in reports {
        s.push_str(&format!(" | {:>10}", r.label));
    }
    s.push('\n');
    for rule in rules {
        s.push_str(&format!("{rule:w$}"));
        for r in reports {
            let o = r.get(rule).map_or("?".to_owned(), |o| o.to_string());
            s.push_str(&format!(" | {o:>10}"));
        }
        s.push('\n');
    }
    s
}
