//! Demuxer, FLV headers, AVC and AAC configuration parsing.

mod support;

use bytes::Bytes;
use ngx_rtmp::media::flv::{self, AvcPacketType, VideoCodec, VideoFrameType};
use ngx_rtmp::media::{AudioSpecificConfig, AvcConfig, Demuxer, MediaError, SpsInfo, Track};
use support::media::*;

#[test]
fn x264_high_sequence_header() {
    let mut d = Demuxer::new();
    assert!(d.push_video(0, hex(X264_HIGH_SEQ)).unwrap().is_empty());
    let cfg = d.video_config().unwrap();
    assert_eq!(cfg.profile, 100);
    assert_eq!(cfg.level, 13);
    assert_eq!(cfg.nal_length_size, 4);
    assert_eq!(cfg.sps.len(), 1);
    assert_eq!(cfg.pps.len(), 1);
    assert_eq!(cfg.sps[0][0] & 0x1f, 7);
    assert_eq!(cfg.pps[0][0] & 0x1f, 8);
    let sps = cfg.sps_info.unwrap();
    assert_eq!((sps.width, sps.height), (320, 240));
    assert_eq!(sps.chroma_format_idc, 1);
    let info = d.codec_info();
    assert_eq!(info.video_codec, Some("H264"));
    assert_eq!(info.video_profile, Some("High"));
    assert_eq!(info.video_level.as_deref(), Some("1.3"));
    assert_eq!((info.width, info.height), (Some(320), Some(240)));
    assert_eq!(d.video_generation(), 1);
    // Same header again: no new generation.
    d.push_video(0, hex(X264_HIGH_SEQ)).unwrap();
    assert_eq!(d.video_generation(), 1);
    d.push_video(0, hex(X264_BASELINE_SEQ)).unwrap();
    assert_eq!(d.video_generation(), 2);
}

#[test]
fn x264_baseline_and_high444_sps() {
    let body = hex(X264_BASELINE_SEQ).slice(5..);
    let cfg = AvcConfig::parse(&body).unwrap();
    assert_eq!(cfg.profile, 66);
    assert_eq!(cfg.profile_name(), "Baseline");
    let sps = cfg.sps_info.unwrap();
    assert_eq!((sps.width, sps.height), (320, 240));

    // 4:4:4 with cropping: 318x238 coded as 20x15 macroblocks.
    let body = hex(X264_HIGH444_SEQ).slice(5..);
    let cfg = AvcConfig::parse(&body).unwrap();
    let sps = cfg.sps_info.unwrap();
    assert_eq!(sps.profile_idc, 244);
    assert_eq!(sps.chroma_format_idc, 3);
    assert_eq!((sps.width, sps.height), (318, 238));
}

