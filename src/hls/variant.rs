//! Variant groups: several published streams listed by one master playlist.
//!
//! A group is a master playlist path and its members, each a stream of the same application
//! with the operator's `#EXT-X-STREAM-INF` attributes. `hls_variant SUFFIX [PARAM=VALUE ...]`
//! makes one (the stream `cam_low` is a member of group `cam` when `_low` is a configured
//! suffix), and transcoded renditions make another from one publish; both go through
//! [`VariantGroup`].
//!
//! Members may live on different workers (every variant is its own publish), so each member's
//! HLS output describes itself in a small status file next to its playlist
//! ([`MemberStatus`], at [`status_path`]), rewritten after each of its playlist writes, and
//! whichever worker wrote last renders the master from the status files of all members
//! ([`VariantGroup::render_master`]). Every worker computes the same text from the same
//! files, so concurrent writers converge; a member whose worker died stops refreshing its
//! status and drops out once the status is stale.
//!
//! # Alignment
//!
//! A member cuts its segments at the first keyframe on or after each multiple of
//! `hls_fragment` on the stream timestamp (as `hls_fragment_slicing aligned`), and the first
//! segment after a (re)start is numbered by that multiple, so members published by the same
//! encoder start their segments at the same instants with the same media sequence numbers,
//! whenever they joined. The sequence never goes backwards: a republish whose timestamps
//! restart continues it. This needs every member's keyframes at the same instants, on every
//! multiple of `hls_fragment`. With `exec` (or any external encoder) that means ONE ffmpeg
//! process producing all the outputs from one decoded input, timestamps preserved (no
//! `-copyts` games per output, the same `-bf`/`-g` settings for every output), and forced
//! keyframes on the fragment grid: `-force_key_frames "expr:gte(t,n_forced*F)"` on each
//! output, F being `hls_fragment` in seconds, with the encoder's own scene-cut keyframes off
//! (`-sc_threshold 0`, or `-x264-params scenecut=0`) so that no extra keyframe cuts one member
//! and not another.

use std::fmt;
use std::fmt::Write as _;

use super::config::HlsConfig;
use super::stream_inf::{Attribute, VariantError, VariantInfo};
use crate::files::{uri_escape, validate_stream_name, RelPath};

/// One `hls_variant SUFFIX [PARAM=VALUE ...]` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariantSpec {
    pub suffix: String,
    pub attributes: Vec<Attribute>,
}

impl VariantSpec {
    pub fn parse(suffix: &str, params: &[&str]) -> Result<VariantSpec, VariantError> {
        if suffix.is_empty() {
            return Err(VariantError::EmptySuffix);
        }
        if suffix.contains('/')
            || suffix.contains('\\')
            || suffix.contains("..")
            || suffix.chars().any(char::is_control)
        {
            return Err(VariantError::InvalidSuffix(suffix.to_owned()));
        }
        let attributes = params
            .iter()
            .map(|p| Attribute::parse(p))
            .collect::<Result<_, _>>()?;
        Ok(VariantSpec {
            suffix: suffix.to_owned(),
            attributes,
        })
    }
}

/// Where the status of stream `name` lives, relative to `hls_path` (both layouts): a hidden
/// file, never served by a listing and never taken for a playlist.
pub fn status_path(name: &str) -> RelPath {
    RelPath::new(format!(".{name}.variant"))
}

/// A member's status file: its measurement and whether it is live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberStatus {
    /// Wall clock (Unix ms) of the write: a status older than [`MemberStatus::stale_after_ms`]
    /// is a member whose worker stopped (killed, say).
    pub updated_unix_ms: u64,
    /// The member's `#EXT-X-TARGETDURATION`, ms.
    pub target_ms: u64,
    /// The publisher left.
    pub ended: bool,
    /// Complete segments in the member's playlist.
    pub segments: u64,
    pub info: Option<VariantInfo>,
}

const STATUS_MAGIC: &str = "ngx-rtmp variant 1";
/// Largest status file read (a real one is ~200 bytes).
pub const MAX_STATUS_LEN: usize = 4096;

