//! Real encoder output (FFmpeg's libx264 + AAC in FLV) through the
//! demuxer and the HLS core, written to a temporary directory, then
//! decoded by FFmpeg with zero errors. Skipped when ffmpeg is not installed.

mod support;

use std::path::PathBuf;
use std::process::Command;

use bytes::Bytes;
use ngx_rtmp::hls::{HlsConfig, HlsStream};
use ngx_rtmp::media::{Demuxer, Track};
use support::fileops::Disk;
use support::m3u8::entries;
use support::media::*;

fn have_ffmpeg() -> bool {
    Command::new("ffmpeg").arg("-version").output().is_ok()
        && Command::new("ffprobe").arg("-version").output().is_ok()
}

fn tmpdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ngx-rtmp-hls-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Executes the stream's ops in its directory.
fn execute(disk: &mut Disk, s: &mut HlsStream) {
    while let Some(op) = s.poll_op() {
        disk.apply(op);
    }
}

fn run(tag: &str, video: bool, audio: bool) {
    assert!(
        have_ffmpeg(),
        "ffmpeg is required (scripts/test.sh installs it)"
    );
    let dir = tmpdir(tag);
    let flv = dir.join("in.flv");
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-y"]);
    if video {
        cmd.args(["-f", "lavfi", "-i", "testsrc=size=320x240:rate=30"]);
    }
    if audio {
        cmd.args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"]);
    }
    cmd.args(["-t", "20"]);
    if video {
        cmd.args([
            "-c:v", "libx264", "-g", "60", "-bf", "2", "-pix_fmt", "yuv420p",
        ]);
    }
    if audio {
        cmd.args(["-c:a", "aac", "-b:a", "64k"]);
    }
    cmd.args(["-f", "flv"]).arg(&flv);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let tags = support::flv::tags(&std::fs::read(&flv).unwrap())
        .into_iter()
        .map(|t| (t.type_id, t.ts, Bytes::from(t.body)));
    let mut d = Demuxer::new();
    let cfg = HlsConfig {
        fragment_ms: 3000,
        playlist_length_ms: 600_000,
        ..HlsConfig::default()
    };
    let mut s = HlsStream::new(cfg, "stream", None, now(0)).unwrap();
    let mut disk = Disk::new(dir.clone());
    let (mut nv, mut na) = (0, 0);
    for (t, ts, body) in tags {
        let frame = match t {
            8 => d.push_audio(ts, body).unwrap().first().cloned(),
            9 => d.push_video(ts, body).unwrap().first().cloned(),
            _ => None,
        };
        if let Some(f) = frame {
            match f.track {
                Track::Video => nv += 1,
                Track::Audio => na += 1,
            }
            s.push(&f, &d, now(f.dts)).unwrap();
            execute(&mut disk, &mut s);
        }
    }
    s.finish(now(30_000)).unwrap();
    execute(&mut disk, &mut s);
    let playlist = dir.join("stream.m3u8");
    let text = std::fs::read_to_string(&playlist).unwrap();
    assert!(text.ends_with("#EXT-X-ENDLIST\n"));
    let total: u64 = entries(&text).iter().map(|e| e.duration_ms).sum();
    assert!(
        (19_900..=20_100).contains(&total),
        "total {total} ms:\n{text}"
    );

    // Decode everything: no errors at all.
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&playlist)
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && errors.trim().is_empty(),
        "ffmpeg errors:\n{errors}"
    );

    // Every frame exactly once.
    let count = |sel: &str| -> usize {
        let out = Command::new("ffprobe")
            .args(["-v", "error", "-count_packets", "-select_streams", sel])
            .args(["-show_entries", "stream=nb_read_packets", "-of", "csv=p=0"])
            .arg(&playlist)
            .output()
            .unwrap();
        // HLS input lists the stream under its program too: take the last.
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let last = text.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
        last.trim().parse().unwrap_or(0)
    };
    if video {
        assert_eq!(count("v:0"), nv);
    }
    if audio {
        assert_eq!(count("a:0"), na);
    }
    // Each segment alone starts with a decodable keyframe.
    if video {
        for e in entries(&text) {
            let out = Command::new("ffprobe")
                .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
                .args([
                    "frame=key_frame",
                    "-read_intervals",
                    "%+#1",
                    "-of",
                    "csv=p=0",
                ])
                .arg(dir.join(&e.uri))
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let first = text.lines().next().map(|l| l.trim().trim_end_matches(','));
            assert_eq!(first, Some("1"), "{} does not start with a keyframe", e.uri);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ffmpeg_decodes_audio_video() {
    run("av", true, true);
}

#[test]
fn ffmpeg_decodes_audio_only() {
    run("a", false, true);
}

#[test]
fn ffmpeg_decodes_video_only() {
    run("v", true, false);
}
