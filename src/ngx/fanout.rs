//! Delivery of a stream's messages to its players on this worker.

use super::worker::Worker;
use crate::live::{MediaInfo, Player};
use crate::rtmp::chunk::PreparedMessage;

/// Queues `msg` for every player (each writes it in its own posted write handler: one
/// `writev` per player per event loop iteration). `skip` is the client currently borrowed by
/// the caller (a publisher playing its own stream), never touched here.
pub fn fan_out(w: &Worker, players: &[Player], skip: u64, info: &MediaInfo, msg: &PreparedMessage) {
    for p in players {
        if p.client == skip {
            continue;
        }
        if let Some(&conn) = w.conns.get(&p.client) {
            // SAFETY: registered connections are live (removed before they are freed), are not
            // the connection the caller borrows (`skip`), and the worker is single-threaded.
            unsafe { (*conn).deliver(p.stream_id, info, msg) };
        }
    }
}

/// Tells the players that the stream's publisher came (`true`) or left.
pub fn notify(w: &Worker, players: &[Player], skip: u64, published: bool) {
    for p in players {
        if p.client == skip {
            continue;
        }
        if let Some(&conn) = w.conns.get(&p.client) {
            // SAFETY: as in `fan_out`.
            unsafe { (*conn).notify(p.stream_id, published) };
        }
    }
}
