//! Players of streams published on another worker: this worker reads the stream's ring in the
//! shared zone on a short timer and serves its own players from it, exactly as if the
//! publisher were local (same GOP cache, same queues, same fan-out).
//!
//! A remote stream appears in the worker's hub as a stream whose publisher is
//! [`REMOTE_PUBLISHER`]; players attach to it like to any other. A feed ends when the
//! publisher closes its slot (players then wait, with idle streams, for the next publisher
//! on any worker) or when its last player leaves.

use nginx_sys::{ngx_event_t, ngx_msec_t};

use bytes::Bytes;

use super::fanout::{fan_out, notify};
use super::ingest::ingest;
use super::log::Log;
use super::outputs::OutputFiles;
use super::shm::{is_alive, Zone};
use super::timer::Timer;
use super::worker::{self, Feed, Want, Worker};
use crate::live::shm::{self, ReadResult};
use crate::live::{Incoming, Pipeline, StreamHandle, StreamKey};
use crate::rtmp::message::types;

/// The publisher "client id" of streams mirrored from another worker.
pub const REMOTE_PUBLISHER: u64 = 0;
/// How often rings are read: the extra latency of a player on another worker.
const POLL_MS: ngx_msec_t = 10;
/// Records read per feed per tick, so that one busy stream cannot starve the event loop.
const MAX_RECORDS_PER_TICK: usize = 2000;
/// A writer heartbeats every second while it writes: three missed beats and the feed asks
/// whether the writer's worker still lives.
const SILENT_WRITER_MS: u64 = 3000;

/// Starts mirroring `want` if another worker publishes it. Returns the hub handle of the
/// mirror (its players attach with `Hub::add_player`).
pub fn attach(w: &mut Worker, want: &Want, now: u64) -> Option<StreamHandle> {
    if let Some(h) = w.hub.handle_of(&want.key) {
        return Some(h);
    }
    let zone: Zone = w.zone?;
    let reader = shm::find(zone.region, zone.layout, &want.ring_key)?;
    // The publisher writes records only while somebody reads them.
    reader.want(now);
    let pipeline = Pipeline::mirrored(want.app.settings.gop_cache(), want.chunk_size);
    let handle = w
        .hub
        .publish(want.key.clone(), REMOTE_PUBLISHER, now, pipeline)
        .ok()?;
    // Codec headers first: the ring may start past them.
    let headers = reader.headers();
    if let Some(s) = w.hub.get_mut(handle) {
        let parts = [
            (headers.metadata, types::DATA_AMF0),
            (headers.video, types::VIDEO),
            (headers.audio, types::AUDIO),
        ];
        for (bytes, type_id) in parts {
            if let Some(b) = bytes {
                s.pipeline.prime(type_id, &b);
            }
        }
        // Players that waited for the stream here: told it started, then given the headers
        // the publisher sent before this worker read its ring (before any record of it).
        if !s.players.is_empty() {
            notify(&s.players, true);
            for d in s.pipeline.header_deliveries() {
                fan_out(&s.players, &d);
            }
        }
    }
    let mut feed = Feed {
        reader,
        handle,
        // Players of a pulled stream wait for the pull's next stream (it reconnects while
        // they watch).
        // So do the players of an `exec_pull` stream (its command is respawned).
        idle_streams: want.app.settings.idle_streams
            || !want.app.settings.relay.pull.is_empty()
            || want.app.settings.exec.pulls(&want.key.name),
        want: want.clone(),
        owner_checked_ms: now,
    };
    // If the publisher already writes for another reader, the first player gets the current
    // GOP now; otherwise the publisher writes it with its next message (one tick later).
    let _ = pump(w, &mut feed, now);
    w.feeds.push(feed);
    arm();
    Some(handle)
}

