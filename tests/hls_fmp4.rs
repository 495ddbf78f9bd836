//! `hls_fragment_type fmp4`: the segmenter's fMP4 output on synthetic frames, parsed back
//! box by box (init segments, one moof + mdat per segment, decode times, every frame once).

mod support;

use ngx_rtmp::hls::{FragmentType, HlsConfig, HlsStream};
use ngx_rtmp::media::{Frame, Track};
use support::fileops::*;
use support::fmp4::{parse_fragment, parse_init, InitTrack, TrackRun};
use support::m3u8::{entries, tag};
use support::media::*;

fn config(fragment_ms: u64, playlist_ms: u64) -> HlsConfig {
    HlsConfig {
        fragment_ms,
        playlist_length_ms: playlist_ms,
        fragment_type: FragmentType::Fmp4,
        ..HlsConfig::default()
    }
}

/// `(segment URI, map URI in force)` for every entry of a playlist.
fn maps(text: &str) -> Vec<(String, Option<String>)> {
    let mut map = None;
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("#EXT-X-MAP:URI=\"") {
            map = Some(v.trim_end_matches('"').to_string());
        } else if !line.starts_with('#') && !line.is_empty() {
            out.push((line.to_string(), map.clone()));
        }
    }
    out
}

/// The runs of a track over the closed segments, in order.
fn runs_of(fs: &Fs, track_id: u32) -> Vec<(String, TrackRun)> {
    fs.closed
        .iter()
        .flat_map(|path| {
            let (_, runs) = parse_fragment(fs.segment(path));
            runs.into_iter()
                .filter(|r| r.track_id == track_id)
                .map(|r| (path.clone(), r))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn frames_of(frames: &[Frame], track: Track) -> Vec<&Frame> {
    frames.iter().filter(|f| f.track == track).collect()
}

#[test]
fn segments_are_one_fragment_each_with_every_frame_once_and_continuous_decode_times() {
    let d = demuxer(true, true);
    let mut s = HlsStream::new(config(3000, 60_000), "live", None, now(0)).unwrap();
    let mut fs = Fs::default();
    let frames = av_frames(0, 20_000, 30, 2000, true, true);
    feed(&mut s, &d, &mut fs, &frames, 0);
    s.finish(now(21_000)).unwrap();
    fs.drain(&mut s);
    let text = fs.last_playlist();
    assert!(text.starts_with("#EXTM3U\n#EXT-X-VERSION:6\n"), "{text}");
    assert_eq!(tag(text, "#EXT-X-TARGETDURATION:"), Some("4"));
    assert!(text.ends_with("#EXT-X-ENDLIST\n"));
    let listed = maps(text);
    assert_eq!(listed.len(), 5);
    for (i, (uri, map)) in listed.iter().enumerate() {
        assert_eq!(uri, &format!("live-{i}.m4s"));
        assert_eq!(map.as_deref(), Some("live-init-0.mp4"));
    }
    assert_eq!(text.matches("#EXT-X-MAP").count(), 1);
    assert_eq!(
        parse_init(fs.segment("live-init-0.mp4")),
        [
            InitTrack {
                id: 1,
                handler: "vide".into(),
                timescale: 90_000,
                entry: "avc1".into()
            },
            InitTrack {
                id: 2,
                handler: "soun".into(),
                timescale: 44_100,
                entry: "mp4a".into()
            },
        ]
    );
    // mfhd sequence numbers count up from 1.
    for (i, path) in fs.closed.iter().enumerate() {
        assert_eq!(parse_fragment(fs.segment(path)).0, i as u32 + 1);
    }
    let es = entries(text);
    // Video: every frame once, in order, bytes as published; each segment starts with a
    // sync sample; decode times continue exactly; EXTINF is the video run's duration.
    let video = runs_of(&fs, 1);
    assert_eq!(video.len(), 5);
    let sent = frames_of(&frames, Track::Video);
    let got: Vec<&Vec<u8>> = video.iter().flat_map(|(_, r)| r.samples.iter()).collect();
    assert_eq!(got.len(), sent.len());
    for (g, f) in got.iter().zip(&sent) {
        assert_eq!(g.as_slice(), &f.data[..]);
    }
    let syncs: Vec<bool> = video.iter().flat_map(|(_, r)| r.sync.clone()).collect();
    let keys: Vec<bool> = sent.iter().map(|f| f.keyframe).collect();
    assert_eq!(syncs, keys);
    for (_, r) in &video {
        assert!(r.sync[0], "segment starts with a keyframe");
        assert!(r.ctos.iter().all(|&c| c == 67 * 90));
    }
    assert_eq!(video[0].1.base_decode_time, 0);
    for (w, e) in video.windows(2).zip(&es) {
        assert_eq!(
            w[1].1.base_decode_time,
            w[0].1.base_decode_time + w[0].1.duration(),
            "{} continues {}",
            w[1].0,
            w[0].0
        );
        assert_eq!(
            e.duration_ms * 90,
            w[0].1.duration(),
            "EXTINF of {}",
            w[0].0
        );
    }
    // Audio: every frame once, gapless decode times at 1024 samples a frame.
    let audio = runs_of(&fs, 2);
    let sent = frames_of(&frames, Track::Audio);
    let got: Vec<&Vec<u8>> = audio.iter().flat_map(|(_, r)| r.samples.iter()).collect();
    assert_eq!(got.len(), sent.len());
    for (g, f) in got.iter().zip(&sent) {
        assert_eq!(g.as_slice(), &f.data[..]);
    }
    for w in audio.windows(2) {
        assert_eq!(
            w[1].1.base_decode_time,
            w[0].1.base_decode_time + w[0].1.duration()
        );
    }
    assert!(audio
        .iter()
        .all(|(_, r)| r.durations.iter().all(|&d| d == 1024)));
    // Cleanup: every segment and the init segment.
    let deleted: Vec<&str> = fs.deletes.iter().map(|(p, _)| p.as_str()).collect();
    for i in 0..5 {
        assert!(deleted.contains(&format!("live-{i}.m4s").as_str()));
    }
    assert!(deleted.contains(&"live-init-0.mp4"));
}

#[test]
fn republish_gets_a_new_init_segment_after_the_discontinuity() {
    let d = demuxer(true, true);
    let mut s = HlsStream::new(config(2000, 60_000), "live", None, now(0)).unwrap();
    let mut fs = Fs::default();
    feed(
        &mut s,
        &d,
        &mut fs,
        &av_frames(0, 6_000, 30, 2000, true, true),
        0,
    );
    s.finish(now(7_000)).unwrap();
    fs.drain(&mut s);
    let first = fs.last_playlist().to_string();
    let n = entries(&first).len();

    let mut s2 = HlsStream::new(config(2000, 60_000), "live", Some(&first), now(9_000)).unwrap();
    assert!(s2.resumed());
    fs.drain(&mut s2);
    assert!(fs.cancels.contains(&"live-init-0.mp4".to_string()));
    // Audio only this time: the init segment changes.
    let d2 = demuxer(false, true);
    feed(
        &mut s2,
        &d2,
        &mut fs,
        &av_frames(0, 6_000, 30, 2000, false, true),
        9_000,
    );
    s2.finish(now(16_000)).unwrap();
    fs.drain(&mut s2);
    let text = fs.last_playlist();
    let listed = maps(text);
    let new_init = format!("live-init-{n}.mp4");
    for (i, (uri, map)) in listed.iter().enumerate() {
        let expected = if i < n { "live-init-0.mp4" } else { &new_init };
        assert_eq!(map.as_deref(), Some(expected), "{uri}");
    }
    assert!(text.contains(&format!(
        "#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"{new_init}\"\n#EXTINF:"
    )));
    let tracks = parse_init(fs.segment(&new_init));
    assert_eq!(tracks.len(), 1);
    assert_eq!(tracks[0].handler, "soun");
    for path in &fs.closed[n..] {
        let (_, runs) = parse_fragment(fs.segment(path));
        assert!(runs.iter().all(|r| r.track_id == 2));
    }
}

#[test]
fn an_init_segment_still_named_outlives_the_segments_that_slid_out() {
    let d = demuxer(true, true);
    let mut s = HlsStream::new(config(2000, 6_000), "live", None, now(0)).unwrap();
    let mut fs = Fs::default();
    feed(
        &mut s,
        &d,
        &mut fs,
        &av_frames(0, 6_000, 30, 2000, true, true),
        0,
    );
    // A timestamp jump: a new section, the same codecs and so the same init segment.
    feed(
        &mut s,
        &d,
        &mut fs,
        &av_frames(100_000, 20_000, 30, 2000, true, true),
        0,
    );
    let text = fs.last_playlist();
    let listed = maps(text);
    assert!(listed
        .iter()
        .all(|(_, m)| m.as_deref() == Some("live-init-0.mp4")));
    let deleted: Vec<&str> = fs.deletes.iter().map(|(p, _)| p.as_str()).collect();
    assert!(deleted.contains(&"live-0.m4s"));
    assert!(!deleted.contains(&"live-init-0.mp4"), "still named");
}

#[test]
fn nested_layout_and_base_url() {
    let cfg = HlsConfig {
        nested: true,
        base_url: "http://cdn/hls/".into(),
        ..config(2000, 60_000)
    };
    let d = demuxer(true, true);
    let mut s = HlsStream::new(cfg, "cam", None, now(0)).unwrap();
    let mut fs = Fs::default();
    feed(
        &mut s,
        &d,
        &mut fs,
        &av_frames(0, 5_000, 30, 2000, true, true),
        0,
    );
    s.finish(now(6_000)).unwrap();
    fs.drain(&mut s);
    let listed = maps(fs.last_playlist());
    assert_eq!(listed[0].0, "http://cdn/hls/cam/0.m4s");
    assert_eq!(
        listed[0].1.as_deref(),
        Some("http://cdn/hls/cam/init-0.mp4")
    );
    assert!(fs.files.contains_key("cam/init-0.mp4"));
    assert!(fs.files.contains_key("cam/0.m4s"));
}

#[test]
fn a_playlist_of_the_other_container_is_cleaned_up_not_continued() {
    let prev = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:5\n\
                #EXTINF:2.000,\nlive-5.ts\n#EXTINF:2.000,\nlive-6.ts\n#EXT-X-ENDLIST\n";
    let mut s = HlsStream::new(config(2000, 12_000), "live", Some(prev), now(100)).unwrap();
    assert!(!s.resumed());
    let mut fs = Fs::default();
    fs.drain(&mut s);
    let at = 100 + 2000 + 12_000;
    assert_eq!(
        fs.deletes,
        [("live-5.ts".to_string(), at), ("live-6.ts".to_string(), at)]
    );
    // And back: an fMP4 playlist under mpegts, its init segment included.
    let prev = "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:5\n\
                #EXT-X-MAP:URI=\"live-init-5.mp4\"\n#EXTINF:2.000,\nlive-5.m4s\n#EXT-X-ENDLIST\n";
    let ts = HlsConfig {
        fragment_type: FragmentType::MpegTs,
        ..config(2000, 12_000)
    };
    let mut s = HlsStream::new(ts, "live", Some(prev), now(100)).unwrap();
    assert!(!s.resumed());
    let mut fs = Fs::default();
    fs.drain(&mut s);
    // Kept until the stream's codecs tell whether it goes on in fMP4 (AV1, VP9, Opus do).
    assert!(fs.deletes.is_empty(), "{:?}", fs.deletes);
    // H.264/AAC fits MPEG-TS: the fMP4 playlist is cleaned up at the first frame.
    s.push(&video_frame(0, 0, true), &demuxer(true, true), now(200))
        .unwrap();
    fs.drain(&mut s);
    assert!(!s.resumed());
    let deleted: Vec<&str> = fs.deletes.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(deleted, ["live-5.m4s", "live-init-5.mp4"]);
}
