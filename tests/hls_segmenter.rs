//! Segmenter decisions and the file operations of `HlsStream`, on synthetic
//! frames.

mod support;

use ngx_rtmp::files::FileOp;
use ngx_rtmp::hls::{
    HlsConfig, HlsError, HlsStream, Naming, PlaylistKind, Slicing, AUDIO_PID, VIDEO_PID,
};
use ngx_rtmp::media::{Frame, Track};
use support::fileops::*;
use support::m3u8::{entries, tag};
use support::media::*;
use support::ts::*;

fn config(fragment_ms: u64, playlist_ms: u64) -> HlsConfig {
    HlsConfig {
        fragment_ms,
        playlist_length_ms: playlist_ms,
        ..HlsConfig::default()
    }
}

fn target(text: &str) -> u64 {
    tag(text, "#EXT-X-TARGETDURATION:")
        .unwrap()
        .parse()
        .unwrap()
}

fn media_sequence(text: &str) -> u64 {
    tag(text, "#EXT-X-MEDIA-SEQUENCE:")
        .unwrap()
        .parse()
        .unwrap()
}

/// Every playlist written: same target, EXTINF rounds within it, media
/// sequence never decreases.
fn check_playlist_history(fs: &Fs) {
    let t = target(&fs.playlists[0].1);
    let mut last_seq = 0;
    for (_, text) in &fs.playlists {
        assert_eq!(target(text), t, "TARGETDURATION changed");
        let seq = media_sequence(text);
        assert!(seq >= last_seq);
        last_seq = seq;
        for e in entries(text) {
            assert!(
                (e.duration_ms + 500) / 1000 <= t,
                "EXTINF {} above target {t}",
                e.duration_ms
            );
            assert!(e.duration_ms > 0);
        }
    }
}

/// Checks each closed segment: starts with PAT/PMT, first video PES is an
/// IDR with SPS/PPS. Returns (video frames, audio frames) found.
fn check_segments(fs: &Fs, expect_idr: bool) -> (usize, usize) {
    let (mut v, mut a) = (0, 0);
    for path in &fs.closed {
        let info = parse_ts(fs.segment(path));
        assert_eq!(info.packets[0].header.pid.as_u16(), 0);
        let mut first_video = true;
        for pes in &info.pes {
            if pes.pid == VIDEO_PID {
                if first_video && expect_idr {
                    let types = annexb_nal_types(&pes.data);
                    assert!(
                        types.contains(&5) && types.contains(&7),
                        "{path} does not start with an IDR"
                    );
                    assert!(pes.random_access);
                }
                first_video = false;
                v += 1;
            } else if pes.pid == AUDIO_PID {
                a += adts_frames(&pes.data).len();
            }
        }
    }
    (v, a)
}

#[test]
fn cuts_at_keyframes_and_fixes_target_from_first_segment() {
    let d = demuxer(true, true);
    let mut s = HlsStream::new(config(3000, 60_000), "live", None, now(0)).unwrap();
    let mut fs = Fs::default();
    let frames = av_frames(0, 20_000, 30, 2000, true, true);
    feed(&mut s, &d, &mut fs, &frames, 0);
    s.finish(now(21_000)).unwrap();
    fs.drain(&mut s);
    let text = fs.last_playlist();
    assert_eq!(target(text), 4, "2 s GOP, 3 s fragment: 4 s segments");
    let es = entries(text);
    assert_eq!(es.len(), 5);
    for e in &es[..4] {
        assert_eq!(e.duration_ms, 4000);
    }
    // The tail: last video frame at 19967 ms + 33, audio to 19992 + 23.
    assert!(
        es[4].duration_ms >= 4000 && es[4].duration_ms <= 4030,
        "{}",
        es[4].duration_ms
    );
    assert!(text.ends_with("#EXT-X-ENDLIST\n"));
    assert!(text.contains("#EXT-X-INDEPENDENT-SEGMENTS"));
    check_playlist_history(&fs);
    let (v, a) = check_segments(&fs, true);
    let nv = frames.iter().filter(|f| f.track == Track::Video).count();
    assert_eq!((v, a), (nv, frames.len() - nv), "every frame exactly once");
    assert_eq!(fs.open, None);
}

