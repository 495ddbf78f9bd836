//! The MPEG-TS muxer, checked by parsing its output with `mpeg2ts`.

mod support;

use std::collections::HashMap;

use ngx_rtmp::hls::ts::{MAX_PCR_GAP_90K, TS_DELAY_90K};
use ngx_rtmp::hls::{HlsError, Tracks, TsMuxer, AUDIO_PID, PMT_PID, VIDEO_PID};
use ngx_rtmp::media::{Demuxer, Track};
use support::media::*;
use support::ts::*;

const BOTH: Tracks = Tracks {
    video: true,
    audio: true,
};

/// Everything the muxer produced so far, in order.
fn take_all(m: &mut TsMuxer) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(b) = m.take_output(true) {
        out.extend_from_slice(&b);
    }
    assert_eq!(m.output_len(), 0);
    out
}

/// Muxes `frames` into segments cut at the given dts values; returns the
/// bytes of each segment.
fn mux(
    d: &Demuxer,
    tracks: Tracks,
    frames: &[ngx_rtmp::media::Frame],
    cuts: &[u64],
) -> Vec<Vec<u8>> {
    let vcfg = d.video_config();
    let adts = d.audio_config().map(|a| a.adts().unwrap());
    let mut m = TsMuxer::new();
    let mut segs = Vec::new();
    m.start_segment(tracks, false).unwrap();
    let mut cuts = cuts.iter().peekable();
    for f in frames {
        if cuts.peek().is_some_and(|&&c| f.dts >= c) {
            cuts.next();
            m.flush_audio().unwrap();
            segs.push(take_all(&mut m));
            m.start_segment(tracks, false).unwrap();
        }
        match f.track {
            Track::Video => m
                .write_video(f.dts, f.pts, f.keyframe, &f.data, vcfg.unwrap())
                .unwrap(),
            Track::Audio => m
                .write_audio(f.pts, &f.data, adts.as_ref().unwrap())
                .unwrap(),
        }
    }
    m.flush_audio().unwrap();
    segs.push(take_all(&mut m));
    segs
}

#[test]
fn pat_pmt_first_in_every_segment_and_only_existing_tracks() {
    for (tracks, video, audio) in [
        (BOTH, true, true),
        (
            Tracks {
                video: true,
                audio: false,
            },
            true,
            false,
        ),
        (
            Tracks {
                video: false,
                audio: true,
            },
            false,
            true,
        ),
    ] {
        let d = demuxer(video, audio);
        let frames = av_frames(0, 6000, 30, 2000, video, audio);
        let segs = mux(&d, tracks, &frames, &[2000, 4000]);
        assert_eq!(segs.len(), 3);
        for seg in &segs {
            let info = parse_ts(seg);
            assert_eq!(info.packets[0].header.pid.as_u16(), 0, "PAT first");
            assert_eq!(info.packets[1].header.pid.as_u16(), PMT_PID, "PMT second");
            let mut expect = Vec::new();
            if video {
                expect.push(VIDEO_PID);
            }
            if audio {
                expect.push(AUDIO_PID);
            }
            assert_eq!(info.pmt_pids, expect);
            assert_eq!(
                info.pcr_pid,
                Some(if video { VIDEO_PID } else { AUDIO_PID })
            );
            // No packet on a PID the PMT does not list.
            for p in &info.packets {
                let pid = p.header.pid.as_u16();
                assert!(
                    pid == 0 || pid == PMT_PID || expect.contains(&pid),
                    "stray PID {pid:#x}"
                );
            }
        }
    }
}

#[test]
fn continuity_counters_continue_across_segments() {
    let d = demuxer(true, true);
    let frames = av_frames(0, 9000, 30, 2000, true, true);
    let segs = mux(&d, BOTH, &frames, &[2000, 4000, 6000, 8000]);
    let all: Vec<u8> = segs.concat();
    let info = parse_ts(&all);
    let mut last: HashMap<u16, u8> = HashMap::new();
    for p in &info.packets {
        let pid = p.header.pid.as_u16();
        let cc = p.header.continuity_counter.as_u8();
        let has_payload = p.payload.is_some();
        if let Some(&prev) = last.get(&pid) {
            let expect = if has_payload { (prev + 1) & 15 } else { prev };
            assert_eq!(cc, expect, "CC break on PID {pid:#x}");
        }
        last.insert(pid, cc);
    }
    // And the second segment does not restart at 0 for video.
    let s2 = parse_ts(&segs[1]);
    let first_video = s2
        .packets
        .iter()
        .find(|p| p.header.pid.as_u16() == VIDEO_PID)
        .unwrap();
    assert_ne!(first_video.header.continuity_counter.as_u8(), 0);
}

