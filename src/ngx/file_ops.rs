//! Executes the file operations of the HLS and DASH cores ([`FileOp`]) under their output
//! directory: segments are created and appended to as bytes are produced, playlists (and
//! DASH initialization segments, Low-Latency HLS parts) replaced atomically (temp file +
//! rename), and deletions run on a worker timer once their deadline has passed. Paths come
//! from the cores relative to the directory and are checked again here.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};
use std::time::SystemTime;

use nginx_sys::{ngx_event_t, ngx_msec_t};

use super::timer::Timer;
use super::worker::{self, DeleteQueue, PendingDelete};

use crate::files::{FileOp, Now};

pub fn join(root: &Path, rel: &str) -> io::Result<PathBuf> {
    let rel = Path::new(rel);
    // Defence in depth: the core only produces plain relative names.
    if rel.components().all(|c| matches!(c, Component::Normal(_))) {
        Ok(root.join(rel))
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "path escapes the output directory",
        ))
    }
}

pub fn now() -> Now {
    let tp = nginx_sys::ngx_timeofday();
    Now {
        monotonic_ms: super::now_ms(),
        unix_ms: (tp.sec as u64) * 1000 + tp.msec as u64,
    }
}

/// Creates or truncates a file readable by the http server (workers may run with umask 0).
pub fn create(p: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(p)
}

/// Executes one stream's operations in order under `root`.
pub struct FileWriter {
    root: PathBuf,
    segment: Option<File>,
}

impl FileWriter {
    pub fn new(root: PathBuf) -> FileWriter {
        FileWriter {
            root,
            segment: None,
        }
    }

    /// Executes one operation; `true` when it completed a segment.
    pub fn execute(&mut self, op: FileOp) -> io::Result<bool> {
        match op {
            FileOp::CreateDir { path } => {
                fs::create_dir_all(join(&self.root, path.as_str())?)?;
            }
            FileOp::OpenSegment { path } => {
                let p = join(&self.root, path.as_str())?;
                cancel_delete(&p);
                self.segment = Some(create(&p)?);
            }
            FileOp::AppendSegment { data } => {
                if let Some(f) = self.segment.as_mut() {
                    f.write_all(&data)?;
                }
            }
            FileOp::CloseSegment { .. } => {
                self.segment = None;
                return Ok(true);
            }
            FileOp::WritePlaylist { path, contents } | FileOp::WritePart { path, contents } => {
                let p = join(&self.root, path.as_str())?;
                cancel_delete(&p);
                let mut tmp = p.clone().into_os_string();
                tmp.push(".tmp");
                let mut f = create(Path::new(&tmp))?;
                f.write_all(&contents)?;
                drop(f);
                fs::rename(&tmp, &p)?;
            }
            FileOp::Delete {
                path,
                not_before_ms,
            } => schedule_delete(join(&self.root, path.as_str())?, not_before_ms),
            FileOp::CancelDelete { path } => cancel_delete(&join(&self.root, path.as_str())?),
            // A recorder's operations go to its own executor (`record_files`): here they mean
            // a misattached output.
            FileOp::OpenRecording { .. }
            | FileOp::ResumeRecording { .. }
            | FileOp::AppendRecording { .. }
            | FileOp::WriteRecordingAt { .. }
            | FileOp::FinishRecording { .. } => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "recording operations go to a recorder's executor",
                ));
            }
        }
        Ok(false)
    }
}

fn schedule_delete(path: PathBuf, not_before_ms: u64) {
    worker::with_deletes(|q| {
        q.pending.retain(|p| p.path != path);
        q.pending.push(PendingDelete {
            path,
            not_before_ms,
            scheduled: SystemTime::now(),
        });
        arm(q);
    });
}

fn cancel_delete(path: &Path) {
    worker::with_deletes(|q| q.pending.retain(|p| p.path != path));
}

/// Sets the timer for the earliest pending deletion.
fn arm(q: &mut DeleteQueue) {
    let Some(next) = q.pending.iter().map(|p| p.not_before_ms).min() else {
        return;
    };
    let timer = *q.timer.get_or_insert_with(|| Timer::new(on_timer));
    timer.set(next.saturating_sub(now().monotonic_ms) as ngx_msec_t);
}

fn run_due(q: &mut DeleteQueue, now_ms: u64) {
    let (due, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut q.pending)
        .into_iter()
        .partition(|p| p.not_before_ms <= now_ms);
    q.pending = rest;
    for p in due {
        let modified_later = fs::metadata(&p.path)
            .and_then(|m| m.modified())
            .is_ok_and(|m| m > p.scheduled);
        if !modified_later {
            let _ = fs::remove_file(&p.path);
        }
    }
    arm(q);
}

unsafe extern "C" fn on_timer(_ev: *mut ngx_event_t) {
    let _ = super::catch(|| worker::with_deletes(|q| run_due(q, now().monotonic_ms)));
}
