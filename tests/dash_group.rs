//! A group of DASH streams (a source and its renditions) as one MPD: followers cut at the
//! leader's instants and list the leader's times, the group's MPD holds one video adaptation
//! set with a representation per live member, members leave when they stop or stall. On
//! synthetic frames, then on real encodes (the source and two renditions scaled by FFmpeg
//! with `-copyts -force_key_frames source`) played back by FFmpeg's DASH demuxer.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use bytes::Bytes;
use ngx_rtmp::dash::{DashConfig, DashGroup, DashStream, SharedDashGroup};
use ngx_rtmp::files::FileOp;
use ngx_rtmp::media::{Demuxer, Frame, Track};
use support::fileops::Disk;
use support::media::{av_frames, demuxer, hex, now, AAC_SEQ, X264_HIGH444_SEQ};
use support::xml::{parse, Element};

// ---- the MPD, read back ----

#[derive(Debug, Clone, PartialEq)]
struct Rep {
    id: String,
    attrs: BTreeMap<String, String>,
    media: String,
    init: String,
    timeline: Vec<(u64, u64)>,
}

#[derive(Debug, Clone, PartialEq)]
struct Set {
    content: String,
    attrs: BTreeMap<String, String>,
    reps: Vec<Rep>,
}

#[derive(Debug, Clone)]
struct Manifest {
    kind: String,
    sets: Vec<Set>,
}

impl Manifest {
    fn parse(text: &str) -> Self {
        let root = parse(text).unwrap_or_else(|e| panic!("MPD is not XML: {e}\n{text}"));
        assert_eq!(root.name, "MPD");
        let period = root.first("Period").expect("no Period");
        let sets = period
            .all("AdaptationSet")
            .map(|s| Set {
                content: s.attr("contentType").unwrap().to_owned(),
                attrs: s.attrs.clone(),
                reps: s.all("Representation").map(rep).collect(),
            })
            .collect();
        Self {
            kind: root.attr("type").unwrap().to_owned(),
            sets,
        }
    }

    fn set(&self, content: &str) -> Option<&Set> {
        self.sets.iter().find(|s| s.content == content)
    }

    fn video_ids(&self) -> Vec<String> {
        self.set("video")
            .map(|s| s.reps.iter().map(|r| r.id.clone()).collect())
            .unwrap_or_default()
    }
}

fn rep(r: &Element) -> Rep {
    let tpl = r.first("SegmentTemplate").expect("no SegmentTemplate");
    let mut timeline: Vec<(u64, u64)> = Vec::new();
    for s in tpl.first("SegmentTimeline").unwrap().all("S") {
        let d: u64 = s.attr("d").unwrap().parse().unwrap();
        let t = match s.attr("t") {
            Some(t) => t.parse().unwrap(),
            None => timeline.last().map(|(t, d)| t + d).unwrap(),
        };
        assert!(s.attr("r").is_none());
        timeline.push((t, d));
    }
    Rep {
        id: r.attr("id").unwrap().to_owned(),
        attrs: r.attrs.clone(),
        media: tpl.attr("media").unwrap().to_owned(),
        init: tpl.attr("initialization").unwrap().to_owned(),
        timeline,
    }
}