impl MemberStatus {
    /// How long after its last write a status still counts as live: three target durations
    /// (a member rewrites it at every segment) and one second of scheduling slack.
    pub fn stale_after_ms(&self) -> u64 {
        self.target_ms
            .max(1000)
            .saturating_mul(3)
            .saturating_add(1000)
    }

    /// Live at `now_unix_ms`: not ended, fresh, with a complete segment.
    pub fn is_live(&self, now_unix_ms: u64) -> bool {
        !self.ended
            && self.segments > 0
            && now_unix_ms.saturating_sub(self.updated_unix_ms) <= self.stale_after_ms()
    }

    pub fn render(&self) -> String {
        let mut s = String::with_capacity(200);
        let _ = writeln!(s, "{STATUS_MAGIC}");
        let _ = writeln!(s, "updated {}", self.updated_unix_ms);
        let _ = writeln!(s, "target {}", self.target_ms);
        let _ = writeln!(s, "ended {}", u8::from(self.ended));
        let _ = writeln!(s, "segments {}", self.segments);
        if let Some(i) = &self.info {
            let _ = writeln!(s, "bandwidth {} {}", i.bandwidth_peak, i.bandwidth_avg);
            if let Some(c) = &i.codecs {
                let _ = writeln!(s, "codecs {c}");
            }
            if let Some((w, h)) = i.resolution {
                let _ = writeln!(s, "resolution {w}x{h}");
            }
            if let Some(f) = i.frame_rate_milli {
                let _ = writeln!(s, "frame_rate {f}");
            }
        }
        s
    }

    /// Parses a status file; anything unexpected (a torn or foreign file) is `None`, which
    /// callers take as "not live".
    pub fn parse(text: &str) -> Option<MemberStatus> {
        if text.len() > MAX_STATUS_LEN {
            return None;
        }
        let mut lines = text.lines();
        if lines.next()? != STATUS_MAGIC {
            return None;
        }
        let (mut updated, mut target, mut ended, mut segments) = (None, None, None, None);
        let mut bandwidth: Option<(u64, u64)> = None;
        let (mut codecs, mut resolution, mut frame_rate) = (None, None, None);
        for line in lines {
            let (key, value) = line.split_once(' ')?;
            match key {
                "updated" => updated = Some(value.parse().ok()?),
                "target" => target = Some(value.parse().ok()?),
                "ended" => {
                    ended = Some(match value {
                        "0" => false,
                        "1" => true,
                        _ => return None,
                    })
                }
                "segments" => segments = Some(value.parse().ok()?),
                "bandwidth" => {
                    let (p, a) = value.split_once(' ')?;
                    bandwidth = Some((p.parse().ok()?, a.parse().ok()?));
                }
                "codecs" => {
                    let ok = !value.is_empty()
                        && value
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b',');
                    if !ok {
                        return None;
                    }
                    codecs = Some(value.to_owned());
                }
                "resolution" => {
                    let (w, h) = value.split_once('x')?;
                    resolution = Some((w.parse().ok()?, h.parse().ok()?));
                }
                "frame_rate" => frame_rate = Some(value.parse().ok()?),
                _ => {}
            }
        }
        let info = bandwidth.map(|(peak, avg)| VariantInfo {
            bandwidth_peak: peak,
            bandwidth_avg: avg,
            codecs,
            resolution,
            frame_rate_milli: frame_rate,
        });
        Some(MemberStatus {
            updated_unix_ms: updated?,
            target_ms: target?,
            ended: ended?,
            segments: segments?,
            info,
        })
    }
}

/// A member of a group: a stream of the application and the operator's attributes for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    /// The member's full stream name (`cam_low`).
    pub name: String,
    pub attributes: Vec<Attribute>,
}

/// A master playlist and its members, all in one application's `hls_path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariantGroup {
    /// The group's name (`cam`): the master is `cam.m3u8` in both layouts.
    pub name: String,
    /// In configuration order (the order of equal bandwidths in the master).
    pub members: Vec<GroupMember>,
    nested: bool,
    base_url: String,
}

/// Why a group cannot be formed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupError(pub &'static str);

impl fmt::Display for GroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for GroupError {}

