//! [`RecordHandle`]: a recorder's status and controls, shared with the shell once the
//! pipeline owns the recorder.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use super::config::RecordConfig;
use super::existing::Existing;
use crate::files::{Now, RelPath};

/// The state of a recorder, for stat and the control API.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordStatus {
    /// The final name of the file being written, when one is open.
    pub path: Option<RelPath>,
    /// Bytes of the open file (buffered ones included; a continued file's earlier bytes
    /// too).
    pub bytes: u64,
    /// Media time in the open file, ms.
    pub duration_ms: u64,
    /// Media frames in the open file.
    pub frames: u64,
    /// Files finished so far.
    pub files: u64,
    /// Manual mode: recording was asked for and not stopped.
    pub started: bool,
}

#[derive(Debug)]
pub(super) struct Shared {
    pub conf: Rc<RecordConfig>,
    pub stream: String,
    pub status: RecordStatus,
    /// Manual mode: the name time (Unix s) asked for by `start`, until a file opens.
    pub start_at: Option<i64>,
    /// Manual mode: `stop` was asked for; the open file closes at the next call.
    pub stop: bool,
    /// The shell's answers to `ResumeRecording`s, in order, until the recorder takes them.
    pub resumed: VecDeque<Option<Existing>>,
}

/// A handle on a [`Recorder`](super::Recorder) that stays usable once the pipeline owns it:
/// status for stat, `start`/`stop` for `record manual` and the control API, `resume` for
/// the shell executing `ResumeRecording`.
#[derive(Debug, Clone)]
pub struct RecordHandle(pub(super) Rc<RefCell<Shared>>);

impl RecordHandle {
    pub fn status(&self) -> RecordStatus {
        self.0.borrow().status.clone()
    }

    /// The recorder's `recorder` name (empty for the application's own `record`).
    pub fn id(&self) -> String {
        self.0.borrow().conf.id.clone()
    }

    /// Starts a manual recording: the file opens at the next split point (a video keyframe,
    /// or any audio message when no video is recorded) under the name this returns, built
    /// from `now`. While a file is open (or a start is pending) it returns that file's name
    /// and changes nothing. A recorder that is not `manual` records on its own: `None`.
    pub fn start(&self, now: Now) -> Option<RelPath> {
        self.start_at(unix_s(now))
    }

    /// [`start`](Self::start) with the file's name time given in Unix seconds: a worker that
    /// answers the control API for a stream published on another worker names the file
    /// there, and the publisher's worker opens exactly that name.
    pub fn start_at(&self, unix_s: i64) -> Option<RelPath> {
        let mut s = self.0.borrow_mut();
        if !s.conf.mode.manual {
            return None;
        }
        s.stop = false;
        s.status.started = true;
        if let Some(p) = &s.status.path {
            return Some(p.clone());
        }
        let at = *s.start_at.get_or_insert(unix_s);
        Some(s.conf.file_name(&s.stream, at))
    }

    /// The name of the file being written, or of the one a pending start opens at the next
    /// split point: what `stop` would answer now.
    pub fn target(&self) -> Option<RelPath> {
        let s = self.0.borrow();
        s.status
            .path
            .clone()
            .or_else(|| s.start_at.map(|at| s.conf.file_name(&s.stream, at)))
    }

    /// Stops a recording: the open file is finished at the recorder's next call (`push` or
    /// `poll_op`); its final name is returned. `None` when nothing was being recorded.
    pub fn stop(&self) -> Option<RelPath> {
        let mut s = self.0.borrow_mut();
        s.status.started = false;
        let pending = s.start_at.take();
        let path = s.status.path.clone();
        if path.is_some() {
            s.stop = true;
        }
        path.or_else(|| pending.map(|at| s.conf.file_name(&s.stream, at)))
    }

    /// The shell executed `FileOp::ResumeRecording`: `Some` with what it found when the
    /// final file existed and is now the part file, `None` when it created an empty part
    /// file (no file to continue, or the rename failed). Called before the recorder's next
    /// `poll_op`.
    pub fn resume(&self, existing: Option<Existing>) {
        self.0.borrow_mut().resumed.push_back(existing);
    }
}

pub(super) fn unix_s(now: Now) -> i64 {
    i64::try_from(now.unix_ms / 1000).unwrap_or(i64::MAX)
}
