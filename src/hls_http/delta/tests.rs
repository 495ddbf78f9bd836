use super::*;
use crate::hls_http::state::PlaylistState;

/// A low-latency playlist of `n` 2 s segments of four 0.5 s parts from `first`, with an
/// open segment of two parts.
fn ll(first: u64, n: u64, map: bool) -> String {
    let mut s = String::from(
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-PART-INF:PART-TARGET=0.5\n\
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.5,CAN-SKIP-UNTIL=12\n",
    );
    s.push_str(&format!("#EXT-X-MEDIA-SEQUENCE:{first}\n"));
    if map {
        s.push_str("#EXT-X-MAP:URI=\"cam-init-1.mp4\"\n");
    }
    for m in first..first + n {
        if m == first + 3 {
            s.push_str("#EXT-X-DISCONTINUITY\n");
        }
        s.push_str(&format!(
            "#EXT-X-PROGRAM-DATE-TIME:2026-12-07T08:00:{:02}.000Z\n",
            (m * 2) % 60
        ));
        for p in 0..4 {
            let ind = if p == 0 { ",INDEPENDENT=YES" } else { "" };
            s.push_str(&format!(
                "#EXT-X-PART:DURATION=0.500,URI=\"cam-{m}.{p}.ts\"{ind}\n"
            ));
        }
        s.push_str(&format!("#EXTINF:2.000,\ncam-{m}.ts\n"));
    }
    let open = first + n;
    s.push_str(&format!(
        "#EXT-X-PART:DURATION=0.500,URI=\"cam-{open}.0.ts\",INDEPENDENT=YES\n\
#EXT-X-PART:DURATION=0.500,URI=\"cam-{open}.1.ts\"\n\
#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"cam-{open}.2.ts\"\n"
    ));
    s
}

/// The delta with its skip tag replaced by the skipped segments' lines and the version
/// restored: it must be the full playlist again.
fn restore(delta: &str, full: &str, skipped: usize) -> String {
    let full_lines: Vec<&str> = full.lines().collect();
    // The skipped lines of the full playlist: from the first segment tag to the URI line of
    // the n-th segment.
    let start = full_lines
        .iter()
        .position(|l| {
            l.starts_with("#EXT-X-MAP")
                || l.starts_with("#EXT-X-PROGRAM-DATE-TIME")
                || l.starts_with("#EXT-X-DISCONTINUITY")
        })
        .unwrap();
    let mut uris = 0;
    let mut end = start;
    for (i, l) in full_lines.iter().enumerate().skip(start) {
        if !l.starts_with('#') {
            uris += 1;
            if uris == skipped {
                end = i + 1;
                break;
            }
        }
    }
    let version = full_lines
        .iter()
        .find(|l| l.starts_with("#EXT-X-VERSION"))
        .unwrap();
    let mut out = Vec::new();
    let mut carried_map = false;
    for l in delta.lines() {
        if l.starts_with("#EXT-X-SKIP:") {
            out.extend_from_slice(&full_lines[start..end]);
            carried_map = true;
        } else if l.starts_with("#EXT-X-VERSION") {
            out.push(version);
        } else if carried_map && l.starts_with("#EXT-X-MAP") {
            carried_map = false;
        } else {
            out.push(l);
            carried_map = false;
        }
    }
    out.join("\n") + "\n"
}

#[test]
fn delta_is_the_full_playlist_minus_the_skipped_segments() {
    // 10 segments of 2 s and 1 s of open parts: 21 s; skip boundary 12 s before the end is
    // at 9 s: segments ending at or before it (the first four) are skipped.
    let full = ll(20, 10, false);
    let d = delta(&full, Skip::Yes).unwrap();
    assert!(d.contains("\n#EXT-X-SKIP:SKIPPED-SEGMENTS=4\n"), "{d}");
    assert!(d.contains("#EXT-X-VERSION:9\n"));
    assert!(!d.contains("cam-23.ts") && d.contains("cam-24.ts"));
    assert!(!d.contains("#EXT-X-DISCONTINUITY"));
    assert_eq!(restore(&d, &full, 4), full);
    // The state a client reads from it is the full playlist's live edge.
    let (sd, sf) = (PlaylistState::parse(&d), PlaylistState::parse(&full));
    assert_eq!((sd.last, sd.media_sequence), (sf.last, sf.media_sequence));
    assert_eq!(sd.preload_hint, sf.preload_hint);
}

#[test]
fn v2_raises_the_version_to_10_and_names_no_removed_dateranges() {
    let full = ll(0, 12, false).replace("#EXT-X-VERSION:7\n", "#EXT-X-VERSION:11\n");
    let d = delta(&full, Skip::V2).unwrap();
    assert!(d.contains("#EXT-X-SKIP:SKIPPED-SEGMENTS=6,RECENTLY-REMOVED-DATERANGES=\"\"\n"));
    assert!(d.contains("#EXT-X-VERSION:11\n"));
    assert_eq!(restore(&d, &full, 6), full);
}

#[test]
fn the_initialization_section_in_force_is_kept() {
    let full = ll(0, 10, true);
    let d = delta(&full, Skip::Yes).unwrap();
    let skip = d.find("#EXT-X-SKIP").unwrap();
    assert_eq!(
        d[skip..].lines().nth(1),
        Some("#EXT-X-MAP:URI=\"cam-init-1.mp4\"")
    );
    assert_eq!(restore(&d, &full, 4), full);
}

#[test]
fn no_delta_without_can_skip_until_or_old_segments() {
    let full = ll(0, 10, false);
    let without = full.replace(",CAN-SKIP-UNTIL=12", "");
    assert_eq!(delta(&without, Skip::Yes), None);
    // 6 segments: 13 s, boundary at 1 s: nothing ends before it.
    assert_eq!(delta(&ll(0, 6, false), Skip::Yes), None);
    assert_eq!(delta("", Skip::Yes), None);
    assert_eq!(delta("#EXTM3U\n#EXTINF:x,\na.ts\n", Skip::Yes), None);
}

#[test]
fn a_playlist_without_version_gets_one() {
    let full = ll(0, 10, false).replace("#EXT-X-VERSION:7\n", "");
    let d = delta(&full, Skip::Yes).unwrap();
    assert!(d.starts_with("#EXTM3U\n#EXT-X-VERSION:9\n"), "{d}");
}
