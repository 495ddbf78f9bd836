//! Executors of the outputs' `FileOp`s for tests: [`Fs`] in memory, recording what happened
//! and checking the order rules a real directory would need (one open segment at a time, a
//! playlist lists only closed segments); [`Disk`] into a real directory, for tools (ffprobe,
//! ffmpeg) to read.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use ngx_rtmp::files::FileOp;
use ngx_rtmp::hls::HlsStream;
use ngx_rtmp::media::{Demuxer, Frame};
use ngx_rtmp::record::{last_tag_offset, Existing, RecordHandle, RESUME_HEAD_BYTES};

use super::media::now;

/// Executes `FileOp`s in memory and records what happened.
#[derive(Default, Debug)]
pub struct Fs {
    pub files: BTreeMap<String, Vec<u8>>,
    pub open: Option<String>,
    /// Every playlist write, in order.
    pub playlists: Vec<(String, String)>,
    pub deletes: Vec<(String, u64)>,
    pub cancels: Vec<String>,
    pub dirs: Vec<String>,
    /// Segment paths in the order they were closed.
    pub closed: Vec<String>,
    pub log: Vec<String>,
    /// The part file of the open recording.
    pub recording: Option<String>,
    /// Finished recordings' final names, in order.
    pub recordings: Vec<String>,
    /// The recorder told what a `ResumeRecording` found, as the shell does.
    pub resume_to: Option<RecordHandle>,
}

/// What the shell reports of a file it takes over for `record_append`: its length, head and
/// last tag header, read as `ResumeRecording`'s contract says.
pub fn existing_of(data: &[u8]) -> Existing {
    let len = data.len() as u64;
    let trailer = data
        .get(data.len().saturating_sub(4)..)
        .and_then(|t| <[u8; 4]>::try_from(t).ok());
    let last_tag = trailer
        .and_then(|t| last_tag_offset(len, t))
        .and_then(|at| {
            let at_us = usize::try_from(at).ok()?;
            let h = data.get(at_us..at_us + 11)?;
            Some((at, <[u8; 11]>::try_from(h).ok()?))
        });
    Existing {
        len,
        head: bytes::Bytes::copy_from_slice(&data[..data.len().min(RESUME_HEAD_BYTES)]),
        last_tag,
    }
}

