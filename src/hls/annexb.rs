//! Length-prefixed NAL units (AVC and HEVC as FLV and MP4 carry them) to Annex-B (start
//! codes) for MPEG-TS, with an access unit delimiter first and the parameter sets before
//! every random access point.

use bytes::Bytes;

use crate::media::{AvcConfig, HevcConfig, MediaError};

const START_CODE: [u8; 4] = [0, 0, 0, 1];
/// H.264 AUD, primary_pic_type 7 (any slice type).
const AVC_AUD: [u8; 6] = [0, 0, 0, 1, 0x09, 0xf0];
/// HEVC AUD (nal_unit_type 35, nuh_temporal_id_plus1 1), pic_type 2 (any slice type).
const HEVC_AUD: [u8; 7] = [0, 0, 0, 1, 0x46, 0x01, 0x50];

const AVC_IDR: u8 = 5;
const AVC_SPS: u8 = 7;
const AVC_AUD_TYPE: u8 = 9;
/// HEVC IRAP pictures (BLA, IDR, CRA and the reserved IRAP types).
const HEVC_IRAP: std::ops::RangeInclusive<u8> = 16..=23;
const HEVC_SPS: u8 = 33;
const HEVC_AUD_TYPE: u8 = 35;

/// A codec's NAL unit syntax and the parameter sets its random access points need.
#[derive(Clone, Copy)]
pub(crate) struct NalFormat<'a> {
    hevc: bool,
    len_size: usize,
    /// In the order they go before a random access point: SPS, PPS (AVC); VPS, SPS, PPS.
    param_sets: [&'a [Bytes]; 3],
}

impl<'a> NalFormat<'a> {
    pub(crate) fn avc(cfg: &'a AvcConfig) -> Self {
        Self {
            hevc: false,
            len_size: usize::from(cfg.nal_length_size),
            param_sets: [&cfg.sps, &cfg.pps, &[]],
        }
    }

    pub(crate) fn hevc(cfg: &'a HevcConfig) -> Self {
        Self {
            hevc: true,
            len_size: usize::from(cfg.nal_length_size),
            param_sets: [&cfg.vps, &cfg.sps, &cfg.pps],
        }
    }

    fn nal_type(&self, nal: &[u8]) -> Option<u8> {
        let b = nal.first()?;
        Some(if self.hevc { (b >> 1) & 0x3f } else { b & 0x1f })
    }

    fn is_aud(&self, t: u8) -> bool {
        t == if self.hevc {
            HEVC_AUD_TYPE
        } else {
            AVC_AUD_TYPE
        }
    }

    fn is_random_access(&self, t: u8) -> bool {
        if self.hevc {
            HEVC_IRAP.contains(&t)
        } else {
            t == AVC_IDR
        }
    }

    fn is_sps(&self, t: u8) -> bool {
        t == if self.hevc { HEVC_SPS } else { AVC_SPS }
    }

    fn aud(&self) -> &'static [u8] {
        if self.hevc {
            &HEVC_AUD
        } else {
            &AVC_AUD
        }
    }
}

/// Iterates the NAL units of an AVCC access unit, checking every length.
struct Nals<'a> {
    data: &'a [u8],
    len_size: usize,
}

impl<'a> Iterator for Nals<'a> {
    type Item = Result<&'a [u8], MediaError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.data.is_empty() {
            return None;
        }
        let Some(prefix) = self.data.get(..self.len_size) else {
            self.data = &[];
            return Some(Err(MediaError::Truncated("NAL unit length")));
        };
        let len = prefix
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        let rest = self.data.get(self.len_size..).unwrap_or_default();
        let Some(nal) = rest.get(..len) else {
            self.data = &[];
            return Some(Err(MediaError::Truncated("NAL unit")));
        };
        self.data = rest.get(len..).unwrap_or_default();
        Some(Ok(nal))
    }
}

/// What a frame contains, from a first pass over its NAL units.
struct Scan {
    has_idr: bool,
    has_sps: bool,
    /// Bytes of the NAL units kept (all but AUDs and empty ones), start codes included.
    kept_len: usize,
}

fn scan(data: &[u8], f: &NalFormat<'_>) -> Result<Scan, MediaError> {
    let mut s = Scan {
        has_idr: false,
        has_sps: false,
        kept_len: 0,
    };
    let len_size = f.len_size;
    for nal in (Nals { data, len_size }) {
        let nal = nal?;
        match f.nal_type(nal) {
            None => continue,
            Some(t) if f.is_aud(t) => continue,
            Some(t) if f.is_random_access(t) => s.has_idr = true,
            Some(t) if f.is_sps(t) => s.has_sps = true,
            _ => {}
        }
        s.kept_len += START_CODE.len() + nal.len();
    }
    Ok(s)
}

/// The Annex-B form of one access unit, as the pieces to write in order (an AUD, the
/// parameter sets before a random access point that lacks them, then every NAL unit after a
/// start code), and their total length. Nothing is copied: the muxer packetizes the pieces
/// straight into TS packets. Every NAL length is checked before the first piece is returned.
pub(crate) fn annexb_pieces<'a>(
    data: &'a [u8],
    f: NalFormat<'a>,
    keyframe: bool,
) -> Result<(usize, impl Iterator<Item = &'a [u8]> + 'a), MediaError> {
    let s = scan(data, &f)?;
    let add_ps = (keyframe || s.has_idr) && !s.has_sps;
    let none: [&'a [Bytes]; 3] = [&[], &[], &[]];
    let ps = if add_ps { f.param_sets } else { none };
    let ps_len: usize = ps
        .iter()
        .flat_map(|set| set.iter())
        .map(|p| START_CODE.len() + p.len())
        .sum();
    let len_size = f.len_size;
    let nals = (Nals { data, len_size })
        // Checked by `scan`.
        .filter_map(Result::ok)
        .filter(move |nal| !f.nal_type(nal).is_none_or(|t| f.is_aud(t)));
    let aud = f.aud();
    let pieces = std::iter::once(aud).chain(
        ps.into_iter()
            .flat_map(|set| set.iter())
            .map(Bytes::as_ref)
            .chain(nals)
            .flat_map(|nal| [&START_CODE[..], nal]),
    );
    Ok((aud.len() + ps_len + s.kept_len, pieces))
}
