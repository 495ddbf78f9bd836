use super::*;

/// x264's sequence header (High, 320x240) and FFmpeg's AAC one (LC, 44.1 kHz, mono), as
/// FLV tag bodies.
const AVC_SEQ: &str = "17000000000164000dffe100196764000dacd94141fb0110000003001000000303c0f142996001000668ebe3cb22c0fdf8f800";
const AVC_SEQ_BASELINE: &str =
    "17000000000142c00dffe100186742c00dd90141fb0110000003001000000303c0f142a48001000568cb83cb20";
const AAC_SEQ: &str = "af00120856e500";

fn hex(s: &str) -> Bytes {
    Bytes::from(
        (0..s.len() / 2)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
            .collect::<Vec<u8>>(),
    )
}

fn demuxer(video: bool, audio: bool) -> Demuxer {
    let mut d = Demuxer::new();
    if video {
        d.push_video(0, hex(AVC_SEQ)).unwrap();
    }
    if audio {
        d.push_audio(0, hex(AAC_SEQ)).unwrap();
    }
    d
}

fn video(dts: u64, key: bool) -> Frame {
    Frame {
        track: Track::Video,
        track_id: 0,
        dts,
        pts: dts + 66,
        keyframe: key,
        data: Bytes::from(vec![0u8; 100]),
    }
}

fn audio(dts: u64) -> Frame {
    Frame {
        track: Track::Audio,
        track_id: 0,
        dts,
        pts: dts,
        keyframe: true,
        data: Bytes::from(vec![1u8; 10]),
    }
}

/// Top-level boxes: (type, size).
fn boxes(b: &[u8]) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + 8 <= b.len() {
        let size = u32::from_be_bytes(b[pos..pos + 4].try_into().unwrap()) as usize;
        out.push((
            String::from_utf8_lossy(&b[pos + 4..pos + 8]).into_owned(),
            size,
        ));
        assert!(size >= 8);
        pos += size;
    }
    assert_eq!(pos, b.len(), "boxes end at the end");
    out
}

fn kinds(b: &[u8]) -> Vec<String> {
    boxes(b).into_iter().map(|(k, _)| k).collect()
}

/// 30 fps video with a keyframe every `gop` frames and AAC at 44.1 kHz, for `ms`.
fn av(ms: u64, gop: u64) -> Vec<Frame> {
    let mut frames = Vec::new();
    let (mut v, mut a) = (0u64, 0u64);
    loop {
        let vt = v * 100 / 3;
        let at = a * 1024 * 1000 / 44_100;
        if vt >= ms && at >= ms {
            break;
        }
        if vt <= at {
            frames.push(video(vt, v % gop == 0));
            v += 1;
        } else {
            frames.push(audio(at));
            a += 1;
        }
    }
    frames
}

fn write_all(w: &mut Mp4Writer, d: &Demuxer, frames: &[Frame]) -> Vec<Bytes> {
    let mut pieces: Vec<Bytes> = frames
        .iter()
        .filter_map(|f| w.push(f, d).unwrap())
        .collect();
    pieces.push(w.finish());
    pieces
}

#[test]
fn nothing_pushed_is_an_empty_file() {
    let mut w = Mp4Writer::new(1000, Tracks::ALL);
    assert!(w.finish().is_empty());
    assert_eq!(w.bytes_written(), 0);
    assert_eq!(
        w.push(&audio(0), &demuxer(false, true)),
        Err(Mp4WriteError::Finished)
    );
}

#[test]
fn init_then_a_fragment_per_keyframe_interval_then_the_index() {
    let d = demuxer(true, true);
    let mut w = Mp4Writer::new(1000, Tracks::ALL);
    // Keyframes every 1.5 s over 6 s: cuts at 1.5, 3, 4.5.
    let pieces = write_all(&mut w, &d, &av(6000, 45));
    assert_eq!(pieces.len(), 4);
    assert_eq!(kinds(&pieces[0]), ["ftyp", "moov", "moof", "mdat"]);
    assert_eq!(kinds(&pieces[1]), ["moof", "mdat"]);
    assert_eq!(kinds(&pieces[2]), ["moof", "mdat"]);
    assert_eq!(kinds(&pieces[3]), ["moof", "mdat", "mfra"]);
    assert_eq!(w.fragments(), 4);
    let total: usize = pieces.iter().map(Bytes::len).sum();
    assert_eq!(w.bytes_written(), total as u64);
    assert!(w.duration_ms().abs_diff(6000) <= 40, "{}", w.duration_ms());
    // The mfro's last field is the mfra's size.
    let last = &pieces[3];
    let mfra = boxes(last).last().unwrap().1;
    let n = last.len();
    assert_eq!(
        u32::from_be_bytes(last[n - 4..].try_into().unwrap()) as usize,
        mfra
    );
}

