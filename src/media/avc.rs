//! H.264: AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.2.4.1) and a
//! sequence parameter set parser (ITU-T H.264 7.3.2.1.1) good enough for
//! picture size, profile and level.

use bytes::Bytes;

use super::bits::{BitReader, ByteReader};
use super::error::MediaError;

/// A parsed AVCDecoderConfigurationRecord. SPS and PPS NAL units are
/// zero-copy slices of the sequence header message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvcConfig {
    pub profile: u8,
    pub compatibility: u8,
    pub level: u8,
    /// Size in bytes of the NAL unit length prefix in frames: 1, 2 or 4.
    pub nal_length_size: u8,
    pub sps: Vec<Bytes>,
    pub pps: Vec<Bytes>,
    /// Parsed from the first SPS, when it parses.
    pub sps_info: Option<SpsInfo>,
}

impl AvcConfig {
    /// Parses a record; `record` is the payload after the 5-byte FLV/AVC
    /// video header.
    pub fn parse(record: &Bytes) -> Result<Self, MediaError> {
        let mut r = ByteReader::new(record);
        let version = r.u8("AVC config version")?;
        if version != 1 {
            return Err(MediaError::Invalid("AVC config version"));
        }
        let profile = r.u8("AVC profile")?;
        let compatibility = r.u8("AVC compatibility")?;
        let level = r.u8("AVC level")?;
        let nal_length_size = match r.u8("AVC NAL length size")? & 3 {
            0 => 1,
            1 => 2,
            3 => 4,
            _ => return Err(MediaError::Invalid("AVC NAL length size")),
        };
        let num_sps = r.u8("AVC SPS count")? & 0x1f;
        let mut sps = Vec::with_capacity(usize::from(num_sps));
        for _ in 0..num_sps {
            sps.push(Self::param_set(&mut r, record, "AVC SPS")?);
        }
        let num_pps = r.u8("AVC PPS count")?;
        let mut pps = Vec::with_capacity(usize::from(num_pps));
        for _ in 0..num_pps {
            pps.push(Self::param_set(&mut r, record, "AVC PPS")?);
        }
        if sps.is_empty() || pps.is_empty() {
            return Err(MediaError::Invalid("AVC config without SPS or PPS"));
        }
        // Trailing high-profile extension fields (chroma format, bit depth,
        // SPS ext) are not needed: the SPS carries the same information.
        let sps_info = sps.first().and_then(|s| SpsInfo::parse(s).ok());
        Ok(Self {
            profile,
            compatibility,
            level,
            nal_length_size,
            sps,
            pps,
            sps_info,
        })
    }

    fn param_set(
        r: &mut ByteReader<'_>,
        record: &Bytes,
        what: &'static str,
    ) -> Result<Bytes, MediaError> {
        let len = usize::from(r.u16(what)?);
        if len == 0 {
            return Err(MediaError::Invalid(what));
        }
        let start = r.position();
        r.take(len, what)?;
        Ok(record.slice(start..start + len))
    }

    /// Profile name as nginx-rtmp's stat page spells it.
    pub fn profile_name(&self) -> &'static str {
        profile_name(self.profile)
    }

    /// Level as "3.1".
    pub fn level_string(&self) -> String {
        format!("{}.{}", self.level / 10, self.level % 10)
    }
}

/// Human-readable H.264 profile name.
pub fn profile_name(profile_idc: u8) -> &'static str {
    match profile_idc {
        66 => "Baseline",
        77 => "Main",
        88 => "Extended",
        100 => "High",
        110 => "High 10",
        122 => "High 4:2:2",
        244 => "High 4:4:4",
        44 => "CAVLC 4:4:4",
        _ => "Unknown",
    }
}

/// What the stat page needs from an SPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpsInfo {
    pub profile_idc: u8,
    pub constraint_flags: u8,
    pub level_idc: u8,
    pub chroma_format_idc: u32,
    pub width: u32,
    pub height: u32,
    /// Frames per second × 1000 from the VUI timing info (`time_scale / (2 ×
    /// num_units_in_tick)`), when the SPS carries it.
    pub frame_rate_milli: Option<u32>,
}

