//! The HLS rules of the end-to-end tests, checked on a [`Capture`]: what a player gets must
//! decode, carry every frame once, start segments on keyframes, keep timestamps, playlists,
//! MPEG-TS structure and cleanup right. One function per rule; [`check`] runs them all in a
//! fixed order.
//!
//! The checks take no module-specific shortcut: they run unchanged on the output of Debian's
//! C nginx-rtmp-module, which is how `e2e_hls_vs_c` reports what the C module gets wrong.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use super::hls::{decode_errors, ffprobe_packets, frame_md5, Capture, Input, Kind, Packet};
use super::m3u8::{parse_m3u8, Entry, M3u8};
use super::media::{annexb_nal_types, try_adts_frames};
use super::ts::{PacketExt, PesInfo, TsInfo, ST_AAC, ST_H264};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail(String),
    /// Not applicable to this scenario.
    Na,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Pass => f.write_str("pass"),
            Outcome::Fail(_) => f.write_str("FAIL"),
            Outcome::Na => f.write_str("-"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RuleResult {
    pub rule: &'static str,
    pub outcome: Outcome,
}

/// What was published and how the application is configured.
pub struct Scenario<'a> {
    pub label: String,
    /// The inputs published one after the other under the same name.
    pub publishes: Vec<&'a Input>,
    pub fragment_ms: u64,
    pub playlist_length_ms: u64,
    /// Whether the capture lingered long enough after the end to check `hls_cleanup`.
    pub check_cleanup: bool,
    /// Directory for the segment files and concatenations the checks write.
    pub work: PathBuf,
}

/// Results of every rule, in a fixed order.
pub struct Report {
    pub label: String,
    pub results: Vec<RuleResult>,
    pub segments: usize,
}

impl Report {
    pub fn failures(&self) -> Vec<String> {
        self.results
            .iter()
            .filter_map(|r| match &r.outcome {
                Outcome::Fail(d) => Some(format!("[{}] {}: {}", self.label, r.rule, d)),
                _ => None,
            })
            .collect()
    }

    pub fn get(&self, rule: &str) -> Option<&Outcome> {
        self.results
            .iter()
            .find(|r| r.rule == rule)
            .map(|r| &r.outcome)
    }
}

/// Joins up to `n` problem strings.
fn summary(problems: &[String], n: usize) -> String {
    let mut s: Vec<String> = problems.iter().take(n).cloned().collect();
    if problems.len() > n {
        s.push(format!("... {} in all", problems.len()));
    }
    s.join("; ")
}

fn outcome(problems: Vec<String>) -> Outcome {
    if problems.is_empty() {
        Outcome::Pass
    } else {
        Outcome::Fail(summary(&problems, 6))
    }
}

/// Compares decoded frame hashes with the expected ones: equal sequences pass; otherwise says
/// how many are missing, duplicated or out of order.
fn compare_frames(what: &str, expected: &[String], got: &[String]) -> Option<String> {
    if expected == got {
        return None;
    }
    let mut want: HashMap<&str, i64> = HashMap::new();
    for h in expected {
        *want.entry(h).or_default() += 1;
    }
    let mut extra = 0;
    for h in got {
        match want.get_mut(h.as_str()) {
            Some(c) => *c -= 1,
            None => extra += 1,
        }
    }
    let missing: i64 = want.values().filter(|c| **c > 0).sum();
    let dup: i64 = -want.values().filter(|c| **c < 0).sum::<i64>();
    let first_diff = expected.iter().zip(got).position(|(a, b)| a != b);
    Some(format!(
        "{what}: sent {}, got {} ({missing} missing, {dup} duplicated, {extra} unknown; \
         first difference at frame {})",
        expected.len(),
        got.len(),
        first_diff.map_or("-".into(), |i| i.to_string())
    ))
}

struct Seg {
    entry: Entry,
    bytes: Vec<u8>,
    file: PathBuf,
    ts: TsInfo,
    pkts: Vec<Packet>,
    decode: String,
    /// Index of the publish (run) it belongs to, from its timestamps.
    run: usize,
}

impl Seg {
    fn first(&self, video: bool) -> Option<&Packet> {
        self.pkts.iter().find(|p| p.video == video)
    }
    fn last(&self, video: bool) -> Option<&Packet> {
        self.pkts.iter().rev().find(|p| p.video == video)
    }
    /// Timestamp used for continuity: DTS for video, PTS for audio.
    fn t(p: &Packet) -> Option<i64> {
        if p.video {
            p.dts.or(p.pts)
        } else {
            p.pts
        }
    }
    /// Media start: earliest first-frame time over the tracks (video DTS, audio PTS).
    fn start(&self) -> Option<i64> {
        [self.first(true), self.first(false)]
            .into_iter()
            .flatten()
            .filter_map(Seg::t)
            .min()
    }
}

