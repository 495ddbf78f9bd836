//! Low-Latency HLS in the core: parts cut inside segments (MPEG-TS and fMP4), their files
//! and listing (`#EXT-X-PART`, `INDEPENDENT`), the preload hint, the part window, the
//! server control tags and `#EXT-X-PROGRAM-DATE-TIME`, on synthetic frames.

mod support;

use std::collections::BTreeMap;

use ngx_rtmp::hls::playlist::{parse, render};
use ngx_rtmp::hls::{FragmentType, HlsConfig, HlsStream, LowLatency, PlaylistKind, RenditionBoard};
use ngx_rtmp::media::Frame;
use support::fileops::*;
use support::fmp4::parse_fragment;
use support::llhls::{self, LlPlaylist};
use support::media::*;
use support::ts::{parse_ts, ST_H264};

const PART_MS: u64 = 330;

fn config(kind: FragmentType, fragment_ms: u64) -> HlsConfig {
    HlsConfig {
        fragment_ms,
        playlist_length_ms: 20_000,
        fragment_type: kind,
        part_ms: Some(PART_MS),
        program_date_time: true,
        ..HlsConfig::default()
    }
}

/// Runs `frames` through a stream and finishes it.
fn run(cfg: HlsConfig, frames: &[Frame], video: bool, audio: bool) -> Fs {
    let d = demuxer(video, audio);
    let mut s = HlsStream::new(cfg, "live", None, now(0)).unwrap();
    let mut fs = Fs::default();
    feed(&mut s, &d, &mut fs, frames, 0);
    let end = frames.last().map_or(0, |f| f.dts) + 100;
    s.finish(now(end)).unwrap();
    fs.drain(&mut s);
    fs
}

/// The media playlists written, parsed, each with the part written next after it.
fn playlists(fs: &Fs) -> Vec<(LlPlaylist, Option<String>)> {
    let mut texts = fs.playlists.iter().filter(|(p, _)| p.ends_with(".m3u8"));
    let mut out = Vec::new();
    for (i, line) in fs.log.iter().enumerate() {
        if !line.starts_with("playlist live.m3u8") {
            continue;
        }
        let (_, text) = texts.next().unwrap();
        let next_part = fs.log[i + 1..]
            .iter()
            .find_map(|l| l.strip_prefix("part "))
            .map(str::to_string);
        out.push((llhls::parse(text), next_part));
    }
    assert!(texts.next().is_none());
    out
}

/// Whether a part's media starts with a keyframe, as the part's own bytes say.
fn starts_with_keyframe(kind: FragmentType, part: &[u8]) -> bool {
    match kind {
        FragmentType::MpegTs => {
            let ts = parse_ts(part);
            assert!(ts.error.is_none(), "{:?}", ts.error);
            // A part is readable on its own: it starts with PAT and PMT.
            assert!(ts.pmt_pid.is_some(), "part without PMT");
            let video = ts.pid_of(ST_H264).unwrap();
            let first = ts.pes.iter().find(|p| p.pid == video).unwrap();
            annexb_nal_types(&first.data).contains(&5)
        }
        FragmentType::Fmp4 => {
            let (_, runs) = parse_fragment(part);
            runs.iter().find(|r| r.track_id == 1).unwrap().sync[0]
        }
    }
}

