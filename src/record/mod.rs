//! Recording a published stream to files, as nginx-rtmp's `record` directives describe:
//! [`Recorder`] is the stream's output, [`RecordConfig`] its directives, [`RecordHandle`] its
//! status and manual start/stop. Files are FLV with an `onMetaData` that is rewritten in place
//! when each file is finished (duration, sizes, rates, keyframe index), so players can seek.
//!
//! How a shell uses it:
//! - one [`Recorder`] per recorder of the application (`record` itself and each
//!   `recorder NAME {}` block), attached to the stream's pipeline when it is published; its
//!   operations are [`FileOp`](crate::files::FileOp)s relative to that recorder's
//!   `record_path`, the recording variants with the contract written on `FileOp`;
//! - [`RecordHandle`] (from [`Recorder::handle`], before attaching) answers stat and the
//!   control API: `start` returns the file name nginx-rtmp's `/control/record/start`
//!   answers, `stop` the one `/control/record/stop` answers;
//! - `FinishRecording` is the moment a file is done: `on_record_done`, `exec_record_done`
//!   and `record_notify` hang on the shell executing it, with the name it used;
//! - the stream name is escaped into the file name (no `/` survives), and a suffix pattern
//!   cannot make a `/` either: every file lands directly in `record_path`.
//!
//! The recorder reads no clock: file names take [`Now::unix_ms`](crate::files::Now) of the
//! message that opens the file, in the zone given by [`RecordConfig::utc_offset_s`].
//!
//! `record_format mp4`: the same recorder (modes, names, splits, controls) writes each file
//! through [`mp4::Mp4Writer`]: fragmented MP4 appended fragment by fragment, finished with an
//! `mfra` index. The default suffix follows the format ([`RecordFormat::default_suffix`])
//! when `record_suffix` is not given (`RecordConfig::suffix` is `None`).
//!
//! `record_append` (FLV): a file opens with `FileOp::ResumeRecording`; the shell takes the
//! existing final file over as the part file and answers with [`RecordHandle::resume`]
//! ([`Existing`]: length, head, last tag header, read with [`last_tag_offset`] and
//! [`RESUME_HEAD_BYTES`]) before it polls the recorder again.

mod config;
mod existing;
mod facts;
mod flv_file;
mod handle;
mod headers;
mod meta;
pub mod mp4;
mod mp4_file;
mod open_file;
mod recorder;
mod strftime;

pub use config::{
    RecordConfig, RecordFormat, RecordMode, DEFAULT_FLUSH_BYTES, DEFAULT_FLUSH_MS,
    DEFAULT_FRAGMENT_MS, DEFAULT_INDEX_CAPACITY,
};
pub use existing::{last_tag_offset, Existing, RESUME_HEAD_BYTES};
pub use handle::{RecordHandle, RecordStatus};
pub use meta::MAX_INDEX_CAPACITY;
pub use recorder::Recorder;
pub use strftime::{strftime, CivilTime};
