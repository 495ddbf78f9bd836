//! The message streams of a session (createStream ids) and their states.

use crate::rtmp::error::OrderError;

/// What a message stream is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StreamState {
    /// Created, nothing requested yet (or stopped).
    Idle,
    /// publish asked, awaiting the shell's decision.
    PublishPending { name: String },
    /// Accepted publisher.
    Publishing { name: String },
    /// play asked, awaiting the shell's decision; `reset` is the play
    /// command's reset flag.
    PlayPending { name: String, reset: bool },
    /// Accepted player; `paused` after a `pause` command.
    Playing { name: String, paused: bool },
}

impl StreamState {
    pub(crate) fn is_pending(&self) -> bool {
        matches!(
            self,
            StreamState::PublishPending { .. } | StreamState::PlayPending { .. }
        )
    }
}

/// Message streams by id. Ids start at 1 and are never reused within a
/// session.
///
/// A list in id order (new ids are the largest): a session has one or two
/// streams, where a map's node would cost several times their size.
#[derive(Debug, Default)]
pub(crate) struct Streams {
    list: Vec<(u32, StreamState)>,
    last_id: u32,
}

impl Streams {
    pub(crate) fn create(&mut self, max: u32) -> Result<u32, OrderError> {
        if self.list.len() >= max as usize {
            return Err(OrderError::TooManyStreams { max });
        }
        let id = self
            .last_id
            .checked_add(1)
            .ok_or(OrderError::TooManyStreams { max })?;
        self.last_id = id;
        // Most sessions create one stream: room for exactly one first.
        if self.list.capacity() == 0 {
            self.list.reserve_exact(1);
        }
        self.list.push((id, StreamState::Idle));
        Ok(id)
    }

    pub(crate) fn get(&self, id: u32) -> Option<&StreamState> {
        self.list.iter().find(|(i, _)| *i == id).map(|(_, s)| s)
    }

    pub(crate) fn get_mut(&mut self, id: u32) -> Option<&mut StreamState> {
        self.list.iter_mut().find(|(i, _)| *i == id).map(|(_, s)| s)
    }

    pub(crate) fn remove(&mut self, id: u32) -> Option<StreamState> {
        let pos = self.list.iter().position(|(i, _)| *i == id)?;
        Some(self.list.remove(pos).1)
    }

    fn states(&self) -> impl Iterator<Item = &StreamState> {
        self.list.iter().map(|(_, s)| s)
    }

    pub(crate) fn any_pending(&self) -> bool {
        self.states().any(StreamState::is_pending)
    }

    pub(crate) fn any_publishing(&self) -> bool {
        self.states()
            .any(|s| matches!(s, StreamState::Publishing { .. }))
    }

    /// The accepted publishing stream with this name.
    pub(crate) fn find_publishing(&self, name: &str) -> Option<u32> {
        self.list.iter().find_map(|(id, s)| match s {
            StreamState::Publishing { name: n } if n == name => Some(*id),
            _ => None,
        })
    }

    /// Accepted players: stream id, name, paused.
    pub(crate) fn playing(&self) -> impl Iterator<Item = (u32, &str, bool)> {
        self.list.iter().filter_map(|(id, s)| match s {
            StreamState::Playing { name, paused } => Some((*id, name.as_str(), *paused)),
            _ => None,
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    /// Heap bytes held: the list and the stream names.
    pub(crate) fn heap_bytes(&self) -> usize {
        let names: usize = self
            .states()
            .map(|s| match s {
                StreamState::Idle => 0,
                StreamState::PublishPending { name }
                | StreamState::Publishing { name }
                | StreamState::PlayPending { name, .. }
                | StreamState::Playing { name, .. } => name.capacity(),
            })
            .sum();
        self.list.capacity() * std::mem::size_of::<(u32, StreamState)>() + names
    }
}
