//! The MPD (ISO/IEC 23009-1): a live (`dynamic`) manifest while the stream is published,
//! a `static` one listing the last window once it ended. One period; one adaptation set per
//! track, each holding one representation per stream (one for a single stream, one per
//! rendition for a group), each with a `SegmentTemplate` (`$Time$` in milliseconds, as
//! nginx-rtmp names its files) and a `SegmentTimeline`.

use std::fmt::Write;

use crate::files::xml_escape;

/// MPD times of every `SegmentTemplate` are milliseconds.
pub const MPD_TIMESCALE: u64 = 1000;

/// One listed segment: start and duration in ms (MPD timescale).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimelineEntry {
    pub t: u64,
    pub d: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Video { width: u32, height: u32 },
    Audio { sampling_rate: u32, channels: u8 },
}

/// One encoding of a track: its files and timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Representation {
    pub kind: Kind,
    /// `Representation@id`.
    pub id: String,
    /// RFC 6381 codecs string.
    pub codecs: String,
    /// Bits per second.
    pub bandwidth: u64,
    /// `SegmentTemplate@media`, with `$Time$`.
    pub media: String,
    /// `SegmentTemplate@initialization`.
    pub initialization: String,
    /// `Representation@frameRate` (`30`, `30000/1001`), when known.
    pub frame_rate: Option<String>,
    pub timeline: Vec<TimelineEntry>,
}

impl Representation {
    /// End (ms) of the last listed segment.
    pub fn end_ms(&self) -> Option<u64> {
        self.timeline.last().map(|e| e.t + e.d)
    }

    pub fn is_video(&self) -> bool {
        matches!(self.kind, Kind::Video { .. })
    }
}

/// An adaptation set: representations of one content type, switchable at segment
/// boundaries. The content type is the first representation's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdaptationSet {
    pub representations: Vec<Representation>,
    /// `maxWidth`/`maxHeight` (a set of several video representations).
    pub max_size: Option<(u32, u32)>,
}

