//! Helpers shared by the media_* and hls_* tests: sequence headers from a
//! real x264/AAC encode, synthetic frames, an in-memory executor for
//! `FileOp`s, and a TS parser built on the `mpeg2ts` reader.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use mpeg2ts::ts::{ReadTsPacket, TsPacket, TsPacketReader, TsPayload};
use ngx_rtmp::files::{FileOp, Now};
use ngx_rtmp::hls::HlsStream;
use ngx_rtmp::media::{Demuxer, Frame};

/// FLV video tag body of x264's sequence header (High, 320x240).
pub const X264_HIGH_SEQ: &str = "17000000000164000dffe100196764000dacd94141fb0110000003001000000303c0f142996001000668ebe3cb22c0fdf8f800";
/// Baseline, 320x240.
pub const X264_BASELINE_SEQ: &str =
    "17000000000142c00dffe100186742c00dd90141fb0110000003001000000303c0f142a48001000568cb83cb20";
/// High 4:4:4 Predictive, 318x238 (cropping with chroma_format_idc 3).
pub const X264_HIGH444_SEQ: &str = "170000000001f4000dffe1001a67f4000d919b28283fdde022000003000200000300781e28532c01000668ebe3c44844fff8f800";
/// FLV audio tag body of FFmpeg's AAC sequence header (LC, 44.1 kHz, mono).
pub const AAC_SEQ: &str = "af00120856e500";

