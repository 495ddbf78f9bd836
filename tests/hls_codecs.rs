//! The HLS segmenter on the codecs of Enhanced RTMP, fed through the demuxer from FFmpeg 9's
//! own messages (tests/fixtures/ertmp): AV1, VP9 and Opus go to fMP4 even where MPEG-TS is
//! configured, with one notice; a stream that turns to AV1 moves to fMP4 at a discontinuity;
//! HEVC in MPEG-TS has stream type 0x24 and AUD, VPS, SPS, PPS before each random access point.

mod support;

use bytes::Bytes;
use ngx_rtmp::hls::{FragmentType, HlsConfig, HlsStream};
use ngx_rtmp::media::{Demuxer, Frame};
use support::fileops::Fs;
use support::fmp4::{parse_fragment, parse_init, sample_entries};
use support::m3u8::parse_m3u8;
use support::media::{av_frames, demuxer, now};
use support::ts::parse_ts;

fn fixture(name: &str) -> Bytes {
    let path = format!("{}/tests/fixtures/ertmp/{name}", env!("CARGO_MANIFEST_DIR"));
    Bytes::from(std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
}

fn config(kind: FragmentType) -> HlsConfig {
    HlsConfig {
        fragment_ms: 2000,
        playlist_length_ms: 60_000,
        fragment_type: kind,
        ..HlsConfig::default()
    }
}

/// A coded-frames message of `fixture` (a key frame) re-flagged as an inter frame.
fn inter(key: &Bytes) -> Bytes {
    let mut b = key.to_vec();
    // Frame type (bits 4-6 after IsExHeader): 1 key, 2 inter.
    b[0] = (b[0] & 0x8f) | 0x20;
    Bytes::from(b)
}

/// Pushes `secs` of 15 fps video (a key frame every 2 s) and 20 ms Opus packets, from
/// `t0` ms on, through the demuxer into the stream. Returns how many frames it refused.
fn feed_ex(
    s: &mut HlsStream,
    d: &mut Demuxer,
    fs: &mut Fs,
    key: &Bytes,
    t0: u64,
    secs: u64,
) -> usize {
    let (opus, inter) = (fixture("opus_coded.bin"), inter(key));
    let (mut i, mut a, mut refused) = (0u64, 0u64, 0);
    loop {
        let v = i * 1000 / 15;
        if v >= secs * 1000 && a >= secs * 1000 {
            return refused;
        }
        let (ts, frames) = if a <= v {
            let ts = t0 + a;
            a += 20;
            (ts, d.push_audio(ts as u32, opus.clone()).unwrap().to_vec())
        } else {
            let msg = if i % 30 == 0 {
                key.clone()
            } else {
                inter.clone()
            };
            i += 1;
            (t0 + v, d.push_video((t0 + v) as u32, msg).unwrap().to_vec())
        };
        for f in &frames {
            refused += usize::from(s.push(f, d, now(ts)).is_err());
            fs.drain(s);
        }
    }
}

fn notices(s: &mut HlsStream) -> Vec<String> {
    std::iter::from_fn(|| s.poll_notice()).collect()
}

#[test]
fn av1_and_vp9_with_opus_are_fmp4_under_mpegts_with_one_notice() {
    for (seq, key, entry) in [
        ("av1_seq_start.bin", "av1_key_cut.bin", "av01"),
        ("vp9_seq_start.bin", "vp9_key_cut.bin", "vp09"),
    ] {
        let mut d = Demuxer::new();
        d.push_video(0, fixture(seq)).unwrap();
        d.push_audio(0, fixture("opus_seq_start.bin")).unwrap();
        let mut s = HlsStream::new(config(FragmentType::MpegTs), "cam", None, now(0)).unwrap();
        let mut fs = Fs::default();
        let key = fixture(key);
        assert_eq!(feed_ex(&mut s, &mut d, &mut fs, &key, 0, 6), 0);
        s.finish(now(7000)).unwrap();
        fs.drain(&mut s);
        // A master playlist's CODECS and RESOLUTION come from the tracks (VP9's size from
        // its first key frame: its records carry none).
        let info = s.variant_info().expect("segments were measured");
        let want = match entry {
            "av01" => "av01.0.00M.08,opus",
            _ => "vp09.00.20.08,opus",
        };
        assert_eq!(info.codecs.as_deref(), Some(want));
        assert_eq!(info.resolution, Some((320, 240)), "{entry}");
        let said = notices(&mut s);
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(
            said[0].contains("\"cam\" (") && said[0].contains("Opus audio"),
            "{said:?}"
        );
        let text = fs.last_playlist();
        assert!(text.starts_with("#EXTM3U\n#EXT-X-VERSION:6\n"), "{text}");
        assert!(text.contains("#EXT-X-MAP:URI=\"cam-init-0.mp4\""), "{text}");
        let p = parse_m3u8(text);
        assert_eq!(p.entries.len(), 3, "{text}");
        assert!(p.entries.iter().all(|e| e.uri.ends_with(".m4s")), "{text}");
        let init = fs.segment("cam-init-0.mp4");
        let kinds: Vec<String> = parse_init(init).into_iter().map(|t| t.entry).collect();
        assert_eq!(kinds, [entry, "Opus"]);
        // The picture size is the record's (AV1) or the first key frame's (VP9).
        let fields = &sample_entries(init)[0].fields;
        assert_eq!(&fields[24..28], &[1, 64, 0, 240], "{entry}: 320x240");
        let mut opus_time = 0;
        for e in &p.entries {
            let (_, runs) = parse_fragment(fs.segment(&e.uri));
            assert!(runs[0].sync[0], "{}: starts with a key frame", e.uri);
            assert_eq!(runs[0].samples.len(), 30);
            // AV1 samples without the temporal delimiter FFmpeg sends first.
            let want = &key[if entry == "av01" { 7 } else { 5 }..];
            assert_eq!(runs[0].samples[0], want, "{}", e.uri);
            // Opus: 48 kHz, each packet 20 ms (its TOC), times continuing.
            assert_eq!(runs[1].base_decode_time, opus_time);
            assert!(
                runs[1].durations.iter().all(|&d| d == 960),
                "{:?}",
                runs[1].durations
            );
            opus_time += runs[1].duration();
        }
    }
}

#[test]
fn a_stream_that_turns_to_av1_moves_to_fmp4_at_a_discontinuity() {
    let mut d = demuxer(true, true);
    let mut s = HlsStream::new(config(FragmentType::MpegTs), "cam", None, now(0)).unwrap();
    let mut fs = Fs::default();
    // 5 s of H.264/AAC in MPEG-TS.
    for f in av_frames(0, 5000, 30, 2000, true, true) {
        s.push(&f, &d, now(f.dts)).unwrap();
        fs.drain(&mut s);
    }
    assert!(notices(&mut s).is_empty());
    // The publisher switches to AV1 + Opus.
    d.push_video(5000, fixture("av1_seq_start.bin")).unwrap();
    d.push_audio(5000, fixture("opus_seq_start.bin")).unwrap();
    // Until the first AV1 key frame opens an fMP4 segment, the TS segment refuses the new
    // codecs' frames.
    let refused = feed_ex(
        &mut s,
        &mut d,
        &mut fs,
        &fixture("av1_key_cut.bin"),
        5000,
        4,
    );
    assert!(refused > 0 && refused < 10, "{refused}");
    s.finish(now(9500)).unwrap();
    fs.drain(&mut s);
    assert_eq!(notices(&mut s).len(), 1);
    let text = fs.last_playlist();
    let p = parse_m3u8(text);
    let first_fmp4 = p
        .entries
        .iter()
        .position(|e| e.uri.ends_with(".m4s"))
        .unwrap();
    assert!(first_fmp4 >= 2, "{text}");
    assert!(p.entries[..first_fmp4]
        .iter()
        .all(|e| e.uri.ends_with(".ts")));
    assert!(p.entries[first_fmp4..]
        .iter()
        .all(|e| e.uri.ends_with(".m4s")));
    assert!(p.entries[first_fmp4].discontinuity, "{text}");
    assert_eq!(p.entries.iter().filter(|e| e.discontinuity).count(), 1);
    // The map comes with the first fMP4 segment, and the version it needs with it.
    let map_at = text.find("#EXT-X-MAP").unwrap();
    assert!(
        map_at > text.find(&p.entries[first_fmp4 - 1].uri).unwrap(),
        "{text}"
    );
    assert!(text.contains("#EXT-X-VERSION:6\n"));
    for e in &p.entries[first_fmp4..] {
        let (_, runs) = parse_fragment(fs.segment(&e.uri));
        assert!(runs[0].sync[0]);
    }
}

/// An HEVC access unit as FLV carries it: 4-byte lengths, then NAL units of type `t`.
fn hevc_au(types: &[u8]) -> Bytes {
    let mut b = Vec::new();
    for &t in types {
        let nal = [t << 1, 1, 0xaf, 0x11, 0x22];
        b.extend_from_slice(&(nal.len() as u32).to_be_bytes());
        b.extend_from_slice(&nal);
    }
    Bytes::from(b)
}

/// The NAL unit types of an HEVC Annex B stream.
fn nal_types(data: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    let mut i = 0;
    while i + 3 < data.len() {
        if data[i..i + 3] == [0, 0, 1] {
            types.push((data[i + 3] >> 1) & 0x3f);
            i += 3;
        } else {
            i += 1;
        }
    }
    types
}

#[test]
fn hevc_in_mpegts_has_stream_type_0x24_and_parameter_sets_at_each_key_frame() {
    let mut d = Demuxer::new();
    d.push_video(0, fixture("hevc_seq_start.bin")).unwrap();
    let mut s = HlsStream::new(config(FragmentType::MpegTs), "cam", None, now(0)).unwrap();
    let mut fs = Fs::default();
    let mut sent = 0;
    for i in 0..90u64 {
        let dts = i * 1000 / 15;
        let key = i % 30 == 0;
        // IDR_W_RADL, or TRAIL_R; an AUD the publisher sent is replaced by ours.
        let data = if key {
            hevc_au(&[19])
        } else {
            hevc_au(&[35, 1])
        };
        let f = Frame {
            track: ngx_rtmp::media::Track::Video,
            track_id: 0,
            dts,
            pts: dts,
            keyframe: key,
            data,
        };
        s.push(&f, &d, now(dts)).unwrap();
        fs.drain(&mut s);
        sent += 1;
    }
    s.finish(now(6000)).unwrap();
    fs.drain(&mut s);
    assert!(notices(&mut s).is_empty(), "HEVC fits MPEG-TS");
    let p = parse_m3u8(fs.last_playlist());
    assert_eq!(p.entries.len(), 3);
    let mut got = 0;
    for e in &p.entries {
        assert!(e.uri.ends_with(".ts"));
        let info = parse_ts(fs.segment(&e.uri));
        let pid = info.pid_of(0x24).expect("HEVC stream type in the PMT");
        let video: Vec<_> = info.pes.iter().filter(|p| p.pid == pid).collect();
        got += video.len();
        assert!(video[0].random_access);
        assert_eq!(nal_types(&video[0].data), [35, 32, 33, 34, 19], "{}", e.uri);
        for p in &video[1..] {
            assert_eq!(nal_types(&p.data), [35, 1]);
        }
    }
    assert_eq!(got, sent);
}

#[test]
fn an_av1_republish_continues_its_fmp4_playlist_under_mpegts() {
    let prev = "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:5\n\
                #EXT-X-MAP:URI=\"cam-init-5.mp4\"\n#EXTINF:2.000,\ncam-5.m4s\n#EXT-X-ENDLIST\n";
    let mut s = HlsStream::new(config(FragmentType::MpegTs), "cam", Some(prev), now(0)).unwrap();
    let mut fs = Fs::default();
    for old in ["cam-init-5.mp4", "cam-5.m4s"] {
        fs.files
            .insert(old.into(), b"the previous publish".to_vec());
    }
    fs.closed.push("cam-5.m4s".into());
    let mut d = Demuxer::new();
    d.push_video(0, fixture("av1_seq_start.bin")).unwrap();
    d.push_audio(0, fixture("opus_seq_start.bin")).unwrap();
    assert_eq!(
        feed_ex(&mut s, &mut d, &mut fs, &fixture("av1_key_cut.bin"), 0, 4),
        0
    );
    assert!(s.resumed());
    // The previous publish's files were kept, not scheduled for deletion.
    assert!(fs.deletes.is_empty(), "{:?}", fs.deletes);
    assert!(
        fs.cancels.contains(&"cam-5.m4s".to_string()),
        "{:?}",
        fs.cancels
    );
    s.finish(now(5000)).unwrap();
    fs.drain(&mut s);
    let text = fs.last_playlist();
    let p = parse_m3u8(text);
    let uris: Vec<&str> = p.entries.iter().map(|e| e.uri.as_str()).collect();
    assert_eq!(uris, ["cam-5.m4s", "cam-6.m4s", "cam-7.m4s"], "{text}");
    assert!(
        p.entries[1].discontinuity && !p.entries[2].discontinuity,
        "{text}"
    );
    assert!(text.contains("#EXT-X-MAP:URI=\"cam-init-6.mp4\""), "{text}");
    assert_eq!(notices(&mut s).len(), 1);
}
