//! Live streams of one worker: who publishes what, and the route of every published message
//! ([`Pipeline`]) to the stream's players and [`Output`]s.

mod cached;
pub mod flv_tags;
pub mod gop;
mod hub;
pub mod legacy;
pub mod media_info;
mod output;
mod pipeline;
pub mod player;
pub mod shm;
mod sink;
mod track_select;

pub use gop::{CachedMessage, GopCache, LegacyForm};
pub use hub::{ClientId, Hub, LiveStream, Player, PublishError, StreamHandle, StreamKey};
pub use legacy::{StreamForm, View};
pub use media_info::{MediaInfo, MediaKind};
pub use output::{Output, OutputError, OutputOp, Published};
pub use pipeline::{
    Counters, Delivery, Incoming, OutputId, Pipeline, PipelineEvent, BAD_MESSAGE_REPORT_MS,
};
pub use player::{Admit, PlayerQueue, QueuePolicy};
pub use sink::{ByteSink, MemorySink};
pub use track_select::{AudioChoice, TrackSelect};
