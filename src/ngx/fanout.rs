//! Delivery of a stream's messages to its players on this worker.

use nginx_sys::{ngx_event_t, ngx_msec_t};

use super::timer::Timer;
use super::worker::{self, Client};
use crate::live::{ClientId, Delivery, Player};

/// Queues `msg` for every player (each writes it in its own posted write handler: one
/// `writev` per player per event loop iteration). A player whose own handler runs right now
/// (a publisher playing its own stream) is skipped by the registry.
pub fn fan_out(players: &[Player], d: &Delivery) {
    each(players, |c, stream_id| c.deliver(stream_id, d));
}

/// Tells the players that the stream's publisher came (`true`) or left.
pub fn notify(players: &[Player], published: bool) {
    each(players, |c, stream_id| c.notify(stream_id, published));
}

fn each(players: &[Player], mut f: impl FnMut(&mut dyn Client, u32)) {
    worker::clients(|clients| {
        for p in players {
            clients.with(p.client, |c| f(c, p.stream_id));
        }
    });
}

/// `play_flush_interval`: `client`'s output is written at the next tick of the worker's flush
/// timer (`interval` after the first output it waits for), together with everything else
/// queued for it until then. The flush is deliberately not on the publishers' read grid
/// ([`Timer::arm_on_grid`]): measured with draining and rtmp-load players, flushing in the
/// same wakeup as the reads cost 40–50 % more CPU per player than a flush of its own.
pub fn defer_flush(client: ClientId, interval: ngx_msec_t) {
    worker::with_flush(|q| {
        q.clients.push(client);
        q.timer
            .get_or_insert_with(|| Timer::new(on_flush_timer))
            .arm(interval);
    });
}

unsafe extern "C" fn on_flush_timer(_ev: *mut ngx_event_t) {
    let _ = super::catch(|| {
        let clients = worker::with_flush(|q| std::mem::take(&mut q.clients));
        worker::clients(|registry| {
            for id in clients {
                registry.with(id, |c| c.flush_now());
            }
        });
    });
}
