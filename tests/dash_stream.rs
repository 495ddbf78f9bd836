//! The DASH core on synthetic frames: our fMP4 boxes parsed back with a small box walker
//! (sizes, offsets, timestamps, sample flags), the cut rules, the window, and the MPD.

mod support;

use std::collections::BTreeMap;

use ngx_rtmp::dash::mp4::{self, TrackConfig};
use ngx_rtmp::dash::{DashConfig, DashStream};
use ngx_rtmp::files::FileOp;
use ngx_rtmp::media::{Demuxer, Frame};
use support::media::{av_frames, demuxer, now, open_gop_video, video_frame};

// ---- box walker ----

#[derive(Debug, Clone)]
struct Mp4Box<'a> {
    kind: String,
    /// Offset of the box's first byte in the walked buffer.
    start: usize,
    body: &'a [u8],
}

fn walk(buf: &[u8], base: usize) -> Vec<Mp4Box<'_>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        assert!(pos + 8 <= buf.len(), "truncated box header at {pos}");
        let size = u32::from_be_bytes(buf[pos..pos + 4].try_into().unwrap()) as usize;
        assert!(
            size >= 8 && pos + size <= buf.len(),
            "bad box size {size} at {pos}"
        );
        out.push(Mp4Box {
            kind: String::from_utf8_lossy(&buf[pos + 4..pos + 8]).into_owned(),
            start: base + pos,
            body: &buf[pos + 8..pos + size],
        });
        pos += size;
    }
    out
}

fn kinds(boxes: &[Mp4Box]) -> Vec<String> {
    boxes.iter().map(|b| b.kind.clone()).collect()
}

fn child<'a>(b: &Mp4Box<'a>, kind: &str, skip: usize) -> Mp4Box<'a> {
    walk(&b.body[skip..], b.start + 8 + skip)
        .into_iter()
        .find(|c| c.kind == kind)
        .unwrap_or_else(|| panic!("no {kind} in {}", b.kind))
}

fn path<'a>(top: &[Mp4Box<'a>], kinds: &[&str]) -> Mp4Box<'a> {
    let mut b = top.iter().find(|b| b.kind == kinds[0]).unwrap().clone();
    for k in &kinds[1..] {
        // stsd has a full-box header and an entry count before its children.
        let skip = if b.kind == "stsd" || b.kind == "dref" {
            8
        } else {
            0
        };
        b = child(&b, k, skip);
    }
    b
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().unwrap())
}

/// A parsed media segment.
#[derive(Debug)]
struct Segment {
    sequence: u32,
    base: u64,
    durations: Vec<u32>,
    sizes: Vec<u32>,
    flags: Vec<u32>,
    ctos: Vec<u32>,
}

fn parse_segment(buf: &[u8]) -> Segment {
    let top = walk(buf, 0);
    assert_eq!(kinds(&top), ["styp", "moof", "mdat"]);
    let moof = &top[1];
    let mdat = &top[2];
    let mfhd = child(moof, "mfhd", 0);
    let tfhd = path(&top, &["moof", "traf", "tfhd"]);
    assert_eq!(
        u32_at(tfhd.body, 0) & 0xff_ffff,
        0x02_0000,
        "default-base-is-moof"
    );
    assert_eq!(u32_at(tfhd.body, 4), mp4::TRACK_ID);
    let tfdt = path(&top, &["moof", "traf", "tfdt"]);
    assert_eq!(tfdt.body[0], 1, "tfdt version 1");
    let trun = path(&top, &["moof", "traf", "trun"]);
    let flags = u32_at(trun.body, 0) & 0xff_ffff;
    let count = u32_at(trun.body, 4) as usize;
    let data_offset = u32_at(trun.body, 8) as usize;
    // The first sample is the first byte of the mdat payload.
    assert_eq!(moof.start + data_offset, mdat.start + 8);
    let cto = flags & 0x800 != 0;
    let mut seg = Segment {
        sequence: u32_at(mfhd.body, 4),
        base: u64_at(tfdt.body, 4),
        durations: vec![],
        sizes: vec![],
        flags: vec![],
        ctos: vec![],
    };
    let mut at = 12;
    for _ in 0..count {
        seg.durations.push(u32_at(trun.body, at));
        seg.sizes.push(u32_at(trun.body, at + 4));
        seg.flags.push(u32_at(trun.body, at + 8));
        at += 12;
        if cto {
            seg.ctos.push(u32_at(trun.body, at));
            at += 4;
        }
    }
    assert_eq!(at, trun.body.len(), "trun size");
    let total: u32 = seg.sizes.iter().sum();
    assert_eq!(
        total as usize,
        mdat.body.len(),
        "sample sizes fill the mdat"
    );
    seg
}

