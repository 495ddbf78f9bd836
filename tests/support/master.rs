//! Master playlists as a player reads them, and what ffprobe/ffmpeg say of a variant's
//! segments (codecs string, resolution, frame rate, first PTS), for the checks of `hls_variant`
//! and renditions.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use super::hls::ffprobe_packets;

/// One `#EXT-X-STREAM-INF` of a master playlist: its attributes (in order) and URI.
#[derive(Debug, Clone)]
pub struct StreamInf {
    pub attrs: Vec<(String, String)>,
    pub uri: String,
}

impl StreamInf {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Splits an attribute list on commas outside quoted strings.
pub fn parse_attrs(list: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let (mut cur, mut quoted) = (String::new(), false);
    for c in list.chars().chain(std::iter::once(',')) {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' if !quoted => {
                let (n, v) = cur.split_once('=').expect("NAME=VALUE");
                out.push((n.to_owned(), v.to_owned()));
                cur.clear();
            }
            _ => cur.push(c),
        }
    }
    out
}

pub fn parse_master(text: &str) -> Vec<StreamInf> {
    assert!(text.starts_with("#EXTM3U\n"), "not a playlist:\n{text}");
    assert!(
        !text.contains("#EXTINF") && !text.contains("#EXT-X-TARGETDURATION"),
        "a media playlist, not a master:\n{text}"
    );
    let mut lines = text.lines();
    let mut out = Vec::new();
    while let Some(l) = lines.next() {
        if let Some(list) = l.strip_prefix("#EXT-X-STREAM-INF:") {
            let uri = lines.next().expect("URI after STREAM-INF").to_owned();
            out.push(StreamInf {
                attrs: parse_attrs(list),
                uri,
            });
        }
    }
    out
}

/// Bit rate of a segment file over its EXTINF, bit/s.
pub fn bit_rate(file: &Path, extinf_ms: u64) -> u64 {
    let len = fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    len * 8_000 / extinf_ms.max(1)
}

/// `avc1.PPCCLL` of the SPS in a segment, as ffmpeg's own parser reads it (trace_headers).
pub fn avc1_of(file: &Path) -> String {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "info", "-i"])
        .arg(file)
        .args([
            "-an",
            "-c:v",
            "copy",
            "-bsf:v",
            "trace_headers",
            "-f",
            "null",
            "-",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("ffmpeg trace_headers");
    let text = String::from_utf8_lossy(&out.stderr);
    let field = |name: &str| -> u32 {
        text.lines()
            .find(|l| l.split_whitespace().nth(4) == Some(name))
            .and_then(|l| l.rsplit("= ").next())
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in trace_headers output:\n{text}"))
    };
    let mut constraints = 0;
    for i in 0..6 {
        constraints |= field(&format!("constraint_set{i}_flag")) << (7 - i);
    }
    format!(
        "avc1.{:02X}{:02X}{:02X}",
        field("profile_idc"),
        constraints,
        field("level_idc")
    )
}

/// ffprobe's view of a segment: (CODECS, RESOLUTION, frames per second).
pub fn probe(file: &Path) -> (String, String, f64) {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries"])
        .args([
            "stream=codec_type,codec_name,profile,width,height,r_frame_rate",
            "-of",
        ])
        .args(["compact"])
        .arg(file)
        .output()
        .expect("ffprobe");
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |line: &str, k: &str| -> String {
        line.split('|')
            .find_map(|f| f.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
            .unwrap_or_default()
            .to_owned()
    };
    let video = text
        .lines()
        .find(|l| l.contains("codec_type=video"))
        .expect("video stream");
    let audio = text
        .lines()
        .find(|l| l.contains("codec_type=audio"))
        .expect("audio stream");
    assert_eq!(field(video, "codec_name"), "h264");
    assert_eq!(field(audio, "codec_name"), "aac");
    let aot = match field(audio, "profile").as_str() {
        "LC" => 2,
        "HE-AAC" => 5,
        "HE-AACv2" => 29,
        other => panic!("AAC profile {other}"),
    };
    let (num, den) = field(video, "r_frame_rate")
        .split_once('/')
        .map(|(a, b)| (a.parse::<f64>().unwrap(), b.parse::<f64>().unwrap()))
        .expect("r_frame_rate");
    (
        format!("{},mp4a.40.{aot}", avc1_of(file)),
        format!("{}x{}", field(video, "width"), field(video, "height")),
        num / den,
    )
}

/// First video PTS of a segment (90 kHz).
pub fn first_video_pts(file: &Path) -> i64 {
    ffprobe_packets(file)
        .iter()
        .filter(|p| p.video)
        .filter_map(|p| p.pts)
        .min()
        .unwrap_or_else(|| panic!("no video in {}", file.display()))
}

/// Whether a master playlist's line for `member` says what ffprobe sees in `segment` (one
/// of the member's segments): CODECS, RESOLUTION and FRAME-RATE; `Err` says what differs.
pub fn check_media_facts(
    inf: &StreamInf,
    segment: &Path,
    member: &str,
    master: &str,
) -> Result<(), String> {
    let (codecs, resolution, fps) = probe(segment);
    let quoted = format!("\"{codecs}\"");
    if inf.get("CODECS") != Some(quoted.as_str()) {
        return Err(format!("{member}: CODECS {quoted} in\n{master}"));
    }
    if inf.get("RESOLUTION") != Some(resolution.as_str()) {
        return Err(format!("{member}: RESOLUTION {resolution} in\n{master}"));
    }
    let rate: f64 = inf.get("FRAME-RATE").unwrap_or("0").parse().unwrap();
    if (rate - fps).abs() >= 0.001 {
        return Err(format!("{member}: FRAME-RATE {rate} vs {fps}"));
    }
    Ok(())
}
