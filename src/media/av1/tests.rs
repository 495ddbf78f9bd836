use super::*;

/// FFmpeg 9 + SVT-AV1, 320x240 yuv420p 8 bit: the `av01` SequenceStart message.
const SEQ_START: &[u8] = include_bytes!("../../../tests/fixtures/ertmp/av1_seq_start.bin");

fn record() -> Bytes {
    Bytes::from_static(SEQ_START).slice(5..)
}

#[test]
fn svt_av1_record() {
    let c = Av1Config::parse(&record()).unwrap();
    assert_eq!((c.seq_profile, c.seq_level_idx, c.high_tier), (0, 0, false));
    assert_eq!(c.bit_depth, 8);
    assert!(!c.monochrome);
    assert!(c.chroma_subsampling_x && c.chroma_subsampling_y);
    assert_eq!(c.codec_string(), "av01.0.00M.08");
    assert_eq!(c.level_string(), "2.0");
    assert_eq!(c.profile_name(), "Main");
    assert_eq!(c.max_size, Some((320, 240)));
    assert_eq!(c.config_obus.len(), record().len() - 4);
}

#[test]
fn codec_string_forms() {
    let mut c = Av1Config::parse(&record()).unwrap();
    c.seq_level_idx = 4;
    assert_eq!(c.codec_string(), "av01.0.04M.08");
    c.seq_profile = 2;
    c.seq_level_idx = 13;
    c.high_tier = true;
    c.bit_depth = 12;
    assert_eq!(c.codec_string(), "av01.2.13H.12");
    assert_eq!(c.level_string(), "5.1");
    c.seq_level_idx = 31;
    assert_eq!(c.level_string(), "unconstrained");
}

#[test]
fn every_cut_parses_or_fails_cleanly() {
    let rec = record();
    for n in 0..4 {
        assert!(matches!(
            Av1Config::parse(&rec.slice(..n)),
            Err(MediaError::Truncated(_))
        ));
    }
    // The configOBUs are optional: a cut inside them keeps the fixed fields and loses the
    // picture size.
    for n in 4..rec.len() {
        let c = Av1Config::parse(&rec.slice(..n)).unwrap();
        assert_eq!(c.max_size, None, "prefix {n}");
        assert_eq!(c.codec_string(), "av01.0.00M.08");
    }
}

#[test]
fn hostile_records() {
    let rec = record().to_vec();
    let mut b = rec.clone();
    b[0] = 0x01; // no marker bit
    assert!(Av1Config::parse(&Bytes::from(b)).is_err());
    let mut b = rec.clone();
    b[1] = 0xe0; // seq_profile 7
    assert!(Av1Config::parse(&Bytes::from(b)).is_err());
    let mut b = rec.clone();
    b[2] = 0x20; // twelve_bit without high_bitdepth
    assert!(Av1Config::parse(&Bytes::from(b)).is_err());
    // An OBU size that runs past the record, an endless leb128: no size, no error.
    let mut b = rec[..4].to_vec();
    b.extend_from_slice(&[0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    assert_eq!(Av1Config::parse(&Bytes::from(b)).unwrap().max_size, None);
    let mut b = rec[..4].to_vec();
    b.extend_from_slice(&[0x0a, 0x7f, 0x00]);
    assert_eq!(Av1Config::parse(&Bytes::from(b)).unwrap().max_size, None);
}

#[test]
fn temporal_delimiters_leave_the_sample() {
    // FFmpeg 9's first CodedFrames message: the extended header (1 byte + FourCC), then a
    // temporal unit that opens with a temporal delimiter (0x12 0x00) and a sequence header.
    let msg = Bytes::from_static(include_bytes!(
        "../../../tests/fixtures/ertmp/av1_key_cut.bin"
    ));
    let unit = msg.slice(5..);
    assert_eq!(&unit[..3], &[0x12, 0x00, 0x0a]);
    let sample = without_temporal_delimiters(&unit);
    assert_eq!(&sample[..], &unit[2..]);
    // Two delimiters (one with an extension byte), and none at all.
    let two = Bytes::from_static(&[0x12, 0x00, 0x16, 0x20, 0x00, 0x0a, 0x01, 0x00]);
    assert_eq!(&without_temporal_delimiters(&two)[..], &[0x0a, 0x01, 0x00]);
    let none = Bytes::from_static(&[0x0a, 0x01, 0x00]);
    assert_eq!(without_temporal_delimiters(&none), none);
    // A delimiter without a size field, or cut short, stays.
    for odd in [&[0x10, 0x00][..], &[0x12][..], &[0x12, 0x05, 0x00][..]] {
        let b = Bytes::copy_from_slice(odd);
        assert_eq!(without_temporal_delimiters(&b), b);
    }
}
