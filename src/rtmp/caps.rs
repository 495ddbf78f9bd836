//! The Enhanced RTMP side of `connect`: what the client says it takes (`fourCcList`,
//! `videoFourCcInfoMap` / `audioFourCcInfoMap`, `capsEx` in the command object) and what we
//! answer in the `_result` properties so that encoders enable the codecs we serve.
//!
//! What we announce: video `avc1`, `hvc1`, `av01`, `vp09` and audio `mp4a`, `Opus`, each as
//! CanForward (we pass them to players and package them for HLS/DASH; we never decode or
//! encode). `fLaC`, `ac-3`, `ec-3` and `.mp3` still reach players as published, but no
//! segmenter takes them, so we do not invite an encoder to choose them. `capsEx` says
//! Multitrack and ModEx (both parsed and served).

use crate::amf0::Value;
use crate::media::{CodecMask, FourCc};

/// FourCcInfoMask: the client can decode the codec.
pub const CAN_DECODE: f64 = 1.0;
/// FourCcInfoMask: the client can forward the codec unchanged.
pub const CAN_FORWARD: f64 = 4.0;

/// CapsExMask bits.
pub mod caps_ex {
    pub const RECONNECT: u8 = 0x01;
    pub const MULTITRACK: u8 = 0x02;
    pub const MOD_EX: u8 = 0x04;
    pub const TIMESTAMP_NANO_OFFSET: u8 = 0x08;
}

/// Video codecs we announce.
pub const SERVER_VIDEO: [&str; 4] = ["avc1", "hvc1", "av01", "vp09"];
/// Audio codecs we announce.
pub const SERVER_AUDIO: [&str; 2] = ["mp4a", "Opus"];
/// What our `capsEx` says.
pub const SERVER_CAPS_EX: u8 = caps_ex::MULTITRACK | caps_ex::MOD_EX;

/// Most `fourCcList` entries (and info map properties) looked at: a real client names a
/// dozen codecs; the rest of a longer list is ignored.
pub const MAX_FOURCC_ENTRIES: usize = 64;

/// What a client announced in its `connect` command object.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientCaps {
    /// The codecs it takes (audio and video in one set); empty for a legacy client.
    pub codecs: CodecMask,
    /// Its `capsEx` bits (0 when absent).
    pub caps_ex: u8,
    /// Whether it sent any of the Enhanced RTMP properties.
    pub enhanced: bool,
}

fn code_of(s: &str) -> Option<FourCc> {
    let b: [u8; 4] = s.as_bytes().try_into().ok()?;
    Some(FourCc(b))
}

fn add(codecs: &mut CodecMask, name: &str) {
    if name == "*" {
        *codecs = codecs.union(CodecMask::ANY);
    } else if let Some(code) = code_of(name) {
        codecs.insert(code);
    }
}

impl ClientCaps {
    /// Reads the Enhanced RTMP properties of a `connect` command object. Values of the wrong
    /// type are ignored (the client is then as legacy as what is left says).
    pub fn from_connect(object: &[(String, Value)]) -> ClientCaps {
        let mut caps = ClientCaps::default();
        for (key, value) in object {
            match (key.as_str(), value) {
                ("fourCcList", Value::StrictArray(list)) => {
                    caps.enhanced = true;
                    for name in list.iter().take(MAX_FOURCC_ENTRIES) {
                        if let Some(name) = name.as_str() {
                            add(&mut caps.codecs, name);
                        }
                    }
                }
                ("videoFourCcInfoMap" | "audioFourCcInfoMap", map) => {
                    let Some(props) = map.properties() else {
                        continue;
                    };
                    caps.enhanced = true;
                    for (name, flags) in props.iter().take(MAX_FOURCC_ENTRIES) {
                        // A codec it can play (decode) or pass on (forward).
                        let flags = flags.as_f64().unwrap_or(0.0);
                        if flags.is_finite() && (flags as u32) & 0x05 != 0 {
                            add(&mut caps.codecs, name);
                        }
                    }
                }
                ("capsEx", Value::Number(n)) if n.is_finite() && *n >= 0.0 => {
                    caps.enhanced = true;
                    caps.caps_ex = (*n as u32 & 0xff) as u8;
                }
                _ => {}
            }
        }
        caps
    }

