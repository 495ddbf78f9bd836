//! Binary encoding of a [`Snapshot`] for the stat board: little-endian integers, strings as a
//! u32 length and UTF-8 bytes, lists as a u32 count. Decoding checks every length against the
//! input and never panics; a torn or foreign slot decodes to an error.

use std::collections::BTreeMap;
use std::fmt;

use super::model::{
    AudioMeta, ClientStat, Meta, ProcessStat, RecorderStat, RelayStat, ServerCounters, Snapshot,
    StreamStat, TrackMeta, VideoMeta,
};

const MAGIC: u32 = 0x5354_4133; // "STA3"
/// Upper bound for any decoded list, against absurd counts in corrupt input.
const MAX_ITEMS: u32 = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    BadMagic,
    Truncated,
    BadUtf8,
    TooMany,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DecodeError::BadMagic => "not a stat snapshot",
            DecodeError::Truncated => "snapshot truncated",
            DecodeError::BadUtf8 => "snapshot string is not UTF-8",
            DecodeError::TooMany => "snapshot list too long",
        })
    }
}

impl std::error::Error for DecodeError {}

#[derive(Default)]
struct W(Vec<u8>);

impl W {
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bool(&mut self, v: bool) {
        self.0.push(u8::from(v));
    }
    fn str(&mut self, s: &str) {
        // Strings longer than 64 KiB are cut (at a char boundary): stat only.
        let mut end = s.len().min(u16::MAX as usize);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.u32(end as u32);
        self.0.extend_from_slice(&s.as_bytes()[..end]);
    }
    fn len(&mut self, n: usize) {
        self.u32(n.min(MAX_ITEMS as usize) as u32);
    }
}

struct R<'a>(&'a [u8]);

impl<'a> R<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        let mut a = [0u8; 4];
        a.copy_from_slice(b);
        Ok(u32::from_le_bytes(a))
    }
    fn bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.take(1)?[0] != 0)
    }
    fn str(&mut self) -> Result<String, DecodeError> {
        let n = self.u32()? as usize;
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| DecodeError::BadUtf8)
    }
    fn len(&mut self) -> Result<usize, DecodeError> {
        let n = self.u32()?;
        if n > MAX_ITEMS {
            return Err(DecodeError::TooMany);
        }
        Ok(n as usize)
    }
}

fn put_client(w: &mut W, c: &ClientStat) {
    w.u64(c.id);
    w.str(&c.address);
    w.u64(c.time_ms);
    w.str(&c.flashver);
    w.str(&c.swf_url);
    w.str(&c.page_url);
    w.u64(c.dropped);
    w.u64(c.bytes_in);
    w.u64(c.bytes_out);
    w.bool(c.publishing);
    w.bool(c.active);
    w.u32(c.pid);
    w.bool(c.tls);
    w.bool(c.http);
}

fn get_client(r: &mut R) -> Result<ClientStat, DecodeError> {
    Ok(ClientStat {
        id: r.u64()?,
        address: r.str()?,
        time_ms: r.u64()?,
        flashver: r.str()?,
        swf_url: r.str()?,
        page_url: r.str()?,
        dropped: r.u64()?,
        bytes_in: r.u64()?,
        bytes_out: r.u64()?,
        publishing: r.bool()?,
        active: r.bool()?,
        pid: r.u32()?,
        tls: r.bool()?,
        http: r.bool()?,
    })
}

fn put_meta(w: &mut W, m: &Option<Meta>) {
    let Some(m) = m else {
        w.bool(false);
        return;
    };
    w.bool(true);
    match &m.video {
        Some(v) => {
            w.bool(true);
            w.u32(v.width);
            w.u32(v.height);
            w.u32(v.frame_rate);
            w.str(&v.codec);
            w.str(&v.profile);
            w.u32(v.compat);
            w.str(&v.level);
        }
        None => w.bool(false),
    }
    match &m.audio {
        Some(a) => {
            w.bool(true);
            w.str(&a.codec);
            w.str(&a.profile);
            w.u32(a.channels);
            w.u32(a.sample_rate);
        }
        None => w.bool(false),
    }
    w.len(m.tracks.len());
    for t in m.tracks.iter().take(MAX_ITEMS as usize) {
        w.str(&t.kind);
        w.u32(t.id);
        w.str(&t.codec);
        w.str(&t.profile);
        w.str(&t.level);
        w.u32(t.width);
        w.u32(t.height);
        w.u32(t.channels);
        w.u32(t.sample_rate);
    }
}