/// Median of the in-segment deltas of a track (its frame duration), 90 kHz.
fn frame_duration(segs: &[Seg], video: bool) -> Option<i64> {
    let mut d = Vec::new();
    for s in segs {
        let ts: Vec<i64> = s
            .pkts
            .iter()
            .filter(|p| p.video == video)
            .filter_map(Seg::t)
            .collect();
        let mut sorted = ts.clone();
        sorted.sort_unstable();
        d.extend(sorted.windows(2).map(|w| w[1] - w[0]).filter(|x| *x > 0));
    }
    d.sort_unstable();
    d.get(d.len() / 2).copied()
}

/// What every rule reads: the capture parsed, each segment probed and decoded, each publish's
/// segments concatenated and decoded frame by frame.
struct Ctx<'a> {
    sc: &'a Scenario<'a>,
    cap: &'a Capture,
    kind: Kind,
    versions: Vec<M3u8>,
    /// Every segment ever listed, by media sequence number.
    by_seq: BTreeMap<u64, Entry>,
    /// Media sequence numbers listed with two different URIs.
    seq_conflicts: Vec<String>,
    segs: Vec<Seg>,
    /// Number of publishes the timestamps show.
    runs: usize,
    /// Decode errors of each publish's concatenated segments.
    concat_errors: Vec<String>,
    /// Decoded frame hashes of the concatenations, publish after publish.
    got_v: Vec<String>,
    got_a: Vec<String>,
    /// TARGETDURATION values seen.
    targets: BTreeSet<u64>,
}

