//! RFC 6381 `CODECS` strings, as HLS master playlists list them.

use super::aac::AudioSpecificConfig;
use super::avc::AvcConfig;

/// `avc1.PPCCLL`: profile_idc, constraint flags and level_idc of the
/// AVCDecoderConfigurationRecord, two uppercase hex digits each (as Apple writes them).
pub fn avc_codec(cfg: &AvcConfig) -> String {
    format!(
        "avc1.{:02X}{:02X}{:02X}",
        cfg.profile, cfg.compatibility, cfg.level
    )
}

/// `mp4a.40.N`, N the audio object type (2 for AAC-LC, 5 for HE-AAC, 29 for HE-AAC v2).
pub fn aac_codec(asc: &AudioSpecificConfig) -> String {
    format!("mp4a.40.{}", asc.object_type)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::SpsInfo;
    use bytes::Bytes;

    /// The AVCDecoderConfigurationRecord x264 writes for a 1280x720 High@3.1 stream at 30 fps
    /// (`ffmpeg -f lavfi -i testsrc2=size=1280x720:rate=30 -c:v libx264 -f flv`).
    const X264_720P30_RECORD: &str = "0164001fffe1001a6764001facd9405005bb0110000003001000000303\
                                      c0f183196001000668ebe3cb22c0fdf8f800";
    /// The same for 640x360 at 30000/1001 fps (High@3.0).
    const X264_360P2997_RECORD: &str = "0164001effe100196764001eacd940a02ff9701100000303e90000ea\
                                        600f162d9601000668ebe3cb22c0fdf8f800";

    fn hex(s: &str) -> Bytes {
        let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
        Bytes::from(
            digits
                .chunks(2)
                .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
                .collect::<Vec<u8>>(),
        )
    }

    #[test]
    fn avc_from_x264_record() {
        let cfg = AvcConfig::parse(&hex(X264_720P30_RECORD)).unwrap();
        assert_eq!(avc_codec(&cfg), "avc1.64001F");
        let sps = cfg.sps_info.unwrap();
        assert_eq!((sps.width, sps.height), (1280, 720));
        assert_eq!(sps.frame_rate_milli, Some(30_000));
        let cfg = AvcConfig::parse(&hex(X264_360P2997_RECORD)).unwrap();
        assert_eq!(avc_codec(&cfg), "avc1.64001E");
        let sps = cfg.sps_info.unwrap();
        assert_eq!((sps.width, sps.height), (640, 360));
        assert_eq!(sps.frame_rate_milli, Some(29_970));
    }

    #[test]
    fn sps_without_vui() {
        // Baseline 320x240, no VUI: the rate is unknown (measured from timestamps instead).
        let sps = SpsInfo::parse(&hex("6742c01eda0507e4")).unwrap();
        assert_eq!((sps.width, sps.height), (320, 240));
        assert_eq!(sps.frame_rate_milli, None);
    }

    #[test]
    fn aac_object_types() {
        let lc = AudioSpecificConfig::parse(&[0x12, 0x10]).unwrap();
        assert_eq!(aac_codec(&lc), "mp4a.40.2");
        // Explicit HE-AAC: object type 5, 24 kHz core, stereo, 48 kHz extension, AAC-LC core.
        let he = AudioSpecificConfig::parse(&[0x2b, 0x11, 0x88, 0x00]).unwrap();
        assert_eq!(he.object_type, 5);
        assert_eq!(aac_codec(&he), "mp4a.40.5");
    }
}
