//! MPEG-TS muxer (ISO/IEC 13818-1) for HLS segments, on top of `mpeg2ts`'s
//! packet writer.
//!
//! - Every segment starts with PAT and PMT; the PMT lists only the tracks
//!   that exist (video PID 0x100, H.264 0x1b or HEVC 0x24; audio PID 0x101, AAC ADTS
//!   0x0f).
//! - Continuity counters live in the muxer, so they continue across segments.
//! - Timestamps: stream milliseconds × 90, plus [`TS_DELAY_90K`] for PTS/DTS;
//!   the PCR is the same clock without the delay, so it is never negative
//!   and always leads the DTS it announces by 700 ms. All values wrap at 2^33.
//! - The PCR rides on every PES of the PCR PID (video if present, else
//!   audio). When the data is sparser than [`MAX_PCR_GAP_90K`], PCR-only
//!   packets (adaptation field, no payload) fill the gap, so consecutive PCR
//!   values are never more than 90 ms apart.
//! - AAC frames are packed, with ADTS headers, into one PES per
//!   [`AUDIO_PACK_90K`] of audio; [`TsMuxer::flush_audio`] empties the pack
//!   (the stream calls it before every cut and at the end).
//! - Frames are packetized straight from their pieces (AVCC NAL units behind
//!   start codes, the audio pack) into TS packets: no Annex-B copy of a frame.
//! - Output goes into blocks of [`OUTPUT_BLOCK`] bytes; [`TsMuxer::take_output`]
//!   hands out full blocks (and, when asked, the one being filled) as `Bytes`
//!   without copying. A stream keeps one block, whatever its largest frame.

use std::collections::VecDeque;

use bytes::{BufMut, Bytes, BytesMut};
use mpeg2ts::es::StreamType;
use mpeg2ts::pes::PesHeader;
use mpeg2ts::time::{ClockReference, Timestamp};
use mpeg2ts::ts::payload::{self, Pat, Pes, Pmt};
use mpeg2ts::ts::{
    AdaptationField, ContinuityCounter, EsInfo, Pid, ProgramAssociation,
    TransportScramblingControl, TsHeader, TsPacket, TsPacketWriter, TsPayload, VersionNumber,
    WriteTsPacket,
};

use super::annexb::{annexb_pieces, NalFormat};
use super::error::HlsError;
use crate::media::{AdtsHeader, AvcConfig, HevcConfig};

pub const PAT_PID: u16 = 0;
pub const PMT_PID: u16 = 0x1000;
pub const VIDEO_PID: u16 = 0x100;
pub const AUDIO_PID: u16 = 0x101;
const VIDEO_STREAM_ID: u8 = 0xe0;
const AUDIO_STREAM_ID: u8 = 0xc0;

/// PTS/DTS = ms × 90 + 700 ms: the PCR (ms × 90) leads by this much.
pub const TS_DELAY_90K: u64 = 63_000;
/// Largest step between consecutive PCR values we emit (90 ms).
pub const MAX_PCR_GAP_90K: u64 = 8_100;
/// Gaps longer than this are not filled with PCR packets (a timestamp jump;
/// the segmenter starts a new segment with a discontinuity).
const MAX_PCR_FILL_90K: u64 = 10 * 90_000;
/// Audio per PES (100 ms).
pub const AUDIO_PACK_90K: u64 = 9_000;
/// Upper bound of one audio PES payload (PES_packet_length is 16 bits).
const AUDIO_PACK_MAX_BYTES: usize = 60_000;
const TS_WRAP: u64 = 1 << 33;
const TS_PAYLOAD: usize = 184;
const TS_PACKET: usize = 188;
const TS_SYNC: u8 = 0x47;
/// Adaptation field control 01 (payload only), scrambling 00, in the fourth header byte.
const PAYLOAD_ONLY: u8 = 0x10;

/// Which elementary streams a segment carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tracks {
    pub video: bool,
    pub audio: bool,
}

impl Tracks {
    pub fn pcr_pid(&self) -> u16 {
        if self.video {
            VIDEO_PID
        } else {
            AUDIO_PID
        }
    }
}

#[derive(Debug, Default)]
struct AudioPack {
    buf: Vec<u8>,
    /// 90 kHz (unwrapped, without delay) time of the first frame.
    start: u64,
}

