//! Drivers shared by the fuzz targets (`fuzz/fuzz_targets/*.rs`) and the corpus replay of
//! plain `cargo test` (`tests/corpus_replay.rs`), so that CI runs every corpus file through
//! exactly the code the fuzzer ran. Each driver takes arbitrary bytes, must never panic, and
//! checks a few invariants with `assert!` (a failed invariant is a finding like a crash).
//!
//! Input formats:
//! - `chunk_decoder`: byte 0 = feed step - 1 (pieces of 1..=256 bytes), then a chunk stream.
//! - `amf0_decode`, `flv_tag`, `avc_config`, `aac_config`: the raw bytes.
//! - `ex_header`: one Enhanced RTMP video or audio message (both parsers run on it; the
//!   configuration records of its SequenceStart packets go through their parsers too).
//! - `hevc_config`, `av1_config`, `vp_config`, `opus_head`: the raw record (the body of the
//!   SequenceStart packet).
//! - `demux`, `hls_stream`: records `[kind u8][timestamp u24 BE][len u16 BE][payload]`,
//!   kind bit 0 = video (else audio); `hls_stream` reads one config byte first.
//! - `flv_stream`: byte 0 = feed step - 1 (pieces of 1..=256 bytes), then an FLV byte stream
//!   (what an encoder writes on its stdout).
//! - `demux_ex`: a program of operations that each build one Enhanced RTMP (or legacy)
//!   message from real configuration records (`ertmp::ops`); `pipeline_ex`: one config byte
//!   (HLS fragment length and container, clock step), then the same program.
//! - `session`: raw bytes as a client sends them (handshake included).
//! - `session_handshake`: the bytes after a valid plain handshake (C0 C1 C2 are prepended).
#![allow(dead_code)]

use bytes::Bytes;
use ngx_rtmp::amf0;
use ngx_rtmp::files::{FileOp, Now};
use ngx_rtmp::hls::{HlsConfig, HlsStream, Naming, PlaylistKind, Slicing};
use ngx_rtmp::media::ex_audio::AudioPacket;
use ngx_rtmp::media::ex_header::{VideoPacket, MAX_TRACKS};
use ngx_rtmp::media::{
    flv, parse_ex_audio, parse_ex_video, AudioFourCc, AudioSpecificConfig, Av1Config, AvcConfig,
    Demuxer, FlvReader, HevcConfig, HevcSpsInfo, OpusHead, SpsInfo, VideoFourCc, VpConfig,
};
use ngx_rtmp::rtmp::chunk::ChunkDecoder;
use ngx_rtmp::rtmp::{Event, Limits, Rejection, Session, SessionConfig};

#[path = "ertmp.rs"]
pub mod ertmp;

/// Length of C0 + C1 + C2 of a client handshake.
pub const HANDSHAKE_LEN: usize = 1 + 1536 + 1536;

pub fn chunk_decoder(data: &[u8]) {
    let Some((&step, rest)) = data.split_first() else {
        return;
    };
    let step = usize::from(step) + 1;
    // Small limits, so the fuzzer reaches them.
    let limits = Limits {
        max_message: 64 * 1024,
        max_partial_bytes: 256 * 1024,
        max_chunk_streams: 16,
        ..Limits::default()
    };
    let mut d = ChunkDecoder::new(&limits);
    for piece in rest.chunks(step) {
        let mut off = 0usize;
        loop {
            match d.decode(&piece[off..]) {
                Ok((n, msg)) => {
                    off += n;
                    assert!(off <= piece.len(), "decoder consumed more than given");
                    match msg {
                        Some(m) => {
                            assert!(m.payload.len() <= limits.max_message as usize);
                        }
                        None => {
                            assert_eq!(off, piece.len(), "no message but input left");
                            break;
                        }
                    }
                }
                Err(_) => return,
            }
        }
        assert!(d.partial_bytes() <= limits.max_partial_bytes);
        assert!(d.chunk_streams() <= limits.max_chunk_streams);
    }
}