impl VariantGroup {
    /// A group `name` of `members` under the HLS settings `config` (layout and base URL).
    /// Names are validated as stream names.
    pub fn new(
        config: &HlsConfig,
        name: &str,
        members: Vec<GroupMember>,
    ) -> Result<VariantGroup, GroupError> {
        validate_stream_name(name).map_err(|e| GroupError(e.0))?;
        for m in &members {
            validate_stream_name(&m.name).map_err(|e| GroupError(e.0))?;
        }
        Ok(VariantGroup {
            name: name.to_owned(),
            members,
            nested: config.nested,
            base_url: config.base_url.clone(),
        })
    }

    /// The `hls_variant` group of stream `stream`, if its name ends with one of the suffixes
    /// (the first that matches, in configuration order, and leaves a non-empty name; as
    /// nginx-rtmp). Its members are the stripped name with every configured suffix.
    pub fn of_hls_variant(
        config: &HlsConfig,
        specs: &[VariantSpec],
        stream: &str,
    ) -> Option<VariantGroup> {
        let base = specs.iter().find_map(|s| {
            stream
                .strip_suffix(s.suffix.as_str())
                .filter(|b| !b.is_empty())
        })?;
        let members = specs
            .iter()
            .map(|s| GroupMember {
                name: format!("{base}{}", s.suffix),
                attributes: s.attributes.clone(),
            })
            .collect();
        VariantGroup::new(config, base, members).ok()
    }

    /// The master playlist, relative to `hls_path`.
    pub fn master_path(&self) -> RelPath {
        RelPath::new(format!("{}.m3u8", self.name))
    }

    /// The URI of a member's playlist in the master: `hls_base_url` + name (+ `/index` when
    /// nested) + `.m3u8`, as nginx-rtmp writes it (relative to the master without a base URL).
    pub fn member_uri(&self, member: &GroupMember) -> String {
        let index = if self.nested { "/index" } else { "" };
        format!("{}{}{index}.m3u8", self.base_url, uri_escape(&member.name))
    }