/// Profiles whose SPS carries chroma_format_idc and friends (7.3.2.1.1).
fn has_chroma_info(profile_idc: u8) -> bool {
    matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    )
}

/// Removes emulation prevention bytes (00 00 03 -> 00 00).
pub(crate) fn unescape_rbsp(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0usize;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        if b == 0 {
            zeros += 1;
        } else {
            zeros = 0;
        }
        out.push(b);
    }
    out
}

fn skip_scaling_list(r: &mut BitReader<'_>, size: u32) -> Result<(), MediaError> {
    let mut last: i32 = 8;
    let mut next: i32 = 8;
    for _ in 0..size {
        if next != 0 {
            let delta = r.se("SPS scaling list delta")?;
            if !(-128..=127).contains(&delta) {
                return Err(MediaError::Invalid("SPS scaling list delta"));
            }
            next = (last + delta + 256) % 256;
        }
        if next != 0 {
            last = next;
        }
    }
    Ok(())
}

impl SpsInfo {
    /// Parses an SPS NAL unit (with its one-byte NAL header).
    pub fn parse(nal: &[u8]) -> Result<Self, MediaError> {
        let header = *nal.first().ok_or(MediaError::Truncated("SPS"))?;
        if header & 0x1f != 7 {
            return Err(MediaError::Invalid("SPS NAL unit type"));
        }
        let rbsp = unescape_rbsp(nal.get(1..).unwrap_or_default());
        let mut r = BitReader::new(&rbsp);
        let profile_idc = r.bits(8, "SPS profile")? as u8;
        let constraint_flags = r.bits(8, "SPS constraints")? as u8;
        let level_idc = r.bits(8, "SPS level")? as u8;
        let sps_id = r.ue("SPS id")?;
        if sps_id > 31 {
            return Err(MediaError::Invalid("SPS id"));
        }
        let mut chroma_format_idc = 1;
        let mut separate_colour_plane = false;
        if has_chroma_info(profile_idc) {
            chroma_format_idc = r.ue("SPS chroma format")?;
            if chroma_format_idc > 3 {
                return Err(MediaError::Invalid("SPS chroma format"));
            }
            if chroma_format_idc == 3 {
                separate_colour_plane = r.bit("SPS separate colour plane")?;
            }
            let _bit_depth_luma = r.ue("SPS bit depth")?;
            let _bit_depth_chroma = r.ue("SPS bit depth")?;
            r.skip(1, "SPS qpprime bypass")?;
            if r.bit("SPS scaling matrix flag")? {
                let lists = if chroma_format_idc == 3 { 12 } else { 8 };
                for i in 0..lists {
                    if r.bit("SPS scaling list flag")? {
                        skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                    }
                }
            }
        }
        let _log2_max_frame_num = r.ue("SPS log2 max frame num")?;
        match r.ue("SPS poc type")? {
            0 => {
                r.ue("SPS log2 max poc lsb")?;
            }
            1 => {
                r.skip(1, "SPS delta pic order always zero")?;
                r.se("SPS offset for non-ref pic")?;
                r.se("SPS offset top to bottom")?;
                let n = r.ue("SPS ref frames in poc cycle")?;
                if n > 255 {
                    return Err(MediaError::Invalid("SPS ref frames in poc cycle"));
                }
                for _ in 0..n {
                    r.se("SPS ref frame offset")?;
                }
            }
            2 => {}
            _ => return Err(MediaError::Invalid("SPS poc type")),
        }
        r.ue("SPS max num ref frames")?;
        r.skip(1, "SPS gaps in frame num")?;
        let width_mbs = u64::from(r.ue("SPS width")?) + 1;
        let height_map_units = u64::from(r.ue("SPS height")?) + 1;
        let frame_mbs_only = r.bit("SPS frame mbs only")?;
        if !frame_mbs_only {
            r.skip(1, "SPS mb adaptive frame field")?;
        }
        r.skip(1, "SPS direct 8x8 inference")?;
        let (mut crop_l, mut crop_r, mut crop_t, mut crop_b) = (0u64, 0u64, 0u64, 0u64);
        if r.bit("SPS frame cropping flag")? {
            crop_l = u64::from(r.ue("SPS crop")?);
            crop_r = u64::from(r.ue("SPS crop")?);
            crop_t = u64::from(r.ue("SPS crop")?);
            crop_b = u64::from(r.ue("SPS crop")?);
        }
        let field_factor: u64 = if frame_mbs_only { 1 } else { 2 };
        let chroma_array_type = if separate_colour_plane {
            0
        } else {
            chroma_format_idc
        };
        let (crop_unit_x, crop_unit_y) = match chroma_array_type {
            0 => (1, field_factor),
            1 => (2, 2 * field_factor),
            2 => (2, field_factor),
            _ => (1, field_factor),
        };
        let full_w = width_mbs * 16;
        let full_h = height_map_units * 16 * field_factor;
        let cut_w = (crop_l + crop_r) * crop_unit_x;
        let cut_h = (crop_t + crop_b) * crop_unit_y;
        if cut_w >= full_w || cut_h >= full_h {
            return Err(MediaError::Invalid("SPS cropping"));
        }
        let width = u32::try_from(full_w - cut_w).map_err(|_| MediaError::Invalid("SPS width"))?;
        let height =
            u32::try_from(full_h - cut_h).map_err(|_| MediaError::Invalid("SPS height"))?;
        // The VUI is optional information: a truncated or odd one leaves the rate unknown.
        let frame_rate_milli = match r.bit("SPS vui present") {
            Ok(true) => vui_frame_rate_milli(&mut r).ok().flatten(),
            _ => None,
        };
        Ok(Self {
            profile_idc,
            constraint_flags,
            level_idc,
            chroma_format_idc,
            width,
            height,
            frame_rate_milli,
        })
    }
}

