//! HEVC: HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 8.3.3.1) and the head of a sequence
//! parameter set (ITU-T H.265 7.3.2.2) for the picture size, plus the RFC 6381 `codecs` string
//! of ISO/IEC 14496-15 Annex E.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use bytes::Bytes;

use super::avc::unescape_rbsp;
use super::bits::{BitReader, ByteReader};
use super::error::MediaError;

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]
mod tests;

/// NAL unit types of the parameter sets.
const NAL_VPS: u8 = 32;
const NAL_SPS: u8 = 33;
const NAL_PPS: u8 = 34;

/// A parsed HEVCDecoderConfigurationRecord. Parameter sets are zero-copy slices of the
/// sequence start message; arrays of other NAL unit types (SEI) are skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HevcConfig {
    /// general_profile_space (0..=3).
    pub profile_space: u8,
    /// general_tier_flag: true for the High tier.
    pub high_tier: bool,
    /// general_profile_idc (1 Main, 2 Main 10, 3 Main Still Picture, 4 range extensions...).
    pub profile_idc: u8,
    pub compatibility_flags: u32,
    pub constraint_flags: [u8; 6],
    /// general_level_idc: 30 × the level (93 is level 3.1).
    pub level_idc: u8,
    /// chroma_format_idc: 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4.
    pub chroma_format: u8,
    pub bit_depth_luma: u8,
    pub bit_depth_chroma: u8,
    /// Size in bytes of the NAL unit length prefix in frames: 1, 2 or 4.
    pub nal_length_size: u8,
    pub vps: Vec<Bytes>,
    pub sps: Vec<Bytes>,
    pub pps: Vec<Bytes>,
    /// Parsed from the first SPS, when it parses.
    pub sps_info: Option<HevcSpsInfo>,
}

impl HevcConfig {
    /// Parses a record: the body of an enhanced `hvc1` SequenceStart packet.
    pub fn parse(record: &Bytes) -> Result<Self, MediaError> {
        let mut r = ByteReader::new(record);
        if r.u8("HEVC config version")? != 1 {
            return Err(MediaError::Invalid("HEVC config version"));
        }
        let b = r.u8("HEVC profile")?;
        let compatibility_flags = r.u32("HEVC compatibility flags")?;
        let mut constraint_flags = [0u8; 6];
        for (dst, src) in constraint_flags
            .iter_mut()
            .zip(r.take(6, "HEVC constraint flags")?)
        {
            *dst = *src;
        }
        let level_idc = r.u8("HEVC level")?;
        r.take(2, "HEVC min spatial segmentation")?;
        r.u8("HEVC parallelism type")?;
        let chroma_format = r.u8("HEVC chroma format")? & 3;
        let bit_depth_luma = (r.u8("HEVC luma bit depth")? & 7) + 8;
        let bit_depth_chroma = (r.u8("HEVC chroma bit depth")? & 7) + 8;
        r.u16("HEVC average frame rate")?;
        let nal_length_size = match r.u8("HEVC NAL length size")? & 3 {
            0 => 1,
            1 => 2,
            3 => 4,
            _ => return Err(MediaError::Invalid("HEVC NAL length size")),
        };
        let arrays = r.u8("HEVC array count")?;
        let (mut vps, mut sps, mut pps) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..arrays {
            let nal_type = r.u8("HEVC array NAL type")? & 0x3f;
            let count = r.u16("HEVC NAL count")?;
            for _ in 0..count {
                let len = usize::from(r.u16("HEVC NAL length")?);
                if len < 2 {
                    return Err(MediaError::Invalid("HEVC parameter set length"));
                }
                let start = r.position();
                r.take(len, "HEVC parameter set")?;
                let nal = record.slice(start..start + len);
                match nal_type {
                    NAL_VPS => vps.push(nal),
                    NAL_SPS => sps.push(nal),
                    NAL_PPS => pps.push(nal),
                    _ => {}
                }
            }
        }
        if vps.is_empty() || sps.is_empty() || pps.is_empty() {
            return Err(MediaError::Invalid("HEVC config without VPS, SPS or PPS"));
        }
        let sps_info = sps.first().and_then(|s| HevcSpsInfo::parse(s).ok());
        Ok(Self {
            profile_space: b >> 6,
            high_tier: b & 0x20 != 0,
            profile_idc: b & 0x1f,
            compatibility_flags,
            constraint_flags,
            level_idc,
            chroma_format,
            bit_depth_luma,
            bit_depth_chroma,
            nal_length_size,
            vps,
            sps,
            pps,
            sps_info,
        })
    }

