//! Media for the core's tests: sequence headers from a real x264/AAC encode, synthetic
//! frames, and what tests read back out of elementary streams (Annex-B NAL unit types, ADTS
//! frames).

use bytes::Bytes;
use ngx_rtmp::files::Now;
use ngx_rtmp::media::{Demuxer, Frame};

/// FLV video tag body of x264's sequence header (High, 320x240).
pub const X264_HIGH_SEQ: &str = "17000000000164000dffe100196764000dacd94141fb0110000003001000000303c0f142996001000668ebe3cb22c0fdf8f800";
/// Baseline, 320x240.
pub const X264_BASELINE_SEQ: &str =
    "17000000000142c00dffe100186742c00dd90141fb0110000003001000000303c0f142a48001000568cb83cb20";
/// High 4:4:4 Predictive, 318x238 (cropping with chroma_format_idc 3).
pub const X264_HIGH444_SEQ: &str = "170000000001f4000dffe1001a67f4000d919b28283fdde022000003000200000300781e28532c01000668ebe3c44844fff8f800";
/// FLV audio tag body of FFmpeg's AAC sequence header (LC, 44.1 kHz, mono).
pub const AAC_SEQ: &str = "af00120856e500";

pub fn hex(s: &str) -> Bytes {
    let v: Vec<u8> = (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    Bytes::from(v)
}

/// A demuxer primed with real H.264 and AAC sequence headers.
pub fn demuxer(video: bool, audio: bool) -> Demuxer {
    let mut d = Demuxer::new();
    if video {
        assert!(d.push_video(0, hex(X264_HIGH_SEQ)).unwrap().is_empty());
    }
    if audio {
        assert!(d.push_audio(0, hex(AAC_SEQ)).unwrap().is_empty());
    }
    d
}

/// AVCC access unit: one slice NAL (IDR when key) of `size` bytes, plus an
/// SEI on keyframes, 4-byte lengths.
pub fn avcc_frame(key: bool, size: usize, tag: u8) -> Bytes {
    let mut v = Vec::new();
    if key {
        let sei = [0x06u8, 0x05, 0x01, 0xaa, 0x80];
        v.extend_from_slice(&(sei.len() as u32).to_be_bytes());
        v.extend_from_slice(&sei);
    }
    let mut nal = vec![if key { 0x65 } else { 0x41 }, 0x88, tag];
    nal.resize(size.max(3), tag);
    v.extend_from_slice(&(nal.len() as u32).to_be_bytes());
    v.extend_from_slice(&nal);
    Bytes::from(v)
}

pub fn video_frame(dts: u64, cts: u64, key: bool) -> Frame {
    Frame {
        track: ngx_rtmp::media::Track::Video,
        track_id: 0,
        dts,
        pts: dts + cts,
        keyframe: key,
        data: avcc_frame(key, 300 + (dts % 700) as usize, (dts % 251) as u8),
    }
}

pub fn audio_frame(ts: u64) -> Frame {
    let mut v = vec![0x21u8, 0x10, 0x04, (ts % 256) as u8];
    v.resize(100 + (ts % 150) as usize, 0x5a);
    Frame {
        track: ngx_rtmp::media::Track::Audio,
        track_id: 0,
        dts: ts,
        pts: ts,
        keyframe: true,
        data: Bytes::from(v),
    }
}

/// Video in an open GOP's decode order (x265's default), 30 fps, a keyframe every `gop`
/// frames from the second GOP on with two leading pictures: they are presented before it and
/// decoded after it, so its decode time comes two frames early.
pub fn open_gop_video(frames: u64, gop: u64) -> Vec<Frame> {
    let ms = |i: u64| i * 1000 / 30;
    (0..frames)
        .map(|i| {
            let cra = i > 0 && (i + 2) % gop == 0;
            let leading = i > 2 && (i + 1) % gop <= 1;
            let presented = if cra {
                i + 2
            } else if leading {
                i - 1
            } else {
                i
            };
            // 67 ms of reordering delay, as B-frames give.
            let cts = ms(presented) + 67 - ms(i);
            video_frame(ms(i), cts, i == 0 || cra)
        })
        .collect()
}

/// Interleaved synthetic A/V: video at `fps` with a keyframe every
/// `gop_ms`, AAC at 44.1 kHz (1024 samples), from `start` for `dur` ms.
pub fn av_frames(
    start: u64,
    dur: u64,
    fps: u64,
    gop_ms: u64,
    video: bool,
    audio: bool,
) -> Vec<Frame> {
    let mut frames = Vec::new();
    if video {
        let n = dur * fps / 1000;
        for i in 0..n {
            let t = i * 1000 / fps;
            let gop_frames = (gop_ms * fps / 1000).max(1);
            frames.push(video_frame(start + t, 67, i % gop_frames == 0));
        }
    }
    if audio {
        let mut k = 0u64;
        loop {
            let t = k * 1024 * 1000 / 44100;
            if t >= dur {
                break;
            }
            frames.push(audio_frame(start + t));
            k += 1;
        }
    }
    frames.sort_by_key(|f| (f.dts, f.track == ngx_rtmp::media::Track::Video));
    frames
}

pub fn now(ms: u64) -> Now {
    Now {
        monotonic_ms: ms,
        unix_ms: 1_700_000_000_000 + ms,
    }
}

/// NAL unit types of an Annex-B buffer, split on 00 00 00 01 / 00 00 01.
pub fn annexb_nal_types(data: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            if let Some(b) = data.get(i + 3) {
                types.push(b & 0x1f);
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    types
}

/// The raw AAC frames (headers stripped) of a run of ADTS frames, or why it is not a clean
/// one: a truncated header, a sync word or layer that is not ADTS, a length below the header's
/// or past the end.
pub fn try_adts_frames(data: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() {
        let h = data.get(i..i + 7).ok_or("truncated ADTS header")?;
        if h[0] != 0xff || h[1] & 0xf0 != 0xf0 {
            return Err(format!("no ADTS sync at byte {i}"));
        }
        if h[1] & 0x06 != 0 {
            return Err(format!("ADTS layer not 0 at byte {i}"));
        }
        let len =
            (usize::from(h[3] & 3) << 11) | (usize::from(h[4]) << 3) | (usize::from(h[5]) >> 5);
        if len < 7 {
            return Err("ADTS frame length < 7".into());
        }
        if i + len > data.len() {
            return Err("ADTS frames overrun the PES".into());
        }
        out.push(&data[i + 7..i + len]);
        i += len;
    }
    Ok(out)
}

/// Splits an audio PES payload into ADTS frames (raw AAC); panics unless every header is valid.
pub fn adts_frames(data: &[u8]) -> Vec<Vec<u8>> {
    try_adts_frames(data)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect()
}
