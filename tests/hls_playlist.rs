//! Playlist rendering rules (RFC 8216) and parsing back.

use std::collections::VecDeque;

use ngx_rtmp::hls::playlist::{format_duration, parse, render};
use ngx_rtmp::hls::{Playlist, PlaylistKind, SegmentEntry};

fn entry(sequence: u64, duration_ms: u64, discontinuity: bool) -> SegmentEntry {
    SegmentEntry {
        sequence,
        id: sequence,
        duration_ms,
        discontinuity,
        independent: true,
        uri: format!("live-{sequence}.ts"),
        map: None,
        program_date_time_ms: None,
        parts: Vec::new(),
    }
}

fn playlist(kind: PlaylistKind, ended: bool) -> Playlist {
    Playlist {
        kind,
        target_duration_s: 4,
        media_sequence: 7,
        discontinuity_sequence: 0,
        entries: VecDeque::from(vec![
            entry(7, 4000, false),
            entry(8, 3967, true),
            entry(9, 1, false),
        ]),
        ended,
        low_latency: None,
    }
}

#[test]
fn live_playlist() {
    let text = render(&playlist(PlaylistKind::Live, false));
    assert_eq!(
        text,
        "#EXTM3U\n\
         #EXT-X-VERSION:3\n\
         #EXT-X-INDEPENDENT-SEGMENTS\n\
         #EXT-X-TARGETDURATION:4\n\
         #EXT-X-MEDIA-SEQUENCE:7\n\
         #EXTINF:4.000,\n\
         live-7.ts\n\
         #EXT-X-DISCONTINUITY\n\
         #EXTINF:3.967,\n\
         live-8.ts\n\
         #EXTINF:0.001,\n\
         live-9.ts\n"
    );
}

#[test]
fn event_and_ended_playlist() {
    let mut p = playlist(PlaylistKind::Event, true);
    p.discontinuity_sequence = 2;
    let text = render(&p);
    assert!(text.starts_with("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:EVENT\n"));
    assert!(text.contains("#EXT-X-DISCONTINUITY-SEQUENCE:2\n"));
    assert!(text.ends_with("live-9.ts\n#EXT-X-ENDLIST\n"));
    // Tags precede the first segment.
    let first_uri = text.find("live-7.ts").unwrap();
    for tag in [
        "#EXT-X-TARGETDURATION",
        "#EXT-X-MEDIA-SEQUENCE",
        "#EXT-X-DISCONTINUITY-SEQUENCE",
    ] {
        assert!(text.find(tag).unwrap() < first_uri);
    }
}

#[test]
fn durations_have_three_decimals() {
    assert_eq!(format_duration(0), "0.000");
    assert_eq!(format_duration(5), "0.005");
    assert_eq!(format_duration(12_340), "12.340");
    assert_eq!(format_duration(4_499), "4.499");
}

#[test]
fn parse_round_trip() {
    let mut p = playlist(PlaylistKind::Live, true);
    p.discontinuity_sequence = 3;
    let text = render(&p);
    let mut back = parse(&text, PlaylistKind::Live).unwrap();
    for e in back.entries.iter_mut() {
        e.id = e.sequence;
    }
    assert_eq!(back, p);
    assert!(parse("not a playlist", PlaylistKind::Live).is_none());
    assert!(parse("#EXTM3U\n#EXTINF:x,\na.ts\n", PlaylistKind::Live).is_none());
    assert!(parse(
        "#EXTM3U\n#EXT-X-TARGETDURATION:4\na.ts\n",
        PlaylistKind::Live
    )
    .is_none());
}

#[test]
fn independent_segments_only_while_every_listed_segment_is() {
    let mut p = playlist(PlaylistKind::Live, false);
    p.entries = VecDeque::from([entry(0, 2000, false), entry(1, 2000, false)]);
    assert!(render(&p).contains("#EXT-X-INDEPENDENT-SEGMENTS\n"));
    p.entries[1].independent = false;
    assert!(
        !render(&p).contains("INDEPENDENT"),
        "a forced cut is listed"
    );
    p.entries.pop_back();
    assert!(
        render(&p).contains("#EXT-X-INDEPENDENT-SEGMENTS\n"),
        "back once it scrolled out"
    );
}

fn fmp4_entry(sequence: u64, discontinuity: bool, init: u64) -> SegmentEntry {
    SegmentEntry {
        uri: format!("live-{sequence}.m4s"),
        map: Some(format!("live-init-{init}.mp4")),
        ..entry(sequence, 4000, discontinuity)
    }
}

#[test]
fn fmp4_playlist_names_its_init_segments_and_needs_version_6() {
    let mut p = playlist(PlaylistKind::Live, true);
    p.entries = VecDeque::from(vec![
        fmp4_entry(7, false, 7),
        fmp4_entry(8, false, 7),
        // A republish with other codecs: a new init segment.
        fmp4_entry(9, true, 9),
        // A republish with the same init: the map is still repeated after the tag.
        fmp4_entry(10, true, 9),
        fmp4_entry(11, false, 9),
    ]);
    let text = render(&p);
    assert_eq!(
        text,
        "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-TARGETDURATION:4\n\
         #EXT-X-MEDIA-SEQUENCE:7\n\
         #EXT-X-MAP:URI=\"live-init-7.mp4\"\n#EXTINF:4.000,\nlive-7.m4s\n\
         #EXTINF:4.000,\nlive-8.m4s\n\
         #EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"live-init-9.mp4\"\n#EXTINF:4.000,\nlive-9.m4s\n\
         #EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"live-init-9.mp4\"\n#EXTINF:4.000,\nlive-10.m4s\n\
         #EXTINF:4.000,\nlive-11.m4s\n#EXT-X-ENDLIST\n"
    );
    let mut back = parse(&text, PlaylistKind::Live).unwrap();
    for e in back.entries.iter_mut() {
        e.id = e.sequence;
    }
    assert_eq!(back.entries, p.entries);
    // Every MAP precedes the first segment it applies to.
    for (i, line) in text.lines().enumerate() {
        if line.starts_with("#EXT-X-MAP") {
            let next_uri = text.lines().skip(i).find(|l| !l.starts_with('#')).unwrap();
            assert!(next_uri.ends_with(".m4s"), "{next_uri}");
        }
    }
}

#[test]
fn ts_playlist_stays_at_version_3() {
    let text = render(&playlist(PlaylistKind::Live, false));
    assert!(text.contains("#EXT-X-VERSION:3\n"), "{text}");
    assert!(!text.contains("EXT-X-MAP"), "{text}");
}