/// The rules every Low-Latency playlist and its files keep.
fn check(kind: FragmentType, fs: &Fs) {
    let lists = playlists(fs);
    assert!(lists.len() > 20, "{} playlists", lists.len());
    let mut independent: BTreeMap<String, bool> = BTreeMap::new();
    for (p, next_part) in &lists {
        assert_eq!(p.part_target_ms, Some(PART_MS));
        let skip = 6 * p.target_s;
        assert_eq!(
            p.server_control.as_deref(),
            Some(
                format!("CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.990,CAN-SKIP-UNTIL={skip}.000")
                    .as_str()
            )
        );
        // Parts listed for the segments of the last three target durations, none before.
        let mut after = 0;
        for s in p.segments.iter().rev() {
            assert_eq!(
                s.parts.is_empty(),
                after >= 3 * p.target_s * 1000,
                "{}",
                s.uri
            );
            after += s.duration_ms;
        }
        let all = p
            .segments
            .iter()
            .flat_map(|s| &s.parts)
            .chain(&p.open_parts);
        for part in all {
            assert!(part.duration_ms <= PART_MS, "{part:?}");
            independent.insert(part.uri.clone(), part.independent);
        }
        for s in p.segments.iter().filter(|s| !s.parts.is_empty()) {
            let sum: u64 = s.parts.iter().map(|p| p.duration_ms).sum();
            assert_eq!(sum, s.duration_ms, "parts of {}", s.uri);
            // Every segment of these streams starts with a keyframe.
            assert!(s.parts[0].independent);
        }
        // Dates on every segment, following the timeline.
        for w in p.segments.windows(2) {
            let (a, b) = (w[0].pdt_ms.unwrap(), w[1].pdt_ms.unwrap());
            assert_eq!(b - a, w[0].duration_ms);
        }
        if let (Some(last), Some(open)) = (p.segments.last(), p.open_pdt_ms) {
            assert_eq!(open - last.pdt_ms.unwrap(), last.duration_ms);
        }
        // The hint names the part that appears next; none after the end.
        if p.endlist {
            assert_eq!(p.hint, None);
            assert!(p.open_parts.is_empty());
        } else {
            assert_eq!(p.hint.as_ref(), next_part.as_ref(), "hint");
        }
    }
    let last = &lists.last().unwrap().0;
    assert!(last.endlist);
    assert_eq!(last.segments[0].pdt_ms, Some(now(0).unix_ms));
    // Every part file's bytes: the segment is its parts concatenated.
    let mut checked = 0;
    for path in &fs.closed {
        let ext = kind.extension();
        let stem = path.strip_suffix(&format!(".{ext}")).unwrap();
        let parts: Vec<&[u8]> = (0..)
            .map_while(|i| fs.files.get(&format!("{stem}.{i}.{ext}")))
            .map(Vec::as_slice)
            .collect();
        assert!(!parts.is_empty(), "no parts of {path}");
        assert_eq!(parts.concat(), fs.segment(path), "{path}");
        checked += 1;
    }
    assert!(checked >= 5);
    // INDEPENDENT exactly where the part starts with a keyframe.
    let mut keyed = 0;
    for (uri, flag) in &independent {
        let part = fs.segment(uri);
        let key = starts_with_keyframe(kind, part);
        assert_eq!(key, *flag, "{uri}");
        keyed += usize::from(key);
    }
    assert!(keyed > 0 && keyed < independent.len());
}

#[test]
fn ts_parts_concatenate_to_segments_and_are_listed_true_to_the_media() {
    let frames = av_frames(0, 20_000, 30, 1000, true, true);
    let fs = run(config(FragmentType::MpegTs, 2000), &frames, true, true);
    check(FragmentType::MpegTs, &fs);
}

#[test]
fn fmp4_parts_are_fragments_and_concatenate_to_segments() {
    let frames = av_frames(0, 20_000, 30, 1000, true, true);
    let fs = run(config(FragmentType::Fmp4, 2000), &frames, true, true);
    check(FragmentType::Fmp4, &fs);
    // The map is written before the first playlist that lists a part.
    let text = fs
        .playlists
        .iter()
        .find(|(p, t)| p.ends_with(".m3u8") && t.contains("#EXT-X-PART:"))
        .unwrap();
    assert!(
        text.1.contains("#EXT-X-MAP:URI=\"live-init-0.mp4\""),
        "{}",
        text.1
    );
    let init = fs
        .log
        .iter()
        .position(|l| l == "init live-init-0.mp4")
        .unwrap();
    let listed = fs
        .log
        .iter()
        .position(|l| l.starts_with("playlist live.m3u8"));
    assert!(init < listed.unwrap());
}

