//! [`EncoderFeed`]: the output of a source's pipeline that makes the FLV byte stream one
//! rendition's encoder reads.

use std::cell::Cell;
use std::collections::VecDeque;
use std::rc::Rc;

use bytes::Bytes;

use super::timebase::TimeBase;
use crate::files::Now;
use crate::live::{MediaInfo, MediaKind, Output, OutputError, OutputOp, Published};
use crate::media::flv_stream::TAG_HEADER_LEN;
use crate::media::FlvWriter;
use crate::rtmp::message::types;

/// Default bound on bytes handed to the encoder and not yet taken by it: about 10 s of a
/// 6 Mbit/s source, far more than a healthy encoder ever lags.
pub const DEFAULT_MAX_PENDING: usize = 8 << 20;

/// An FLV tag's header and trailing size around its body.
const TAG_OVERHEAD: usize = TAG_HEADER_LEN + 4;

/// What the feed did, for stat and logs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FeedStats {
    /// Messages handed to the encoder.
    pub messages: u64,
    /// Bytes handed to the encoder.
    pub bytes: u64,
    /// Media messages dropped because the encoder was too slow.
    pub dropped: u64,
    /// Times the feed started dropping.
    pub overflows: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing sent yet: the encoder starts at a keyframe, after the codec headers.
    Starting,
    Running,
    /// The encoder lags by more than the bound: media is dropped until a keyframe finds it
    /// caught up.
    Dropping,
    Finished,
}

/// Feeds one encoder: each published message as an FLV tag, codec headers first.
///
/// Bytes leave through [`OutputOp::Send`]; the shell's sink reports what the encoder took
/// through [`Output::acknowledge`]. Bytes handed out and not acknowledged are bounded by
/// `max_pending`: past it, media is dropped (and counted) until a keyframe arrives while the
/// backlog is below half the bound, so the encoder always resumes at a keyframe and memory never
/// grows with a stalled encoder. Metadata and codec headers are never dropped.
#[derive(Debug)]
pub struct EncoderFeed {
    state: State,
    ops: VecDeque<Bytes>,
    /// Handed out (queued or sent) and not acknowledged.
    unacknowledged: usize,
    max_pending: usize,
    time: TimeBase,
    /// Shared with the shell (stat), which cannot reach the feed inside the pipeline.
    stats: Rc<Cell<FeedStats>>,
}

impl EncoderFeed {
    /// A feed whose timestamps are rebased through `time` (share a clone of it with the
    /// [`RenditionReader`](super::RenditionReader) of the same encoder).
    pub fn new(time: TimeBase, max_pending: usize) -> EncoderFeed {
        EncoderFeed {
            state: State::Starting,
            ops: VecDeque::new(),
            unacknowledged: 0,
            max_pending: max_pending.max(1),
            time,
            stats: Rc::default(),
        }
    }

    pub fn stats(&self) -> FeedStats {
        self.stats.get()
    }

    /// A handle on the feed's figures that stays readable once the pipeline owns the feed.
    pub fn stats_handle(&self) -> Rc<Cell<FeedStats>> {
        self.stats.clone()
    }

    fn count(&self, f: impl FnOnce(&mut FeedStats)) {
        let mut v = self.stats.get();
        f(&mut v);
        self.stats.set(v);
    }

    /// Bytes handed out and not yet acknowledged.
    pub fn unacknowledged(&self) -> usize {
        self.unacknowledged
    }

    fn send(&mut self, bytes: Bytes) {
        self.unacknowledged += bytes.len();
        self.count(|s| s.bytes += bytes.len() as u64);
        self.ops.push_back(bytes);
    }

    fn send_tag(&mut self, type_id: u8, timestamp: u32, payload: &[u8]) {
        if type_id != types::AUDIO && type_id != types::VIDEO {
            return;
        }
        let Some(ts) = self.time.to_encoder(timestamp) else {
            return;
        };
        if let Some(tag) = FlvWriter::tag(type_id, ts, payload) {
            self.count(|s| s.messages += 1);
            self.send(tag);
        }
    }

    /// Starts the encoder's stream: the header, metadata, codec headers, then either the
    /// cached GOP (when `msg` is no keyframe and a GOP is cached) or `msg` alone.
    fn start(&mut self, msg: &Published<'_>) -> bool {
        let is_key = msg.info.kind == MediaKind::Video && msg.info.keyframe;
        let from_gop = !is_key && msg.gop.is_caching() && msg.gop.frames() > 0;
        if !is_key && !from_gop {
            return false;
        }
        let first_ts = if from_gop {
            msg.gop
                .gop()
                .next()
                .map_or(msg.timestamp, |(_, m)| m.timestamp())
        } else {
            msg.timestamp
        };
        self.time.fix(first_ts);
        let audio = msg.codecs.audio_config().is_some() || msg.gop.audio_header().is_some();
        self.send(FlvWriter::header(audio, true));
        let mut body = Vec::new();
        // No metadata: the encoder needs none, and a publisher's `@setDataFrame` is no FLV
        // script tag.
        let headers = [
            (types::VIDEO, msg.gop.video_header()),
            (types::AUDIO, msg.gop.audio_header()),
        ];
        for (type_id, m) in headers {
            if let Some(m) = m {
                body.clear();
                m.payload_pieces().for_each(|p| body.extend_from_slice(p));
                // Headers are sent at the start's time: the encoder's stream begins there.
                self.send_tag(type_id, first_ts, &body);
            }
        }
        if from_gop {
            let cached: Vec<(u8, u32, Vec<u8>)> = msg
                .gop
                .gop()
                .map(|(_, m)| {
                    let mut b = Vec::new();
                    m.payload_into(&mut b);
                    (m.type_id(), m.timestamp(), b)
                })
                .collect();
            for (type_id, ts, b) in cached {
                self.send_tag(type_id, ts, &b);
            }
        }
        self.send_tag(msg.type_id, msg.timestamp, msg.payload);
        true
    }

    fn running(&mut self, info: MediaInfo, msg: &Published<'_>) {
        let mandatory = info.is_mandatory();
        let len = msg.payload.len() + TAG_OVERHEAD;
        if self.state == State::Dropping && !mandatory {
            let key = info.kind == MediaKind::Video && info.keyframe;
            if key && self.unacknowledged + len <= self.max_pending / 2 {
                self.state = State::Running;
            } else {
                self.count(|s| s.dropped += 1);
                return;
            }
        }
        if !mandatory && self.unacknowledged + len > self.max_pending {
            self.state = State::Dropping;
            self.count(|s| {
                s.overflows += 1;
                s.dropped += 1;
            });
            return;
        }
        self.send_tag(msg.type_id, msg.timestamp, msg.payload);
    }
}

impl Output for EncoderFeed {
    fn name(&self) -> &'static str {
        "transcode"
    }

    fn push(&mut self, msg: &Published<'_>) -> Result<(), OutputError> {
        match self.state {
            State::Finished => {}
            State::Starting => {
                if self.start(msg) {
                    self.state = State::Running;
                }
            }
            State::Running | State::Dropping => self.running(msg.info, msg),
        }
        Ok(())
    }

    fn finish(&mut self, _now: Now) -> Result<(), OutputError> {
        self.state = State::Finished;
        Ok(())
    }

    fn poll_op(&mut self) -> Option<OutputOp> {
        self.ops.pop_front().map(OutputOp::Send)
    }

    fn acknowledge(&mut self, bytes: usize) {
        self.unacknowledged = self.unacknowledged.saturating_sub(bytes);
    }
}
