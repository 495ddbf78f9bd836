use super::*;
use crate::media::AudioSpecificConfig;

fn asc() -> AudioConfig {
    AudioConfig::Aac(AudioSpecificConfig::parse(&[0x12, 0x10]).unwrap())
}

fn track(config: VideoConfig) -> VideoTrack {
    VideoTrack {
        id: 0,
        config,
        record: Bytes::new(),
        generation: 1,
    }
}

fn durations_and_bases(out: &[u8]) -> Vec<(u32, u64, Vec<u32>)> {
    // moof, then per traf: tfhd track id, tfdt, trun durations.
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(i) = out[at..].windows(4).position(|w| w == b"tfhd") {
        let tfhd = at + i;
        let id = u32::from_be_bytes(out[tfhd + 8..tfhd + 12].try_into().unwrap());
        let tfdt = tfhd + 12 + 4;
        assert_eq!(&out[tfdt..tfdt + 4], b"tfdt");
        let base = u64::from_be_bytes(out[tfdt + 8..tfdt + 16].try_into().unwrap());
        let trun = tfdt + 16 + 4;
        assert_eq!(&out[trun..trun + 4], b"trun");
        let flags = u32::from_be_bytes(out[trun + 4..trun + 8].try_into().unwrap()) & 0xff_ffff;
        let count = u32::from_be_bytes(out[trun + 8..trun + 12].try_into().unwrap()) as usize;
        let stride = if flags & 0x800 != 0 { 16 } else { 12 };
        let durations = (0..count)
            .map(|k| {
                let s = trun + 16 + k * stride;
                u32::from_be_bytes(out[s..s + 4].try_into().unwrap())
            })
            .collect();
        found.push((id, base, durations));
        at = trun;
    }
    found
}

#[test]
fn audio_times_follow_the_frame_count_despite_millisecond_rounding() {
    let a = asc();
    let mut m = CmafMuxer::new();
    let tracks = Tracks {
        video: false,
        audio: true,
    };
    m.start_segment(tracks, false);
    for k in 0..10u64 {
        m.write_audio(k * 1024 * 1000 / 44_100, &Bytes::from_static(b"aac"), &a)
            .unwrap();
    }
    assert!(m.end_segment(232).unwrap().is_some(), "first init");
    let out = m.take_output().unwrap();
    let runs = durations_and_bases(&out);
    assert_eq!(runs, [(AUDIO_TRACK_ID, 0, vec![1024; 10])]);
    // The next segment continues exactly where this one ended.
    m.start_segment(tracks, false);
    m.write_audio(10 * 1024 * 1000 / 44_100, &Bytes::from_static(b"aac"), &a)
        .unwrap();
    // A gap of 5 frames: the frame before it lasts until the next one.
    m.write_audio(16 * 1024 * 1000 / 44_100, &Bytes::from_static(b"aac"), &a)
        .unwrap();
    assert!(m.end_segment(400).unwrap().is_none(), "same init");
    let runs = durations_and_bases(&m.take_output().unwrap());
    let gap = 16 * 1024 * 1000 / 44_100 * 44_100 / 1000 - 10 * 1024;
    assert_eq!(runs, [(AUDIO_TRACK_ID, 10 * 1024, vec![gap, 1024])]);
}

#[test]
fn the_last_video_sample_lasts_until_the_cut() {
    let avc = track(VideoConfig::Avc(crate::media::AvcConfig {
        profile: 66,
        compatibility: 0,
        level: 30,
        nal_length_size: 4,
        sps: vec![],
        pps: vec![],
        sps_info: None,
    }));
    let mut m = CmafMuxer::new();
    m.start_segment(
        Tracks {
            video: true,
            audio: false,
        },
        false,
    );
    for (i, dts) in [1000u64, 1033, 1067, 1100].into_iter().enumerate() {
        m.write_video(
            dts,
            dts + 66,
            i == 0,
            &Bytes::from_static(b"\0\0\0\x01\x65"),
            &avc,
        )
        .unwrap();
    }
    m.end_segment(1133).unwrap();
    let runs = durations_and_bases(&m.take_output().unwrap());
    assert_eq!(
        runs,
        [(
            VIDEO_TRACK_ID,
            90_000,
            vec![33 * 90, 34 * 90, 33 * 90, 33 * 90]
        )]
    );
    // Without a later cut (the end of the stream) it lasts one frame interval.
    m.start_segment(
        Tracks {
            video: true,
            audio: false,
        },
        false,
    );
    m.write_video(
        1133,
        1133,
        true,
        &Bytes::from_static(b"\0\0\0\x01\x65"),
        &avc,
    )
    .unwrap();
    m.write_video(
        1166,
        1166,
        false,
        &Bytes::from_static(b"\0\0\0\x01\x41"),
        &avc,
    )
    .unwrap();
    m.end_segment(1166).unwrap();
    let runs = durations_and_bases(&m.take_output().unwrap());
    assert_eq!(runs, [(VIDEO_TRACK_ID, 1133 * 90, vec![33 * 90, 33 * 90])]);
}

#[test]
fn empty_frames_are_refused() {
    let mut m = CmafMuxer::new();
    assert!(m.write_audio(0, &Bytes::new(), &asc()).is_err());
}
