//! What a media playlist on disk says about the live edge: the newest segment and part it
//! lists, the LL-HLS server controls, the preload hint, whether it ended. Read from the text
//! the writer renders (RFC 8216bis), without keeping the text.

/// A position in the stream: part `part` of media segment `msn`. A segment listed without
/// parts is at `part == u64::MAX`, after every part of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub msn: u64,
    pub part: u64,
}

/// The facts of one playlist text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlaylistState {
    /// A multivariant (master) playlist: it has no live edge.
    pub master: bool,
    pub version: Option<u64>,
    pub media_sequence: u64,
    pub target_duration_ms: u64,
    /// `EXT-X-PART-INF:PART-TARGET`.
    pub part_target_ms: Option<u64>,
    /// `EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES`.
    pub can_block_reload: bool,
    /// `EXT-X-SERVER-CONTROL:CAN-SKIP-UNTIL`.
    pub can_skip_until_ms: Option<u64>,
    /// Complete media segments listed.
    pub segments: u64,
    /// The newest media listed: the last part, or the last complete segment.
    pub last: Option<Pos>,
    /// The URI of `EXT-X-PRELOAD-HINT:TYPE=PART`: the part not yet written.
    pub preload_hint: Option<String>,
    /// `EXT-X-ENDLIST`.
    pub ended: bool,
}

/// Seconds as written in playlists (`6`, `0.333`, `4.000`) to milliseconds.
pub fn seconds_ms(v: &str) -> Option<u64> {
    let s: f64 = v.trim().parse().ok()?;
    (s.is_finite() && (0.0..1e9).contains(&s)).then(|| (s * 1000.0).round() as u64)
}

/// The value of attribute `name` in an attribute list (`A=1,B="x,y",C=z`), unquoted.
pub fn attr<'a>(list: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = list;
    loop {
        let (key, after) = rest.split_once('=')?;
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"')?;
            let tail = q.get(end + 1..)?;
            (q.get(..end)?, tail.strip_prefix(',').unwrap_or(tail))
        } else {
            match after.split_once(',') {
                Some((v, n)) => (v, n),
                None => (after, ""),
            }
        };
        if key.trim() == name {
            return Some(value);
        }
        if next.is_empty() {
            return None;
        }
        rest = next;
    }
}

impl PlaylistState {
    pub fn parse(text: &str) -> PlaylistState {
        let mut s = PlaylistState::default();
        // Parts listed since the last EXTINF, and the parts of the last complete segment.
        let mut open_parts = 0u64;
        let mut last_segment_parts = 0u64;
        for line in text.lines().map(str::trim) {
            let Some(tag) = line.strip_prefix('#') else {
                continue;
            };
            let (name, value) = tag.split_once(':').unwrap_or((tag, ""));
            match name {
                "EXT-X-STREAM-INF" => s.master = true,
                "EXT-X-VERSION" => s.version = value.trim().parse().ok(),
                "EXT-X-MEDIA-SEQUENCE" => s.media_sequence = value.trim().parse().unwrap_or(0),
                "EXT-X-TARGETDURATION" => s.target_duration_ms = seconds_ms(value).unwrap_or(0),
                "EXT-X-PART-INF" => {
                    s.part_target_ms = attr(value, "PART-TARGET").and_then(seconds_ms);
                }
                "EXT-X-SERVER-CONTROL" => {
                    s.can_block_reload = attr(value, "CAN-BLOCK-RELOAD") == Some("YES");
                    s.can_skip_until_ms = attr(value, "CAN-SKIP-UNTIL").and_then(seconds_ms);
                }
                "EXT-X-PART" => open_parts += 1,
                "EXTINF" => {
                    s.segments += 1;
                    last_segment_parts = open_parts;
                    open_parts = 0;
                }
                "EXT-X-PRELOAD-HINT" if attr(value, "TYPE") == Some("PART") => {
                    s.preload_hint = attr(value, "URI").map(str::to_owned);
                }
                "EXT-X-SKIP" => {
                    let n = attr(value, "SKIPPED-SEGMENTS").and_then(|n| n.parse().ok());
                    s.segments += n.unwrap_or(0);
                }
                "EXT-X-ENDLIST" => s.ended = true,
                _ => {}
            }
        }
        s.last = if open_parts > 0 {
            Some(Pos {
                msn: s.media_sequence + s.segments,
                part: open_parts - 1,
            })
        } else if s.segments > 0 {
            let part = last_segment_parts.checked_sub(1).unwrap_or(u64::MAX);
            Some(Pos {
                msn: s.media_sequence + s.segments - 1,
                part,
            })
        } else {
            None
        };
        s
    }

