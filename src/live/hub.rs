//! The registry of published streams (one per worker).
//!
//! Streams live in a slab so that a publisher's connection holds a [`StreamHandle`] and reaches
//! its stream per media message without hashing the name; a generation counter makes a stale
//! handle (the stream was unpublished and the slot reused) miss instead of hitting another stream.

use std::collections::HashMap;
use std::fmt;

use super::pipeline::Pipeline;

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
    /// Everything the stream does with a published message: media state, GOP cache,
    /// outputs.
    pub pipeline: Pipeline,
    /// Players of this stream on this worker: (client, its message stream id).
    pub players: Vec<Player>,
}

/// A player of a stream: which client, on which of its message streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Player {
    pub client: ClientId,
    pub stream_id: u32,
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
    /// Counts publishes, unpublishes and player arrivals/departures.
    changes: u64,
    /// Players waiting for a name that is not published (nginx-rtmp `idle_streams on`).
    waiting: HashMap<StreamKey, Vec<Player>>,
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
        pipeline: Pipeline,
    ) -> Result<StreamHandle, PublishError> {
        if self.by_key.contains_key(&key) {
            return Err(PublishError::Busy);
        }
        self.generation += 1;
        self.changes += 1;
        let stream = LiveStream {
            key: key.clone(),
            publisher: client,
            started_ms: now_ms,
            pipeline,
            players: self.waiting.remove(&key).unwrap_or_default(),
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

    /// Removes the stream; returns it so the caller can finish its outputs. Its players wait
    /// for the next publisher of the name when `keep_players` (idle streams), else they are
    /// returned in the stream and forgotten.
    pub fn unpublish(&mut self, h: StreamHandle, keep_players: bool) -> Option<LiveStream> {
        let slot = self
            .slots
            .get_mut(h.slot)
            .filter(|s| s.generation == h.generation)?;
        let stream = slot.stream.take()?;
        self.changes += 1;
        self.by_key.remove(&stream.key);
        self.free.push(h.slot);
        if keep_players && !stream.players.is_empty() {
            self.waiting
                .insert(stream.key.clone(), stream.players.clone());
        }
        Some(stream)
    }

    /// Adds a player of `key`: to the live stream when it is published (returns its handle),
    /// else to the waiting list (returns `None`).
    pub fn add_player(&mut self, key: &StreamKey, player: Player) -> Option<StreamHandle> {
        self.changes += 1;
        match self.by_key.get(key).copied() {
            Some(slot) => {
                let s = self.slots.get_mut(slot)?;
                s.stream.as_mut()?.players.push(player);
                Some(StreamHandle {
                    slot,
                    generation: s.generation,
                })
            }
            None => {
                self.waiting.entry(key.clone()).or_default().push(player);
                None
            }
        }
    }

    /// Forgets a player, live or waiting.
    pub fn remove_player(&mut self, key: &StreamKey, player: Player) {
        self.changes += 1;
        if let Some(slot) = self.by_key.get(key).copied() {
            if let Some(s) = self.slots.get_mut(slot).and_then(|s| s.stream.as_mut()) {
                s.players.retain(|p| *p != player);
            }
        }
        if let Some(w) = self.waiting.get_mut(key) {
            w.retain(|p| *p != player);
            if w.is_empty() {
                self.waiting.remove(key);
            }
        }
    }

    /// Players of `key` on this worker: of the live stream, or waiting for its publisher.
    pub fn players_of(&self, key: &StreamKey) -> usize {
        let live = self
            .by_key
            .get(key)
            .and_then(|&slot| self.slots.get(slot)?.stream.as_ref())
            .map_or(0, |s| s.players.len());
        live + self.waiting.get(key).map_or(0, Vec::len)
    }

    /// Whether players wait for any unpublished name.
    pub fn has_waiting(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// Whether players wait for `key`.
    pub fn is_waiting(&self, key: &StreamKey) -> bool {
        self.waiting.contains_key(key)
    }

    /// Handle of the live stream `key`, if published.
    pub fn handle_of(&self, key: &StreamKey) -> Option<StreamHandle> {
        let slot = *self.by_key.get(key)?;
        Some(StreamHandle {
            slot,
            generation: self.slots.get(slot)?.generation,
        })
    }

    /// Increases with every publish, unpublish, player arrival and departure (for observers
    /// that only need to know whether anything changed).
    pub fn changes(&self) -> u64 {
        self.changes
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
    use crate::live::GopCache;

    fn pipeline() -> Pipeline {
        Pipeline::published(GopCache::new(false, 0, 0), 128)
    }

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
        let a = hub.publish(key("a"), 1, 0, pipeline()).unwrap();
        assert_eq!(
            hub.publish(key("a"), 2, 0, pipeline()),
            Err(PublishError::Busy)
        );
        let b = hub.publish(key("b"), 2, 0, pipeline()).unwrap();
        assert_eq!(hub.len(), 2);
        assert_eq!(hub.get(a).map(|s| s.publisher), Some(1));
        assert_eq!(hub.unpublish(a, false).map(|s| s.key), Some(key("a")));
        assert!(hub.get(a).is_none());
        // The slot is reused; the stale handle must not reach the new stream.
        let c = hub.publish(key("a"), 3, 0, pipeline()).unwrap();
        assert!(hub.get(a).is_none());
        assert!(hub.unpublish(a, false).is_none());
        assert_eq!(hub.get(c).map(|s| s.publisher), Some(3));
        assert_eq!(hub.find(&key("b")).map(|s| s.publisher), Some(2));
        assert!(hub.get_mut(b).is_some());
        // Three publishes and one unpublish succeeded; refusals change nothing.
        assert_eq!(hub.changes(), 4);
    }

    #[test]
    fn players_wait_and_follow_publishers() {
        let mut hub = Hub::new();
        let p1 = Player {
            client: 10,
            stream_id: 1,
        };
        let p2 = Player {
            client: 11,
            stream_id: 1,
        };
        assert_eq!(hub.add_player(&key("s"), p1), None, "not published: waits");
        let h = hub.publish(key("s"), 1, 0, pipeline()).unwrap();
        assert_eq!(
            hub.get(h).unwrap().players,
            vec![p1],
            "waiting player attached"
        );
        assert_eq!(hub.add_player(&key("s"), p2), Some(h));
        assert_eq!(hub.players_of(&key("s")), 2);
        assert_eq!(hub.players_of(&key("t")), 0);
        hub.remove_player(&key("s"), p1);
        assert_eq!(hub.get(h).unwrap().players, vec![p2]);
        let gone = hub.unpublish(h, true).unwrap();
        assert_eq!(gone.players, vec![p2]);
        assert_eq!(hub.players_of(&key("s")), 1, "waiting players count");
        let h2 = hub.publish(key("s"), 2, 0, pipeline()).unwrap();
        assert_eq!(
            hub.get(h2).unwrap().players,
            vec![p2],
            "idle player kept for the next publisher"
        );
        assert_eq!(hub.handle_of(&key("s")), Some(h2));
        hub.unpublish(h2, false);
        let h3 = hub.publish(key("s"), 3, 0, pipeline()).unwrap();
        assert!(hub.get(h3).unwrap().players.is_empty());
    }
}