pub fn hex(s: &str) -> Bytes {
    let v: Vec<u8> = (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    Bytes::from(v)
}

/// A demuxer primed with real H.264 and AAC sequence headers.
pub fn demuxer(video: bool, audio: bool) -> Demuxer {
    let mut d = Demuxer::new();
    if video {
        assert_eq!(d.push_video(0, hex(X264_HIGH_SEQ)).unwrap(), None);
    }
    if audio {
        assert_eq!(d.push_audio(0, hex(AAC_SEQ)).unwrap(), None);
    }
    d
}

/// AVCC access unit: one slice NAL (IDR when key) of `size` bytes, plus an
/// SEI on keyframes, 4-byte lengths.
pub fn avcc_frame(key: bool, size: usize, tag: u8) -> Bytes {
    let mut v = Vec::new();
    if key {
        let sei = [0x06u8, 0x05, 0x01, 0xaa, 0x80];
        v.extend_from_slice(&(sei.len() as u32).to_be_bytes());
        v.extend_from_slice(&sei);
    }
    let mut nal = vec![if key { 0x65 } else { 0x41 }, 0x88, tag];
    nal.resize(size.max(3), tag);
    v.extend_from_slice(&(nal.len() as u32).to_be_bytes());
    v.extend_from_slice(&nal);
    Bytes::from(v)
}

pub fn video_frame(dts: u64, cts: u64, key: bool) -> Frame {
    Frame {
        track: ngx_rtmp::media::Track::Video,
        dts,
        pts: dts + cts,
        keyframe: key,
        data: avcc_frame(key, 300 + (dts % 700) as usize, (dts % 251) as u8),
    }
}

pub fn audio_frame(ts: u64) -> Frame {
    let mut v = vec![0x21u8, 0x10, 0x04, (ts % 256) as u8];
    v.resize(100 + (ts % 150) as usize, 0x5a);
    Frame {
        track: ngx_rtmp::media::Track::Audio,
        dts: ts,
        pts: ts,
        keyframe: true,
        data: Bytes::from(v),
    }
}

/// Interleaved synthetic A/V: video at `fps` with a keyframe every
/// `gop_ms`, AAC at 44.1 kHz (1024 samples), from `start` for `dur` ms.
pub fn av_frames(
    start: u64,
    dur: u64,
    fps: u64,
    gop_ms: u64,
    video: bool,
    audio: bool,
) -> Vec<Frame> {
    let mut frames = Vec::new();
    if video {
        let n = dur * fps / 1000;
        for i in 0..n {
            let t = i * 1000 / fps;
            let gop_frames = (gop_ms * fps / 1000).max(1);
            frames.push(video_frame(start + t, 67, i % gop_frames == 0));
        }
    }
    if audio {
        let mut k = 0u64;
        loop {
            let t = k * 1024 * 1000 / 44100;
            if t >= dur {
                break;
            }
            frames.push(audio_frame(start + t));
            k += 1;
        }
    }
    frames.sort_by_key(|f| (f.dts, f.track == ngx_rtmp::media::Track::Video));
    frames
}

pub fn now(ms: u64) -> Now {
    Now {
        monotonic_ms: ms,
        unix_ms: 1_700_000_000_000 + ms,
    }
}

/// Executes `FileOp`s in memory and records what happened.
#[derive(Default, Debug)]
pub struct Fs {
    pub files: BTreeMap<String, Vec<u8>>,
    pub open: Option<String>,
    /// Every playlist write, in order.
    pub playlists: Vec<(String, String)>,
    pub deletes: Vec<(String, u64)>,
    pub cancels: Vec<String>,
    pub dirs: Vec<String>,
    /// Segment paths in the order they were closed.
    pub closed: Vec<String>,
    pub log: Vec<String>,
}

impl Fs {
    pub fn apply(&mut self, op: FileOp) {
        match op {
            FileOp::CreateDir { path } => {
                self.log.push(format!("mkdir {path}"));
                self.dirs.push(path.to_string());
            }
            FileOp::OpenSegment { path } => {
                assert!(self.open.is_none(), "segment opened while another is open");
                self.log.push(format!("open {path}"));
                self.files.insert(path.to_string(), Vec::new());
                self.open = Some(path.to_string());
            }
            FileOp::AppendSegment { data } => {
                let p = self.open.clone().expect("append without open segment");
                self.files.get_mut(&p).unwrap().extend_from_slice(&data);
            }
            FileOp::CloseSegment { path } => {
                assert_eq!(self.open.as_deref(), Some(path.as_str()));
                self.log.push(format!("close {path}"));
                self.open = None;
                self.closed.push(path.to_string());
            }
            FileOp::WritePlaylist { path, contents } => {
                let text = String::from_utf8(contents.to_vec()).unwrap();
                self.log.push(format!("playlist {path}"));
                // Every listed segment must be complete (closed) on disk.
                for uri in text.lines().filter(|l| !l.starts_with('#')) {
                    let tail = uri.rsplit('/').next().unwrap();
                    assert!(
                        self.closed.iter().any(|p| p.ends_with(tail)),
                        "{uri} listed before it was closed"
                    );
                }
                self.files
                    .insert(path.to_string(), text.clone().into_bytes());
                self.playlists.push((path.to_string(), text));
            }
            FileOp::Delete {
                path,
                not_before_ms,
            } => {
                self.log.push(format!("delete {path}"));
                self.deletes.push((path.to_string(), not_before_ms));
            }
            FileOp::CancelDelete { path } => {
                self.log.push(format!("cancel {path}"));
                self.cancels.push(path.to_string());
            }
        }
    }

    pub fn drain(&mut self, s: &mut HlsStream) {
        while let Some(op) = s.poll_op() {
            self.apply(op);
        }
    }

    pub fn last_playlist(&self) -> &str {
        &self.playlists.last().expect("no playlist written").1
    }

    pub fn segment(&self, path: &str) -> &[u8] {
        self.files
            .get(path)
            .map(Vec::as_slice)
            .unwrap_or_else(|| panic!("no file {path}"))
    }
}

/// Feeds frames (pushing with `now` = frame dts) and drains after each.
pub fn feed(s: &mut HlsStream, d: &Demuxer, fs: &mut Fs, frames: &[Frame], t0: u64) {
    for f in frames {
        s.push(f, d, now(t0 + f.dts)).unwrap();
        fs.drain(s);
    }
}

/// Parsed playlist entries: (discontinuity before, duration ms, uri).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub discontinuity: bool,
    pub duration_ms: u64,
    pub uri: String,
}

pub fn tag<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines().find_map(|l| l.strip_prefix(name))
}

