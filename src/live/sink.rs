//! Where an output's [`OutputOp::Send`](super::OutputOp::Send) bytes go: a sink the shell owns
//! and registers for the output (an encoder's stdin pipe, later a relay's socket).
//!
//! The contract that bounds memory: a sink keeps what it could not deliver yet, in order, and
//! reports how many bytes it delivered; the shell passes those counts to the output
//! ([`Pipeline::acknowledge`](super::Pipeline::acknowledge)), which stops sending (and drops
//! what it would have sent) while too much is unacknowledged.

use std::collections::VecDeque;
use std::io;

use bytes::Bytes;

/// A destination of bytes, owned by the shell.
pub trait ByteSink {
    /// Takes `data` (after everything taken before) and delivers what it can now. Returns the
    /// bytes delivered by this call, of this data or of earlier data. `Err`: the sink is gone
    /// (the output is removed).
    fn send(&mut self, data: Bytes) -> io::Result<usize>;

    /// Delivers what it can of what it holds (the destination became writable). Returns the
    /// bytes delivered.
    fn flush(&mut self) -> io::Result<usize>;

    /// Bytes held, not yet delivered.
    fn pending(&self) -> usize;
}

/// A sink into memory that accepts at most `capacity` bytes until [`MemorySink::consume`]
/// frees room: a pipe whose reader is as slow as the test wants.
#[derive(Debug, Default)]
pub struct MemorySink {
    held: VecDeque<Bytes>,
    held_bytes: usize,
    /// Delivered, not yet consumed by the reader.
    pub delivered: Vec<u8>,
    capacity: usize,
    /// When set, every call fails (the reader is gone).
    pub broken: bool,
}

impl MemorySink {
    pub fn new(capacity: usize) -> MemorySink {
        MemorySink {
            capacity,
            ..MemorySink::default()
        }
    }

    /// The reader takes everything delivered so far.
    pub fn consume(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.delivered)
    }

    fn deliver(&mut self) -> io::Result<usize> {
        if self.broken {
            return Err(io::Error::from(io::ErrorKind::BrokenPipe));
        }
        let mut n = 0;
        while let Some(front) = self.held.front_mut() {
            let room = self.capacity.saturating_sub(self.delivered.len());
            if room == 0 {
                break;
            }
            let piece = front.split_to(room.min(front.len()));
            let take = piece.len();
            self.delivered.extend_from_slice(&piece);
            n += take;
            if front.is_empty() {
                self.held.pop_front();
            }
        }
        self.held_bytes -= n;
        Ok(n)
    }
}

impl ByteSink for MemorySink {
    fn send(&mut self, data: Bytes) -> io::Result<usize> {
        self.held_bytes += data.len();
        self.held.push_back(data);
        self.deliver()
    }

    fn flush(&mut self) -> io::Result<usize> {
        self.deliver()
    }

    fn pending(&self) -> usize {
        self.held_bytes
    }
}
