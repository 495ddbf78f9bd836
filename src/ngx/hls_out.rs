//! Executes the HLS core's file operations under `hls_path`.
//!
//! The core ([`crate::hls::HlsStream`]) decides what to write; this writes it: segments are
//! appended as TS bytes are produced, playlists replaced atomically (temp file + rename), and
//! deletions of segments that left the window run on a worker timer once their deadline has
//! passed. Paths come from the core relative to `hls_path` and are checked again here.

use std::cell::RefCell;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};
use std::time::SystemTime;

use nginx_sys::{ngx_add_timer, ngx_event_t, ngx_msec_t};

use crate::conf::HlsSettings;
use crate::hls::{FileOp, HlsStream, Now};
use crate::media::{Demuxer, Frame};

/// One stream's HLS output.
pub struct HlsOut {
    root: PathBuf,
    stream: HlsStream,
    segment: Option<File>,
}

fn join(root: &Path, rel: &str) -> io::Result<PathBuf> {
    let rel = Path::new(rel);
    // Defence in depth: the core only produces plain relative names.
    if rel.components().all(|c| matches!(c, Component::Normal(_))) {
        Ok(root.join(rel))
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "path escapes hls_path",
        ))
    }
}

pub fn now() -> Now {
    let tp = nginx_sys::ngx_timeofday();
    Now {
        // SAFETY: nginx updates `ngx_current_msec` on the worker's only thread.
        monotonic_ms: unsafe { nginx_sys::ngx_current_msec } as u64,
        unix_ms: (tp.sec as u64) * 1000 + tp.msec as u64,
    }
}

/// Creates or truncates a file readable by the http server (workers may run with umask 0).
fn create(p: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(p)
}

impl HlsOut {
    /// Starts HLS for a newly published stream `name`.
    pub fn start(settings: &HlsSettings, name: &str) -> Result<HlsOut, String> {
        let root = settings.path.clone();
        let playlist = if settings.config.nested {
            format!("{name}/index.m3u8")
        } else {
            format!("{name}.m3u8")
        };
        // The previous playlist of this name, for hls_continuous (or its cleanup).
        let previous = join(&root, &playlist)
            .ok()
            .and_then(|p| fs::read_to_string(p).ok());
        let stream = HlsStream::new(settings.config.clone(), name, previous.as_deref(), now())
            .map_err(|e| e.to_string())?;
        let mut out = HlsOut {
            root,
            stream,
            segment: None,
        };
        out.apply().map_err(|e| e.to_string())?;
        Ok(out)
    }

    pub fn push(&mut self, frame: &Frame, codecs: &Demuxer) -> Result<(), String> {
        // A frame the core refuses is dropped (and counted there); it is not fatal.
        let _ = self.stream.push(frame, codecs, now());
        self.apply().map_err(|e| e.to_string())
    }

    /// The publisher left: flush, close the last segment, end the playlist.
    pub fn finish(&mut self) -> Result<(), String> {
        self.stream.finish(now()).map_err(|e| e.to_string())?;
        self.apply().map_err(|e| e.to_string())
    }

    fn apply(&mut self) -> io::Result<()> {
        while let Some(op) = self.stream.poll_op() {
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
                }
                FileOp::WritePlaylist { path, contents } => {
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
            }
        }
        Ok(())
    }
}

/// Deletions waiting for their deadline, with the time they were scheduled: a file modified
/// after that (another worker resumed the stream) is kept.
struct Pending {
    path: PathBuf,
    not_before_ms: u64,
    scheduled: SystemTime,
}

struct DeleteQueue {
    pending: Vec<Pending>,
    timer: *mut ngx_event_t,
}

thread_local! {
    static DELETES: RefCell<DeleteQueue> = const {
        RefCell::new(DeleteQueue { pending: Vec::new(), timer: std::ptr::null_mut() })
    };
}

fn schedule_delete(path: PathBuf, not_before_ms: u64) {
    DELETES.with(|q| {
        let mut q = q.borrow_mut();
        q.pending.retain(|p| p.path != path);
        q.pending.push(Pending {
            path,
            not_before_ms,
            scheduled: SystemTime::now(),
        });
        q.arm();
    });
}

fn cancel_delete(path: &Path) {
    DELETES.with(|q| q.borrow_mut().pending.retain(|p| p.path != path));
}

impl DeleteQueue {
    fn arm(&mut self) {
        let Some(next) = self.pending.iter().map(|p| p.not_before_ms).min() else {
            return;
        };
        if self.timer.is_null() {
            // SAFETY: all-zero is a valid, inactive `ngx_event_t`; it lives for the worker.
            let ev: &'static mut ngx_event_t = Box::leak(Box::new(unsafe { std::mem::zeroed() }));
            ev.handler = Some(on_timer);
            // SAFETY: the cycle's log lives as long as the worker.
            ev.log = unsafe { (*nginx_sys::ngx_cycle).log };
            // Pending deletions must not delay a graceful worker shutdown.
            ev.set_cancelable(1);
            self.timer = ev;
        }
        let delay = next.saturating_sub(now().monotonic_ms).max(1);
        // SAFETY: `timer` is the worker's own event, valid for its lifetime.
        unsafe { ngx_add_timer(self.timer, delay as ngx_msec_t) };
    }

    fn run_due(&mut self, now_ms: u64) {
        let (due, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.not_before_ms <= now_ms);
        self.pending = rest;
        for p in due {
            let modified_later = fs::metadata(&p.path)
                .and_then(|m| m.modified())
                .is_ok_and(|m| m > p.scheduled);
            if !modified_later {
                let _ = fs::remove_file(&p.path);
            }
        }
        self.arm();
    }
}

unsafe extern "C" fn on_timer(_ev: *mut ngx_event_t) {
    let _ = super::catch(|| DELETES.with(|q| q.borrow_mut().run_due(now().monotonic_ms)));
}