pub fn entries(text: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut disc = false;
    let mut dur = None;
    for l in text.lines() {
        if l == "#EXT-X-DISCONTINUITY" {
            disc = true;
        } else if let Some(v) = l.strip_prefix("#EXTINF:") {
            let v = v.trim_end_matches(',');
            let (a, b) = v.split_once('.').unwrap();
            assert_eq!(b.len(), 3, "EXTINF must have 3 decimals: {l}");
            dur = Some(a.parse::<u64>().unwrap() * 1000 + b.parse::<u64>().unwrap());
        } else if !l.starts_with('#') && !l.is_empty() {
            out.push(Entry {
                discontinuity: std::mem::take(&mut disc),
                duration_ms: dur.take().unwrap(),
                uri: l.to_string(),
            });
        }
    }
    out
}

/// A PES reassembled from TS packets.
#[derive(Debug, Clone)]
pub struct PesInfo {
    pub pid: u16,
    pub pts: Option<u64>,
    pub dts: Option<u64>,
    pub data: Vec<u8>,
    pub random_access: bool,
    pub pcr: Option<u64>,
}

/// What a TS file contains.
#[derive(Debug, Default)]
pub struct TsInfo {
    pub packets: Vec<TsPacket>,
    pub pes: Vec<PesInfo>,
    /// (pid, pcr base) in order.
    pub pcrs: Vec<(u16, u64)>,
    pub pmt_pids: Vec<u16>,
    pub pcr_pid: Option<u16>,
}

pub fn parse_ts(bytes: &[u8]) -> TsInfo {
    assert_eq!(bytes.len() % 188, 0, "TS length not a multiple of 188");
    let mut r = TsPacketReader::new(bytes);
    let mut info = TsInfo::default();
    let mut current: HashMap<u16, PesInfo> = HashMap::new();
    while let Some(p) = r
        .read_ts_packet()
        .expect("mpeg2ts reader rejected our output")
    {
        let pid = p.header.pid.as_u16();
        if let Some(af) = &p.adaptation_field {
            if let Some(pcr) = af.pcr {
                info.pcrs.push((pid, pcr.as_u64() / 300));
            }
        }
        match &p.payload {
            Some(TsPayload::Pmt(pmt)) => {
                info.pmt_pids = pmt
                    .es_info
                    .iter()
                    .map(|e| e.elementary_pid.as_u16())
                    .collect();
                info.pcr_pid = pmt.pcr_pid.map(|p| p.as_u16());
            }
            Some(TsPayload::Pes(pes)) => {
                if let Some(prev) = current.remove(&pid) {
                    info.pes.push(prev);
                }
                let af = p.adaptation_field.as_ref();
                current.insert(
                    pid,
                    PesInfo {
                        pid,
                        pts: pes.header.pts.map(|t| t.as_u64()),
                        dts: pes.header.dts.map(|t| t.as_u64()),
                        data: pes.data.to_vec(),
                        random_access: af.is_some_and(|a| a.random_access_indicator),
                        pcr: af.and_then(|a| a.pcr).map(|c| c.as_u64() / 300),
                    },
                );
            }
            Some(TsPayload::Raw(raw)) => {
                current
                    .get_mut(&pid)
                    .expect("continuation without PES start")
                    .data
                    .extend_from_slice(raw);
            }
            _ => {}
        }
        info.packets.push(p);
    }
    let mut rest: Vec<PesInfo> = current.into_values().collect();
    rest.sort_by_key(|p| p.pid);
    info.pes.extend(rest);
    info
}

/// NAL unit types of an Annex-B buffer, split on 00 00 00 01 / 00 00 01.
pub fn annexb_nal_types(data: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            if let Some(b) = data.get(i + 3) {
                types.push(b & 0x1f);
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    types
}

/// Splits an audio PES payload into ADTS frames; checks every header.
pub fn adts_frames(data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() {
        let h = &data[i..i + 7];
        assert_eq!(h[0], 0xff);
        assert_eq!(h[1] & 0xf6, 0xf0, "sync/layer");
        let len = (((h[3] & 3) as usize) << 11) | ((h[4] as usize) << 3) | ((h[5] as usize) >> 5);
        assert!(len >= 7 && i + len <= data.len(), "bad ADTS length");
        out.push(data[i + 7..i + len].to_vec());
        i += len;
    }
    out
}
