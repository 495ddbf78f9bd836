//! Pull on demand: the bookkeeping of one stream an edge lacks. The first player starts a
//! pull; the pull closes a grace period after the last player leaves (a player that comes
//! back within it finds the stream still there); a pull that fails moves to the next origin
//! of the list at once, and after a full round of failures starts again at the first origin
//! after a backoff.
//!
//! The pull itself is a [`Relay`](super::Relay) that gives up after its first failure
//! ([`RelayConfig::give_up_after`](super::RelayConfig)): failover is decided here.

use std::collections::VecDeque;

use super::reconnect::Reconnect;
use crate::process::Backoff;

/// How long an unwatched pull stays up (nginx-rtmp closes it at once; a player that
/// reconnects or switches quality then waits for a new pull).
pub const DEFAULT_GRACE_MS: u64 = 10_000;

/// What the shell must do for the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemandOp {
    /// Start a pull from the origin at this index of the list.
    StartPull { origin: usize },
    /// Close the pull.
    StopPull,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No pull.
    Idle,
    /// A pull runs (or is being set up); `up_since` once media flows.
    Pulling {
        origin: usize,
        up_since: Option<u64>,
    },
    /// No player left: the pull stops at `until_ms`.
    Grace { origin: usize, until_ms: u64 },
    /// Every origin failed: the next round starts at `until_ms`.
    Waiting { until_ms: u64 },
}

/// The demand for one stream on this worker.
#[derive(Debug, Clone)]
pub struct PullDemand {
    origins: usize,
    grace_ms: u64,
    players: usize,
    phase: Phase,
    reconnect: Reconnect,
    ops: VecDeque<DemandOp>,
    failovers: u32,
}

impl PullDemand {
    /// `origins`: how many origins the list has (0: the stream is never pulled).
    pub fn new(origins: usize, grace_ms: u64, backoff: Backoff, seed: u64) -> PullDemand {
        PullDemand {
            origins,
            grace_ms,
            players: 0,
            phase: Phase::Idle,
            reconnect: Reconnect::new(backoff, seed),
            ops: VecDeque::new(),
            failovers: 0,
        }
    }

    pub fn player_joined(&mut self, _now_ms: u64) {
        self.players = self.players.saturating_add(1);
        match self.phase {
            Phase::Idle if self.origins > 0 => self.start(0),
            Phase::Grace { origin, .. } => {
                self.phase = Phase::Pulling {
                    origin,
                    up_since: None,
                }
            }
            _ => {}
        }
    }

    pub fn player_left(&mut self, now_ms: u64) {
        self.players = self.players.saturating_sub(1);
        if self.players > 0 {
            return;
        }
        match self.phase {
            Phase::Pulling { origin, .. } => {
                self.phase = Phase::Grace {
                    origin,
                    until_ms: now_ms.saturating_add(self.grace_ms),
                }
            }
            Phase::Waiting { .. } => {
                self.phase = Phase::Idle;
                self.reconnect.reset();
            }
            Phase::Idle | Phase::Grace { .. } => {}
        }
    }

    /// The pull streams.
    pub fn pull_up(&mut self, now_ms: u64) {
        if let Phase::Pulling { origin, .. } = self.phase {
            self.phase = Phase::Pulling {
                origin,
                up_since: Some(now_ms),
            };
        }
    }

    /// The pull failed or ended: the next origin, or a backoff after a full round.
    pub fn pull_failed(&mut self, now_ms: u64) {
        match self.phase {
            Phase::Pulling { origin, up_since } => {
                let ran = up_since.map_or(0, |s| now_ms.saturating_sub(s));
                if ran >= self.reconnect.backoff().stable_ms {
                    self.reconnect.reset();
                }
                self.failovers = self.failovers.saturating_add(1);
                let next = origin.saturating_add(1);
                if next < self.origins {
                    self.start(next);
                } else {
                    let delay = self.reconnect.after_run(0);
                    self.phase = Phase::Waiting {
                        until_ms: now_ms.saturating_add(delay),
                    };
                }
            }
            Phase::Grace { .. } => self.phase = Phase::Idle,
            Phase::Idle | Phase::Waiting { .. } => {}
        }
    }

    /// Time passed: a grace period or a round's backoff ends.
    pub fn tick(&mut self, now_ms: u64) {
        match self.phase {
            Phase::Grace { until_ms, .. } if now_ms >= until_ms => {
                self.phase = Phase::Idle;
                self.ops.push_back(DemandOp::StopPull);
            }
            Phase::Waiting { until_ms } if now_ms >= until_ms => self.start(0),
            _ => {}
        }
    }

    /// When [`PullDemand::tick`] next has something to do.
    pub fn deadline(&self) -> Option<u64> {
        match self.phase {
            Phase::Grace { until_ms, .. } | Phase::Waiting { until_ms } => Some(until_ms),
            _ => None,
        }
    }

    pub fn poll_op(&mut self) -> Option<DemandOp> {
        self.ops.pop_front()
    }

    pub fn players(&self) -> usize {
        self.players
    }

    /// The origin pulled from now, if a pull runs.
    pub fn origin(&self) -> Option<usize> {
        match self.phase {
            Phase::Pulling { origin, .. } | Phase::Grace { origin, .. } => Some(origin),
            _ => None,
        }
    }

    /// Pulls that failed over (to the next origin or to the next round).
    pub fn failovers(&self) -> u32 {
        self.failovers
    }

    /// Nothing runs, nobody watches: the owner may forget the stream.
    pub fn is_idle(&self) -> bool {
        self.phase == Phase::Idle && self.players == 0
    }

    fn start(&mut self, origin: usize) {
        self.phase = Phase::Pulling {
            origin,
            up_since: None,
        };
        self.ops.push_back(DemandOp::StartPull { origin });
    }
}
