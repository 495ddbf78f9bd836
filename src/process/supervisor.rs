//! The life of one supervised child: started, respawned with exponential backoff after it
//! dies, stopped with a polite signal and killed when the grace period ends.

use super::backoff::{Backoff, Retries};
use super::exit::ExitStatus;

/// What a child's supervisor does when it dies or is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// `None`: a child that dies is not started again.
    pub respawn: Option<Backoff>,
    /// How long a stopped child has between the stop signal and SIGKILL.
    pub grace_ms: u64,
}

/// What the shell must do now for a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Start the process (then report [`Supervisor::spawned`] or
    /// [`Supervisor::spawn_failed`]).
    Spawn,
    /// Send the stop signal (`kill == false`) or SIGKILL to the child's process group.
    Signal { pid: i32, kill: bool },
    /// The child is gone for good: forget it.
    Forget,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not running, to be started now.
    Due,
    Running {
        pid: i32,
        since_ms: u64,
    },
    /// Dead, to be started again at `until_ms`.
    Waiting {
        until_ms: u64,
    },
    /// Asked to stop; SIGKILL at `kill_at_ms` unless it exits first.
    Stopping {
        pid: i32,
        kill_at_ms: u64,
        killed: bool,
    },
    /// Stopped or dead for good; `Forget` not yet returned.
    Done,
    /// `Forget` returned.
    Forgotten,
}

/// What stat shows of a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildSummary {
    /// The running process, if any.
    pub pid: Option<i32>,
    /// How long the running process has run.
    pub uptime_ms: u64,
    /// How many times it was started again after dying.
    pub restarts: u32,
    pub last_exit: Option<ExitStatus>,
}

/// The supervision state machine of one child. Pure: the shell asks [`Supervisor::poll`]
/// what to do at a time, does it, and reports back.
#[derive(Debug, Clone)]
pub struct Supervisor {
    policy: Policy,
    state: State,
    /// `None` without respawn.
    retries: Option<Retries>,
    restarts: u32,
    last_exit: Option<ExitStatus>,
}

impl Supervisor {
    /// A child to start at once.
    pub fn new(policy: Policy) -> Supervisor {
        Supervisor {
            retries: policy.respawn.map(Retries::new),
            policy,
            state: State::Due,
            restarts: 0,
            last_exit: None,
        }
    }

    /// What to do at `now`, if anything. Call again after acting: several actions can be due.
    pub fn poll(&mut self, now_ms: u64) -> Option<Action> {
        match self.state {
            State::Due => Some(Action::Spawn),
            State::Waiting { until_ms } if now_ms >= until_ms => Some(Action::Spawn),
            State::Stopping {
                pid,
                kill_at_ms,
                killed: false,
            } if now_ms >= kill_at_ms => {
                self.state = State::Stopping {
                    pid,
                    kill_at_ms,
                    killed: true,
                };
                Some(Action::Signal { pid, kill: true })
            }
            State::Done => {
                self.state = State::Forgotten;
                Some(Action::Forget)
            }
            _ => None,
        }
    }

    /// When [`Supervisor::poll`] next has something to do, if ever without an event.
    pub fn deadline(&self) -> Option<u64> {
        match self.state {
            State::Due | State::Done => Some(0),
            State::Waiting { until_ms } => Some(until_ms),
            State::Stopping {
                kill_at_ms,
                killed: false,
                ..
            } => Some(kill_at_ms),
            _ => None,
        }
    }

    /// The process started.
    pub fn spawned(&mut self, pid: i32, now_ms: u64) {
        if matches!(self.state, State::Due | State::Waiting { .. }) {
            self.state = State::Running {
                pid,
                since_ms: now_ms,
            };
        }
    }

    /// The process could not be started (fork or pipe failed): as if it died at once.
    /// Returns the delay before the next try, `None` if there is none.
    pub fn spawn_failed(&mut self, now_ms: u64) -> Option<u64> {
        self.after_death(now_ms, now_ms)
    }

    /// The process ended. Returns the delay before it starts again, `None` if it does not.
    pub fn exited(&mut self, status: ExitStatus, now_ms: u64) -> Option<u64> {
        self.last_exit = Some(status);
        match self.state {
            State::Running { since_ms, .. } => self.after_death(since_ms, now_ms),
            State::Stopping { .. } => {
                self.state = State::Done;
                None
            }
            _ => None,
        }
    }

    fn after_death(&mut self, since_ms: u64, now_ms: u64) -> Option<u64> {
        let Some(retries) = self.retries.as_mut() else {
            self.state = State::Done;
            return None;
        };
        let delay = retries.after_run(now_ms.saturating_sub(since_ms));
        self.restarts = self.restarts.saturating_add(1);
        self.state = State::Waiting {
            until_ms: now_ms.saturating_add(delay),
        };
        Some(delay)
    }