#[test]
fn parts_that_start_at_a_keyframe_inside_a_segment_are_independent() {
    // 25 fps: parts of eight frames (320 ms); a keyframe every 640 ms starts every other part.
    let frames = av_frames(0, 12_000, 25, 640, true, false);
    let fs = run(config(FragmentType::MpegTs, 2000), &frames, true, false);
    let last = llhls::parse(fs.last_playlist());
    // Every part but the last of its segment holds eight frames.
    for s in last.segments.iter().filter(|s| !s.parts.is_empty()) {
        let (tail, full) = s.parts.split_last().unwrap();
        assert!(full.iter().all(|p| p.duration_ms == 320), "{s:?}");
        assert!(tail.duration_ms <= 320);
    }
    let parts: Vec<_> = last.segments.iter().flat_map(|s| &s.parts).collect();
    assert!(parts.len() > 12);
    let mid_segment_keyed = parts
        .iter()
        .filter(|p| p.independent && !p.uri.ends_with(".0.ts"))
        .count();
    assert!(mid_segment_keyed > 3, "{parts:?}");
    check(FragmentType::MpegTs, &fs);
}

#[test]
fn audio_only_parts_are_cut_on_audio_and_independent() {
    let frames = av_frames(0, 10_000, 30, 1000, false, true);
    let fs = run(config(FragmentType::MpegTs, 2000), &frames, false, true);
    let last = llhls::parse(fs.last_playlist());
    let parts: Vec<_> = last.segments.iter().flat_map(|s| &s.parts).collect();
    assert!(parts.len() > 6);
    assert!(parts
        .iter()
        .all(|p| p.independent && p.duration_ms <= PART_MS));
    for s in last.segments.iter().filter(|s| !s.parts.is_empty()) {
        let sum: u64 = s.parts.iter().map(|p| p.duration_ms).sum();
        assert_eq!(sum, s.duration_ms);
    }
}

#[test]
fn part_files_leave_with_the_window_and_the_stream() {
    let frames = av_frames(0, 30_000, 30, 1000, true, true);
    let fs = run(config(FragmentType::MpegTs, 2000), &frames, true, true);
    let written: Vec<&str> = fs
        .log
        .iter()
        .filter_map(|l| l.strip_prefix("part "))
        .collect();
    let deleted: Vec<&str> = fs.deletes.iter().map(|(p, _)| p.as_str()).collect();
    for p in &written {
        assert!(deleted.contains(p), "{p} never deleted");
    }
    // Parts of old segments go once they leave the part window, long before the stream ends.
    let first_delete = fs
        .log
        .iter()
        .position(|l| l == "delete live-0.0.ts")
        .unwrap();
    let end = fs
        .log
        .iter()
        .rposition(|l| l.starts_with("playlist"))
        .unwrap();
    assert!(first_delete < end / 2);
}

#[test]
fn without_low_latency_nothing_changes_and_dates_are_optional() {
    let frames = av_frames(0, 10_000, 30, 1000, true, true);
    let plain = HlsConfig {
        fragment_ms: 2000,
        ..HlsConfig::default()
    };
    let fs = run(plain.clone(), &frames, true, true);
    let text = fs.last_playlist();
    for tag in [
        "#EXT-X-PART",
        "#EXT-X-SERVER-CONTROL",
        "#EXT-X-PRELOAD-HINT",
        "DATE-TIME",
    ] {
        assert!(!text.contains(tag), "{tag} in {text}");
    }
    assert!(!fs.log.iter().any(|l| l.starts_with("part ")));
    let dated = HlsConfig {
        program_date_time: true,
        ..plain
    };
    let fs = run(dated, &frames, true, true);
    let p = llhls::parse(fs.last_playlist());
    assert!(p.segments.iter().all(|s| s.pdt_ms.is_some()));
    assert_eq!(p.segments[0].pdt_ms, Some(now(0).unix_ms));
    assert!(p.part_target_ms.is_none() && p.hint.is_none());
}

