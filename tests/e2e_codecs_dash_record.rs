//! DASH and recording of the modern codecs end to end: FFmpeg 9 publishes HEVC+AAC and
//! AV1+Opus (encoded to a file first, then sent with `-re -c copy`, so the frames sent are
//! known) into a real nginx with `dash on`, an FLV recorder and an MP4 recorder; FFmpeg 9
//! then judges what was written: the MPD decodes with zero errors and the video frame for
//! frame equal (MD5) to the source's, the recordings too, with every audio frame; the FLV's
//! `onMetaData` names the codecs as FFmpeg does and its keyframe index points at keyframes.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use ngx_rtmp::media::{Demuxer, Track};
use support::ffmpeg9;
use support::flv::tags;
use support::nginx::{run_with_timeout, Conf, Nginx};
use support::recording::{metadata, numbers, tag_at};
use support::wait;

const TIMEOUT: Duration = Duration::from_secs(120);
const SECONDS: &str = "6";

/// A source file and what FFmpeg 9 decodes from it.
struct Source {
    path: PathBuf,
    video_md5: Vec<String>,
    audio_frames: usize,
    /// Audio frames sent before the first video keyframe: a recording starts at that
    /// keyframe.
    audio_before_key: usize,
}

/// Audio frames of the FLV file `path` that come before its first video keyframe.
fn audio_before_key(path: &Path) -> usize {
    let mut d = Demuxer::new();
    let mut n = 0;
    for tag in tags(&fs::read(path).unwrap()) {
        let payload = Bytes::from(tag.body);
        let frames = match tag.type_id {
            8 => d.push_audio(tag.ts, payload).unwrap(),
            9 => d.push_video(tag.ts, payload).unwrap(),
            _ => continue,
        };
        for f in frames {
            if f.track == Track::Video && f.keyframe {
                return n;
            }
            n += usize::from(f.track == Track::Audio);
        }
    }
    n
}

/// Encodes 6 s of 320x240 at 15 fps (a keyframe every second) and a 48 kHz tone with FFmpeg 9.
fn encode(name: &str, codecs: &[&str]) -> Source {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/e2e")
        .join(format!("codecs-dash-record-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.flv"));
    ffmpeg9::encode_test_pattern(&path, SECONDS, codecs);
    let (video_md5, err) = ffmpeg9::frame_md5(&path, "0:v:0", false);
    assert!(err.is_empty(), "decoding the source {name}: {err}");
    let (audio, err) = ffmpeg9::frame_md5(&path, "0:a:0", false);
    assert!(err.is_empty(), "decoding the source {name}: {err}");
    assert!(video_md5.len() >= 80, "{name}: {} frames", video_md5.len());
    Source {
        audio_before_key: audio_before_key(&path),
        path,
        video_md5,
        audio_frames: audio.len(),
    }
}

/// Publishes `src` as is in real time with FFmpeg 9 (Enhanced RTMP) and waits for the end.
fn publish(n: &Nginx, src: &Source, name: &str) {
    let mut cmd = ffmpeg9::command();
    cmd.args(["-re", "-i"])
        .arg(&src.path)
        .args(["-c", "copy", "-f", "flv", &n.rtmp_url("live", name)])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let (ok, err) = run_with_timeout(cmd, TIMEOUT);
    assert!(ok, "publishing: {err}\n{}", n.error_log());
}

fn start() -> Nginx {
    Nginx::start(
        "codecs-dash-record",
        &Conf::rtmp(
            "server { listen 127.0.0.1:{rtmp_port};
               application live {
                 live on;
                 dash on; dash_path {prefix}/www/dash; dash_fragment 2; dash_cleanup off;
                 record all; record_path {prefix}/rec;
                 recorder vod { record all; record_format mp4; record_path {prefix}/vod; }
               } }",
        ),
    )
}

fn attr<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.match_indices(&format!(" {name}=\""))
        .filter_map(|(i, m)| {
            let rest = &text[i + m.len()..];
            rest.find('"').map(|end| &rest[..end])
        })
        .collect()
}

/// The decoded output equals the source: zero errors, the video frame for frame, and
/// `audio_frames` audio frames.
fn assert_same(what: &str, file: &Path, src: &Source, audio_frames: usize) {
    let (video, err) = ffmpeg9::frame_md5(file, "0:v:0", false);
    assert!(err.is_empty(), "{what}: decoding the video: {err}");
    assert_eq!(video.len(), src.video_md5.len(), "{what}: video frames");
    assert!(video == src.video_md5, "{what}: video frames differ");
    let (audio, err) = ffmpeg9::frame_md5(file, "0:a:0", false);
    assert!(err.is_empty(), "{what}: decoding the audio: {err}");
    assert_eq!(audio.len(), audio_frames, "{what}: audio frames");
}

