//! Fragmented MP4 (ISO/IEC 14496-12) box writers shared by DASH (one track per file, CMAF
//! style), HLS (video and audio in one fragment) and recording (all tracks in one file):
//! initialization segments (`ftyp` + `moov`
//! with `mvex`), fragments (`moof` + `mdat`) and the random access index (`mfra`).
//!
//! Everything is written into a `Vec<u8>`: a box is opened with a size placeholder that is
//! patched when the box closes, so nesting needs no size arithmetic.

use bytes::Bytes;

mod entry;

pub use entry::{audio_specific_config, TrackConfig, OPUS_TIMESCALE};

/// Media timescale of video tracks (RTMP milliseconds × 90).
pub const VIDEO_TIMESCALE: u32 = 90_000;

/// `trun` sample flags: a sync sample (depends on no other sample).
pub const FLAGS_SYNC: u32 = 0x0200_0000;
/// `trun` sample flags: depends on others, `sample_is_non_sync_sample`.
pub const FLAGS_NON_SYNC: u32 = 0x0101_0000;

const TRUN_DATA_OFFSET: u32 = 0x0001;
const TRUN_DURATION: u32 = 0x0100;
const TRUN_SIZE: u32 = 0x0200;
const TRUN_FLAGS: u32 = 0x0400;
const TRUN_CTO: u32 = 0x0800;
const TFHD_DEFAULT_BASE_IS_MOOF: u32 = 0x02_0000;

/// Writes a box: size placeholder, type, body from `f`, then the real size.
pub fn boxed(out: &mut Vec<u8>, kind: &[u8; 4], f: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(kind);
    f(out);
    let size = u32::try_from(out.len() - start).unwrap_or(u32::MAX);
    if let Some(slot) = out.get_mut(start..start + 4) {
        slot.copy_from_slice(&size.to_be_bytes());
    }
}

/// A full box: version and 24-bit flags first.
pub fn full(
    out: &mut Vec<u8>,
    kind: &[u8; 4],
    version: u8,
    flags: u32,
    f: impl FnOnce(&mut Vec<u8>),
) {
    boxed(out, kind, |o| {
        o.extend_from_slice(&((u32::from(version) << 24) | (flags & 0xff_ffff)).to_be_bytes());
        f(o);
    });
}

pub fn u16be(o: &mut Vec<u8>, v: u16) {
    o.extend_from_slice(&v.to_be_bytes());
}

pub fn u32be(o: &mut Vec<u8>, v: u32) {
    o.extend_from_slice(&v.to_be_bytes());
}

fn zeros(o: &mut Vec<u8>, n: usize) {
    o.resize(o.len() + n, 0);
}

/// The unity matrix of `mvhd` and `tkhd`.
fn matrix(o: &mut Vec<u8>) {
    for v in [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000u32] {
        u32be(o, v);
    }
}

/// The `ftyp` box: major brand (minor version 0), then the compatible brands.
pub fn ftyp(o: &mut Vec<u8>, major: &[u8; 4], compatible: &[&[u8; 4]]) {
    boxed(o, b"ftyp", |o| {
        o.extend_from_slice(major);
        u32be(o, 0);
        for brand in compatible {
            o.extend_from_slice(*brand);
        }
    });
}

/// The `moov` box of a fragmented file: `mvhd`, one `trak` per `(track id, config)` with
/// empty sample tables, and `mvex` with a `trex` per track.
pub fn moov(o: &mut Vec<u8>, tracks: &[(u32, &TrackConfig)]) {
    let tracks: Vec<(u32, &TrackConfig, Option<Edit>)> =
        tracks.iter().map(|(id, t)| (*id, *t, None)).collect();
    moov_with_edits(o, &tracks);
}

/// Where a track's media goes on the file's presentation timeline (its edit list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edit {
    /// Presentation time before the track's media starts (movie timescale, ms): an empty
    /// edit.
    pub empty_ms: u64,
    /// Media time (track timescale) that is presented first: what comes before it (the
    /// composition delay of B-frames) is skipped.
    pub media_time: u64,
}

