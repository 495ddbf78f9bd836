//! A published stream's recorders as the shell keeps them: one [`Recorder`] per recorder of
//! the application (`record`, then each `recorder NAME {}` block) attached to the stream's
//! pipeline, its [`RecordHandle`] and [`RecorderSettings`] kept beside the executor of its
//! files so that stat and the control API reach them
//! ([`OutputFiles::recordings`](super::outputs::OutputFiles::recordings)), and what happens to
//! its files told as [`RecordEvent`]s to whoever owns the publication (callbacks, `exec`,
//! the publisher's `NetStream.Record.*` statuses).

use std::path::PathBuf;
use std::rc::Rc;

use super::log::Log;
use super::record_files::{self, RecordWriter, Recorded};
use crate::conf::{AppConf, RecorderSettings};
use crate::files::FileOp;
use crate::live::{OutputId, Pipeline, StreamKey};
use crate::record::{RecordHandle, Recorder};

/// What happened to a recorder's file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordEventKind {
    /// A file opened; `path` is its final name (the file is `<path>.part` until finished).
    Started,
    /// The file is finished under `path` (after the rename).
    Finished,
    /// Writing the file failed: the recording of this file stopped, its part file stays.
    Failed,
}

/// An event of one recorder's files, for the publication that owns the recorder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordEvent {
    /// The recorder's directives: its id (`config.id`), `record_notify`, its
    /// `on_record_done` and `exec_record_done`.
    pub settings: Rc<RecorderSettings>,
    pub kind: RecordEventKind,
    /// The full path of the file.
    pub path: PathBuf,
}

/// One recorder of a published stream: its handle and settings, and the executor of its
/// file operations.
pub struct Recording {
    handle: RecordHandle,
    settings: Rc<RecorderSettings>,
    writer: RecordWriter,
    /// The stream, for logs.
    stream: String,
    /// The last file that failed (stat), if any.
    failed: Option<PathBuf>,
}

impl Recording {
    /// The recorder's status, `start` and `stop` (stat, `/control/record`).
    pub fn handle(&self) -> &RecordHandle {
        &self.handle
    }

    /// The recorder's directives (`record_path` in `path`, its id in `config.id`).
    pub fn settings(&self) -> &RecorderSettings {
        &self.settings
    }

    /// The part file of the last file whose writing failed, if one did.
    pub fn failed_file(&self) -> Option<&PathBuf> {
        self.failed.as_ref()
    }

    /// Executes one of the recorder's operations. A failure is logged once here (the file,
    /// the system error) and ends that file only: the recorder goes on, its next file is
    /// tried afresh. Returns the event to tell, if any.
    pub fn execute(&mut self, op: FileOp, log: Log) -> Option<RecordEvent> {
        let resume = matches!(op, FileOp::ResumeRecording { .. });
        match self.writer.execute(op) {
            Ok(None) => None,
            Ok(Some(Recorded::Opened { path, lock_failed })) => {
                Some(self.opened(path, lock_failed, log))
            }
            Ok(Some(Recorded::Resumed {
                path,
                lock_failed,
                existing,
            })) => {
                // The recorder hears what the file it continues holds before its next op.
                self.handle.resume(existing);
                Some(self.opened(path, lock_failed, log))
            }
            Ok(Some(Recorded::Finished { path })) => {
                log_info!(
                    log,
                    "rtmp: record{} of \"{}\" finished \"{}\"",
                    label(&self.settings),
                    self.stream,
                    path.display()
                );
                Some(self.event(RecordEventKind::Finished, path))
            }
            Err(e) => {
                if resume {
                    self.handle.resume(None);
                }
                log_err!(
                    log,
                    "rtmp: record{} of \"{}\" stopped, the file stays as it is: {}",
                    label(&self.settings),
                    self.stream,
                    e
                );
                self.failed = Some(e.file.clone());
                Some(self.event(RecordEventKind::Failed, e.file))
            }
        }
    }

    fn opened(&self, path: PathBuf, lock_failed: Option<String>, log: Log) -> RecordEvent {
        if let Some(e) = lock_failed {
            log_warn!(
                log,
                "rtmp: record{} of \"{}\": \"{}\" not locked: {}",
                label(&self.settings),
                self.stream,
                path.display(),
                e
            );
        }
        self.event(RecordEventKind::Started, path)
    }

    fn event(&self, kind: RecordEventKind, path: PathBuf) -> RecordEvent {
        RecordEvent {
            settings: self.settings.clone(),
            kind,
            path,
        }
    }
}

/// ` "name"` of a `recorder` block, nothing for the application's own.
fn label(s: &RecorderSettings) -> String {
    if s.config.id.is_empty() {
        String::new()
    } else {
        format!(" \"{}\"", s.config.id)
    }
}

/// Attaches one recorder per recorder of `app` that records something to the pipeline of the
/// newly published `key`; file names take the local zone of now.
pub fn start(
    app: &AppConf,
    key: &StreamKey,
    pipeline: &mut Pipeline,
) -> Vec<(OutputId, Recording)> {
    let utc_offset_s = record_files::utc_offset_s();
    app.settings
        .record
        .iter()
        .filter(|s| s.config.mode.any())
        .map(|settings| {
            let mut config = settings.config.clone();
            config.utc_offset_s = utc_offset_s;
            let recorder = Recorder::new(config, &key.name);
            let handle = recorder.handle();
            let id = pipeline.attach(Box::new(recorder));
            let recording = Recording {
                handle,
                settings: Rc::new(settings.clone()),
                writer: RecordWriter::new(settings.path.clone(), settings.lock),
                stream: key.to_string(),
                failed: None,
            };
            (id, recording)
        })
        .collect()
}
