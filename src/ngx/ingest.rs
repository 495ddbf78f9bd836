//! A message published into a stream of this worker — by a local publisher, or read from the
//! ring of a publisher on another worker — runs through the stream's pipeline; this executes
//! what the pipeline asks: the chunked message queued to the stream's players here, the
//! outputs' file operations.

use super::fanout::fan_out;
use super::log::Log;
use super::outputs::{Executed, OutputFiles};
use super::worker::Worker;
use crate::live::{Incoming, StreamHandle};

/// Runs `msg` through the pipeline of `handle`.
pub fn ingest(
    w: &mut Worker,
    handle: StreamHandle,
    msg: Incoming<'_>,
    files: &mut OutputFiles,
    log: Log,
) -> Executed {
    let Some(s) = w.hub.get_mut(handle) else {
        return Executed::default();
    };
    if let Some(d) = s.pipeline.ingest(msg, !s.players.is_empty()) {
        fan_out(&s.players, &d);
        s.pipeline.adopt_flv(&d);
    }
    let done = files.run(&mut s.pipeline, log);
    w.counters.hls_segments += done.segments;
    w.counters.record_failed += done.record_failed;
    done
}