pub fn amf0_decode(data: &[u8]) {
    if let Ok(values) = amf0::decode_all(data, amf0::DEFAULT_MAX_DEPTH) {
        // Whatever decodes re-encodes to bytes that decode to the same encoding (byte
        // comparison, so NaN numbers compare equal).
        let enc = amf0::encode_to_bytes(&values);
        let again = amf0::decode_all(&enc, amf0::DEFAULT_MAX_DEPTH + 1)
            .expect("re-encoded AMF0 must decode");
        assert_eq!(amf0::encode_to_bytes(&again), enc, "AMF0 round trip");
    }
    // Value by value, as the command parser reads.
    let mut d = amf0::Decoder::new(data, 4);
    while !d.is_empty() {
        if d.decode().is_err() {
            break;
        }
    }
}

pub fn flv_tag(data: &[u8]) {
    if let Ok(h) = flv::parse_audio_tag(data) {
        assert!(h.header_len <= data.len());
    }
    if let Ok(h) = flv::parse_video_tag(data) {
        assert!(h.header_len <= data.len());
    }
}

pub fn flv_stream(data: &[u8]) {
    const MAX_TAG: usize = 64 * 1024;
    let Some((step, rest)) = data.split_first() else {
        return;
    };
    let step = usize::from(*step) + 1;
    let mut r = FlvReader::new(MAX_TAG);
    for piece in rest.chunks(step) {
        r.feed(piece);
        while let Ok(Some(t)) = r.poll() {
            assert!(t.body.len() <= MAX_TAG);
        }
        // At most one incomplete tag and the piece that did not complete it.
        assert!(r.buffered() <= MAX_TAG + 15 + step);
    }
}

pub fn avc_config(data: &[u8]) {
    if let Ok(cfg) = AvcConfig::parse(&Bytes::copy_from_slice(data)) {
        let _ = cfg.level_string();
        let _ = cfg.profile_name();
        assert!(matches!(cfg.nal_length_size, 1 | 2 | 4));
    }
    let _ = SpsInfo::parse(data);
}

pub fn aac_config(data: &[u8]) {
    if let Ok(cfg) = AudioSpecificConfig::parse(data) {
        let _ = cfg.channels();
        let _ = cfg.profile_name();
        let _ = cfg.samples_per_frame();
        if let Ok(adts) = cfg.adts() {
            for len in [0, 1, 100, 0x1fff - 7, 0x1fff] {
                let _ = adts.write(len);
            }
        }
    }
}

pub fn ex_header(data: &[u8]) {
    let msg = Bytes::copy_from_slice(data);
    if let Ok(v) = parse_ex_video(&msg) {
        let tracks = v.tracks();
        assert!(tracks.len() <= MAX_TRACKS);
        assert!(v.timestamp_offset_ns <= 999_999);
        for (i, t) in tracks.iter().enumerate() {
            assert!(
                tracks[..i].iter().all(|o| o.track_id != t.track_id),
                "repeated track id"
            );
            let body = match &t.packet {
                VideoPacket::SequenceStart(b)
                | VideoPacket::Metadata(b)
                | VideoPacket::Mpeg2TsSequenceStart(b)
                | VideoPacket::CodedFrames { data: b, .. } => b,
                VideoPacket::SequenceEnd => continue,
            };
            assert!(body.len() < data.len(), "a packet larger than its message");
            if let VideoPacket::SequenceStart(record) = &t.packet {
                match t.fourcc {
                    VideoFourCc::Avc => avc_config(record),
                    VideoFourCc::Hevc => hevc_config(record),
                    VideoFourCc::Av1 => av1_config(record),
                    VideoFourCc::Vp9 => vp_config(record),
                }
            }
        }
    }
    if let Ok(a) = parse_ex_audio(&msg) {
        assert!(!a.tracks.is_empty() && a.tracks.len() <= MAX_TRACKS);
        assert!(a.timestamp_offset_ns <= 999_999);
        for t in &a.tracks {
            match &t.packet {
                AudioPacket::SequenceStart(b) => {
                    assert!(b.len() < data.len());
                    match t.fourcc {
                        AudioFourCc::Opus => opus_head(b),
                        AudioFourCc::Aac => aac_config(b),
                        _ => {}
                    }
                }
                AudioPacket::CodedFrames(b) => assert!(b.len() < data.len()),
                AudioPacket::SequenceEnd | AudioPacket::MultichannelConfig(_) => {}
            }
        }
    }
}

