//! nginx-rtmp's recording directives as the shell uses them: one [`RecorderSettings`] per
//! recorder of an application (the application's own `record` line, then each
//! `recorder NAME {}` block in order).

use std::path::PathBuf;

use crate::record::RecordConfig;

/// One recorder: what it records and how ([`RecordConfig`]), where its files go, and what the
/// shell does around its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecorderSettings {
    /// `record`, `record_suffix`, `record_unique`, `record_append`, `record_max_size`,
    /// `record_max_frames`, `record_interval`, `record_format`, `record_fragment`; the
    /// block's name in `config.id` (empty for the application's own recorder).
    pub config: RecordConfig,
    /// `record_path` (nginx-rtmp's default: `/tmp`); `nginx -t` creates it and checks that
    /// the workers can write it.
    pub path: PathBuf,
    /// `record_lock on`: the file being written is locked (`flock`) until it is finished.
    pub lock: bool,
    /// `record_notify on`: the publisher gets `NetStream.Record.Start`/`Stop` statuses.
    pub notify: bool,
}