impl AdaptationSet {
    /// A set of one representation (a single stream's MPD).
    pub fn single(representation: Representation) -> Self {
        Self {
            representations: vec![representation],
            max_size: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mpd {
    /// `dynamic` (live) or `static` (the stream ended).
    pub live: bool,
    /// Wall clock (Unix ms) of media time 0: segment `t` is available from
    /// `availability_start + t + d`.
    pub availability_start_unix_ms: u64,
    pub publish_unix_ms: u64,
    pub minimum_update_period_ms: u64,
    pub min_buffer_ms: u64,
    pub time_shift_buffer_ms: u64,
    pub sets: Vec<AdaptationSet>,
}

/// `PT12.345S`.
pub fn duration(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("PT{}S", ms / 1000)
    } else {
        format!("PT{}.{:03}S", ms / 1000, ms % 1000)
    }
}

/// `2024-05-01T12:00:00.250Z` (xs:dateTime, UTC).
pub use crate::files::date_time;

impl Mpd {
    fn representations(&self) -> impl Iterator<Item = &Representation> {
        self.sets.iter().flat_map(|s| s.representations.iter())
    }
    /// First listed time over all sets (the start of a static presentation).
    fn first_t(&self) -> u64 {
        self.representations()
            .filter_map(|r| r.timeline.first().map(|e| e.t))
            .min()
            .unwrap_or(0)
    }

    fn last_end(&self) -> u64 {
        self.representations()
            .filter_map(Representation::end_ms)
            .max()
            .unwrap_or(0)
    }

    /// The document. Attribute values are escaped; the caller provides URL-safe templates.
    pub fn render(&self) -> String {
        let mut o = String::with_capacity(2048);
        o.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        o.push_str("<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\"\n");
        o.push_str("    profiles=\"urn:mpeg:dash:profile:isoff-live:2011\"\n");
        let start = self.first_t();
        if self.live {
            o.push_str("    type=\"dynamic\"\n");
            let _ = writeln!(
                o,
                "    availabilityStartTime=\"{}\"",
                date_time(self.availability_start_unix_ms)
            );
            let _ = writeln!(o, "    publishTime=\"{}\"", date_time(self.publish_unix_ms));
            let _ = writeln!(
                o,
                "    minimumUpdatePeriod=\"{}\"",
                duration(self.minimum_update_period_ms)
            );
            let _ = writeln!(
                o,
                "    timeShiftBufferDepth=\"{}\"",
                duration(self.time_shift_buffer_ms)
            );
        } else {
            o.push_str("    type=\"static\"\n");
            let _ = writeln!(o, "    publishTime=\"{}\"", date_time(self.publish_unix_ms));
            let _ = writeln!(
                o,
                "    mediaPresentationDuration=\"{}\"",
                duration(self.last_end().saturating_sub(start))
            );
        }
        let _ = writeln!(o, "    minBufferTime=\"{}\">", duration(self.min_buffer_ms));
        o.push_str("  <Period id=\"0\" start=\"PT0S\">\n");
        // A static presentation starts at its first listed segment.
        let pto = if self.live { 0 } else { start };
        for (i, set) in self.sets.iter().enumerate() {
            render_set(&mut o, i + 1, set, pto);
        }
        o.push_str("  </Period>\n</MPD>\n");
        o
    }
}

fn render_set(o: &mut String, id: usize, set: &AdaptationSet, pto: u64) {
    let Some(first) = set.representations.first() else {
        return;
    };
    let (content, mime) = match first.kind {
        Kind::Video { .. } => ("video", "video/mp4"),
        Kind::Audio { .. } => ("audio", "audio/mp4"),
    };
    let _ = write!(
        o,
        "    <AdaptationSet id=\"{id}\" contentType=\"{content}\" mimeType=\"{mime}\" \
         segmentAlignment=\"true\" startWithSAP=\"1\""
    );
    if let Some((w, h)) = set.max_size {
        let _ = write!(o, " maxWidth=\"{w}\" maxHeight=\"{h}\"");
    }
    o.push_str(">\n");
    for rep in &set.representations {
        render_representation(o, rep, pto);
    }
    o.push_str("    </AdaptationSet>\n");
}

fn render_representation(o: &mut String, rep: &Representation, pto: u64) {
    let _ = write!(
        o,
        "      <Representation id=\"{}\" codecs=\"{}\" bandwidth=\"{}\"",
        xml_escape(&rep.id),
        xml_escape(&rep.codecs),
        rep.bandwidth.max(1)
    );
    match rep.kind {
        Kind::Video { width, height } => {
            if width > 0 && height > 0 {
                let _ = write!(o, " width=\"{width}\" height=\"{height}\" sar=\"1:1\"");
            }
            if let Some(rate) = &rep.frame_rate {
                let _ = write!(o, " frameRate=\"{}\"", xml_escape(rate));
            }
            o.push_str(">\n");
        }
        Kind::Audio {
            sampling_rate,
            channels,
        } => {
            let _ = writeln!(o, " audioSamplingRate=\"{sampling_rate}\">");
            let _ = writeln!(
                o,
                "        <AudioChannelConfiguration \
                 schemeIdUri=\"urn:mpeg:dash:23003:3:audio_channel_configuration:2011\" \
                 value=\"{}\"/>",
                channels.max(1)
            );
        }
    }
    let _ = writeln!(
        o,
        "        <SegmentTemplate timescale=\"{MPD_TIMESCALE}\" presentationTimeOffset=\"{pto}\" \
         media=\"{}\" initialization=\"{}\">",
        xml_escape(&rep.media),
        xml_escape(&rep.initialization)
    );
    o.push_str("          <SegmentTimeline>\n");
    let mut next: Option<u64> = None;
    for e in &rep.timeline {
        // `t` only where the timeline does not simply continue.
        if next == Some(e.t) {
            let _ = writeln!(o, "            <S d=\"{}\"/>", e.d);
        } else {
            let _ = writeln!(o, "            <S t=\"{}\" d=\"{}\"/>", e.t, e.d);
        }
        next = Some(e.t + e.d);
    }
    o.push_str("          </SegmentTimeline>\n        </SegmentTemplate>\n");
    o.push_str("      </Representation>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(live: bool) -> Mpd {
        Mpd {
            live,
            availability_start_unix_ms: 1_700_000_000_123,
            publish_unix_ms: 1_700_000_010_000,
            minimum_update_period_ms: 5000,
            min_buffer_ms: 5000,
            time_shift_buffer_ms: 30_000,
            sets: vec![
                AdaptationSet::single(Representation {
                    kind: Kind::Video {
                        width: 320,
                        height: 240,
                    },
                    id: "a&b_H264".into(),
                    codecs: "avc1.64001f".into(),
                    bandwidth: 500_000,
                    media: "a%26b-$Time$.m4v".into(),
                    initialization: "a%26b-init.m4v".into(),
                    frame_rate: None,
                    timeline: vec![
                        TimelineEntry { t: 2000, d: 4000 },
                        TimelineEntry { t: 6000, d: 4000 },
                        TimelineEntry { t: 12_000, d: 1000 },
                    ],
                }),
                AdaptationSet::single(Representation {
                    kind: Kind::Audio {
                        sampling_rate: 44100,
                        channels: 2,
                    },
                    id: "a_AAC".into(),
                    codecs: "mp4a.40.2".into(),
                    bandwidth: 64_000,
                    media: "$Time$.m4a".into(),
                    initialization: "init.m4a".into(),
                    frame_rate: None,
                    timeline: vec![TimelineEntry { t: 1990, d: 4010 }],
                }),
            ],
        }
    }

    #[test]
    fn dates_and_durations() {
        assert_eq!(date_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(date_time(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(date_time(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(duration(30_000), "PT30S");
        assert_eq!(duration(4_004), "PT4.004S");
    }

    #[test]
    fn live_manifest() {
        let text = sample(true).render();
        assert!(text.contains("type=\"dynamic\""), "{text}");
        assert!(text.contains("availabilityStartTime=\"2023-11-14T22:13:20.123Z\""));
        assert!(text.contains("publishTime=\"2023-11-14T22:13:30.000Z\""));
        assert!(text.contains("minimumUpdatePeriod=\"PT5S\""));
        assert!(text.contains("timeShiftBufferDepth=\"PT30S\""));
        assert!(text.contains("id=\"a&amp;b_H264\""));
        assert!(text.contains("codecs=\"avc1.64001f\""));
        assert!(text.contains("width=\"320\" height=\"240\""));
        assert!(text.contains("media=\"a%26b-$Time$.m4v\""));
        assert!(text.contains("presentationTimeOffset=\"0\""));
        // Continuous entries omit t; a gap restates it.
        assert!(text.contains("<S t=\"2000\" d=\"4000\"/>\n            <S d=\"4000\"/>\n            <S t=\"12000\" d=\"1000\"/>"));
        assert!(text.contains("audioSamplingRate=\"44100\""));
        assert!(text.contains("audio_channel_configuration:2011\" value=\"2\""));
        assert!(!text.contains("mediaPresentationDuration"));
        assert_eq!(text.matches("<AdaptationSet").count(), 2);
        assert_eq!(text.matches("</AdaptationSet>").count(), 2);
    }

    #[test]
    fn several_representations_in_one_set() {
        let mut mpd = sample(true);
        let mut low = mpd.sets[0].representations[0].clone();
        low.id = "low".into();
        low.kind = Kind::Video {
            width: 160,
            height: 120,
        };
        low.frame_rate = Some("30000/1001".into());
        mpd.sets[0].representations.push(low);
        mpd.sets[0].max_size = Some((320, 240));
        let text = mpd.render();
        assert_eq!(text.matches("<AdaptationSet").count(), 2);
        assert_eq!(text.matches("<Representation").count(), 3);
        assert_eq!(text.matches("</Representation>").count(), 3);
        assert!(text.contains("startWithSAP=\"1\" maxWidth=\"320\" maxHeight=\"240\">"));
        assert!(text.contains(
            "<Representation id=\"low\" codecs=\"avc1.64001f\" bandwidth=\"500000\" \
             width=\"160\" height=\"120\" sar=\"1:1\" frameRate=\"30000/1001\">"
        ));
        assert_eq!(text.matches("<SegmentTimeline>").count(), 3);
    }

    #[test]
    fn ended_manifest() {
        let text = sample(false).render();
        assert!(text.contains("type=\"static\""));
        assert!(!text.contains("minimumUpdatePeriod"));
        assert!(!text.contains("availabilityStartTime"));
        // From the first listed time (1990) to the last end (13000).
        assert!(text.contains("mediaPresentationDuration=\"PT11.010S\""));
        assert!(text.contains("presentationTimeOffset=\"1990\""));
    }
}