/// Continuity counters per PID.
#[derive(Debug, Default)]
struct Counters {
    pat: ContinuityCounter,
    pmt: ContinuityCounter,
    video: ContinuityCounter,
    audio: ContinuityCounter,
}

impl Counters {
    fn get_mut(&mut self, pid: u16) -> &mut ContinuityCounter {
        match pid {
            PAT_PID => &mut self.pat,
            PMT_PID => &mut self.pmt,
            VIDEO_PID => &mut self.video,
            _ => &mut self.audio,
        }
    }

    /// The counter for a packet with payload: returns it and increments.
    fn next(&mut self, pid: u16) -> ContinuityCounter {
        let c = self.get_mut(pid);
        let v = *c;
        c.increment();
        v
    }

    /// The counter for a packet without payload: repeats the last one.
    fn repeat(&mut self, pid: u16) -> ContinuityCounter {
        let v = self.get_mut(pid).as_u8();
        ContinuityCounter::from_u8((v + 15) & 15).unwrap_or_default()
    }
}

/// One PES to packetize.
struct PesSpec {
    pid: u16,
    stream_id: u8,
    /// Unwrapped 90 kHz, without delay.
    pts: u64,
    dts: Option<u64>,
    pcr: Option<u64>,
    random_access: bool,
}

/// Size of the output blocks (about one `write` each).
pub const OUTPUT_BLOCK: usize = 32 * 1024;

/// The MPEG-TS muxer of one stream.
#[derive(Debug)]
pub struct TsMuxer {
    /// The block being filled.
    out: BytesMut,
    /// Full blocks not taken yet, and their total length.
    full: VecDeque<Bytes>,
    full_len: usize,
    tracks: Tracks,
    pmt_version: VersionNumber,
    cc: Counters,
    /// Last PCR written (unwrapped 90 kHz base).
    last_pcr: Option<u64>,
    audio: AudioPack,
    /// The video PID carries HEVC (stream type 0x24) rather than H.264 (0x1b).
    hevc: bool,
}

impl Default for TsMuxer {
    fn default() -> Self {
        Self::new()
    }
}

fn wrap(t: u64) -> u64 {
    t % TS_WRAP
}

fn ts(t: u64) -> Timestamp {
    // `wrap` keeps the value within 33 bits, so this cannot fail.
    Timestamp::new(wrap(t)).unwrap_or(Timestamp::from(0u32))
}

fn pcr(t: u64) -> ClockReference {
    ClockReference::from(ts(t))
}

fn header(pid: u16, cc: ContinuityCounter) -> TsHeader {
    TsHeader {
        transport_error_indicator: false,
        transport_priority: false,
        // All our PIDs are below 0x1fff.
        pid: Pid::new(pid).unwrap_or(Pid::from(0)),
        transport_scrambling_control: TransportScramblingControl::NotScrambled,
        continuity_counter: cc,
    }
}

fn adaptation(pcr_90k: Option<u64>, random_access: bool) -> AdaptationField {
    AdaptationField {
        discontinuity_indicator: false,
        random_access_indicator: random_access,
        es_priority_indicator: false,
        pcr: pcr_90k.map(pcr),
        opcr: None,
        splice_countdown: None,
        transport_private_data: Vec::new(),
        extension: None,
    }
}

/// A cursor over the pieces of one PES payload.
struct Pieces<'a, I> {
    pieces: I,
    current: &'a [u8],
}

impl<'a, I: Iterator<Item = &'a [u8]>> Pieces<'a, I> {
    fn new(pieces: I) -> Self {
        Pieces {
            pieces,
            current: &[],
        }
    }

    /// Up to `max` (> 0) next bytes, from the current piece only; `None` at the end.
    fn take(&mut self, max: usize) -> Option<&'a [u8]> {
        while self.current.is_empty() {
            self.current = self.pieces.next()?;
        }
        let (head, tail) = self.current.split_at(max.min(self.current.len()));
        self.current = tail;
        Some(head)
    }

    /// Appends the next `n` bytes (fewer only at the end) to `out`; returns how many.
    fn put(&mut self, out: &mut BytesMut, n: usize) -> usize {
        let mut done = 0;
        while done < n {
            let Some(chunk) = self.take(n - done) else {
                break;
            };
            out.extend_from_slice(chunk);
            done += chunk.len();
        }
        done
    }

    /// Copies the next bytes into `buf`; returns how many (less than `buf.len()` only at the
    /// end).
    fn fill(&mut self, buf: &mut [u8]) -> usize {
        let mut done = 0;
        while done < buf.len() {
            let Some(chunk) = self.take(buf.len() - done) else {
                break;
            };
            if let Some(dst) = buf.get_mut(done..done + chunk.len()) {
                dst.copy_from_slice(chunk);
            }
            done += chunk.len();
        }
        done
    }
}

