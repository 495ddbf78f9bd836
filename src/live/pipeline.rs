//! The route of a published message: one pipeline per live stream takes each message once and
//! does everything the server does with it.
//!
//! ```text
//! message ─▶ classify (MediaInfo), count ─▶ demux (Frame) ─▶ outputs (HLS, DASH, ring, ...)
//!                                                     └────▶ GOP cache + message chunked once
//!                                                              for the stream's players
//! ```
//!
//! The pipeline does no I/O. What it produces is executed by the shell: the chunked message
//! ([`Delivery`]) is queued to the stream's players, each output's [`OutputOp`]s are run (file
//! operations under that output's directory, bytes to its sink: [`Pipeline::poll_op`]), and an output that fails is removed and
//! reported ([`Pipeline::poll_event`]) while the stream and its other outputs go on.

use std::cell::OnceCell;
use std::collections::VecDeque;

use bytes::Bytes;

use super::flv_tags::tag_of;
use super::gop::{GopCache, LegacyForm};
use super::legacy::{LegacyPlan, StreamCodecs, StreamForm, View};
use super::media_info::{MediaInfo, MediaKind};
use super::output::{Output, OutputError, OutputOp, Published};
use crate::files::Now;
use crate::media::{Demuxer, MediaError};
use crate::rtmp::chunk::PreparedMessage;
use crate::rtmp::message::csid;
use crate::rtmp::KeyframeSeen;

/// Counts of what a stream received (stat, the publisher's closing log line).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    pub audio_messages: u64,
    pub video_messages: u64,
    /// Media bytes (audio and video payloads).
    pub bytes_in: u64,
    pub audio_bytes: u64,
    pub video_bytes: u64,
    /// Media messages the demuxer could not parse (dropped for the outputs, not fatal).
    pub bad_messages: u64,
}

/// Which of a stream's outputs a file operation or an event belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OutputId(u32);

/// How often a stream reports an audio/video message its demuxer refused: the first one at
/// once, then at most one per this many milliseconds, so a publisher flooding broken messages
/// cannot flood the log.
pub const BAD_MESSAGE_REPORT_MS: u64 = 10_000;

/// What the shell learns from the pipeline besides file operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PipelineEvent {
    /// The demuxer refused a message: the outputs did not get it (players still do; the bytes
    /// are the publisher's). Rate-limited by [`BAD_MESSAGE_REPORT_MS`].
    BadMessage {
        kind: MediaKind,
        error: MediaError,
        /// Refused messages not reported since the previous report.
        suppressed: u64,
    },
    /// An output stopped and was removed; the stream goes on without it.
    OutputFailed {
        id: OutputId,
        name: &'static str,
        error: OutputError,
    },
}

/// One message for the stream's players: chunked once, shared by every player and the GOP
/// cache; its legacy form too, built once for every legacy player.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub info: MediaInfo,
    pub message: PreparedMessage,
    /// What players that do not take the stream as published get (never `Pending`).
    pub legacy: LegacyForm,
    /// The stream's codecs, after this message: each player chooses its view from it.
    pub form: StreamForm,
    /// Its FLV tag, built for the first HTTP-FLV player and shared by the others.
    flv: OnceCell<Bytes>,
}

impl Delivery {
    /// The message for a player of `view`, if it gets one.
    pub fn for_view(&self, view: View) -> Option<&PreparedMessage> {
        match view {
            View::AsPublished => Some(&self.message),
            View::Legacy => self.legacy.pick(&self.message),
            View::Unplayable(_) => None,
        }
    }

    /// The message as an FLV tag (HTTP-FLV players take the stream as published): built
    /// once, at the first call, and shared by every later caller.
    pub fn flv_tag(&self) -> &Bytes {
        self.flv.get_or_init(|| tag_of(&self.message))
    }

    /// The FLV tag, if a player asked for it.
    pub fn flv_tag_built(&self) -> Option<&Bytes> {
        self.flv.get()
    }
}

/// A message published into the stream.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    /// RTMP message type: audio, video or data (onMetaData).
    pub type_id: u8,
    pub timestamp: u32,
    pub payload: &'a Bytes,
    pub now: Now,
}

struct Attached {
    id: OutputId,
    output: Box<dyn Output>,
}