fn get_meta(r: &mut R) -> Result<Option<Meta>, DecodeError> {
    if !r.bool()? {
        return Ok(None);
    }
    let video = if r.bool()? {
        Some(VideoMeta {
            width: r.u32()?,
            height: r.u32()?,
            frame_rate: r.u32()?,
            codec: r.str()?,
            profile: r.str()?,
            compat: r.u32()?,
            level: r.str()?,
        })
    } else {
        None
    };
    let audio = if r.bool()? {
        Some(AudioMeta {
            codec: r.str()?,
            profile: r.str()?,
            channels: r.u32()?,
            sample_rate: r.u32()?,
        })
    } else {
        None
    };
    let n = r.len()?;
    let mut tracks = Vec::new();
    for _ in 0..n {
        tracks.push(TrackMeta {
            kind: r.str()?,
            id: r.u32()?,
            codec: r.str()?,
            profile: r.str()?,
            level: r.str()?,
            width: r.u32()?,
            height: r.u32()?,
            channels: r.u32()?,
            sample_rate: r.u32()?,
        });
    }
    Ok(Some(Meta {
        video,
        audio,
        tracks,
    }))
}

fn put_recorder(w: &mut W, r: &RecorderStat) {
    w.str(&r.id);
    w.str(&r.path);
    w.bool(r.recording);
    w.bool(r.failed);
    w.u64(r.bytes);
    w.u64(r.duration_ms);
    w.u64(r.frames);
    w.u64(r.files);
    w.bool(r.manual);
    w.bool(r.started);
}

fn get_recorder(r: &mut R) -> Result<RecorderStat, DecodeError> {
    Ok(RecorderStat {
        id: r.str()?,
        path: r.str()?,
        recording: r.bool()?,
        failed: r.bool()?,
        bytes: r.u64()?,
        duration_ms: r.u64()?,
        frames: r.u64()?,
        files: r.u64()?,
        manual: r.bool()?,
        started: r.bool()?,
    })
}

fn put_relay(w: &mut W, r: &RelayStat) {
    w.str(&r.kind);
    w.str(&r.state);
    w.str(&r.target);
    w.str(&r.addr);
    for v in [
        r.bytes_out,
        r.bytes_in,
        r.reconnects,
        r.failures,
        r.time_in_state_ms,
    ] {
        w.u64(v);
    }
    w.str(&r.last_error);
    w.u32(r.pid);
}

fn get_relay(r: &mut R) -> Result<RelayStat, DecodeError> {
    let kind = r.str()?;
    let state = r.str()?;
    let target = r.str()?;
    let addr = r.str()?;
    let mut v = [0u64; 5];
    for x in &mut v {
        *x = r.u64()?;
    }
    Ok(RelayStat {
        kind,
        state,
        target,
        addr,
        bytes_out: v[0],
        bytes_in: v[1],
        reconnects: v[2],
        failures: v[3],
        time_in_state_ms: v[4],
        last_error: r.str()?,
        pid: r.u32()?,
    })
}

fn put_stream(w: &mut W, s: &StreamStat, with_clients: bool) {
    w.u32(s.server);
    w.str(&s.app);
    w.str(&s.name);
    for v in [
        s.time_ms,
        s.bytes_in,
        s.bytes_out,
        s.bw_in,
        s.bw_out,
        s.bw_audio,
        s.bw_video,
    ] {
        w.u64(v);
    }
    put_meta(w, &s.meta);
    if with_clients {
        w.len(s.clients.len());
        for c in s.clients.iter().take(MAX_ITEMS as usize) {
            put_client(w, c);
        }
    } else {
        w.len(0);
    }
    w.bool(s.publishing);
    w.bool(s.active);
    w.len(s.recorders.len());
    for r in s.recorders.iter().take(MAX_ITEMS as usize) {
        put_recorder(w, r);
    }
    w.len(s.relays.len());
    for r in s.relays.iter().take(MAX_ITEMS as usize) {
        put_relay(w, r);
    }
}