fn check_pcr(info: &TsInfo, pcr_pid: u16) {
    assert!(!info.pcrs.is_empty());
    for (pid, _) in &info.pcrs {
        assert_eq!(*pid, pcr_pid, "PCR on the PCR PID only");
    }
    for w in info.pcrs.windows(2) {
        let (a, b) = (w[0].1, w[1].1);
        assert!(b >= a, "PCR went backwards");
        assert!(b - a <= 9000, "PCR gap {} ms", (b - a) / 90);
    }
    // PCR never exceeds the DTS of what follows it.
    for pes in &info.pes {
        let dts = pes.dts.or(pes.pts).unwrap();
        if let Some(pcr) = pes.pcr {
            assert!(pcr <= dts, "PCR after DTS");
        }
    }
}

#[test]
fn pcr_interval_at_most_100ms_even_for_sparse_video() {
    // 5 fps video: 200 ms between frames; PCR-only packets fill in.
    let d = demuxer(true, true);
    let frames = av_frames(0, 4000, 5, 2000, true, true);
    let segs = mux(&d, BOTH, &frames, &[]);
    let info = parse_ts(&segs[0]);
    check_pcr(&info, VIDEO_PID);
    const { assert!(MAX_PCR_GAP_90K <= 9000) };

    // Audio-only: PCR on the audio PID.
    let d = demuxer(false, true);
    let frames = av_frames(0, 4000, 30, 2000, false, true);
    let segs = mux(
        &d,
        Tracks {
            video: false,
            audio: true,
        },
        &frames,
        &[],
    );
    let info = parse_ts(&segs[0]);
    check_pcr(&info, AUDIO_PID);

    // Video-only at 30 fps.
    let d = demuxer(true, false);
    let frames = av_frames(0, 4000, 30, 2000, true, false);
    let segs = mux(
        &d,
        Tracks {
            video: true,
            audio: false,
        },
        &frames,
        &[],
    );
    check_pcr(&parse_ts(&segs[0]), VIDEO_PID);
}

#[test]
fn pts_dts_values_and_annexb() {
    let d = demuxer(true, true);
    let frames = av_frames(1000, 3000, 30, 2000, true, false);
    let segs = mux(
        &d,
        Tracks {
            video: true,
            audio: false,
        },
        &frames,
        &[],
    );
    let info = parse_ts(&segs[0]);
    let video: Vec<_> = info.pes.iter().filter(|p| p.pid == VIDEO_PID).collect();
    assert_eq!(video.len(), frames.len());
    let cfg = d.video_config().unwrap();
    for (pes, f) in video.iter().zip(&frames) {
        assert_eq!(pes.pts, Some(f.pts * 90 + TS_DELAY_90K));
        assert_eq!(pes.dts, Some(f.dts * 90 + TS_DELAY_90K));
        let types = annexb_nal_types(&pes.data);
        assert_eq!(types[0], 9, "AUD first");
        assert_eq!(&pes.data[..6], &[0, 0, 0, 1, 9, 0xf0]);
        if f.keyframe {
            assert!(pes.random_access);
            assert_eq!(&types[..5], &[9, 7, 8, 6, 5], "AUD SPS PPS SEI IDR");
            // The SPS bytes are the configured ones.
            let sps = &cfg.sps[0];
            assert!(pes.data.windows(sps.len()).any(|w| w == &sps[..]));
        } else {
            assert!(!pes.random_access);
            assert_eq!(types, [9, 1]);
        }
        // Payload after the start code is the NAL unit verbatim.
        let nal = &f.data[if f.keyframe { 9 + 4 } else { 4 }..];
        assert!(pes.data.ends_with(nal));
    }
}

