//! Enhanced RTMP message builders and the drivers that feed whole message sequences to the
//! `Demuxer` (`demux_ex`) and to a live `Pipeline` with HLS and DASH attached (`pipeline_ex`).
//!
//! Byte-level fuzzing of one message is the `ex_header` target's job; these drivers reach the
//! state a stream builds over many messages (tracks, codecs per track, the track limit,
//! configuration changes), so their input is a program of operations that each build one
//! message from real FFmpeg 9 configuration records, with the fuzzer choosing track ids, track
//! counts, codecs, cuts and corruptions. See [`ops`] for the format.
//!
//! The builders are also what the end-to-end abuse suite sends (`tests/e2e_abuse_ertmp.rs`).

use bytes::Bytes;
use ngx_rtmp::files::Now;
use ngx_rtmp::media::ex_header::MAX_TRACKS;
use ngx_rtmp::media::{Demuxer, Frame, Track};

/// FourCCs of the codecs we parse, and one we do not.
pub const AVC: [u8; 4] = *b"avc1";
pub const HEVC: [u8; 4] = *b"hvc1";
pub const AV1: [u8; 4] = *b"av01";
pub const VP9: [u8; 4] = *b"vp09";
pub const OPUS: [u8; 4] = *b"Opus";
pub const AAC: [u8; 4] = *b"mp4a";
pub const VVC: [u8; 4] = *b"vvc1";

/// VideoPacketType / AudioPacketType values.
pub const SEQUENCE_START: u8 = 0;
pub const CODED_FRAMES: u8 = 1;
pub const CODED_FRAMES_X: u8 = 3;
pub const MULTITRACK_VIDEO: u8 = 6;
pub const MULTITRACK_AUDIO: u8 = 5;
pub const MOD_EX: u8 = 7;

/// AvMultitrackType values.
pub const ONE_TRACK: u8 = 0;
pub const MANY_TRACKS: u8 = 1;
pub const MANY_TRACKS_MANY_CODECS: u8 = 2;

/// FFmpeg 9's configuration records (the bodies of its SequenceStart messages).
pub fn record(fourcc: [u8; 4]) -> &'static [u8] {
    let msg: &'static [u8] = match &fourcc {
        b"hvc1" => include_bytes!("../tests/fixtures/ertmp/hevc_seq_start.bin"),
        b"av01" => include_bytes!("../tests/fixtures/ertmp/av1_seq_start.bin"),
        b"vp09" => include_bytes!("../tests/fixtures/ertmp/vp9_seq_start.bin"),
        b"Opus" => include_bytes!("../tests/fixtures/ertmp/opus_seq_start.bin"),
        b"avc1" => return include_bytes!("../tests/corpus/avc_config/x264_high_record"),
        b"mp4a" => return include_bytes!("../tests/corpus/aac_config/aac_lc_44100_mono"),
        _ => return &[],
    };
    // The extended header: one byte, then the FourCC.
    msg.get(5..).unwrap_or_default()
}

/// A video message of one track: `[IsExHeader | FrameType | PacketType][FourCC][body]`.
/// CodedFrames of AVC and HEVC carry a 24-bit composition time first (here 0).
pub fn video(frame_type: u8, packet_type: u8, fourcc: [u8; 4], body: &[u8]) -> Vec<u8> {
    let mut v = vec![0x80 | (frame_type & 7) << 4 | packet_type & 0x0f];
    v.extend_from_slice(&fourcc);
    if packet_type == CODED_FRAMES && matches!(&fourcc, b"avc1" | b"hvc1") {
        v.extend_from_slice(&[0, 0, 0]);
    }
    v.extend_from_slice(body);
    v
}

/// An audio message of one track: `[9 << 4 | PacketType][FourCC][body]`.
pub fn audio(packet_type: u8, fourcc: [u8; 4], body: &[u8]) -> Vec<u8> {
    let mut v = vec![0x90 | packet_type & 0x0f];
    v.extend_from_slice(&fourcc);
    v.extend_from_slice(body);
    v
}

