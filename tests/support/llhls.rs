//! Low-Latency HLS playlists read back for checks: segments with their dates and parts, the
//! parts of the segment being written, the preload hint, the rendition reports.

/// One `#EXT-X-PART`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub uri: String,
    pub duration_ms: u64,
    pub independent: bool,
}

/// A listed segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub msn: u64,
    pub uri: String,
    pub duration_ms: u64,
    pub pdt_ms: Option<u64>,
    pub discontinuity: bool,
    pub map: Option<String>,
    pub parts: Vec<Part>,
}

/// `#EXT-X-RENDITION-REPORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub uri: String,
    pub last_msn: u64,
    pub last_part: u64,
}

#[derive(Debug, Clone, Default)]
pub struct LlPlaylist {
    pub version: u64,
    pub target_s: u64,
    pub part_target_ms: Option<u64>,
    pub server_control: Option<String>,
    pub media_sequence: u64,
    pub segments: Vec<Segment>,
    /// Parts of the segment being written (msn = last segment's + 1).
    pub open_parts: Vec<Part>,
    pub open_pdt_ms: Option<u64>,
    pub hint: Option<String>,
    pub reports: Vec<Report>,
    pub endlist: bool,
}

impl LlPlaylist {
    /// `(LAST-MSN, LAST-PART)` as a rendition report of this playlist would say.
    pub fn last_part(&self) -> Option<(u64, u64)> {
        let next = self.media_sequence + self.segments.len() as u64;
        if !self.open_parts.is_empty() {
            return Some((next, self.open_parts.len() as u64 - 1));
        }
        let last = self.segments.last()?;
        Some((last.msn, last.parts.len().max(1) as u64 - 1))
    }
}

pub fn seconds_ms(v: &str) -> u64 {
    let f: f64 = v.parse().unwrap_or_else(|_| panic!("bad duration {v}"));
    (f * 1000.0).round() as u64
}

fn attr<'a>(attrs: &'a str, name: &str) -> Option<&'a str> {
    // Values are quoted strings without commas, or plain tokens.
    let mut rest = attrs;
    while !rest.is_empty() {
        let (key, tail) = rest.split_once('=')?;
        let (value, next) = if let Some(q) = tail.strip_prefix('"') {
            let end = q.find('"')?;
            (&q[..end], q[end + 1..].strip_prefix(',').unwrap_or(""))
        } else {
            match tail.split_once(',') {
                Some((v, n)) => (v, n),
                None => (tail, ""),
            }
        };
        if key == name {
            return Some(value);
        }
        rest = next;
    }
    None
}

fn part_of(attrs: &str) -> Part {
    Part {
        uri: attr(attrs, "URI").expect("part URI").to_string(),
        duration_ms: seconds_ms(attr(attrs, "DURATION").expect("part DURATION")),
        independent: attr(attrs, "INDEPENDENT") == Some("YES"),
    }
}

/// Parses a full (not delta) Low-Latency playlist; panics on what a writer must not emit.
pub fn parse(text: &str) -> LlPlaylist {
    let mut p = LlPlaylist::default();
    let mut parts = Vec::new();
    let mut pdt = None;
    let mut discontinuity = false;
    let mut map = None;
    let mut duration = None;
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("#EXTM3U"), "{text}");
    for line in lines {
        if let Some(v) = line.strip_prefix("#EXT-X-VERSION:") {
            p.version = v.parse().unwrap();
        } else if let Some(v) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
            p.target_s = v.parse().unwrap();
        } else if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            p.media_sequence = v.parse().unwrap();
        } else if let Some(v) = line.strip_prefix("#EXT-X-PART-INF:") {
            p.part_target_ms = Some(seconds_ms(attr(v, "PART-TARGET").unwrap()));
        } else if let Some(v) = line.strip_prefix("#EXT-X-SERVER-CONTROL:") {
            p.server_control = Some(v.to_string());
        } else if let Some(v) = line.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
            pdt = Some(pdt_ms(v));
        } else if line == "#EXT-X-DISCONTINUITY" {
            discontinuity = true;
        } else if let Some(v) = line.strip_prefix("#EXT-X-MAP:URI=\"") {
            map = Some(v.trim_end_matches('"').to_string());
        } else if let Some(v) = line.strip_prefix("#EXT-X-PART:") {
            parts.push(part_of(v));
        } else if let Some(v) = line.strip_prefix("#EXTINF:") {
            duration = Some(seconds_ms(v.trim_end_matches(',')));
        } else if let Some(v) = line.strip_prefix("#EXT-X-PRELOAD-HINT:") {
            assert_eq!(attr(v, "TYPE"), Some("PART"), "{line}");
            p.hint = Some(attr(v, "URI").unwrap().to_string());
        } else if let Some(v) = line.strip_prefix("#EXT-X-RENDITION-REPORT:") {
            p.reports.push(Report {
                uri: attr(v, "URI").unwrap().to_string(),
                last_msn: attr(v, "LAST-MSN").unwrap().parse().unwrap(),
                last_part: attr(v, "LAST-PART").unwrap().parse().unwrap(),
            });
        } else if line == "#EXT-X-ENDLIST" {
            p.endlist = true;
        } else if line.starts_with("#EXT-X-SKIP") {
            panic!("a full playlist has no EXT-X-SKIP: {text}");
        } else if line.starts_with('#') || line.is_empty() {
            continue;
        } else {
            p.segments.push(Segment {
                msn: p.media_sequence + p.segments.len() as u64,
                uri: line.to_string(),
                duration_ms: duration.take().expect("EXTINF before URI"),
                pdt_ms: pdt.take(),
                discontinuity: std::mem::take(&mut discontinuity),
                map: map.clone(),
                parts: std::mem::take(&mut parts),
            });
        }
    }
    p.open_parts = parts;
    p.open_pdt_ms = pdt;
    p
}

/// `2026-12-07T08:35:00.123Z` as Unix ms (UTC only, as the writer emits).
pub fn pdt_ms(v: &str) -> u64 {
    let v = v
        .strip_suffix('Z')
        .unwrap_or_else(|| panic!("PDT not in UTC: {v}"));
    let (date, time) = v.split_once('T').unwrap();
    let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
    let (hms, ms) = time.split_once('.').unwrap();
    assert_eq!(ms.len(), 3, "PDT with milliseconds: {v}");
    let t: Vec<i64> = hms.split(':').map(|x| x.parse().unwrap()).collect();
    // Days from civil (proleptic Gregorian).
    let (y, m) = if d[1] <= 2 {
        (d[0] - 1, d[1] + 9)
    } else {
        (d[0], d[1] - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let doy = (153 * m + 2) / 5 + d[2] - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    let secs = days * 86_400 + t[0] * 3600 + t[1] * 60 + t[2];
    (secs * 1000 + ms.parse::<i64>().unwrap()) as u64
}
