//! [`Relay`]: the state machine of one push or pull target. The shell owns the socket, the
//! resolver, the timer and the RTMP client session; it reports what happened and executes
//! the [`RelayOp`]s the relay returns.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};

use super::log_limiter::LogLimiter;
use super::reconnect::Reconnect;
use super::state::{ErrorKind, LogLevel, RelayOp, RelayState, RelayStats};
use crate::process::Backoff;

/// nginx-rtmp's `push_reconnect` / `pull_reconnect` default.
pub const DEFAULT_RECONNECT_MS: u64 = 3000;
/// How long each of resolve, connect and negotiate may take.
pub const DEFAULT_STEP_TIMEOUT_MS: u64 = 10_000;
/// How often "still down" is repeated while a target stays down.
pub const DEFAULT_STILL_DOWN_EVERY_MS: u64 = 60_000;

/// How a relay retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayConfig {
    pub reconnect: Backoff,
    pub step_timeout_ms: u64,
    pub still_down_every_ms: u64,
    /// Failed attempts in a row after which the relay stops ([`RelayOp::GaveUp`]); `None`:
    /// it retries for ever (a configured push or static pull).
    pub give_up_after: Option<u32>,
}

impl RelayConfig {
    /// From `push_reconnect` / `pull_reconnect`.
    pub fn new(reconnect_ms: u64) -> RelayConfig {
        RelayConfig {
            reconnect: Backoff::for_relay(reconnect_ms),
            step_timeout_ms: DEFAULT_STEP_TIMEOUT_MS,
            still_down_every_ms: DEFAULT_STILL_DOWN_EVERY_MS,
            give_up_after: None,
        }
    }
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig::new(DEFAULT_RECONNECT_MS)
    }
}

/// Where a relay goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayEndpoint {
    /// As configured, for logs and stat (`rtmp://host/app/name`).
    pub url: String,
    /// A name to resolve at every attempt, or an address literal.
    pub host: String,
    pub port: u16,
    /// `rtmps://`: TLS over the connection, with `host` as the server name.
    pub tls: bool,
}

/// One relay. Pure: time comes in as `now_ms` (a monotonic clock of the shell).
#[derive(Debug)]
pub struct Relay {
    config: RelayConfig,
    target: RelayEndpoint,
    state: RelayState,
    since_ms: u64,
    /// When the current step times out (resolving, connecting, negotiating) or the backoff
    /// ends.
    deadline_ms: u64,
    reconnect: Reconnect,
    limiter: LogLimiter,
    ops: VecDeque<RelayOp>,
    /// The addresses of the current attempt; `next_addr` is the next one to try.
    addrs: Vec<SocketAddr>,
    next_addr: usize,
    addr: Option<SocketAddr>,
    bytes_out: u64,
    bytes_in: u64,
    reconnects: u32,
    failures: u32,
    last_error: Option<String>,
    /// Since when the target is down (first failure after start or after streaming).
    down_since_ms: Option<u64>,
}

impl Relay {
    /// A relay in [`RelayState::Idle`]; `seed` feeds the reconnect jitter (the shell passes
    /// something that differs between relays and workers).
    pub fn new(config: RelayConfig, target: RelayEndpoint, seed: u64) -> Relay {
        Relay {
            reconnect: Reconnect::new(config.reconnect, seed),
            limiter: LogLimiter::new(config.still_down_every_ms),
            config,
            target,
            state: RelayState::Idle,
            since_ms: 0,
            deadline_ms: 0,
            ops: VecDeque::new(),
            addrs: Vec::new(),
            next_addr: 0,
            addr: None,
            bytes_out: 0,
            bytes_in: 0,
            reconnects: 0,
            failures: 0,
            last_error: None,
            down_since_ms: None,
        }
    }

    pub fn state(&self) -> RelayState {
        self.state
    }

    pub fn target(&self) -> &RelayEndpoint {
        &self.target
    }

    /// Starts the first attempt (from `Idle` only).
    pub fn start(&mut self, now_ms: u64) {
        if self.state == RelayState::Idle {
            self.attempt(now_ms);
        }
    }

    /// Stops for good: what is open is closed.
    pub fn stop(&mut self, now_ms: u64) {
        if self.state == RelayState::Stopped {
            return;
        }
        if self.has_connection() || self.state == RelayState::Resolving {
            self.ops.push_back(RelayOp::Close);
        }
        self.addr = None;
        let line = format!("relay {}: stopped", self.target.url);
        self.enter(now_ms, RelayState::Stopped, LogLevel::Info, line);
    }