#[test]
fn a_republish_starts_a_new_dated_section() {
    let frames = av_frames(0, 8_000, 30, 1000, true, true);
    let cfg = config(FragmentType::MpegTs, 2000);
    let d = demuxer(true, true);
    let mut fs = Fs::default();
    let mut s = HlsStream::new(cfg.clone(), "live", None, now(0)).unwrap();
    feed(&mut s, &d, &mut fs, &frames, 0);
    s.finish(now(8_100)).unwrap();
    fs.drain(&mut s);
    let previous = fs.last_playlist().to_string();
    // The publisher comes back 60 s later with timestamps from 0 again.
    let mut s = HlsStream::new(cfg, "live", Some(&previous), now(60_000)).unwrap();
    assert!(s.resumed());
    feed(&mut s, &d, &mut fs, &frames, 60_000);
    s.finish(now(68_100)).unwrap();
    fs.drain(&mut s);
    let p = llhls::parse(fs.last_playlist());
    let restart = p.segments.iter().position(|s| s.discontinuity).unwrap();
    assert_eq!(p.segments[restart].pdt_ms, Some(now(60_000).unix_ms));
    assert_eq!(p.segments[0].pdt_ms, Some(now(0).unix_ms));
    // Parts of the previous publish's segments are still known, so they leave as the rest.
    let dels: Vec<&str> = fs.deletes.iter().map(|(p, _)| p.as_str()).collect();
    assert!(dels.contains(&"live-0.0.ts"));
}

#[test]
fn low_latency_playlists_parse_back() {
    let frames = av_frames(0, 6_000, 30, 1000, true, true);
    let fs = run(config(FragmentType::MpegTs, 2000), &frames, true, true);
    let text = fs.last_playlist();
    let mut p = parse(text, PlaylistKind::Live).unwrap();
    assert!(p.entries.iter().any(|e| !e.parts.is_empty()));
    assert!(p.entries.iter().all(|e| e.program_date_time_ms.is_some()));
    p.low_latency = Some(LowLatency {
        part_target_ms: PART_MS,
        ..LowLatency::default()
    });
    for e in &mut p.entries {
        e.id = e.sequence;
        e.independent = true;
    }
    assert_eq!(render(&p), text);
}

#[test]
fn rendition_reports_say_what_the_other_playlist_says() {
    let board = RenditionBoard::new();
    let d = demuxer(true, true);
    let cfg = config(FragmentType::MpegTs, 2000);
    let mut a = HlsStream::new(cfg.clone(), "cam_t0", None, now(0)).unwrap();
    let mut b = HlsStream::new(cfg, "cam_t1", None, now(0)).unwrap();
    a.report_to(board.clone());
    b.report_to(board);
    let mut fs = [Fs::default(), Fs::default()];
    let mut streams = [a, b];
    let uris = ["cam_t0.m3u8", "cam_t1.m3u8"];
    let mut reports = 0;
    for f in av_frames(0, 12_000, 30, 1000, true, true) {
        for me in 0..2 {
            let other = 1 - me;
            let before = fs[me].playlists.len();
            streams[me].push(&f, &d, now(f.dts)).unwrap();
            fs[me].drain(&mut streams[me]);
            if fs[me].playlists.len() == before {
                continue;
            }
            let mine = llhls::parse(fs[me].last_playlist());
            let theirs = fs[other].playlists.last().map(|(_, t)| llhls::parse(t));
            match theirs.and_then(|t| t.last_part()) {
                Some((msn, part)) => {
                    assert_eq!(mine.reports.len(), 1);
                    let r = &mine.reports[0];
                    assert_eq!(r.uri, uris[other]);
                    assert_eq!((r.last_msn, r.last_part), (msn, part));
                    reports += 1;
                }
                None => assert!(mine.reports.is_empty()),
            }
        }
    }
    assert!(reports > 50, "{reports}");
}

#[test]
fn nested_parts_live_next_to_their_segment() {
    let frames = av_frames(0, 6_000, 30, 1000, true, true);
    let cfg = HlsConfig {
        nested: true,
        base_url: "http://cdn/hls/".into(),
        ..config(FragmentType::Fmp4, 2000)
    };
    let fs = run(cfg, &frames, true, true);
    let p = llhls::parse(fs.last_playlist());
    let seg = p.segments.iter().find(|s| !s.parts.is_empty()).unwrap();
    let id = seg.uri.strip_prefix("http://cdn/hls/live/").unwrap();
    let id = id.strip_suffix(".m4s").unwrap();
    for (i, part) in seg.parts.iter().enumerate() {
        assert_eq!(part.uri, format!("http://cdn/hls/live/{id}.{i}.m4s"));
        assert!(fs.files.contains_key(&format!("live/{id}.{i}.m4s")));
    }
}