/// The per-stream pipeline: media state, GOP cache and outputs.
pub struct Pipeline {
    /// Chunk size of the messages prepared for players.
    chunk_size: u32,
    /// Whether messages are demuxed into frames (a local publisher's stream; a stream
    /// mirrored from another worker only serves players).
    demux: bool,
    gop: GopCache,
    demuxer: Demuxer,
    counters: Counters,
    outputs: Vec<Attached>,
    next_id: u32,
    events: VecDeque<PipelineEvent>,
    /// The latest video keyframe.
    keyframe: Option<KeyframeSeen>,
    /// Each track's codec, from the sequence headers (for the players' views).
    tracks: StreamCodecs,
    /// Reused to build legacy forms.
    scratch: Vec<u8>,
    /// When the latest refused message was reported (monotonic ms).
    bad_reported_ms: Option<u64>,
    /// Refused messages since then.
    bad_suppressed: u64,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("chunk_size", &self.chunk_size)
            .field("demux", &self.demux)
            .field("counters", &self.counters)
            .field(
                "outputs",
                &self
                    .outputs
                    .iter()
                    .map(|a| a.output.name())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    /// A pipeline for a stream published on this worker: messages are demuxed (codec info for
    /// stat, frames for the outputs).
    pub fn published(gop: GopCache, chunk_size: u32) -> Pipeline {
        Pipeline::new(gop, chunk_size, true)
    }

    /// A pipeline for a stream mirrored from another worker: players only, no demuxing (the
    /// publisher's worker writes the stream's files).
    pub fn mirrored(gop: GopCache, chunk_size: u32) -> Pipeline {
        Pipeline::new(gop, chunk_size, false)
    }

    fn new(gop: GopCache, chunk_size: u32, demux: bool) -> Pipeline {
        Pipeline {
            chunk_size,
            demux,
            gop,
            demuxer: Demuxer::new(),
            counters: Counters::default(),
            outputs: Vec::new(),
            next_id: 0,
            events: VecDeque::new(),
            keyframe: None,
            tracks: StreamCodecs::default(),
            scratch: Vec::new(),
            bad_reported_ms: None,
            bad_suppressed: 0,
        }
    }

    /// Adds an output; it gets every message from the next one on.
    pub fn attach(&mut self, output: Box<dyn Output>) -> OutputId {
        let id = OutputId(self.next_id);
        self.next_id = self.next_id.wrapping_add(1);
        self.outputs.push(Attached { id, output });
        id
    }

    /// Removes an output (the shell could not execute what it asked), without finishing it.
    pub fn detach(&mut self, id: OutputId) -> Option<Box<dyn Output>> {
        let pos = self.outputs.iter().position(|a| a.id == id)?;
        Some(self.outputs.remove(pos).output)
    }

    /// The name of an attached output.
    pub fn output_name(&self, id: OutputId) -> Option<&'static str> {
        self.outputs
            .iter()
            .find(|a| a.id == id)
            .map(|a| a.output.name())
    }

