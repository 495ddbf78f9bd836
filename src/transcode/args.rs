//! The ffmpeg command line of one rendition (ffmpeg 5.1), as an argument vector (no shell).
//!
//! FLV in on stdin, FLV out on stdout, messages on stderr. Why each option:
//! - `-copyts`: output timestamps are the input's (the feed already made them start at
//!   [`TimeBase::PAD_MS`](super::TimeBase::PAD_MS), so nothing is negative and nothing shifts).
//! - `-enc_time_base:v 1:1000`: without it the encoder's time base is 1/frame rate, and every
//!   timestamp is rounded to it (a keyframe at 100523 ms came out at 100533 ms at 30 fps).
//! - `-fps_mode passthrough`: no frame is duplicated or dropped to make a constant rate.
//! - `-force_key_frames source -forced-idr 1 -sc_threshold 0 -g/-keyint_min huge`: an IDR
//!   exactly where the source has a keyframe, and nowhere else, so the rendition can be cut at
//!   the source's cut points.
//! - `-tune zerolatency`: no B-frames and no lookahead, so frames come out as they go in.
//! - `fps=N` is a `select` filter, not ffmpeg's fps filter (which snaps frames to its own
//!   grid and drops the keyframe flags that `-force_key_frames source` reads).
//! - `-flush_packets 1`, `-flvflags no_duration_filesize`: every packet is written at once,
//!   and the muxer does not try to seek back in a pipe at the end.

use super::ladder::Planned;
use super::rendition::AudioCoding;

/// Frame rate assumed for the default bit rate when the rendition sets none.
const DEFAULT_FPS: u64 = 30;
/// Default video bit rate: 0.1 bit per pixel per frame.
const DEFAULT_BITS_PER_PIXEL_TENTHS: u64 = 1;
/// Larger than any GOP: keyframes come only from the source's.
const NO_AUTOMATIC_KEYFRAMES: &str = "1000000";

/// The video bit rate of a planned rendition, bits per second.
pub fn video_bitrate(p: &Planned) -> u32 {
    p.rendition.video_bitrate.unwrap_or_else(|| {
        let fps = p.rendition.fps.map_or(DEFAULT_FPS, u64::from);
        let bits =
            u64::from(p.width) * u64::from(p.height) * fps * DEFAULT_BITS_PER_PIXEL_TENTHS / 10;
        u32::try_from(bits.clamp(16_000, 100_000_000)).unwrap_or(100_000_000)
    })
}

/// ffmpeg's arguments (the program name excluded) for one rendition.
pub fn ffmpeg_args(p: &Planned) -> Vec<String> {
    let bitrate = video_bitrate(p);
    let mut filter = format!("scale={}:{}", p.width, p.height);
    if let Some(fps) = p.rendition.fps {
        // Not the fps filter: it moves frames onto its own grid and loses the keyframe flags
        // `-force_key_frames source` needs. This keeps every keyframe, and otherwise the first
        // frame of each 1/fps slot, at its own time.
        filter.push_str(&format!(
            ",select=eq(key\\,1)+isnan(prev_selected_t)+gt(floor(t*{fps})\\,floor(prev_selected_t*{fps}))"
        ));
    }
    let mut a: Vec<String> = [
        "-hide_banner",
        "-nostdin",
        "-nostats",
        "-loglevel",
        "warning",
        "-f",
        "flv",
        "-i",
        "pipe:0",
        "-copyts",
        "-map",
        "0:v:0",
        "-map",
        "0:a:0?",
        "-c:v",
        "libx264",
        "-preset",
        p.rendition.preset,
        "-tune",
        "zerolatency",
        "-pix_fmt",
        "yuv420p",
        "-vf",
        &filter,
        "-fps_mode",
        "passthrough",
        "-enc_time_base:v",
        "1:1000",
        "-force_key_frames",
        "source",
        "-forced-idr",
        "1",
        "-sc_threshold",
        "0",
        "-g",
        NO_AUTOMATIC_KEYFRAMES,
        "-keyint_min",
        NO_AUTOMATIC_KEYFRAMES,
        "-b:v",
        &bitrate.to_string(),
        "-maxrate",
        &bitrate.to_string(),
        "-bufsize",
        &bitrate.saturating_mul(2).to_string(),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    match p.rendition.audio {
        AudioCoding::Aac { bitrate } => {
            a.extend(["-c:a", "aac", "-b:a"].map(String::from));
            a.push(bitrate.to_string());
        }
        AudioCoding::Copy => a.extend(["-c:a", "copy"].map(String::from)),
    }
    a.extend(
        [
            "-max_muxing_queue_size",
            "4096",
            "-flush_packets",
            "1",
            "-flvflags",
            "no_duration_filesize",
            "-f",
            "flv",
            "pipe:1",
        ]
        .map(String::from),
    );
    a
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::super::ladder::plan;
    use super::super::rendition::Rendition;
    use super::*;

    fn value_of<'a>(a: &'a [String], opt: &str) -> &'a str {
        let i = a.iter().position(|x| x == opt).unwrap();
        &a[i + 1]
    }

    #[test]
    fn a_360p_rendition() {
        let r =
            Rendition::parse(&["360p", "height=360", "bitrate=700k", "audio_bitrate=96k"]).unwrap();
        let p = &plan(&[r], 1280, 720)[0];
        let a = ffmpeg_args(p);
        assert_eq!(value_of(&a, "-vf"), "scale=640:360");
        assert_eq!(value_of(&a, "-b:v"), "700000");
        assert_eq!(value_of(&a, "-maxrate"), "700000");
        assert_eq!(value_of(&a, "-bufsize"), "1400000");
        assert_eq!(value_of(&a, "-b:a"), "96000");
        assert_eq!(value_of(&a, "-force_key_frames"), "source");
        assert_eq!(value_of(&a, "-i"), "pipe:0");
        assert_eq!(a.last().map(String::as_str), Some("pipe:1"));
        assert!(a.iter().any(|x| x == "-copyts"));
        // No argument carries a space: nothing is meant for a shell.
        assert!(a.iter().all(|x| !x.contains(' ')));
    }

    #[test]
    fn defaults_and_options() {
        let r = Rendition::parse(&["small", "height=240", "fps=15", "audio_bitrate=copy"]).unwrap();
        let p = &plan(&[r], 1920, 1080)[0];
        let a = ffmpeg_args(p);
        assert_eq!(
            value_of(&a, "-vf"),
            "scale=426:240,select=eq(key\\,1)+isnan(prev_selected_t)+gt(floor(t*15)\\,floor(prev_selected_t*15))"
        );
        assert_eq!(value_of(&a, "-c:a"), "copy");
        // 426 * 240 * 15 / 10
        assert_eq!(video_bitrate(p), 153_360);
        assert_eq!(value_of(&a, "-preset"), "veryfast");
    }
}
