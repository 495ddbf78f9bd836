//! AV1: AV1CodecConfigurationRecord (`av1C`, AV1 Codec ISO Media File Format Binding 2.3) and
//! the head of the sequence header OBU it carries (AV1 5.5) for the maximum picture size, plus
//! the `codecs` string of the binding's Codecs Parameter String section.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use bytes::Bytes;

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

const OBU_SEQUENCE_HEADER: u8 = 1;

/// A parsed AV1CodecConfigurationRecord.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Av1Config {
    /// seq_profile: 0 Main, 1 High, 2 Professional.
    pub seq_profile: u8,
    /// seq_level_idx_0 (level X.Y is (X − 2) × 4 + Y; 31 means unconstrained).
    pub seq_level_idx: u8,
    /// seq_tier_0: true for the High tier.
    pub high_tier: bool,
    /// 8, 10 or 12.
    pub bit_depth: u8,
    pub monochrome: bool,
    pub chroma_subsampling_x: bool,
    pub chroma_subsampling_y: bool,
    pub chroma_sample_position: u8,
    /// The OBUs after the four fixed bytes (a sequence header, maybe metadata), zero-copy.
    pub config_obus: Bytes,
    /// Maximum frame size from the sequence header OBU, when there is one and it parses.
    pub max_size: Option<(u32, u32)>,
}

impl Av1Config {
    /// Parses a record: the body of an enhanced `av01` SequenceStart packet.
    pub fn parse(record: &Bytes) -> Result<Self, MediaError> {
        let mut r = ByteReader::new(record);
        let b0 = r.u8("AV1 config marker")?;
        if b0 != 0x81 {
            return Err(MediaError::Invalid("AV1 config marker or version"));
        }
        let b1 = r.u8("AV1 config profile")?;
        let b2 = r.u8("AV1 config flags")?;
        r.u8("AV1 config presentation delay")?;
        let seq_profile = b1 >> 5;
        if seq_profile > 2 {
            return Err(MediaError::Invalid("AV1 seq_profile"));
        }
        let high_bitdepth = b2 & 0x40 != 0;
        let twelve_bit = b2 & 0x20 != 0;
        let bit_depth = match (high_bitdepth, twelve_bit) {
            (false, false) => 8,
            (true, false) => 10,
            (true, true) => 12,
            (false, true) => {
                return Err(MediaError::Invalid("AV1 twelve_bit without high_bitdepth"))
            }
        };
        let config_obus = record.slice(r.position()..);
        let max_size = sequence_header_size(&config_obus).ok().flatten();
        Ok(Self {
            seq_profile,
            seq_level_idx: b1 & 0x1f,
            high_tier: b2 & 0x80 != 0,
            bit_depth,
            monochrome: b2 & 0x10 != 0,
            chroma_subsampling_x: b2 & 0x08 != 0,
            chroma_subsampling_y: b2 & 0x04 != 0,
            chroma_sample_position: b2 & 3,
            config_obus,
            max_size,
        })
    }

    /// `av01.P.LLT.DD`: profile, two-digit level index, `M` or `H` tier, two-digit bit depth
    /// (the optional fields after it default to 4:2:0 BT.709 limited range and are left out).
    pub fn codec_string(&self) -> String {
        format!(
            "av01.{}.{:02}{}.{:02}",
            self.seq_profile,
            self.seq_level_idx,
            if self.high_tier { 'H' } else { 'M' },
            self.bit_depth
        )
    }

    /// Profile name for the stat page.
    pub fn profile_name(&self) -> &'static str {
        match self.seq_profile {
            0 => "Main",
            1 => "High",
            _ => "Professional",
        }
    }

    /// Level as "3.1" (seq_level_idx 31 is "unconstrained").
    pub fn level_string(&self) -> String {
        if self.seq_level_idx == 31 {
            return "unconstrained".into();
        }
        format!("{}.{}", 2 + self.seq_level_idx / 4, self.seq_level_idx % 4)
    }
}

const OBU_TEMPORAL_DELIMITER: u8 = 2;