/// One track of a multitrack message.
#[derive(Clone, Copy)]
pub struct TrackBody<'a> {
    pub fourcc: [u8; 4],
    pub id: u8,
    pub body: &'a [u8],
    /// The UI24 size written for the track (ManyTracks kinds); `None` = the body's length.
    pub size: Option<u32>,
}

impl<'a> TrackBody<'a> {
    pub fn new(fourcc: [u8; 4], id: u8, body: &'a [u8]) -> Self {
        Self {
            fourcc,
            id,
            body,
            size: None,
        }
    }
}

/// The multitrack part after the first byte: `[kind | inner][shared FourCC]` then per track
/// `[FourCC (many codecs)][id][UI24 size (many tracks)][body]`.
fn multitrack_tail(v: &mut Vec<u8>, kind: u8, inner: u8, tracks: &[TrackBody<'_>]) {
    v.push((kind & 0x0f) << 4 | inner & 0x0f);
    if kind != MANY_TRACKS_MANY_CODECS {
        v.extend_from_slice(&tracks.first().map_or(HEVC, |t| t.fourcc));
    }
    for t in tracks {
        if kind == MANY_TRACKS_MANY_CODECS {
            v.extend_from_slice(&t.fourcc);
        }
        v.push(t.id);
        if kind != ONE_TRACK {
            let size = t.size.unwrap_or(t.body.len() as u32);
            v.extend_from_slice(&size.to_be_bytes()[1..]);
        }
        v.extend_from_slice(t.body);
    }
}

/// A multitrack video message (packet type 6).
pub fn video_multi(frame_type: u8, kind: u8, inner: u8, tracks: &[TrackBody<'_>]) -> Vec<u8> {
    let mut v = vec![0x80 | (frame_type & 7) << 4 | MULTITRACK_VIDEO];
    multitrack_tail(&mut v, kind, inner, tracks);
    v
}

/// A multitrack audio message (packet type 5).
pub fn audio_multi(kind: u8, inner: u8, tracks: &[TrackBody<'_>]) -> Vec<u8> {
    let mut v = vec![0x90 | MULTITRACK_AUDIO];
    multitrack_tail(&mut v, kind, inner, tracks);
    v
}

/// Puts a ModEx entry in front of `msg`'s packet type: the header's packet type becomes ModEx,
/// then `[size - 1 (UI8, or 255 + UI16)][data][ModExType << 4 | the original packet type]`.
/// `declared` overrides the size written (a lie about `data`'s length).
pub fn with_mod_ex(msg: &[u8], mod_ex_type: u8, data: &[u8], declared: Option<usize>) -> Vec<u8> {
    let Some((&b0, rest)) = msg.split_first() else {
        return Vec::new();
    };
    let mut v = vec![b0 & 0xf0 | MOD_EX];
    let size = declared.unwrap_or(data.len()).max(1);
    if size <= 256 {
        v.push((size - 1) as u8);
    } else {
        v.push(255);
        v.extend_from_slice(&((size - 1).min(0xffff) as u16).to_be_bytes());
    }
    v.extend_from_slice(data);
    v.push(mod_ex_type << 4 | b0 & 0x0f);
    v.extend_from_slice(rest);
    v
}

/// A legacy (FLV) AVC sequence header and AAC sequence header.
pub fn legacy_avc_header() -> Vec<u8> {
    [&[0x17, 0, 0, 0, 0][..], record(AVC)].concat()
}

pub fn legacy_aac_header() -> Vec<u8> {
    [&[0xaf, 0][..], record(AAC)].concat()
}

// ---------------------------------------------------------------------------------------------
// The operation program of `demux_ex` and `pipeline_ex`
// ---------------------------------------------------------------------------------------------

/// One message the program builds.
pub struct Msg {
    pub video: bool,
    pub timestamp: u32,
    pub payload: Bytes,
}

const VIDEO_CODECS: [[u8; 4]; 5] = [AVC, HEVC, AV1, VP9, VVC];
const AUDIO_CODECS: [[u8; 4]; 3] = [OPUS, AAC, *b"fLaC"];

/// Builds messages from `data`: each operation is `[op][a][b]` and may take more bytes.
///
/// | op % 12 | message |
/// |---|---|
/// | 0 | video SequenceStart, codec `a`, record cut to `b` bytes when `b` is shorter |
/// | 1 | video Multitrack/OneTrack SequenceStart on track `a`, codec `b` |
/// | 2 | video CodedFrames (key when `b & 1`), codec `a`, `b >> 4` bytes of picture |
/// | 3 | video Multitrack/OneTrack CodedFramesX on track `a`, codec `b` |
/// | 4 | video ManyTracks of `a % 20` tracks, ids from `b` (repeats when `b & 0x80`), SequenceStart or CodedFramesX (`b & 1`), sizes lying by `b >> 5 & 3` bytes when `b & 0x40` |
/// | 5 | video ManyTracksManyCodecs: the same with a codec per track |
/// | 6 | audio SequenceStart, codec `a`, record cut to `b` bytes when shorter |
/// | 7 | audio Multitrack/OneTrack SequenceStart on track `a`, codec `b` |
/// | 8 | audio Multitrack/OneTrack CodedFrames on track `a`, codec `b` |
/// | 9 | legacy AVC/AAC: header or frame by `a % 4` |
/// | 10 | a raw video (`b & 1`) or audio message of the next `a` bytes |
/// | 11 | the previous message with a ModEx entry of type `a >> 4`, `a & 15` bytes, declared size `b` (0: true size) |
///
/// Timestamps advance by 10 ms per message.
pub fn ops(mut data: &[u8]) -> Vec<Msg> {
    let mut out: Vec<Msg> = Vec::new();
    let mut ts = 0u32;
    let pic = [0x12u8; 64];
    while let [op, a, b, rest @ ..] = data {
        data = rest;
        let (op, a, b) = (*op, *a, *b);
        let vcodec = |x: u8| VIDEO_CODECS[usize::from(x) % VIDEO_CODECS.len()];
        let acodec = |x: u8| AUDIO_CODECS[usize::from(x) % AUDIO_CODECS.len()];
        let cut =
            |r: &'static [u8], n: u8| &r[..r.len().min(if n == 0 { r.len() } else { n.into() })];
        let (video, payload) = match op % 12 {
            0 => (
                true,
                video(1, SEQUENCE_START, vcodec(a), cut(record(vcodec(a)), b)),
            ),
            1 => {
                let t = TrackBody::new(vcodec(b), a, record(vcodec(b)));
                (true, video_multi(1, ONE_TRACK, SEQUENCE_START, &[t]))
            }
            2 => {
                let n = usize::from(b >> 4) + 1;
                let ft = if b & 1 == 1 { 1 } else { 2 };
                (true, video(ft, CODED_FRAMES, vcodec(a), &pic[..n]))
            }
            3 => {
                let t = TrackBody::new(vcodec(b), a, &pic[..8]);
                (true, video_multi(1, ONE_TRACK, CODED_FRAMES_X, &[t]))
            }
            4 | 5 => {
                let count = usize::from(a % 20);
                let inner = if b & 1 == 1 {
                    CODED_FRAMES_X
                } else {
                    SEQUENCE_START
                };
                let step = if b & 0x80 != 0 { 0 } else { 1 };
                let tracks: Vec<TrackBody<'_>> = (0..count)
                    .map(|i| {
                        let fourcc = if op % 12 == 5 {
                            vcodec(i as u8 ^ b)
                        } else {
                            vcodec(b >> 1)
                        };
                        let body = if inner == SEQUENCE_START {
                            record(fourcc)
                        } else {
                            &pic[..4]
                        };
                        let mut t = TrackBody::new(fourcc, b.wrapping_add((i as u8) * step), body);
                        if b & 0x40 != 0 && i + 1 == count {
                            t.size = Some(body.len() as u32 + u32::from(b >> 5 & 3) + 1);
                        }
                        t
                    })
                    .collect();
                let kind = if op % 12 == 5 {
                    MANY_TRACKS_MANY_CODECS
                } else {
                    MANY_TRACKS
                };
                (true, video_multi(1, kind, inner, &tracks))
            }
            6 => (
                false,
                audio(SEQUENCE_START, acodec(a), cut(record(acodec(a)), b)),
            ),
            7 => {
                let t = TrackBody::new(acodec(b), a, record(acodec(b)));
                (false, audio_multi(ONE_TRACK, SEQUENCE_START, &[t]))
            }
            8 => {
                let t = TrackBody::new(acodec(b), a, &pic[..6]);
                (false, audio_multi(ONE_TRACK, CODED_FRAMES, &[t]))
            }
            9 => match a % 4 {
                0 => (true, legacy_avc_header()),
                1 => (
                    true,
                    [&[0x17, 1, 0, 0, 0, 0, 0, 0, 2, 0x65][..], &pic[..2]].concat(),
                ),
                2 => (false, legacy_aac_header()),
                _ => (false, vec![0xaf, 1, 0x21, 0x10]),
            },
            10 => {
                let n = usize::from(a).min(data.len());
                let (raw, rest) = data.split_at(n);
                data = rest;
                (b & 1 == 1, raw.to_vec())
            }
            _ => {
                let Some(prev) = out.last() else { continue };
                let body = [
                    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0,
                ];
                let m = with_mod_ex(
                    &prev.payload,
                    a >> 4,
                    &body[..usize::from(a & 15)],
                    (b != 0).then_some(b.into()),
                );
                (prev.video, m)
            }
        };
        ts = ts.wrapping_add(10);
        out.push(Msg {
            video,
            timestamp: ts,
            payload: Bytes::from(payload),
        });
    }
    out
}

/// `(id, generation)` of every video track, then of every audio track.
type Tables = (Vec<(u8, u32)>, Vec<(u8, u32)>);

/// The track tables of a demuxer.
fn tables(d: &Demuxer) -> Tables {
    (
        d.video_tracks()
            .iter()
            .map(|t| (t.id, t.generation))
            .collect(),
        d.audio_tracks()
            .iter()
            .map(|t| (t.id, t.generation))
            .collect(),
    )
}

/// Checks a demuxer's track tables: sorted distinct ids, at most [`MAX_TRACKS`] besides the
/// default track, distinct generations from 1, the primary track the lowest id.
pub fn check_tables(d: &Demuxer) {
    let (video, audio) = tables(d);
    for t in [&video, &audio] {
        assert!(
            t.windows(2).all(|w| w[0].0 < w[1].0),
            "ids sorted and distinct: {t:?}"
        );
        assert!(
            t.iter().filter(|(id, _)| *id != 0).count() <= MAX_TRACKS,
            "track limit: {t:?}"
        );
        assert!(t.iter().all(|(_, g)| *g >= 1));
        assert!(
            t.iter()
                .enumerate()
                .all(|(i, a)| t[..i].iter().all(|b| b.1 != a.1)),
            "two tracks share a generation: {t:?}"
        );
    }
    assert_eq!(d.video().map(|t| t.id), video.first().map(|t| t.0));
    assert_eq!(d.audio().map(|t| t.id), audio.first().map(|t| t.0));
}

/// Checks one push: a refused message changes nothing and yields no frame; an accepted one
/// yields at most one frame per track, each of a track the demuxer has.
fn check_push(d: &Demuxer, before: &Tables, res: Result<&[Frame], ()>) {
    match res {
        Err(()) => {
            assert_eq!(&tables(d), before, "a refused message changed the tracks");
            assert!(d.frames().is_empty(), "a refused message left frames");
        }
        Ok(frames) => {
            assert!(frames.len() <= MAX_TRACKS);
            for (i, f) in frames.iter().enumerate() {
                assert!(!f.data.is_empty());
                let known = match f.track {
                    Track::Video => d.video_track(f.track_id).is_some(),
                    Track::Audio => d.audio_track(f.track_id).is_some(),
                };
                assert!(
                    known,
                    "a frame of track {} which has no configuration",
                    f.track_id
                );
                assert!(
                    frames[..i]
                        .iter()
                        .all(|o| (o.track, o.track_id) != (f.track, f.track_id)),
                    "two frames of one track in a message"
                );
            }
        }
    }
    check_tables(d);
}

/// Runs `msgs` through a fresh demuxer, checking every step; returns how many it refused.
pub fn run_demuxer(msgs: &[Msg]) -> u64 {
    let mut d = Demuxer::new();
    let mut refused = 0;
    for m in msgs {
        let before = tables(&d);
        let res = if m.video {
            d.push_video(m.timestamp, m.payload.clone())
        } else {
            d.push_audio(m.timestamp, m.payload.clone())
        };
        let ok = res.is_ok();
        refused += u64::from(!ok);
        // The frames as the pipeline reads them after the push.
        let res = if ok { Ok(d.frames()) } else { Err(()) };
        check_push(&d, &before, res);
    }
    let _ = d.codec_info();
    refused
}

pub fn demux_ex(data: &[u8]) {
    run_demuxer(&ops(data));
}

/// The operation program through a published stream's pipeline with HLS (MPEG-TS or fMP4 by
/// the first byte) and DASH attached: the outputs' file operations keep their contract, the
/// pipeline refuses exactly what a demuxer alone refuses, and reports refusals rate-limited.
pub fn pipeline_ex(data: &[u8]) {
    use ngx_rtmp::dash::{DashConfig, DashStream};
    use ngx_rtmp::hls::{FragmentType, HlsConfig, HlsStream};
    use ngx_rtmp::live::{
        GopCache, Incoming, OutputOp, Pipeline, PipelineEvent, BAD_MESSAGE_REPORT_MS,
    };

    let Some((&cfg, rest)) = data.split_first() else {
        return;
    };
    let msgs = ops(rest);
    let start = Now {
        monotonic_ms: 1_000,
        unix_ms: 1_700_000_000_000,
    };
    let mut p = Pipeline::published(GopCache::new(true, 64, 1 << 20), 4096);
    let hls = HlsStream::new(
        HlsConfig {
            fragment_ms: 100 + u64::from(cfg & 7) * 100,
            playlist_length_ms: 2_000,
            fragment_type: if cfg & 8 != 0 {
                FragmentType::Fmp4
            } else {
                FragmentType::MpegTs
            },
            ..HlsConfig::default()
        },
        "fuzz",
        None,
        start,
    );
    let dash = DashStream::new(
        DashConfig {
            fragment_ms: 200,
            playlist_length_ms: 2_000,
            nested: false,
            cleanup: true,
        },
        "fuzz",
        start,
    );
    let (Ok(hls), Ok(dash)) = (hls, dash) else {
        return;
    };
    let hls_id = p.attach(Box::new(hls));
    p.attach(Box::new(dash));
    // The HLS contract (DASH writes binary init segments through the same operations).
    let mut hls_ops = super::OpChecker::default();
    let mut reports = 0u64;
    let mut reported_bad = 0u64;
    let mut drain = |p: &mut Pipeline, hls_ops: &mut super::OpChecker| {
        while let Some((id, op)) = p.poll_op() {
            if let (OutputOp::File(op), true) = (op, id == hls_id) {
                hls_ops.check(&op);
            }
        }
        while let Some(ev) = p.poll_event() {
            if let PipelineEvent::BadMessage { suppressed, .. } = ev {
                reports += 1;
                reported_bad += 1 + suppressed;
            }
        }
    };
    let mut now = start;
    for m in &msgs {
        now.monotonic_ms += u64::from(cfg >> 4) * 100;
        now.unix_ms += u64::from(cfg >> 4) * 100;
        let type_id = if m.video { 9 } else { 8 };
        let msg = Incoming {
            type_id,
            timestamp: m.timestamp,
            payload: &m.payload,
            now,
        };
        let _ = p.ingest(msg, m.timestamp % 3 == 0);
        drain(&mut p, &mut hls_ops);
        check_tables(p.codecs());
    }
    p.finish(now);
    drain(&mut p, &mut hls_ops);
    assert!(hls_ops.open.is_none(), "HLS segment left open after finish");
    let bad = p.counters().bad_messages;
    assert_eq!(
        bad,
        run_demuxer(&msgs),
        "the pipeline refuses what the demuxer refuses"
    );
    assert!(reported_bad <= bad);
    let elapsed = now.monotonic_ms - start.monotonic_ms;
    assert!(
        reports <= 1 + elapsed / BAD_MESSAGE_REPORT_MS,
        "{reports} reports of refused messages in {elapsed} ms"
    );
}