// ---- executor ----

#[derive(Default)]
struct Files {
    files: BTreeMap<String, Vec<u8>>,
    open: Option<String>,
    closed: Vec<String>,
    mpds: Vec<String>,
    deletes: Vec<(String, u64)>,
    dirs: Vec<String>,
}

impl Files {
    fn drain(&mut self, s: &mut DashStream) {
        while let Some(op) = s.poll_op() {
            match op {
                FileOp::CreateDir { path } => self.dirs.push(path.to_string()),
                FileOp::OpenSegment { path } => {
                    assert!(self.open.is_none());
                    self.files.insert(path.to_string(), Vec::new());
                    self.open = Some(path.to_string());
                }
                FileOp::AppendSegment { data } => {
                    let p = self.open.clone().expect("append without open");
                    self.files.get_mut(&p).unwrap().extend_from_slice(&data);
                }
                FileOp::CloseSegment { path } => {
                    assert_eq!(self.open.take().as_deref(), Some(path.as_str()));
                    self.closed.push(path.to_string());
                }
                FileOp::WritePlaylist { path, contents } => {
                    if path.as_str().ends_with(".mpd") {
                        let text = String::from_utf8(contents.to_vec()).unwrap();
                        // Templates are relative to the MPD's directory.
                        let dir = match path.as_str().rsplit_once('/') {
                            Some((d, _)) => format!("{d}/"),
                            None => String::new(),
                        };
                        // Everything the MPD names exists already.
                        for (media, init) in templates(&text) {
                            let init = format!("{dir}{init}");
                            assert!(self.files.contains_key(&init), "{init} missing");
                            for t in timeline_times(&text, &media) {
                                let f = format!("{dir}{}", media.replace("$Time$", &t.to_string()));
                                assert!(self.closed.contains(&f), "{f} listed before closed");
                            }
                        }
                        self.mpds.push(text);
                    }
                    self.files.insert(path.to_string(), contents.to_vec());
                }
                FileOp::Delete {
                    path,
                    not_before_ms,
                } => self.deletes.push((path.to_string(), not_before_ms)),
                FileOp::CancelDelete { .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    }
}

fn attr<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let i = text.find(&format!("{name}=\""))? + name.len() + 2;
    Some(&text[i..i + text[i..].find('"')?])
}

/// (media, initialization) of each SegmentTemplate.
fn templates(mpd: &str) -> Vec<(String, String)> {
    mpd.split("<SegmentTemplate")
        .skip(1)
        .map(|s| {
            (
                attr(s, "media").unwrap().to_owned(),
                attr(s, "initialization").unwrap().to_owned(),
            )
        })
        .collect()
}

/// (t, d) of the timeline of the adaptation set whose template is `media`.
fn timeline(mpd: &str, media: &str) -> Vec<(u64, u64)> {
    let set = mpd
        .split("<AdaptationSet")
        .find(|s| s.contains(&format!("media=\"{media}\"")))
        .unwrap();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for s in set.split("<S ").skip(1) {
        let d: u64 = attr(s, "d").unwrap().parse().unwrap();
        let t = match attr(s.split("/>").next().unwrap(), "t") {
            Some(t) => t.parse().unwrap(),
            None => out.last().map(|(t, d)| t + d).unwrap(),
        };
        out.push((t, d));
    }
    out
}

fn timeline_times(mpd: &str, media: &str) -> Vec<u64> {
    timeline(mpd, media).into_iter().map(|(t, _)| t).collect()
}

fn config(fragment_ms: u64, playlist_ms: u64) -> DashConfig {
    DashConfig {
        fragment_ms,
        playlist_length_ms: playlist_ms,
        ..DashConfig::default()
    }
}

fn run(cfg: DashConfig, d: &Demuxer, frames: &[Frame]) -> (DashStream, Files) {
    let mut s = DashStream::new(cfg, "cam", now(0)).unwrap();
    let mut fs = Files::default();
    fs.drain(&mut s);
    for f in frames {
        s.push(f, d, now(f.dts)).unwrap();
        fs.drain(&mut s);
    }
    (s, fs)
}

// ---- tests ----

#[test]
fn init_segments_parse_back() {
    let d = demuxer(true, true);
    let video = TrackConfig::video(d.video_config().unwrap());
    let init = mp4::init_segment(&video);
    let top = walk(&init, 0);
    assert_eq!(kinds(&top), ["ftyp", "moov"]);
    let moov = walk(top[1].body, 8);
    assert_eq!(kinds(&moov), ["mvhd", "trak", "mvex"]);
    let mdhd = path(&top, &["moov", "trak", "mdia", "mdhd"]);
    assert_eq!(u32_at(mdhd.body, 12), 90_000);
    let hdlr = path(&top, &["moov", "trak", "mdia", "hdlr"]);
    assert_eq!(&hdlr.body[8..12], b"vide");
    let avc1 = path(
        &top,
        &["moov", "trak", "mdia", "minf", "stbl", "stsd", "avc1"],
    );
    assert_eq!(u16::from_be_bytes([avc1.body[24], avc1.body[25]]), 320);
    assert_eq!(u16::from_be_bytes([avc1.body[26], avc1.body[27]]), 240);
    let avcc = child(&avc1, "avcC", 78);
    let cfg = d.video_config().unwrap();
    assert_eq!(
        &avcc.body[..4],
        &[1, cfg.profile, cfg.compatibility, cfg.level]
    );
    assert_eq!(avcc.body[4], 0xff, "4-byte NAL lengths");
    assert_eq!(avcc.body[5], 0xe1, "one SPS");
    let sps_len = u16::from_be_bytes([avcc.body[6], avcc.body[7]]) as usize;
    assert_eq!(&avcc.body[8..8 + sps_len], &cfg.sps[0][..]);
    assert_eq!(video.codecs(), "avc1.64000d");
    let trex = path(&top, &["moov", "mvex", "trex"]);
    assert_eq!(u32_at(trex.body, 4), mp4::TRACK_ID);
    for stbl_child in ["stts", "stsc", "stsz", "stco"] {
        path(&top, &["moov", "trak", "mdia", "minf", "stbl", stbl_child]);
    }

    let audio = TrackConfig::audio(d.audio_config().unwrap());
    let init = mp4::init_segment(&audio);
    let top = walk(&init, 0);
    let mdhd = path(&top, &["moov", "trak", "mdia", "mdhd"]);
    assert_eq!(u32_at(mdhd.body, 12), 44_100);
    let mp4a = path(
        &top,
        &["moov", "trak", "mdia", "minf", "stbl", "stsd", "mp4a"],
    );
    assert_eq!(
        u16::from_be_bytes([mp4a.body[16], mp4a.body[17]]),
        1,
        "mono"
    );
    assert_eq!(u32_at(mp4a.body, 24) >> 16, 44_100);
    let esds = child(&mp4a, "esds", 28);
    // AAC LC, 44.1 kHz (index 4), mono: 0x12 0x08, inside the DecoderSpecificInfo.
    assert!(esds
        .body
        .windows(6)
        .any(|w| w == [0x05, 0x80, 0x80, 0x80, 0x02, 0x12]));
    assert_eq!(audio.codecs(), "mp4a.40.2");
}

#[test]
fn fragments_cut_at_keyframes_with_exact_timestamps() {
    let d = demuxer(true, true);
    // 10 s at 30 fps, keyframe every 2 s; fragment 3 s: cuts at 4 s and 8 s.
    let frames = av_frames(0, 10_000, 30, 2_000, true, true);
    let (mut s, mut fs) = run(config(3_000, 60_000), &d, &frames);
    s.finish(now(10_000)).unwrap();
    fs.drain(&mut s);
    // Audio segments start at the first audio frame after the cut (its own timeline).
    assert_eq!(
        fs.closed,
        [
            "cam-0.m4v",
            "cam-0.m4a",
            "cam-4000.m4v",
            "cam-4017.m4a",
            "cam-8000.m4v",
            "cam-8011.m4a"
        ]
    );
    assert!(fs.files.contains_key("cam-init.m4v") && fs.files.contains_key("cam-init.m4a"));

    let mut video_frames = 0;
    let mut next_base = 0;
    for (i, name) in ["cam-0.m4v", "cam-4000.m4v", "cam-8000.m4v"]
        .iter()
        .enumerate()
    {
        let seg = parse_segment(&fs.files[*name]);
        assert_eq!(seg.sequence, i as u32 + 1);
        assert_eq!(
            seg.base, next_base,
            "{name}: tfdt continues the previous segment"
        );
        assert_eq!(
            seg.flags[0],
            mp4::FLAGS_SYNC,
            "{name} starts with a keyframe"
        );
        // Keyframes every 2 s: one more inside each 4 s fragment.
        let syncs = seg.flags.iter().filter(|&&f| f == mp4::FLAGS_SYNC).count();
        assert_eq!(syncs, if i < 2 { 2 } else { 1 });
        assert_eq!(
            seg.flags.len() - syncs,
            seg.flags
                .iter()
                .filter(|&&f| f == mp4::FLAGS_NON_SYNC)
                .count()
        );
        assert!(seg.ctos.iter().all(|&c| c == 67 * 90));
        next_base = seg.base + seg.durations.iter().map(|&d| u64::from(d)).sum::<u64>();
        video_frames += seg.sizes.len();
    }
    assert_eq!(video_frames, 300);
    // The last video segment ends one frame interval after its last frame.
    assert_eq!(next_base, 9_966 * 90 + 33 * 90);

    let mut audio_frames = 0;
    let mut next_base = 0;
    for name in ["cam-0.m4a", "cam-4017.m4a", "cam-8011.m4a"] {
        let seg = parse_segment(&fs.files[name]);
        assert_eq!(seg.base, next_base, "{name}: audio is laid end to end");
        assert!(seg.durations.iter().all(|&d| d == 1024));
        assert!(seg.flags.iter().all(|&f| f == mp4::FLAGS_SYNC));
        assert!(seg.ctos.is_empty());
        next_base = seg.base + 1024 * seg.sizes.len() as u64;
        audio_frames += seg.sizes.len();
    }
    assert_eq!(audio_frames, 431);

    // Live MPDs while publishing, a static one at the end.
    assert_eq!(fs.mpds.len(), 3);
    assert!(fs.mpds[0].contains("type=\"dynamic\""));
    assert!(fs.mpds[0].contains("availabilityStartTime=\"2023-11-14T22:13:20.000Z\""));
    let last = fs.mpds.last().unwrap();
    assert!(last.contains("type=\"static\""), "{last}");
    assert_eq!(
        timeline(last, "cam-$Time$.m4v"),
        [(0, 4000), (4000, 4000), (8000, 1999)]
    );
    let audio = timeline(last, "cam-$Time$.m4a");
    assert_eq!(audio.len(), 3);
    for w in audio.windows(2) {
        assert_eq!(w[0].0 + w[0].1, w[1].0, "audio timeline is contiguous");
    }
    assert!(last.contains("codecs=\"avc1.64000D\""));
    assert!(last.contains("codecs=\"mp4a.40.2\""));
    assert!(last.contains("initialization=\"cam-init.m4v\""));
}

#[test]
fn open_gops_cut_at_every_keyframe_the_fragment_asks_for() {
    // 2 s GOPs with two leading pictures per keyframe, fragment 2 s: each keyframe is decoded
    // 67 ms before the GOP's 2 s are shown, and still cuts.
    let d = demuxer(true, true);
    let mut frames = open_gop_video(30 * 20, 60);
    frames.extend(av_frames(0, 20_000, 30, 2_000, false, true));
    frames.sort_by_key(|f| f.dts);
    let (mut s, mut fs) = run(config(2_000, 60_000), &d, &frames);
    s.finish(now(20_000)).unwrap();
    fs.drain(&mut s);
    let video: Vec<&str> = fs
        .closed
        .iter()
        .map(String::as_str)
        .filter(|n| n.ends_with(".m4v"))
        .collect();
    let expected: Vec<String> = std::iter::once(0)
        .chain((1..=10).map(|k| (60 * k - 2) * 1000 / 30))
        .map(|t| format!("cam-{t}.m4v"))
        .collect();
    assert_eq!(video, expected);
}

#[test]
fn window_slides_and_cleanup_deletes() {
    let d = demuxer(true, true);
    let frames = av_frames(0, 40_000, 25, 2_000, true, true);
    let (mut s, mut fs) = run(config(2_000, 10_000), &d, &frames);
    let live = fs.mpds.last().unwrap().clone();
    let v = timeline(&live, "cam-$Time$.m4v");
    let listed: u64 = v.iter().map(|(_, d)| d).sum();
    assert!((10_000..12_000).contains(&listed), "{v:?}");
    assert!(live.contains("timeShiftBufferDepth=\"PT10"), "{live}");
    assert!(live.contains("minimumUpdatePeriod=\"PT2S\""));
    // Segments that left the window are deleted after the playlist length, not at once.
    assert!(fs.deletes.iter().any(|(p, _)| p == "cam-0.m4v"));
    assert!(fs.deletes.iter().any(|(p, _)| p == "cam-0.m4a"));
    let (_, at) = fs.deletes.iter().find(|(p, _)| p == "cam-0.m4v").unwrap();
    assert!(*at >= 12_000 + 10_000);
    assert!(!fs
        .deletes
        .iter()
        .any(|(p, _)| p.contains("init") || p.ends_with(".mpd")));
    s.finish(now(40_000)).unwrap();
    fs.drain(&mut s);
    for p in ["cam-init.m4v", "cam-init.m4a", "cam.mpd", "cam-38000.m4v"] {
        assert!(fs.deletes.iter().any(|(q, _)| q == p), "{p} not deleted");
    }
    assert!(s.push(&frames[0], &d, now(40_001)).is_err());
}

#[test]
fn audio_only_is_cut_by_time_and_nested_layout() {
    let d = demuxer(false, true);
    let frames = av_frames(1_000, 12_000, 30, 2_000, false, true);
    let cfg = DashConfig {
        nested: true,
        ..config(5_000, 30_000)
    };
    let (mut s, mut fs) = run(cfg, &d, &frames);
    s.finish(now(13_000)).unwrap();
    fs.drain(&mut s);
    assert_eq!(fs.dirs, ["cam"]);
    assert!(fs.files.contains_key("cam/index.mpd"));
    assert!(fs.files.contains_key("cam/init.m4a"));
    assert!(!fs.files.keys().any(|k| k.ends_with(".m4v")));
    let mpd = fs.mpds.last().unwrap();
    assert!(!mpd.contains("video/mp4"));
    let tl = timeline(mpd, "$Time$.m4a");
    assert_eq!(tl.len(), 3, "{tl:?}");
    assert_eq!(tl[0].0, 1_000);
    for (t, d) in &tl[..2] {
        assert!((5_000..5_100).contains(d), "{t} {d}");
    }
}

#[test]
fn leading_delta_frames_dropped_and_jumps_rebased() {
    let d = demuxer(true, false);
    let mut frames = vec![video_frame(0, 0, false), video_frame(40, 0, false)];
    for i in 0..100u64 {
        frames.push(video_frame(80 + i * 40, 0, i % 50 == 0));
    }
    // The encoder restarts: timestamps back to 0.
    for i in 0..100u64 {
        frames.push(video_frame(i * 40, 0, i % 50 == 0));
    }
    let (mut s, mut fs) = run(config(2_000, 60_000), &d, &frames);
    s.finish(now(9_000)).unwrap();
    fs.drain(&mut s);
    assert_eq!(s.dropped_frames(), 2);
    let tl = timeline(fs.mpds.last().unwrap(), "cam-$Time$.m4v");
    assert_eq!(tl[0].0, 80);
    for w in tl.windows(2) {
        assert_eq!(
            w[0].0 + w[0].1,
            w[1].0,
            "timeline continues across the jump: {tl:?}"
        );
    }
    let frames_out: usize = fs
        .closed
        .iter()
        .map(|p| parse_segment(&fs.files[p]).sizes.len())
        .sum();
    assert_eq!(frames_out, 200);
}

#[test]
fn bad_names_are_refused() {
    for name in ["", "../x", "a/b", ".hidden"] {
        assert!(DashStream::new(DashConfig::default(), name, now(0)).is_err());
    }
    let cfg = DashConfig {
        fragment_ms: 0,
        ..DashConfig::default()
    };
    assert!(DashStream::new(cfg, "ok", now(0)).is_err());
}
