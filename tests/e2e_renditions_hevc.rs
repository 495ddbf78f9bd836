//! Transcoded renditions of an HEVC source: FFmpeg 9 publishes HEVC+AAC over Enhanced RTMP
//! into an application with `hls_rendition`, and FFmpeg 9 is the `transcode_ffmpeg` (the
//! encoders read the publisher's Enhanced FLV, which Debian's FFmpeg 5.1 cannot). The master
//! must list the HEVC source and the H.264 rendition, the rendition's segments must decode
//! with zero errors at its size and line up with the source's, and both playlists must end
//! with the publish.

mod support;

use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use support::ffmpeg9;
use support::hls::decode_errors;
use support::m3u8::parse_m3u8;
use support::master::{first_video_pts, parse_master, probe};
use support::nginx::{Conf, Nginx};
use support::wait;

const SECS: u32 = 12;

/// `-t SECS -f lavfi -i SOURCE`: a generated input as long as the publish.
fn lavfi(source: &str) -> [String; 6] {
    ["-t", &SECS.to_string(), "-f", "lavfi", "-i", source].map(str::to_owned)
}

/// ffprobe's `codec_name` and `WxH` of the video of `file`.
fn video_of(file: &Path) -> (String, String) {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .args(["stream=codec_name,width,height", "-of", "csv=p=0"])
        .arg(file)
        .output()
        .expect("ffprobe");
    // MPEG-TS lists the stream under its program too: the first line is enough.
    let text = String::from_utf8_lossy(&out.stdout);
    let mut f = text.lines().next().unwrap_or_default().split(',');
    let codec = f.next().unwrap_or_default().to_owned();
    let size = format!(
        "{}x{}",
        f.next().unwrap_or_default(),
        f.next().unwrap_or_default()
    );
    (codec, size)
}

#[test]
fn an_hevc_source_gets_h264_renditions_from_a_current_ffmpeg() {
    let conf = Conf::rtmp(&format!(
        "server {{ listen 127.0.0.1:{{rtmp_port}};
           application live {{ live on; hls on; hls_path {{prefix}}/www/hls; hls_fragment 2;
             hls_playlist_length 60;
             hls_rendition 180p height=180 bitrate=150k audio_bitrate=48k preset=ultrafast;
             transcode_ffmpeg {}; }} }}",
        ffmpeg9::ffmpeg9().display()
    ));
    let n = Nginx::start("renditions-hevc", &conf);
    let dir = n.prefix.join("www/hls");
    let mut publisher = ffmpeg9::command()
        .arg("-re")
        .args(lavfi("testsrc2=size=640x360:rate=30"))
        .args(lavfi("sine=frequency=440:sample_rate=44100"))
        .args([
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        // Closed GOPs, as live encoders send: x265's default open GOPs put each keyframe's
        // leading pictures after it, so a source segment's frames start before its
        // keyframe and its EXTINF differs from a rendition's without them.
        .args([
            "-x265-params",
            "keyint=60:min-keyint=60:open-gop=0:log-level=error",
        ])
        .args(["-c:a", "aac", "-b:a", "64k", "-ar", "44100", "-f", "flv"])
        .arg(n.rtmp_url("live", "cam"))
        .stdin(Stdio::null())
        .spawn()
        .expect("FFmpeg 9 publish");

    // While live: the master lists the source and the rendition.
    let mut listed = Vec::new();
    wait::until(Duration::from_secs(u64::from(SECS) + 20), || {
        if let Ok(master) = fs::read_to_string(dir.join("cam.m3u8")) {
            listed = parse_master(&master).into_iter().map(|i| i.uri).collect();
        }
        listed == ["cam_src.m3u8", "cam_180p.m3u8"]
    });
    assert_eq!(
        listed,
        ["cam_src.m3u8", "cam_180p.m3u8"],
        "{}",
        n.error_log()
    );
    assert!(
        publisher.wait().expect("wait").success(),
        "the publish failed"
    );

    // After the publish: the rendition's playlist ends, its segments are H.264 at 320x180
    // and decode cleanly; the source's are the publisher's HEVC.
    let ended = |m: &str| {
        fs::read_to_string(dir.join(format!("{m}.m3u8")))
            .is_ok_and(|t| t.contains("#EXT-X-ENDLIST"))
    };
    assert!(
        wait::until(Duration::from_secs(15), || ended("cam_180p")
            && ended("cam_src")),
        "{}",
        n.error_log()
    );
    let rendition = parse_m3u8(&fs::read_to_string(dir.join("cam_180p.m3u8")).unwrap());
    assert!(rendition.entries.len() >= 4, "{:?}", rendition.entries);
    for e in &rendition.entries {
        let seg = dir.join(&e.uri);
        assert_eq!(probe(&seg).1, "320x180", "{}", e.uri);
        assert_eq!(decode_errors(&seg).trim(), "", "{}", e.uri);
    }
    let source = parse_m3u8(&fs::read_to_string(dir.join("cam_src.m3u8")).unwrap());
    assert!(source.entries.len() >= 4, "{:?}", source.entries);
    for e in &source.entries {
        let (codec, size) = video_of(&dir.join(&e.uri));
        assert_eq!(
            (codec.as_str(), size.as_str()),
            ("hevc", "640x360"),
            "{}",
            e.uri
        );
    }
    // Aligned: a sequence number is the same media in both (start within 1/30 s, the same
    // EXTINF within a frame, the last segments aside: each ends where its input ended).
    let last = rendition.entries.len() - 1;
    for e in &rendition.entries[..last] {
        let s = source
            .entries
            .iter()
            .find(|s| s.seq == e.seq)
            .unwrap_or_else(|| panic!("sequence {} only in the rendition", e.seq));
        let (a, b) = (
            first_video_pts(&dir.join(&e.uri)),
            first_video_pts(&dir.join(&s.uri)),
        );
        assert!((a - b).abs() <= 3000, "sequence {}: {a} against {b}", e.seq);
        assert!(
            e.duration_ms.abs_diff(s.duration_ms) <= 34,
            "sequence {}: {} ms against {} ms",
            e.seq,
            e.duration_ms,
            s.duration_ms
        );
    }
    assert!(
        !n.error_log().contains("[error]") && !n.error_log().contains("[alert]"),
        "{}",
        n.error_log()
    );
    n.assert_no_crash();
}
