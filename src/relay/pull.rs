//! [`Pull`]: one pulled stream of an edge, without the socket. It puts together the
//! [`PullDemand`] (is anybody watching, which origin, failover, the grace period), the
//! [`Relay`] of the origin tried now (when to connect, time out, log) and the
//! [`ClientSession`] of the current connection (the RTMP of a player, `play name`).
//!
//! What the origin sends comes out as [`PullEvent`]s: the shell publishes the stream into
//! its pipeline on [`PullEvent::Playing`], hands it each [`PullEvent::Media`] as if a
//! publisher had sent it, and ends the publication on [`PullEvent::Ended`]. The shell tells
//! the pull whether anybody watches ([`Pull::set_watched`]); the pull closes a grace period
//! after nobody does, and [`Pull::is_done`] then says the shell may forget it.
//!
//! Each origin's relay gives up after its first failure: the demand moves to the next origin
//! of the list at once, and after a full round of failures starts again at the first after
//! a backoff that grows from `pull_reconnect`.

use std::collections::VecDeque;
use std::net::SocketAddr;

use bytes::Bytes;

use super::demand::{DemandOp, PullDemand};
use super::driver::{Relay, RelayConfig, RelayEndpoint};
use super::link_driver::{LinkDriver, LinkOp};
use super::state::{ErrorKind, LogLevel, RelayOp, RelayState, RelayStats};
use super::target::{RelayTarget, Scheme};
use crate::process::Backoff;
use crate::rtmp::client::{ClientConfig, ClientEvent, ClientSession, Mode};
use crate::rtmp::message::types;

/// What the pulled stream does, for the shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullEvent {
    /// The origin plays the stream to us: publish it locally.
    Playing,
    /// A message of the stream: audio (8), video (9) or data (18, an `onMetaData` body).
    Media {
        type_id: u8,
        timestamp: u32,
        payload: Bytes,
    },
    /// The stream from the origin ended (connection lost, origin's publisher gone): end the
    /// local publication; the pull reconnects while anybody watches.
    Ended,
    /// A full round of origins failed (the next round starts after a backoff).
    AllFailed,
}

/// How a pull is set up.
#[derive(Debug, Clone)]
pub struct PullConfig {
    /// The origins, tried in this order.
    pub origins: Vec<RelayTarget>,
    /// The local stream's name (the play path when a line gives none).
    pub local_name: String,
    /// `pull_reconnect`.
    pub reconnect_ms: u64,
    /// `pull_grace`.
    pub grace_ms: u64,
    /// Feeds the reconnect jitter and the handshake's random bytes.
    pub seed: u64,
}

/// One pulled stream.
#[derive(Debug)]
pub struct Pull {
    config: PullConfig,
    demand: PullDemand,
    /// The relay of the origin tried now.
    relay: Relay,
    session: Option<ClientSession>,
    /// The client settings of the origin tried now.
    client: ClientConfig,
    /// The origin plays to us (between `Playing` and `Ended`).
    playing: bool,
    watched: bool,
    /// The current relay gave up: the demand decides what is next once its ops are out.
    gave_up: bool,
    events: VecDeque<PullEvent>,
    /// Ops of a replaced relay not yet given to the shell.
    pending: VecDeque<LinkOp>,
    /// The latest time the pull was given (for the demand, whose ops come out of `poll_op`).
    now_ms: u64,
    /// Totals over every origin's relay (each origin gets a fresh one).
    bytes_in: u64,
    bytes_out: u64,
    attempts: u32,
    /// Origins that failed since the pull last streamed.
    failures: u32,
    last_error: Option<String>,
}

fn endpoint(target: &RelayTarget, client: &ClientConfig) -> RelayEndpoint {
    RelayEndpoint {
        url: format!(
            "{}://{}/{}/{}",
            target.url.scheme.as_str(),
            target.url.authority,
            client.app,
            client.name
        ),
        host: target.url.host.clone(),
        port: target.url.port,
        tls: target.url.scheme == Scheme::Rtmps,
    }
}

impl Pull {
    /// A pull that has not started; `config.origins` must not be empty (an empty list makes
    /// a pull that never connects).
    pub fn new(config: PullConfig) -> Pull {
        let backoff = Backoff::for_relay(config.reconnect_ms);
        let demand = PullDemand::new(config.origins.len(), config.grace_ms, backoff, config.seed);
        let (relay, client) = Self::relay_for(&config, 0, 0);
        Pull {
            demand,
            relay,
            session: None,
            client,
            playing: false,
            watched: false,
            gave_up: false,
            events: VecDeque::new(),
            pending: VecDeque::new(),
            now_ms: 0,
            bytes_in: 0,
            bytes_out: 0,
            attempts: 0,
            failures: 0,
            last_error: None,
            config,
        }
    }