#[test]
fn playlist_is_written_in_the_push_of_the_closing_keyframe() {
    let d = demuxer(true, true);
    let mut s = HlsStream::new(config(3000, 60_000), "live", None, now(0)).unwrap();
    let mut fs = Fs::default();
    for f in av_frames(0, 3999, 30, 2000, true, true) {
        s.push(&f, &d, now(f.dts)).unwrap();
        fs.drain(&mut s);
    }
    assert!(fs.playlists.is_empty());
    s.push(&video_frame(4000, 67, true), &d, now(4000)).unwrap();
    let mut ops = Vec::new();
    while let Some(op) = s.poll_op() {
        ops.push(op);
    }
    let kinds: Vec<&str> = ops
        .iter()
        .map(|o| match o {
            FileOp::AppendSegment { .. } => "append",
            FileOp::CloseSegment { .. } => "close",
            FileOp::WritePlaylist { .. } => "playlist",
            FileOp::OpenSegment { .. } => "open",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["append", "close", "playlist", "open"]);
    match &ops[2] {
        FileOp::WritePlaylist { path, contents } => {
            assert_eq!(path.as_str(), "live.m3u8");
            let text = std::str::from_utf8(contents).unwrap();
            assert!(text.contains("#EXTINF:4.000,\nlive-0.ts\n"));
        }
        _ => unreachable!(),
    }
}

#[test]
fn long_gop_sets_a_larger_target() {
    // 10 s GOP, 3 s fragment: every segment is a whole GOP.
    let d = demuxer(true, true);
    let mut s = HlsStream::new(config(3000, 30_000), "live", None, now(0)).unwrap();
    let mut fs = Fs::default();
    let frames = av_frames(0, 60_000, 30, 10_000, true, true);
    feed(&mut s, &d, &mut fs, &frames, 0);
    s.finish(now(61_000)).unwrap();
    fs.drain(&mut s);
    assert_eq!(target(fs.last_playlist()), 10);
    check_playlist_history(&fs);
    let (v, _) = check_segments(&fs, true);
    assert_eq!(v, frames.iter().filter(|f| f.track == Track::Video).count());
}

#[test]
fn open_gops_cut_at_every_keyframe_the_fragment_asks_for() {
    // 2 s GOPs and `hls_fragment 2`: the second keyframe is decoded 1.93 s after the first,
    // and presented 2 s after it. Its decode time alone would put two GOPs into the first
    // segment, and the target would be 4 for the whole stream.
    let d = demuxer(true, true);
    let mut s = HlsStream::new(config(2000, 60_000), "live", None, now(0)).unwrap();
    let mut fs = Fs::default();
    let mut frames = open_gop_video(30 * 20, 60);
    let keys: Vec<(u64, u64)> = frames
        .iter()
        .filter(|f| f.keyframe)
        .map(|f| (f.dts, f.pts))
        .collect();
    assert_eq!(keys[..3], [(0, 67), (1933, 2067), (3933, 4067)]);
    frames.extend(av_frames(0, 20_000, 30, 2000, false, true));
    frames.sort_by_key(|f| f.dts);
    feed(&mut s, &d, &mut fs, &frames, 0);
    s.finish(now(21_000)).unwrap();
    fs.drain(&mut s);
    let text = fs.last_playlist();
    assert_eq!(target(text), 2, "{text}");
    let es = entries(text);
    // A segment per keyframe; the last one holds the last keyframe and its leading pictures.
    assert_eq!(es.len(), 11, "{text}");
    assert_eq!(
        es[0].duration_ms, 1933,
        "the first GOP less its last two decode slots"
    );
    for e in &es[1..10] {
        assert_eq!(e.duration_ms, 2000, "{text}");
    }
    check_playlist_history(&fs);
    let (v, a) = check_segments(&fs, true);
    let nv = frames.iter().filter(|f| f.track == Track::Video).count();
    assert_eq!((v, a), (nv, frames.len() - nv), "every frame exactly once");
}

#[test]
fn irregular_gop_longer_than_target_is_force_cut_within_target() {
    // First GOP 2 s (target 4 with a 3 s fragment), then one GOP of 9 s.
    let d = demuxer(true, false);
    let mut s = HlsStream::new(config(3000, 30_000), "live", None, now(0)).unwrap();
    let mut fs = Fs::default();
    let mut frames = Vec::new();
    for i in 0..(30 * 30) {
        let t = i * 1000 / 30;
        let key = i % 60 == 0 && !(6000..15_000).contains(&t);
        frames.push(video_frame(t, 0, key));
    }
    feed(&mut s, &d, &mut fs, &frames, 0);
    s.finish(now(31_000)).unwrap();
    fs.drain(&mut s);
    assert_eq!(target(fs.last_playlist()), 4);
    check_playlist_history(&fs);
    // Nothing lost even though some segments start without an IDR.
    let (v, _) = check_segments(&fs, false);
    assert_eq!(v, frames.len());
}

#[test]
fn audio_only_cuts_by_time() {
    let d = demuxer(false, true);
    let mut s = HlsStream::new(config(2000, 30_000), "radio", None, now(0)).unwrap();
    let mut fs = Fs::default();
    let frames = av_frames(5000, 11_000, 30, 0, false, true);
    feed(&mut s, &d, &mut fs, &frames, 0);
    s.finish(now(20_000)).unwrap();
    fs.drain(&mut s);
    let text = fs.last_playlist();
    assert_eq!(target(text), 2);
    let es = entries(text);
    assert!(es.len() >= 5);
    for e in &es[..es.len() - 1] {
        assert!((2000..2030).contains(&e.duration_ms), "{}", e.duration_ms);
    }
    let total: u64 = es.iter().map(|e| e.duration_ms).sum();
    // 11 s of audio in total, to the millisecond (+ the last frame).
    assert!((10_990..=11_030).contains(&total), "{total}");
    for path in &fs.closed {
        let info = parse_ts(fs.segment(path));
        assert_eq!(info.pmt_pids, [AUDIO_PID]);
        assert_eq!(info.pcr_pid, Some(AUDIO_PID));
        assert!(!info.pcrs.is_empty());
    }
    let (_, a) = check_segments(&fs, false);
    assert_eq!(a, frames.len());
    check_playlist_history(&fs);
}

#[test]
fn video_only_stream() {
    let d = demuxer(true, false);
    let mut s = HlsStream::new(config(2000, 30_000), "cam", None, now(0)).unwrap();
    let mut fs = Fs::default();
    let frames = av_frames(0, 10_000, 25, 1000, true, false);
    feed(&mut s, &d, &mut fs, &frames, 0);
    s.finish(now(11_000)).unwrap();
    fs.drain(&mut s);
    for path in &fs.closed {
        let info = parse_ts(fs.segment(path));
        assert_eq!(info.pmt_pids, [VIDEO_PID]);
    }
    let (v, a) = check_segments(&fs, true);
    assert_eq!((v, a), (frames.len(), 0));
    assert_eq!(target(fs.last_playlist()), 2);
}

#[test]
fn audio_after_the_last_video_frame_is_kept_at_finish() {
    let d = demuxer(true, true);
    let mut s = HlsStream::new(config(2000, 30_000), "live", None, now(0)).unwrap();
    let mut fs = Fs::default();
    let mut frames = av_frames(0, 5000, 30, 1000, true, true);
    // Video stops at 5 s, audio goes on for 800 ms.
    for k in 0..35 {
        frames.push(audio_frame(5000 + k * 23));
    }
    feed(&mut s, &d, &mut fs, &frames, 0);
    s.finish(now(7000)).unwrap();
    fs.drain(&mut s);
    let es = entries(fs.last_playlist());
    let last = es.last().unwrap();
    // Segment from 4000 to 5000 + 34*23 + 23.
    assert_eq!(last.duration_ms, 5000 + 34 * 23 + 23 - 4000);
    let (_, a) = check_segments(&fs, true);
    assert_eq!(a, frames.iter().filter(|f| f.track == Track::Audio).count());
}

#[test]
fn sliding_window_and_delayed_deletes() {
    let d = demuxer(true, true);
    let mut s = HlsStream::new(config(2000, 10_000), "live", None, now(0)).unwrap();
    let mut fs = Fs::default();
    let t0 = 1_000_000;
    let frames = av_frames(0, 40_000, 30, 2000, true, true);
    feed(&mut s, &d, &mut fs, &frames, t0);
    let text = fs.last_playlist().to_string();
    let es = entries(&text);
    let total: u64 = es.iter().map(|e| e.duration_ms).sum();
    // Playlist length 10 s, but never less than 3 target durations.
    assert!(total >= 10_000);
    assert!(total - es[0].duration_ms < 10_000);
    assert!(media_sequence(&text) > 0);
    assert!(!fs.deletes.is_empty());
    // Each delete is scheduled target + playlist length after the segment
    // left the window, and only for segments no longer listed.
    for (path, at) in &fs.deletes {
        let n: u64 = path
            .trim_start_matches("live-")
            .trim_end_matches(".ts")
            .parse()
            .unwrap();
        assert!(n < media_sequence(&text));
        // Segment n+6 closes at (n+6)*2000 + 2000 (stream time == now - t0).
        assert!(*at >= t0 + 2000 + 10_000, "{at}");
    }
    // Deleted at (cut time) + 2 s + 10 s: segment 0 left when segment 5
    // closed at 12 s.
    assert_eq!(
        fs.deletes[0],
        ("live-0.ts".to_string(), t0 + 12_000 + 2000 + 10_000)
    );
    s.finish(now(t0 + 41_000)).unwrap();
    fs.drain(&mut s);
    // Cleanup after the end: every listed segment and the playlist.
    let end_deletes: Vec<&str> = fs
        .deletes
        .iter()
        .filter(|(_, at)| *at == t0 + 41_000 + 12_000)
        .map(|(p, _)| p.as_str())
        .collect();
    for e in entries(fs.last_playlist()) {
        assert!(end_deletes.contains(&e.uri.as_str()));
    }
    assert!(end_deletes.contains(&"live.m3u8"));
}

#[test]
fn event_playlists_keep_everything() {
    let d = demuxer(true, true);
    let cfg = HlsConfig {
        kind: PlaylistKind::Event,
        ..config(2000, 6000)
    };
    let mut s = HlsStream::new(cfg, "ev", None, now(0)).unwrap();
    let mut fs = Fs::default();
    feed(
        &mut s,
        &d,
        &mut fs,
        &av_frames(0, 20_000, 30, 2000, true, true),
        0,
    );
    s.finish(now(21_000)).unwrap();
    fs.drain(&mut s);
    let text = fs.last_playlist();
    assert!(text.contains("#EXT-X-PLAYLIST-TYPE:EVENT"));
    assert_eq!(media_sequence(text), 0);
    assert_eq!(entries(text).len(), 10);
    assert!(fs.deletes.is_empty());
}

#[test]
fn republish_continues_the_playlist_with_a_discontinuity() {
    let d = demuxer(true, true);
    let mut s = HlsStream::new(config(2000, 12_000), "live", None, now(0)).unwrap();
    let mut fs = Fs::default();
    feed(
        &mut s,
        &d,
        &mut fs,
        &av_frames(0, 20_000, 30, 2000, true, true),
        0,
    );
    s.finish(now(21_000)).unwrap();
    fs.drain(&mut s);
    let first = fs.last_playlist().to_string();
    let first_entries = entries(&first);
    let first_seq = media_sequence(&first);

    // Republish: timestamps restart at 0.
    let before = fs.playlists.len();
    let d2 = demuxer(true, true);
    let mut s2 = HlsStream::new(config(2000, 12_000), "live", Some(&first), now(25_000)).unwrap();
    assert!(s2.resumed());
    assert_eq!(s2.target_duration_s(), Some(2));
    fs.drain(&mut s2);
    assert!(fs.cancels.contains(&"live.m3u8".to_string()));
    for e in &first_entries {
        assert!(fs.cancels.contains(&e.uri));
    }
    feed(
        &mut s2,
        &d2,
        &mut fs,
        &av_frames(0, 30_000, 30, 2000, true, true),
        25_000,
    );
    // Right after resuming: old segments, DISCONTINUITY, new segments.
    let resumed_text = fs.playlists[before].1.as_str();
    assert!(!resumed_text.contains("#EXT-X-ENDLIST"));
    let es = entries(resumed_text);
    // The window was full: the oldest scrolled out for the new one.
    assert_eq!(es.len(), first_entries.len());
    assert_eq!(es[..es.len() - 1], first_entries[1..]);
    assert!(es.last().unwrap().discontinuity);
    assert_eq!(es.last().unwrap().uri, "live-10.ts");
    assert_eq!(media_sequence(resumed_text), first_seq + 1);
    // Once the discontinuity scrolls out, DISCONTINUITY-SEQUENCE appears.
    let last = fs.last_playlist();
    assert_eq!(tag(last, "#EXT-X-DISCONTINUITY-SEQUENCE:"), Some("1"));
    assert!(!last.contains("#EXT-X-DISCONTINUITY\n"));
    assert!(media_sequence(last) > first_seq);
    check_playlist_history(&fs);
}

#[test]
fn republish_without_continuous_starts_over() {
    let cfg = HlsConfig {
        continuous: false,
        ..config(2000, 12_000)
    };
    let prev = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:5\n#EXTINF:2.000,\nlive-5.ts\n#EXT-X-ENDLIST\n";
    let mut s = HlsStream::new(cfg, "live", Some(prev), now(100)).unwrap();
    assert!(!s.resumed());
    let mut fs = Fs::default();
    fs.drain(&mut s);
    assert_eq!(fs.deletes, [("live-5.ts".to_string(), 100 + 2000 + 12_000)]);
    let d = demuxer(true, true);
    feed(
        &mut s,
        &d,
        &mut fs,
        &av_frames(0, 5000, 30, 2000, true, true),
        0,
    );
    assert_eq!(media_sequence(fs.last_playlist()), 0);
    assert!(!fs.last_playlist().contains("DISCONTINUITY"));
}

#[test]
fn timestamp_jumps_make_discontinuities() {
    let d = demuxer(true, true);
    let mut s = HlsStream::new(config(2000, 60_000), "live", None, now(0)).unwrap();
    let mut fs = Fs::default();
    // 0..6 s, then back to 1000 (backwards jump), then forward by an hour.
    let mut frames = av_frames(100_000, 6000, 30, 2000, true, true);
    frames.extend(av_frames(1000, 6000, 30, 2000, true, true));
    frames.extend(av_frames(3_601_000, 6000, 30, 2000, true, true));
    feed(&mut s, &d, &mut fs, &frames, 0);
    s.finish(now(100_000)).unwrap();
    fs.drain(&mut s);
    let es = entries(fs.last_playlist());
    let discs: Vec<usize> = es
        .iter()
        .enumerate()
        .filter(|(_, e)| e.discontinuity)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(discs, [3, 6]);
    // The segment before each jump ends at its own media end.
    assert!(
        (2000..=2040).contains(&es[2].duration_ms),
        "{}",
        es[2].duration_ms
    );
    check_playlist_history(&fs);
    let (v, a) = check_segments(&fs, true);
    let nv = frames.iter().filter(|f| f.track == Track::Video).count();
    assert_eq!((v, a), (nv, frames.len() - nv));
}

#[test]
fn small_backward_steps_are_clamped_not_discontinuities() {
    let d = demuxer(true, true);
    let mut s = HlsStream::new(config(2000, 60_000), "live", None, now(0)).unwrap();
    let mut fs = Fs::default();
    let mut frames = av_frames(0, 8000, 30, 2000, true, true);
    // Audio jitter: one frame 200 ms late in the interleave.
    frames.push(audio_frame(7800));
    feed(&mut s, &d, &mut fs, &frames, 0);
    s.finish(now(9000)).unwrap();
    fs.drain(&mut s);
    assert!(!fs.last_playlist().contains("#EXT-X-DISCONTINUITY"));
}

#[test]
fn flv_timestamp_wrap_is_seamless() {
    use bytes::Bytes;
    let mut d = demuxer(true, true);
    let mut s = HlsStream::new(config(2000, 60_000), "live", None, now(0)).unwrap();
    let mut fs = Fs::default();
    let start = u32::MAX - 5000;
    for f in av_frames(0, 10_000, 30, 2000, true, true) {
        let ts = start.wrapping_add(f.dts as u32);
        let frame = match f.track {
            Track::Video => {
                let mut p = vec![if f.keyframe { 0x17 } else { 0x27 }, 1, 0, 0, 67];
                p.extend_from_slice(&f.data);
                d.push_video(ts, Bytes::from(p))
                    .unwrap()
                    .first()
                    .cloned()
                    .unwrap()
            }
            Track::Audio => {
                let mut p = vec![0xaf, 1];
                p.extend_from_slice(&f.data);
                d.push_audio(ts, Bytes::from(p))
                    .unwrap()
                    .first()
                    .cloned()
                    .unwrap()
            }
        };
        s.push(&frame, &d, now(f.dts)).unwrap();
        fs.drain(&mut s);
    }
    s.finish(now(11_000)).unwrap();
    fs.drain(&mut s);
    let es = entries(fs.last_playlist());
    assert!(es.iter().all(|e| !e.discontinuity));
    assert_eq!(es.len(), 5);
    for e in &es[..4] {
        assert_eq!(e.duration_ms, 2000);
    }
}

#[test]
fn late_audio_header_regroups_with_a_discontinuity() {
    let mut d = demuxer(true, false);
    let mut s = HlsStream::new(config(2000, 60_000), "live", None, now(0)).unwrap();
    let mut fs = Fs::default();
    let frames = av_frames(0, 10_000, 30, 1000, true, true);
    let mut audio_pushed = 0;
    for f in &frames {
        if f.track == Track::Audio {
            if f.dts < 3000 {
                assert_eq!(
                    s.push(f, &d, now(f.dts)),
                    Err(HlsError::MissingConfig(Track::Audio))
                );
                continue;
            }
            if d.audio_config().is_none() {
                d.push_audio(0, hex(AAC_SEQ)).unwrap();
            }
            audio_pushed += 1;
        }
        s.push(f, &d, now(f.dts)).unwrap();
        fs.drain(&mut s);
    }
    s.finish(now(11_000)).unwrap();
    fs.drain(&mut s);
    let es = entries(fs.last_playlist());
    assert!(es.iter().any(|e| e.discontinuity));
    let (_, a) = check_segments(&fs, true);
    assert_eq!(a, audio_pushed);
}

#[test]
fn startup_audio_before_the_first_keyframe_is_kept() {
    let d = demuxer(true, true);
    let mut s = HlsStream::new(config(2000, 60_000), "live", None, now(0)).unwrap();
    let mut fs = Fs::default();
    // Audio starts 300 ms before video; two inter frames before the first key.
    let mut frames: Vec<Frame> = (0..13).map(|k| audio_frame(k * 23)).collect();
    frames.push(video_frame(250, 0, false));
    frames.push(video_frame(283, 0, false));
    frames.extend(av_frames(300, 6000, 30, 2000, true, true));
    feed(&mut s, &d, &mut fs, &frames, 0);
    s.finish(now(7000)).unwrap();
    fs.drain(&mut s);
    assert_eq!(s.dropped_frames(), 2);
    let (_, a) = check_segments(&fs, true);
    assert_eq!(a, frames.iter().filter(|f| f.track == Track::Audio).count());
    let es = entries(fs.last_playlist());
    assert_eq!(es[0].duration_ms, 2300);
}

#[test]
fn names_are_checked_and_paths_follow_the_layout() {
    for bad in [
        "",
        "../x",
        "a/b",
        "a\\b",
        ".hidden",
        "a\nb",
        "#EXT-X-ENDLIST",
        "x..y",
        "tab\t",
    ] {
        assert!(
            matches!(
                HlsStream::new(HlsConfig::default(), bad, None, now(0)),
                Err(HlsError::InvalidName(_))
            ),
            "{bad:?} accepted"
        );
    }
    let bad_base = HlsConfig {
        base_url: "http://x/\n#EXT-X-ENDLIST".into(),
        ..HlsConfig::default()
    };
    assert!(HlsStream::new(bad_base, "ok", None, now(0)).is_err());

    let d = demuxer(true, true);
    let cfg = HlsConfig {
        nested: true,
        base_url: "https://cdn.example/hls/".into(),
        ..config(2000, 30_000)
    };
    let mut s = HlsStream::new(cfg, "my key", None, now(0)).unwrap();
    let mut fs = Fs::default();
    fs.drain(&mut s);
    assert_eq!(fs.dirs, ["my key"]);
    feed(
        &mut s,
        &d,
        &mut fs,
        &av_frames(0, 5000, 30, 2000, true, true),
        0,
    );
    assert_eq!(fs.playlists[0].0, "my key/index.m3u8");
    assert_eq!(fs.closed[0], "my key/0.ts");
    assert!(fs
        .last_playlist()
        .contains("\nhttps://cdn.example/hls/my%20key/0.ts\n"));

    let cfg = HlsConfig {
        naming: Naming::Timestamp,
        slicing: Slicing::Aligned,
        ..config(2000, 30_000)
    };
    let mut s = HlsStream::new(cfg, "k", None, now(0)).unwrap();
    let mut fs = Fs::default();
    feed(
        &mut s,
        &d,
        &mut fs,
        &av_frames(1000, 8000, 30, 1000, true, true),
        0,
    );
    // Aligned: cuts at 2000, 4000, 6000, 8000; names are start times.
    assert_eq!(
        fs.closed,
        ["k-1000.ts", "k-2000.ts", "k-4000.ts", "k-6000.ts"]
    );

    let cfg = HlsConfig {
        naming: Naming::System,
        ..config(2000, 30_000)
    };
    let mut s = HlsStream::new(cfg, "k", None, now(0)).unwrap();
    let mut fs = Fs::default();
    feed(
        &mut s,
        &d,
        &mut fs,
        &av_frames(0, 5000, 30, 2000, true, true),
        0,
    );
    assert_eq!(fs.closed[0], "k-1700000000000.ts");
    assert_eq!(fs.closed[1], "k-1700000002000.ts");
}

#[test]
fn push_after_finish_and_missing_config() {
    let d = demuxer(false, false);
    let mut s = HlsStream::new(HlsConfig::default(), "x", None, now(0)).unwrap();
    assert_eq!(
        s.push(&video_frame(0, 0, true), &d, now(0)),
        Err(HlsError::MissingConfig(Track::Video))
    );
    s.finish(now(1)).unwrap();
    assert!(
        s.poll_op().is_none(),
        "nothing to write for an empty stream"
    );
    assert_eq!(s.push(&audio_frame(0), &d, now(2)), Err(HlsError::Finished));
}

#[test]
fn late_video_header_after_audio_only_start() {
    // Audio-only for 3 s (past the startup grace), then the video sequence
    // header and video from a keyframe: the first segment with video starts
    // at that keyframe, after a discontinuity.
    let mut d = demuxer(false, true);
    let mut s = HlsStream::new(config(2000, 60_000), "live", None, now(0)).unwrap();
    let mut fs = Fs::default();
    let frames = av_frames(0, 9000, 30, 1000, true, true);
    for f in &frames {
        if f.track == Track::Video {
            if f.dts < 3000 {
                continue;
            }
            if d.video_config().is_none() {
                d.push_video(0, hex(X264_HIGH_SEQ)).unwrap();
            }
        }
        s.push(f, &d, now(f.dts)).unwrap();
        fs.drain(&mut s);
        // Once video is configured, no audio-only segment may list video.
        for path in &fs.closed {
            let info = parse_ts(fs.segment(path));
            if info.pmt_pids.contains(&VIDEO_PID) {
                let first_video = info.pes.iter().find(|p| p.pid == VIDEO_PID);
                assert!(first_video.is_some_and(|p| p.random_access), "{path}");
            }
        }
    }
    s.finish(now(10_000)).unwrap();
    fs.drain(&mut s);
    let es = entries(fs.last_playlist());
    assert_eq!(es.iter().filter(|e| e.discontinuity).count(), 1);
    let (v, a) = check_segments(&fs, true);
    assert_eq!(a, frames.iter().filter(|f| f.track == Track::Audio).count());
    assert_eq!(
        v,
        frames
            .iter()
            .filter(|f| f.track == Track::Video && f.dts >= 3000)
            .count()
    );
    check_playlist_history(&fs);
}