/// One codec pair through DASH, the FLV recorder and the MP4 recorder.
fn carries(name: &str, src: &Source, video_codecs: &str, audio_codecs: &str, fourcc: &[u8; 4]) {
    let n = start();
    publish(&n, src, name);
    let mpd = n.prefix.join(format!("www/dash/{name}.mpd"));
    let flv = n.prefix.join(format!("rec/{name}.flv"));
    let mp4 = n.prefix.join(format!("vod/{name}.mp4"));
    let ended = || {
        fs::read_to_string(&mpd).is_ok_and(|t| t.contains("type=\"static\""))
            && flv.exists()
            && mp4.exists()
    };
    assert!(
        wait::until(Duration::from_secs(30), ended),
        "no static MPD and finished recordings\n{}",
        n.error_log()
    );

    let text = fs::read_to_string(&mpd).unwrap();
    let codecs = attr(&text, "codecs");
    assert!(
        codecs.len() == 2 && codecs[0].starts_with(video_codecs) && codecs[1] == audio_codecs,
        "MPD codecs {codecs:?}\n{text}"
    );
    assert_same("DASH", &mpd, src, src.audio_frames);
    let recorded = src.audio_frames - src.audio_before_key;
    assert_same("FLV recording", &flv, src, recorded);
    assert_same("MP4 recording", &mp4, src, recorded);

    // The FLV's metadata names the codec as FFmpeg's muxer does, and its index points at
    // keyframe tags (Enhanced RTMP: frame type 1 in bits 4-6, coded frames).
    let data = fs::read(&flv).unwrap();
    let meta = metadata(&data);
    let id = f64::from(u32::from_be_bytes(*fourcc));
    assert_eq!(meta.get_f64("videocodecid"), Some(id));
    assert_eq!(meta.get_f64("width"), Some(320.0));
    let kf = meta.object_get("keyframes").expect("a keyframe index");
    let (times, positions) = (
        numbers(kf.object_get("times").unwrap()),
        numbers(kf.object_get("filepositions").unwrap()),
    );
    assert!(times.len() >= 5, "a keyframe every second: {times:?}");
    for (t, pos) in times.iter().zip(&positions) {
        let tag = tag_at(&data, *pos as usize);
        let b0 = tag.body[0];
        assert!(
            tag.video() && b0 & 0x80 != 0 && (b0 >> 4) & 7 == 1 && matches!(b0 & 0x0f, 1 | 3),
            "{pos} is no keyframe tag"
        );
        assert!((f64::from(tag.ts) / 1000.0 - t).abs() < 1e-9, "{pos}: {t}");
    }
    // Then the codec headers (video SequenceStart, audio header) and a keyframe, at 0.
    let t = tags(&data);
    assert_eq!(
        (t[1].type_id, t[1].body[0] & 0x8f),
        (9, 0x80),
        "video SequenceStart"
    );
    let audio_header = match t[2].body[0] >> 4 {
        9 => t[2].body[0] & 0x0f == 0,
        10 => t[2].body[1] == 0,
        _ => false,
    };
    assert!(t[2].type_id == 8 && audio_header, "audio header");
    let first = t[3..].iter().find(|t| t.video()).unwrap();
    assert_eq!(
        (first.ts, (first.body[0] >> 4) & 7),
        (0, 1),
        "a keyframe at 0"
    );
    n.assert_no_crash();
}

#[test]
fn hevc_and_aac_through_dash_and_recordings() {
    let src = encode(
        "hevc",
        &[
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-x265-params",
            "keyint=15:min-keyint=15:scenecut=0:log-level=error",
            "-c:a",
            "aac",
        ],
    );
    carries("hevc", &src, "hvc1.", "mp4a.40.2", b"hvc1");
}

#[test]
fn av1_and_opus_through_dash_and_recordings() {
    let src = encode(
        "av1",
        &[
            "-c:v",
            "libsvtav1",
            "-preset",
            "12",
            "-g",
            "15",
            "-svtav1-params",
            "log-level=0",
            "-c:a",
            "libopus",
            "-b:a",
            "32k",
        ],
    );
    carries("av1", &src, "av01.", "opus", b"av01");
}
