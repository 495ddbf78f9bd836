//! Playlist delta updates (RFC 8216bis, 6.2.5.1): for `_HLS_skip=YES|v2` on a playlist with
//! `CAN-SKIP-UNTIL`, the full playlist with the media segments that end before the Skip
//! Boundary (that long before the end of the playlist) replaced by one
//! `#EXT-X-SKIP:SKIPPED-SEGMENTS=n`, and `EXT-X-VERSION` raised to what the tag needs
//! (9, or 10 with `RECENTLY-REMOVED-DATERANGES`). Everything else is the full playlist's text,
//! line for line.

use super::query::Skip;
use super::state::{attr, seconds_ms};

/// Tags that belong to the media segment that follows them.
fn is_segment_tag(name: &str) -> bool {
    matches!(
        name,
        "EXTINF"
            | "EXT-X-PART"
            | "EXT-X-PROGRAM-DATE-TIME"
            | "EXT-X-DISCONTINUITY"
            | "EXT-X-BYTERANGE"
            | "EXT-X-GAP"
            | "EXT-X-BITRATE"
            | "EXT-X-DATERANGE"
            | "EXT-X-KEY"
            | "EXT-X-MAP"
    )
}

fn tag(line: &str) -> Option<(&str, &str)> {
    let t = line.strip_prefix('#')?;
    Some(t.split_once(':').unwrap_or((t, "")))
}

fn is_map(line: &str) -> bool {
    tag(line.trim()).is_some_and(|(n, _)| n == "EXT-X-MAP")
}

/// One complete media segment: its lines `start..end` and its duration.
struct Block {
    start: usize,
    end: usize,
    duration_ms: u64,
}

/// The delta update of `full` for `skip`, or `None` when the playlist offers none
/// (no `CAN-SKIP-UNTIL`) or no segment is old enough to skip: the full playlist is the answer
/// then.
pub fn delta(full: &str, skip: Skip) -> Option<String> {
    let lines: Vec<&str> = full.lines().collect();
    let mut skip_until_ms = None;
    let mut blocks = Vec::new();
    let mut open: Option<usize> = None;
    let mut extinf_ms: Option<u64> = None;
    let mut open_parts_ms = 0u64;
    for (i, line) in lines.iter().enumerate() {
        let line = line.trim();
        if let Some((name, value)) = tag(line) {
            if name == "EXT-X-SERVER-CONTROL" {
                skip_until_ms = attr(value, "CAN-SKIP-UNTIL").and_then(seconds_ms);
            }
            if is_segment_tag(name) {
                open.get_or_insert(i);
                if name == "EXTINF" {
                    let d = value.split(',').next().unwrap_or("");
                    extinf_ms = Some(seconds_ms(d)?);
                }
                if name == "EXT-X-PART" {
                    open_parts_ms += attr(value, "DURATION").and_then(seconds_ms).unwrap_or(0);
                }
            }
        } else if !line.is_empty() {
            if let (Some(start), Some(duration_ms)) = (open, extinf_ms) {
                blocks.push(Block {
                    start,
                    end: i + 1,
                    duration_ms,
                });
                open = None;
                extinf_ms = None;
                open_parts_ms = 0;
            }
        }
    }
    let skip_until_ms = skip_until_ms?;
    let total_ms = blocks.iter().map(|b| b.duration_ms).sum::<u64>() + open_parts_ms;
    let boundary_ms = total_ms.checked_sub(skip_until_ms)?;
    let mut end_ms = 0;
    let skipped = blocks
        .iter()
        .take_while(|b| {
            end_ms += b.duration_ms;
            end_ms <= boundary_ms
        })
        .count();
    let (first, last) = (blocks.first()?, blocks.get(skipped.checked_sub(1)?)?);
    // The client keeps the skipped segments' initialization section from its last reload,
    // but the segments after the skip need the one in force to be named in this text.
    let kept_has_map = blocks
        .get(skipped)
        .and_then(|b| lines.get(b.start..b.end))
        .is_some_and(|ls| ls.iter().any(|l| is_map(l)));
    let carried_map = lines
        .get(first.start..last.end)
        .unwrap_or_default()
        .iter()
        .rev()
        .find(|l| is_map(l))
        .filter(|_| !kept_has_map);

    let need = match skip {
        Skip::Yes => 9,
        Skip::V2 => 10,
    };
    let mut out = String::with_capacity(full.len());
    let mut versioned = false;
    for line in lines.get(..first.start).unwrap_or_default() {
        match tag(line.trim()) {
            Some(("EXT-X-VERSION", v)) => {
                let v = v.trim().parse::<u64>().unwrap_or(0).max(need);
                out.push_str(&format!("#EXT-X-VERSION:{v}\n"));
                versioned = true;
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    if !versioned {
        // The version must be declared: right after `#EXTM3U`.
        let at = out.find('\n').map_or(out.len(), |i| i + 1);
        out.insert_str(at, &format!("#EXT-X-VERSION:{need}\n"));
    }
    out.push_str(&format!("#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped}"));
    if skip == Skip::V2 {
        out.push_str(",RECENTLY-REMOVED-DATERANGES=\"\"");
    }
    out.push('\n');
    if let Some(map) = carried_map {
        out.push_str(map);
        out.push('\n');
    }
    for line in lines.get(last.end..).unwrap_or_default() {
        out.push_str(line);
        out.push('\n');
    }
    Some(out)
}

#[cfg(test)]
mod tests;
