//! Extended video and audio headers: FFmpeg 9's Enhanced FLV output (tests/fixtures/ertmp/,
//! coded frames cut to 64 bytes), and hand-built messages for what FFmpeg does not send
//! (ManyTracks, ManyTracksManyCodecs, ModEx, commands) and for hostile input.

use super::*;
use crate::media::ex_audio::{
    parse_ex_audio, AudioPacket, ChannelOrder, ExAudio, MultichannelConfig,
};
use crate::media::fourcc::AudioFourCc;
use crate::media::{Av1Config, HevcConfig, OpusHead, VpConfig};

macro_rules! fixture {
    ($name:literal) => {
        Bytes::from_static(include_bytes!(concat!(
            "../../../tests/fixtures/ertmp/",
            $name
        )))
    };
}

fn one(v: &ExVideo) -> &VideoTrackPacket {
    assert_eq!(v.tracks().len(), 1);
    &v.tracks()[0]
}

fn coded(p: &VideoPacket) -> (i32, &Bytes) {
    match p {
        VideoPacket::CodedFrames {
            composition_time,
            data,
        } => (*composition_time, data),
        other => panic!("not coded frames: {other:?}"),
    }
}

fn seq_start(p: &VideoPacket) -> &Bytes {
    match p {
        VideoPacket::SequenceStart(b) => b,
        other => panic!("not a sequence start: {other:?}"),
    }
}

