//! AAC: AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1) and ADTS headers
//! (ISO/IEC 14496-3 1.A.2) for MPEG-TS.

use super::bits::BitReader;
use super::error::MediaError;

/// Sampling frequencies by samplingFrequencyIndex.
pub const SAMPLE_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// A parsed AudioSpecificConfig.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioSpecificConfig {
    /// audioObjectType after the escape (2 = AAC LC, 5 = SBR, 29 = PS ...).
    pub object_type: u8,
    /// Sampling frequency of the core coder, in Hz.
    pub sample_rate: u32,
    /// The 4-bit index, if the rate was signalled by index (15 = explicit).
    pub sample_rate_index: u8,
    /// channelConfiguration (0 = defined in a program config element).
    pub channel_config: u8,
    /// For explicit HE-AAC signalling (object type 5 or 29): the core object
    /// type after the extension, and the output sampling rate.
    pub core_object_type: Option<u8>,
    pub extension_sample_rate: Option<u32>,
}

fn read_object_type(r: &mut BitReader<'_>) -> Result<u8, MediaError> {
    let t = r.bits(5, "AAC object type")? as u8;
    if t == 31 {
        Ok(32 + r.bits(6, "AAC object type ext")? as u8)
    } else {
        Ok(t)
    }
}

fn read_frequency(r: &mut BitReader<'_>) -> Result<(u8, u32), MediaError> {
    let idx = r.bits(4, "AAC sampling frequency index")? as u8;
    match idx {
        15 => {
            let f = r.bits(24, "AAC sampling frequency")?;
            if f == 0 {
                return Err(MediaError::Invalid("AAC sampling frequency"));
            }
            Ok((15, f))
        }
        i => SAMPLE_RATES
            .get(usize::from(i))
            .map(|&f| (i, f))
            .ok_or(MediaError::Invalid("AAC sampling frequency index")),
    }
}

impl AudioSpecificConfig {
    /// Parses the payload of an AAC sequence header (after the 2-byte FLV
    /// audio header).
    pub fn parse(buf: &[u8]) -> Result<Self, MediaError> {
        let mut r = BitReader::new(buf);
        let object_type = read_object_type(&mut r)?;
        if object_type == 0 {
            return Err(MediaError::Invalid("AAC object type"));
        }
        let (sample_rate_index, sample_rate) = read_frequency(&mut r)?;
        let channel_config = r.bits(4, "AAC channel configuration")? as u8;
        let mut cfg = Self {
            object_type,
            sample_rate,
            sample_rate_index,
            channel_config,
            core_object_type: None,
            extension_sample_rate: None,
        };
        if object_type == 5 || object_type == 29 {
            let (_, ext) = read_frequency(&mut r)?;
            cfg.extension_sample_rate = Some(ext);
            cfg.core_object_type = Some(read_object_type(&mut r)?);
        }
        Ok(cfg)
    }

    /// Number of channels (0 when given by a program config element).
    pub fn channels(&self) -> u8 {
        match self.channel_config {
            7 => 8,
            c @ 0..=6 => c,
            _ => 0,
        }
    }

    /// Profile name for the stat page.
    pub fn profile_name(&self) -> &'static str {
        match self.object_type {
            1 => "Main",
            2 => "LC",
            3 => "SSR",
            4 => "LTP",
            5 => "HE",
            29 => "HEv2",
            _ => "Unknown",
        }
    }

    /// Samples per raw AAC frame (960 for the rare 960-sample framing is
    /// not signalled here; 1024 otherwise).
    pub fn samples_per_frame(&self) -> u32 {
        1024
    }

    /// The ADTS header template for this configuration. ADTS can carry only
    /// object types 1..=4 (HE-AAC is carried as its AAC LC core, which
    /// decoders upgrade implicitly), an indexed sampling rate and channel
    /// configurations 1..=7.
    pub fn adts(&self) -> Result<AdtsHeader, MediaError> {
        let object_type = match self.core_object_type {
            Some(core) => core,
            None => self.object_type,
        };
        if !(1..=4).contains(&object_type) {
            return Err(MediaError::Unsupported("AAC object type for ADTS"));
        }
        let index = if self.sample_rate_index < 13 {
            self.sample_rate_index
        } else {
            SAMPLE_RATES
                .iter()
                .position(|&f| f == self.sample_rate)
                .and_then(|p| u8::try_from(p).ok())
                .ok_or(MediaError::Unsupported("AAC sampling rate for ADTS"))?
        };
        if !(1..=7).contains(&self.channel_config) {
            return Err(MediaError::Unsupported(
                "AAC channel configuration for ADTS",
            ));
        }
        Ok(AdtsHeader {
            profile: object_type - 1,
            sample_rate_index: index,
            channel_config: self.channel_config,
        })
    }
}

/// Fixed part of an ADTS header; [`AdtsHeader::write`] adds the length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdtsHeader {
    /// Object type minus one (2 bits).
    pub profile: u8,
    pub sample_rate_index: u8,
    pub channel_config: u8,
}

impl AdtsHeader {
    pub const LEN: usize = 7;
    /// Largest raw frame an ADTS frame_length (13 bits) can describe.
    pub const MAX_PAYLOAD: usize = 0x1fff - Self::LEN;

    /// The 7-byte header (no CRC) for a raw frame of `payload_len` bytes.
    pub fn write(&self, payload_len: usize) -> Result<[u8; 7], MediaError> {
        if payload_len > Self::MAX_PAYLOAD {
            return Err(MediaError::Invalid("AAC frame too large for ADTS"));
        }
        let len = (payload_len + Self::LEN) as u32;
        let fullness: u32 = 0x7ff;
        Ok([
            0xff,
            0xf1, // sync, MPEG-4, layer 0, protection absent
            ((self.profile & 3) << 6)
                | ((self.sample_rate_index & 0x0f) << 2)
                | ((self.channel_config >> 2) & 1),
            ((self.channel_config & 3) << 6) | ((len >> 11) & 3) as u8,
            ((len >> 3) & 0xff) as u8,
            (((len & 7) << 5) as u8) | ((fullness >> 6) & 0x1f) as u8,
            (((fullness & 0x3f) << 2) as u8), // number_of_raw_data_blocks = 0
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lc_44100_stereo() {
        let c = AudioSpecificConfig::parse(&[0x12, 0x10]).unwrap();
        assert_eq!(c.object_type, 2);
        assert_eq!(c.sample_rate, 44100);
        assert_eq!(c.channel_config, 2);
        let h = c.adts().unwrap().write(100).unwrap();
        assert_eq!(h, [0xff, 0xf1, 0x50, 0x80, 0x0d, 0x7f, 0xfc]);
    }
}