    /// The resolver answered (in `Resolving` only). The target's port is set on each
    /// address.
    pub fn on_resolved(&mut self, now_ms: u64, result: Result<Vec<SocketAddr>, String>) {
        if self.state != RelayState::Resolving {
            return;
        }
        match result {
            Ok(addrs) if !addrs.is_empty() => {
                self.addrs = addrs;
                for a in &mut self.addrs {
                    a.set_port(self.target.port);
                }
                self.next_addr = 0;
                self.connect_next(now_ms);
            }
            Ok(_) => self.fail(now_ms, ErrorKind::Resolve, "no address", false),
            Err(why) => self.fail(now_ms, ErrorKind::Resolve, &why, false),
        }
    }

    /// The connection is up (in `Connecting` only): the client session starts.
    pub fn on_connected(&mut self, now_ms: u64) {
        if self.state == RelayState::Connecting {
            let line = format!(
                "relay {}: connected to {}, negotiating",
                self.target.url,
                self.addr_text()
            );
            self.deadline_ms = now_ms.saturating_add(self.config.step_timeout_ms);
            self.enter(now_ms, RelayState::Negotiating, LogLevel::Debug, line);
        }
    }

    /// The client session finished `connect` and `publish`/`play` (in `Negotiating` only).
    pub fn on_session_ready(&mut self, now_ms: u64) {
        if self.state != RelayState::Negotiating {
            return;
        }
        let line = match self.down_since_ms {
            Some(down) if self.failures > 0 => format!(
                "relay {}: streaming to {} again after {} failed attempts ({} s down)",
                self.target.url,
                self.addr_text(),
                self.failures,
                now_ms.saturating_sub(down) / 1000
            ),
            _ => format!(
                "relay {}: streaming to {}",
                self.target.url,
                self.addr_text()
            ),
        };
        self.failures = 0;
        self.down_since_ms = None;
        self.limiter.disarm();
        self.enter(now_ms, RelayState::Streaming, LogLevel::Info, line);
    }

    /// A step failed. A failed connection tries the attempt's next address, if any, at once.
    pub fn on_error(&mut self, now_ms: u64, kind: ErrorKind, reason: &str) {
        match self.state {
            RelayState::Connecting
                if matches!(kind, ErrorKind::Connect | ErrorKind::Timeout)
                    && self.next_addr < self.addrs.len() =>
            {
                self.ops.push_back(RelayOp::Close);
                self.last_error = Some(format!("{kind}: {reason}"));
                self.connect_next(now_ms);
            }
            RelayState::Resolving => self.fail(now_ms, kind, reason, true),
            RelayState::Connecting | RelayState::Negotiating | RelayState::Streaming => {
                self.fail(now_ms, kind, reason, true)
            }
            RelayState::Idle | RelayState::Backoff | RelayState::Stopped => {}
        }
    }

    /// The connection closed (the shell has already dropped it).
    pub fn on_closed(&mut self, now_ms: u64) {
        if self.has_connection() {
            self.fail(now_ms, ErrorKind::Closed, "connection closed", false);
        }
    }

    /// Time passed: a step times out, a backoff ends.
    pub fn tick(&mut self, now_ms: u64) {
        if now_ms < self.deadline_ms {
            return;
        }
        match self.state {
            RelayState::Resolving | RelayState::Connecting | RelayState::Negotiating => {
                let why = format!(
                    "{} took over {} ms",
                    self.state, self.config.step_timeout_ms
                );
                self.on_error(now_ms, ErrorKind::Timeout, &why);
            }
            RelayState::Backoff => {
                self.reconnects = self.reconnects.saturating_add(1);
                self.attempt(now_ms);
            }
            _ => {}
        }
    }

    /// When [`Relay::tick`] next has something to do.
    pub fn deadline(&self) -> Option<u64> {
        match self.state {
            RelayState::Resolving
            | RelayState::Connecting
            | RelayState::Negotiating
            | RelayState::Backoff => Some(self.deadline_ms),
            _ => None,
        }
    }

    /// Bytes the connection sent and received.
    pub fn add_bytes(&mut self, out: u64, received: u64) {
        self.bytes_out = self.bytes_out.saturating_add(out);
        self.bytes_in = self.bytes_in.saturating_add(received);
    }

    /// The next operation for the shell.
    pub fn poll_op(&mut self) -> Option<RelayOp> {
        self.ops.pop_front()
    }