    /// The properties we add to the connect `_result` for a client that announced Enhanced
    /// RTMP (a legacy client gets nginx-rtmp's answer unchanged).
    pub fn server_properties() -> Vec<(&'static str, Value)> {
        let list = SERVER_VIDEO
            .iter()
            .chain(SERVER_AUDIO.iter())
            .map(|s| Value::from(*s))
            .collect();
        let map = |codes: &[&str]| {
            Value::Object(
                codes
                    .iter()
                    .map(|c| ((*c).to_owned(), Value::Number(CAN_FORWARD)))
                    .collect(),
            )
        };
        vec![
            ("fourCcList", Value::StrictArray(list)),
            ("videoFourCcInfoMap", map(&SERVER_VIDEO)),
            ("audioFourCcInfoMap", map(&SERVER_AUDIO)),
            ("capsEx", Value::Number(f64::from(SERVER_CAPS_EX))),
        ]
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn obj(props: Vec<(&str, Value)>) -> Vec<(String, Value)> {
        props.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }

    #[test]
    fn ffmpeg_fourcc_list() {
        // What FFmpeg 9 sends with `-rtmp_enhanced_codecs hvc1,av01,Opus`.
        let o = obj(vec![
            ("app", Value::from("live")),
            (
                "fourCcList",
                Value::StrictArray(vec!["hvc1".into(), "av01".into(), "Opus".into()]),
            ),
        ]);
        let c = ClientCaps::from_connect(&o);
        assert!(c.enhanced);
        assert!(c.codecs.contains(FourCc::new(b"hvc1")));
        assert!(c.codecs.contains(FourCc::new(b"Opus")));
        assert!(!c.codecs.contains(FourCc::new(b"vp09")));
        assert!(!c.codecs.is_any());
    }

    #[test]
    fn info_maps_wildcard_and_caps_ex() {
        let o = obj(vec![
            (
                "videoFourCcInfoMap",
                Value::object([("*", Value::Number(4.0)), ("vp09", Value::Number(3.0))]),
            ),
            (
                "audioFourCcInfoMap",
                Value::EcmaArray(vec![("Opus".into(), Value::Number(2.0))]),
            ),
            ("capsEx", Value::Number(6.0)),
        ]);
        let c = ClientCaps::from_connect(&o);
        assert!(c.codecs.is_any());
        assert_eq!(c.caps_ex, caps_ex::MULTITRACK | caps_ex::MOD_EX);
        // Encode-only is not playing.
        let o = obj(vec![(
            "audioFourCcInfoMap",
            Value::object([("Opus", Value::Number(2.0))]),
        )]);
        let c = ClientCaps::from_connect(&o);
        assert!(c.enhanced && c.codecs.is_empty());
    }

    #[test]
    fn legacy_and_malformed() {
        let c = ClientCaps::from_connect(&obj(vec![("app", Value::from("live"))]));
        assert_eq!(c, ClientCaps::default());
        // Wrong types, a non-string entry, overlong names: ignored, never an error.
        let o = obj(vec![
            ("fourCcList", Value::from("hvc1")),
            ("capsEx", Value::from("x")),
            (
                "fourCcList",
                Value::StrictArray(vec![Value::Number(1.0), "hevc1".into(), "av01".into()]),
            ),
            ("capsEx", Value::Number(f64::NAN)),
        ]);
        let c = ClientCaps::from_connect(&o);
        assert!(c.enhanced && c.codecs.contains(FourCc::new(b"av01")));
        assert_eq!(c.caps_ex, 0);
        // Only the first entries of a huge list count.
        let mut huge: Vec<Value> = (0..1000).map(|_| Value::from("zzzz")).collect();
        huge.push("hvc1".into());
        let c = ClientCaps::from_connect(&obj(vec![("fourCcList", Value::StrictArray(huge))]));
        assert!(!c.codecs.contains(FourCc::new(b"hvc1")));
    }

    #[test]
    fn server_answer() {
        let p = ClientCaps::server_properties();
        let list = match &p[0] {
            ("fourCcList", Value::StrictArray(l)) => l.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(list.len(), 6);
        let back = ClientCaps::from_connect(
            &p.into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect::<Vec<_>>(),
        );
        for c in [b"avc1", b"hvc1", b"av01", b"vp09", b"mp4a", b"Opus"] {
            assert!(back.codecs.contains(FourCc::new(c)));
        }
        assert!(!back.codecs.contains(FourCc::new(b"fLaC")));
        assert_eq!(back.caps_ex, SERVER_CAPS_EX);
    }
}
