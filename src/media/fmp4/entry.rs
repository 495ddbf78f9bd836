//! What an initialization segment says about a track: [`TrackConfig`], and the sample entry
//! it becomes inside `stsd` — `avc1`+`avcC`, `hvc1`+`hvcC`, `av01`+`av1C`, `vp09`+`vpcC`,
//! `mp4a`+`esds`, `Opus`+`dOps`.

use bytes::Bytes;

use super::{boxed, full, u16be, u32be, zeros, VIDEO_TIMESCALE};
use crate::media::aac::SAMPLE_RATES;
use crate::media::{
    AudioConfig, AudioSpecificConfig, AudioTrack, AvcConfig, OpusHead, VideoConfig, VideoTrack,
    VpConfig,
};

/// Timescale of Opus tracks: Opus always decodes at 48 kHz (Opus in ISOBMFF 4.3).
pub const OPUS_TIMESCALE: u32 = 48_000;

/// What the initialization segment describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackConfig {
    Video {
        config: VideoConfig,
        /// The configuration record as received: the body of `hvcC` and `av1C`. AVC's
        /// `avcC` and VP9's `vpcC` are rebuilt from the parsed configuration instead.
        record: Bytes,
        width: u16,
        height: u16,
    },
    Audio {
        config: AudioConfig,
    },
}

fn clamp16(v: u32) -> u16 {
    u16::try_from(v).unwrap_or(u16::MAX)
}

impl TrackConfig {
    /// An AVC track (its `avcC` rebuilt from the parsed record).
    pub fn video(avc: &AvcConfig) -> TrackConfig {
        let (w, h) = avc
            .sps_info
            .as_ref()
            .map_or((0, 0), |s| (s.width, s.height));
        TrackConfig::Video {
            config: VideoConfig::Avc(avc.clone()),
            record: Bytes::new(),
            width: clamp16(w),
            height: clamp16(h),
        }
    }

    /// An AAC track.
    pub fn audio(asc: &AudioSpecificConfig) -> TrackConfig {
        TrackConfig::Audio {
            config: AudioConfig::Aac(*asc),
        }
    }

    /// A video track of any codec the demuxer knows. The picture size is the record's (VP9
    /// records have none: it stays 0×0 until [`TrackConfig::with_size`] sets it).
    pub fn from_video_track(track: &VideoTrack) -> TrackConfig {
        let (w, h) = track.config.size().unwrap_or((0, 0));
        TrackConfig::Video {
            config: track.config.clone(),
            record: track.record.clone(),
            width: clamp16(w),
            height: clamp16(h),
        }
    }

    /// An audio track of any codec the demuxer knows.
    pub fn from_audio_track(track: &AudioTrack) -> TrackConfig {
        TrackConfig::Audio {
            config: track.config.clone(),
        }
    }

    /// The same track with the picture size set (a no-op for audio).
    pub fn with_size(mut self, w: u32, h: u32) -> TrackConfig {
        if let TrackConfig::Video { width, height, .. } = &mut self {
            *width = clamp16(w);
            *height = clamp16(h);
        }
        self
    }

    pub fn is_video(&self) -> bool {
        matches!(self, TrackConfig::Video { .. })
    }

    /// Media timescale: 90 kHz for video, the AAC (core) sampling rate, 48 kHz for Opus.
    pub fn timescale(&self) -> u32 {
        match self {
            TrackConfig::Video { .. } => VIDEO_TIMESCALE,
            TrackConfig::Audio {
                config: AudioConfig::Aac(asc),
            } => asc.sample_rate.max(1),
            TrackConfig::Audio {
                config: AudioConfig::Opus(_),
            } => OPUS_TIMESCALE,
        }
    }

    /// Output sampling rate of an audio track (AAC: with SBR, the extension rate); 0 for
    /// video.
    pub fn sample_rate(&self) -> u32 {
        match self {
            TrackConfig::Video { .. } => 0,
            TrackConfig::Audio {
                config: AudioConfig::Aac(asc),
            } => asc.extension_sample_rate.unwrap_or(asc.sample_rate),
            TrackConfig::Audio {
                config: AudioConfig::Opus(_),
            } => OPUS_TIMESCALE,
        }
    }

    /// Channel count of an audio track (0 for video).
    pub fn channels(&self) -> u8 {
        match self {
            TrackConfig::Video { .. } => 0,
            TrackConfig::Audio {
                config: AudioConfig::Aac(asc),
            } => asc.channels(),
            TrackConfig::Audio {
                config: AudioConfig::Opus(head),
            } => opus_head(head.as_ref()).channels,
        }
    }

