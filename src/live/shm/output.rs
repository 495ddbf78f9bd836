//! The stream's ring as an output of its pipeline: every message is copied into the shared
//! zone once, whatever the number of workers that read it, while another worker reads it.

use super::layout::ShmError;
use super::region::Region;
use super::slot::HeaderKind;
use super::writer::{Demand, SlotWriter};
use crate::files::Now;
use crate::live::gop::GopCache;
use crate::live::media_info::MediaKind;
use crate::live::output::{Output, OutputError, Published};

/// How often the publisher's heartbeat is renewed, ms.
const HEARTBEAT_MS: u64 = 1000;

/// A publisher's slot in the shared zone, fed by the stream's pipeline.
pub struct RingOutput<R: Region> {
    writer: SlotWriter<R>,
    last_heartbeat: u64,
}

impl<R: Region> RingOutput<R> {
    pub fn new(writer: SlotWriter<R>, now_ms: u64) -> RingOutput<R> {
        RingOutput {
            writer,
            last_heartbeat: now_ms,
        }
    }

    /// Headers always (they are small and a reader takes them when it attaches); records only
    /// while a reader wants them, after the cached GOP when one just asked.
    fn write(&mut self, msg: &Published<'_>) -> Result<(), ShmError> {
        let info = msg.info;
        let now = msg.now.monotonic_ms;
        // One header copy per kind: the primary track's (a multitrack stream's other tracks
        // reach readers in the ring's records).
        let primary = msg
            .gop
            .primary_track(info.kind)
            .is_none_or(|t| t >= info.track);
        if (info.sequence_header && primary) || info.kind == MediaKind::Meta {
            let which = match info.kind {
                MediaKind::Audio => HeaderKind::Audio,
                MediaKind::Video => HeaderKind::Video,
                MediaKind::Meta => HeaderKind::Metadata,
            };
            self.writer.set_header(which, msg.payload)?;
        }
        match self.writer.demand(now)? {
            Demand::Idle => {}
            // A keyframe starts a reader by itself.
            Demand::Resume if !(info.kind == MediaKind::Video && info.keyframe) => {
                replay_gop(&mut self.writer, msg.gop)?;
                self.push(msg)?;
            }
            Demand::Resume | Demand::Active => self.push(msg)?,
        }
        if now >= self.last_heartbeat + HEARTBEAT_MS {
            self.last_heartbeat = now;
            self.writer.heartbeat(now)?;
        }
        Ok(())
    }

    fn push(&mut self, msg: &Published<'_>) -> Result<(), ShmError> {
        self.writer
            .push(msg.type_id, msg.timestamp, msg.info.keyframe, msg.payload)
    }
}

/// Writes the stream's cached GOP (keyframe first) for a reader that just arrived.
fn replay_gop<R: Region>(ring: &mut SlotWriter<R>, gop: &GopCache) -> Result<(), ShmError> {
    let mut payload = Vec::new();
    for (info, msg) in gop.gop() {
        payload.clear();
        msg.payload_into(&mut payload);
        ring.push(msg.type_id(), msg.timestamp(), info.keyframe, &payload)?;
    }
    Ok(())
}

impl<R: Region> Output for RingOutput<R> {
    fn name(&self) -> &'static str {
        "shared ring"
    }

    fn push(&mut self, msg: &Published<'_>) -> Result<(), OutputError> {
        self.write(msg).map_err(|e| match e {
            ShmError::Lost => OutputError::Replaced,
            e => OutputError::Failed(e.to_string()),
        })
    }

    /// The slot closes when the output is dropped.
    fn finish(&mut self, _now: Now) -> Result<(), OutputError> {
        Ok(())
    }
}
