//! The playlist parser: one media playlist as written (RFC 8216 tags that HLS output uses),
//! tolerant ([`parse_m3u8`] records what is malformed, for playlists read while a server
//! rewrites them) or strict ([`entries`] panics on a malformed entry).

/// One segment of a playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Media sequence number: `#EXT-X-MEDIA-SEQUENCE` plus the position.
    pub seq: u64,
    pub uri: String,
    pub duration_ms: u64,
    /// `#EXT-X-DISCONTINUITY` before it.
    pub discontinuity: bool,
}

#[derive(Debug, Clone, Default)]
pub struct M3u8 {
    pub target: Option<u64>,
    pub media_sequence: u64,
    pub discontinuity_sequence: u64,
    pub independent: bool,
    pub endlist: bool,
    pub entries: Vec<Entry>,
    /// Anything malformed (a partial write would show here).
    pub errors: Vec<String>,
}

/// An `#EXTINF` duration in ms; it must have exactly three decimals (as servers write them).
fn parse_extinf(v: &str) -> Result<u64, String> {
    let v = v.split(',').next().unwrap_or("");
    let (i, f) = v.split_once('.').ok_or("EXTINF must have 3 decimals")?;
    if f.len() != 3 || !f.bytes().all(|b| b.is_ascii_digit()) {
        return Err("EXTINF must have 3 decimals".into());
    }
    let i: u64 = i.parse().map_err(|_| "EXTINF is not a number")?;
    let f: u64 = f.parse().map_err(|_| "EXTINF is not a number")?;
    Ok(i * 1000 + f)
}

/// The playlist and its malformed entries (a bad `#EXTINF`, a URI without one); the
/// document-level problems are in the playlist's `errors` only.
fn parse(text: &str) -> (M3u8, Vec<String>) {
    let mut p = M3u8::default();
    let mut entry_errors = Vec::new();
    if !text.starts_with("#EXTM3U") {
        p.errors.push("does not start with #EXTM3U".into());
    }
    if !text.ends_with('\n') {
        p.errors.push("does not end with a newline".into());
    }
    let mut disc = false;
    let mut dur: Option<u64> = None;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(v) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
            p.target = v.parse().ok();
        } else if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            p.media_sequence = v.parse().unwrap_or(0);
        } else if let Some(v) = line.strip_prefix("#EXT-X-DISCONTINUITY-SEQUENCE:") {
            p.discontinuity_sequence = v.parse().unwrap_or(0);
        } else if line == "#EXT-X-DISCONTINUITY" {
            disc = true;
        } else if line == "#EXT-X-INDEPENDENT-SEGMENTS" {
            p.independent = true;
        } else if line == "#EXT-X-ENDLIST" {
            p.endlist = true;
        } else if let Some(v) = line.strip_prefix("#EXTINF:") {
            dur = match parse_extinf(v) {
                Ok(ms) => Some(ms),
                Err(e) => {
                    entry_errors.push(format!("bad {line}: {e}"));
                    None
                }
            };
        } else if line.starts_with('#') {
            continue;
        } else {
            let seq = p.media_sequence + p.entries.len() as u64;
            match dur.take() {
                Some(duration_ms) => p.entries.push(Entry {
                    seq,
                    uri: line.to_owned(),
                    duration_ms,
                    discontinuity: std::mem::take(&mut disc),
                }),
                None => entry_errors.push(format!("{line} without #EXTINF")),
            }
        }
    }
    if p.target.is_none() {
        p.errors.push("no #EXT-X-TARGETDURATION".into());
    }
    p.errors.extend(entry_errors.iter().cloned());
    (p, entry_errors)
}

/// The playlist with whatever is malformed in `errors`.
pub fn parse_m3u8(text: &str) -> M3u8 {
    parse(text).0
}

/// The entries of a playlist; panics on a malformed entry.
pub fn entries(text: &str) -> Vec<Entry> {
    let (p, entry_errors) = parse(text);
    assert!(entry_errors.is_empty(), "{entry_errors:?} in\n{text}");
    p.entries
}

/// The value of the first line starting with `name` (a tag with its colon).
pub fn tag<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines().find_map(|l| l.strip_prefix(name))
}

/// Playlist lines that are URIs.
pub fn playlist_uris(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}
