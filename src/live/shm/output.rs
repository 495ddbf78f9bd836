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
        // Readers start at keyframes of the primary video track.
        let key = info.kind == MediaKind::Video
            && info.keyframe
            && msg
                .gop
                .primary_track(MediaKind::Video)
                .is_none_or(|t| t == info.track);
        match self.writer.demand(now)? {
            Demand::Idle => {}
            // A keyframe starts a reader by itself.
            Demand::Resume if !key => {
                replay_gop(&mut self.writer, msg.gop)?;
                self.push(msg, key)?;
            }
            Demand::Resume | Demand::Active => {
                self.push(msg, key)?;
                if key {
                    push_other_headers(&mut self.writer, msg.gop)?;
                }
            }
        }
        if now >= self.last_heartbeat + HEARTBEAT_MS {
            self.last_heartbeat = now;
            self.writer.heartbeat(now)?;
        }
        Ok(())
    }

    fn push(&mut self, msg: &Published<'_>, key: bool) -> Result<(), ShmError> {
        self.writer
            .push(msg.type_id, msg.timestamp, key, msg.payload)
    }
}

/// The sequence headers of every track but the primary ones (whose copies the slot keeps),
/// written after a keyframe of the primary video track: a reader that starts there gets the
/// whole multitrack stream. A stream with one track of each kind writes nothing here.
fn push_other_headers<R: Region>(ring: &mut SlotWriter<R>, gop: &GopCache) -> Result<(), ShmError> {
    let video = gop.primary_track(MediaKind::Video);
    let audio = gop.primary_track(MediaKind::Audio);
    let mut payload = Vec::new();
    for h in gop.headers() {
        let primary = match h.info.kind {
            MediaKind::Video => video,
            MediaKind::Audio => audio,
            MediaKind::Meta => None,
        };
        if primary == Some(h.info.track) {
            continue;
        }
        payload.clear();
        h.message
            .payload_pieces()
            .for_each(|p| payload.extend_from_slice(p));
        ring.push(h.message.type_id, h.message.timestamp, false, &payload)?;
    }
    Ok(())
}

/// Writes the stream's cached GOP (keyframe first) for a reader that just arrived.
fn replay_gop<R: Region>(ring: &mut SlotWriter<R>, gop: &GopCache) -> Result<(), ShmError> {
    let mut payload = Vec::new();
    let key_track = gop.primary_track(MediaKind::Video);
    for (i, (info, msg)) in gop.gop().enumerate() {
        payload.clear();
        msg.payload_into(&mut payload);
        let key = info.keyframe && key_track.is_none_or(|t| t == info.track);
        ring.push(msg.type_id(), msg.timestamp(), key, &payload)?;
        if i == 0 {
            push_other_headers(ring, gop)?;
        }
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