/// [`moov`] where a track may have an edit list: `(track id, config, edit)`. The media
/// edit has duration 0, which in a fragmented file lasts to the end of the track's
/// fragments.
pub fn moov_with_edits(o: &mut Vec<u8>, tracks: &[(u32, &TrackConfig, Option<Edit>)]) {
    let next_id = tracks.iter().map(|(id, _, _)| *id).max().unwrap_or(0) + 1;
    boxed(o, b"moov", |o| {
        full(o, b"mvhd", 0, 0, |o| {
            zeros(o, 8); // creation, modification
            u32be(o, 1000);
            u32be(o, 0); // duration: unknown (fragmented)
            u32be(o, 0x0001_0000); // rate 1.0
            u16be(o, 0x0100); // volume 1.0
            zeros(o, 10);
            matrix(o);
            zeros(o, 24); // pre_defined
            u32be(o, next_id);
        });
        for (id, track, edit) in tracks {
            boxed(o, b"trak", |o| trak(o, *id, track, *edit));
        }
        boxed(o, b"mvex", |o| {
            for (id, _, _) in tracks {
                full(o, b"trex", 0, 0, |o| {
                    u32be(o, *id);
                    u32be(o, 1); // sample description index
                    zeros(o, 12); // default duration, size, flags
                });
            }
        });
    });
}

fn trak(o: &mut Vec<u8>, id: u32, track: &TrackConfig, edit: Option<Edit>) {
    let (video, width, height) = match track {
        TrackConfig::Video { width, height, .. } => (true, *width, *height),
        TrackConfig::Audio { .. } => (false, 0, 0),
    };
    // Flags: enabled, in movie.
    full(o, b"tkhd", 0, 3, |o| {
        zeros(o, 8);
        u32be(o, id);
        zeros(o, 4);
        u32be(o, 0); // duration
        zeros(o, 8);
        u16be(o, 0); // layer
        u16be(o, 0); // alternate group
        u16be(o, if video { 0 } else { 0x0100 });
        zeros(o, 2);
        matrix(o);
        u32be(o, u32::from(width) << 16);
        u32be(o, u32::from(height) << 16);
    });
    if let Some(edit) = edit {
        boxed(o, b"edts", |o| {
            full(o, b"elst", 1, 0, |o| {
                let entry = |o: &mut Vec<u8>, duration: u64, media_time: i64| {
                    o.extend_from_slice(&duration.to_be_bytes());
                    o.extend_from_slice(&media_time.to_be_bytes());
                    u16be(o, 1); // media rate 1.0
                    u16be(o, 0);
                };
                u32be(o, if edit.empty_ms > 0 { 2 } else { 1 });
                if edit.empty_ms > 0 {
                    entry(o, edit.empty_ms, -1);
                }
                // Duration 0: to the end of all fragments.
                entry(o, 0, i64::try_from(edit.media_time).unwrap_or(i64::MAX));
            });
        });
    }
    boxed(o, b"mdia", |o| {
        full(o, b"mdhd", 0, 0, |o| {
            zeros(o, 8);
            u32be(o, track.timescale());
            u32be(o, 0);
            u16be(o, 0x55c4); // "und"
            u16be(o, 0);
        });
        full(o, b"hdlr", 0, 0, |o| {
            u32be(o, 0);
            o.extend_from_slice(if video { b"vide" } else { b"soun" });
            zeros(o, 12);
            o.extend_from_slice(if video {
                b"VideoHandler\0".as_slice()
            } else {
                b"SoundHandler\0".as_slice()
            });
        });
        boxed(o, b"minf", |o| {
            if video {
                full(o, b"vmhd", 0, 1, |o| zeros(o, 8));
            } else {
                full(o, b"smhd", 0, 0, |o| zeros(o, 4));
            }
            boxed(o, b"dinf", |o| {
                full(o, b"dref", 0, 0, |o| {
                    u32be(o, 1);
                    // Flags 1: the media is in this file.
                    full(o, b"url ", 0, 1, |_| {});
                });
            });
            boxed(o, b"stbl", |o| {
                full(o, b"stsd", 0, 0, |o| {
                    u32be(o, 1);
                    track.sample_entry(o);
                });
                for kind in [b"stts", b"stsc", b"stco"] {
                    full(o, kind, 0, 0, |o| u32be(o, 0));
                }
                full(o, b"stsz", 0, 0, |o| zeros(o, 8));
            });
        });
    });
}