/// Reads the VUI parameters (ITU-T H.264 E.1.1) up to the timing info and returns the frame
/// rate × 1000 it declares (progressive frames: two ticks per frame).
fn vui_frame_rate_milli(r: &mut BitReader<'_>) -> Result<Option<u32>, MediaError> {
    const EXTENDED_SAR: u32 = 255;
    if r.bit("VUI aspect ratio present")? && r.bits(8, "VUI aspect ratio idc")? == EXTENDED_SAR {
        r.skip(32, "VUI sar")?;
    }
    if r.bit("VUI overscan present")? {
        r.skip(1, "VUI overscan appropriate")?;
    }
    if r.bit("VUI video signal type present")? {
        r.skip(4, "VUI video format and range")?;
        if r.bit("VUI colour description present")? {
            r.skip(24, "VUI colour description")?;
        }
    }
    if r.bit("VUI chroma loc present")? {
        r.ue("VUI chroma loc top")?;
        r.ue("VUI chroma loc bottom")?;
    }
    if !r.bit("VUI timing info present")? {
        return Ok(None);
    }
    let units = u64::from(r.bits(32, "VUI num units in tick")?);
    let scale = u64::from(r.bits(32, "VUI time scale")?);
    if units == 0 || scale == 0 {
        return Ok(None);
    }
    // Rounded to the nearest thousandth of a frame per second.
    let milli = (scale * 1000 + units) / (2 * units);
    Ok(u32::try_from(milli).ok().filter(|&m| m > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescape() {
        assert_eq!(unescape_rbsp(&[0, 0, 3, 1, 0, 0, 3]), [0, 0, 1, 0, 0]);
        assert_eq!(unescape_rbsp(&[0, 0, 0, 3, 3]), [0, 0, 0, 3]);
    }
}