    pub fn stats(&self) -> RelayStats<'_> {
        RelayStats {
            state: self.state,
            target: &self.target.url,
            addr: self.addr,
            bytes_out: self.bytes_out,
            bytes_in: self.bytes_in,
            reconnects: self.reconnects,
            failures: self.failures,
            last_error: self.last_error.as_deref(),
            since_ms: self.since_ms,
        }
    }

    fn has_connection(&self) -> bool {
        matches!(
            self.state,
            RelayState::Connecting | RelayState::Negotiating | RelayState::Streaming
        )
    }

    fn addr_text(&self) -> String {
        self.addr.map_or_else(|| "-".to_owned(), |a| a.to_string())
    }

    /// One line per state change: `line` goes out at `level`.
    fn enter(&mut self, now_ms: u64, state: RelayState, level: LogLevel, line: String) {
        self.state = state;
        self.since_ms = now_ms;
        self.ops.push_back(RelayOp::Log { level, line });
    }

    /// A new attempt: resolve the name again (it may have moved), or connect to a literal.
    fn attempt(&mut self, now_ms: u64) {
        self.addr = None;
        self.addrs.clear();
        self.next_addr = 0;
        if let Ok(ip) = self.target.host.parse::<IpAddr>() {
            self.addrs.push(SocketAddr::new(ip, self.target.port));
            self.connect_next(now_ms);
            return;
        }
        self.deadline_ms = now_ms.saturating_add(self.config.step_timeout_ms);
        self.ops
            .push_back(RelayOp::Resolve(self.target.host.clone()));
        let line = format!("relay {}: resolving {}", self.target.url, self.target.host);
        self.enter(now_ms, RelayState::Resolving, LogLevel::Debug, line);
    }

    fn connect_next(&mut self, now_ms: u64) {
        let Some(addr) = self.addrs.get(self.next_addr).copied() else {
            self.fail(now_ms, ErrorKind::Connect, "no address left", false);
            return;
        };
        self.next_addr += 1;
        self.addr = Some(addr);
        self.deadline_ms = now_ms.saturating_add(self.config.step_timeout_ms);
        self.ops.push_back(RelayOp::Connect(addr));
        let line = format!("relay {}: connecting to {addr}", self.target.url);
        self.enter(now_ms, RelayState::Connecting, LogLevel::Debug, line);
    }

    /// The attempt failed: back off (or give up), with one line whose level depends on
    /// whether this is news (the target just went down) or a repeat.
    fn fail(&mut self, now_ms: u64, kind: ErrorKind, reason: &str, close: bool) {
        if close {
            self.ops.push_back(RelayOp::Close);
        }
        let ran_ms = if self.state == RelayState::Streaming {
            now_ms.saturating_sub(self.since_ms)
        } else {
            0
        };
        let was_streaming = self.state == RelayState::Streaming;
        let error = format!("{kind}: {reason}");
        self.failures = self.failures.saturating_add(1);
        self.addr = None;
        let url = &self.target.url;
        if self
            .config
            .give_up_after
            .is_some_and(|n| self.failures >= n)
        {
            let line = format!(
                "relay {url}: gave up after {} failed attempts, last error: {error}",
                self.failures
            );
            self.last_error = Some(error);
            self.ops.push_back(RelayOp::GaveUp);
            self.enter(now_ms, RelayState::Stopped, LogLevel::Warn, line);
            return;
        }
        let delay = self.reconnect.after_run(ran_ms);
        self.deadline_ms = now_ms.saturating_add(delay);
        let (level, line) = match self.down_since_ms {
            _ if was_streaming => (
                LogLevel::Warn,
                format!(
                    "relay {url}: lost after {} s: {error}; reconnecting in {delay} ms",
                    ran_ms / 1000
                ),
            ),
            None => (
                LogLevel::Warn,
                format!("relay {url}: {error}; retrying in {delay} ms"),
            ),
            Some(down) => match self.limiter.allow(now_ms) {
                Some(_) => (
                    LogLevel::Warn,
                    format!(
                        "relay {url}: still down after {} attempts ({} s), last error: {error}; \
                         retrying in {delay} ms",
                        self.failures,
                        now_ms.saturating_sub(down) / 1000
                    ),
                ),
                None => (
                    LogLevel::Debug,
                    format!(
                        "relay {url}: attempt {} failed: {error}; retrying in {delay} ms",
                        self.failures
                    ),
                ),
            },
        };
        if was_streaming || self.down_since_ms.is_none() {
            self.down_since_ms = Some(now_ms);
            self.limiter.arm(now_ms);
        }
        self.last_error = Some(error);
        self.enter(now_ms, RelayState::Backoff, level, line);
    }
}