    /// RFC 6381 codecs string: `avc1.pPcCLl` (lowercase hex), `hvc1.…`, `av01.…`, `vp09.…`,
    /// `mp4a.40.N` or `opus`.
    pub fn codecs(&self) -> String {
        match self {
            TrackConfig::Video {
                config: VideoConfig::Avc(avc),
                ..
            } => format!(
                "avc1.{:02x}{:02x}{:02x}",
                avc.profile, avc.compatibility, avc.level
            ),
            TrackConfig::Video { config, .. } => config.codec_string(),
            TrackConfig::Audio { config } => config.codec_string(),
        }
    }

    /// The sample entry box inside `stsd`.
    pub(super) fn sample_entry(&self, o: &mut Vec<u8>) {
        match self {
            TrackConfig::Video {
                config,
                record,
                width,
                height,
            } => {
                let kind = match config {
                    VideoConfig::Avc(_) => b"avc1",
                    VideoConfig::Hevc(_) => b"hvc1",
                    VideoConfig::Av1(_) => b"av01",
                    VideoConfig::Vp9(_) => b"vp09",
                };
                visual_entry(o, kind, *width, *height, |o| match config {
                    VideoConfig::Avc(avc) => boxed(o, b"avcC", |o| avcc(o, avc)),
                    VideoConfig::Hevc(_) => boxed(o, b"hvcC", |o| o.extend_from_slice(record)),
                    VideoConfig::Av1(_) => boxed(o, b"av1C", |o| o.extend_from_slice(record)),
                    VideoConfig::Vp9(vp) => full(o, b"vpcC", 1, 0, |o| vpcc(o, vp)),
                });
            }
            TrackConfig::Audio {
                config: AudioConfig::Aac(asc),
            } => {
                let channels = u16::from(asc.channels().max(1)).min(8);
                audio_entry(o, b"mp4a", channels, asc.sample_rate, |o| {
                    full(o, b"esds", 0, 0, |o| esds(o, asc))
                });
            }
            TrackConfig::Audio {
                config: AudioConfig::Opus(head),
            } => {
                let head = opus_head(head.as_ref());
                audio_entry(o, b"Opus", u16::from(head.channels), OPUS_TIMESCALE, |o| {
                    boxed(o, b"dOps", |o| o.extend_from_slice(&head.dops()))
                });
            }
        }
    }
}

/// The OpusHead in force: the one received, or for a track without one what an Opus decoder
/// assumes without extradata (FFmpeg's too): stereo, mapping family 0, no pre-skip.
fn opus_head(head: Option<&OpusHead>) -> OpusHead {
    head.cloned().unwrap_or(OpusHead {
        channels: 2,
        pre_skip: 0,
        input_sample_rate: OPUS_TIMESCALE,
        output_gain: 0,
        mapping_family: 0,
        mapping: None,
    })
}

/// A VisualSampleEntry (ISO/IEC 14496-12 12.1.3) with its configuration boxes from `f`.
fn visual_entry(
    o: &mut Vec<u8>,
    kind: &[u8; 4],
    width: u16,
    height: u16,
    f: impl FnOnce(&mut Vec<u8>),
) {
    boxed(o, kind, |o| {
        zeros(o, 6);
        u16be(o, 1); // data reference index
        zeros(o, 16); // pre_defined, reserved
        u16be(o, width);
        u16be(o, height);
        u32be(o, 0x0048_0000); // 72 dpi
        u32be(o, 0x0048_0000);
        u32be(o, 0);
        u16be(o, 1); // frame count
        zeros(o, 32); // compressor name
        u16be(o, 0x0018); // depth
        u16be(o, 0xffff); // pre_defined -1
        f(o);
    });
}

/// An AudioSampleEntry (ISO/IEC 14496-12 12.2.3), version 0.
fn audio_entry(
    o: &mut Vec<u8>,
    kind: &[u8; 4],
    channels: u16,
    rate: u32,
    f: impl FnOnce(&mut Vec<u8>),
) {
    boxed(o, kind, |o| {
        zeros(o, 6);
        u16be(o, 1); // data reference index
        zeros(o, 8);
        u16be(o, channels);
        u16be(o, 16); // sample size
        zeros(o, 4);
        u32be(o, rate.min(0xffff) << 16);
        f(o);
    });
}

/// AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3.1), rebuilt from the parsed one.
fn avcc(o: &mut Vec<u8>, avc: &AvcConfig) {
    o.push(1);
    o.push(avc.profile);
    o.push(avc.compatibility);
    o.push(avc.level);
    o.push(0xfc | (avc.nal_length_size.clamp(1, 4) - 1));
    let sps: Vec<&Bytes> = avc
        .sps
        .iter()
        .filter(|s| s.len() <= 0xffff)
        .take(31)
        .collect();
    o.push(0xe0 | sps.len() as u8);
    for s in sps {
        u16be(o, s.len() as u16);
        o.extend_from_slice(s);
    }
    let pps: Vec<&Bytes> = avc
        .pps
        .iter()
        .filter(|s| s.len() <= 0xffff)
        .take(255)
        .collect();
    o.push(pps.len() as u8);
    for p in pps {
        u16be(o, p.len() as u16);
        o.extend_from_slice(p);
    }
    if matches!(avc.profile, 100 | 110 | 122 | 144) {
        let chroma = avc
            .sps_info
            .as_ref()
            .map_or(1, |s| s.chroma_format_idc.min(3) as u8);
        o.push(0xfc | chroma);
        o.push(0xf8); // bit depth luma - 8 (8-bit; the SPS carries the truth)
        o.push(0xf8); // bit depth chroma - 8
        o.push(0); // no SPS extensions
    }
}

