//! The player side of a [`Session`]: shared media out, stream
//! notifications, pause and receiveAudio/receiveVideo.
//!
//! Live media reaches a player as [`PreparedMessage`]s: the shell chunks a
//! publisher's message once and hands the same value to every player's
//! session; each session queues the message's shared fmt-0 header (or, on
//! an uncommon message stream id, writes one of at most 18 bytes into its
//! own buffer) and the shared body behind it (`Bytes` clones, no copy). [`Session::pending_bytes`] tells the shell's queue policy how much
//! is waiting.

use std::fmt;

use super::streams::StreamState;
use super::{Phase, Session};
use crate::amf0;
use crate::rtmp::chunk::PreparedMessage;
use crate::rtmp::event::Event;
use crate::rtmp::message::{Control, UserControl};
use crate::rtmp::status::{self, code};

/// Why [`Session::try_send_prepared`] sent nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The stream id is not an accepted player.
    NotPlaying(u32),
    /// The player paused; it gets nothing until it resumes.
    Paused(u32),
    /// The message was chunked at another size than this session's
    /// outgoing chunk size (a bug in the caller: prepare at
    /// [`Session::chunk_size`]).
    ChunkSizeMismatch { prepared: u32, session: u32 },
    /// The payload exceeds the 24-bit message length.
    TooLarge { len: u32 },
    /// The session failed or is closing.
    Closed,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::NotPlaying(id) => write!(f, "stream {id} is not playing"),
            SendError::Paused(id) => write!(f, "stream {id} is paused"),
            SendError::ChunkSizeMismatch { prepared, session } => write!(
                f,
                "message chunked at {prepared} bytes, session sends {session}-byte chunks"
            ),
            SendError::TooLarge { len } => write!(f, "message of {len} bytes is too large"),
            SendError::Closed => f.write_str("session is closed"),
        }
    }
}

impl std::error::Error for SendError {}

impl Session {
    /// Queues a prepared media/data message for player `stream_id`: its
    /// fmt-0 header, then the shared body. False (and nothing queued) when
    /// the stream is not an accepted, unpaused player or the message does
    /// not fit this session (see [`Session::try_send_prepared`]).
    pub fn send_prepared(&mut self, stream_id: u32, msg: &PreparedMessage) -> bool {
        self.try_send_prepared(stream_id, msg).is_ok()
    }

    /// [`Session::send_prepared`] with the reason of a refusal.
    pub fn try_send_prepared(
        &mut self,
        stream_id: u32,
        msg: &PreparedMessage,
    ) -> Result<(), SendError> {
        if self.closing || matches!(self.phase, Phase::Failed) {
            return Err(SendError::Closed);
        }
        match self.streams.get(stream_id) {
            Some(StreamState::Playing { paused: false, .. }) => {}
            Some(StreamState::Playing { paused: true, .. }) => {
                return Err(SendError::Paused(stream_id))
            }
            _ => return Err(SendError::NotPlaying(stream_id)),
        }
        let session = self.encoder.chunk_size();
        if msg.chunk_size() != session {
            return Err(SendError::ChunkSizeMismatch {
                prepared: msg.chunk_size(),
                session,
            });
        }
        if !msg.is_sendable() {
            return Err(SendError::TooLarge { len: msg.len });
        }
        // The encoder's header compression state for this chunk stream no
        // longer matches what the peer last saw on it.
        self.encoder.forget(msg.csid());
        match msg.framed(stream_id) {
            Some(framed) => self.out.push_shared(framed.clone()),
            None => {
                msg.write_header(self.out.buf_mut(), stream_id);
                self.out.push_shared(msg.body().clone());
            }
        }
        Ok(())
    }

    /// Bytes queued for the peer and not yet taken by `poll_transmit` (the
    /// shell adds what it took but could not write yet).
    pub fn pending_bytes(&self) -> usize {
        self.out.pending()
    }

    /// Our outgoing chunk size: prepare messages for this session at it.
    pub fn chunk_size(&self) -> u32 {
        self.encoder.chunk_size()
    }

    /// Accepted players: message stream id and stream name (paused ones
    /// included).
    pub fn playing(&self) -> impl Iterator<Item = (u32, &str)> {
        self.streams.playing().map(|(id, name, _)| (id, name))
    }

    /// True if `stream_id` is an accepted player.
    pub fn is_playing(&self, stream_id: u32) -> bool {
        matches!(
            self.streams.get(stream_id),
            Some(StreamState::Playing { .. })
        )
    }

