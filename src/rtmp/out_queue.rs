//! The session's output: bytes it writes itself (handshake, control,
//! commands, per-player chunk headers) interleaved, in order, with bodies
//! shared between sessions (prepared media).
//!
//! Own bytes accumulate in one `BytesMut`; when a shared body is queued,
//! what was written before it is split off (`split().freeze()`, no copy)
//! and queued first. So every queued item precedes the bytes still in the
//! buffer, and draining the queue and then the buffer yields the exact
//! order of writes.
//!
//! Memory: after the handshake a session writes little of its own (a
//! player's media headers are shared too, see
//! [`super::chunk::PreparedMessage::framed`]), so the buffer is
//! allocated in small blocks, only when a write needs room, and given up
//! once `pop` has taken everything: an idle session holds no block, and a
//! block lives only as long as the pieces cut from it.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use super::chunk::MAX_PREPARED_HEADER_LEN;

#[derive(Debug, Default)]
pub(crate) struct OutQueue {
    // `buf` is split into frozen pieces as they are queued; a new block is taken when fewer
    // than `MIN_SPARE` bytes are left, so small writes (headers, control messages) share one
    // allocation instead of costing one each. Bigger writes reserve what they need.
    buf: BytesMut,
    queue: VecDeque<Bytes>,
    /// Sum of the lengths in `queue`.
    queued: usize,
}

/// The block own bytes are written into.
const BUF_BLOCK: usize = 512;
/// Room a write can count on without reserving: the longest chunk header.
const MIN_SPARE: usize = MAX_PREPARED_HEADER_LEN;
/// A drained queue with more capacity than this (a join burst) is shrunk to `KEEP`.
const SHRINK_ABOVE: usize = 64;
/// Queue capacity kept after a burst: a player is sent a few pieces per flush (4 a flush
/// for 30 fps video and AAC at the default 50 ms), one each now that headers are shared.
const KEEP: usize = 8;

impl OutQueue {
    /// The buffer own bytes are appended to, with at least [`MIN_SPARE`]
    /// bytes of room.
    pub(crate) fn buf_mut(&mut self) -> &mut BytesMut {
        if self.buf.capacity() - self.buf.len() < MIN_SPARE {
            self.buf.reserve(BUF_BLOCK);
        }
        &mut self.buf
    }

    /// Queues a shared body after everything written so far.
    pub(crate) fn push_shared(&mut self, body: Bytes) {
        if body.is_empty() {
            return;
        }
        self.flush_buf();
        self.queued = self.queued.saturating_add(body.len());
        self.queue.push_back(body);
    }

    fn flush_buf(&mut self) {
        if !self.buf.is_empty() {
            let head = self.buf.split().freeze();
            self.queued = self.queued.saturating_add(head.len());
            self.queue.push_back(head);
        }
    }

    /// The next bytes to send, in order.
    pub(crate) fn pop(&mut self) -> Option<Bytes> {
        if let Some(b) = self.queue.pop_front() {
            self.queued = self.queued.saturating_sub(b.len());
            // A join burst queues hundreds of pieces; don't keep that capacity per player.
            if self.queue.is_empty() && self.queue.capacity() > SHRINK_ABOVE {
                self.queue.shrink_to(KEEP);
            }
            return Some(b);
        }
        if self.buf.is_empty() {
            // Everything was taken: drop the block (the pieces cut from it keep it alive
            // only until they are sent).
            if self.buf.capacity() > 0 {
                self.buf = BytesMut::new();
            }
            None
        } else {
            Some(std::mem::take(&mut self.buf).freeze())
        }
    }

    /// Bytes not yet taken by `pop`.
    pub(crate) fn pending(&self) -> usize {
        self.queued.saturating_add(self.buf.len())
    }

    /// Heap bytes held for itself: the room left in the buffer's block and
    /// the queue's slots (not the shared pieces they refer to).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.buf.capacity() + self.queue.capacity() * std::mem::size_of::<Bytes>()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use bytes::BufMut;

    use super::*;

    #[test]
    fn order_is_kept() {
        let mut q = OutQueue::default();
        q.buf_mut().put_slice(b"ab");
        q.push_shared(Bytes::from_static(b"XY"));
        q.buf_mut().put_slice(b"c");
        q.push_shared(Bytes::from_static(b"Z"));
        q.push_shared(Bytes::new());
        q.buf_mut().put_slice(b"de");
        assert_eq!(q.pending(), 8);
        let mut all = Vec::new();
        while let Some(b) = q.pop() {
            all.extend_from_slice(&b);
        }
        assert_eq!(all, b"abXYcZde");
        assert_eq!(q.pending(), 0);
        assert!(q.pop().is_none());
    }
}
