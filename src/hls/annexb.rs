//! AVCC (length-prefixed NAL units) to Annex-B (start codes) for MPEG-TS,
//! with an access unit delimiter first and SPS/PPS before every IDR.

use bytes::Bytes;

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
    /// Bytes of the NAL units kept (all but AUDs and empty ones), start codes included.
    kept_len: usize,
}

fn scan(data: &[u8], len_size: usize) -> Result<Scan, MediaError> {
    let mut s = Scan {
        has_idr: false,
        has_sps: false,
        kept_len: 0,
    };
    for nal in (Nals { data, len_size }) {
        let nal = nal?;
        match nal.first().map(|b| b & 0x1f) {
            None | Some(NAL_AUD) => continue,
            Some(NAL_IDR) => s.has_idr = true,
            Some(NAL_SPS) => s.has_sps = true,
            _ => {}
        }
        s.kept_len += START_CODE.len() + nal.len();
    }
    Ok(s)
}

/// The Annex-B form of one access unit, as the pieces to write in order (an AUD, SPS/PPS
/// before an IDR that lacks them, then every NAL unit after a start code), and their total
/// length. Nothing is copied: the muxer packetizes the pieces straight into TS packets.
/// Every NAL length is checked before the first piece is returned.
pub(crate) fn annexb_pieces<'a>(
    data: &'a [u8],
    cfg: &'a AvcConfig,
    keyframe: bool,
) -> Result<(usize, impl Iterator<Item = &'a [u8]> + 'a), MediaError> {
    let len_size = usize::from(cfg.nal_length_size);
    let s = scan(data, len_size)?;
    let add_ps = (keyframe || s.has_idr) && !s.has_sps;
    let ps: &'a [Bytes] = if add_ps { &cfg.sps } else { &[] };
    let pps: &'a [Bytes] = if add_ps { &cfg.pps } else { &[] };
    let ps_len: usize = ps
        .iter()
        .chain(pps)
        .map(|p| START_CODE.len() + p.len())
        .sum();
    let nals = (Nals { data, len_size })
        // Checked by `scan`.
        .filter_map(Result::ok)
        .filter(|nal| !matches!(nal.first().map(|b| b & 0x1f), None | Some(NAL_AUD)));
    let pieces = std::iter::once(&AUD[..]).chain(
        ps.iter()
            .chain(pps)
            .map(Bytes::as_ref)
            .chain(nals)
            .flat_map(|nal| [&START_CODE[..], nal]),
    );
    Ok((AUD.len() + ps_len + s.kept_len, pieces))
}