#[test]
fn sps_with_scaling_lists_and_emulation_prevention() {
    // High profile SPS with seq_scaling_matrix_present_flag and one explicit
    // list, built bit by bit, then escaped.
    let mut bits = BitWriter::default();
    bits.put(100, 8); // profile_idc
    bits.put(0, 8); // constraints
    bits.put(40, 8); // level 4.0
    bits.ue(0); // sps id
    bits.ue(1); // chroma 4:2:0
    bits.ue(0); // bit depth luma
    bits.ue(0); // bit depth chroma
    bits.put(0, 1); // qpprime
    bits.put(1, 1); // seq_scaling_matrix_present
    for i in 0..8 {
        if i == 0 {
            bits.put(1, 1);
            // 16 deltas: first -8 makes next_scale 0 (use default), stop.
            bits.se(-8);
        } else {
            bits.put(0, 1);
        }
    }
    bits.ue(0); // log2_max_frame_num - 4
    bits.ue(2); // poc type 2
    bits.ue(1); // max ref frames
    bits.put(0, 1); // gaps
    bits.ue(119); // width 1920 -> 120 mbs
    bits.ue(67); // height 1088 -> 68 mbs
    bits.put(1, 1); // frame_mbs_only
    bits.put(1, 1); // direct 8x8
    bits.put(1, 1); // cropping
    bits.ue(0);
    bits.ue(0);
    bits.ue(0);
    bits.ue(4); // bottom: 4 * 2 = 8 lines -> 1080
    bits.put(0, 1); // vui
    bits.put(1, 1); // stop bit
    let rbsp = bits.finish();
    let mut nal = vec![0x67];
    let mut zeros = 0;
    for &b in &rbsp {
        if zeros >= 2 && b <= 3 {
            nal.push(3);
            zeros = 0;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        nal.push(b);
    }
    let sps = SpsInfo::parse(&nal).unwrap();
    assert_eq!((sps.width, sps.height), (1920, 1080));
    assert_eq!(sps.level_idc, 40);
}

#[derive(Default)]
struct BitWriter {
    out: Vec<u8>,
    n: u32,
}

impl BitWriter {
    fn put(&mut self, v: u32, bits: u32) {
        for i in (0..bits).rev() {
            if self.n.is_multiple_of(8) {
                self.out.push(0);
            }
            let bit = ((v >> i) & 1) as u8;
            let last = self.out.last_mut().unwrap();
            *last |= bit << (7 - (self.n % 8));
            self.n += 1;
        }
    }
    fn ue(&mut self, v: u32) {
        let x = v + 1;
        let len = 32 - x.leading_zeros();
        self.put(0, len - 1);
        self.put(x, len);
    }
    fn se(&mut self, v: i32) {
        let k = if v > 0 { 2 * v - 1 } else { -2 * v };
        self.ue(k as u32);
    }
    fn finish(self) -> Vec<u8> {
        self.out
    }
}

#[test]
fn aac_configs() {
    let mut d = Demuxer::new();
    assert!(d.push_audio(0, hex(AAC_SEQ)).unwrap().is_empty());
    let c = d.audio_config().unwrap();
    assert_eq!(c.object_type, 2);
    assert_eq!(c.sample_rate, 44100);
    assert_eq!(c.channel_config, 1);
    let info = d.codec_info();
    assert_eq!(info.audio_codec, Some("AAC"));
    assert_eq!(info.audio_profile, Some("LC"));
    assert_eq!(info.sample_rate, Some(44100));
    assert_eq!(info.channels, Some(1));

    // Escape object type 31 -> 32 + 6 bits; explicit 24-bit frequency.
    let mut b = BitWriter::default();
    b.put(31, 5);
    b.put(7, 6); // object type 39 (ER AAC ELD)
    b.put(15, 4);
    b.put(50_000, 24);
    b.put(2, 4);
    let c = AudioSpecificConfig::parse(&b.finish()).unwrap();
    assert_eq!(c.object_type, 39);
    assert_eq!(c.sample_rate, 50_000);
    assert_eq!(c.sample_rate_index, 15);
    assert_eq!(c.channel_config, 2);
    assert!(matches!(c.adts(), Err(MediaError::Unsupported(_))));

    // Explicit HE-AAC: object type 5, core 24 kHz, extension 48 kHz, core LC.
    let mut b = BitWriter::default();
    b.put(5, 5);
    b.put(6, 4); // 24000
    b.put(2, 4);
    b.put(3, 4); // 48000
    b.put(2, 5);
    let c = AudioSpecificConfig::parse(&b.finish()).unwrap();
    assert_eq!(c.object_type, 5);
    assert_eq!(c.core_object_type, Some(2));
    assert_eq!(c.extension_sample_rate, Some(48000));
    let adts = c.adts().unwrap();
    assert_eq!(adts.profile, 1);
    assert_eq!(adts.sample_rate_index, 6);

    // Explicit frequency that has an index is still ADTS-able.
    let mut b = BitWriter::default();
    b.put(2, 5);
    b.put(15, 4);
    b.put(48_000, 24);
    b.put(2, 4);
    let c = AudioSpecificConfig::parse(&b.finish()).unwrap();
    assert_eq!(c.adts().unwrap().sample_rate_index, 3);
}

#[test]
fn frames_are_zero_copy_with_composition_time() {
    let mut d = demuxer(true, true);
    let mut payload = vec![0x17, 0x01, 0x00, 0x00, 0x43];
    payload.extend_from_slice(&[0, 0, 0, 2, 0x65, 0x88]);
    let payload = Bytes::from(payload);
    let f = d
        .push_video(1000, payload.clone())
        .unwrap()
        .first()
        .cloned()
        .unwrap();
    assert_eq!(f.track, Track::Video);
    assert_eq!((f.dts, f.pts), (1000, 1067));
    assert!(f.keyframe);
    assert_eq!(&f.data[..], &payload[5..]);
    assert_eq!(
        f.data.as_ptr(),
        payload[5..].as_ptr(),
        "must be a slice, not a copy"
    );

    // Negative composition time clamps at zero.
    let p = Bytes::from_static(&[0x27, 0x01, 0xff, 0xff, 0x00, 0, 0, 0, 1, 0x41]);
    let f = d.push_video(100, p).unwrap().first().cloned().unwrap();
    assert_eq!((f.dts, f.pts), (100, 0));
    assert!(!f.keyframe);

    let a = Bytes::from_static(&[0xaf, 0x01, 0x21, 0x10, 0x04]);
    let f = d
        .push_audio(2000, a.clone())
        .unwrap()
        .first()
        .cloned()
        .unwrap();
    assert_eq!(f.track, Track::Audio);
    assert_eq!((f.dts, f.pts), (2000, 2000));
    assert_eq!(f.data.as_ptr(), a[2..].as_ptr());
}

#[test]
fn media_before_sequence_header_is_a_soft_error() {
    let mut d = Demuxer::new();
    let e = d
        .push_video(0, Bytes::from_static(&[0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65]))
        .unwrap_err();
    assert_eq!(e, MediaError::MissingSequenceHeader(Track::Video));
    assert!(!e.is_malformed());
    let e = d
        .push_audio(0, Bytes::from_static(&[0xaf, 1, 0x21]))
        .unwrap_err();
    assert_eq!(e, MediaError::MissingSequenceHeader(Track::Audio));
    // Empty messages and end-of-sequence are ignored.
    assert!(d.push_video(0, Bytes::new()).unwrap().is_empty());
    assert!(d.push_audio(0, Bytes::new()).unwrap().is_empty());
    assert!(d
        .push_video(0, Bytes::from_static(&[0x17, 2, 0, 0, 0]))
        .unwrap()
        .is_empty());
}

#[test]
fn unsupported_codecs() {
    let mut d = Demuxer::new();
    let e = d
        .push_video(0, Bytes::from_static(&[0x1c, 0, 0, 0, 0, 1]))
        .unwrap_err();
    assert!(matches!(e, MediaError::Unsupported(m) if m.contains("HEVC")));
    let h = flv::parse_video_tag(&[0x1c, 0, 0, 0, 0]).unwrap();
    assert_eq!(h.codec, VideoCodec::Hevc);
    assert_eq!(h.avc_packet_type, Some(AvcPacketType::SequenceHeader));
    assert_eq!(h.frame_type, VideoFrameType::Key);
    assert!(matches!(
        d.push_video(0, Bytes::from_static(&[0x12, 0])),
        Err(MediaError::Unsupported(_))
    ));
    assert!(matches!(
        d.push_audio(0, Bytes::from_static(&[0x2f, 0xff])),
        Err(MediaError::Unsupported(_))
    ));
}

#[test]
fn truncated_sequence_headers_are_errors() {
    for full in [X264_HIGH_SEQ, X264_BASELINE_SEQ, X264_HIGH444_SEQ] {
        let full = hex(full);
        // Cut anywhere before the end of the PPS: always an error (what
        // follows is the optional high-profile extension).
        let sps_len = usize::from(u16::from_be_bytes([full[11], full[12]]));
        let pps_at = 13 + sps_len + 1;
        let pps_len = usize::from(u16::from_be_bytes([full[pps_at], full[pps_at + 1]]));
        let needed = pps_at + 2 + pps_len;
        assert!(needed <= full.len());
        for cut in 0..needed {
            let mut d = Demuxer::new();
            let r = d.push_video(0, full.slice(..cut));
            if cut == 0 {
                assert!(r.unwrap().is_empty());
                continue;
            }
            assert!(r.is_err(), "prefix of {cut} bytes accepted");
            assert!(d.video_config().is_none());
        }
    }
    let mut d = Demuxer::new();
    assert!(matches!(
        d.push_audio(0, Bytes::from_static(&[0xaf, 0x00, 0x12])),
        Err(MediaError::Truncated(_))
    ));
}

#[test]
fn bogus_lengths_and_values() {
    // SPS length pointing past the end.
    let body = Bytes::from_static(&[1, 100, 0, 13, 0xff, 0xe1, 0xff, 0xff, 0x67]);
    assert!(matches!(
        AvcConfig::parse(&body),
        Err(MediaError::Truncated(_))
    ));
    // 3-byte NAL length size is not allowed.
    let body = Bytes::from_static(&[1, 100, 0, 13, 0xfe, 0xe1, 0, 1, 0x67, 1, 0, 1, 0x68]);
    assert!(matches!(
        AvcConfig::parse(&body),
        Err(MediaError::Invalid(_))
    ));
    // Wrong version.
    let body = Bytes::from_static(&[2, 100, 0, 13, 0xff, 0xe1, 0, 1, 0x67, 1, 0, 1, 0x68]);
    assert!(AvcConfig::parse(&body).is_err());
    // No PPS.
    let body = Bytes::from_static(&[1, 100, 0, 13, 0xff, 0xe1, 0, 1, 0x67, 0]);
    assert!(AvcConfig::parse(&body).is_err());
    // A garbage SPS does not fail the record, only the stats.
    let body = Bytes::from_static(&[1, 100, 0, 13, 0xff, 0xe1, 0, 2, 0x67, 0x00, 1, 0, 1, 0x68]);
    let cfg = AvcConfig::parse(&body).unwrap();
    assert!(cfg.sps_info.is_none());
    // Bad sampling frequency index.
    assert!(AudioSpecificConfig::parse(&[0x17, 0x90]).is_err());
    // Zero object type.
    assert!(AudioSpecificConfig::parse(&[0x00, 0x10]).is_err());
    // Bad frame type / packet types.
    assert!(flv::parse_video_tag(&[0x07]).is_err());
    assert!(flv::parse_video_tag(&[0x17, 9, 0, 0, 0]).is_err());
    assert!(flv::parse_video_tag(&[0x17, 1, 0]).is_err());
    // SPS with absurd cropping.
    let mut b = BitWriter::default();
    b.put(66, 8);
    b.put(0, 8);
    b.put(30, 8);
    b.ue(0); // sps id
    b.ue(0); // log2 max frame num
    b.ue(2); // poc type
    b.ue(1); // max refs
    b.put(0, 1); // gaps
    b.ue(0); // 16 px wide
    b.ue(0);
    b.put(1, 1);
    b.put(1, 1);
    b.put(1, 1);
    b.ue(100);
    b.ue(0);
    b.ue(0);
    b.ue(0);
    b.put(1, 1);
    let mut nal = vec![0x67];
    nal.extend(b.finish());
    assert!(SpsInfo::parse(&nal).is_err());
}

/// Deterministic garbage through every parser: errors are fine, panics not.
#[test]
fn garbage_never_panics() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let templates = [hex(X264_HIGH_SEQ), hex(X264_HIGH444_SEQ), hex(AAC_SEQ)];
    for i in 0..20_000 {
        let mut v = if i % 2 == 0 {
            templates[(next() % 3) as usize].to_vec()
        } else {
            let len = (next() % 64) as usize;
            (0..len).map(|_| next() as u8).collect()
        };
        if !v.is_empty() {
            for _ in 0..(next() % 4) {
                let pos = (next() as usize) % v.len();
                v[pos] = next() as u8;
            }
            let keep = (next() as usize) % (v.len() + 1);
            v.truncate(keep);
        }
        let b = Bytes::from(v);
        let mut d = demuxer(true, true);
        let _ = d.push_video((next() % 100_000) as u32, b.clone());
        let _ = d.push_audio((next() % 100_000) as u32, b.clone());
        let _ = SpsInfo::parse(&b);
        let _ = AudioSpecificConfig::parse(&b);
        if b.len() > 5 {
            let _ = AvcConfig::parse(&b.slice(5..));
        }
    }
}

#[test]
fn timestamps_extend_across_the_32_bit_wrap() {
    let mut d = demuxer(false, true);
    let near = u32::MAX - 30;
    let a = |d: &mut Demuxer, ts: u32| {
        d.push_audio(ts, Bytes::from_static(&[0xaf, 1, 0x21, 0x10]))
            .unwrap()[0]
            .dts
    };
    assert_eq!(a(&mut d, near), u64::from(near));
    assert_eq!(a(&mut d, near + 23), u64::from(near) + 23);
    assert_eq!(a(&mut d, 16), (1u64 << 32) + 16);
    assert_eq!(a(&mut d, 39), (1u64 << 32) + 39);
}