pub fn hevc_config(data: &[u8]) {
    if let Ok(cfg) = HevcConfig::parse(&Bytes::copy_from_slice(data)) {
        assert!(cfg.codec_string().starts_with("hvc1."));
        let _ = cfg.level_string();
        let _ = cfg.profile_name();
        assert!(matches!(cfg.nal_length_size, 1 | 2 | 4));
        assert!(!cfg.vps.is_empty() && !cfg.sps.is_empty() && !cfg.pps.is_empty());
    }
    if let Ok(sps) = HevcSpsInfo::parse(data) {
        assert!(sps.width > 0 && sps.height > 0);
    }
}

pub fn av1_config(data: &[u8]) {
    if let Ok(cfg) = Av1Config::parse(&Bytes::copy_from_slice(data)) {
        assert!(cfg.codec_string().starts_with("av01."));
        assert!(matches!(cfg.bit_depth, 8 | 10 | 12));
        let _ = cfg.level_string();
        let _ = cfg.profile_name();
    }
}

pub fn vp_config(data: &[u8]) {
    if let Ok(cfg) = VpConfig::parse(&Bytes::copy_from_slice(data)) {
        assert_eq!(cfg.codec_string().len(), "vp09.00.10.08".len());
        assert!(matches!(cfg.bit_depth, 8 | 10 | 12));
        let _ = cfg.level_string();
    }
}

pub fn opus_head(data: &[u8]) {
    if let Ok(head) = OpusHead::parse(&Bytes::copy_from_slice(data)) {
        let extra = head.mapping.as_ref().map_or(0, |m| 2 + m.mapping.len());
        assert_eq!(head.dops().len(), 11 + extra);
        assert!(head.channels > 0);
    }
}

/// One audio/video message of the `demux`/`hls_stream` input format.
pub struct MediaRecord<'a> {
    pub video: bool,
    pub timestamp: u32,
    pub payload: &'a [u8],
}

pub fn media_records(mut data: &[u8]) -> Vec<MediaRecord<'_>> {
    let mut out = Vec::new();
    while data.len() >= 6 {
        let kind = data[0];
        let timestamp = u32::from_be_bytes([0, data[1], data[2], data[3]]);
        let len = usize::from(u16::from_be_bytes([data[4], data[5]]));
        let end = (6 + len).min(data.len());
        out.push(MediaRecord {
            video: kind & 1 == 1,
            timestamp,
            payload: &data[6..end],
        });
        data = &data[end..];
    }
    out
}

/// Encodes records in the `demux`/`hls_stream` input format (for seeds).
pub fn encode_media_record(out: &mut Vec<u8>, video: bool, timestamp: u32, payload: &[u8]) {
    let payload = &payload[..payload.len().min(0xffff)];
    out.push(u8::from(video));
    out.extend_from_slice(&timestamp.to_be_bytes()[1..]);
    out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    out.extend_from_slice(payload);
}

pub fn demux(data: &[u8]) {
    let mut d = Demuxer::new();
    for r in media_records(data) {
        let payload = Bytes::copy_from_slice(r.payload);
        let res = if r.video {
            d.push_video(r.timestamp, payload)
        } else {
            d.push_audio(r.timestamp, payload)
        };
        for frame in res.unwrap_or_default() {
            assert!(!frame.data.is_empty());
            assert!(frame.data.len() < r.payload.len());
        }
    }
    let _ = d.codec_info();
}

/// Checks the [`FileOp`] contract as the shell relies on it.
#[derive(Default)]
struct OpChecker {
    open: Option<String>,
    closed: std::collections::HashSet<String>,
    /// Parts written (Low-Latency HLS).
    parts: std::collections::HashSet<String>,
    /// The open recording's part file and the bytes appended to it.
    recording: Option<(String, u64)>,
}

