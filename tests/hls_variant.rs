//! `HlsStream` as a member of a variant group, on synthetic frames: aligned cuts and
//! numbering, the status file, the measurement, and the master rendered from statuses.

mod support;

use ngx_rtmp::hls::{status_path, HlsConfig, HlsStream, MemberStatus, VariantGroup, VariantSpec};
use support::fileops::*;
use support::m3u8::{entries, tag};
use support::media::*;

fn config(nested: bool) -> HlsConfig {
    HlsConfig {
        fragment_ms: 2_000,
        playlist_length_ms: 10_000,
        nested,
        ..HlsConfig::default()
    }
}

fn member(name: &str) -> HlsStream {
    let mut s = HlsStream::new(config(false), name, None, now(0)).unwrap();
    s.set_group_member();
    s
}

fn media_sequence(text: &str) -> u64 {
    tag(text, "#EXT-X-MEDIA-SEQUENCE:")
        .unwrap()
        .parse()
        .unwrap()
}

/// The media playlist as last written (`Fs::last_playlist` may be the status file).
fn playlist<'a>(fs: &'a Fs, name: &str) -> &'a str {
    let text = fs.files.get(&format!("{name}.m3u8")).expect("playlist");
    std::str::from_utf8(text).unwrap()
}

fn status(fs: &Fs, name: &str) -> MemberStatus {
    let text = fs
        .files
        .get(status_path(name).as_str())
        .expect("status file");
    MemberStatus::parse(std::str::from_utf8(text).unwrap()).expect("status parses")
}

#[test]
fn late_member_numbers_by_the_fragment_grid() {
    let d = demuxer(true, true);
    // Keyframes every second; the early member starts at 0, the late one at 7 s.
    let frames = av_frames(0, 20_000, 25, 1_000, true, true);
    let (mut early, mut late) = (member("cam_hi"), member("cam_low"));
    let (mut fe, mut fl) = (Fs::default(), Fs::default());
    feed(&mut early, &d, &mut fe, &frames, 0);
    let late_frames: Vec<_> = frames.iter().filter(|f| f.dts >= 7_000).cloned().collect();
    feed(&mut late, &d, &mut fl, &late_frames, 0);
    let (pe, pl) = (playlist(&fe, "cam_hi"), playlist(&fl, "cam_low"));
    let (ee, el) = (entries(pe), entries(pl));
    // Cut on the 2 s grid; the late member's first segment starts at 8 s: number 4.
    assert!(
        ee.iter().all(|e| e.duration_ms.abs_diff(2_000) < 50),
        "{pe}"
    );
    let late_first = media_sequence(pl);
    let early_first = media_sequence(pe);
    let late_last = late_first + el.len() as u64 - 1;
    let early_last = early_first + ee.len() as u64 - 1;
    assert_eq!(late_last, early_last, "early:\n{pe}\nlate:\n{pl}");
    assert!(
        fl.closed.first().unwrap().ends_with("cam_low-4.ts"),
        "{:?}",
        fl.closed
    );
}

#[test]
fn republish_never_goes_backwards() {
    let d = demuxer(true, true);
    let mut s = member("cam_mid");
    let mut fs = Fs::default();
    feed(
        &mut s,
        &d,
        &mut fs,
        &av_frames(20_000, 6_000, 25, 2_000, true, true),
        0,
    );
    s.finish(now(30_000)).unwrap();
    fs.drain(&mut s);
    assert!(status(&fs, "cam_mid").ended);
    let before = playlist(&fs, "cam_mid").to_owned();
    let last = media_sequence(&before) + entries(&before).len() as u64 - 1;
    assert!(last >= 12, "{before}");
    // The encoder restarts at timestamp 0: numbering continues.
    let mut again = HlsStream::new(config(false), "cam_mid", Some(&before), now(40_000)).unwrap();
    again.set_group_member();
    feed(
        &mut again,
        &d,
        &mut fs,
        &av_frames(0, 6_000, 25, 2_000, true, true),
        40_000,
    );
    let after = playlist(&fs, "cam_mid");
    let seqs: Vec<u64> = (0..entries(after).len() as u64)
        .map(|i| media_sequence(after) + i)
        .collect();
    assert!(seqs.contains(&(last + 1)), "{after}");
    assert!(!status(&fs, "cam_mid").ended);
}

#[test]
fn status_carries_the_measurement_and_renders_a_master() {
    let d = demuxer(true, true);
    let mut s = member("cam_hi");
    let mut fs = Fs::default();
    assert_eq!(s.variant_info(), None);
    feed(
        &mut s,
        &d,
        &mut fs,
        &av_frames(0, 9_000, 25, 1_000, true, true),
        0,
    );
    let info = s.variant_info().unwrap();
    assert_eq!(info.codecs.as_deref(), Some("avc1.64000D,mp4a.40.2"));
    assert_eq!(info.resolution, Some((320, 240)));
    assert!(info.bandwidth_peak >= info.bandwidth_avg && info.bandwidth_avg > 0);
    // Peak = the largest segment's bytes × 8 / its EXTINF.
    let text = playlist(&fs, "cam_hi").to_owned();
    let peak = entries(&text)
        .iter()
        .map(|e| {
            let path = e.uri.clone();
            fs.segment(&path).len() as u64 * 8_000 / e.duration_ms
        })
        .max()
        .unwrap();
    assert!(
        info.bandwidth_peak.abs_diff(peak) <= peak / 100,
        "{peak} {info:?}"
    );
    let st = status(&fs, "cam_hi");
    assert_eq!(st.info.as_ref(), Some(&info));
    assert!(st.is_live(now(9_000).unix_ms));

    let specs = vec![
        VariantSpec::parse("_low", &["BANDWIDTH=288000"]).unwrap(),
        VariantSpec::parse("_hi", &["PROGRAM-ID=1"]).unwrap(),
    ];
    let g = VariantGroup::of_hls_variant(&config(true), &specs, "cam_hi").unwrap();
    let master = g
        .render_master(&[None, Some(st)], now(9_000).unix_ms)
        .unwrap();
    assert!(
        master.contains("CODECS=\"avc1.64000D,mp4a.40.2\",RESOLUTION=320x240"),
        "{master}"
    );
    assert!(master.ends_with("\ncam_hi/index.m3u8\n"), "{master}");
    assert!(!master.contains("PROGRAM-ID"));
}

#[test]
fn non_members_are_unchanged() {
    let d = demuxer(true, true);
    let mut s = HlsStream::new(config(false), "plain", None, now(0)).unwrap();
    let mut fs = Fs::default();
    feed(
        &mut s,
        &d,
        &mut fs,
        &av_frames(7_000, 9_000, 25, 1_000, true, true),
        0,
    );
    assert_eq!(media_sequence(playlist(&fs, "plain")), 0);
    assert!(fs.files.keys().all(|k| !k.ends_with(".variant")));
}
