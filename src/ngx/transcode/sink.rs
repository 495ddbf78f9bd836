//! [`PipeSink`]: the executor of an encoder feed's bytes, the stdin of the encoder's current
//! process.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;

use bytes::Bytes;

use super::encoder::Encoder;
use crate::live::ByteSink;

/// Bytes for an encoder: queued while its pipe is full, written as it drains (also between
/// two messages of the source, when the encoder's output is read), dropped while no process
/// runs (the next one starts from a keyframe anyway).
pub struct PipeSink(Rc<RefCell<Encoder>>);

impl PipeSink {
    pub fn new(encoder: Rc<RefCell<Encoder>>) -> PipeSink {
        PipeSink(encoder)
    }
}

impl ByteSink for PipeSink {
    fn send(&mut self, data: Bytes) -> io::Result<usize> {
        Ok(self.0.borrow_mut().send(data))
    }

    fn flush(&mut self) -> io::Result<usize> {
        Ok(self.0.borrow_mut().flush())
    }

    fn pending(&self) -> usize {
        self.0.borrow().pending()
    }
}