fn get_stream(r: &mut R) -> Result<StreamStat, DecodeError> {
    let server = r.u32()?;
    let app = r.str()?;
    let name = r.str()?;
    let mut v = [0u64; 7];
    for x in &mut v {
        *x = r.u64()?;
    }
    let meta = get_meta(r)?;
    let n = r.len()?;
    let mut clients = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        clients.push(get_client(r)?);
    }
    let publishing = r.bool()?;
    let active = r.bool()?;
    let n = r.len()?;
    let mut recorders = Vec::with_capacity(n.min(64));
    for _ in 0..n {
        recorders.push(get_recorder(r)?);
    }
    let n = r.len()?;
    let mut relays = Vec::with_capacity(n.min(64));
    for _ in 0..n {
        relays.push(get_relay(r)?);
    }
    Ok(StreamStat {
        server,
        app,
        name,
        time_ms: v[0],
        bytes_in: v[1],
        bytes_out: v[2],
        bw_in: v[3],
        bw_out: v[4],
        bw_audio: v[5],
        bw_video: v[6],
        meta,
        clients,
        publishing,
        active,
        recorders,
        relays,
    })
}

fn encode_with(s: &Snapshot, with_clients: bool) -> Vec<u8> {
    let mut w = W::default();
    w.u32(MAGIC);
    w.u32(s.pid);
    for v in [
        s.taken_unix_ms,
        s.started_unix,
        s.naccepted,
        s.bytes_in,
        s.bytes_out,
        s.bw_in,
        s.bw_out,
        s.hls_segments,
        s.transcode_refused,
        s.record_failed,
    ] {
        w.u64(v);
    }
    w.len(s.servers.len());
    for c in &s.servers {
        w.u64(c.accepted);
        w.u64(c.active);
    }
    w.len(s.rejected.len());
    for (k, v) in &s.rejected {
        w.str(k);
        w.u64(*v);
    }
    w.len(s.streams.len());
    for st in &s.streams {
        put_stream(&mut w, st, with_clients);
    }
    w.bool(s.truncated || !with_clients);
    w.len(s.processes.len());
    for p in &s.processes {
        w.str(&p.label);
        w.u32(p.pid);
        w.u64(p.uptime_ms);
        w.u32(p.restarts);
        w.str(&p.last_exit);
        w.str(&p.log);
    }
    w.0
}

/// Encodes a snapshot in at most `max` bytes: without the client lists if they do not fit.
/// `None` if even that does not fit.
pub fn encode(s: &Snapshot, max: usize) -> Option<Vec<u8>> {
    let full = encode_with(s, true);
    if full.len() <= max {
        return Some(full);
    }
    let lean = encode_with(s, false);
    (lean.len() <= max).then_some(lean)
}

pub fn decode(b: &[u8]) -> Result<Snapshot, DecodeError> {
    let mut r = R(b);
    if r.u32()? != MAGIC {
        return Err(DecodeError::BadMagic);
    }
    let pid = r.u32()?;
    let mut v = [0u64; 10];
    for x in &mut v {
        *x = r.u64()?;
    }
    let n = r.len()?;
    let mut servers = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        servers.push(ServerCounters {
            accepted: r.u64()?,
            active: r.u64()?,
        });
    }
    let n = r.len()?;
    let mut rejected = BTreeMap::new();
    for _ in 0..n {
        let k = r.str()?;
        rejected.insert(k, r.u64()?);
    }
    let n = r.len()?;
    let mut streams = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        streams.push(get_stream(&mut r)?);
    }
    let truncated = r.bool()?;
    let n = r.len()?;
    let mut processes = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        processes.push(ProcessStat {
            label: r.str()?,
            // The merge says which worker.
            worker: 0,
            pid: r.u32()?,
            uptime_ms: r.u64()?,
            restarts: r.u32()?,
            last_exit: r.str()?,
            log: r.str()?,
        });
    }
    Ok(Snapshot {
        pid,
        taken_unix_ms: v[0],
        started_unix: v[1],
        naccepted: v[2],
        bytes_in: v[3],
        bytes_out: v[4],
        bw_in: v[5],
        bw_out: v[6],
        hls_segments: v[7],
        transcode_refused: v[8],
        record_failed: v[9],
        servers,
        rejected,
        streams,
        truncated,
        processes,
    })
}
