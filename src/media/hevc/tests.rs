use super::*;

/// FFmpeg 9 + x265, 320x240 yuv420p, Main: the `hvc1` SequenceStart message.
const SEQ_START: &[u8] = include_bytes!("../../../tests/fixtures/ertmp/hevc_seq_start.bin");

fn record() -> Bytes {
    // After the 5-byte header: 0x90 and the FOURCC.
    Bytes::from_static(SEQ_START).slice(5..)
}

#[test]
fn x265_record() {
    let c = HevcConfig::parse(&record()).unwrap();
    assert_eq!((c.profile_space, c.high_tier, c.profile_idc), (0, false, 1));
    assert_eq!(c.level_idc, 60);
    assert_eq!(c.level_string(), "2.0");
    assert_eq!(c.profile_name(), "Main");
    assert_eq!(c.chroma_format, 1);
    assert_eq!((c.bit_depth_luma, c.bit_depth_chroma), (8, 8));
    assert_eq!(c.nal_length_size, 4);
    assert_eq!((c.vps.len(), c.sps.len(), c.pps.len()), (1, 1, 1));
    assert_eq!(c.codec_string(), "hvc1.1.6.L60.90");
    let sps = c.sps_info.unwrap();
    assert_eq!((sps.width, sps.height), (320, 240));
    assert_eq!(sps.chroma_format_idc, 1);
    assert_eq!(sps.bit_depth_luma, 8);
}

#[test]
fn codec_string_forms() {
    let mut c = HevcConfig::parse(&record()).unwrap();
    // Main 10, High tier level 5.1, profile space 1, the usual B0 constraint byte.
    c.profile_idc = 2;
    c.compatibility_flags = 0x2000_0000;
    c.high_tier = true;
    c.level_idc = 153;
    c.profile_space = 1;
    c.constraint_flags = [0xb0, 0, 0, 0, 0, 0];
    assert_eq!(c.codec_string(), "hvc1.A2.4.H153.B0");
    c.constraint_flags = [0; 6];
    assert_eq!(c.codec_string(), "hvc1.A2.4.H153");
    c.constraint_flags = [0x90, 0, 0x01, 0, 0, 0];
    assert_eq!(c.codec_string(), "hvc1.A2.4.H153.90.0.1");
    assert_eq!(c.level_string(), "5.1");
}

#[test]
fn every_cut_is_an_error() {
    let rec = record();
    for n in 0..rec.len() {
        assert!(HevcConfig::parse(&rec.slice(..n)).is_err(), "prefix {n}");
    }
    // The SPS is read only up to the bit depth: longer prefixes parse, to the same values.
    let sps = HevcConfig::parse(&rec).unwrap().sps[0].clone();
    let full = HevcSpsInfo::parse(&sps).unwrap();
    for n in 0..sps.len() {
        match HevcSpsInfo::parse(&sps[..n]) {
            Ok(info) => assert!(n > 16 && info == full, "SPS prefix {n}"),
            Err(e) => assert!(e.is_malformed(), "SPS prefix {n}: {e}"),
        }
    }
}

#[test]
fn hostile_records() {
    let rec = record().to_vec();
    // Version 0, NAL length size 3.
    let mut b = rec.clone();
    b[0] = 0;
    assert!(HevcConfig::parse(&Bytes::from(b)).is_err());
    let mut b = rec.clone();
    b[21] = (b[21] & !3) | 2;
    assert_eq!(
        HevcConfig::parse(&Bytes::from(b)),
        Err(MediaError::Invalid("HEVC NAL length size"))
    );
    // An array count far beyond the data, a NAL count far beyond the data.
    let mut b = rec.clone();
    b[22] = 255;
    assert!(matches!(
        HevcConfig::parse(&Bytes::from(b)),
        Err(MediaError::Truncated(_))
    ));
    let mut b = rec.clone();
    b[24] = 0xff;
    b[25] = 0xff;
    assert!(matches!(
        HevcConfig::parse(&Bytes::from(b)),
        Err(MediaError::Truncated(_))
    ));
    // No arrays at all: no parameter sets.
    let mut b = rec[..23].to_vec();
    b[22] = 0;
    assert!(matches!(
        HevcConfig::parse(&Bytes::from(b)),
        Err(MediaError::Invalid(_))
    ));
    // An SPS that is not one.
    assert!(HevcSpsInfo::parse(&[0x40, 0x01, 0xff]).is_err());
}