    /// True if `stream_id` is an accepted player that paused.
    pub fn is_play_paused(&self, stream_id: u32) -> bool {
        matches!(
            self.streams.get(stream_id),
            Some(StreamState::Playing { paused: true, .. })
        )
    }

    /// User control Stream EOF to a player: the publisher left (what
    /// nginx-rtmp sends by default; the player keeps waiting).
    pub fn send_stream_eof(&mut self, stream_id: u32) -> bool {
        if !self.is_playing(stream_id) {
            return false;
        }
        self.send_control(Control::UserControl(UserControl::StreamEof(stream_id)));
        true
    }

    /// User control Stream Begin to a player: the publisher (re)started.
    pub fn send_stream_begin(&mut self, stream_id: u32) -> bool {
        if !self.is_playing(stream_id) {
            return false;
        }
        self.send_control(Control::UserControl(UserControl::StreamBegin(stream_id)));
        true
    }

    /// Stream EOF + onStatus NetStream.Play.UnpublishNotify (nginx-rtmp
    /// with `publish_notify on`). Note that ffmpeg ends playback on it.
    pub fn send_unpublish_notify(&mut self, stream_id: u32) -> bool {
        if !self.send_stream_eof(stream_id) {
            return false;
        }
        self.send_status(
            stream_id,
            "status",
            code::PLAY_UNPUBLISH_NOTIFY,
            "Stop publishing",
        );
        true
    }

    /// Stream Begin + onStatus NetStream.Play.PublishNotify: the publisher
    /// came back (nginx-rtmp with `publish_notify on`).
    pub fn send_publish_notify(&mut self, stream_id: u32) -> bool {
        if !self.send_stream_begin(stream_id) {
            return false;
        }
        self.send_status(
            stream_id,
            "status",
            code::PLAY_PUBLISH_NOTIFY,
            "Start publishing",
        );
        true
    }

    /// Any `status`-level onStatus to a player (e.g. NetStream.Play.Start /
    /// NetStream.Play.Stop for `play_restart on`).
    pub fn send_play_status(&mut self, stream_id: u32, code: &str, description: &str) -> bool {
        if !self.is_playing(stream_id) {
            return false;
        }
        self.send_status(stream_id, "status", code, description);
        true
    }

    /// An `error`-level NetStream.Play.Failed to a player: the stream is not one it can
    /// decode (players such as FFmpeg end on it, with `description` in their log).
    pub fn fail_play(&mut self, stream_id: u32, description: &str) -> bool {
        if !self.is_playing(stream_id) {
            return false;
        }
        self.send_status(stream_id, "error", code::PLAY_FAILED, description);
        true
    }

    /// `|RtmpSampleAccess` to a player (sent by `accept_play` already; again
    /// after a Play.Start for `play_restart on`).
    pub fn send_sample_access(&mut self, stream_id: u32) -> bool {
        if !self.is_playing(stream_id) {
            return false;
        }
        let body = amf0::encode_to_bytes(&status::sample_access());
        self.write(
            super::csid::STATUS,
            0,
            super::types::DATA_AMF0,
            stream_id,
            &body,
        );
        true
    }

    /// `pause` from a player, answered as nginx-rtmp's live module does:
    /// NetStream.Pause.Notify then Stream EOF, or NetStream.Unpause.Notify
    /// then Stream Begin. A pause on anything but a player is ignored; a
    /// repeated pause (or resume) is answered but changes nothing.
    pub(super) fn handle_pause(&mut self, stream_id: u32, pause: bool) {
        let Some(StreamState::Playing { paused, .. }) = self.streams.get_mut(stream_id) else {
            return;
        };
        let changed = *paused != pause;
        *paused = pause;
        if pause {
            self.send_status(stream_id, "status", code::PAUSE_NOTIFY, "Paused live");
        } else {
            self.send_status(stream_id, "status", code::UNPAUSE_NOTIFY, "Unpaused live");
        }
        if !changed {
            return;
        }
        let control = if pause {
            UserControl::StreamEof(stream_id)
        } else {
            UserControl::StreamBegin(stream_id)
        };
        self.send_control(Control::UserControl(control));
        self.events.push_back(Event::Pause {
            stream_id,
            paused: pause,
        });
    }

    /// `receiveAudio` / `receiveVideo` from a player: reported, not
    /// answered (nginx-rtmp ignores them).
    pub(super) fn handle_receive(
        &mut self,
        stream_id: u32,
        audio: Option<bool>,
        video: Option<bool>,
    ) {
        if self.is_playing(stream_id) {
            self.events.push_back(Event::Receive {
                stream_id,
                audio,
                video,
            });
        }
    }
}
