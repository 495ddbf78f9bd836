//! Live streams of one worker: who publishes what, and the per-stream media state.

mod hub;

pub use hub::{Hub, LiveStream, PublishError, StreamHandle, StreamKey};