/// `base/../x` → `x`.
fn resolve(dir: &str, uri: &str) -> String {
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for p in uri.split('/') {
        match p {
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

// ---- an in-memory directory shared by the members ----

#[derive(Default, Debug)]
struct Dir {
    files: BTreeMap<String, Vec<u8>>,
    open: Option<String>,
    closed: BTreeSet<String>,
    /// Every MPD write: (path, text).
    mpds: Vec<(String, String)>,
    deletes: Vec<String>,
    dirs: Vec<String>,
}

impl Dir {
    fn drain(&mut self, s: &mut DashStream) {
        while let Some(op) = s.poll_op() {
            self.apply(op);
        }
    }

    fn apply(&mut self, op: FileOp) {
        match op {
            FileOp::CreateDir { path } => self.dirs.push(path.to_string()),
            FileOp::OpenSegment { path } => {
                assert!(self.open.is_none());
                self.files.insert(path.to_string(), Vec::new());
                self.open = Some(path.to_string());
            }
            FileOp::AppendSegment { data } => {
                let p = self.open.clone().expect("append without open");
                self.files.get_mut(&p).unwrap().extend_from_slice(&data);
            }
            FileOp::CloseSegment { path } => {
                assert_eq!(self.open.take().as_deref(), Some(path.as_str()));
                self.closed.insert(path.to_string());
            }
            FileOp::WritePlaylist { path, contents } => {
                let path = path.to_string();
                if path.ends_with(".mpd") {
                    let text = String::from_utf8(contents.to_vec()).unwrap();
                    let dir = path.rsplit_once('/').map_or("", |(d, _)| d).to_owned();
                    // Everything the MPD names exists already.
                    for set in Manifest::parse(&text).sets {
                        for r in set.reps {
                            let init = resolve(&dir, &r.init);
                            assert!(self.files.contains_key(&init), "{init} missing ({path})");
                            for (t, _) in r.timeline {
                                let f = resolve(&dir, &r.media.replace("$Time$", &t.to_string()));
                                assert!(self.closed.contains(&f), "{f} listed before closed");
                            }
                        }
                    }
                    self.mpds.push((path.clone(), text));
                }
                self.files.insert(path, contents.to_vec());
            }
            FileOp::Delete { path, .. } => self.deletes.push(path.to_string()),
            FileOp::CancelDelete { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }

    fn mpds_of(&self, path: &str) -> Vec<Manifest> {
        self.mpds
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, t)| Manifest::parse(t))
            .collect()
    }

    fn last(&self, path: &str) -> Manifest {
        self.mpds_of(path)
            .pop()
            .unwrap_or_else(|| panic!("no {path} written"))
    }
}

fn config(nested: bool) -> DashConfig {
    DashConfig {
        fragment_ms: 2000,
        playlist_length_ms: 10_000,
        nested,
        ..DashConfig::default()
    }
}

struct Member {
    stream: DashStream,
    demuxer: Demuxer,
    frames: Vec<Frame>,
}

/// The source (leader) and its followers, fed as a live worker would: the followers lag
/// `lag` frames behind the leader (their encoders' latency).
struct Group {
    group: SharedDashGroup,
    leader: Member,
    followers: Vec<Member>,
    dir: Dir,
}

impl Group {
    fn new(nested: bool, frames: Vec<Frame>, followers: Vec<(&str, Demuxer, Vec<Frame>)>) -> Self {
        let cfg = config(nested);
        let group = DashGroup::new(cfg.clone(), "cam").unwrap();
        let leader = Member {
            stream: DashStream::new(cfg.clone(), "cam_src", now(0))
                .unwrap()
                .lead(group.clone()),
            demuxer: demuxer(true, true),
            frames,
        };
        let followers = followers
            .into_iter()
            .map(|(name, demuxer, frames)| Member {
                stream: DashStream::new(cfg.clone(), name, now(0))
                    .unwrap()
                    .follow(group.clone()),
                demuxer,
                frames,
            })
            .collect();
        Self {
            group,
            leader,
            followers,
            dir: Dir::default(),
        }
    }

    /// Feeds everything: the leader frame by frame; each follower its frames whose dts is
    /// `lag_ms` behind the leader's last.
    fn feed(&mut self, lag_ms: u64) {
        let leader_frames = std::mem::take(&mut self.leader.frames);
        let mut next = vec![0usize; self.followers.len()];
        for f in &leader_frames {
            self.leader
                .stream
                .push(f, &self.leader.demuxer, now(f.dts))
                .unwrap();
            self.dir.drain(&mut self.leader.stream);
            if let Some(upto) = f.dts.checked_sub(lag_ms) {
                self.feed_followers(&mut next, upto);
            }
        }
        self.feed_followers(&mut next, u64::MAX);
        self.dir.drain(&mut self.leader.stream);
    }

    fn feed_followers(&mut self, next: &mut [usize], upto: u64) {
        for (i, m) in self.followers.iter_mut().enumerate() {
            while let Some(f) = m.frames.get(next[i]).filter(|f| f.dts <= upto) {
                m.stream.push(f, &m.demuxer, now(f.dts)).unwrap();
                self.dir.drain(&mut m.stream);
                next[i] += 1;
            }
        }
    }
}

fn video_times(dir: &Dir, prefix: &str) -> BTreeSet<u64> {
    dir.closed
        .iter()
        .filter_map(|p| p.strip_prefix(prefix)?.strip_suffix(".m4v")?.parse().ok())
        .collect()
}

/// (t, d) pairs present in both timelines must agree; returns how many were compared.
fn assert_same_where_overlapping(a: &Rep, b: &Rep) -> usize {
    let bt: BTreeMap<u64, u64> = b.timeline.iter().copied().collect();
    let mut n = 0;
    for (t, d) in &a.timeline {
        if let Some(bd) = bt.get(t) {
            assert_eq!(d, bd, "t={t}: {} d={d}, {} d={bd}", a.id, b.id);
            n += 1;
        }
    }
    n
}

fn high444_demuxer() -> Demuxer {
    let mut d = Demuxer::new();
    d.push_video(0, hex(X264_HIGH444_SEQ)).unwrap();
    d.push_audio(0, hex(AAC_SEQ)).unwrap();
    d
}

#[test]
fn followers_cut_at_the_leaders_instants_and_share_one_video_set() {
    let frames = av_frames(0, 30_000, 30, 1000, true, true);
    let mut g = Group::new(
        false,
        frames.clone(),
        vec![
            ("cam_720p", demuxer(true, true), frames.clone()),
            ("cam_480p", high444_demuxer(), frames),
        ],
    );
    g.feed(700);

    // The same files, named by the same times.
    let src = video_times(&g.dir, "cam_src-");
    assert!(src.len() >= 10, "{src:?}");
    assert_eq!(video_times(&g.dir, "cam_720p-"), src);
    assert_eq!(video_times(&g.dir, "cam_480p-"), src);
    assert!(src.iter().all(|t| t % 2000 == 0), "{src:?}");

    // Each member's own MPD is written as before, with the same timeline.
    let own = |name: &str| {
        g.dir
            .last(&format!("{name}.mpd"))
            .set("video")
            .unwrap()
            .reps[0]
            .clone()
    };
    let (s, a, b) = (own("cam_src"), own("cam_720p"), own("cam_480p"));
    assert_eq!(s.id, "cam_src_H264");
    assert_eq!(s.timeline, a.timeline);
    assert_eq!(s.timeline, b.timeline);

    // The group's MPD: one video set, three representations, the source's audio.
    let all = g.dir.mpds_of("cam.mpd");
    assert!(all.len() >= 10, "group MPD written {} times", all.len());
    let mpd = all.last().unwrap();
    assert_eq!(mpd.kind, "dynamic");
    assert_eq!(mpd.sets.len(), 2);
    let video = mpd.set("video").unwrap();
    assert_eq!(video.attrs["segmentAlignment"], "true");
    assert_eq!(video.attrs["startWithSAP"], "1");
    assert_eq!(video.attrs["maxWidth"], "320");
    assert_eq!(video.attrs["maxHeight"], "240");
    let ids: BTreeSet<&str> = video.reps.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, BTreeSet::from(["cam_src", "cam_720p", "cam_480p"]));
    for r in &video.reps {
        assert_eq!(r.media, format!("{}-$Time$.m4v", r.id));
        assert_eq!(r.init, format!("{}-init.m4v", r.id));
        assert_eq!(r.attrs["frameRate"], "30");
        assert!(r.attrs["bandwidth"].parse::<u64>().unwrap() > 0);
    }
    let r480 = video.reps.iter().find(|r| r.id == "cam_480p").unwrap();
    assert_eq!(r480.attrs["width"], "318");
    assert_eq!(r480.attrs["codecs"], "avc1.F4000D");
    for r in &video.reps[1..] {
        assert!(assert_same_where_overlapping(&video.reps[0], r) >= 3);
    }
    let audio = mpd.set("audio").unwrap();
    assert_eq!(audio.reps.len(), 1);
    assert_eq!(audio.reps[0].id, "cam_src");
    assert_eq!(audio.reps[0].media, "cam_src-$Time$.m4a");

    // Every group MPD ever written: timelines agree where they overlap.
    for m in &all {
        let v = m.set("video").unwrap();
        for r in &v.reps[1..] {
            assert_same_where_overlapping(&v.reps[0], r);
        }
    }

    // The end: the group's MPD static, then deleted; the members' as before.
    for f in &mut g.followers {
        f.stream.finish(now(40_000)).unwrap();
        g.dir.drain(&mut f.stream);
    }
    g.leader.stream.finish(now(40_000)).unwrap();
    g.dir.drain(&mut g.leader.stream);
    let (last_path, last) = g.dir.mpds.last().unwrap();
    assert_eq!(last_path, "cam.mpd");
    assert!(last.contains("type=\"static\""), "{last}");
    assert_eq!(Manifest::parse(last).video_ids(), ["cam_src"]);
    assert!(g.dir.deletes.contains(&"cam.mpd".to_owned()));
    assert!(g.dir.deletes.contains(&"cam_720p.mpd".to_owned()));
    assert!(g.dir.deletes.contains(&"cam_src-init.m4v".to_owned()));
    // Nothing is written for the group after its end.
    assert!(g.group.borrow().listed_members().len() <= 1);
    assert!(g.leader.stream.poll_op().is_none());
}

#[test]
fn a_follower_with_another_bframe_delay_lists_the_leaders_times() {
    // The encoder keeps the source's presentation times, but without B-frames its decode
    // times are the presentation times: 67 ms later than the source's.
    let frames = av_frames(1000, 20_000, 30, 1000, true, true);
    let shifted: Vec<Frame> = frames
        .iter()
        .map(|f| {
            let mut f = f.clone();
            if f.track == Track::Video {
                f.dts = f.pts;
            }
            f
        })
        .collect();
    let mut g = Group::new(
        false,
        frames,
        vec![("cam_360p", demuxer(true, true), shifted)],
    );
    g.feed(500);
    let src = video_times(&g.dir, "cam_src-");
    assert!(src.len() >= 5);
    assert_eq!(video_times(&g.dir, "cam_360p-"), src);
    let mpd = g.dir.last("cam.mpd");
    let v = mpd.set("video").unwrap();
    assert_eq!(v.reps.len(), 2);
    assert!(assert_same_where_overlapping(&v.reps[0], &v.reps[1]) >= 4);
}

#[test]
fn a_follower_whose_input_stops_leaves_and_resumes_at_a_cut() {
    let frames = av_frames(0, 40_000, 30, 1000, true, true);
    // The encoder died at 9 s and its successor starts at 20.5 s with a keyframe of its
    // own (not at a source keyframe).
    let broken: Vec<Frame> = frames
        .iter()
        .filter(|f| f.dts < 9_000 || f.dts >= 20_500)
        .map(|f| {
            let mut f = f.clone();
            if f.track == Track::Video && f.dts == 20_500 {
                f.keyframe = true;
            }
            f
        })
        .collect();
    assert!(broken.iter().any(|f| f.dts == 20_500 && f.keyframe));
    let mut g = Group::new(
        false,
        frames.clone(),
        vec![
            ("cam_720p", demuxer(true, true), frames),
            ("cam_480p", demuxer(true, true), broken),
        ],
    );
    g.feed(400);

    let src = video_times(&g.dir, "cam_src-");
    let broken_times = video_times(&g.dir, "cam_480p-");
    assert!(broken_times.is_subset(&src), "{broken_times:?} vs {src:?}");
    assert!(broken_times.contains(&8000));
    assert!(!broken_times.iter().any(|t| (9_000..22_000).contains(t)));
    assert!(broken_times.contains(&22_000), "{broken_times:?}");

    // Its own MPD restates t after the gap.
    let own = g.dir.mpds_of("cam_480p.mpd");
    let last = own.last().unwrap().set("video").unwrap().reps[0].clone();
    assert!(last.timeline.iter().all(|(t, _)| src.contains(t)));

    // While it stalled it was out of the group's MPD, then back.
    let ids: Vec<Vec<String>> = g
        .dir
        .mpds_of("cam.mpd")
        .iter()
        .map(Manifest::video_ids)
        .collect();
    let with = |i: &Vec<String>| i.iter().any(|x| x == "cam_480p");
    let first_in = ids.iter().position(with).expect("never listed");
    let first_out = first_in
        + ids[first_in..]
            .iter()
            .position(|i| !with(i))
            .expect("never left");
    assert!(ids[first_out..].iter().any(with), "never came back");
    assert!(ids
        .iter()
        .all(|i| i.contains(&"cam_720p".to_owned()) || i.len() == 1));
    // Where it is listed, its timeline (gap included) agrees with the source's.
    for m in g.dir.mpds_of("cam.mpd") {
        let v = m.set("video").unwrap();
        if let Some(r) = v.reps.iter().find(|r| r.id == "cam_480p") {
            let s = v.reps.iter().find(|r| r.id == "cam_src").unwrap();
            let st: BTreeMap<u64, u64> = s.timeline.iter().copied().collect();
            for (i, (t, d)) in r.timeline.iter().enumerate() {
                let sd = st.get(t).copied();
                // The segment before the gap ends early; every other one is the source's.
                let before_gap = r.timeline.get(i + 1).is_some_and(|(nt, _)| *nt != t + d);
                if before_gap {
                    assert!(sd.is_none_or(|sd| *d <= sd));
                } else if let Some(sd) = sd {
                    assert_eq!(*d, sd, "t={t}");
                }
            }
        }
    }
}

#[test]
fn a_follower_that_finishes_leaves_the_group_mpd() {
    let frames = av_frames(0, 30_000, 30, 1000, true, true);
    let mut g = Group::new(
        false,
        frames.clone(),
        vec![(
            "cam_720p",
            demuxer(true, true),
            frames[..frames.len() / 2].to_vec(),
        )],
    );
    g.feed(300);
    let before = g.dir.mpds_of("cam.mpd");
    assert!(before.iter().any(|m| m.video_ids().len() == 2));
    g.followers[0].stream.finish(now(16_000)).unwrap();
    g.dir.drain(&mut g.followers[0].stream);
    assert!(g.dir.deletes.contains(&"cam_720p.mpd".to_owned()));
    // The leader writes the group's MPD without it at its next operation.
    let n = g.dir.mpds.len();
    g.dir.drain(&mut g.leader.stream);
    assert_eq!(g.dir.mpds.len(), n + 1);
    assert_eq!(g.dir.last("cam.mpd").video_ids(), ["cam_src"]);
    assert_eq!(g.group.borrow().listed_members(), ["cam_src"]);
}

#[test]
fn nested_group_points_at_each_members_directory() {
    let frames = av_frames(0, 12_000, 30, 1000, true, true);
    let mut g = Group::new(
        true,
        frames.clone(),
        vec![("cam_720p", demuxer(true, true), frames)],
    );
    g.feed(300);
    assert!(g.dir.dirs.contains(&"cam".to_owned()));
    assert!(g.dir.dirs.contains(&"cam_src".to_owned()));
    let mpd = g.dir.last("cam/index.mpd");
    let v = mpd.set("video").unwrap();
    let r = v.reps.iter().find(|r| r.id == "cam_720p").unwrap();
    assert_eq!(r.media, "../cam_720p/$Time$.m4v");
    assert_eq!(r.init, "../cam_720p/init.m4v");
    assert_eq!(
        mpd.set("audio").unwrap().reps[0].media,
        "../cam_src/$Time$.m4a"
    );
}

#[test]
fn a_leader_writes_what_a_solo_stream_writes_plus_the_group_mpd() {
    let frames = av_frames(0, 25_000, 30, 1000, true, true);
    let d = demuxer(true, true);
    let run = |lead: bool| -> Vec<String> {
        let mut s = DashStream::new(config(false), "cam_src", now(0)).unwrap();
        if lead {
            s = s.lead(DashGroup::new(config(false), "cam").unwrap());
        }
        let mut ops = Vec::new();
        for f in &frames {
            s.push(f, &d, now(f.dts + 5)).unwrap();
            while let Some(op) = s.poll_op() {
                ops.push(format!("{op:?}"));
            }
        }
        s.finish(now(30_000)).unwrap();
        while let Some(op) = s.poll_op() {
            ops.push(format!("{op:?}"));
        }
        ops
    };
    let solo = run(false);
    let led = run(true);
    let group_ops: Vec<&String> = led.iter().filter(|o| o.contains("\"cam.mpd\"")).collect();
    assert!(group_ops.len() >= 5);
    let rest: Vec<String> = led
        .iter()
        .filter(|o| !o.contains("\"cam.mpd\""))
        .cloned()
        .collect();
    assert_eq!(rest, solo);
}

// ---- real encodes, played back by FFmpeg ----

fn have_ffmpeg() -> bool {
    Command::new("ffmpeg").arg("-version").output().is_ok()
        && Command::new("ffprobe").arg("-version").output().is_ok()
}

fn tmpdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ngx-rtmp-dash-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs ffmpeg with a whitespace-separated argument line (no argument has spaces).
fn ffmpeg(line: &str) {
    let args: Vec<&str> = line.split_whitespace().collect();
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(&args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffmpeg {line}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// FLV files read one after another, demuxed frame by frame (the demuxer holds the codec
/// configuration): one encoder's output, or several when it was restarted.
struct FlvSource {
    demuxer: Demuxer,
    tags: std::vec::IntoIter<support::flv::Tag>,
    pending: Option<Frame>,
}

impl FlvSource {
    fn open(paths: &[PathBuf]) -> Self {
        let tags: Vec<support::flv::Tag> = paths
            .iter()
            .flat_map(|p| support::flv::tags(&std::fs::read(p).unwrap()))
            .collect();
        Self {
            demuxer: Demuxer::new(),
            tags: tags.into_iter(),
            pending: None,
        }
    }

    /// The next frame, demuxed but not consumed.
    fn peek(&mut self) -> Option<&Frame> {
        while self.pending.is_none() {
            let t = self.tags.next()?;
            self.pending = match t.type_id {
                8 => self
                    .demuxer
                    .push_audio(t.ts, Bytes::from(t.body))
                    .unwrap()
                    .first()
                    .cloned(),
                9 => self
                    .demuxer
                    .push_video(t.ts, Bytes::from(t.body))
                    .unwrap()
                    .first()
                    .cloned(),
                _ => None,
            };
        }
        self.pending.as_ref()
    }

    /// Pushes the pending frame into `s`.
    fn push_into(&mut self, s: &mut DashStream) -> Option<Frame> {
        self.peek()?;
        let f = self.pending.take()?;
        s.push(&f, &self.demuxer, now(f.dts)).unwrap();
        Some(f)
    }
}

/// Executes the stream's ops in the test's directory.
fn execute(disk: &mut Disk, s: &mut DashStream) {
    while let Some(op) = s.poll_op() {
        disk.apply(op);
    }
}

fn probe(args: &[&str], mpd: &Path) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-of", "csv=p=0"])
        .args(args)
        .arg(mpd)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The source: 640x360 at 30 fps with B-frames and a keyframe every 1.6 s, 20 s long.
fn encode_source(dir: &Path) -> PathBuf {
    let src = dir.join("src.flv");
    ffmpeg(&format!(
        "-f lavfi -i testsrc=size=640x360:rate=30 -f lavfi -i sine=frequency=440:sample_rate=44100 \
         -t 20 -c:v libx264 -g 48 -bf 2 -pix_fmt yuv420p -c:a aac -b:a 64k -f flv {}",
        src.display()
    ));
    src
}

/// A rendition as the module's encoders make it: the source's timestamps (`-copyts`),
/// keyframes at the source's keyframes. `input`: extra input options (`-ss`, `-t`).
fn encode_rendition(src: &Path, out: &Path, input: &str, height: u32, bframes: u32) {
    ffmpeg(&format!(
        "-copyts {input} -i {} -vf scale=-2:{height} -c:v libx264 -force_key_frames source \
         -sc_threshold 0 -g 1000 -bf {bframes} -pix_fmt yuv420p -c:a aac -b:a 48k -f flv {}",
        src.display(),
        out.display()
    ));
}

/// Feeds the source and its renditions (each lagging half a second, as encoders do) into a
/// group writing into `dir`; ends the source first (its encoders see the end of their
/// input after it), then the renditions. Returns the last live group MPD and the number of
/// source video frames.
fn run_ladder(dir: &Path, src: &Path, renditions: &[(&str, Vec<PathBuf>)]) -> (String, usize) {
    let cfg = DashConfig {
        fragment_ms: 2000,
        playlist_length_ms: 600_000,
        ..DashConfig::default()
    };
    let group = DashGroup::new(cfg.clone(), "cam").unwrap();
    let mut leader = DashStream::new(cfg.clone(), "cam_src", now(0))
        .unwrap()
        .lead(group.clone());
    let mut source = FlvSource::open(&[src.to_owned()]);
    let mut followers: Vec<(DashStream, FlvSource, Disk)> = renditions
        .iter()
        .map(|(name, files)| {
            let s = DashStream::new(cfg.clone(), name, now(0))
                .unwrap()
                .follow(group.clone());
            (s, FlvSource::open(files), Disk::new(dir.to_owned()))
        })
        .collect();
    let mut disk = Disk::new(dir.to_owned());
    let mut src_video = 0;
    while let Some(f) = source.push_into(&mut leader) {
        execute(&mut disk, &mut leader);
        src_video += usize::from(f.track == Track::Video);
        for (s, input, disk) in &mut followers {
            while input.peek().is_some_and(|g| g.dts + 500 <= f.dts) {
                input.push_into(s);
                execute(disk, s);
            }
        }
    }
    for (s, input, disk) in &mut followers {
        while input.push_into(s).is_some() {
            execute(disk, s);
        }
    }
    execute(&mut disk, &mut leader);
    let live = std::fs::read_to_string(dir.join("cam.mpd")).unwrap();
    leader.finish(now(60_000)).unwrap();
    execute(&mut disk, &mut leader);
    for (s, _, disk) in &mut followers {
        s.finish(now(60_000)).unwrap();
        execute(disk, s);
    }
    (live, src_video)
}

/// Decodes video representation `n` of the MPD with the audio: no error at all; returns
/// the number of video frames.
fn play(mpd: &Path, n: usize) -> usize {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(mpd)
        .args([
            "-map",
            &format!("0:v:{n}"),
            "-map",
            "0:a:0",
            "-f",
            "null",
            "-",
        ])
        .output()
        .unwrap();
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && errors.trim().is_empty(),
        "representation {n}: {errors}"
    );
    let sel = format!("v:{n}");
    let count = probe(
        &[
            "-select_streams",
            &sel,
            "-count_frames",
            "-show_entries",
            "stream=nb_read_frames",
        ],
        mpd,
    );
    // The DASH demuxer lists the stream under its program too: the first line.
    count
        .lines()
        .find(|l| !l.trim().is_empty())
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0)
}

/// Heights of the MPD's video streams as FFmpeg opens them, in order (each stream once:
/// the DASH demuxer lists them under its program too).
fn heights(mpd: &Path) -> Vec<String> {
    let mut seen = BTreeSet::new();
    probe(&["-show_entries", "stream=index,codec_type,height"], mpd)
        .lines()
        .filter_map(|l| {
            let mut f = l.split(',');
            let (index, kind, height) = (f.next()?, f.next()?, f.next()?);
            (kind == "video" && seen.insert(index.to_owned())).then(|| height.to_owned())
        })
        .collect()
}

#[test]
fn ffmpeg_plays_every_representation_of_a_real_ladder() {
    assert!(
        have_ffmpeg(),
        "ffmpeg is required (scripts/test.sh installs it)"
    );
    let dir = tmpdir("ladder");
    let src = encode_source(&dir);
    // One rendition without B-frames: its decode times differ from the source's.
    let (r240, r180) = (dir.join("cam_240p.flv"), dir.join("cam_180p.flv"));
    encode_rendition(&src, &r240, "", 240, 2);
    encode_rendition(&src, &r180, "", 180, 0);
    let (live, src_video) = run_ladder(
        &dir,
        &src,
        &[("cam_240p", vec![r240]), ("cam_180p", vec![r180])],
    );

    // The live group MPD before the end: all three, aligned.
    let live = Manifest::parse(&live);
    assert_eq!(live.kind, "dynamic");
    let v = live.set("video").unwrap();
    assert_eq!(live.video_ids(), ["cam_src", "cam_240p", "cam_180p"]);
    assert_eq!(v.attrs["maxHeight"], "360");
    assert_eq!(v.attrs["maxWidth"], "640");
    for r in &v.reps[1..] {
        let n = assert_same_where_overlapping(&v.reps[0], r);
        assert!(
            n + 1 >= v.reps[0].timeline.len(),
            "{}: {n} of {:?}",
            r.id,
            v.reps[0].timeline
        );
        assert_eq!(r.attrs["frameRate"], "30");
    }

    // The last group MPD is static and still lists every member; FFmpeg plays each.
    let mpd = dir.join("cam.mpd");
    let last = Manifest::parse(&std::fs::read_to_string(&mpd).unwrap());
    assert_eq!(last.kind, "static");
    assert_eq!(last.video_ids().len(), 3);
    assert_eq!(heights(&mpd), ["360", "240", "180"]);
    for n in 0..3 {
        let count = play(&mpd, n);
        // A rendition's last fragment ends after the source's end: at most that less.
        assert!(
            count + 60 >= src_video && count <= src_video,
            "representation {n}: {count} of {src_video} frames"
        );
    }
    if std::env::var_os("KEEP_DASH_GROUP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn ffmpeg_plays_a_rendition_whose_encoder_restarted() {
    assert!(
        have_ffmpeg(),
        "ffmpeg is required (scripts/test.sh installs it)"
    );
    let dir = tmpdir("restart");
    let src = encode_source(&dir);
    // The encoder ran for 5 s, died, and its successor started at 7 s.
    let (a, b) = (dir.join("cam_240p-a.flv"), dir.join("cam_240p-b.flv"));
    encode_rendition(&src, &a, "-t 5", 240, 2);
    encode_rendition(&src, &b, "-ss 7", 240, 2);
    let (live, src_video) = run_ladder(&dir, &src, &[("cam_240p", vec![a, b])]);

    let live = Manifest::parse(&live);
    let v = live.set("video").unwrap();
    assert_eq!(live.video_ids(), ["cam_src", "cam_240p"]);
    let (s, r) = (&v.reps[0], &v.reps[1]);
    // It resumed at the source's first cut after 7 s (keyframes every 1.6 s, cuts every
    // 3.2 s): a gap in its timeline, every listed time one of the source's.
    let times: Vec<u64> = r.timeline.iter().map(|(t, _)| *t).collect();
    assert_eq!(times[..3], [0, 3200, 9600], "{times:?}");
    assert!(times[1] + r.timeline[1].1 <= 5100, "{:?}", r.timeline);
    let st: BTreeSet<u64> = s.timeline.iter().map(|(t, _)| *t).collect();
    assert!(times.iter().all(|t| st.contains(t)), "{times:?} vs {st:?}");

    let mpd = dir.join("cam.mpd");
    assert_eq!(heights(&mpd), ["360", "240"]);
    assert!(play(&mpd, 0) == src_video);
    let count = play(&mpd, 1);
    assert!(
        count + 60 + 140 >= src_video && count < src_video,
        "{count} of {src_video}"
    );
    if std::env::var_os("KEEP_DASH_GROUP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
