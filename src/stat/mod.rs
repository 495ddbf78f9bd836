//! Statistics and control, the pure part: the stat model, its renderings (nginx-rtmp's XML,
//! JSON, Prometheus text), a worker's snapshot built from its figures (with bitrates), the
//! binary encoding of the snapshot every worker publishes, the shared board that
//! holds the snapshots and the control mailboxes, and the `rtmp_control` commands.
//!
//! Why a board: nginx-rtmp's stat page shows the worker that happens to answer. Here every
//! worker publishes its part (about once a second, and at once when its streams or clients
//! change) and whichever worker answers merges them all.

pub mod bitrate;
pub mod board;
pub mod codec;
pub mod control;
pub mod control_error;
pub mod format;
pub mod json;
pub mod model;
pub mod prom;
pub mod record_control;
pub mod snapshot;
pub mod xml;

pub use control::{ClientView, Command, Control, ControlSections, RedirectWhat, Subject};
pub use control_error::ControlError;
pub use format::Format;
pub use model::{
    merge, AudioMeta, ClientStat, MergeContext, Meta, ProcessStat, RecorderStat, RelayStat,
    Sections, ServerCounters, ServerLayout, Snapshot, StatView, StreamStat, TrackMeta, VideoMeta,
};
pub use record_control::{RecordAction, RecordCommand};
pub use snapshot::{Aggregator, ClientInput, LocalFigures, StreamId, StreamInput, WorkerInput};

#[cfg(test)]
mod control_tests;
#[cfg(test)]
mod protocol_tests;
#[cfg(test)]
mod redirect_tests;
#[cfg(test)]
mod relay_tests;
#[cfg(test)]
mod tests;
