//! Per-worker state. nginx workers are single-threaded processes, so a thread-local is the
//! worker's own; nothing here is shared between workers.

use std::cell::RefCell;
use std::collections::HashMap;

use super::conn::Conn;
use crate::live::{ClientId, Hub};

/// Size of the buffer every connection of the worker reads into.
pub const RECV_BUF: usize = 64 * 1024;

pub struct Worker {
    pub hub: Hub,
    /// Every live connection of the worker, to deliver media to players.
    pub conns: HashMap<ClientId, *mut Conn>,
    next_client: u64,
}

impl Worker {
    pub fn next_client_id(&mut self) -> u64 {
        self.next_client += 1;
        self.next_client
    }
}

thread_local! {
    static WORKER: RefCell<Worker> = RefCell::new(Worker {
        hub: Hub::new(),
        conns: HashMap::new(),
        next_client: 0,
    });
    static RECV: RefCell<Vec<u8>> = RefCell::new(vec![0; RECV_BUF]);
}

/// Runs `f` with the worker state. Not reentrant: `f` must not call back into `with`.
pub fn with<T>(f: impl FnOnce(&mut Worker) -> T) -> T {
    WORKER.with(|w| f(&mut w.borrow_mut()))
}

/// Runs `f` with the worker's receive buffer.
pub fn with_recv_buf<T>(f: impl FnOnce(&mut [u8]) -> T) -> T {
    RECV.with(|b| f(&mut b.borrow_mut()))
}