impl<'a> Ctx<'a> {
    fn new(sc: &'a Scenario<'a>, cap: &'a Capture) -> Ctx<'a> {
        let kind = sc.publishes[0].kind;
        fs::create_dir_all(&sc.work).expect("work dir");
        let versions: Vec<M3u8> = cap.versions.iter().map(|v| parse_m3u8(v)).collect();
        let mut by_seq: BTreeMap<u64, Entry> = BTreeMap::new();
        let mut seq_conflicts = Vec::new();
        for v in &versions {
            for e in &v.entries {
                match by_seq.get(&e.seq) {
                    Some(old) if old.uri != e.uri => seq_conflicts
                        .push(format!("sequence {} is {} and {}", e.seq, old.uri, e.uri)),
                    Some(_) => {}
                    None => {
                        by_seq.insert(e.seq, e.clone());
                    }
                }
            }
        }
        let mut segs: Vec<Seg> = Vec::new();
        for e in by_seq.values() {
            let Some(c) = cap.segments.get(&e.uri) else {
                continue;
            };
            let file = sc.work.join(&e.uri);
            fs::write(&file, &c.bytes).expect("write segment copy");
            segs.push(Seg {
                entry: e.clone(),
                bytes: c.bytes.clone(),
                ts: TsInfo::parse(&c.bytes),
                pkts: ffprobe_packets(&file),
                decode: decode_errors(&file),
                file,
                run: 0,
            });
        }

        // Runs (publishes), from the timestamps: a segment starting more than a second before
        // the previous one starts a new publish (each publish restarts its timestamps).
        let mut run = 0;
        let mut prev_start: Option<i64> = None;
        for s in &mut segs {
            let start = s.start();
            if let (Some(p), Some(st)) = (prev_start, start) {
                if st + 90_000 < p {
                    run += 1;
                }
            }
            s.run = run;
            prev_start = start.or(prev_start);
        }
        let runs = run + 1;

        let mut concat_errors = Vec::new();
        let mut got_v = Vec::new();
        let mut got_a = Vec::new();
        for r in 0..runs {
            let bytes: Vec<u8> = segs
                .iter()
                .filter(|s| s.run == r)
                .flat_map(|s| s.bytes.clone())
                .collect();
            let file = sc.work.join(format!("run{r}.ts"));
            fs::write(&file, bytes).expect("write concatenation");
            let e = decode_errors(&file);
            if !e.trim().is_empty() {
                concat_errors.push(format!(
                    "run {r} concatenated: {}",
                    e.trim().replace('\n', " | ")
                ));
            }
            if kind.video() {
                got_v.extend(frame_md5(&file, "v").0);
            }
            if kind.audio() {
                got_a.extend(frame_md5(&file, "a").0);
            }
        }
        let targets = versions.iter().filter_map(|v| v.target).collect();
        Ctx {
            sc,
            cap,
            kind,
            versions,
            by_seq,
            seq_conflicts,
            segs,
            runs,
            concat_errors,
            got_v,
            got_a,
            targets,
        }
    }
}

fn rule(rule: &'static str, outcome: Outcome) -> RuleResult {
    RuleResult { rule, outcome }
}

// --- decoding and frames ------------------------------------------------------------------

fn rule_segments_readable(c: &Ctx) -> RuleResult {
    let produced = if c.segs.is_empty() {
        Outcome::Fail(format!(
            "no segment captured ({} playlist versions)",
            c.cap.versions.len()
        ))
    } else if !c.cap.problems.is_empty() {
        Outcome::Fail(summary(&c.cap.problems, 4))
    } else {
        Outcome::Pass
    };
    rule("segments produced and readable when listed", produced)
}

fn rule_decodes_cleanly(c: &Ctx) -> RuleResult {
    let mut problems = Vec::new();
    for s in &c.segs {
        if !s.decode.trim().is_empty() {
            problems.push(format!(
                "{}: {}",
                s.entry.uri,
                s.decode.trim().replace('\n', " | ")
            ));
        }
    }
    problems.extend(c.concat_errors.iter().cloned());
    rule(
        "ffmpeg -v error decodes every segment with no error",
        outcome(problems),
    )
}

fn rule_one_timeline_per_publish(c: &Ctx) -> RuleResult {
    rule(
        "one timeline per publish",
        if c.runs == c.sc.publishes.len() {
            Outcome::Pass
        } else {
            Outcome::Fail(format!(
                "{} publishes but timestamps show {}",
                c.sc.publishes.len(),
                c.runs
            ))
        },
    )
}

/// Packets of one track over all segments.
fn packets_of(c: &Ctx, video: bool) -> usize {
    c.segs
        .iter()
        .map(|s| s.pkts.iter().filter(|p| p.video == video).count())
        .sum()
}

fn rule_every_video_frame_once(c: &Ctx) -> RuleResult {
    let expected: Vec<String> =
        c.sc.publishes
            .iter()
            .flat_map(|i| i.video_md5.clone())
            .collect();
    rule(
        "every video frame sent is present exactly once",
        if !c.kind.video() {
            match packets_of(c, true) {
                0 => Outcome::Na,
                n => Outcome::Fail(format!("{n} video packets in an audio-only stream")),
            }
        } else {
            compare_frames("video", &expected, &c.got_v).map_or(Outcome::Pass, Outcome::Fail)
        },
    )
}

fn rule_every_audio_frame_once(c: &Ctx) -> RuleResult {
    let expected: Vec<String> =
        c.sc.publishes
            .iter()
            .flat_map(|i| i.audio_md5.clone())
            .collect();
    rule(
        "every audio frame sent is present exactly once",
        if !c.kind.audio() {
            match packets_of(c, false) {
                0 => Outcome::Na,
                n => Outcome::Fail(format!("{n} audio packets in a video-only stream")),
            }
        } else {
            compare_frames("audio", &expected, &c.got_a).map_or(Outcome::Pass, Outcome::Fail)
        },
    )
}

// --- segment starts and boundaries ----------------------------------------------------------

fn rule_keyframe_at_segment_start(c: &Ctx) -> RuleResult {
    const RULE: &str = "every segment starts with a keyframe (IDR)";
    if !c.kind.video() {
        return rule(RULE, Outcome::Na);
    }
    let mut problems = Vec::new();
    for s in &c.segs {
        match s.first(true) {
            Some(p) if p.key => {}
            Some(_) => problems.push(format!(
                "{}: first video packet is not a keyframe",
                s.entry.uri
            )),
            None => problems.push(format!("{}: no video", s.entry.uri)),
        }
        let vpid = s.ts.pid_of(ST_H264);
        if let Some(pes) = s.ts.pes.iter().find(|p| Some(p.pid) == vpid) {
            if !annexb_nal_types(&pes.data).contains(&5) {
                problems.push(format!("{}: first video PES has no IDR", s.entry.uri));
            }
        }
    }
    rule(RULE, outcome(problems))
}

fn rule_timestamps_continuous(c: &Ctx) -> RuleResult {
    let mut problems = Vec::new();
    for video in [true, false] {
        if (video && !c.kind.video()) || (!video && !c.kind.audio()) {
            continue;
        }
        let Some(d) = frame_duration(&c.segs, video) else {
            continue;
        };
        let name = if video { "video DTS" } else { "audio PTS" };
        for w in c.segs.windows(2) {
            if w[0].run != w[1].run {
                continue;
            }
            let (Some(a), Some(b)) = (
                w[0].last(video).and_then(Seg::t),
                w[1].first(video).and_then(Seg::t),
            ) else {
                continue;
            };
            let gap = b - a;
            // One frame later, within 2 ms (FLV timestamps are whole milliseconds).
            if (gap - d).abs() > 180 {
                problems.push(format!(
                    "{} -> {}: {name} {a} then {b} (gap {:.1} ms, frame {:.1} ms)",
                    w[0].entry.uri,
                    w[1].entry.uri,
                    gap as f64 / 90.0,
                    d as f64 / 90.0
                ));
            }
        }
    }
    rule(
        "timestamps continuous across segment boundaries",
        outcome(problems),
    )
}

// --- playlists ----------------------------------------------------------------------------

fn rule_endlist(c: &Ctx) -> RuleResult {
    rule(
        "playlist ends with #EXT-X-ENDLIST",
        match c.versions.last() {
            Some(v) if v.endlist => Outcome::Pass,
            Some(_) => Outcome::Fail("last playlist version has no #EXT-X-ENDLIST".into()),
            None => Outcome::Fail("no playlist".into()),
        },
    )
}

fn rule_playlist_complete(c: &Ctx) -> RuleResult {
    let mut problems = Vec::new();
    for (i, v) in c.versions.iter().enumerate() {
        for e in &v.errors {
            problems.push(format!("version {i}: {e}"));
        }
    }
    rule(
        "every playlist version is complete (atomic write)",
        outcome(problems),
    )
}

fn rule_target_duration_fixed(c: &Ctx) -> RuleResult {
    rule(
        "TARGETDURATION constant across rewrites",
        if c.targets.len() <= 1 {
            Outcome::Pass
        } else {
            Outcome::Fail(format!("values seen: {:?}", c.targets))
        },
    )
}

fn rule_extinf_within_target(c: &Ctx) -> RuleResult {
    let mut problems = Vec::new();
    for (i, v) in c.versions.iter().enumerate() {
        let t = v.target.unwrap_or(0);
        for e in &v.entries {
            let rounded = (e.duration_ms + 500) / 1000;
            if rounded > t {
                problems.push(format!(
                    "version {i}: {} EXTINF {} ms > TARGETDURATION {t}",
                    e.uri, e.duration_ms
                ));
            }
        }
    }
    problems.dedup();
    rule("every rounded EXTINF <= TARGETDURATION", outcome(problems))
}

/// EXTINF against the media: duration = next segment's start - this start; the last of a
/// publish ends with its last frame. Returns (segments off by more than 3 ms, publishes whose
/// sum is off by more than 10 ms).
fn extinf_vs_media(c: &Ctx) -> (Vec<String>, Vec<String>) {
    let dv = frame_duration(&c.segs, true).unwrap_or(3000);
    let da = frame_duration(&c.segs, false).unwrap_or(2090);
    let end_of = |s: &Seg| -> Option<i64> {
        s.pkts
            .iter()
            .filter_map(|p| {
                let t = Seg::t(p)?;
                Some(
                    t + p
                        .duration
                        .filter(|d| *d > 0)
                        .unwrap_or(if p.video { dv } else { da }),
                )
            })
            .max()
    };
    let mut problems = Vec::new();
    let mut sum_problems = Vec::new();
    for r in 0..c.runs {
        let run_segs: Vec<&Seg> = c.segs.iter().filter(|s| s.run == r).collect();
        let mut sum_extinf = 0i64;
        for (i, s) in run_segs.iter().enumerate() {
            let Some(start) = s.start() else { continue };
            let end = match run_segs.get(i + 1) {
                Some(n) => n.start(),
                None => end_of(s),
            };
            let Some(end) = end else { continue };
            let media_ms = (end - start) as f64 / 90.0;
            let extinf = s.entry.duration_ms as f64;
            sum_extinf += s.entry.duration_ms as i64;
            // Timestamps are whole ms in FLV, and a frame's duration is known to ±1 ms.
            if (media_ms - extinf).abs() > 3.0 {
                problems.push(format!(
                    "{}: EXTINF {extinf} ms, media {media_ms:.1} ms",
                    s.entry.uri
                ));
            }
        }
        let (Some(first), Some(last)) = (run_segs.first(), run_segs.last()) else {
            continue;
        };
        if let (Some(a), Some(b)) = (first.start(), end_of(last)) {
            let media = (b - a) as f64 / 90.0;
            if (media - sum_extinf as f64).abs() > 10.0 {
                sum_problems.push(format!(
                    "publish {r}: sum of EXTINF {sum_extinf} ms, media {media:.1} ms"
                ));
            }
        }
    }
    (problems, sum_problems)
}

fn rule_extinf_is_media_duration(c: &Ctx) -> RuleResult {
    rule(
        "EXTINF is each segment's media duration (±3 ms)",
        outcome(extinf_vs_media(c).0),
    )
}

fn rule_extinf_sum_is_media_duration(c: &Ctx) -> RuleResult {
    rule(
        "sum of EXTINF = media duration (±10 ms)",
        outcome(extinf_vs_media(c).1),
    )
}

fn rule_media_sequence_monotonic(c: &Ctx) -> RuleResult {
    let mut problems = c.seq_conflicts.clone();
    for w in c.versions.windows(2) {
        if w[1].media_sequence < w[0].media_sequence {
            problems.push(format!(
                "MEDIA-SEQUENCE went back {} -> {}",
                w[0].media_sequence, w[1].media_sequence
            ));
        }
    }
    rule(
        "MEDIA-SEQUENCE consistent and non-decreasing",
        outcome(problems),
    )
}

/// Republish: the sequence continues.
fn rule_sequence_continues_on_republish(c: &Ctx) -> RuleResult {
    const RULE: &str = "media sequence continues across a republish";
    if c.runs <= 1 {
        return rule(RULE, Outcome::Na);
    }
    let mut problems = Vec::new();
    for w in c.segs.windows(2) {
        if w[1].entry.seq != w[0].entry.seq + 1 {
            problems.push(format!(
                "{} (seq {}) then {} (seq {})",
                w[0].entry.uri, w[0].entry.seq, w[1].entry.uri, w[1].entry.seq
            ));
        }
    }
    rule(RULE, outcome(problems))
}

/// Republish: a DISCONTINUITY marks the new publish.
fn rule_discontinuity_at_republish(c: &Ctx) -> RuleResult {
    const RULE: &str = "#EXT-X-DISCONTINUITY at a republish";
    if c.runs <= 1 {
        return rule(RULE, Outcome::Na);
    }
    let mut problems = Vec::new();
    for w in c.segs.windows(2) {
        if w[0].run != w[1].run && !w[1].entry.discontinuity {
            problems.push(format!("no #EXT-X-DISCONTINUITY before {}", w[1].entry.uri));
        }
    }
    rule(RULE, outcome(problems))
}

/// Nothing but a new publish carries a DISCONTINUITY.
fn rule_no_spurious_discontinuity(c: &Ctx) -> RuleResult {
    let segs = &c.segs;
    let mut problems = Vec::new();
    for (i, s) in segs.iter().enumerate() {
        let new_run = i > 0 && segs[i - 1].run != s.run;
        if s.entry.discontinuity && !new_run {
            problems.push(format!(
                "#EXT-X-DISCONTINUITY before {} without a break in the media",
                s.entry.uri
            ));
        }
    }
    rule("no #EXT-X-DISCONTINUITY without a break", outcome(problems))
}

/// DISCONTINUITY-SEQUENCE: the number of DISCONTINUITY tags that scrolled out.
fn rule_discontinuity_sequence(c: &Ctx) -> RuleResult {
    let disc_seqs: BTreeSet<u64> = c
        .by_seq
        .values()
        .filter(|e| e.discontinuity)
        .map(|e| e.seq)
        .collect();
    let mut problems = Vec::new();
    let mut scrolled_any = false;
    for (i, v) in c.versions.iter().enumerate() {
        let expected = disc_seqs.iter().filter(|s| **s < v.media_sequence).count() as u64;
        scrolled_any |= expected > 0;
        if v.discontinuity_sequence != expected {
            problems.push(format!(
                "version {i} (MEDIA-SEQUENCE {}): DISCONTINUITY-SEQUENCE {} but {expected} tags scrolled out",
                v.media_sequence, v.discontinuity_sequence
            ));
        }
    }
    rule(
        "EXT-X-DISCONTINUITY-SEQUENCE counts scrolled-out discontinuities",
        if scrolled_any || !problems.is_empty() {
            outcome(problems)
        } else {
            Outcome::Na
        },
    )
}

fn rule_independent_segments_tag(c: &Ctx) -> RuleResult {
    rule(
        "#EXT-X-INDEPENDENT-SEGMENTS",
        if !c.kind.video() {
            Outcome::Na
        } else if c.versions.last().is_some_and(|v| v.independent) {
            Outcome::Pass
        } else {
            Outcome::Fail("tag missing".into())
        },
    )
}

/// RFC 8216 4.3.5.1: the tag says every segment listed in that playlist version decodes
/// without the ones before it.
fn rule_independent_segments_true(c: &Ctx) -> RuleResult {
    const RULE: &str = "#EXT-X-INDEPENDENT-SEGMENTS only when true";
    if !c.versions.iter().any(|v| v.independent) {
        return rule(RULE, Outcome::Na);
    }
    let listed_under_tag: HashSet<&str> = c
        .versions
        .iter()
        .filter(|v| v.independent)
        .flat_map(|v| v.entries.iter().map(|e| e.uri.as_str()))
        .collect();
    let mut problems = Vec::new();
    for s in c
        .segs
        .iter()
        .filter(|s| listed_under_tag.contains(s.entry.uri.as_str()))
    {
        let Some(vpid) = s.ts.pid_of(ST_H264) else {
            continue;
        };
        let first =
            s.ts.pes
                .iter()
                .find(|p| p.pid == vpid)
                .map(|p| annexb_nal_types(&p.data));
        let ok = first.is_some_and(|t| {
            let idr = t.iter().position(|x| *x == 5);
            idr.is_some_and(|i| t[..i].contains(&7) && t[..i].contains(&8))
        });
        if !ok {
            problems.push(format!(
                "{} does not start with SPS, PPS and an IDR but is listed under the tag",
                s.entry.uri
            ));
        }
    }
    rule(RULE, outcome(problems))
}

fn rule_segment_complete_when_listed(c: &Ctx) -> RuleResult {
    let mut problems = Vec::new();
    for s in c.cap.segments.values() {
        if s.unchanged_at_end == Some(false) {
            problems.push(format!("{} changed after it was listed", s.uri));
        }
    }
    rule(
        "a segment is complete on disk when listed",
        outcome(problems),
    )
}

// --- MPEG-TS ------------------------------------------------------------------------------

fn rule_pat_pmt_first(c: &Ctx) -> RuleResult {
    let mut problems = Vec::new();
    for s in &c.segs {
        if let Some(e) = &s.ts.error {
            problems.push(format!("{}: {e}", s.entry.uri));
            continue;
        }
        let pids: Vec<u16> = s.ts.packets.iter().take(2).map(|p| p.pid()).collect();
        if pids.len() < 2 || pids[0] != 0 || Some(pids[1]) != s.ts.pmt_pid {
            problems.push(format!("{}: first packets are PIDs {pids:?}", s.entry.uri));
        }
    }
    rule("PAT and PMT first in every segment", outcome(problems))
}

fn rule_pmt_lists_published_tracks(c: &Ctx) -> RuleResult {
    let mut problems = Vec::new();
    for s in &c.segs {
        let v = s.ts.pid_of(ST_H264).is_some();
        let a = s.ts.pid_of(ST_AAC).is_some();
        if v != c.kind.video()
            || a != c.kind.audio()
            || s.ts.streams.len() != usize::from(v) + usize::from(a)
        {
            problems.push(format!("{}: PMT lists {:x?}", s.entry.uri, s.ts.streams));
        }
    }
    rule(
        "PMT lists exactly the published tracks (no phantom PID)",
        outcome(problems),
    )
}

/// Continuity counter breaks per PID, within segments and across boundaries (not across a
/// republish, where a reset is legitimate): (within, across).
fn cc_breaks(c: &Ctx) -> (Vec<String>, Vec<String>) {
    let segs = &c.segs;
    let mut within = Vec::new();
    let mut across = Vec::new();
    let mut last_cc: HashMap<u16, u8> = HashMap::new();
    for (i, s) in segs.iter().enumerate() {
        if i > 0 && segs[i - 1].run != s.run {
            last_cc.clear();
        }
        let mut seen_here: BTreeSet<u16> = BTreeSet::new();
        for p in &s.ts.packets {
            let (pid, cc) = (p.pid(), p.cc());
            if let Some(prev) = last_cc.get(&pid) {
                let want = if p.has_payload() {
                    (prev + 1) & 15
                } else {
                    *prev
                };
                if cc != want {
                    let msg = format!("{} PID 0x{pid:x}: CC {cc} after {prev}", s.entry.uri);
                    if seen_here.contains(&pid) {
                        within.push(msg);
                    } else {
                        across.push(msg);
                    }
                }
            }
            seen_here.insert(pid);
            last_cc.insert(pid, cc);
        }
    }
    (within, across)
}

fn rule_cc_within_segments(c: &Ctx) -> RuleResult {
    rule(
        "continuity counters continuous within segments",
        outcome(cc_breaks(c).0),
    )
}

fn rule_cc_across_segments(c: &Ctx) -> RuleResult {
    let across = cc_breaks(c).1;
    rule(
        "continuity counters continue across segments",
        if across.is_empty() {
            Outcome::Pass
        } else {
            Outcome::Fail(format!(
                "{} breaks at segment starts: {}",
                across.len(),
                summary(&across, 3)
            ))
        },
    )
}

/// PCR on the PCR PID: gaps over 100 ms (also across boundaries, not across a republish) or
/// segments without one, and PES whose DTS is behind the PCR before them.
struct PcrScan {
    gaps: Vec<String>,
    ahead: Vec<String>,
    max_gap: u64,
}

fn pcr_scan(c: &Ctx) -> PcrScan {
    let segs = &c.segs;
    let mut scan = PcrScan {
        gaps: Vec::new(),
        ahead: Vec::new(),
        max_gap: 0,
    };
    let mut last_pcr: Option<u64> = None;
    for (i, s) in segs.iter().enumerate() {
        if i > 0 && segs[i - 1].run != s.run {
            last_pcr = None;
        }
        let mut n_pcr = 0;
        let pes_at: HashMap<usize, &PesInfo> =
            s.ts.pes.iter().map(|p| (p.first_packet, p)).collect();
        for (k, p) in s.ts.packets.iter().enumerate() {
            if let Some(pcr) = p.pcr().filter(|_| Some(p.pid()) == s.ts.pcr_pid) {
                if let Some(prev) = last_pcr {
                    let gap = pcr.wrapping_sub(prev) & ((1 << 33) - 1);
                    scan.max_gap = scan.max_gap.max(gap);
                    if gap > 9_000 {
                        scan.gaps.push(format!(
                            "{}: PCR gap {:.0} ms",
                            s.entry.uri,
                            gap as f64 / 90.0
                        ));
                    }
                }
                last_pcr = Some(pcr);
                n_pcr += 1;
            }
            if let (Some(pes), Some(pcr)) = (pes_at.get(&k), last_pcr) {
                if let Some(t) = pes.decode_ts() {
                    if pcr > 1 << 32 && t < 1 << 32 {
                        scan.ahead.push(format!(
                            "{}: PCR is negative ({:.0} ms, wrapped to {pcr}) before DTS {t}",
                            s.entry.uri,
                            -(((1u64 << 33) - pcr) as f64) / 90.0
                        ));
                    } else if t < pcr {
                        scan.ahead.push(format!(
                            "{}: PES on 0x{:x} with DTS {t} < PCR {pcr}",
                            s.entry.uri, pes.pid
                        ));
                    }
                }
            }
        }
        if n_pcr == 0 {
            scan.gaps.push(format!(
                "{}: no PCR on the PCR PID {:?}",
                s.entry.uri, s.ts.pcr_pid
            ));
        }
    }
    scan
}

fn rule_pcr_interval(c: &Ctx) -> RuleResult {
    let scan = pcr_scan(c);
    rule(
        "PCR at least every 100 ms",
        if scan.gaps.is_empty() {
            Outcome::Pass
        } else {
            Outcome::Fail(format!(
                "max gap {:.0} ms; {}",
                scan.max_gap as f64 / 90.0,
                summary(&scan.gaps, 3)
            ))
        },
    )
}

fn rule_pcr_not_ahead_of_dts(c: &Ctx) -> RuleResult {
    rule(
        "PCR never negative nor ahead of DTS",
        outcome(pcr_scan(c).ahead),
    )
}

/// Problems of the video PES: (keyframes without random_access_indicator, Annex-B order,
/// PES headers).
fn video_pes_problems(c: &Ctx) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut rai = Vec::new();
    let mut nal = Vec::new();
    let mut pts_dts = Vec::new();
    for s in &c.segs {
        // The reader stops at a malformed PES header (and says so).
        if let Some(e) = &s.ts.error {
            pts_dts.push(format!("{}: bad PES header or packet ({e})", s.entry.uri));
        }
        let Some(vpid) = s.ts.pid_of(ST_H264) else {
            continue;
        };
        for pes in s.ts.pes.iter().filter(|p| p.pid == vpid) {
            let types = annexb_nal_types(&pes.data);
            let idr = types.iter().position(|t| *t == 5);
            if idr.is_some() && !pes.random_access {
                rai.push(format!(
                    "{}: keyframe PES without random_access_indicator",
                    s.entry.uri
                ));
            }
            if types.first() != Some(&9) {
                nal.push(format!(
                    "{}: access unit does not start with an AUD ({types:?})",
                    s.entry.uri
                ));
            }
            if let Some(i) = idr {
                if !types[..i].contains(&7) || !types[..i].contains(&8) {
                    nal.push(format!(
                        "{}: IDR without SPS and PPS before it ({types:?})",
                        s.entry.uri
                    ));
                }
            }
            match (pes.pts, pes.dts) {
                (Some(p), Some(d)) if p < d => pts_dts.push(format!("{}: PTS < DTS", s.entry.uri)),
                (None, _) => pts_dts.push(format!("{}: video PES without PTS", s.entry.uri)),
                _ => {}
            }
        }
    }
    (rai, nal, pts_dts)
}