impl OpChecker {
    fn check(&mut self, op: &FileOp) {
        match op {
            FileOp::OpenSegment { path } => {
                assert!(self.open.is_none(), "segment opened while one is open");
                self.open = Some(path.to_string());
            }
            FileOp::AppendSegment { data } => {
                assert!(self.open.is_some(), "append without open segment");
                assert!(!data.is_empty());
            }
            FileOp::CloseSegment { path } => {
                assert_eq!(self.open.as_deref(), Some(&*path.to_string()), "close");
                self.open = None;
                self.closed.insert(path.to_string());
            }
            // fMP4 init segments are written like playlists (atomically).
            FileOp::WritePlaylist { path, .. } if !path.as_str().ends_with(".m3u8") => {}
            FileOp::WritePlaylist { contents, .. } => {
                let text = std::str::from_utf8(contents).expect("playlist is UTF-8");
                assert!(text.starts_with("#EXTM3U"));
                if let Some(open) = &self.open {
                    let name = open.rsplit('/').next().unwrap_or(open);
                    assert!(!text.contains(name), "open segment {open} listed");
                }
                for line in text.lines().filter(|l| l.starts_with("#EXT-X-PART:")) {
                    let uri = line
                        .split("URI=\"")
                        .nth(1)
                        .and_then(|u| u.split('"').next());
                    let uri = uri.expect("part URI");
                    assert!(
                        self.parts.iter().any(|p| p.ends_with(uri)),
                        "part {uri} listed before it was written"
                    );
                }
            }
            FileOp::WritePart { path, contents } => {
                assert!(!contents.is_empty(), "empty part {path}");
                self.parts.insert(path.to_string());
            }
            FileOp::CreateDir { .. } | FileOp::Delete { .. } | FileOp::CancelDelete { .. } => {}
            FileOp::OpenRecording { part } => {
                assert!(
                    self.recording.is_none(),
                    "recording opened while one is open"
                );
                self.recording = Some((part.to_string(), 0));
            }
            FileOp::ResumeRecording { part, path } => {
                assert!(
                    self.recording.is_none(),
                    "recording opened while one is open"
                );
                assert_ne!(part, path);
                // The existing file's bytes may be rewritten: its length is unknown here.
                self.recording = Some((part.to_string(), u64::MAX));
            }
            FileOp::AppendRecording { data } => {
                let (_, len) = self.recording.as_mut().expect("append without recording");
                *len = len.saturating_add(data.len() as u64);
            }
            FileOp::WriteRecordingAt { offset, data } => {
                let (_, len) = self.recording.as_ref().expect("write without recording");
                assert!(
                    offset + data.len() as u64 <= *len,
                    "write past the appended bytes"
                );
            }
            FileOp::FinishRecording { part, path } => {
                let (open, _) = self.recording.take().expect("finish without recording");
                assert_eq!(open, part.to_string());
                assert_ne!(part, path);
            }
        }
    }
}

pub fn hls_stream(data: &[u8]) {
    let Some((&cfg_byte, rest)) = data.split_first() else {
        return;
    };
    let config = HlsConfig {
        fragment_ms: 100 + u64::from(cfg_byte & 0x0f) * 250,
        playlist_length_ms: 1_000 + u64::from(cfg_byte >> 4 & 3) * 2_000,
        max_fragment_ms: None,
        continuous: true,
        nested: cfg_byte & 0x40 != 0,
        cleanup: true,
        naming: if cfg_byte & 0x80 != 0 {
            Naming::Timestamp
        } else {
            Naming::Sequential
        },
        slicing: if cfg_byte & 0x20 != 0 {
            Slicing::Aligned
        } else {
            Slicing::Plain
        },
        kind: PlaylistKind::Live,
        // Shares its bit with the playlist length: both containers see every input shape.
        fragment_type: if cfg_byte & 0x10 != 0 {
            ngx_rtmp::hls::FragmentType::Fmp4
        } else {
            ngx_rtmp::hls::FragmentType::MpegTs
        },
        base_url: String::new(),
        // Low-Latency HLS for inputs of odd length: both shapes see every input.
        part_ms: (rest.len() % 2 == 1).then_some(200),
        program_date_time: rest.len() % 2 == 1,
    };
    let mut now = Now {
        monotonic_ms: 1_000,
        unix_ms: 1_700_000_000_000,
    };
    let Ok(mut hls) = HlsStream::new(config, "fuzz", None, now) else {
        return;
    };
    let mut d = Demuxer::new();
    let mut ops = OpChecker::default();
    for r in media_records(rest) {
        let payload = Bytes::copy_from_slice(r.payload);
        let res = if r.video {
            d.push_video(r.timestamp, payload)
        } else {
            d.push_audio(r.timestamp, payload)
        };
        now.monotonic_ms += 10;
        now.unix_ms += 10;
        let frames = res.map(<[_]>::to_vec).unwrap_or_default();
        for frame in frames.iter().filter(|f| d.is_primary(f)) {
            let _ = hls.push(frame, &d, now);
        }
        while let Some(op) = hls.poll_op() {
            ops.check(&op);
        }
    }
    let _ = hls.finish(now);
    while let Some(op) = hls.poll_op() {
        ops.check(&op);
    }
    assert!(ops.open.is_none(), "segment left open after finish");
}

