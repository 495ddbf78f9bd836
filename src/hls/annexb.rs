//! AVCC (length-prefixed NAL units) to Annex-B (start codes) for MPEG-TS,
//! with an access unit delimiter first and SPS/PPS before every IDR.

use crate::media::{AvcConfig, MediaError};

const START_CODE: [u8; 4] = [0, 0, 0, 1];
/// AUD, primary_pic_type 7 (any slice type).
const AUD: [u8; 6] = [0, 0, 0, 1, 0x09, 0xf0];

const NAL_IDR: u8 = 5;
const NAL_SPS: u8 = 7;
const NAL_AUD: u8 = 9;

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
}

fn scan(data: &[u8], len_size: usize) -> Result<Scan, MediaError> {
    let mut s = Scan {
        has_idr: false,
        has_sps: false,
    };
    for nal in (Nals { data, len_size }) {
        match nal?.first().map(|b| b & 0x1f) {
            Some(NAL_IDR) => s.has_idr = true,
            Some(NAL_SPS) => s.has_sps = true,
            _ => {}
        }
    }
    Ok(s)
}

/// Appends the Annex-B form of one access unit to `out` (which the caller
/// clears and reuses). On error `out` holds garbage and must be discarded.
pub(crate) fn avcc_to_annexb(
    data: &[u8],
    cfg: &AvcConfig,
    keyframe: bool,
    out: &mut Vec<u8>,
) -> Result<(), MediaError> {
    let len_size = usize::from(cfg.nal_length_size);
    let s = scan(data, len_size)?;
    out.reserve(data.len() + 64);
    out.extend_from_slice(&AUD);
    if (keyframe || s.has_idr) && !s.has_sps {
        for ps in cfg.sps.iter().chain(cfg.pps.iter()) {
            out.extend_from_slice(&START_CODE);
            out.extend_from_slice(ps);
        }
    }
    for nal in (Nals { data, len_size }) {
        let nal = nal?;
        match nal.first().map(|b| b & 0x1f) {
            None | Some(NAL_AUD) => continue,
            _ => {}
        }
        out.extend_from_slice(&START_CODE);
        out.extend_from_slice(nal);
    }
    Ok(())
}
