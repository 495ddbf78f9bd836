//! `hls_fragment_type fmp4` end to end: real nginx with the module, real ffmpeg publishing
//! pre-encoded FLV files (`-re -c copy`, so the packets sent are known). What a player gets
//! is checked: ffmpeg decodes the playlist with zero errors and every video picture's MD5
//! equals the source's; every segment is one `moof` + `mdat` starting with a keyframe, decode
//! times continue across segments, EXTINF is the media; a republish adds a DISCONTINUITY and
//! a new init segment; hls_cleanup removes everything; hls.js in headless Chromium plays it.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use support::fmp4::{parse_fragment, parse_init, TrackRun};
use support::hls::{decode_errors, frame_md5, publish_and_capture, std_inputs, Capture, Input};
use support::hls_js;
use support::m3u8::parse_m3u8;
use support::nginx::{ffmpeg_publish, Conf, Nginx};

const AUDIO_RATE: u64 = 44_100;

/// `(segment URI, init URI in force)` of every entry of a playlist.
fn maps(text: &str) -> Vec<(String, String)> {
    let mut map = String::new();
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("#EXT-X-MAP:URI=\"") {
            map = v.trim_end_matches('"').to_string();
        } else if !line.starts_with('#') && !line.is_empty() {
            out.push((line.to_string(), map.clone()));
        }
    }
    out
}

/// A segment's runs: (video, audio).
fn runs(bytes: &[u8]) -> (Option<TrackRun>, Option<TrackRun>) {
    let (_, runs) = parse_fragment(bytes);
    let video = runs.iter().find(|r| r.track_id == 1).cloned();
    let audio = runs.iter().find(|r| r.track_id == 2).cloned();
    (video, audio)
}

/// Start of a segment in 90 kHz ticks: the earliest decode time of its tracks.
fn start_90k(video: &Option<TrackRun>, audio: &Option<TrackRun>) -> Option<u64> {
    let v = video.as_ref().map(|r| r.base_decode_time);
    let a = audio
        .as_ref()
        .map(|r| r.base_decode_time * 90_000 / AUDIO_RATE);
    v.into_iter().chain(a).min()
}

/// The rules on one publish of `input` whose segments are all in the last playlist version:
/// frame-exact decoding of the playlist and of init + segments, keyframe starts, continuous
/// decode times, EXTINF = media, a constant target.
fn check_single_publish(dir: &Path, name: &str, cap: &Capture, input: &Input, work: &Path) {
    assert!(cap.problems.is_empty(), "{:?}", cap.problems);
    let last = cap.versions.last().expect("a playlist");
    assert!(last.starts_with("#EXTM3U\n#EXT-X-VERSION:6\n"), "{last}");
    assert!(last.ends_with("#EXT-X-ENDLIST\n"), "{last}");
    let target = parse_m3u8(last).target.unwrap();
    for v in &cap.versions {
        let p = parse_m3u8(v);
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        assert_eq!(p.target, Some(target), "TARGETDURATION changed");
        for e in &p.entries {
            assert!(
                (e.duration_ms + 500) / 1000 <= target,
                "{} above target",
                e.uri
            );
        }
    }
    let listed = maps(last);
    let entries = parse_m3u8(last).entries;
    assert!(listed.len() >= 4, "{last}");
    let init_uri = &listed[0].1;
    assert!(
        listed.iter().all(|(_, m)| m == init_uri),
        "one init segment"
    );
    let init = fs::read(dir.join(init_uri)).expect("init segment on disk");
    let tracks = parse_init(&init);
    assert_eq!(tracks.len(), 2, "{tracks:?}");
    assert_eq!(
        (tracks[0].entry.as_str(), tracks[0].timescale),
        ("avc1", 90_000)
    );
    assert_eq!(
        (tracks[1].entry.as_str(), tracks[1].timescale),
        ("mp4a", 44_100)
    );

    let mut whole = init.clone();
    let (mut nv, mut na) = (0, 0);
    let mut prev: Option<(Option<TrackRun>, Option<TrackRun>)> = None;
    let mut starts = Vec::new();
    for (uri, _) in &listed {
        let bytes = &cap.segments[uri].bytes;
        whole.extend_from_slice(bytes);
        let (video, audio) = runs(bytes);
        let v = video.clone().expect("video in every segment");
        assert!(v.sync[0], "{uri} does not start with a keyframe");
        nv += v.samples.len();
        na += audio.as_ref().map_or(0, |a| a.samples.len());
        if let Some((pv, pa)) = &prev {
            let pv = pv.as_ref().unwrap();
            assert_eq!(
                v.base_decode_time,
                pv.base_decode_time + pv.duration(),
                "{uri}: video decode time continues"
            );
            if let (Some(pa), Some(a)) = (pa, &audio) {
                assert_eq!(
                    a.base_decode_time,
                    pa.base_decode_time + pa.duration(),
                    "{uri}: audio decode time continues"
                );
            }
        }
        starts.push(start_90k(&video, &audio).unwrap());
        prev = Some((video, audio));
    }
    assert_eq!(nv, input.video_packets, "every video frame exactly once");
    assert_eq!(na, input.audio_packets, "every audio frame exactly once");
    for (i, w) in starts.windows(2).enumerate() {
        let media_ms = (w[1] - w[0]) as f64 / 90.0;
        let extinf = entries[i].duration_ms as f64;
        assert!(
            (media_ms - extinf).abs() <= 3.0,
            "{}: EXTINF {extinf} ms, media {media_ms:.1} ms",
            entries[i].uri
        );
    }

    // What a player decodes: the playlist itself, and init + segments as one file.
    fs::create_dir_all(work).unwrap();
    let joined = work.join(format!("{name}-joined.mp4"));
    fs::write(&joined, &whole).unwrap();
    let playlist = dir.join(format!("{name}.m3u8"));
    for file in [&playlist, &joined] {
        assert_eq!(
            decode_errors(file),
            "",
            "{} decodes cleanly",
            file.display()
        );
        let (md5, err) = frame_md5(file, "v");
        assert_eq!(
            md5.len(),
            input.video_md5.len(),
            "{}: {err}",
            file.display()
        );
        assert!(
            md5 == input.video_md5,
            "{}: pictures differ",
            file.display()
        );
    }
    let (audio_md5, err) = frame_md5(&joined, "a");
    assert!(audio_md5 == input.audio_md5, "audio differs: {err}");
}

