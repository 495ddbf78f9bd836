//! Recording a published stream to files, as nginx-rtmp's `record` directives describe:
//! [`Recorder`] is the stream's output, [`RecordConfig`] its directives, [`RecordHandle`] its
//! status and manual start/stop. Files are FLV with an `onMetaData` that is rewritten in place
//! when each file is finished (duration, sizes, rates, keyframe index), so players can seek.

mod config;
mod meta;
mod recorder;
mod strftime;

pub use config::{RecordConfig, RecordMode, DEFAULT_FLUSH_BYTES, DEFAULT_INDEX_CAPACITY};
pub use recorder::{RecordHandle, RecordStatus, Recorder};
pub use strftime::{strftime, CivilTime};
