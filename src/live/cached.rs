//! What the GOP cache keeps of one message: the message as published (chunked, or its bare
//! payload until a player joins) and its form for legacy players.

use bytes::Bytes;

use super::legacy::{convert, LegacyPlan};
use crate::media::flv_stream::FlvWriter;
use crate::rtmp::chunk::PreparedMessage;
use crate::rtmp::message::csid;

/// A message of the cached GOP.
#[derive(Debug, Clone)]
pub enum CachedMessage {
    /// Chunked, as sent to players.
    Ready(PreparedMessage),
    /// The bare payload (nobody played the stream when it arrived).
    Bare {
        type_id: u8,
        timestamp: u32,
        payload: Bytes,
    },
}

impl CachedMessage {
    pub fn type_id(&self) -> u8 {
        match self {
            CachedMessage::Ready(m) => m.type_id,
            CachedMessage::Bare { type_id, .. } => *type_id,
        }
    }

    pub fn timestamp(&self) -> u32 {
        match self {
            CachedMessage::Ready(m) => m.timestamp,
            CachedMessage::Bare { timestamp, .. } => *timestamp,
        }
    }

    /// Appends the message's payload to `out`.
    pub fn payload_into(&self, out: &mut Vec<u8>) {
        match self {
            CachedMessage::Ready(m) => m.payload_pieces().for_each(|p| out.extend_from_slice(p)),
            CachedMessage::Bare { payload, .. } => out.extend_from_slice(payload),
        }
    }

    /// Its FLV tag (HTTP-FLV players).
    pub(super) fn flv_tag(&self) -> Bytes {
        match self {
            CachedMessage::Ready(m) => super::flv_tags::tag_of(m),
            CachedMessage::Bare {
                type_id,
                timestamp,
                payload,
            } => FlvWriter::tag(*type_id, *timestamp, payload).unwrap_or_default(),
        }
    }

    pub(super) fn len(&self) -> usize {
        match self {
            CachedMessage::Ready(m) => m.body().len(),
            CachedMessage::Bare { payload, .. } => payload.len(),
        }
    }

    /// Makes the chunked form (once).
    pub(super) fn prepare(&mut self, chunk_size: u32) {
        if let CachedMessage::Bare {
            type_id,
            timestamp,
            payload,
        } = self
        {
            let m = PreparedMessage::new(
                csid::for_media(*type_id),
                chunk_size,
                *type_id,
                *timestamp,
                payload,
            );
            *self = CachedMessage::Ready(m);
        }
    }
}

/// What legacy players get of a message ([`super::legacy`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegacyForm {
    /// The message as published.
    Same,
    /// Nothing.
    Skip,
    /// To be rewritten (track `track`) when a legacy player needs it.
    Pending { track: u8 },
    /// The rewritten message, chunked.
    Ready(PreparedMessage),
}

impl LegacyForm {
    /// The form a plan gives before anything is built.
    pub fn planned(plan: LegacyPlan) -> LegacyForm {
        match plan {
            LegacyPlan::Same => LegacyForm::Same,
            LegacyPlan::Skip => LegacyForm::Skip,
            LegacyPlan::Convert { track } => LegacyForm::Pending { track },
        }
    }

    /// Builds the legacy message of a pending form from the published `payload` (`scratch`
    /// is reused); a message without the track becomes `Skip`.
    pub fn build(
        &mut self,
        type_id: u8,
        timestamp: u32,
        payload: &[u8],
        chunk_size: u32,
        scratch: &mut Vec<u8>,
    ) {
        if let LegacyForm::Pending { track } = *self {
            *self = if convert(type_id, payload, track, scratch) {
                LegacyForm::Ready(PreparedMessage::new(
                    csid::for_media(type_id),
                    chunk_size,
                    type_id,
                    timestamp,
                    scratch,
                ))
            } else {
                LegacyForm::Skip
            };
        }
    }

    /// The message a legacy player is sent: `published` itself, the rewritten one, or none.
    pub fn pick<'a>(&'a self, published: &'a PreparedMessage) -> Option<&'a PreparedMessage> {
        match self {
            LegacyForm::Same => Some(published),
            LegacyForm::Ready(m) => Some(m),
            LegacyForm::Skip | LegacyForm::Pending { .. } => None,
        }
    }
}