impl TsMuxer {
    pub fn new() -> Self {
        Self {
            out: BytesMut::new(),
            full: VecDeque::new(),
            full_len: 0,
            tracks: Tracks::default(),
            pmt_version: VersionNumber::new(),
            cc: Counters::default(),
            last_pcr: None,
            audio: AudioPack::default(),
            hevc: false,
        }
    }

    /// Bytes produced and not yet taken.
    pub fn output_len(&self) -> usize {
        self.full_len + self.out.len()
    }

    /// The next full block of output, else (with `partial`) what the current block holds;
    /// `None` when there is nothing (more) to take. No copy.
    pub fn take_output(&mut self, partial: bool) -> Option<Bytes> {
        if let Some(b) = self.full.pop_front() {
            self.full_len -= b.len();
            return Some(b);
        }
        (partial && !self.out.is_empty()).then(|| std::mem::take(&mut self.out).freeze())
    }

    /// Sets the video codec the next segments' PMT announces: HEVC or H.264.
    pub fn set_video_hevc(&mut self, hevc: bool) {
        if hevc != self.hevc {
            self.hevc = hevc;
            self.pmt_version.increment();
        }
    }

    /// Tracks of the current segment.
    pub fn tracks(&self) -> Tracks {
        self.tracks
    }

    /// Whether audio is waiting in the pack.
    pub fn has_pending_audio(&self) -> bool {
        !self.audio.buf.is_empty()
    }

    /// Makes room for one packet in the current block: a full block joins the queue and a new
    /// one is allocated with its final size (never grown).
    fn reserve_packet(&mut self) {
        if self.out.len() + TS_PACKET > self.out.capacity() {
            if !self.out.is_empty() {
                let block = std::mem::take(&mut self.out).freeze();
                self.full_len += block.len();
                self.full.push_back(block);
            }
            self.out = BytesMut::with_capacity(OUTPUT_BLOCK);
        }
    }

    fn write_packet(&mut self, packet: &TsPacket) -> Result<(), HlsError> {
        self.reserve_packet();
        let mut w = TsPacketWriter::new((&mut self.out).writer());
        w.write_ts_packet(packet)?;
        Ok(())
    }

    /// Starts a segment: writes PAT and PMT. Flush the audio pack (and take
    /// the output) of the previous segment first. After a discontinuity
    /// the PCR restarts from the next frame.
    pub fn start_segment(&mut self, tracks: Tracks, discontinuity: bool) -> Result<(), HlsError> {
        if tracks != self.tracks {
            self.pmt_version.increment();
            self.tracks = tracks;
        }
        if discontinuity {
            self.last_pcr = None;
        }
        self.write_tables()
    }

    /// Writes PAT and PMT for the current tracks (at a segment's start, and at every part's
    /// start so that a part is readable on its own).
    pub fn write_tables(&mut self) -> Result<(), HlsError> {
        let tracks = self.tracks;
        let pat = TsPacket {
            header: header(PAT_PID, self.cc.next(PAT_PID)),
            adaptation_field: None,
            payload: Some(TsPayload::Pat(Pat {
                transport_stream_id: 1,
                version_number: VersionNumber::new(),
                table: vec![ProgramAssociation {
                    program_num: 1,
                    program_map_pid: Pid::new(PMT_PID)?,
                }],
            })),
        };
        self.write_packet(&pat)?;
        let mut es_info = Vec::with_capacity(2);
        if tracks.video {
            es_info.push(EsInfo {
                stream_type: if self.hevc {
                    StreamType::H265
                } else {
                    StreamType::H264
                },
                elementary_pid: Pid::new(VIDEO_PID)?,
                descriptors: Vec::new(),
            });
        }
        if tracks.audio {
            es_info.push(EsInfo {
                stream_type: StreamType::AdtsAac,
                elementary_pid: Pid::new(AUDIO_PID)?,
                descriptors: Vec::new(),
            });
        }
        let pmt = TsPacket {
            header: header(PMT_PID, self.cc.next(PMT_PID)),
            adaptation_field: None,
            payload: Some(TsPayload::Pmt(Pmt {
                program_num: 1,
                pcr_pid: Some(Pid::new(tracks.pcr_pid())?),
                version_number: self.pmt_version,
                program_info: Vec::new(),
                es_info,
            })),
        };
        self.write_packet(&pmt)
    }