/// C0 C1 C2 of a plain handshake.
pub fn plain_handshake() -> Vec<u8> {
    let mut v = vec![3u8];
    v.extend((0..1536u32).map(|i| if i < 8 { 0 } else { (i * 7 + 3) as u8 }));
    v.extend((0..1536u32).map(|i| (i * 13) as u8));
    v
}

/// Feeds `data` to a session in pieces of 1000 bytes, answering requests as the shell
/// would: accept all (len % 3 == 0), reject all (1) or never answer (2).
fn run_session(prefix: &[u8], data: &[u8]) {
    let mode = data.len() % 3;
    let config = SessionConfig {
        limits: Limits {
            max_message: 256 * 1024,
            max_partial_bytes: 512 * 1024,
            max_backlog: 64 * 1024,
            ..Limits::default()
        },
        ..SessionConfig::default()
    };
    let mut s = Session::new(config, 0, 7);
    let mut now = 0u64;
    let pieces = std::iter::once(prefix).chain(data.chunks(1000));
    for piece in pieces {
        now += 5;
        let r = s.feed(now, piece);
        while let Some(ev) = s.poll_event() {
            match (mode, ev) {
                (0, Event::Connect(_)) => s.accept_connect(),
                (0, Event::Publish(p)) => s.accept_publish(p.stream_id),
                (0, Event::Play(p)) => s.accept_play(p.stream_id),
                (1, Event::Connect(_)) => s.reject_connect("no"),
                (1, Event::Publish(p)) => s.reject_publish(p.stream_id, Rejection::Busy),
                (1, Event::Play(p)) => s.reject_play(p.stream_id, Rejection::NotFound),
                _ => {}
            }
        }
        while s.poll_transmit().is_some() {}
        if r.is_err() {
            return;
        }
        if let Some(t) = s.poll_timeout() {
            if t <= now && s.handle_timeout(now).is_err() {
                return;
            }
        }
    }
    let _ = s.handle_timeout(now + 120_000);
    while s.poll_transmit().is_some() {}
}

pub fn session(data: &[u8]) {
    run_session(&[], data);
}

pub fn session_handshake(data: &[u8]) {
    run_session(&plain_handshake(), data);
}

/// A driver: arbitrary bytes in, panics on findings.
pub type Driver = fn(&[u8]);

/// Every driver, by the name of its fuzz target and seed corpus directory.
pub const DRIVERS: &[(&str, Driver)] = &[
    ("chunk_decoder", chunk_decoder),
    ("amf0_decode", amf0_decode),
    ("flv_tag", flv_tag),
    ("flv_stream", flv_stream),
    ("avc_config", avc_config),
    ("aac_config", aac_config),
    ("ex_header", ex_header),
    ("hevc_config", hevc_config),
    ("av1_config", av1_config),
    ("vp_config", vp_config),
    ("opus_head", opus_head),
    ("demux", demux),
    ("hls_stream", hls_stream),
    ("demux_ex", ertmp::demux_ex),
    ("pipeline_ex", ertmp::pipeline_ex),
    ("session", session),
    ("session_handshake", session_handshake),
];