    /// Stop for good: the running process gets the stop signal (returned), a waiting one is
    /// simply not started again.
    pub fn stop(&mut self, now_ms: u64) -> Option<Action> {
        match self.state {
            State::Running { pid, .. } => {
                self.state = State::Stopping {
                    pid,
                    kill_at_ms: now_ms.saturating_add(self.policy.grace_ms),
                    killed: false,
                };
                Some(Action::Signal { pid, kill: false })
            }
            State::Due | State::Waiting { .. } => {
                self.state = State::Done;
                None
            }
            State::Stopping { .. } | State::Done | State::Forgotten => None,
        }
    }

    /// Whether it is meant to run (not stopping, not done).
    pub fn is_wanted(&self) -> bool {
        matches!(
            self.state,
            State::Due | State::Running { .. } | State::Waiting { .. }
        )
    }

    /// The process that runs now, if any (a stopping one included).
    pub fn pid(&self) -> Option<i32> {
        match self.state {
            State::Running { pid, .. } | State::Stopping { pid, .. } => Some(pid),
            _ => None,
        }
    }

    pub fn summary(&self, now_ms: u64) -> ChildSummary {
        let uptime_ms = match self.state {
            State::Running { since_ms, .. } => now_ms.saturating_sub(since_ms),
            _ => 0,
        };
        ChildSummary {
            pid: self.pid(),
            uptime_ms,
            restarts: self.restarts,
            last_exit: self.last_exit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn respawning() -> Supervisor {
        Supervisor::new(Policy {
            respawn: Some(Backoff {
                initial_ms: 1000,
                cap_ms: 8000,
                stable_ms: 30_000,
            }),
            grace_ms: 500,
        })
    }

    #[test]
    fn backoff_doubles_to_the_cap_and_resets_after_a_stable_run() {
        let mut s = respawning();
        assert_eq!(s.poll(0), Some(Action::Spawn));
        s.spawned(10, 0);
        let mut now = 0;
        let mut delays = Vec::new();
        for _ in 0..5 {
            now += 100;
            let d = s.exited(ExitStatus::Code(1), now).unwrap();
            delays.push(d);
            assert_eq!(s.poll(now + d - 1), None);
            assert_eq!(s.deadline(), Some(now + d));
            now += d;
            assert_eq!(s.poll(now), Some(Action::Spawn));
            s.spawned(11, now);
        }
        assert_eq!(delays, [1000, 2000, 4000, 8000, 8000]);
        // A long run resets the delay.
        now += 30_000;
        assert_eq!(s.exited(ExitStatus::Signal(9), now), Some(1000));
        assert_eq!(s.summary(now).restarts, 6);
        assert_eq!(s.summary(now).last_exit, Some(ExitStatus::Signal(9)));
    }

    #[test]
    fn stop_signals_then_kills_after_the_grace_period() {
        let mut s = respawning();
        s.poll(0);
        s.spawned(42, 0);
        assert_eq!(s.summary(700).uptime_ms, 700);
        assert_eq!(
            s.stop(1000),
            Some(Action::Signal {
                pid: 42,
                kill: false
            })
        );
        assert!(!s.is_wanted());
        assert_eq!(s.poll(1499), None);
        assert_eq!(
            s.poll(1500),
            Some(Action::Signal {
                pid: 42,
                kill: true
            })
        );
        assert_eq!(s.poll(1600), None);
        // Reaped: never respawned, forgotten once.
        assert_eq!(s.exited(ExitStatus::Signal(9), 1600), None);
        assert_eq!(s.poll(1600), Some(Action::Forget));
        assert_eq!(s.poll(99_999), None);
    }

    #[test]
    fn a_stopped_waiting_child_is_not_started_again() {
        let mut s = respawning();
        s.poll(0);
        s.spawned(1, 0);
        assert_eq!(s.exited(ExitStatus::Code(1), 10), Some(1000));
        assert_eq!(s.stop(20), None);
        assert_eq!(s.poll(5000), Some(Action::Forget));
    }

    #[test]
    fn without_respawn_a_dead_child_is_forgotten() {
        let mut s = Supervisor::new(Policy {
            respawn: None,
            grace_ms: 0,
        });
        s.poll(0);
        s.spawned(5, 0);
        assert_eq!(s.exited(ExitStatus::Code(0), 10), None);
        assert_eq!(s.poll(10), Some(Action::Forget));
    }

    #[test]
    fn a_failed_spawn_backs_off() {
        let mut s = respawning();
        assert_eq!(s.poll(0), Some(Action::Spawn));
        assert_eq!(s.spawn_failed(0), Some(1000));
        assert_eq!(s.poll(999), None);
        assert_eq!(s.poll(1000), Some(Action::Spawn));
    }

    #[test]
    fn backoff_from_respawn_timeout() {
        use crate::process::backoff::MIN_INITIAL_MS;
        let b = Backoff::from_initial(5000);
        assert_eq!(b.cap_ms, 80_000);
        assert_eq!(Backoff::from_initial(1000).cap_ms, 60_000);
        assert_eq!(Backoff::from_initial(0).initial_ms, MIN_INITIAL_MS);
    }
}
