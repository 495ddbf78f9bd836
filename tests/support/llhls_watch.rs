//! A watcher of one Low-Latency HLS playlist in `hls_path`, read over and over as a player
//! would: each read is checked (part target, server control, part durations, parts adding up
//! to EXTINF, dates, the preload hint naming the next part, listed files readable) and the
//! files listed are copied as they were; at the end the copies are checked (parts joined
//! equal their segment, INDEPENDENT as ffprobe reads each part, segments decoding cleanly).

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use super::hls::decode_errors;
use super::llhls::{self, LlPlaylist, Part};

pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// What the watcher of one playlist saw and kept.
pub struct Watcher {
    dir: PathBuf,
    playlist: String,
    ext: &'static str,
    /// `hls_part_duration`: the PART-TARGET every read must say.
    part_ms: u64,
    /// Copies of the files listed, as they were when listed.
    keep: PathBuf,
    copied: HashSet<String>,
    /// Parts of each segment, as listed with its EXTINF.
    pub segments: BTreeMap<u64, (String, Vec<Part>)>,
    /// INDEPENDENT of each part listed.
    pub independent: BTreeMap<String, bool>,
    init: Option<String>,
    last: Option<LlPlaylist>,
    pub reads: usize,
    pub hints_followed: usize,
    pub failures: Vec<String>,
}

impl Watcher {
    pub fn new(
        dir: PathBuf,
        playlist: &str,
        ext: &'static str,
        part_ms: u64,
        keep: PathBuf,
    ) -> Watcher {
        fs::create_dir_all(&keep).unwrap();
        Watcher {
            dir,
            playlist: playlist.to_string(),
            ext,
            part_ms,
            keep,
            copied: HashSet::new(),
            segments: BTreeMap::new(),
            independent: BTreeMap::new(),
            init: None,
            last: None,
            reads: 0,
            hints_followed: 0,
            failures: Vec::new(),
        }
    }

    fn fail(&mut self, what: String) {
        if self.failures.len() < 20 {
            self.failures.push(what);
        }
    }

    fn copy(&mut self, uri: &str) {
        if self.copied.contains(uri) {
            return;
        }
        match fs::copy(self.dir.join(uri), self.keep.join(uri)) {
            Ok(_) => {
                self.copied.insert(uri.to_string());
            }
            Err(e) => self.fail(format!("{uri} listed but not readable: {e}")),
        }
    }

    /// One read of the playlist, checked.
    pub fn read(&mut self) {
        let Ok(text) = fs::read_to_string(self.dir.join(&self.playlist)) else {
            return;
        };
        let read_at = unix_ms();
        let p = llhls::parse(&text);
        self.reads += 1;
        if p.part_target_ms != Some(self.part_ms) {
            self.fail(format!("PART-TARGET {:?}:\n{text}", p.part_target_ms));
        }
        let control = format!(
            "CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.990,CAN-SKIP-UNTIL={}.000",
            6 * p.target_s
        );
        if p.server_control.as_deref() != Some(control.as_str()) {
            self.fail(format!("server control {:?}", p.server_control));
        }
        let listed: Vec<Part> = p
            .segments
            .iter()
            .flat_map(|s| s.parts.clone())
            .chain(p.open_parts.clone())
            .collect();
        for part in &listed {
            if part.duration_ms > self.part_ms {
                self.fail(format!("{} lasts {} ms", part.uri, part.duration_ms));
            }
            self.independent.insert(part.uri.clone(), part.independent);
            self.copy(&part.uri);
        }
        if let Some(map) = p.segments.first().and_then(|s| s.map.clone()) {
            self.copy(&map);
            self.init = Some(map);
        }
        for s in &p.segments {
            if !s.parts.is_empty() {
                let sum: u64 = s.parts.iter().map(|p| p.duration_ms).sum();
                if sum != s.duration_ms {
                    self.fail(format!(
                        "parts of {} add up to {sum} ms, EXTINF {}",
                        s.uri, s.duration_ms
                    ));
                }
                self.segments
                    .entry(s.msn)
                    .or_insert_with(|| (s.uri.clone(), s.parts.clone()));
            }
            if s.pdt_ms.is_none() {
                self.fail(format!("{} has no date", s.uri));
            }
        }
        for s in p.segments.iter().rev().take(4) {
            self.copy(&s.uri);
        }
        for w in p.segments.windows(2) {
            if let (Some(a), Some(b)) = (w[0].pdt_ms, w[1].pdt_ms) {
                if b != a + w[0].duration_ms && !w[1].discontinuity {
                    self.fail(format!(
                        "dates of {} and {} differ by {} ms, EXTINF {}",
                        w[0].uri,
                        w[1].uri,
                        b as i64 - a as i64,
                        w[0].duration_ms
                    ));
                }
            }
        }
        // The live edge's date is the wall clock of its media, give or take the encoder.
        let edge = p.open_pdt_ms.or_else(|| {
            p.segments
                .last()
                .and_then(|s| s.pdt_ms.map(|t| t + s.duration_ms))
        });
        let parts_ms: u64 = p.open_parts.iter().map(|p| p.duration_ms).sum();
        if let Some(edge) = edge {
            let edge = edge + if p.open_pdt_ms.is_some() { parts_ms } else { 0 };
            let behind = read_at as i64 - edge as i64;
            if !(-1000..=5000).contains(&behind) {
                self.fail(format!("live edge dated {behind} ms behind the wall clock"));
            }
        }
        // The hint of the previous read names the first part listed since.
        if let Some(prev) = &self.last {
            let seen: HashSet<&str> = prev
                .segments
                .iter()
                .flat_map(|s| &s.parts)
                .chain(&prev.open_parts)
                .map(|p| p.uri.as_str())
                .collect();
            let newest_prev = prev
                .open_parts
                .last()
                .or(prev.segments.last().and_then(|s| s.parts.last()));
            let at = newest_prev.and_then(|n| listed.iter().position(|p| p.uri == n.uri));
            let first_new = match at {
                Some(i) => listed.get(i + 1),
                None => listed.iter().find(|p| !seen.contains(p.uri.as_str())),
            };
            if let (Some(hint), Some(first_new)) = (&prev.hint, first_new) {
                if *hint == first_new.uri {
                    self.hints_followed += 1;
                } else {
                    self.fail(format!("hint {hint}, then {} appeared", first_new.uri));
                }
            }
        }
        if p.hint.is_none() && !p.endlist {
            self.fail(format!("no preload hint:\n{text}"));
        }
        if let Some(h) = &p.hint {
            if listed.iter().any(|p| &p.uri == h) {
                self.fail(format!("hint {h} is already listed"));
            }
        }
        self.last = Some(p);
    }