fn rule_random_access_on_keyframes(c: &Ctx) -> RuleResult {
    const RULE: &str = "random_access_indicator on every keyframe";
    if !c.kind.video() {
        return rule(RULE, Outcome::Na);
    }
    rule(RULE, outcome(video_pes_problems(c).0))
}

fn rule_annexb_aud_sps_pps(c: &Ctx) -> RuleResult {
    const RULE: &str = "Annex-B: AUD first, SPS+PPS before every IDR";
    if !c.kind.video() {
        return rule(RULE, Outcome::Na);
    }
    rule(RULE, outcome(video_pes_problems(c).1))
}

fn rule_video_pes_headers(c: &Ctx) -> RuleResult {
    const RULE: &str = "video PES headers: PTS present, PTS >= DTS";
    if !c.kind.video() {
        return rule(RULE, Outcome::Na);
    }
    rule(RULE, outcome(video_pes_problems(c).2))
}

fn rule_audio_adts_with_pts(c: &Ctx) -> RuleResult {
    const RULE: &str = "audio PES: ADTS frames with PTS";
    if !c.kind.audio() {
        return rule(RULE, Outcome::Na);
    }
    let mut problems = Vec::new();
    for s in &c.segs {
        let Some(apid) = s.ts.pid_of(ST_AAC) else {
            continue;
        };
        for pes in s.ts.pes.iter().filter(|p| p.pid == apid) {
            if let Err(e) = try_adts_frames(&pes.data) {
                problems.push(format!("{}: {e}", s.entry.uri));
            }
            if pes.pts.is_none() {
                problems.push(format!("{}: audio PES without PTS", s.entry.uri));
            }
        }
    }
    rule(RULE, outcome(problems))
}