    /// Takes one published message. Returns it chunked for the players when `for_players`
    /// (the stream has players now); otherwise the GOP cache keeps the bare payload and
    /// chunks it only if a player joins while it is cached.
    pub fn ingest(&mut self, msg: Incoming<'_>, for_players: bool) -> Option<Delivery> {
        let mut info = MediaInfo::classify(msg.type_id, msg.payload);
        // The publisher's worker repeats the other tracks' headers in the ring after each
        // keyframe of the primary track (a reader may start there): known ones go no further.
        // (The primary tracks' headers are never repeated: a mirror primed with the slot's
        // copy still delivers the record of it to players that waited for the stream.)
        if !self.demux
            && info.sequence_header
            && self
                .gop
                .primary_track(info.kind)
                .is_some_and(|p| p < info.track)
            && self.gop.has_header(info.kind, info.track, msg.payload)
        {
            return None;
        }
        let len = msg.payload.len() as u64;
        match info.kind {
            MediaKind::Video => {
                self.counters.video_messages += 1;
                self.counters.video_bytes += len;
                self.counters.bytes_in += len;
                if info.keyframe {
                    self.keyframe = Some(KeyframeSeen {
                        len: msg.payload.len(),
                        at_ms: msg.now.monotonic_ms,
                    });
                }
            }
            MediaKind::Audio => {
                self.counters.audio_messages += 1;
                self.counters.audio_bytes += len;
                self.counters.bytes_in += len;
            }
            MediaKind::Meta => {}
        }
        let demuxed = match info.kind {
            MediaKind::Video if self.demux => self
                .demuxer
                .push_video(msg.timestamp, msg.payload.clone())
                .map(|f| !f.is_empty()),
            MediaKind::Audio if self.demux => self
                .demuxer
                .push_audio(msg.timestamp, msg.payload.clone())
                .map(|f| !f.is_empty()),
            _ => Ok(false),
        };
        let has_frames = match demuxed {
            Ok(has_frames) => has_frames,
            Err(error) => {
                // A malformed header or keyframe must not replace the cached header nor start
                // the GOP joining players get (a codec we do not parse passes as it came).
                if error.is_malformed() {
                    info.sequence_header = false;
                    info.keyframe = false;
                }
                self.bad_message(info.kind, error, msg.now.monotonic_ms);
                false
            }
        };
        // After the demuxer's verdict: a malformed header changes no track.
        self.tracks.note(msg.type_id, msg.payload, &info);
        let form = self.tracks.form();
        let plan = LegacyPlan::of(msg.type_id, msg.payload, &form);
        if !self.outputs.is_empty() {
            let published = Published {
                now: msg.now,
                info,
                type_id: msg.type_id,
                timestamp: msg.timestamp,
                payload: msg.payload,
                frames: if has_frames {
                    self.demuxer.frames()
                } else {
                    &[]
                },
                codecs: &self.demuxer,
                gop: &self.gop,
            };
            each_output(&mut self.outputs, &mut self.events, |o| o.push(&published));
        }
        if for_players {
            let message = PreparedMessage::new(
                csid::for_media(msg.type_id),
                self.chunk_size,
                msg.type_id,
                msg.timestamp,
                msg.payload,
            );
            let mut legacy = LegacyForm::planned(plan);
            legacy.build(
                msg.type_id,
                msg.timestamp,
                msg.payload,
                self.chunk_size,
                &mut self.scratch,
            );
            self.gop.push(info, &message, legacy.clone());
            Some(Delivery {
                info,
                message,
                legacy,
                form,
                flv: OnceCell::new(),
            })
        } else {
            self.gop.push_payload(
                info,
                msg.type_id,
                msg.timestamp,
                msg.payload,
                self.chunk_size,
                LegacyForm::planned(plan),
            );
            None
        }
    }

    /// Counts a refused message and reports it unless one was reported recently.
    fn bad_message(&mut self, kind: MediaKind, error: MediaError, now_ms: u64) {
        self.counters.bad_messages += 1;
        let due = self
            .bad_reported_ms
            .is_none_or(|t| now_ms.saturating_sub(t) >= BAD_MESSAGE_REPORT_MS);
        if !due {
            self.bad_suppressed += 1;
            return;
        }
        self.bad_reported_ms = Some(now_ms);
        self.events.push_back(PipelineEvent::BadMessage {
            kind,
            error,
            suppressed: std::mem::take(&mut self.bad_suppressed),
        });
    }

    /// Caches a codec header or metadata (of a stream mirrored from another worker) for
    /// joining players, without counting it or passing it to the outputs.
    pub fn prime(&mut self, type_id: u8, payload: &[u8]) {
        let info = MediaInfo::classify(type_id, payload);
        self.tracks.note(type_id, payload, &info);
        let plan = LegacyPlan::of(type_id, payload, &self.tracks.form());
        let message = PreparedMessage::new(
            csid::for_media(type_id),
            self.chunk_size,
            type_id,
            0,
            payload,
        );
        let mut legacy = LegacyForm::planned(plan);
        legacy.build(type_id, 0, payload, self.chunk_size, &mut self.scratch);
        self.gop.push(info, &message, legacy);
    }

    /// The publisher left: every output finishes (its last file operations follow).
    pub fn finish(&mut self, now: Now) {
        each_output(&mut self.outputs, &mut self.events, |o| o.finish(now));
    }

    /// The next operation of an output, in order per output.
    pub fn poll_op(&mut self) -> Option<(OutputId, OutputOp)> {
        self.outputs
            .iter_mut()
            .find_map(|a| a.output.poll_op().map(|op| (a.id, op)))
    }

