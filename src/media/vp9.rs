//! VP9: VPCodecConfigurationRecord (`vpcC`, VP Codec ISO Media File Format Binding) and its
//! `codecs` string.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use bytes::Bytes;

use super::bits::{BitReader, ByteReader};
use super::error::MediaError;

/// A parsed VPCodecConfigurationRecord.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpConfig {
    /// 0..=3.
    pub profile: u8,
    /// Level × 10 (10, 11, 20, ... 62).
    pub level: u8,
    /// 8, 10 or 12.
    pub bit_depth: u8,
    /// 0: 4:2:0 vertical, 1: 4:2:0 colocated with luma, 2: 4:2:2, 3: 4:4:4.
    pub chroma_subsampling: u8,
    pub full_range: bool,
    /// ISO/IEC 23091-4 code points.
    pub colour_primaries: u8,
    pub transfer_characteristics: u8,
    pub matrix_coefficients: u8,
    /// codecInitializationData (empty for VP9), zero-copy.
    pub init_data: Bytes,
}

impl VpConfig {
    /// Parses the body of an enhanced `vp09` SequenceStart packet. FFmpeg sends the record
    /// with the `vpcC` FullBox version (1) and flags (0) in front; a bare record is accepted
    /// too (its third byte holds the bit depth, never zero, so the two cannot be confused).
    pub fn parse(record: &Bytes) -> Result<Self, MediaError> {
        let start = if record.get(..4) == Some(&[1, 0, 0, 0][..]) {
            4
        } else {
            0
        };
        let body = record.slice(start..);
        let mut r = ByteReader::new(&body);
        let profile = r.u8("VP profile")?;
        if profile > 3 {
            return Err(MediaError::Invalid("VP profile"));
        }
        // Levels are 10 × the level number (10 ..= 62); anything of three digits would not
        // fit the `codecs` string's two-digit field.
        let level = r.u8("VP level")?;
        if level > 99 {
            return Err(MediaError::Invalid("VP level"));
        }
        let b = r.u8("VP bit depth")?;
        let bit_depth = b >> 4;
        if !matches!(bit_depth, 8 | 10 | 12) {
            return Err(MediaError::Invalid("VP bit depth"));
        }
        let chroma_subsampling = (b >> 1) & 7;
        if chroma_subsampling > 3 {
            return Err(MediaError::Invalid("VP chroma subsampling"));
        }
        let colour_primaries = r.u8("VP colour primaries")?;
        let transfer_characteristics = r.u8("VP transfer characteristics")?;
        let matrix_coefficients = r.u8("VP matrix coefficients")?;
        let init_len = usize::from(r.u16("VP init data size")?);
        let init_start = r.position();
        r.take(init_len, "VP init data")?;
        Ok(Self {
            profile,
            level,
            bit_depth,
            chroma_subsampling,
            full_range: b & 1 != 0,
            colour_primaries,
            transfer_characteristics,
            matrix_coefficients,
            init_data: body.slice(init_start..init_start + init_len),
        })
    }

    /// `vp09.PP.LL.DD`: profile, level, bit depth, two digits each (the optional colour
    /// fields are left out).
    pub fn codec_string(&self) -> String {
        format!(
            "vp09.{:02}.{:02}.{:02}",
            self.profile, self.level, self.bit_depth
        )
    }

    /// Level as "2.0".
    pub fn level_string(&self) -> String {
        format!("{}.{}", self.level / 10, self.level % 10)
    }
}