    /// A file of the init segment and `uri` (fMP4), or `uri` itself (TS), for ffmpeg.
    fn playable(&self, uri: &str, scratch: &Path) -> PathBuf {
        match &self.init {
            Some(init) => {
                let mut data = fs::read(self.keep.join(init)).unwrap();
                data.extend(fs::read(self.keep.join(uri)).unwrap());
                let p = scratch.join(format!("with-init-{uri}.mp4"));
                fs::write(&p, data).unwrap();
                p
            }
            None => self.keep.join(uri),
        }
    }

    /// The checks over the files kept: parts concatenated are segments, INDEPENDENT true to
    /// the media, segments decode cleanly.
    pub fn check_files(&mut self, scratch: &Path) {
        fs::create_dir_all(scratch).unwrap();
        let mut complete = 0;
        let segments = self.segments.clone();
        for (uri, parts) in segments.values() {
            if !self.copied.contains(uri) || !parts.iter().all(|p| self.copied.contains(&p.uri)) {
                continue;
            }
            let mut joined = Vec::new();
            for p in parts {
                joined.extend(fs::read(self.keep.join(&p.uri)).unwrap());
            }
            if joined != fs::read(self.keep.join(uri)).unwrap() {
                self.fail(format!("parts of {uri} are not its bytes"));
            }
            let errors = decode_errors(&self.playable(uri, scratch));
            if !errors.is_empty() {
                self.fail(format!("{uri} decodes with errors: {errors}"));
            }
            complete += 1;
        }
        if complete < 8 {
            self.fail(format!(
                "only {complete} segments seen with all their parts"
            ));
        }
        let (mut keyed, mut total) = (0, 0);
        let parts = self.independent.clone();
        for (uri, flag) in &parts {
            if !self.copied.contains(uri) {
                continue;
            }
            let file = self.playable(uri, scratch);
            let key = first_video_packet_is_key(&file);
            if key != Some(*flag) {
                self.fail(format!(
                    "{uri}: INDEPENDENT={flag}, first video packet key {key:?}"
                ));
            }
            keyed += usize::from(*flag);
            total += 1;
        }
        if total < 60 || keyed == 0 || keyed == total {
            self.fail(format!("{keyed} of {total} parts independent"));
        }
        assert!(self.uri_ext_ok(), "part names");
    }

    fn uri_ext_ok(&self) -> bool {
        self.independent
            .keys()
            .all(|u| u.ends_with(&format!(".{}", self.ext)))
    }
}

/// Whether the first video packet of `file` is a keyframe, as ffprobe reads it.
fn first_video_packet_is_key(file: &Path) -> Option<bool> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0"])
        .args(["-read_intervals", "%+#1", "-show_entries", "packet=flags"])
        .args(["-of", "csv=p=0"])
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .expect("run ffprobe");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().next().map(|flags| flags.starts_with('K'))
}