#[test]
fn adts_headers_and_every_audio_frame_once() {
    let d = demuxer(false, true);
    let frames = av_frames(0, 5000, 30, 2000, false, true);
    let segs = mux(
        &d,
        Tracks {
            video: false,
            audio: true,
        },
        &frames,
        &[2500],
    );
    let mut got = Vec::new();
    for seg in &segs {
        let info = parse_ts(seg);
        for pes in info.pes.iter().filter(|p| p.pid == AUDIO_PID) {
            assert!(pes.dts.is_none());
            let first_pts = pes.pts.unwrap();
            let inner = adts_frames(&pes.data);
            let h = &pes.data[..7];
            // LC (profile 1), 44.1 kHz (index 4), mono.
            assert_eq!(h[2] >> 6, 1);
            assert_eq!((h[2] >> 2) & 15, 4);
            assert_eq!(((h[2] & 1) << 2) | (h[3] >> 6), 1);
            let idx = got.len();
            assert_eq!(first_pts, frames[idx].pts * 90 + TS_DELAY_90K);
            got.extend(inner);
        }
    }
    assert_eq!(got.len(), frames.len());
    for (g, f) in got.iter().zip(&frames) {
        assert_eq!(&g[..], &f.data[..]);
    }
}

#[test]
fn timestamps_wrap_at_33_bits() {
    let d = demuxer(true, false);
    // 2^33 / 90 ms is about 26.5 hours.
    let wrap_ms = (1u64 << 33) / 90;
    let frames = av_frames(wrap_ms - 1000, 2000, 30, 1000, true, false);
    let segs = mux(
        &d,
        Tracks {
            video: true,
            audio: false,
        },
        &frames,
        &[],
    );
    let info = parse_ts(&segs[0]);
    let mut wrapped = false;
    for (pes, f) in info.pes.iter().zip(&frames) {
        let pts = pes.pts.unwrap();
        assert!(pts < 1 << 33);
        assert_eq!(pts, (f.pts * 90 + TS_DELAY_90K) % (1 << 33));
        wrapped |= pts < 90_000;
    }
    assert!(wrapped);
    for (_, pcr) in &info.pcrs {
        assert!(*pcr < 1 << 33);
    }
}

#[test]
fn malformed_avcc_is_an_error_and_the_muxer_survives() {
    let d = demuxer(true, false);
    let cfg = d.video_config().unwrap();
    let mut m = TsMuxer::new();
    m.start_segment(
        Tracks {
            video: true,
            audio: false,
        },
        false,
    )
    .unwrap();
    let before = m.output_len();
    for bad in [
        &[0u8, 0, 0, 9, 0x65][..],
        &[0, 0][..],
        &[0xff, 0xff, 0xff, 0xff, 1, 2, 3][..],
    ] {
        let e = m.write_video(0, 0, true, bad, cfg).unwrap_err();
        assert!(matches!(e, HlsError::Malformed(_)), "{e}");
    }
    assert_eq!(m.output_len(), before, "nothing written for bad frames");
    let good = avcc_frame(true, 500, 1);
    m.write_video(0, 0, true, &good, cfg).unwrap();
    let info = parse_ts(&take_all(&mut m));
    assert_eq!(info.pes.len(), 1);
}

#[test]
fn large_frames_span_many_packets() {
    let d = demuxer(true, false);
    let cfg = d.video_config().unwrap();
    let mut m = TsMuxer::new();
    m.start_segment(
        Tracks {
            video: true,
            audio: false,
        },
        false,
    )
    .unwrap();
    for (i, size) in [1usize, 150, 151, 152, 170, 183, 184, 185, 70_000, 200_000]
        .into_iter()
        .enumerate()
    {
        let f = avcc_frame(i == 0, size, i as u8);
        m.write_video(i as u64 * 40, i as u64 * 40, i == 0, &f, cfg)
            .unwrap();
    }
    // 270 KB of frames: full blocks wait to be taken, a stream keeps one block.
    assert!(m.output_len() > 270_000);
    let mut ts = Vec::new();
    while let Some(b) = m.take_output(false) {
        assert_eq!(b.len() % 188, 0);
        assert!(b.len() <= ngx_rtmp::hls::OUTPUT_BLOCK);
        ts.extend_from_slice(&b);
    }
    assert!(ts.len() >= 8 * 30_000, "{} bytes in full blocks", ts.len());
    assert!(m.output_len() > 0 && m.output_len() <= ngx_rtmp::hls::OUTPUT_BLOCK);
    ts.extend_from_slice(&take_all(&mut m));
    let info = parse_ts(&ts);
    assert_eq!(info.pes.len(), 10);
}