/// The picture size of a VP9 key frame, read from its uncompressed header (VP9 bitstream
/// 6.2): `None` for inter frames, "show existing frame" frames and headers that do not
/// parse. A superframe starts with its first frame, which is the key frame when there is
/// one, so the header at byte 0 is the one to read.
pub fn keyframe_size(frame: &[u8]) -> Option<(u32, u32)> {
    let mut r = BitReader::new(frame);
    let mut header = || -> Result<Option<(u32, u32)>, MediaError> {
        if r.bits(2, "VP9 frame marker")? != 2 {
            return Err(MediaError::Invalid("VP9 frame marker"));
        }
        let low = r.bits(1, "VP9 profile")?;
        let profile = (r.bits(1, "VP9 profile")? << 1) | low;
        if profile == 3 {
            r.skip(1, "VP9 reserved")?;
        }
        if r.bit("VP9 show_existing_frame")? {
            return Ok(None);
        }
        if r.bit("VP9 frame_type")? {
            return Ok(None); // NON_KEY_FRAME
        }
        r.skip(2, "VP9 show_frame, error_resilient_mode")?;
        if r.bits(24, "VP9 frame sync code")? != 0x49_83_42 {
            return Err(MediaError::Invalid("VP9 frame sync code"));
        }
        if profile >= 2 {
            r.skip(1, "VP9 ten_or_twelve_bit")?;
        }
        let color_space = r.bits(3, "VP9 color_space")?;
        let odd_profile = profile == 1 || profile == 3;
        if color_space != 7 {
            // color_range, then subsampling_x, subsampling_y, reserved_zero.
            r.skip(if odd_profile { 4 } else { 1 }, "VP9 color config")?;
        } else if odd_profile {
            r.skip(1, "VP9 reserved")?;
        }
        let width = r.bits(16, "VP9 frame width")? + 1;
        let height = r.bits(16, "VP9 frame height")? + 1;
        Ok(Some((width, height)))
    };
    header().ok().flatten()
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]
mod tests {
    use super::*;

    /// FFmpeg 9's `vp09` SequenceStart body for libvpx-vp9 320x240 yuv420p.
    const FFMPEG_VPCC: [u8; 12] = [1, 0, 0, 0, 0, 0x14, 0x82, 2, 2, 2, 0, 0];

    #[test]
    fn ffmpeg_record() {
        let c = VpConfig::parse(&Bytes::from_static(&FFMPEG_VPCC)).unwrap();
        assert_eq!((c.profile, c.level, c.bit_depth), (0, 20, 8));
        assert_eq!(c.chroma_subsampling, 1);
        assert!(!c.full_range);
        assert_eq!(c.codec_string(), "vp09.00.20.08");
        assert_eq!(c.level_string(), "2.0");
        // The bare record parses the same.
        let bare = VpConfig::parse(&Bytes::copy_from_slice(&FFMPEG_VPCC[4..])).unwrap();
        assert_eq!(bare, c);
    }

    #[test]
    fn key_frame_size() {
        // FFmpeg 9's first CodedFrames message of libvpx-vp9 320x240: the extended header
        // (1 byte + FourCC) and then the frame.
        let msg = include_bytes!("../../tests/fixtures/ertmp/vp9_key_cut.bin");
        let frame = &msg[5..];
        assert_eq!(keyframe_size(frame), Some((320, 240)));
        // An inter frame (frame_type 1) and garbage have no size.
        let mut inter = frame.to_vec();
        inter[0] |= 0x04;
        assert_eq!(keyframe_size(&inter), None);
        assert_eq!(keyframe_size(&[0xff; 3]), None);
        for n in 0..9 {
            assert_eq!(keyframe_size(&frame[..n]), None, "prefix {n}");
        }
    }

    #[test]
    fn every_cut_is_an_error() {
        for n in 0..FFMPEG_VPCC.len() {
            let cut = Bytes::copy_from_slice(&FFMPEG_VPCC[..n]);
            assert!(VpConfig::parse(&cut).is_err(), "prefix {n}");
        }
    }

    #[test]
    fn bad_values() {
        let mut b = FFMPEG_VPCC;
        b[6] = 0x92; // bit depth 9
        assert!(VpConfig::parse(&Bytes::copy_from_slice(&b)).is_err());
        let mut b = FFMPEG_VPCC;
        b[5] = 130; // level 13.0
        assert_eq!(
            VpConfig::parse(&Bytes::copy_from_slice(&b)),
            Err(MediaError::Invalid("VP level"))
        );
        let mut b = FFMPEG_VPCC;
        b[11] = 200; // init data longer than the record
        assert!(matches!(
            VpConfig::parse(&Bytes::copy_from_slice(&b)),
            Err(MediaError::Truncated(_))
        ));
    }
}