/// The temporal unit without its temporal delimiter OBUs, which the ISO BMFF binding (2.4)
/// keeps out of samples. They only ever open a temporal unit, so this is a zero-copy slice
/// past them; an OBU without a size field (it would run to the end) ends the search.
pub fn without_temporal_delimiters(unit: &Bytes) -> Bytes {
    let mut r = ByteReader::new(unit);
    let mut start = 0;
    while let Ok(header) = r.u8("AV1 OBU header") {
        let is_td = (header >> 3) & 0x0f == OBU_TEMPORAL_DELIMITER;
        if !is_td || header & 0x02 == 0 {
            break;
        }
        if header & 0x04 != 0 && r.u8("AV1 OBU extension").is_err() {
            break;
        }
        let Ok(size) = leb128(&mut r) else { break };
        if r.take(size, "AV1 OBU").is_err() {
            break;
        }
        start = r.position();
    }
    unit.slice(start..)
}

/// Reads a leb128 (AV1 4.10.5): at most 8 bytes, value below 2^32.
fn leb128(r: &mut ByteReader<'_>) -> Result<usize, MediaError> {
    let mut value: u64 = 0;
    for i in 0..8 {
        let b = r.u8("AV1 leb128")?;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return usize::try_from(value)
                .ok()
                .filter(|&v| v <= u32::MAX as usize)
                .ok_or(MediaError::Invalid("AV1 leb128"));
        }
    }
    Err(MediaError::Invalid("AV1 leb128"))
}

/// Finds the sequence header OBU among `obus` and returns its max_frame_width/height.
fn sequence_header_size(obus: &[u8]) -> Result<Option<(u32, u32)>, MediaError> {
    let mut r = ByteReader::new(obus);
    while r.remaining() > 0 {
        let header = r.u8("AV1 OBU header")?;
        if header & 0x04 != 0 {
            r.u8("AV1 OBU extension")?;
        }
        let size = if header & 0x02 != 0 {
            leb128(&mut r)?
        } else {
            r.remaining()
        };
        let body = r.take(size, "AV1 OBU")?;
        if (header >> 3) & 0x0f == OBU_SEQUENCE_HEADER {
            return sequence_header_max_size(body).map(Some);
        }
    }
    Ok(None)
}

/// Reads a sequence_header_obu (AV1 5.5.1) up to max_frame_height_minus_1.
fn sequence_header_max_size(body: &[u8]) -> Result<(u32, u32), MediaError> {
    let mut r = BitReader::new(body);
    r.skip(3, "AV1 seq_profile")?;
    r.skip(1, "AV1 still_picture")?;
    let reduced = r.bit("AV1 reduced_still_picture_header")?;
    if reduced {
        r.skip(5, "AV1 seq_level_idx")?;
    } else {
        let mut decoder_model_info = false;
        let mut buffer_delay_len = 0;
        if r.bit("AV1 timing_info_present")? {
            r.skip(64, "AV1 timing_info")?;
            if r.bit("AV1 equal_picture_interval")? {
                uvlc(&mut r)?;
            }
            decoder_model_info = r.bit("AV1 decoder_model_info_present")?;
            if decoder_model_info {
                buffer_delay_len = r.bits(5, "AV1 buffer_delay_length")? + 1;
                r.skip(32 + 5 + 5, "AV1 decoder_model_info")?;
            }
        }
        let initial_display_delay = r.bit("AV1 initial_display_delay_present")?;
        let points = r.bits(5, "AV1 operating_points_cnt")? + 1;
        for _ in 0..points {
            r.skip(12, "AV1 operating_point_idc")?;
            if r.bits(5, "AV1 seq_level_idx")? > 7 {
                r.skip(1, "AV1 seq_tier")?;
            }
            if decoder_model_info && r.bit("AV1 decoder_model_present_for_this_op")? {
                r.skip(2 * buffer_delay_len + 1, "AV1 operating_parameters_info")?;
            }
            if initial_display_delay && r.bit("AV1 initial_display_delay_present_for_op")? {
                r.skip(4, "AV1 initial_display_delay")?;
            }
        }
    }
    let width_bits = r.bits(4, "AV1 frame_width_bits")? + 1;
    let height_bits = r.bits(4, "AV1 frame_height_bits")? + 1;
    let width = r.bits(width_bits, "AV1 max_frame_width")?.saturating_add(1);
    let height = r
        .bits(height_bits, "AV1 max_frame_height")?
        .saturating_add(1);
    Ok((width, height))
}

/// uvlc() (AV1 4.10.3), value discarded; more than 32 leading zeros is invalid.
fn uvlc(r: &mut BitReader<'_>) -> Result<(), MediaError> {
    let mut zeros = 0;
    while !r.bit("AV1 uvlc")? {
        zeros += 1;
        if zeros >= 32 {
            return Err(MediaError::Invalid("AV1 uvlc"));
        }
    }
    r.skip(zeros, "AV1 uvlc")
}
