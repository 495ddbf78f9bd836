//! One `hls_rendition` line: its name and encoding parameters.

use std::fmt;

/// x264's presets, fastest first.
pub const PRESETS: [&str; 10] = [
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
];

/// How a rendition's audio is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioCoding {
    /// Encoded to AAC at this many bits per second.
    Aac { bitrate: u32 },
    /// The source's audio, as it is.
    Copy,
}

/// A rendition as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendition {
    /// `[A-Za-z0-9_-]{1,32}`: part of stream names and file names.
    pub name: String,
    /// Output height in pixels (16..=4320), made even.
    pub height: Option<u32>,
    /// Output width in pixels (16..=7680), made even.
    pub width: Option<u32>,
    /// Video bits per second; `None`: derived from the output size.
    pub video_bitrate: Option<u32>,
    pub audio: AudioCoding,
    /// Output frame rate; `None`: the source's.
    pub fps: Option<u32>,
    /// One of [`PRESETS`].
    pub preset: &'static str,
}

/// Default AAC bit rate of a rendition.
pub const DEFAULT_AUDIO_BITRATE: u32 = 128_000;
/// Default x264 preset: fast enough for several renditions per core.
pub const DEFAULT_PRESET: &str = "veryfast";

/// Why an `hls_rendition` line is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenditionError {
    Name(String),
    /// `key=value` expected.
    Syntax(String),
    UnknownParameter(String),
    DuplicateParameter(String),
    Value {
        param: &'static str,
        value: String,
        expected: &'static str,
    },
    /// Neither height nor width.
    NoSize,
}

impl fmt::Display for RenditionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RenditionError::Name(n) => write!(
                f,
                "invalid rendition name \"{n}\" (1 to 32 letters, digits, '_' or '-')"
            ),
            RenditionError::Syntax(a) => write!(f, "\"{a}\" is not PARAMETER=VALUE"),
            RenditionError::UnknownParameter(p) => write!(
                f,
                "unknown parameter \"{p}\" (height, width, bitrate, audio_bitrate, fps, preset)"
            ),
            RenditionError::DuplicateParameter(p) => write!(f, "parameter \"{p}\" is duplicate"),
            RenditionError::Value {
                param,
                value,
                expected,
            } => write!(f, "invalid {param} \"{value}\": expected {expected}"),
            RenditionError::NoSize => f.write_str("a rendition needs height= or width="),
        }
    }
}

impl std::error::Error for RenditionError {}

fn valid_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
}