#[test]
fn fmp4_segments_decode_frame_exact_and_follow_the_hls_rules() {
    let inp = std_inputs();
    let conf = Conf::rtmp(
        "server { listen 127.0.0.1:{rtmp_port};
           hls_fragment_type fmp4;
           application live { live on; hls on; hls_path {prefix}/www/hls; hls_fragment 2; }
           application short { live on; hls on; hls_path {prefix}/www/short; hls_fragment 2;
                               hls_playlist_length 6s; } }",
    );
    let n = Nginx::start("hls-fmp4", &conf);
    let started = Instant::now();
    let (single, republish) = thread::scope(|s| {
        let a = s.spawn(|| {
            let dir = n.prefix.join("www/hls");
            let cap = publish_and_capture(
                &n,
                "live",
                &dir,
                "av",
                &[&inp.av10],
                Duration::ZERO,
                Duration::ZERO,
            );
            (dir, cap)
        });
        let b = s.spawn(|| {
            publish_and_capture(
                &n,
                "short",
                &n.prefix.join("www/short"),
                "re",
                &[&inp.av6, &inp.av10],
                Duration::from_millis(500),
                // TARGETDURATION (2 s) + playlist length (6 s) + margin.
                Duration::from_secs(10),
            )
        });
        (a.join().unwrap(), b.join().unwrap())
    });
    eprintln!("published in {:.1} s", started.elapsed().as_secs_f64());
    let (dir, cap) = single;
    check_single_publish(&dir, "av", &cap, &inp.av10, &n.prefix.join("check"));

    // The republish: a DISCONTINUITY, then the map of the second publish's init segment.
    let seen = republish
        .versions
        .iter()
        .find(|v| v.contains("#EXT-X-DISCONTINUITY\n"))
        .unwrap_or_else(|| panic!("no DISCONTINUITY: {:?}", republish.versions.last()));
    let listed = maps(seen);
    let after = seen
        .split("#EXT-X-DISCONTINUITY\n")
        .nth(1)
        .unwrap()
        .to_string();
    assert!(after.starts_with("#EXT-X-MAP:URI=\"re-init-"), "{seen}");
    assert_ne!(
        listed.first().unwrap().1,
        listed.last().unwrap().1,
        "{seen}"
    );
    for seg in republish.segments.values() {
        let (video, _) = runs(&seg.bytes);
        assert!(video.unwrap().sync[0], "{} starts with a keyframe", seg.uri);
    }
    // hls_cleanup: segments, init segments and the playlist are gone after the end.
    assert!(
        republish.files_at_end.is_empty() && republish.playlist_gone_at_end,
        "left behind: {:?}",
        republish.files_at_end
    );
    n.assert_no_crash();
}

#[test]
fn hls_js_in_headless_chromium_plays_fmp4() {
    const WATCH_SECS: f64 = 6.0;
    let conf = Conf::rtmp(
        "server { listen 127.0.0.1:{rtmp_port};
           application live { live on; hls on; hls_path {prefix}/www/hls; hls_fragment 2;
                              hls_fragment_type fmp4; } }",
    )
    .http(
        "location /hls/ { root {prefix}/www;
             types { application/vnd.apple.mpegurl m3u8; video/iso.segment m4s; video/mp4 mp4; }
             add_header Cache-Control no-cache; }
         location /player/ { root {prefix}/www;
             types { text/html html; application/javascript js; } }",
    );
    let n = Nginx::start("hls-fmp4-player", &conf);
    hls_js::install_page(&n.prefix.join("www/player"));
    let mut publisher = ffmpeg_publish(&n.rtmp_url("live", "cam"), 60)
        .spawn()
        .expect("spawn ffmpeg");
    let playlist = n.prefix.join("www/hls/cam.m3u8");
    hls_js::wait_listed(&n, &playlist, &mut publisher, 2);
    let page = format!(
        "http://127.0.0.1:{}/player/index.html?src=/hls/cam.m3u8",
        n.http_port
    );
    let played = hls_js::play(&page, "hls-fmp4-player.png", WATCH_SECS);
    let _ = publisher.kill();
    let _ = publisher.wait();
    let size = played.assert_played(WATCH_SECS, &|| format!("nginx:\n{}", n.error_log()));
    assert_eq!(size, "320 240", "decoded picture size");
    let access = fs::read_to_string(n.prefix.join("logs/access.log")).unwrap_or_default();
    assert!(
        access.contains("GET /hls/cam-init-") && access.contains(".m4s HTTP/1.1\" 200"),
        "player never fetched the init segment and a fragment:\n{access}"
    );
    let shot = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/e2e/hls-fmp4-player.png");
    assert!(fs::metadata(&shot).map(|m| m.len() > 1000).unwrap_or(false));
    n.assert_no_crash();
}