/// The VPCodecConfigurationRecord (VP Codec ISO Media File Format Binding 2.2), the body of
/// the `vpcC` FullBox version 1.
fn vpcc(o: &mut Vec<u8>, vp: &VpConfig) {
    o.push(vp.profile);
    o.push(vp.level);
    o.push((vp.bit_depth << 4) | ((vp.chroma_subsampling & 7) << 1) | u8::from(vp.full_range));
    o.push(vp.colour_primaries);
    o.push(vp.transfer_characteristics);
    o.push(vp.matrix_coefficients);
    // codecInitializationData: always empty for VP9 (the parser bounded it to 16 bits).
    let init = vp.init_data.get(..0xffff).unwrap_or(&vp.init_data);
    u16be(o, init.len() as u16);
    o.extend_from_slice(init);
}

/// A descriptor of ISO/IEC 14496-1 with its expandable size.
fn descriptor(o: &mut Vec<u8>, tag: u8, body: &[u8]) {
    o.push(tag);
    let len = body.len() as u32;
    // Four bytes of size, as most muxers write it.
    for shift in [21u32, 14, 7] {
        o.push(0x80 | ((len >> shift) & 0x7f) as u8);
    }
    o.push((len & 0x7f) as u8);
    o.extend_from_slice(body);
}

fn esds(o: &mut Vec<u8>, asc: &AudioSpecificConfig) {
    let mut dsi = Vec::new();
    descriptor(&mut dsi, 0x05, &audio_specific_config(asc));
    let mut dcd = vec![0x40, 0x15]; // MPEG-4 audio, audio stream
    dcd.extend_from_slice(&[0, 0, 0]); // buffer size
    dcd.extend_from_slice(&[0; 8]); // max, average bitrate: unknown
    dcd.extend_from_slice(&dsi);
    let mut es = vec![0, 1, 0]; // ES_ID 1, no flags
    descriptor(&mut es, 0x04, &dcd);
    descriptor(&mut es, 0x06, &[0x02]); // SLConfig: MP4
    descriptor(o, 0x03, &es);
}

/// Writes bits MSB first.
struct BitWriter {
    out: Vec<u8>,
    bits: u32,
}

impl BitWriter {
    fn put(&mut self, value: u32, n: u32) {
        for i in (0..n).rev() {
            if self.bits.is_multiple_of(8) {
                self.out.push(0);
            }
            if (value >> i) & 1 == 1 {
                if let Some(last) = self.out.last_mut() {
                    *last |= 0x80 >> (self.bits % 8);
                }
            }
            self.bits += 1;
        }
    }

    fn object_type(&mut self, t: u8) {
        if t >= 32 {
            self.put(31, 5);
            self.put(u32::from(t - 32), 6);
        } else {
            self.put(u32::from(t), 5);
        }
    }

    fn frequency(&mut self, index: Option<u8>, rate: u32) {
        match index {
            Some(i) if i < 15 => self.put(u32::from(i), 4),
            _ => {
                self.put(15, 4);
                self.put(rate, 24);
            }
        }
    }
}

fn rate_index(rate: u32) -> Option<u8> {
    SAMPLE_RATES
        .iter()
        .position(|&r| r == rate)
        .and_then(|i| u8::try_from(i).ok())
}

/// The AudioSpecificConfig bytes, rebuilt from the parsed fields (GASpecificConfig with
/// 1024-sample frames, no core coder, no extension).
pub fn audio_specific_config(asc: &AudioSpecificConfig) -> Vec<u8> {
    let mut w = BitWriter {
        out: Vec::new(),
        bits: 0,
    };
    w.object_type(asc.object_type);
    let index = (asc.sample_rate_index < 15).then_some(asc.sample_rate_index);
    w.frequency(index, asc.sample_rate);
    w.put(u32::from(asc.channel_config), 4);
    if let (Some(ext), Some(core)) = (asc.extension_sample_rate, asc.core_object_type) {
        w.frequency(rate_index(ext), ext);
        w.object_type(core);
    }
    let core = asc.core_object_type.unwrap_or(asc.object_type);
    if matches!(core, 1..=4 | 6 | 7 | 17 | 19..=23) {
        w.put(0, 3); // frameLengthFlag, dependsOnCoreCoder, extensionFlag
    }
    w.out
}