impl Fs {
    pub fn apply(&mut self, op: FileOp) {
        match op {
            FileOp::CreateDir { path } => {
                self.log.push(format!("mkdir {path}"));
                self.dirs.push(path.to_string());
            }
            FileOp::OpenSegment { path } => {
                assert!(self.open.is_none(), "segment opened while another is open");
                self.log.push(format!("open {path}"));
                self.files.insert(path.to_string(), Vec::new());
                self.open = Some(path.to_string());
            }
            FileOp::AppendSegment { data } => {
                let p = self.open.clone().expect("append without open segment");
                self.files.get_mut(&p).unwrap().extend_from_slice(&data);
            }
            FileOp::CloseSegment { path } => {
                assert_eq!(self.open.as_deref(), Some(path.as_str()));
                self.log.push(format!("close {path}"));
                self.open = None;
                self.closed.push(path.to_string());
            }
            FileOp::WritePlaylist { path, contents } if path.as_str().ends_with(".mp4") => {
                // An fMP4 initialization segment, replaced like a playlist.
                self.log.push(format!("init {path}"));
                self.files.insert(path.to_string(), contents.to_vec());
            }
            FileOp::WritePlaylist { path, contents } => {
                let text = String::from_utf8(contents.to_vec()).unwrap();
                self.log.push(format!("playlist {path}"));
                // Every listed segment must be complete (closed) on disk. (Variant status
                // files are replaced like playlists but list nothing.)
                let listing = path.as_str().ends_with(".m3u8");
                // An fMP4 segment's initialization segment is written before it is named.
                for line in text.lines().filter(|l| l.starts_with("#EXT-X-MAP:URI=\"")) {
                    let uri = line
                        .trim_start_matches("#EXT-X-MAP:URI=\"")
                        .trim_end_matches('"');
                    let tail = uri.rsplit('/').next().unwrap();
                    assert!(
                        self.files.keys().any(|p| p.ends_with(tail)),
                        "{uri} named before it was written"
                    );
                }
                // A part is written before the playlist that lists it.
                for line in text.lines().filter(|l| l.starts_with("#EXT-X-PART:")) {
                    let uri = line
                        .split("URI=\"")
                        .nth(1)
                        .unwrap()
                        .split('"')
                        .next()
                        .unwrap();
                    let tail = uri.rsplit('/').next().unwrap();
                    assert!(
                        self.files.keys().any(|p| p.ends_with(tail)),
                        "part {uri} listed before it was written"
                    );
                }
                for uri in text.lines().filter(|l| listing && !l.starts_with('#')) {
                    let tail = uri.rsplit('/').next().unwrap();
                    assert!(
                        self.closed.iter().any(|p| p.ends_with(tail)),
                        "{uri} listed before it was closed"
                    );
                }
                self.files
                    .insert(path.to_string(), text.clone().into_bytes());
                self.playlists.push((path.to_string(), text));
            }
            FileOp::WritePart { path, contents } => {
                self.log.push(format!("part {path}"));
                self.files.insert(path.to_string(), contents.to_vec());
            }
            FileOp::Delete {
                path,
                not_before_ms,
            } => {
                self.log.push(format!("delete {path}"));
                self.deletes.push((path.to_string(), not_before_ms));
            }
            FileOp::CancelDelete { path } => {
                self.log.push(format!("cancel {path}"));
                self.cancels.push(path.to_string());
            }
            FileOp::OpenRecording { part } => {
                assert!(
                    self.recording.is_none(),
                    "recording opened while another is open"
                );
                self.log.push(format!("record {part}"));
                self.files.insert(part.to_string(), Vec::new());
                self.recording = Some(part.to_string());
            }
            FileOp::ResumeRecording { part, path } => {
                assert!(
                    self.recording.is_none(),
                    "recording opened while another is open"
                );
                self.log.push(format!("resume {path}"));
                let old = self.files.remove(path.as_str());
                let found = old.as_deref().map(existing_of);
                self.files.insert(part.to_string(), old.unwrap_or_default());
                self.recording = Some(part.to_string());
                if let Some(h) = &self.resume_to {
                    h.resume(found);
                }
            }
            FileOp::AppendRecording { data } => {
                let p = self
                    .recording
                    .clone()
                    .expect("append without open recording");
                self.files.get_mut(&p).unwrap().extend_from_slice(&data);
            }
            FileOp::WriteRecordingAt { offset, data } => {
                let p = self
                    .recording
                    .clone()
                    .expect("write without open recording");
                let f = self.files.get_mut(&p).unwrap();
                let at = offset as usize;
                assert!(at + data.len() <= f.len(), "write past the appended bytes");
                f[at..at + data.len()].copy_from_slice(&data);
            }
            FileOp::FinishRecording { part, path } => {
                assert_eq!(self.recording.as_deref(), Some(part.as_str()));
                self.recording = None;
                let data = self.files.remove(part.as_str()).unwrap();
                let name = free_name(path.as_str(), |n| self.files.contains_key(n));
                self.log.push(format!("finish {name}"));
                self.files.insert(name.clone(), data);
                self.recordings.push(name);
            }
        }
    }

    pub fn drain(&mut self, s: &mut HlsStream) {
        while let Some(op) = s.poll_op() {
            self.apply(op);
        }
    }

    pub fn last_playlist(&self) -> &str {
        &self.playlists.last().expect("no playlist written").1
    }

    pub fn segment(&self, path: &str) -> &[u8] {
        self.files
            .get(path)
            .map(Vec::as_slice)
            .unwrap_or_else(|| panic!("no file {path}"))
    }
}

/// The name a finished recording takes: `path`, or `<stem>-N.<ext>` for the first free N.
pub fn free_name(path: &str, exists: impl Fn(&str) -> bool) -> String {
    if !exists(path) {
        return path.to_string();
    }
    let (stem, ext) = match path.rfind('.') {
        Some(i) => (&path[..i], &path[i..]),
        None => (path, ""),
    };
    (1..)
        .map(|n| format!("{stem}-{n}{ext}"))
        .find(|n| !exists(n))
        .unwrap()
}

