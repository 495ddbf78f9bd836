//! One worker's [`Snapshot`] from plain figures: the streams it knows, its connections and its
//! counters, as the shell reads them from the worker. The [`Aggregator`] keeps what has to
//! outlive a snapshot: the bitrate windows, when each connection was first seen, and the bytes
//! of connections that closed (the worker's totals keep counting them).

use std::collections::{HashMap, HashSet};

use super::bitrate::{Meter, Totals};
use super::model::{
    AudioMeta, ClientStat, Meta, RelayStat, ServerCounters, Snapshot, StreamStat, TrackMeta,
    VideoMeta,
};
use crate::media::demux::CodecInfo;

mod input;

pub use input::{ClientInput, LocalFigures, StreamId, StreamInput, WorkerInput};

/// When a connection was first seen and its latest byte counts.
#[derive(Debug, Clone, Copy)]
struct Seen {
    first_ms: u64,
    bytes_in: u64,
    bytes_out: u64,
}

/// Builds a worker's successive snapshots.
#[derive(Debug, Default)]
pub struct Aggregator {
    streams: HashMap<StreamId, Meter>,
    global: Meter,
    clients: HashMap<u64, Seen>,
    /// Bytes of connections gone since the worker started.
    closed_in: u64,
    closed_out: u64,
}

impl Aggregator {
    /// The worker's snapshot: its streams (live, and the names its players wait for) with
    /// their clients, per-server connection counts, byte totals and bitrates.
    pub fn snapshot(&mut self, input: WorkerInput) -> Snapshot {
        let now = input.now_ms;
        let mut streams: HashMap<StreamId, StreamStat> = HashMap::new();
        // Audio and video figures of the streams published here.
        let mut figures: HashMap<StreamId, (u64, u64, u64)> = HashMap::new();
        for s in input.streams {
            let mut stat = StreamStat {
                server: s.id.server,
                app: s.id.app.clone(),
                name: s.id.name.clone(),
                time_ms: now.saturating_sub(s.started_ms),
                bytes_in: s.bytes_in,
                publishing: s.published.is_some(),
                active: true,
                relays: s
                    .relays
                    .into_iter()
                    .map(|r| RelayStat {
                        pid: input.pid,
                        ..r
                    })
                    .collect(),
                ..StreamStat::default()
            };
            if let Some(p) = s.published {
                figures.insert(
                    s.id.clone(),
                    (p.audio_bytes, p.video_bytes, p.video_messages),
                );
                stat.meta = Some(meta(&p.codecs));
                stat.recorders = p.recorders;
            }
            streams.insert(s.id, stat);
        }
        let live: HashSet<StreamId> = streams.keys().cloned().collect();
        let mut servers: Vec<ServerCounters> = input
            .accepted
            .iter()
            .map(|&accepted| ServerCounters {
                accepted,
                active: 0,
            })
            .collect();
        let (mut total_in, mut total_out) = (self.closed_in, self.closed_out);
        let mut present = HashSet::new();
        for c in input.clients {
            total_in += c.bytes_in;
            total_out += c.bytes_out;
            present.insert(c.key);
            let seen = self.clients.entry(c.key).or_insert(Seen {
                first_ms: now,
                bytes_in: 0,
                bytes_out: 0,
            });
            seen.bytes_in = c.bytes_in;
            seen.bytes_out = c.bytes_out;
            if let Some(counters) = c.server.and_then(|i| servers.get_mut(i as usize)) {
                counters.active += 1;
            }
            let base = ClientStat {
                id: c.number,
                address: c.address,
                time_ms: now.saturating_sub(seen.first_ms),
                flashver: c.flashver,
                tls: c.tls,
                http: c.http,
                bytes_in: c.bytes_in,
                bytes_out: c.bytes_out,
                pid: input.pid,
                ..ClientStat::default()
            };
            for id in &c.publishing {
                if !live.contains(id) {
                    continue;
                }
                if let Some(s) = streams.get_mut(id) {
                    s.clients.push(ClientStat {
                        publishing: true,
                        active: true,
                        ..base.clone()
                    });
                }
            }
            for (id, dropped) in c.playing {
                let active = live.contains(&id);
                let s = streams.entry(id).or_insert_with_key(|id| StreamStat {
                    server: id.server,
                    app: id.app.clone(),
                    name: id.name.clone(),
                    ..StreamStat::default()
                });
                s.bytes_out += c.bytes_out;
                s.clients.push(ClientStat {
                    dropped,
                    active,
                    ..base.clone()
                });
            }
        }
        // Relays of streams not live here (a pull still connecting or backing off).
        for (id, relays) in input.pending_relays {
            let s = streams.entry(id).or_insert_with_key(|id| StreamStat {
                server: id.server,
                app: id.app.clone(),
                name: id.name.clone(),
                ..StreamStat::default()
            });
            s.relays.extend(relays.into_iter().map(|r| RelayStat {
                pid: input.pid,
                ..r
            }));
        }
        // Connections that closed since the last snapshot keep counting in the totals.
        let gone: Vec<u64> = self
            .clients
            .keys()
            .filter(|key| !present.contains(key))
            .copied()
            .collect();
        for key in gone {
            if let Some(s) = self.clients.remove(&key) {
                self.closed_in += s.bytes_in;
                self.closed_out += s.bytes_out;
                total_in += s.bytes_in;
                total_out += s.bytes_out;
            }
        }
        for (id, s) in streams.iter_mut() {
            let (audio_bytes, video_bytes, video_messages) =
                figures.get(id).copied().unwrap_or_default();
            let rates = self.streams.entry(id.clone()).or_default().update(
                now,
                Totals {
                    bytes_in: s.bytes_in,
                    bytes_out: s.bytes_out,
                    audio_bytes,
                    video_bytes,
                    video_messages,
                },
            );
            s.bw_in = rates.bw_in;
            s.bw_out = rates.bw_out;
            s.bw_audio = rates.bw_audio;
            s.bw_video = rates.bw_video;
            if let Some(v) = s.meta.as_mut().and_then(|m| m.video.as_mut()) {
                v.frame_rate = rates.fps as u32;
            }
        }
        // A stream that ended starts its windows afresh when it comes back.
        self.streams.retain(|id, _| streams.contains_key(id));
        let global = self.global.update(
            now,
            Totals {
                bytes_in: total_in,
                bytes_out: total_out,
                ..Totals::default()
            },
        );
        let mut streams: Vec<StreamStat> = streams.into_values().collect();
        streams.sort_by(|a, b| (a.server, &a.app, &a.name).cmp(&(b.server, &b.app, &b.name)));
        Snapshot {
            pid: input.pid,
            taken_unix_ms: input.unix_ms,
            started_unix: input.started_unix,
            naccepted: input.naccepted,
            bytes_in: total_in,
            bytes_out: total_out,
            bw_in: global.bw_in,
            bw_out: global.bw_out,
            hls_segments: input.hls_segments,
            transcode_refused: input.transcode_refused,
            record_failed: input.record_failed,
            servers,
            rejected: input.rejected,
            streams,
            truncated: false,
            processes: input.processes,
        }
    }
}