    /// The next line an output has for the shell's log: `(output name, line)`.
    pub fn poll_notice(&mut self) -> Option<(&'static str, String)> {
        self.outputs
            .iter_mut()
            .find_map(|a| a.output.poll_notice().map(|line| (a.output.name(), line)))
    }

    /// The byte sink of output `id` delivered `bytes` more of what it was sent.
    pub fn acknowledge(&mut self, id: OutputId, bytes: usize) {
        if let Some(a) = self.outputs.iter_mut().find(|a| a.id == id) {
            a.output.acknowledge(bytes);
        }
    }

    pub fn poll_event(&mut self) -> Option<PipelineEvent> {
        self.events.pop_front()
    }

    /// Metadata, codec headers and the current GOP, for joining players.
    pub fn gop(&self) -> &GopCache {
        &self.gop
    }

    /// What a joining player of `view` gets at once: metadata, codec headers and the current
    /// GOP, chunked (the GOP's bare payloads are chunked now, once, for every later joiner
    /// too), in their legacy form for a legacy view; nothing for an unplayable one.
    pub fn join_burst(
        &mut self,
        view: View,
    ) -> impl Iterator<Item = (MediaInfo, &PreparedMessage)> {
        let legacy = view != View::AsPublished;
        let take = if matches!(view, View::Unplayable(_)) {
            0
        } else {
            usize::MAX
        };
        self.gop.join_burst(self.chunk_size, legacy).take(take)
    }

    /// What a joining HTTP-FLV player gets at once, as FLV tags ([`GopCache::flv_burst`]).
    pub fn flv_burst(&mut self) -> impl Iterator<Item = (MediaInfo, &Bytes)> {
        self.gop.flv_burst()
    }

    /// The players of `d` (the latest message) built its FLV tag: the GOP cache keeps it for
    /// HTTP-FLV players that join later.
    pub fn adopt_flv(&mut self, d: &Delivery) {
        if let Some(tag) = d.flv_tag_built() {
            self.gop.adopt_flv(tag);
        }
    }

    /// The metadata and sequence headers the cache holds, as deliveries: for players that
    /// waited for a stream mirrored from another worker, whose mirror was primed with the
    /// headers the publisher sent before this worker started reading.
    pub fn header_deliveries(&self) -> Vec<Delivery> {
        let form = self.tracks.form();
        let meta = self.gop.metadata().map(|m| Delivery {
            info: MediaInfo::meta(),
            message: m.clone(),
            legacy: LegacyForm::Same,
            form,
            flv: OnceCell::new(),
        });
        meta.into_iter()
            .chain(self.gop.headers().map(|h| Delivery {
                info: h.info,
                message: h.message.clone(),
                legacy: match &h.legacy {
                    LegacyForm::Pending { .. } => LegacyForm::Skip,
                    l => l.clone(),
                },
                form,
                flv: OnceCell::new(),
            }))
            .collect()
    }

    /// The metadata and sequence headers the publisher sent, as messages again (type id,
    /// timestamp, payload): what its publication sends first when it goes on under another
    /// name, because the publisher does not send them again.
    pub fn setup_messages(&self) -> Vec<(u8, u32, Bytes)> {
        self.gop
            .setup()
            .map(|(_, m)| (m.type_id, m.timestamp, m.payload()))
            .collect()
    }

    /// The stream's codecs as the players' views see them.
    pub fn form(&self) -> StreamForm {
        self.tracks.form()
    }

    /// The stream's codec configuration (stat).
    pub fn codecs(&self) -> &Demuxer {
        &self.demuxer
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The latest video keyframe (the publisher's read pacing expects the next one).
    pub fn last_keyframe(&self) -> Option<KeyframeSeen> {
        self.keyframe
    }
}

/// Runs `f` on every output; one that fails is removed and reported.
fn each_output(
    outputs: &mut Vec<Attached>,
    events: &mut VecDeque<PipelineEvent>,
    mut f: impl FnMut(&mut dyn Output) -> Result<(), OutputError>,
) {
    outputs.retain_mut(|a| match f(a.output.as_mut()) {
        Ok(()) => true,
        Err(error) => {
            events.push_back(PipelineEvent::OutputFailed {
                id: a.id,
                name: a.output.name(),
                error,
            });
            false
        }
    });
}