// --- cleanup ------------------------------------------------------------------------------

fn rule_cleanup_keeps_segments(c: &Ctx) -> RuleResult {
    const RULE: &str = "segments stay on disk TARGETDURATION + playlist length after leaving";
    if !c.sc.check_cleanup {
        return rule(RULE, Outcome::Na);
    }
    let target_ms = c.targets.iter().next().copied().unwrap_or(0) * 1000;
    let keep = Duration::from_millis(target_ms + c.sc.playlist_length_ms);
    // Polling granularity, scheduling of the poller thread, nginx's timer resolution.
    let slack = Duration::from_millis(500);
    let mut problems = Vec::new();
    for s in c.cap.segments.values() {
        if let (Some(left), Some(del)) = (s.left_at, s.deleted_at) {
            if del + slack < left + keep {
                problems.push(format!(
                    "{} deleted {:.1} s after leaving the playlist (< {:.1} s)",
                    s.uri,
                    del.saturating_duration_since(left).as_secs_f64(),
                    keep.as_secs_f64()
                ));
            }
        }
    }
    rule(RULE, outcome(problems))
}

fn rule_cleanup_removes_files(c: &Ctx) -> RuleResult {
    const RULE: &str = "cleanup removes a stream's files after it ends";
    if !c.sc.check_cleanup {
        return rule(RULE, Outcome::Na);
    }
    let mut problems = Vec::new();
    if !c.cap.files_at_end.is_empty() {
        problems.push(format!("left behind: {:?}", c.cap.files_at_end));
    }
    rule(RULE, outcome(problems))
}