/// `N`, `Nk` or `Nm` (decimal; k = 1000) bits per second.
fn parse_bitrate(v: &str) -> Option<u64> {
    let (digits, mult) = match v.as_bytes().last()? {
        b'k' | b'K' => (v.get(..v.len() - 1)?, 1_000),
        b'm' | b'M' => (v.get(..v.len() - 1)?, 1_000_000),
        _ => (v, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 9 {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(mult)
}

fn parse_int(v: &str) -> Option<u64> {
    if v.is_empty() || v.len() > 9 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

fn ranged(
    param: &'static str,
    value: &str,
    parsed: Option<u64>,
    min: u64,
    max: u64,
    expected: &'static str,
) -> Result<u32, RenditionError> {
    match parsed {
        // `max` fits in u32.
        Some(n) if (min..=max).contains(&n) => Ok(n as u32),
        _ => Err(RenditionError::Value {
            param,
            value: value.to_owned(),
            expected,
        }),
    }
}

impl Rendition {
    /// Parses `NAME [height=N] [width=N] [bitrate=N[k|m]] [audio_bitrate=N[k]|copy] [fps=N]
    /// [preset=P]`.
    pub fn parse(args: &[&str]) -> Result<Rendition, RenditionError> {
        let Some((name, params)) = args.split_first() else {
            return Err(RenditionError::Name(String::new()));
        };
        if !valid_name(name) {
            return Err(RenditionError::Name((*name).to_owned()));
        }
        let mut r = Rendition {
            name: (*name).to_owned(),
            height: None,
            width: None,
            video_bitrate: None,
            audio: AudioCoding::Aac {
                bitrate: DEFAULT_AUDIO_BITRATE,
            },
            fps: None,
            preset: DEFAULT_PRESET,
        };
        let mut seen: Vec<&str> = Vec::new();
        for p in params {
            let (key, value) = p
                .split_once('=')
                .ok_or_else(|| RenditionError::Syntax((*p).to_owned()))?;
            if seen.contains(&key) {
                return Err(RenditionError::DuplicateParameter(key.to_owned()));
            }
            match key {
                "height" => {
                    let v = ranged("height", value, parse_int(value), 16, 4320, "16..4320")?;
                    r.height = Some(v);
                }
                "width" => {
                    let v = ranged("width", value, parse_int(value), 16, 7680, "16..7680")?;
                    r.width = Some(v);
                }
                "bitrate" => {
                    let v = ranged(
                        "bitrate",
                        value,
                        parse_bitrate(value),
                        16_000,
                        100_000_000,
                        "16k..100m",
                    )?;
                    r.video_bitrate = Some(v);
                }
                "audio_bitrate" => {
                    r.audio = if value == "copy" {
                        AudioCoding::Copy
                    } else {
                        let bitrate = ranged(
                            "audio_bitrate",
                            value,
                            parse_bitrate(value),
                            8_000,
                            512_000,
                            "8k..512k or copy",
                        )?;
                        AudioCoding::Aac { bitrate }
                    };
                }
                "fps" => {
                    let v = ranged("fps", value, parse_int(value), 1, 240, "1..240")?;
                    r.fps = Some(v);
                }
                "preset" => {
                    r.preset = PRESETS
                        .iter()
                        .find(|p| **p == value)
                        .copied()
                        .ok_or_else(|| RenditionError::Value {
                            param: "preset",
                            value: value.to_owned(),
                            expected: "an x264 preset (ultrafast .. placebo)",
                        })?;
                }
                _ => return Err(RenditionError::UnknownParameter(key.to_owned())),
            }
            seen.push(key);
        }
        if r.height.is_none() && r.width.is_none() {
            return Err(RenditionError::NoSize);
        }
        Ok(r)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_line() {
        let r = Rendition::parse(&[
            "480p",
            "height=480",
            "bitrate=1200k",
            "audio_bitrate=96k",
            "fps=25",
            "preset=faster",
        ])
        .unwrap();
        assert_eq!(r.name, "480p");
        assert_eq!(r.height, Some(480));
        assert_eq!(r.width, None);
        assert_eq!(r.video_bitrate, Some(1_200_000));
        assert_eq!(r.audio, AudioCoding::Aac { bitrate: 96_000 });
        assert_eq!(r.fps, Some(25));
        assert_eq!(r.preset, "faster");
        let r = Rendition::parse(&["w", "width=640", "bitrate=2m", "audio_bitrate=copy"]).unwrap();
        assert_eq!(r.video_bitrate, Some(2_000_000));
        assert_eq!(r.audio, AudioCoding::Copy);
        assert_eq!(r.preset, DEFAULT_PRESET);
    }

    #[test]
    fn refuses_bad_lines() {
        let bad: &[&[&str]] = &[
            &[],
            &["bad name", "height=360"],
            &["x".repeat(33).leak(), "height=360"],
            &["a/b", "height=360"],
            &["360p"],
            &["360p", "bitrate=700k"],
            &["360p", "height=360", "height=240"],
            &["360p", "height=8"],
            &["360p", "height=5000"],
            &["360p", "height=-1"],
            &["360p", "height=360", "bitrate=8k"],
            &["360p", "height=360", "bitrate=101m"],
            &["360p", "height=360", "bitrate=1g"],
            &["360p", "height=360", "bitrate=k"],
            &["360p", "height=360", "crf=23"],
            &["360p", "height"],
            &["360p", "height=360", "preset=warp"],
            &["360p", "height=360", "fps=0"],
        ];
        for args in bad {
            assert!(Rendition::parse(args).is_err(), "accepted {args:?}");
        }
        assert_eq!(
            Rendition::parse(&["a", "height=360", "gop=2"]),
            Err(RenditionError::UnknownParameter("gop".into()))
        );
    }
}