/// The stat's metadata of a published stream's codecs (frame rate measured later).
fn meta(info: &CodecInfo) -> Meta {
    Meta {
        video: info.video_codec.map(|codec| VideoMeta {
            width: info.width.unwrap_or(0),
            height: info.height.unwrap_or(0),
            frame_rate: 0,
            codec: codec.into(),
            profile: info.video_profile.unwrap_or_default().into(),
            compat: info.video_compat.map_or(0, u32::from),
            level: info.video_level.clone().unwrap_or_default(),
        }),
        audio: info.audio_codec.map(|codec| AudioMeta {
            codec: codec.into(),
            profile: info.audio_profile.unwrap_or_default().into(),
            channels: info.channels.map_or(0, u32::from),
            sample_rate: info.sample_rate.unwrap_or(0),
        }),
        tracks: info
            .tracks
            .iter()
            .map(|t| TrackMeta {
                kind: t.kind.to_string(),
                id: u32::from(t.id),
                codec: t.codec.into(),
                profile: t.profile.unwrap_or_default().into(),
                level: t.level.clone().unwrap_or_default(),
                width: t.width.unwrap_or(0),
                height: t.height.unwrap_or(0),
                channels: t.channels.map_or(0, u32::from),
                sample_rate: t.sample_rate.unwrap_or(0),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests;
