//! Init segments for every codec the demuxer knows, built from FFmpeg 9's own Enhanced RTMP
//! SequenceStart messages: the sample entry and its configuration box read back with our
//! fMP4 reader, and FFmpeg's ffprobe reading the same file.

mod support;

use std::process::Command;

use bytes::Bytes;
use ngx_rtmp::media::fmp4::{self, TrackConfig};
use ngx_rtmp::media::{vp9, AudioConfig, Demuxer, VideoConfig};
use support::fmp4::{parse_init, sample_entries, u32_at};
use support::media::{hex, X264_HIGH_SEQ};

fn fixture(name: &str) -> Bytes {
    let path = format!("{}/tests/fixtures/ertmp/{name}", env!("CARGO_MANIFEST_DIR"));
    Bytes::from(std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
}

fn init(tracks: &[&TrackConfig]) -> Vec<u8> {
    let mut o = Vec::new();
    fmp4::ftyp(&mut o, b"iso6", &[b"iso6", b"mp41"]);
    let list: Vec<(u32, &TrackConfig)> =
        tracks.iter().zip(1u32..).map(|(t, id)| (id, *t)).collect();
    fmp4::moov(&mut o, &list);
    o
}

/// ffprobe's `codec_name,width,height,sample_rate,channels` per stream of an init segment.
fn ffprobe_streams(bytes: &[u8], name: &str) -> Vec<String> {
    let path =
        std::env::temp_dir().join(format!("ngx-rtmp-entry-{name}-{}.mp4", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,codec_tag_string,width,height,sample_rate,channels",
            "-of",
            "compact=nk=1",
        ])
        .arg(&path)
        .output()
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(out.status.success(), "{name}: ffprobe failed");
    assert!(
        out.stderr.is_empty(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn video_of(seq: &str) -> (TrackConfig, Bytes) {
    let mut d = Demuxer::new();
    d.push_video(0, fixture(seq)).unwrap();
    let t = d.video().unwrap();
    (TrackConfig::from_video_track(t), t.record.clone())
}

fn audio_of(seq: Option<&str>) -> TrackConfig {
    let mut d = Demuxer::new();
    match seq {
        Some(s) => d.push_audio(0, fixture(s)).unwrap(),
        None => d.push_audio(0, fixture("opus_coded.bin")).unwrap(),
    };
    TrackConfig::from_audio_track(d.audio().unwrap())
}

#[test]
fn hevc_and_av1_carry_the_record_as_received() {
    for (seq, entry, config_box, codecs, ffprobe) in [
        (
            "hevc_seq_start.bin",
            "hvc1",
            "hvcC",
            "hvc1.1.6.L60.90",
            "stream|hevc|hvc1|320|240",
        ),
        (
            "av1_seq_start.bin",
            "av01",
            "av1C",
            "av01.0.00M.08",
            "stream|av1|av01|320|240",
        ),
    ] {
        let (track, record) = video_of(seq);
        assert_eq!(track.codecs(), codecs);
        let bytes = init(&[&track]);
        let tracks = parse_init(&bytes);
        assert_eq!(tracks[0].entry, entry);
        assert_eq!(
            (tracks[0].handler.as_str(), tracks[0].timescale),
            ("vide", 90_000)
        );
        let entries = sample_entries(&bytes);
        let (fields, boxes) = (&entries[0].fields, &entries[0].boxes);
        // Width and height of the VisualSampleEntry.
        assert_eq!((u16_at(fields, 24), u16_at(fields, 26)), (320, 240));
        assert_eq!(boxes.len(), 1);
        assert_eq!(boxes[0].0, config_box);
        assert_eq!(
            boxes[0].1,
            record.to_vec(),
            "{entry}: the record as received"
        );
        let streams = ffprobe_streams(&bytes, entry);
        assert_eq!(streams.len(), 1);
        assert!(streams[0].starts_with(ffprobe), "{entry}: {streams:?}");
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[test]
fn vp9_gets_its_vpcc_and_the_key_frame_size() {
    let (track, _) = video_of("vp9_seq_start.bin");
    let TrackConfig::Video {
        config: VideoConfig::Vp9(_),
        width: 0,
        height: 0,
        ..
    } = &track
    else {
        panic!("a VP9 record has no size: {track:?}");
    };
    let key = fixture("vp9_key_cut.bin");
    let size = vp9::keyframe_size(&key[5..]).unwrap();
    let track = track.with_size(size.0, size.1);
    assert_eq!(track.codecs(), "vp09.00.20.08");
    let bytes = init(&[&track]);
    assert_eq!(parse_init(&bytes)[0].entry, "vp09");
    let e = &sample_entries(&bytes)[0];
    let (fields, boxes) = (&e.fields, &e.boxes);
    assert_eq!((u16_at(fields, 24), u16_at(fields, 26)), (320, 240));
    // FullBox version 1, flags 0; profile 0, level 20, 8 bits 4:2:0 colocated, limited
    // range, BT.709-ish code points 2/2/2 (unspecified), no init data.
    assert_eq!(boxes[0].0, "vpcC");
    assert_eq!(boxes[0].1, [1, 0, 0, 0, 0, 20, 0x82, 2, 2, 2, 0, 0]);
    let streams = ffprobe_streams(&bytes, "vp09");
    assert!(
        streams[0].starts_with("stream|vp9|vp09|320|240"),
        "{streams:?}"
    );
}

#[test]
fn opus_gets_dops_from_opus_head_or_the_stereo_default() {
    let track = audio_of(Some("opus_seq_start.bin"));
    assert_eq!(track.timescale(), 48_000);
    assert_eq!(track.codecs(), "opus");
    let TrackConfig::Audio {
        config: AudioConfig::Opus(Some(head)),
    } = &track
    else {
        panic!("{track:?}");
    };
    let bytes = init(&[&track]);
    let tracks = parse_init(&bytes);
    assert_eq!(
        (
            tracks[0].entry.as_str(),
            tracks[0].handler.as_str(),
            tracks[0].timescale
        ),
        ("Opus", "soun", 48_000)
    );
    let e = &sample_entries(&bytes)[0];
    let (fields, boxes) = (&e.fields, &e.boxes);
    assert_eq!(u16_at(fields, 16), u16::from(head.channels));
    assert_eq!(u32_at(fields, 24), 48_000 << 16);
    assert_eq!(boxes[0].0, "dOps");
    // Version 0, then OpusHead's fields big-endian.
    let mut dops = vec![0, head.channels];
    dops.extend_from_slice(&head.pre_skip.to_be_bytes());
    dops.extend_from_slice(&head.input_sample_rate.to_be_bytes());
    dops.extend_from_slice(&head.output_gain.to_be_bytes());
    dops.push(0);
    assert_eq!(boxes[0].1, dops);
    let streams = ffprobe_streams(&bytes, "opus");
    assert_eq!(
        streams[0],
        format!("stream|opus|Opus|48000|{}", head.channels)
    );

    // A track that started with frames: stereo, no pre-skip.
    let track = audio_of(None);
    let bytes = init(&[&track]);
    let boxes = &sample_entries(&bytes)[0].boxes;
    assert_eq!(boxes[0].1, [0, 2, 0, 0, 0, 0, 0xbb, 0x80, 0, 0, 0]);
    let streams = ffprobe_streams(&bytes, "opus_default");
    assert_eq!(streams[0], "stream|opus|Opus|48000|2");
}

#[test]
fn avc_and_aac_stay_as_they_were() {
    let mut d = Demuxer::new();
    d.push_video(0, hex(X264_HIGH_SEQ)).unwrap();
    d.push_audio(0, Bytes::from_static(&[0xaf, 0x00, 0x12, 0x10]))
        .unwrap();
    let legacy_v = TrackConfig::video(d.video_config().unwrap());
    let legacy_a = TrackConfig::audio(d.audio_config().unwrap());
    // The constructors from tracks give the same configuration as the AVC/AAC ones.
    assert_eq!(
        TrackConfig::from_video_track(d.video().unwrap()).codecs(),
        legacy_v.codecs()
    );
    assert_eq!(
        init(&[&TrackConfig::from_audio_track(d.audio().unwrap())]),
        init(&[&legacy_a])
    );
    let bytes = init(&[&legacy_v, &legacy_a]);
    let kinds: Vec<String> = parse_init(&bytes).into_iter().map(|t| t.entry).collect();
    assert_eq!(kinds, ["avc1", "mp4a"]);
    let entries = sample_entries(&bytes);
    assert_eq!(entries[0].boxes[0].0, "avcC");
    assert_eq!(entries[1].boxes[0].0, "esds");
    let streams = ffprobe_streams(&bytes, "avc_aac");
    assert!(streams[0].starts_with("stream|h264|avc1|"), "{streams:?}");
    assert_eq!(streams[1], "stream|aac|mp4a|44100|2");
}