    /// The media sequence number of the last complete segment listed.
    pub fn last_msn(&self) -> Option<u64> {
        (self.segments > 0).then(|| self.media_sequence + self.segments - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LL: &str = "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:2\n\
#EXT-X-PART-INF:PART-TARGET=0.334\n\
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.002,CAN-SKIP-UNTIL=12\n\
#EXT-X-MEDIA-SEQUENCE:7\n\
#EXT-X-PROGRAM-DATE-TIME:2026-12-07T08:00:00.000Z\n#EXTINF:2.000,\ncam-7.ts\n\
#EXT-X-PART:DURATION=0.334,URI=\"cam-8.0.ts\",INDEPENDENT=YES\n\
#EXT-X-PART:DURATION=0.334,URI=\"cam-8.1.ts\"\n#EXTINF:0.668,\ncam-8.ts\n\
#EXT-X-PART:DURATION=0.334,URI=\"cam-9.0.ts\",INDEPENDENT=YES\n\
#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"cam-9.1.ts\"\n\
#EXT-X-RENDITION-REPORT:URI=\"low.m3u8\",LAST-MSN=9,LAST-PART=0\n";

    #[test]
    fn reads_the_live_edge_of_an_ll_playlist() {
        let s = PlaylistState::parse(LL);
        assert!(!s.master && !s.ended && s.can_block_reload);
        assert_eq!(s.version, Some(9));
        assert_eq!(s.media_sequence, 7);
        assert_eq!(s.target_duration_ms, 2000);
        assert_eq!(s.part_target_ms, Some(334));
        assert_eq!(s.can_skip_until_ms, Some(12_000));
        assert_eq!(s.segments, 2);
        assert_eq!(s.last_msn(), Some(8));
        assert_eq!(s.last, Some(Pos { msn: 9, part: 0 }));
        assert_eq!(s.preload_hint.as_deref(), Some("cam-9.1.ts"));
    }

    #[test]
    fn a_complete_segment_ends_after_its_last_part() {
        let text = LL
            .split("#EXT-X-PART:DURATION=0.334,URI=\"cam-9.0.ts\"")
            .next()
            .unwrap();
        let s = PlaylistState::parse(&format!("{text}#EXT-X-ENDLIST\n"));
        assert_eq!(s.last, Some(Pos { msn: 8, part: 1 }));
        assert!(s.ended);
        assert_eq!(s.preload_hint, None);
    }

    #[test]
    fn plain_and_empty_playlists() {
        let plain = "#EXTM3U\n#EXT-X-TARGETDURATION:3\n#EXT-X-MEDIA-SEQUENCE:4\n\
#EXTINF:3.0,\na-4.ts\n#EXTINF:3.0,\na-5.ts\n";
        let s = PlaylistState::parse(plain);
        assert!(!s.can_block_reload);
        assert_eq!(
            s.last,
            Some(Pos {
                msn: 5,
                part: u64::MAX
            })
        );
        let empty = PlaylistState::parse("#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:3\n");
        assert_eq!((empty.last, empty.last_msn()), (None, None));
        assert!(PlaylistState::parse("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\na.m3u8\n").master);
    }

    #[test]
    fn attribute_lists() {
        let l = "DURATION=0.3,URI=\"a,b.ts\",INDEPENDENT=YES";
        assert_eq!(attr(l, "URI"), Some("a,b.ts"));
        assert_eq!(attr(l, "INDEPENDENT"), Some("YES"));
        assert_eq!(attr(l, "DURATION"), Some("0.3"));
        assert_eq!(attr(l, "GAP"), None);
        assert_eq!(attr("URI=\"unterminated", "URI"), None);
        assert_eq!(seconds_ms("0.3336"), Some(334));
        assert_eq!(seconds_ms("x"), None);
        assert_eq!(seconds_ms("-1"), None);
    }
}
