//! DASH's fragmented MP4 (CMAF-style): one track per file, an initialization segment and a
//! series of `styp`/`moof`/`mdat` media segments, written by the shared
//! [`fmp4`](crate::media::fmp4) box writers.

use bytes::Bytes;

use crate::media::fmp4::{self, Run};

pub use crate::media::fmp4::{
    audio_specific_config, Sample, TrackConfig, FLAGS_NON_SYNC, FLAGS_SYNC, VIDEO_TIMESCALE,
};

/// Track id of the only track of every file (one track per file, like nginx-rtmp).
pub const TRACK_ID: u32 = 1;

/// The initialization segment: `ftyp` + `moov` with one track and empty sample tables.
pub fn init_segment(track: &TrackConfig) -> Bytes {
    let mut o = Vec::with_capacity(1024);
    fmp4::ftyp(&mut o, b"iso6", &[b"iso6", b"cmfc", b"dash", b"mp41"]);
    fmp4::moov(&mut o, &[(TRACK_ID, track)]);
    Bytes::from(o)
}

/// A media segment: `styp`, `moof` (`mfhd`, `traf` with `tfhd`, `tfdt`, `trun`) and `mdat`.
/// `data` is the samples' bytes in order; `sequence` counts fragments from 1.
pub fn media_segment(
    sequence: u32,
    base_decode_time: u64,
    samples: &[Sample],
    video: bool,
    data: &[Bytes],
) -> Bytes {
    let payload: usize = data.iter().map(Bytes::len).sum();
    let mut o = Vec::with_capacity(payload + 64 + samples.len() * 16);
    fmp4::boxed(&mut o, b"styp", |o| {
        o.extend_from_slice(b"msdh");
        fmp4::u32be(o, 0);
        for brand in [b"msdh", b"msix", b"cmfs", b"cmfc"] {
            o.extend_from_slice(brand);
        }
    });
    let run = Run {
        track_id: TRACK_ID,
        base_decode_time,
        samples,
        cto: video,
        data,
    };
    fmp4::fragment(&mut o, sequence, &[run]);
    Bytes::from(o)
}
