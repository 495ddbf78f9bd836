//! The registry of published streams (one per worker).
//!
//! Streams live in a slab so that a publisher's connection holds a [`StreamHandle`] and reaches
//! its stream per media message without hashing the name; a generation counter makes a stale
//! handle (the stream was unpublished and the slot reused) miss instead of hitting another stream.

use std::collections::HashMap;
use std::fmt;

use bytes::Bytes;

use crate::media::Demuxer;

/// The identity of a live stream: server block, application and (public) stream name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamKey {
    pub server: usize,
    pub app: String,
    pub name: String,
}

impl fmt::Display for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.app, self.name)
    }
}

/// Opaque identity of the connection that publishes a stream.
pub type ClientId = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamHandle {
    slot: usize,
    generation: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishError {
    /// Another client already publishes this name.
    Busy,
}

impl fmt::Display for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublishError::Busy => f.write_str("stream is already being published"),
        }
    }
}

impl std::error::Error for PublishError {}

/// One published stream.
#[derive(Debug)]
pub struct LiveStream {
    pub key: StreamKey,
    pub publisher: ClientId,
    pub started_ms: u64,
    /// The latest `onMetaData` body, as players are sent it.
    pub metadata: Option<Bytes>,
    pub audio_messages: u64,
    pub video_messages: u64,
    pub bytes_in: u64,
    /// Codec state of the published media (sequence headers, timestamps).
    pub demuxer: Demuxer,
    /// Media messages that could not be parsed (dropped, not fatal).
    pub bad_messages: u64,
}

#[derive(Debug)]
struct Slot {
    generation: u64,
    stream: Option<LiveStream>,
}

#[derive(Debug, Default)]
pub struct Hub {
    slots: Vec<Slot>,
    free: Vec<usize>,
    by_key: HashMap<StreamKey, usize>,
    generation: u64,
}

impl Hub {
    pub fn new() -> Hub {
        Hub::default()
    }

    /// Registers `client` as the publisher of `key`. A name has at most one publisher.
    pub fn publish(
        &mut self,
        key: StreamKey,
        client: ClientId,
        now_ms: u64,
    ) -> Result<StreamHandle, PublishError> {
        if self.by_key.contains_key(&key) {
            return Err(PublishError::Busy);
        }
        self.generation += 1;
        let stream = LiveStream {
            key: key.clone(),
            publisher: client,
            started_ms: now_ms,
            metadata: None,
            audio_messages: 0,
            video_messages: 0,
            bytes_in: 0,
            demuxer: Demuxer::new(),
            bad_messages: 0,
        };
        let slot = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    stream: None,
                });
                self.slots.len() - 1
            }
        };
        self.slots[slot] = Slot {
            generation: self.generation,
            stream: Some(stream),
        };
        self.by_key.insert(key, slot);
        Ok(StreamHandle {
            slot,
            generation: self.generation,
        })
    }

    pub fn get_mut(&mut self, h: StreamHandle) -> Option<&mut LiveStream> {
        self.slots
            .get_mut(h.slot)
            .filter(|s| s.generation == h.generation)
            .and_then(|s| s.stream.as_mut())
    }

    pub fn get(&self, h: StreamHandle) -> Option<&LiveStream> {
        self.slots
            .get(h.slot)
            .filter(|s| s.generation == h.generation)
            .and_then(|s| s.stream.as_ref())
    }

    pub fn find(&self, key: &StreamKey) -> Option<&LiveStream> {
        let slot = *self.by_key.get(key)?;
        self.slots.get(slot)?.stream.as_ref()
    }

    /// Removes the stream; returns it so the caller can finish its outputs.
    pub fn unpublish(&mut self, h: StreamHandle) -> Option<LiveStream> {
        let slot = self
            .slots
            .get_mut(h.slot)
            .filter(|s| s.generation == h.generation)?;
        let stream = slot.stream.take()?;
        self.by_key.remove(&stream.key);
        self.free.push(h.slot);
        Some(stream)
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    pub fn streams(&self) -> impl Iterator<Item = &LiveStream> {
        self.slots.iter().filter_map(|s| s.stream.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> StreamKey {
        StreamKey {
            server: 0,
            app: "live".into(),
            name: name.into(),
        }
    }

    #[test]
    fn one_publisher_per_name() {
        let mut hub = Hub::new();
        let a = hub.publish(key("a"), 1, 0).unwrap();
        assert_eq!(hub.publish(key("a"), 2, 0), Err(PublishError::Busy));
        let b = hub.publish(key("b"), 2, 0).unwrap();
        assert_eq!(hub.len(), 2);
        assert_eq!(hub.get(a).map(|s| s.publisher), Some(1));
        assert_eq!(hub.unpublish(a).map(|s| s.key), Some(key("a")));
        assert!(hub.get(a).is_none());
        // The slot is reused; the stale handle must not reach the new stream.
        let c = hub.publish(key("a"), 3, 0).unwrap();
        assert!(hub.get(a).is_none());
        assert!(hub.unpublish(a).is_none());
        assert_eq!(hub.get(c).map(|s| s.publisher), Some(3));
        assert_eq!(hub.find(&key("b")).map(|s| s.publisher), Some(2));
        assert!(hub.get_mut(b).is_some());
    }
}