    fn relay_for(config: &PullConfig, origin: usize, attempt: u32) -> (Relay, ClientConfig) {
        let mut client = match config.origins.get(origin) {
            Some(t) => t.client_config(&config.local_name),
            None => ClientConfig::new("", "", config.local_name.as_str(), Mode::Play),
        };
        client.seed = config.seed.wrapping_add(u64::from(attempt));
        let ep = match config.origins.get(origin) {
            Some(t) => endpoint(t, &client),
            None => RelayEndpoint {
                url: String::new(),
                host: String::new(),
                port: 0,
                tls: false,
            },
        };
        let mut rc = RelayConfig::new(config.reconnect_ms);
        // Failover is the demand's: each origin's relay stops at its first failure.
        rc.give_up_after = Some(1);
        (
            Relay::new(rc, ep, config.seed.wrapping_add(u64::from(attempt))),
            client,
        )
    }

    /// The local stream's name.
    pub fn local_name(&self) -> &str {
        &self.config.local_name
    }

    /// Whether anybody watches the stream (players on any worker; always, for a `static`
    /// pull). The first time starts the pull; a pull nobody watches closes after the grace
    /// period.
    pub fn set_watched(&mut self, now_ms: u64, watched: bool) {
        self.now_ms = now_ms;
        if watched == self.watched {
            return;
        }
        self.watched = watched;
        if watched {
            self.demand.player_joined(now_ms);
        } else {
            self.demand.player_left(now_ms);
        }
        self.run_demand();
    }

    pub fn is_watched(&self) -> bool {
        self.watched
    }

    /// The origin plays the stream to us now.
    pub fn is_playing(&self) -> bool {
        self.playing
    }

    /// Nobody watches and nothing runs: the shell may forget the pull.
    pub fn is_done(&self) -> bool {
        self.demand.is_idle()
            && matches!(self.relay.state(), RelayState::Idle | RelayState::Stopped)
    }

    /// Stops for good (the worker exits, or the shell gives up the stream).
    pub fn stop(&mut self, now_ms: u64) {
        self.now_ms = now_ms;
        if self.watched {
            self.watched = false;
            self.demand.player_left(now_ms);
        }
        if let Some(s) = &mut self.session {
            s.close();
        }
        self.relay.stop(now_ms);
    }

    /// The next thing the stream does.
    pub fn poll_event(&mut self) -> Option<PullEvent> {
        self.events.pop_front()
    }

    /// Executes what the demand asks: a pull from an origin, or the end of the pull.
    fn run_demand(&mut self) {
        while let Some(op) = self.demand.poll_op() {
            match op {
                DemandOp::StartPull { origin } => {
                    if !matches!(self.relay.state(), RelayState::Idle | RelayState::Stopped) {
                        self.relay.stop(self.now_ms);
                    }
                    // The old relay's last ops (its close) go out before the new one's.
                    self.flush_old_relay();
                    let (relay, client) = Self::relay_for(&self.config, origin, self.attempts);
                    self.attempts = self.attempts.saturating_add(1);
                    self.relay = relay;
                    self.client = client;
                    self.gave_up = false;
                    self.relay.start(self.now_ms);
                }
                DemandOp::StopPull => {
                    if let Some(s) = &mut self.session {
                        s.close();
                    }
                    self.relay.stop(self.now_ms);
                }
            }
        }
    }

    /// Ops of a relay being replaced, kept for `poll_op`.
    fn flush_old_relay(&mut self) {
        while let Some(op) = self.relay.poll_op() {
            if let Some(op) = self.link_op(op) {
                self.pending.push_back(op);
            }
        }
    }

    /// A relay op as the link sees it (`None`: handled here).
    fn link_op(&mut self, op: RelayOp) -> Option<LinkOp> {
        Some(match op {
            RelayOp::Resolve(host) => LinkOp::Resolve(host),
            RelayOp::Connect(addr) => LinkOp::Connect(addr),
            RelayOp::Close => {
                if let Some(s) = &self.session {
                    self.bytes_in = self.bytes_in.saturating_add(s.bytes_received());
                    self.bytes_out = self.bytes_out.saturating_add(s.bytes_sent());
                }
                self.session = None;
                if std::mem::take(&mut self.playing) {
                    self.events.push_back(PullEvent::Ended);
                }
                LinkOp::Close
            }
            RelayOp::Log { level, line } => LinkOp::Log { level, line },
            RelayOp::GaveUp => {
                self.gave_up = true;
                self.failures = self.failures.saturating_add(1);
                if let Some(e) = self.relay.stats().last_error {
                    self.last_error = Some(e.to_owned());
                }
                return None;
            }
        })
    }
}

impl LinkDriver for Pull {
    fn endpoint(&self) -> &RelayEndpoint {
        self.relay.target()
    }