/// One sample of a media segment. Times are in the track's timescale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub duration: u32,
    pub size: u32,
    pub sync: bool,
    /// Composition time offset (pts - dts), never negative here.
    pub cto: u32,
}

/// One track's run of samples in a fragment.
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    pub track_id: u32,
    /// Decode time of the first sample, in the track's timescale.
    pub base_decode_time: u64,
    pub samples: &'a [Sample],
    /// Writes each sample's composition time offset (video).
    pub cto: bool,
    /// The samples' bytes in order.
    pub data: &'a [Bytes],
}

/// A fragment: `moof` (`mfhd`, then per run a `traf` with `tfhd`, `tfdt`, `trun`) and one
/// `mdat` holding the runs' data in order. `sequence` counts fragments from 1.
pub fn fragment(o: &mut Vec<u8>, sequence: u32, runs: &[Run<'_>]) {
    let moof_start = o.len();
    let mut offsets_at = Vec::with_capacity(runs.len());
    boxed(o, b"moof", |o| {
        full(o, b"mfhd", 0, 0, |o| u32be(o, sequence));
        for run in runs {
            boxed(o, b"traf", |o| {
                full(o, b"tfhd", 0, TFHD_DEFAULT_BASE_IS_MOOF, |o| {
                    u32be(o, run.track_id)
                });
                full(o, b"tfdt", 1, 0, |o| {
                    o.extend_from_slice(&run.base_decode_time.to_be_bytes())
                });
                let mut flags = TRUN_DATA_OFFSET | TRUN_DURATION | TRUN_SIZE | TRUN_FLAGS;
                if run.cto {
                    flags |= TRUN_CTO;
                }
                full(o, b"trun", 0, flags, |o| {
                    u32be(o, run.samples.len() as u32);
                    offsets_at.push(o.len());
                    u32be(o, 0); // data offset, patched below
                    for s in run.samples {
                        u32be(o, s.duration);
                        u32be(o, s.size);
                        u32be(o, if s.sync { FLAGS_SYNC } else { FLAGS_NON_SYNC });
                        if run.cto {
                            u32be(o, s.cto);
                        }
                    }
                });
            });
        }
    });
    // Each run's first sample follows the mdat header and the runs before it; offsets count
    // from the moof's first byte.
    let mut data_offset = o.len() - moof_start + 8;
    for (run, at) in runs.iter().zip(offsets_at) {
        let value = u32::try_from(data_offset).unwrap_or(u32::MAX);
        if let Some(slot) = o.get_mut(at..at + 4) {
            slot.copy_from_slice(&value.to_be_bytes());
        }
        data_offset += run.data.iter().map(Bytes::len).sum::<usize>();
    }
    let payload: usize = runs
        .iter()
        .flat_map(|r| r.data.iter())
        .map(Bytes::len)
        .sum();
    u32be(o, u32::try_from(payload + 8).unwrap_or(u32::MAX));
    o.extend_from_slice(b"mdat");
    for run in runs {
        for d in run.data {
            o.extend_from_slice(d);
        }
    }
}

/// One random access point of a track: a sync sample and the fragment holding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RandomAccess {
    /// Presentation time of the sample, in the track's timescale.
    pub time: u64,
    /// File offset of the fragment's `moof`.
    pub moof_offset: u64,
    /// 1-based numbers of the `traf` in the `moof` and of the sample in its `trun` (each
    /// `traf` here has one `trun`).
    pub traf_number: u8,
    pub sample_number: u32,
}