/// The entries (segment duration, media time) of each `elst` of the init segment, in
/// track order.
fn edit_lists(init: &[u8]) -> Vec<Vec<(u64, i64)>> {
    init.windows(4)
        .enumerate()
        .filter(|(_, w)| *w == b"elst")
        .map(|(i, _)| {
            assert_eq!(init[i + 4], 1, "version 1");
            let n = u32::from_be_bytes(init[i + 8..i + 12].try_into().unwrap()) as usize;
            (0..n)
                .map(|e| {
                    let at = i + 12 + e * 20;
                    (
                        u64::from_be_bytes(init[at..at + 8].try_into().unwrap()),
                        i64::from_be_bytes(init[at + 8..at + 16].try_into().unwrap()),
                    )
                })
                .collect()
        })
        .collect()
}

/// The `tfdt` of each run of a fragment.
fn base_times(piece: &[u8]) -> Vec<u64> {
    piece
        .windows(4)
        .enumerate()
        .filter(|(_, w)| *w == b"tfdt")
        .map(|(i, _)| u64::from_be_bytes(piece[i + 8..i + 16].try_into().unwrap()))
        .collect()
}

fn with_audio_from(audio_ms: u64) -> Vec<Bytes> {
    let d = demuxer(true, true);
    let mut w = Mp4Writer::new(1000, Tracks::ALL);
    let mut frames: Vec<Frame> = (0..60).map(|i| video(i * 100 / 3, i % 30 == 0)).collect();
    frames.extend((0..80).map(|i| audio(audio_ms + i * 1024 * 1000 / 44_100)));
    frames.sort_by_key(|f| f.dts);
    write_all(&mut w, &d, &frames)
}

#[test]
fn the_edit_lists_start_the_presentation_at_the_earliest_sample() {
    // Video decoded from 0 and presented from 66 ms (B-frames), audio from 20 ms: the
    // audio starts the presentation and the video follows 46 ms later, as in the
    // stream. Each track's media timeline starts at its first sample.
    let pieces = with_audio_from(20);
    assert_eq!(base_times(&pieces[0]), [0, 0]);
    assert_eq!(edit_lists(&pieces[0]), [vec![(0, 20 * 90)], vec![(0, 0)]]);

    // Audio from 100 ms: the video starts it, the audio follows after an empty edit.
    let pieces = with_audio_from(100);
    assert_eq!(base_times(&pieces[0]), [0, 0]);
    assert_eq!(
        edit_lists(&pieces[0]),
        [vec![(0, 66 * 90)], vec![(34, -1), (0, 0)]]
    );
    // Later fragments continue the same timelines.
    assert_eq!(base_times(&pieces[1])[1], 39 * 1024);

    // Video alone: its composition delay is skipped.
    let d = demuxer(true, false);
    let mut w = Mp4Writer::new(1000, Tracks::ALL);
    let frames: Vec<Frame> = (0..60).map(|i| video(i * 100 / 3, i % 30 == 0)).collect();
    let pieces = write_all(&mut w, &d, &frames);
    assert_eq!(edit_lists(&pieces[0]), [vec![(0, 66 * 90)]]);
}

#[test]
fn without_a_keyframe_a_fragment_is_cut_at_twice_its_length() {
    let d = demuxer(true, false);
    let mut w = Mp4Writer::new(1000, Tracks::ALL);
    let frames: Vec<Frame> = (0..300).map(|i| video(i * 100 / 3, i == 0)).collect();
    let pieces = write_all(&mut w, &d, &frames);
    // 10 s, cut every 2 s.
    assert_eq!(pieces.len(), 5);
}

#[test]
fn audio_only_is_cut_by_time() {
    let d = demuxer(false, true);
    let mut w = Mp4Writer::new(1000, Tracks::ALL);
    let frames: Vec<Frame> = (0..431).map(|i| audio(i * 1024 * 1000 / 44_100)).collect();
    let pieces = write_all(&mut w, &d, &frames);
    assert_eq!(pieces.len(), 10);
    assert!(
        w.duration_ms().abs_diff(10_000) <= 30,
        "{}",
        w.duration_ms()
    );
}