    /// `hvc1.P.C.TL.B...` (ISO/IEC 14496-15 E.3): profile space letter (none, A, B, C) and
    /// profile_idc; the compatibility flags bit-reversed, in hex; `L` (Main tier) or `H` (High)
    /// and level_idc; the constraint bytes in hex, trailing zero bytes left out.
    pub fn codec_string(&self) -> String {
        let space = match self.profile_space {
            1 => "A",
            2 => "B",
            3 => "C",
            _ => "",
        };
        let mut s = format!(
            "hvc1.{space}{}.{:X}.{}{}",
            self.profile_idc,
            self.compatibility_flags.reverse_bits(),
            if self.high_tier { 'H' } else { 'L' },
            self.level_idc
        );
        let used = self
            .constraint_flags
            .iter()
            .rposition(|&b| b != 0)
            .map_or(0, |i| i + 1);
        for b in self.constraint_flags.iter().take(used) {
            s.push_str(&format!(".{b:X}"));
        }
        s
    }

    /// Profile name for the stat page.
    pub fn profile_name(&self) -> &'static str {
        match self.profile_idc {
            1 => "Main",
            2 => "Main 10",
            3 => "Main Still Picture",
            4 => "Range Extensions",
            _ => "Unknown",
        }
    }

    /// Level as "3.1" (level_idc is 30 × the level).
    pub fn level_string(&self) -> String {
        let tenths = u32::from(self.level_idc) / 3;
        format!("{}.{}", tenths / 10, tenths % 10)
    }
}

/// What the stat page needs from an HEVC SPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HevcSpsInfo {
    pub chroma_format_idc: u32,
    /// Picture size after the conformance window.
    pub width: u32,
    pub height: u32,
    pub bit_depth_luma: u32,
}

impl HevcSpsInfo {
    /// Parses an SPS NAL unit (with its two-byte NAL header) up to the bit depths.
    pub fn parse(nal: &[u8]) -> Result<Self, MediaError> {
        let header = *nal.first().ok_or(MediaError::Truncated("HEVC SPS"))?;
        if (header >> 1) & 0x3f != NAL_SPS {
            return Err(MediaError::Invalid("HEVC SPS NAL unit type"));
        }
        let rbsp = unescape_rbsp(nal.get(2..).ok_or(MediaError::Truncated("HEVC SPS"))?);
        let mut r = BitReader::new(&rbsp);
        r.skip(4, "HEVC SPS VPS id")?;
        let max_sub_layers_minus1 = r.bits(3, "HEVC SPS max sub layers")?;
        r.skip(1, "HEVC SPS temporal id nesting")?;
        // profile_tier_level(1, max_sub_layers_minus1): the general part is 96 bits.
        r.skip(96, "HEVC SPS profile tier level")?;
        let mut sub_layers = Vec::new();
        for _ in 0..max_sub_layers_minus1 {
            let profile = r.bit("HEVC SPS sub layer profile present")?;
            let level = r.bit("HEVC SPS sub layer level present")?;
            sub_layers.push((profile, level));
        }
        if max_sub_layers_minus1 > 0 {
            r.skip(2 * (8 - max_sub_layers_minus1), "HEVC SPS reserved")?;
        }
        for (profile, level) in sub_layers {
            if profile {
                r.skip(88, "HEVC SPS sub layer profile")?;
            }
            if level {
                r.skip(8, "HEVC SPS sub layer level")?;
            }
        }
        if r.ue("HEVC SPS id")? > 15 {
            return Err(MediaError::Invalid("HEVC SPS id"));
        }
        let chroma_format_idc = r.ue("HEVC SPS chroma format")?;
        if chroma_format_idc > 3 {
            return Err(MediaError::Invalid("HEVC SPS chroma format"));
        }
        let separate_planes = chroma_format_idc == 3 && r.bit("HEVC SPS separate planes")?;
        let full_w = u64::from(r.ue("HEVC SPS width")?);
        let full_h = u64::from(r.ue("HEVC SPS height")?);
        let (mut cut_w, mut cut_h) = (0u64, 0u64);
        if r.bit("HEVC SPS conformance window")? {
            let (sub_w, sub_h) = match (chroma_format_idc, separate_planes) {
                (1, false) => (2, 2),
                (2, false) => (2, 1),
                _ => (1, 1),
            };
            let left = u64::from(r.ue("HEVC SPS window")?);
            let right = u64::from(r.ue("HEVC SPS window")?);
            let top = u64::from(r.ue("HEVC SPS window")?);
            let bottom = u64::from(r.ue("HEVC SPS window")?);
            cut_w = (left + right) * sub_w;
            cut_h = (top + bottom) * sub_h;
        }
        if full_w == 0 || full_h == 0 || cut_w >= full_w || cut_h >= full_h {
            return Err(MediaError::Invalid("HEVC SPS picture size"));
        }
        let width = u32::try_from(full_w - cut_w).map_err(|_| MediaError::Invalid("HEVC SPS"))?;
        let height = u32::try_from(full_h - cut_h).map_err(|_| MediaError::Invalid("HEVC SPS"))?;
        let bit_depth_luma = r.ue("HEVC SPS bit depth")?.saturating_add(8);
        Ok(Self {
            chroma_format_idc,
            width,
            height,
            bit_depth_luma,
        })
    }
}