/// Every rule, in the order of the report.
const RULES: [fn(&Ctx) -> RuleResult; 33] = [
    rule_segments_readable,
    rule_decodes_cleanly,
    rule_one_timeline_per_publish,
    rule_every_video_frame_once,
    rule_every_audio_frame_once,
    rule_keyframe_at_segment_start,
    rule_timestamps_continuous,
    rule_endlist,
    rule_playlist_complete,
    rule_target_duration_fixed,
    rule_extinf_within_target,
    rule_extinf_is_media_duration,
    rule_extinf_sum_is_media_duration,
    rule_media_sequence_monotonic,
    rule_sequence_continues_on_republish,
    rule_discontinuity_at_republish,
    rule_no_spurious_discontinuity,
    rule_discontinuity_sequence,
    rule_independent_segments_tag,
    rule_independent_segments_true,
    rule_segment_complete_when_listed,
    rule_pat_pmt_first,
    rule_pmt_lists_published_tracks,
    rule_cc_within_segments,
    rule_cc_across_segments,
    rule_pcr_interval,
    rule_pcr_not_ahead_of_dts,
    rule_random_access_on_keyframes,
    rule_annexb_aud_sps_pps,
    rule_video_pes_headers,
    rule_audio_adts_with_pts,
    rule_cleanup_keeps_segments,
    rule_cleanup_removes_files,
];

/// Runs every HLS rule on a capture.
pub fn check(sc: &Scenario, cap: &Capture) -> Report {
    let c = Ctx::new(sc, cap);
    Report {
        label: sc.label.clone(),
        results: RULES.iter().map(|r| r(&c)).collect(),
        segments: c.segs.len(),
    }
}

pub fn table(reports: &[&Report]) -> String {
    let mut rules: Vec<&'static str> = Vec::new();
    for r in reports {
        for x in &r.results {
            if !rules.contains(&x.rule) {
                rules.push(x.rule);
            }
        }
    }
    let w = rules.iter().map(|r| r.len()).max().unwrap_or(10);
    let mut s = format!("{:w$}", "rule");
    for r in reports {
        s.push_str(&format!(" | {:>10}", r.label));
    }
    s.push('\n');
    for rule in rules {
        s.push_str(&format!("{rule:w$}"));
        for r in reports {
            let o = r.get(rule).map_or("?".to_owned(), |o| o.to_string());
            s.push_str(&format!(" | {o:>10}"));
        }
        s.push('\n');
    }
    s
}
