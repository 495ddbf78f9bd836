//! Delivery of a stream's messages to its players on this worker.

use std::cell::RefCell;

use nginx_sys::{ngx_add_timer, ngx_event_t, ngx_msec_t};

use super::worker::{self, Worker};
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

thread_local! {
    /// Players whose output waits for the flush timer, and that timer.
    static DEFERRED: RefCell<(Vec<u64>, *mut ngx_event_t)> =
        const { RefCell::new((Vec::new(), std::ptr::null_mut())) };
}

/// `play_flush_interval`: `client`'s output is written at the next tick of the worker's flush
/// timer (every `interval` ms), together with everything else queued for it until then.
pub fn defer_flush(client: u64, interval: ngx_msec_t) {
    DEFERRED.with(|d| {
        let mut d = d.borrow_mut();
        d.0.push(client);
        if d.1.is_null() {
            d.1 = super::worker_timer(on_flush_timer);
        }
        // SAFETY: the worker's own event.
        unsafe {
            if (*d.1).timer_set() == 0 {
                ngx_add_timer(d.1, interval.max(1));
            }
        }
    });
}

unsafe extern "C" fn on_flush_timer(_ev: *mut ngx_event_t) {
    let _ = super::catch(|| {
        let clients = DEFERRED.with(|d| std::mem::take(&mut d.borrow_mut().0));
        let conns: Vec<_> = worker::with(|w| {
            clients
                .iter()
                .filter_map(|c| w.conns.get(c).copied())
                .collect()
        });
        for conn in conns {
            // SAFETY: looked up in the registry just now (live), outside any handler of theirs.
            unsafe { (*conn).flush_now() };
        }
    });
}