    /// The master playlist from the members' status files (`statuses[i]` for
    /// `members[i]`, `None` when missing or unreadable), or `None` when no member is live.
    pub fn render_master(
        &self,
        statuses: &[Option<MemberStatus>],
        now_unix_ms: u64,
    ) -> Option<String> {
        let entries: Vec<super::master::MasterEntry> = self
            .members
            .iter()
            .zip(statuses)
            .filter_map(|(m, st)| {
                let st = st.as_ref().filter(|s| s.is_live(now_unix_ms))?;
                Some(super::master::MasterEntry {
                    uri: self.member_uri(m),
                    attributes: &m.attributes,
                    info: st.info.as_ref(),
                })
            })
            .collect();
        super::master::render(&entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(nested: bool, base_url: &str) -> HlsConfig {
        HlsConfig {
            nested,
            base_url: base_url.to_owned(),
            ..HlsConfig::default()
        }
    }

    fn specs() -> Vec<VariantSpec> {
        vec![
            VariantSpec::parse("_low", &["BANDWIDTH=288000"]).unwrap(),
            VariantSpec::parse("_hi", &["BANDWIDTH=1152000", "PROGRAM-ID=1"]).unwrap(),
        ]
    }

    #[test]
    fn attributes() {
        let a = Attribute::parse("BANDWIDTH=288000").unwrap();
        assert_eq!((a.name.as_str(), a.value.as_str()), ("BANDWIDTH", "288000"));
        let q = Attribute::parse("CODECS=\"avc1.42e00a,mp4a.40.2\"").unwrap();
        assert_eq!(q.value, "\"avc1.42e00a,mp4a.40.2\"");
        for bad in [
            "BANDWIDTH",
            "=1",
            "BANDWIDTH=",
            "bandwidth=1",
            "A B=1",
            "CODECS=a,b",
            "CODECS=\"a\"b\"",
            "CODECS=\"open",
            "X=a\nb",
        ] {
            assert!(Attribute::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(VariantSpec::parse("", &[]), Err(VariantError::EmptySuffix));
        assert!(VariantSpec::parse("_a/b", &[]).is_err());
        assert!(VariantSpec::parse("_x", &["nope"]).is_err());
    }

    #[test]
    fn membership_and_naming() {
        let g = VariantGroup::of_hls_variant(&cfg(false, ""), &specs(), "cam_hi").unwrap();
        assert_eq!(g.name, "cam");
        assert_eq!(g.master_path().as_str(), "cam.m3u8");
        let names: Vec<_> = g.members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["cam_low", "cam_hi"]);
        assert_eq!(g.member_uri(&g.members[0]), "cam_low.m3u8");
        assert!(VariantGroup::of_hls_variant(&cfg(false, ""), &specs(), "cam").is_none());
        // The suffix alone is no member (nothing would be left of the name).
        assert!(VariantGroup::of_hls_variant(&cfg(false, ""), &specs(), "_low").is_none());
        let n = VariantGroup::of_hls_variant(&cfg(true, "http://cdn/hls/"), &specs(), "a b_low")
            .unwrap();
        assert_eq!(n.master_path().as_str(), "a b.m3u8");
        assert_eq!(
            n.member_uri(&n.members[1]),
            "http://cdn/hls/a%20b_hi/index.m3u8"
        );
    }

    fn status(updated: u64, ended: bool, peak: u64) -> MemberStatus {
        MemberStatus {
            updated_unix_ms: updated,
            target_ms: 2000,
            ended,
            segments: 3,
            info: Some(VariantInfo {
                bandwidth_peak: peak,
                bandwidth_avg: peak / 2,
                codecs: Some("avc1.64001F,mp4a.40.2".into()),
                resolution: Some((1280, 720)),
                frame_rate_milli: Some(29_970),
            }),
        }
    }

    #[test]
    fn status_round_trip_and_garbage() {
        let s = status(1_000, false, 500_000);
        assert_eq!(MemberStatus::parse(&s.render()), Some(s.clone()));
        let bare = MemberStatus { info: None, ..s };
        assert_eq!(MemberStatus::parse(&bare.render()), Some(bare));
        for bad in [
            "",
            "garbage",
            "ngx-rtmp variant 1\nupdated x\n",
            "ngx-rtmp variant 1\nupdated 1\ntarget 2\nended 2\nsegments 1\n",
            "ngx-rtmp variant 1\nupdated 1\ntarget 2\nended 0\n",
            "ngx-rtmp variant 1\nupdated 1\ntarget 2\nended 0\nsegments 1\ncodecs a\"b\n",
        ] {
            assert_eq!(MemberStatus::parse(bad), None, "{bad:?}");
        }
        // A torn write (truncated anywhere) never panics.
        let text = status(1, false, 1).render();
        for i in 0..text.len() {
            let _ = MemberStatus::parse(&text[..i]);
        }
    }

    #[test]
    fn liveness() {
        let s = status(10_000, false, 1);
        assert!(s.is_live(10_000));
        assert!(s.is_live(17_000));
        assert!(!s.is_live(17_001));
        assert!(!status(10_000, true, 1).is_live(10_000));
        let empty = MemberStatus {
            segments: 0,
            ..status(10_000, false, 1)
        };
        assert!(!empty.is_live(10_000));
    }

    #[test]
    fn master_lists_live_members_only() {
        let g = VariantGroup::of_hls_variant(&cfg(false, ""), &specs(), "cam_low").unwrap();
        let text = g
            .render_master(&[Some(status(1000, false, 300_000)), None], 1000)
            .unwrap();
        assert!(text.contains("cam_low.m3u8"));
        assert!(!text.contains("cam_hi"));
        let text = g
            .render_master(
                &[
                    Some(status(1000, false, 300_000)),
                    Some(status(1000, false, 900_000)),
                ],
                2000,
            )
            .unwrap();
        let hi = text.find("cam_hi.m3u8").unwrap();
        let low = text.find("cam_low.m3u8").unwrap();
        assert!(hi < low, "highest bandwidth first:\n{text}");
        assert!(!text.contains("PROGRAM-ID"));
        assert_eq!(
            g.render_master(&[Some(status(1000, true, 1)), None], 1000),
            None
        );
    }
}
