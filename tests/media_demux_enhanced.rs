//! The demuxer on Enhanced RTMP messages (FFmpeg 9's own bytes): one model of tracks for
//! legacy and extended headers, one frame per track a message carries.

mod support;

use bytes::Bytes;
use ngx_rtmp::media::{AudioConfig, Demuxer, MediaError, Track, VideoConfig};
use support::media::{hex, X264_HIGH_SEQ};

fn fixture(name: &str) -> Bytes {
    let path = format!("{}/tests/fixtures/ertmp/{name}", env!("CARGO_MANIFEST_DIR"));
    Bytes::from(std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
}

#[test]
fn hevc_track_from_sequence_start_then_frames() {
    let mut d = Demuxer::new();
    assert!(d
        .push_video(0, fixture("hevc_seq_start.bin"))
        .unwrap()
        .is_empty());
    let v = d.video().unwrap();
    assert_eq!((v.id, v.generation), (0, 1));
    assert!(matches!(v.config, VideoConfig::Hevc(_)));
    assert!(d.video_config().is_none(), "not AVC");
    let info = d.codec_info();
    assert_eq!(info.video_codec, Some("HEVC"));
    assert_eq!((info.width, info.height), (Some(320), Some(240)));

    let frames = d
        .push_video(40, fixture("hevc_key_cut.bin"))
        .unwrap()
        .to_vec();
    assert_eq!(frames.len(), 1);
    let f = &frames[0];
    assert_eq!(
        (f.track, f.track_id, f.keyframe, f.dts),
        (Track::Video, 0, true, 40)
    );
    assert!(f.pts >= f.dts);
    assert!(d.is_primary(f));
    let frames = d.push_video(107, fixture("hevc_inter_cut.bin")).unwrap();
    assert!(!frames[0].keyframe);
    // Metadata (colorInfo) is no frame.
    assert!(d
        .push_video(107, fixture("hevc_metadata.bin"))
        .unwrap()
        .is_empty());
}

#[test]
fn av1_vp9_and_opus() {
    for (seq, key, name) in [
        ("av1_seq_start.bin", "av1_key_cut.bin", "AV1"),
        ("vp9_seq_start.bin", "vp9_key_cut.bin", "VP9"),
    ] {
        let mut d = Demuxer::new();
        d.push_video(0, fixture(seq)).unwrap();
        assert_eq!(d.codec_info().video_codec, Some(name));
        let f = d.push_video(0, fixture(key)).unwrap()[0].clone();
        assert!(f.keyframe && f.pts == f.dts, "{name}");
    }
    let mut d = Demuxer::new();
    d.push_audio(0, fixture("opus_seq_start.bin")).unwrap();
    assert!(matches!(d.audio().unwrap().config, AudioConfig::Opus(_)));
    assert_eq!(d.codec_info().audio_codec, Some("Opus"));
    let f = d.push_audio(20, fixture("opus_coded.bin")).unwrap()[0].clone();
    assert_eq!((f.track, f.track_id, f.dts), (Track::Audio, 0, 20));
    assert!(d
        .push_audio(20, fixture("opus_multichannel.bin"))
        .unwrap()
        .is_empty());
}

#[test]
fn opus_frames_without_a_sequence_start_make_a_track() {
    // The specification lets an Opus track start without a configuration (mono/stereo).
    let mut d = Demuxer::new();
    let f = d.push_audio(0, fixture("opus_coded.bin")).unwrap();
    assert_eq!(f.len(), 1);
    assert_eq!(d.audio().unwrap().config, AudioConfig::Opus(None));
}

#[test]
fn multitrack_keeps_one_configuration_per_track() {
    // FFmpeg writes the first video stream as a legacy AVC tag (track 0) and the second as a
    // Multitrack/OneTrack HEVC message with track id 1.
    let mut d = Demuxer::new();
    d.push_video(0, hex(X264_HIGH_SEQ)).unwrap();
    d.push_video(0, fixture("multi_hevc_seq_start.bin"))
        .unwrap();
    let ids: Vec<u8> = d.video_tracks().iter().map(|t| t.id).collect();
    assert_eq!(ids, [0, 1]);
    assert_eq!(d.video().unwrap().config.codec_name(), "H264");
    assert_eq!(d.video_track(1).unwrap().config.codec_name(), "HEVC");
    assert_eq!(d.video_track(1).unwrap().config.size(), Some((160, 120)));
    let f = d.push_video(0, fixture("multi_hevc_key_cut.bin")).unwrap()[0].clone();
    assert_eq!(f.track_id, 1);
    assert!(!d.is_primary(&f), "track 1 is not the primary track");

    d.push_audio(0, fixture("multi_opus_seq_start.bin"))
        .unwrap();
    assert_eq!(d.audio_track(1).unwrap().config.codec_name(), "Opus");
    // Stat: every track, by kind and id.
    let tracks: Vec<_> = d
        .codec_info()
        .tracks
        .iter()
        .map(|t| (t.kind, t.id, t.codec, t.width, t.height, t.channels))
        .collect();
    assert_eq!(
        tracks,
        [
            (Track::Video, 0, "H264", Some(320), Some(240), None),
            (Track::Video, 1, "HEVC", Some(160), Some(120), None),
            (Track::Audio, 1, "Opus", None, None, Some(1)),
        ]
    );
}

#[test]
fn frames_before_their_track_and_of_another_codec_are_refused() {
    let mut d = Demuxer::new();
    assert_eq!(
        d.push_video(0, fixture("hevc_key_cut.bin")).unwrap_err(),
        MediaError::MissingSequenceHeader(Track::Video)
    );
    d.push_video(0, fixture("av1_seq_start.bin")).unwrap();
    assert!(d.push_video(0, fixture("hevc_key_cut.bin")).is_err());
    assert!(d.frames().is_empty());
    // A new configuration on the same track is a new generation.
    d.push_video(0, fixture("hevc_seq_start.bin")).unwrap();
    assert_eq!(d.video_generation(), 2);
    assert_eq!(
        d.push_video(0, fixture("hevc_key_cut.bin")).unwrap().len(),
        1
    );
}

#[test]
fn every_truncation_of_a_configuration_is_an_error_or_nothing() {
    for name in [
        "hevc_seq_start.bin",
        "av1_seq_start.bin",
        "vp9_seq_start.bin",
    ] {
        let full = fixture(name);
        for cut in 1..full.len() {
            let mut d = Demuxer::new();
            // A refused cut leaves no track; an accepted one (the record's optional tail cut
            // off) made one.
            match d.push_video(0, full.slice(..cut)) {
                Err(_) => assert!(d.video().is_none(), "{name} cut at {cut}"),
                Ok(frames) => assert!(frames.is_empty() && d.video().is_some()),
            }
        }
    }
}
