//! Live streams of one worker: who publishes what, and the per-stream media state.

pub mod gop;
mod hub;
pub mod media_info;
pub mod player;
pub mod shm;

pub use gop::{CachedMessage, GopCache};
pub use hub::{ClientId, Hub, LiveStream, Player, PublishError, StreamHandle, StreamKey};
pub use media_info::{MediaInfo, MediaKind};
pub use player::{Admit, PlayerQueue, QueuePolicy};
