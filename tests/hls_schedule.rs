//! Segments that line up: a follower `HlsStream` cuts where its leader did and numbers its
//! segments the same, whatever its own frames' GOP; it starts only at a scheduled cut, cuts
//! there even without a keyframe, and restarts its playlist at the next cut after a hole.

mod support;

use std::collections::BTreeMap;

use ngx_rtmp::hls::{CutSchedule, HlsConfig, HlsStream};
use ngx_rtmp::media::{Frame, Track};
use support::fileops::{feed, Fs};
use support::m3u8::parse_m3u8;
use support::media::*;

fn stream(name: &str) -> HlsStream {
    let cfg = HlsConfig {
        fragment_ms: 3_000,
        playlist_length_ms: 600_000,
        ..HlsConfig::default()
    };
    HlsStream::new(cfg, name, None, now(0)).unwrap()
}

/// The source: 30 fps with B-frames (composition offset 67 ms), a keyframe every 2 s.
fn source(dur: u64) -> Vec<Frame> {
    av_frames(0, dur, 30, 2_000, true, true)
}

/// An encoder's output of `src`: no B-frames (PTS = DTS = the source's PTS), keyframes where
/// `key` says, only frames `keep` accepts.
fn rendition(
    src: &[Frame],
    key: impl Fn(&Frame) -> bool,
    keep: impl Fn(&Frame) -> bool,
) -> Vec<Frame> {
    let mut v: Vec<Frame> = src
        .iter()
        .filter(|f| keep(f))
        .map(|f| match f.track {
            Track::Video => video_frame(f.pts, 0, key(f)),
            Track::Audio => audio_frame(f.pts),
        })
        .collect();
    v.sort_by_key(|f| (f.dts, f.track == Track::Video));
    v
}

/// (sequence → EXTINF ms), target, media sequence, of the last playlist written.
fn listed(fs: &Fs) -> (BTreeMap<u64, u64>, Option<u64>, u64) {
    let p = parse_m3u8(fs.last_playlist());
    assert!(p.errors.is_empty(), "{:?}", p.errors);
    (
        p.entries.iter().map(|e| (e.seq, e.duration_ms)).collect(),
        p.target,
        p.media_sequence,
    )
}

fn run(leader_frames: &[Frame], follower_frames: &[Frame]) -> (Fs, Fs, HlsStream) {
    let d = demuxer(true, true);
    let schedule = CutSchedule::new();
    let mut leader = stream("src");
    leader.lead(schedule.clone());
    let mut follower = stream("r");
    follower.follow(schedule.clone());
    let (mut lfs, mut ffs) = (Fs::default(), Fs::default());
    feed(&mut leader, &d, &mut lfs, leader_frames, 0);
    feed(&mut follower, &d, &mut ffs, follower_frames, 0);
    leader.finish(now(100_000)).unwrap();
    follower.finish(now(100_000)).unwrap();
    lfs.drain(&mut leader);
    ffs.drain(&mut follower);
    (lfs, ffs, follower)
}

fn assert_aligned(l: &BTreeMap<u64, u64>, f: &BTreeMap<u64, u64>) {
    let last = *l.keys().last().unwrap();
    for (seq, d) in f {
        let ld = l
            .get(seq)
            .unwrap_or_else(|| panic!("{seq} not in the leader: {l:?}"));
        if *seq < last {
            assert!(d.abs_diff(*ld) <= 34, "segment {seq}: {d} vs {ld}");
        }
    }
}

#[test]
fn a_late_follower_starts_at_the_next_cut_and_matches_every_segment() {
    let src = source(30_000);
    // The encoder joined at the GOP of 6 s, which is no cut (cuts every 4 s).
    let r = rendition(&src, |f| f.keyframe, |f| f.pts >= 6_067);
    let (lfs, ffs, follower) = run(&src, &r);
    let (l, lt, _) = listed(&lfs);
    let (f, ft, fseq) = listed(&ffs);
    assert_eq!(lt, ft, "TARGETDURATION");
    assert_eq!(fseq, 2, "starts at the cut of 8 s: {f:?}");
    assert_eq!(
        f.keys().copied().collect::<Vec<_>>(),
        (2..=7).collect::<Vec<_>>()
    );
    assert_aligned(&l, &f);
    assert!(follower.dropped_frames() > 0);
}

#[test]
fn a_follower_cuts_at_the_schedule_even_without_a_keyframe_there() {
    let src = source(30_000);
    // Keyframes every 3 s instead: only some fall on cuts.
    let r = rendition(&src, |f| f.dts % 3_000 == 0, |_| true);
    let (lfs, ffs, _) = run(&src, &r);
    let (l, _, _) = listed(&lfs);
    let (f, _, _) = listed(&ffs);
    assert_eq!(f.keys().next(), Some(&0));
    assert_eq!(f.len(), l.len());
    assert_aligned(&l, &f);
    // Segments not starting at a keyframe: the playlist does not claim independence.
    assert!(!parse_m3u8(ffs.last_playlist()).independent);
}

#[test]
fn a_follower_with_a_hole_restarts_its_playlist_at_a_later_cut() {
    let src = source(30_000);
    // The encoder died at 8.5 s and a new one started at 14.5 s.
    let r = rendition(&src, |f| f.keyframe, |f| f.pts < 8_500 || f.pts >= 14_567);
    let (lfs, ffs, _) = run(&src, &r);
    let (l, lt, _) = listed(&lfs);
    let (f, ft, fseq) = listed(&ffs);
    assert_eq!(lt, ft);
    // Numbers 0..=2 were listed, then the hole; the playlist goes on from the cut of 16 s.
    assert_eq!(fseq, 4, "{f:?}");
    assert_aligned(&l, &f);
    assert!(ffs
        .playlists
        .iter()
        .any(|(_, p)| parse_m3u8(p).media_sequence == 0));
}

#[test]
fn a_new_encoder_configuration_waits_for_the_next_cut() {
    let src = source(30_000);
    let r = rendition(&src, |f| f.keyframe, |_| true);
    let d = demuxer(true, true);
    // The rendition's encoder restarts at 10 s with another configuration.
    let mut d2 = demuxer(true, true);
    let mut restarted = false;
    let schedule = CutSchedule::new();
    let mut leader = stream("src");
    leader.lead(schedule.clone());
    let mut follower = stream("r");
    follower.follow(schedule.clone());
    let (mut lfs, mut ffs) = (Fs::default(), Fs::default());
    feed(&mut leader, &d, &mut lfs, &src, 0);
    for f in &r {
        // A keyframe at 10 s (no cut) is the first of the new configuration.
        if f.pts >= 10_067 && !restarted {
            d2.push_video(f.dts as u32, hex(X264_BASELINE_SEQ)).unwrap();
            restarted = true;
        }
        follower.push(f, &d2, now(f.dts)).unwrap();
        ffs.drain(&mut follower);
    }
    leader.finish(now(100_000)).unwrap();
    follower.finish(now(100_000)).unwrap();
    lfs.drain(&mut leader);
    ffs.drain(&mut follower);
    let (l, _, _) = listed(&lfs);
    let (f, _, _) = listed(&ffs);
    assert_eq!(f.keys().collect::<Vec<_>>(), l.keys().collect::<Vec<_>>());
    assert_aligned(&l, &f);
    // The configuration change shows at the cut after it (12 s, sequence 3).
    let p = parse_m3u8(ffs.last_playlist());
    let disc: Vec<u64> = p
        .entries
        .iter()
        .filter(|e| e.discontinuity)
        .map(|e| e.seq)
        .collect();
    assert_eq!(disc, [3]);
}