#[test]
fn a_codec_change_ends_the_file() {
    let mut d = demuxer(true, true);
    let mut w = Mp4Writer::new(1000, Tracks::ALL);
    assert_eq!(w.push(&video(0, true), &d), Ok(None));
    d.push_video(40, hex(AVC_SEQ_BASELINE)).unwrap();
    assert_eq!(
        w.push(&video(40, true), &d),
        Err(Mp4WriteError::CodecChanged(Track::Video))
    );
    // The audio track is unaffected.
    assert_eq!(w.push(&audio(40), &d), Ok(None));
    assert!(!w.finish().is_empty());
}

#[test]
fn a_track_that_starts_after_the_first_fragment_is_dropped() {
    let d = demuxer(true, true);
    let mut w = Mp4Writer::new(1000, Tracks::ALL);
    let mut frames: Vec<Frame> = (0..90).map(|i| video(i * 100 / 3, i % 30 == 0)).collect();
    frames.push(audio(3000));
    let pieces = write_all(&mut w, &d, &frames);
    assert_eq!(w.dropped_frames(), 1);
    assert_eq!(kinds(&pieces[0]), ["ftyp", "moov", "moof", "mdat"]);
    // One trak only.
    let moov = &pieces[0][boxes(&pieces[0])[0].1..];
    assert_eq!(moov.windows(4).filter(|w| w == b"trak").count(), 1);
}

#[test]
fn the_first_frame_is_time_zero_and_samples_last_until_the_next() {
    let d = demuxer(true, false);
    let mut w = Mp4Writer::new(1000, Tracks::ALL);
    let frames: Vec<Frame> = (0..60)
        .map(|i| video(50_000 + i * 40, i % 30 == 0))
        .collect();
    let pieces = write_all(&mut w, &d, &frames);
    let first = &pieces[0];
    let at = first.windows(4).position(|w| w == b"tfdt").unwrap();
    let base = u64::from_be_bytes(first[at + 8..at + 16].try_into().unwrap());
    assert_eq!(base, 0);
    // trun: flags at +4, count at +8, data offset at +12, then duration, size, flags, cto.
    let at = first.windows(4).position(|w| w == b"trun").unwrap();
    let count = u32::from_be_bytes(first[at + 8..at + 12].try_into().unwrap());
    assert_eq!(count, 30);
    for i in 0..30usize {
        let s = at + 16 + i * 16;
        let duration = u32::from_be_bytes(first[s..s + 4].try_into().unwrap());
        let cto = u32::from_be_bytes(first[s + 12..s + 16].try_into().unwrap());
        assert_eq!((duration, cto), (3600, 66 * 90), "sample {i}");
    }
    assert_eq!(w.duration_ms(), 2400);
}

#[test]
fn video_starts_at_a_keyframe_and_the_first_fragment_waits_for_it() {
    let d = demuxer(true, true);
    let mut w = Mp4Writer::new(1000, Tracks::ALL);
    let mut frames: Vec<Frame> = (0..100).map(|i| audio(i * 25)).collect();
    // Video from 1 s, its first keyframe at 2 s.
    frames.extend((0..90).map(|i| video(1000 + i * 100 / 3, i == 30 || i == 75)));
    frames.sort_by_key(|f| f.dts);
    let pieces = write_all(&mut w, &d, &frames);
    assert_eq!(w.skipped_frames(), 30);
    assert_eq!(w.dropped_frames(), 0);
    assert_eq!(kinds(&pieces[0]), ["ftyp", "moov", "moof", "mdat"]);
    let moov = &pieces[0][boxes(&pieces[0])[0].1..];
    assert_eq!(moov.windows(4).filter(|w| w == b"trak").count(), 2);
    // The first fragment, 2 s of audio, is cut by the next video frame (twice
    // record_fragment); the next one at the keyframe of 3.5 s.
    assert_eq!(pieces.len(), 3);
}

#[test]
fn tracks_not_kept_are_ignored() {
    let d = demuxer(true, true);
    let keep = Tracks {
        video: false,
        audio: true,
    };
    let mut w = Mp4Writer::new(1000, keep);
    let pieces = write_all(&mut w, &d, &av(5000, 1000));
    // Audio only, cut by time.
    assert_eq!(pieces.len(), 5);
    let moov = &pieces[0][boxes(&pieces[0])[0].1..];
    assert_eq!(moov.windows(4).filter(|w| w == b"trak").count(), 1);
    assert_eq!(moov.windows(4).filter(|w| w == b"mp4a").count(), 1);
}