/// The movie fragment random access box: a `tfra` per `(track id, points)` and the `mfro`
/// that lets a reader find the `mfra` from the end of the file.
pub fn mfra(o: &mut Vec<u8>, tracks: &[(u32, &[RandomAccess])]) {
    let start = o.len();
    boxed(o, b"mfra", |o| {
        for (id, points) in tracks {
            full(o, b"tfra", 1, 0, |o| {
                u32be(o, *id);
                // Field sizes: traf and trun numbers 1 byte, sample number 4 bytes.
                u32be(o, 0b00_00_11);
                u32be(o, u32::try_from(points.len()).unwrap_or(u32::MAX));
                for p in *points {
                    o.extend_from_slice(&p.time.to_be_bytes());
                    o.extend_from_slice(&p.moof_offset.to_be_bytes());
                    o.push(p.traf_number);
                    o.push(1);
                    u32be(o, p.sample_number);
                }
            });
        }
        // The mfro is the last box of the mfra: 16 bytes, its last field the mfra's size.
        let size = o.len() - start + 16;
        full(o, b"mfro", 0, 0, |o| {
            u32be(o, u32::try_from(size).unwrap_or(u32::MAX))
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn each_run_points_at_its_own_data_in_the_one_mdat() {
        let sample = |size| Sample {
            duration: 1,
            size,
            sync: true,
            cto: 0,
        };
        let (video, audio) = ([sample(3), sample(2)], [sample(4)]);
        let (vdata, adata) = (
            [Bytes::from_static(b"abc"), Bytes::from_static(b"de")],
            [Bytes::from_static(b"wxyz")],
        );
        let mut o = b"junk".to_vec();
        fragment(
            &mut o,
            1,
            &[
                Run {
                    track_id: 1,
                    base_decode_time: 0,
                    samples: &video,
                    cto: true,
                    data: &vdata,
                },
                Run {
                    track_id: 2,
                    base_decode_time: 0,
                    samples: &audio,
                    cto: false,
                    data: &adata,
                },
            ],
        );
        let moof = 4;
        let truns: Vec<usize> = o
            .windows(4)
            .enumerate()
            .filter(|(_, w)| *w == b"trun")
            .map(|(i, _)| i)
            .collect();
        assert_eq!(truns.len(), 2);
        let offset = |t: usize| moof + u32_at(&o, t + 12) as usize;
        assert_eq!(&o[offset(truns[0])..offset(truns[0]) + 5], b"abcde");
        assert_eq!(&o[offset(truns[1])..offset(truns[1]) + 4], b"wxyz");
        assert!(o.ends_with(b"mdatabcdewxyz"));
    }

    #[test]
    fn the_mfro_gives_the_mfra_size() {
        let points = [RandomAccess {
            time: 6000,
            moof_offset: 1234,
            traf_number: 1,
            sample_number: 1,
        }];
        let mut o = Vec::new();
        mfra(&mut o, &[(1, &points[..]), (2, &[][..])]);
        assert_eq!(u32_at(&o, 0) as usize, o.len());
        assert_eq!(u32_at(&o, o.len() - 4) as usize, o.len());
        assert_eq!(&o[o.len() - 12..o.len() - 8], b"mfro");
        // tfra v1: version/flags, track id, sizes, count, then time, offset, 1+1+4 bytes.
        assert_eq!(&o[12..16], b"tfra");
        assert_eq!(u32_at(&o, 28), 1);
        assert_eq!(&o[32..40], &6000u64.to_be_bytes());
        assert_eq!(&o[40..48], &1234u64.to_be_bytes());
    }
}