/// Feeds frames (pushing with `now` = frame dts) and drains after each.
pub fn feed(s: &mut HlsStream, d: &Demuxer, fs: &mut Fs, frames: &[Frame], t0: u64) {
    for f in frames {
        s.push(f, d, now(t0 + f.dts)).unwrap();
        fs.drain(s);
    }
}

/// Executes `FileOp`s in a real directory (deletes are left to the test's cleanup).
pub struct Disk {
    pub dir: PathBuf,
    open: Option<std::fs::File>,
    recording: Option<std::fs::File>,
    /// Finished recordings' final names, in order.
    pub recordings: Vec<String>,
    /// The recorder told what a `ResumeRecording` found, as the shell does.
    pub resume_to: Option<RecordHandle>,
}

impl Disk {
    pub fn new(dir: PathBuf) -> Disk {
        std::fs::create_dir_all(&dir).unwrap();
        Disk {
            dir,
            open: None,
            recording: None,
            recordings: Vec::new(),
            resume_to: None,
        }
    }

    pub fn apply(&mut self, op: FileOp) {
        let dir = &self.dir;
        match op {
            FileOp::CreateDir { path } => std::fs::create_dir_all(dir.join(path.as_str())).unwrap(),
            FileOp::OpenSegment { path } => {
                self.open = Some(std::fs::File::create(dir.join(path.as_str())).unwrap())
            }
            FileOp::AppendSegment { data } => self.open.as_mut().unwrap().write_all(&data).unwrap(),
            FileOp::CloseSegment { .. } => self.open = None,
            FileOp::WritePlaylist { path, contents } | FileOp::WritePart { path, contents } => {
                let tmp = dir.join(format!("{}.tmp", path.as_str()));
                std::fs::write(&tmp, &contents).unwrap();
                std::fs::rename(tmp, dir.join(path.as_str())).unwrap();
            }
            FileOp::Delete { .. } | FileOp::CancelDelete { .. } => {}
            FileOp::OpenRecording { part } => {
                assert!(
                    self.recording.is_none(),
                    "recording opened while another is open"
                );
                self.recording = Some(std::fs::File::create(dir.join(part.as_str())).unwrap());
            }
            FileOp::ResumeRecording { part, path } => {
                assert!(
                    self.recording.is_none(),
                    "recording opened while another is open"
                );
                let (part, path) = (dir.join(part.as_str()), dir.join(path.as_str()));
                let found = match std::fs::rename(&path, &part) {
                    Ok(()) => Some(existing_of(&std::fs::read(&part).unwrap())),
                    Err(_) => {
                        std::fs::File::create(&part).unwrap();
                        None
                    }
                };
                // Not O_APPEND: Linux's pwrite on an O_APPEND file appends whatever the
                // offset, and the metadata is rewritten in place with it.
                let mut f = std::fs::OpenOptions::new().write(true).open(&part).unwrap();
                std::io::Seek::seek(&mut f, std::io::SeekFrom::End(0)).unwrap();
                self.recording = Some(f);
                if let Some(h) = &self.resume_to {
                    h.resume(found);
                }
            }
            FileOp::AppendRecording { data } => {
                self.recording.as_mut().unwrap().write_all(&data).unwrap()
            }
            FileOp::WriteRecordingAt { offset, data } => {
                use std::os::unix::fs::FileExt;
                let f = self.recording.as_ref().unwrap();
                let len = f.metadata().unwrap().len();
                assert!(
                    offset + data.len() as u64 <= len,
                    "write past the appended bytes"
                );
                f.write_all_at(&data, offset).unwrap();
            }
            FileOp::FinishRecording { part, path } => {
                self.recording
                    .take()
                    .expect("finish without open recording");
                let name = free_name(path.as_str(), |n| dir.join(n).exists());
                std::fs::rename(dir.join(part.as_str()), dir.join(&name)).unwrap();
                self.recordings.push(name);
            }
        }
    }
}