    /// Emits PCR-only packets so that the PCR reaches within
    /// [`MAX_PCR_GAP_90K`] of `t` (unwrapped 90 kHz, no delay).
    fn fill_pcr(&mut self, t: u64) -> Result<(), HlsError> {
        let Some(mut last) = self.last_pcr else {
            return Ok(());
        };
        if t <= last + MAX_PCR_GAP_90K || t - last > MAX_PCR_FILL_90K {
            return Ok(());
        }
        let pid = self.tracks.pcr_pid();
        while t - last > MAX_PCR_GAP_90K {
            last += MAX_PCR_GAP_90K;
            let packet = TsPacket {
                header: header(pid, self.cc.repeat(pid)),
                adaptation_field: Some(adaptation(Some(last), false)),
                payload: None,
            };
            self.write_packet(&packet)?;
        }
        self.last_pcr = Some(last);
        Ok(())
    }

    /// The PCR to attach to a PES at `t` on `pid`, if `pid` is the PCR PID.
    fn pcr_for(&mut self, pid: u16, t: u64) -> Option<u64> {
        if pid != self.tracks.pcr_pid() {
            return None;
        }
        let v = self.last_pcr.map_or(t, |last| last.max(t));
        self.last_pcr = Some(v);
        Some(v)
    }

    /// Writes one PES of `len` bytes, given as `pieces` (in order), as TS packets.
    fn write_pes<'a>(
        &mut self,
        spec: &PesSpec,
        len: usize,
        pieces: impl Iterator<Item = &'a [u8]>,
    ) -> Result<(), HlsError> {
        let opt_len = 3 + 5 + if spec.dts.is_some() { 5 } else { 0 };
        let pes_len = u16::try_from(opt_len + len).unwrap_or(0);
        let pes_header = PesHeader {
            stream_id: mpeg2ts::es::StreamId::new(spec.stream_id),
            priority: false,
            data_alignment_indicator: true,
            copyright: false,
            original_or_copy: false,
            pts: Some(ts(spec.pts + TS_DELAY_90K)),
            dts: spec.dts.map(|d| ts(d + TS_DELAY_90K)),
            escr: None,
        };
        let af = (spec.pcr.is_some() || spec.random_access)
            .then(|| adaptation(spec.pcr, spec.random_access));
        let af_len = match (&af, spec.pcr) {
            (None, _) => 0,
            (Some(_), Some(_)) => 8,
            (Some(_), None) => 2,
        };
        let mut src = Pieces::new(pieces);
        let mut buf = [0u8; TS_PAYLOAD];
        let room = TS_PAYLOAD - 6 - opt_len - af_len;
        let n = src.fill(buf.get_mut(..room).unwrap_or_default());
        let packet = TsPacket {
            header: header(spec.pid, self.cc.next(spec.pid)),
            adaptation_field: af,
            payload: Some(TsPayload::Pes(Pes {
                header: pes_header,
                pes_packet_len: pes_len,
                data: payload::Bytes::new(buf.get(..n).unwrap_or_default())?,
            })),
        };
        self.write_packet(&packet)?;
        // Full continuation packets (most of a frame): a 4-byte header, then the payload
        // copied straight from the frame's pieces into the block.
        let mut left = len.saturating_sub(n);
        while left >= TS_PAYLOAD {
            self.reserve_packet();
            let cc = self.cc.next(spec.pid).as_u8();
            let [pid_hi, pid_lo] = spec.pid.to_be_bytes();
            self.out
                .put_slice(&[TS_SYNC, pid_hi & 0x1f, pid_lo, PAYLOAD_ONLY | cc]);
            let copied = src.put(&mut self.out, TS_PAYLOAD);
            // Only if `len` overstated the pieces: keep the packet 188 bytes long.
            self.out.put_bytes(0xff, TS_PAYLOAD - copied);
            left -= TS_PAYLOAD;
        }
        // The last, short packet: padded through its adaptation field.
        let n = src.fill(&mut buf);
        if n > 0 {
            let packet = TsPacket {
                header: header(spec.pid, self.cc.next(spec.pid)),
                adaptation_field: None,
                payload: Some(TsPayload::Raw(payload::Bytes::new(
                    buf.get(..n).unwrap_or_default(),
                )?)),
            };
            self.write_packet(&packet)?;
        }
        Ok(())
    }

    /// Writes one H.264 access unit. `dts_ms`/`pts_ms` are stream
    /// milliseconds (`pts_ms >= dts_ms`); `data` is AVCC.
    pub fn write_video(
        &mut self,
        dts_ms: u64,
        pts_ms: u64,
        keyframe: bool,
        data: &[u8],
        cfg: &AvcConfig,
    ) -> Result<(), HlsError> {
        self.write_nals(dts_ms, pts_ms, keyframe, data, NalFormat::avc(cfg))
    }

    /// Writes one HEVC access unit (length-prefixed NAL units, as `hvcC` says); the PMT
    /// must list video as HEVC ([`TsMuxer::set_video_hevc`]).
    pub fn write_hevc(
        &mut self,
        dts_ms: u64,
        pts_ms: u64,
        keyframe: bool,
        data: &[u8],
        cfg: &HevcConfig,
    ) -> Result<(), HlsError> {
        self.write_nals(dts_ms, pts_ms, keyframe, data, NalFormat::hevc(cfg))
    }

    fn write_nals(
        &mut self,
        dts_ms: u64,
        pts_ms: u64,
        keyframe: bool,
        data: &[u8],
        format: NalFormat<'_>,
    ) -> Result<(), HlsError> {
        let (len, pieces) = annexb_pieces(data, format, keyframe).map_err(HlsError::Malformed)?;
        let dts = dts_ms.saturating_mul(90);
        let pts = pts_ms.max(dts_ms).saturating_mul(90);
        self.fill_pcr(dts)?;
        let spec = PesSpec {
            pid: VIDEO_PID,
            stream_id: VIDEO_STREAM_ID,
            pts,
            dts: (pts != dts).then_some(dts),
            pcr: self.pcr_for(VIDEO_PID, dts),
            random_access: keyframe,
        };
        self.write_pes(&spec, len, pieces)
    }

    /// Queues one raw AAC frame (ADTS header added) at `pts_ms`. Packs are
    /// written when they span [`AUDIO_PACK_90K`], on [`TsMuxer::flush_audio`],
    /// or when they would grow too large.
    pub fn write_audio(
        &mut self,
        pts_ms: u64,
        data: &[u8],
        adts: &AdtsHeader,
    ) -> Result<(), HlsError> {
        let head = adts.write(data.len()).map_err(HlsError::Malformed)?;
        let t = pts_ms.saturating_mul(90);
        if !self.audio.buf.is_empty()
            && (t < self.audio.start
                || t - self.audio.start >= AUDIO_PACK_90K
                || self.audio.buf.len() + head.len() + data.len() > AUDIO_PACK_MAX_BYTES)
        {
            self.flush_audio()?;
        }
        if self.audio.buf.is_empty() {
            self.audio.start = t;
        }
        self.audio.buf.extend_from_slice(&head);
        self.audio.buf.extend_from_slice(data);
        Ok(())
    }

    /// Writes the pending audio pack, if any, as one PES.
    pub fn flush_audio(&mut self) -> Result<(), HlsError> {
        if self.audio.buf.is_empty() {
            return Ok(());
        }
        let buf = std::mem::take(&mut self.audio.buf);
        let t = self.audio.start;
        let result = self.fill_pcr(t).and_then(|()| {
            let pcr = self.pcr_for(AUDIO_PID, t);
            let spec = PesSpec {
                pid: AUDIO_PID,
                stream_id: AUDIO_STREAM_ID,
                pts: t,
                dts: None,
                random_access: pcr.is_some(),
                pcr,
            };
            self.write_pes(&spec, buf.len(), std::iter::once(buf.as_slice()))
        });
        self.audio.buf = buf;
        self.audio.buf.clear();
        result
    }
}