    /// The current origin's relay, with the totals of every origin tried: bytes, attempts
    /// after the first (`reconnects`), origins failed since the pull last streamed.
    fn stats(&self) -> RelayStats<'_> {
        let mut st = self.relay.stats();
        let (cur_in, cur_out) = self
            .session
            .as_ref()
            .map_or((0, 0), |s| (s.bytes_received(), s.bytes_sent()));
        st.bytes_in = self.bytes_in.saturating_add(cur_in);
        st.bytes_out = self.bytes_out.saturating_add(cur_out);
        st.reconnects = self.attempts.saturating_sub(1);
        st.failures = self.failures;
        if st.last_error.is_none() {
            st.last_error = self.last_error.as_deref();
        }
        // Between two rounds of origins the pull waits, as a relay in backoff does.
        if st.state == RelayState::Stopped && self.demand.deadline().is_some() && self.watched {
            st.state = RelayState::Backoff;
        }
        st
    }

    fn deadline(&self) -> Option<u64> {
        match (self.relay.deadline(), self.demand.deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn tick(&mut self, now_ms: u64) {
        self.now_ms = now_ms;
        self.relay.tick(now_ms);
        self.demand.tick(now_ms);
        self.run_demand();
    }

    fn poll_op(&mut self) -> Option<LinkOp> {
        loop {
            if let Some(op) = self.pending.pop_front() {
                return Some(op);
            }
            if let Some(op) = self.relay.poll_op() {
                match self.link_op(op) {
                    Some(op) => return Some(op),
                    None => continue,
                }
            }
            if !std::mem::take(&mut self.gave_up) {
                return None;
            }
            // The origin failed: the next one, or a backoff after a full round.
            self.demand.pull_failed(self.now_ms);
            if self.demand.origin().is_none() && !self.demand.is_idle() {
                self.events.push_back(PullEvent::AllFailed);
                let delay = self
                    .demand
                    .deadline()
                    .map_or(0, |d| d.saturating_sub(self.now_ms));
                self.pending.push_back(LinkOp::Log {
                    level: LogLevel::Warn,
                    line: format!(
                        "pull of \"{}\": every origin failed ({}); trying again in {delay} ms",
                        self.config.local_name,
                        self.last_error.as_deref().unwrap_or("-")
                    ),
                });
            }
            self.run_demand();
        }
    }

    fn output(&mut self) -> Option<Bytes> {
        self.session.as_mut()?.poll_output()
    }

    fn set_unsent(&mut self, _now_ms: u64, _bytes: usize) {}

    fn on_resolved(&mut self, now_ms: u64, result: Result<Vec<SocketAddr>, String>) {
        self.now_ms = now_ms;
        self.relay.on_resolved(now_ms, result);
    }

    /// The connection is up: the session starts (its C0+C1 are in [`Pull::output`]).
    fn on_connected(&mut self, now_ms: u64) {
        self.now_ms = now_ms;
        self.relay.on_connected(now_ms);
        if self.relay.state() == RelayState::Negotiating {
            self.session = Some(ClientSession::new(self.client.clone()));
        }
    }

    fn on_data(&mut self, now_ms: u64, data: &[u8]) {
        self.now_ms = now_ms;
        let Some(session) = &mut self.session else {
            return;
        };
        if let Err(e) = session.feed(data) {
            self.relay
                .on_error(now_ms, ErrorKind::Session, &e.to_string());
            return;
        }
        while let Some(event) = session.poll_event() {
            match event {
                ClientEvent::Playing => {
                    self.relay.on_session_ready(now_ms);
                    self.failures = 0;
                    self.demand.pull_up(now_ms);
                    if !self.playing {
                        self.playing = true;
                        self.events.push_back(PullEvent::Playing);
                    }
                }
                ClientEvent::Media {
                    type_id,
                    timestamp,
                    payload,
                } if self.playing => self.events.push_back(PullEvent::Media {
                    type_id,
                    timestamp,
                    payload,
                }),
                ClientEvent::Metadata { timestamp, data } if self.playing => {
                    self.events.push_back(PullEvent::Media {
                        type_id: types::DATA_AMF0,
                        timestamp,
                        payload: data,
                    })
                }
                ClientEvent::StreamEnd(_) => {
                    // The origin's publisher left: the edge's stream ends too, and the pull
                    // plays the name again (an origin with idle streams answers at once).
                    self.relay
                        .on_error(now_ms, ErrorKind::Session, "the origin ended the stream");
                    return;
                }
                _ => {}
            }
        }
    }

    fn on_error(&mut self, now_ms: u64, kind: ErrorKind, reason: &str) {
        self.now_ms = now_ms;
        self.relay.on_error(now_ms, kind, reason);
    }

    fn on_closed(&mut self, now_ms: u64) {
        self.now_ms = now_ms;
        self.relay.on_closed(now_ms);
    }
}