/// Reads what the ring has; returns false when the feed ended.
fn pump(w: &mut Worker, feed: &mut Feed, now: u64) -> bool {
    feed.reader.want(now);
    // A mirror has no outputs of its own: the publisher's worker writes the files.
    let mut no_files = OutputFiles::default();
    let log = Log::cycle();
    worker::with_mirror(|io| {
        let buf = &mut io.buf;
        for _ in 0..MAX_RECORDS_PER_TICK {
            match feed.reader.next(buf) {
                ReadResult::Record(r) => {
                    if w.hub.get(feed.handle).is_none() {
                        return false;
                    }
                    // One copy out of the ring per message, shared by the GOP cache and
                    // every player of this worker.
                    let payload = Bytes::copy_from_slice(buf);
                    let msg = Incoming {
                        type_id: r.kind,
                        timestamp: r.timestamp,
                        payload: &payload,
                        now: super::file_ops::now(),
                    };
                    ingest(w, feed.handle, msg, &mut no_files, log);
                }
                ReadResult::Empty => return writer_lives(feed, now),
                // The reader resynchronised at a keyframe; players' queues cope with the gap.
                ReadResult::Overrun { .. } => {}
                ReadResult::Closed | ReadResult::Corrupt => return false,
            }
        }
        true
    })
}

/// Whether the feed's writer may still write: a worker that died (killed, crashed) leaves
/// its slot active for ever, so a writer silent for longer than [`SILENT_WRITER_MS`] is
/// looked up, at most once a second, and its feed ends when its process is gone.
fn writer_lives(feed: &mut Feed, now: u64) -> bool {
    let (owner, heartbeat) = feed.reader.writer();
    if now.saturating_sub(heartbeat) < SILENT_WRITER_MS
        || now.saturating_sub(feed.owner_checked_ms) < 1000
    {
        return true;
    }
    feed.owner_checked_ms = now;
    is_alive(owner)
}

/// Ends a feed: its players wait for the next publisher (idle streams) or are told the
/// stream ended.
fn end(w: &mut Worker, feed: Feed) {
    if let Some(s) = w.hub.unpublish(feed.handle, feed.idle_streams) {
        notify(&s.players, false);
        // Its players wait: the stream is looked for again in the zone.
        if feed.idle_streams && !s.players.is_empty() && w.zone.is_some() {
            w.waiting_wants.insert(feed.want.key.clone(), feed.want);
        }
    }
}

fn arm() {
    worker::with_mirror(|io| {
        io.timer
            .get_or_insert_with(|| Timer::new(on_timer))
            .arm(POLL_MS)
    });
}

unsafe extern "C" fn on_timer(_ev: *mut ngx_event_t) {
    let again = super::catch(|| {
        let now = super::now_ms();
        worker::with(|w| {
            let mut feeds = std::mem::take(&mut w.feeds);
            let mut kept = Vec::with_capacity(feeds.len());
            for mut feed in feeds.drain(..) {
                let has_players = w
                    .hub
                    .get(feed.handle)
                    .is_some_and(|s| !s.players.is_empty());
                if has_players && pump(w, &mut feed, now) {
                    kept.push(feed);
                } else {
                    end(w, feed);
                }
            }
            w.feeds = kept;
            !w.feeds.is_empty() || w.hub.has_waiting()
        })
    })
    .unwrap_or(false);
    // Waiting players: look for their stream on other workers, a few times a second.
    let _ = super::catch(attach_waiting);
    if again {
        arm();
    }
}

/// Players waiting for a name (idle streams) start when another worker publishes it.
fn attach_waiting() {
    let wants: Vec<Want> = worker::with(|w| w.waiting_wants.values().cloned().collect());
    let now = super::now_ms();
    for want in wants {
        worker::with(|w| {
            if !w.hub.is_waiting(&want.key) {
                w.waiting_wants.remove(&want.key);
                return None;
            }
            // `attach` tells the waiting players and gives them the headers.
            attach(w, &want, now)?;
            w.waiting_wants.remove(&want.key);
            Some(())
        });
    }
}

/// Registers players waiting for `want` so the timer looks for it in the zone.
pub fn wait_for(want: Want) {
    worker::with(|w| {
        if w.zone.is_some() {
            w.waiting_wants.insert(want.key.clone(), want);
        }
    });
    arm();
}

/// Stops mirroring `key` (a local publisher takes the name over); its players stay attached to
/// the name and get the new publisher's stream.
pub fn detach(key: &StreamKey) {
    worker::with(|w| {
        let Some(h) = w.hub.handle_of(key) else {
            return;
        };
        if let Some(pos) = w.feeds.iter().position(|f| f.handle == h) {
            let feed = w.feeds.swap_remove(pos);
            end(w, feed);
        }
    });
}