#[test]
fn ffmpeg_hevc() {
    let v = parse_ex_video(&fixture!("hevc_seq_start.bin")).unwrap();
    assert_eq!(v.frame_type, Some(VideoFrameType::Key));
    assert_eq!(v.multitrack, None);
    assert_eq!(v.timestamp_offset_ns, 0);
    let t = one(&v);
    assert_eq!((t.track_id, t.fourcc), (0, VideoFourCc::Hevc));
    let cfg = HevcConfig::parse(seq_start(&t.packet)).unwrap();
    assert_eq!(cfg.codec_string(), "hvc1.1.6.L60.90");

    let v = parse_ex_video(&fixture!("hevc_key_cut.bin")).unwrap();
    assert!(v.is_keyframe());
    let (ct, data) = coded(&one(&v).packet);
    assert_eq!(ct, 133);
    assert_eq!(data[..4], [0, 0, 0x0f, 0x29]);
    let v = parse_ex_video(&fixture!("hevc_inter_cut.bin")).unwrap();
    assert_eq!(v.frame_type, Some(VideoFrameType::Inter));
    assert!(!v.is_keyframe());
    assert_eq!(coded(&one(&v).packet).0, 267);

    // FFmpeg writes colorInfo metadata with frame type 5, which Metadata ignores.
    let v = parse_ex_video(&fixture!("hevc_metadata.bin")).unwrap();
    assert_eq!(v.frame_type, None);
    match &one(&v).packet {
        VideoPacket::Metadata(amf) => assert_eq!(&amf[..12], b"\x02\x00\x09colorInfo"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn ffmpeg_av1_vp9_opus() {
    let v = parse_ex_video(&fixture!("av1_seq_start.bin")).unwrap();
    let t = one(&v);
    assert_eq!(t.fourcc, VideoFourCc::Av1);
    let cfg = Av1Config::parse(seq_start(&t.packet)).unwrap();
    assert_eq!(cfg.codec_string(), "av01.0.00M.08");
    let v = parse_ex_video(&fixture!("av1_key_cut.bin")).unwrap();
    let (ct, data) = coded(&one(&v).packet);
    // AV1 has no composition time field: the temporal delimiter OBU follows the FOURCC.
    assert_eq!((ct, &data[..2]), (0, &[0x12, 0x00][..]));

    let v = parse_ex_video(&fixture!("vp9_seq_start.bin")).unwrap();
    let cfg = VpConfig::parse(seq_start(&one(&v).packet)).unwrap();
    assert_eq!(cfg.codec_string(), "vp09.00.20.08");
    let v = parse_ex_video(&fixture!("vp9_key_cut.bin")).unwrap();
    assert!(v.is_keyframe());
    assert_eq!(coded(&one(&v).packet).1.len(), 64 - 5);

    let a = parse_ex_audio(&fixture!("opus_seq_start.bin")).unwrap();
    assert_eq!(a.tracks.len(), 1);
    assert_eq!(a.tracks[0].fourcc, AudioFourCc::Opus);
    match &a.tracks[0].packet {
        AudioPacket::SequenceStart(head) => {
            assert_eq!(OpusHead::parse(head).unwrap().channels, 1)
        }
        other => panic!("{other:?}"),
    }
    let a = parse_ex_audio(&fixture!("opus_multichannel.bin")).unwrap();
    assert_eq!(
        a.tracks[0].packet,
        AudioPacket::MultichannelConfig(MultichannelConfig {
            channel_count: 1,
            order: ChannelOrder::Native { mask: 4 },
        })
    );
    let a = parse_ex_audio(&fixture!("opus_coded.bin")).unwrap();
    match &a.tracks[0].packet {
        AudioPacket::CodedFrames(d) => assert_eq!(d.len(), 120 - 5),
        other => panic!("{other:?}"),
    }
}

#[test]
fn ffmpeg_multitrack_one_track() {
    let v = parse_ex_video(&fixture!("multi_hevc_seq_start.bin")).unwrap();
    assert_eq!(v.multitrack, Some(AvMultitrackType::OneTrack));
    let t = one(&v);
    assert_eq!((t.track_id, t.fourcc), (1, VideoFourCc::Hevc));
    let cfg = HevcConfig::parse(seq_start(&t.packet)).unwrap();
    let sps = cfg.sps_info.unwrap();
    assert_eq!((sps.width, sps.height), (160, 120));
    let v = parse_ex_video(&fixture!("multi_hevc_key_cut.bin")).unwrap();
    assert!(v.is_keyframe());
    assert_eq!(one(&v).track_id, 1);
    assert_eq!(coded(&one(&v).packet).0, 133);

    let a = parse_ex_audio(&fixture!("multi_opus_seq_start.bin")).unwrap();
    assert_eq!(a.multitrack, Some(AvMultitrackType::OneTrack));
    assert_eq!(a.tracks[0].track_id, 1);
    let a = parse_ex_audio(&fixture!("multi_opus_multichannel.bin")).unwrap();
    assert_eq!(a.tracks[0].track_id, 1);
}

/// Every fixture cut at every byte: never a panic; a cut inside the header is `Truncated`;
/// a cut in the media bytes of a single track is a shorter packet.
#[test]
fn every_cut_of_every_fixture() {
    let video = [
        (fixture!("hevc_seq_start.bin"), 5),
        (fixture!("hevc_key_cut.bin"), 8),
        (fixture!("hevc_inter_cut.bin"), 8),
        (fixture!("hevc_metadata.bin"), 5),
        (fixture!("av1_seq_start.bin"), 5),
        (fixture!("av1_key_cut.bin"), 5),
        (fixture!("vp9_seq_start.bin"), 5),
        (fixture!("vp9_key_cut.bin"), 5),
        (fixture!("multi_hevc_seq_start.bin"), 7),
        (fixture!("multi_hevc_key_cut.bin"), 10),
    ];
    for (msg, header) in video {
        for n in 0..msg.len() {
            let r = parse_ex_video(&msg.slice(..n));
            if n < header {
                assert!(matches!(r, Err(MediaError::Truncated(_))), "{n}: {r:?}");
            } else {
                let v = r.unwrap();
                assert_eq!(
                    one(&v).track_id,
                    parse_ex_video(&msg).unwrap().tracks()[0].track_id
                );
            }
        }
    }
    let audio = [
        (fixture!("opus_seq_start.bin"), 5),
        (fixture!("opus_coded.bin"), 5),
        (fixture!("opus_multichannel.bin"), 11),
        (fixture!("multi_opus_seq_start.bin"), 7),
        (fixture!("multi_opus_multichannel.bin"), 13),
    ];
    for (msg, header) in audio {
        for n in 0..msg.len() {
            let r = parse_ex_audio(&msg.slice(..n));
            if n < header {
                assert!(matches!(r, Err(MediaError::Truncated(_))), "{n}: {r:?}");
            } else {
                assert_eq!(r.unwrap().tracks.len(), 1);
            }
        }
    }
}

fn be24(n: usize) -> [u8; 3] {
    let b = (n as u32).to_be_bytes();
    [b[1], b[2], b[3]]
}

/// Key frame, Multitrack, ManyTracks of `hvc1` CodedFrames: tracks 0 (ct 40) and 2 (ct -20).
fn many_tracks() -> Vec<u8> {
    let mut m = vec![0x96, 0x11];
    m.extend_from_slice(b"hvc1");
    for (id, ct, data) in [(0u8, 40i32, &b"\0\0\0\x01A"[..]), (2, -20, b"\0\0\0\x02BB")] {
        m.push(id);
        m.extend_from_slice(&be24(3 + data.len()));
        m.extend_from_slice(&ct.to_be_bytes()[1..]);
        m.extend_from_slice(data);
    }
    m
}

/// Inter frame, Multitrack, ManyTracksManyCodecs SequenceStart: `avc1` track 0, `av01`
/// track 1.
fn many_codecs() -> Vec<u8> {
    let mut m = vec![0xa6, 0x20];
    for (code, id, data) in [(b"avc1", 0u8, &b"AVC"[..]), (b"av01", 1, b"\x81\0\x0c\0")] {
        m.extend_from_slice(code);
        m.push(id);
        m.extend_from_slice(&be24(data.len()));
        m.extend_from_slice(data);
    }
    m
}

#[test]
fn many_tracks_and_many_codecs() {
    let v = parse_ex_video(&Bytes::from(many_tracks())).unwrap();
    assert_eq!(v.multitrack, Some(AvMultitrackType::ManyTracks));
    let t = v.tracks();
    assert_eq!(t.len(), 2);
    assert_eq!((t[0].track_id, t[1].track_id), (0, 2));
    assert_eq!(
        coded(&t[0].packet),
        (40, &Bytes::from_static(b"\0\0\0\x01A"))
    );
    assert_eq!(
        coded(&t[1].packet),
        (-20, &Bytes::from_static(b"\0\0\0\x02BB"))
    );

    let v = parse_ex_video(&Bytes::from(many_codecs())).unwrap();
    assert_eq!(v.multitrack, Some(AvMultitrackType::ManyTracksManyCodecs));
    assert_eq!(v.frame_type, Some(VideoFrameType::Inter));
    let t = v.tracks();
    assert_eq!(
        (t[0].fourcc, t[1].fourcc),
        (VideoFourCc::Avc, VideoFourCc::Av1)
    );
    assert_eq!(seq_start(&t[0].packet), &Bytes::from_static(b"AVC"));
    assert_eq!(seq_start(&t[1].packet).len(), 4);
}

/// A cut multitrack message is an error, or (cut at a track boundary) the first tracks.
#[test]
fn every_cut_of_multitrack() {
    for msg in [many_tracks(), many_codecs()] {
        let full = parse_ex_video(&Bytes::from(msg.clone())).unwrap();
        for n in 0..msg.len() {
            match parse_ex_video(&Bytes::copy_from_slice(&msg[..n])) {
                Ok(v) => {
                    let k = v.tracks().len();
                    assert!(k >= 1 && k < full.tracks().len(), "{n}");
                    assert_eq!(v.tracks(), &full.tracks()[..k]);
                }
                Err(e) => assert!(e.is_malformed(), "{n}: {e}"),
            }
        }
    }
}

#[test]
fn absurd_multitrack() {
    // A track size far past the message.
    let mut m = vec![0x96, 0x11];
    m.extend_from_slice(b"hvc1");
    m.extend_from_slice(&[0, 0xff, 0xff, 0xff, 0, 0, 0]);
    assert_eq!(
        parse_ex_video(&Bytes::from(m)),
        Err(MediaError::Truncated("track body"))
    );
    // MAX_TRACKS + 1 empty SequenceEnd tracks.
    let mut m = vec![0x96, 0x12];
    m.extend_from_slice(b"av01");
    for id in 0..=MAX_TRACKS as u8 {
        m.extend_from_slice(&[id, 0, 0, 0]);
    }
    let (ok, over) = (Bytes::from(m.clone()).slice(..m.len() - 4), Bytes::from(m));
    assert_eq!(parse_ex_video(&ok).unwrap().tracks().len(), MAX_TRACKS);
    assert_eq!(
        parse_ex_video(&over),
        Err(MediaError::Invalid("too many tracks"))
    );
    // A repeated track id.
    let mut m = vec![0x96, 0x12];
    m.extend_from_slice(b"av01");
    m.extend_from_slice(&[3, 0, 0, 0, 3, 0, 0, 0]);
    assert_eq!(
        parse_ex_video(&Bytes::from(m)),
        Err(MediaError::Invalid("repeated track id"))
    );
    // Multitrack inside multitrack, ModEx inside multitrack, a reserved multitrack type.
    for second in [0x06, 0x07] {
        let mut m = vec![0x96, second];
        m.extend_from_slice(b"av01\0");
        assert_eq!(
            parse_ex_video(&Bytes::from(m)),
            Err(MediaError::Invalid("nested video packet type"))
        );
    }
    let mut m = vec![0x96, 0x31];
    m.extend_from_slice(b"av01\0");
    assert!(matches!(
        parse_ex_video(&Bytes::from(m)),
        Err(MediaError::Unsupported(_))
    ));
    // Many tracks whose CodedFrames are too short for their composition time.
    let mut m = vec![0x96, 0x11];
    m.extend_from_slice(b"hvc1");
    m.extend_from_slice(&[0, 0, 0, 2, 0, 0]);
    assert_eq!(
        parse_ex_video(&Bytes::from(m)),
        Err(MediaError::Truncated("composition time"))
    );
}

#[test]
fn unknown_fourcc() {
    let mut m = vec![0x91];
    m.extend_from_slice(b"vvc1\0\0\0\0");
    assert_eq!(
        parse_ex_video(&Bytes::from(m)),
        Err(MediaError::UnknownFourCc(FourCc::new(b"vvc1")))
    );
    // One unknown track spoils a ManyTracksManyCodecs message.
    let mut m = many_codecs();
    m[13..17].copy_from_slice(b"vp08");
    assert_eq!(
        parse_ex_video(&Bytes::from(m)),
        Err(MediaError::UnknownFourCc(FourCc::new(b"vp08")))
    );
    let mut a = vec![0x91];
    a.extend_from_slice(b"OPUS\x01");
    let e = parse_ex_audio(&Bytes::from(a)).unwrap_err();
    assert_eq!(e, MediaError::UnknownFourCc(FourCc::new(b"OPUS")));
    assert!(!e.is_malformed());
    assert_eq!(e.to_string(), "unsupported FourCC \"OPUS\"");
}

#[test]
fn mod_ex_timestamp_offset() {
    // ModEx (3 bytes: 99_999 ns), then TimestampOffsetNano / CodedFrames, avc1, ct 0.
    let mut m = vec![0x97, 2, 0x01, 0x86, 0x9f, 0x01];
    m.extend_from_slice(b"avc1\0\0\0\x01");
    let v = parse_ex_video(&Bytes::from(m.clone())).unwrap();
    assert_eq!(v.timestamp_offset_ns, 99_999);
    assert_eq!(coded(&one(&v).packet), (0, &Bytes::from_static(b"\x01")));
    for n in 0..m.len() - 1 {
        assert!(
            parse_ex_video(&Bytes::copy_from_slice(&m[..n])).is_err(),
            "{n}"
        );
    }
    // A 16-bit ModEx size (255 → UI16 + 1 = 300 bytes), of an unknown ModEx type (skipped),
    // before a 4-byte TimestampOffsetNano.
    let mut m = vec![0x97, 255, 0x01, 0x2b];
    m.extend(std::iter::repeat_n(0xee, 300));
    m.extend_from_slice(&[0x17, 3, 0x00, 0x00, 0x10, 0xff, 0x03]);
    m.extend_from_slice(b"hvc1X");
    let v = parse_ex_video(&Bytes::from(m)).unwrap();
    assert_eq!(v.timestamp_offset_ns, 16);
    assert_eq!(coded(&one(&v).packet), (0, &Bytes::from_static(b"X")));
    // Too short for a UI24, and above 999_999 ns.
    let mut m = vec![0x97, 1, 0, 0, 0x01];
    m.extend_from_slice(b"avc1\0\0\0");
    assert!(matches!(
        parse_ex_video(&Bytes::from(m)),
        Err(MediaError::Invalid(_))
    ));
    let mut m = vec![0x97, 2, 0x0f, 0x42, 0x40, 0x01];
    m.extend_from_slice(b"avc1\0\0\0");
    assert_eq!(
        parse_ex_video(&Bytes::from(m)),
        Err(MediaError::Invalid("timestamp offset nano"))
    );
    // Audio: ModEx then Multitrack OneTrack Opus CodedFrames on track 5.
    let mut a = vec![0x97, 2, 0, 0, 7, 0x05, 0x01];
    a.extend_from_slice(b"Opus\x05PKT");
    let ExAudio {
        timestamp_offset_ns,
        multitrack,
        tracks,
    } = parse_ex_audio(&Bytes::from(a)).unwrap();
    assert_eq!(timestamp_offset_ns, 7);
    assert_eq!(multitrack, Some(AvMultitrackType::OneTrack));
    assert_eq!(tracks[0].track_id, 5);
    assert_eq!(
        tracks[0].packet,
        AudioPacket::CodedFrames(Bytes::from_static(b"PKT"))
    );
}

#[test]
fn commands_and_reserved_values() {
    // Command frame: one command byte, no FOURCC.
    let v = parse_ex_video(&Bytes::from_static(&[0xd1, 0x01])).unwrap();
    assert_eq!(v.content, ExVideoContent::Command(1));
    assert_eq!(v.frame_type, Some(VideoFrameType::InfoCommand));
    assert!(v.tracks().is_empty());
    assert_eq!(
        parse_ex_video(&Bytes::from_static(&[0xd1])),
        Err(MediaError::Truncated("video command"))
    );
    // Reserved frame types (0, 6, 7) outside Metadata; reserved packet types.
    for b0 in [0x81, 0xe1, 0xf1] {
        let mut m = vec![b0];
        m.extend_from_slice(b"av01");
        assert_eq!(
            parse_ex_video(&Bytes::from(m)),
            Err(MediaError::Invalid("video frame type"))
        );
    }
    let mut m = vec![0x84];
    m.extend_from_slice(b"av01");
    assert_eq!(parse_ex_video(&Bytes::from(m)).unwrap().frame_type, None);
    for b0 in [0x98, 0x9f] {
        assert!(matches!(
            parse_ex_video(&Bytes::from(vec![b0, 0, 0, 0, 0])),
            Err(MediaError::Unsupported(_))
        ));
    }
    for b0 in [0x93, 0x96, 0x98] {
        assert!(matches!(
            parse_ex_audio(&Bytes::from(vec![b0, 0, 0, 0, 0])),
            Err(MediaError::Unsupported(_))
        ));
    }
    // Legacy headers are not extended ones.
    assert!(!is_ex_video(&[0x17]));
    assert!(is_ex_video(&[0x90]));
    assert!(parse_ex_video(&Bytes::from_static(&[0x17, 0, 0, 0, 0])).is_err());
    assert!(!crate::media::ex_audio::is_ex_audio(&[0xaf]));
    assert!(parse_ex_audio(&Bytes::from_static(&[0xaf, 0])).is_err());
    assert!(parse_ex_video(&Bytes::new()).is_err());
    assert!(parse_ex_audio(&Bytes::new()).is_err());
}

#[test]
fn audio_many_tracks_and_channel_configs() {
    // ManyTracksManyCodecs SequenceStart: mp4a track 0 (AAC-LC config), Opus track 1 (empty
    // head: mono/stereo by default).
    let mut a = vec![0x95, 0x20];
    a.extend_from_slice(b"mp4a\0\0\0\x02\x12\x10Opus\x01\0\0\0");
    let ex = parse_ex_audio(&Bytes::from(a.clone())).unwrap();
    assert_eq!(ex.tracks.len(), 2);
    assert_eq!(ex.tracks[0].fourcc, AudioFourCc::Aac);
    assert_eq!(
        ex.tracks[0].packet,
        AudioPacket::SequenceStart(Bytes::from_static(b"\x12\x10"))
    );
    assert_eq!(ex.tracks[1].fourcc, AudioFourCc::Opus);
    assert_eq!(
        ex.tracks[1].packet,
        AudioPacket::SequenceStart(Bytes::new())
    );
    for n in 0..a.len() {
        if let Ok(e) = parse_ex_audio(&Bytes::copy_from_slice(&a[..n])) {
            assert_eq!(e.tracks.len(), 1, "{n}");
        }
    }
    // MultichannelConfig: custom order with its mapping, a short mapping, a reserved order.
    let mut a = vec![0x94];
    a.extend_from_slice(b"Opus\x02\x03\x00\x01\x02");
    let ex = parse_ex_audio(&Bytes::from(a.clone())).unwrap();
    assert_eq!(
        ex.tracks[0].packet,
        AudioPacket::MultichannelConfig(MultichannelConfig {
            channel_count: 3,
            order: ChannelOrder::Custom {
                mapping: Bytes::from_static(&[0, 1, 2])
            },
        })
    );
    a.pop();
    assert!(matches!(
        parse_ex_audio(&Bytes::from(a)),
        Err(MediaError::Truncated(_))
    ));
    let mut a = vec![0x94];
    a.extend_from_slice(b"Opus\x03\x02");
    assert!(matches!(
        parse_ex_audio(&Bytes::from(a)),
        Err(MediaError::Unsupported(_))
    ));
    let mut a = vec![0x94];
    a.extend_from_slice(b"Opus\x00\x06");
    assert_eq!(
        parse_ex_audio(&Bytes::from(a)).unwrap().tracks[0].packet,
        AudioPacket::MultichannelConfig(MultichannelConfig {
            channel_count: 6,
            order: ChannelOrder::Unspecified,
        })
    );
    // Every audio FourCC of the specification is known.
    for code in [b"Opus", b"mp4a", b"fLaC", b"ac-3", b"ec-3", b".mp3"] {
        let mut a = vec![0x92];
        a.extend_from_slice(code);
        let ex = parse_ex_audio(&Bytes::from(a)).unwrap();
        assert_eq!(ex.tracks[0].fourcc.fourcc(), FourCc::new(code));
        assert_eq!(ex.tracks[0].packet, AudioPacket::SequenceEnd);
    }
}
