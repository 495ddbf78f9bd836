//! Pull on demand: first player, grace after the last, failover across origins.

use crate::process::Backoff;
use crate::relay::*;

fn demand(origins: usize) -> PullDemand {
    PullDemand::new(
        origins,
        10_000,
        Backoff {
            initial_ms: 1000,
            cap_ms: 4000,
            stable_ms: 30_000,
        },
        9,
    )
}

fn ops(d: &mut PullDemand) -> Vec<DemandOp> {
    std::iter::from_fn(|| d.poll_op()).collect()
}

#[test]
fn the_first_player_starts_one_pull() {
    let mut d = demand(2);
    assert!(d.is_idle());
    d.player_joined(0);
    d.player_joined(1);
    d.player_joined(2);
    assert_eq!(ops(&mut d), [DemandOp::StartPull { origin: 0 }]);
    assert_eq!((d.players(), d.origin()), (3, Some(0)));
    assert_eq!(d.deadline(), None);
}

#[test]
fn the_pull_closes_a_grace_period_after_the_last_player() {
    let mut d = demand(1);
    d.player_joined(0);
    d.pull_up(100);
    d.player_joined(200);
    ops(&mut d);
    d.player_left(1000);
    assert_eq!(d.deadline(), None);
    d.player_left(2000);
    assert_eq!(d.deadline(), Some(12_000));
    d.tick(11_999);
    assert!(ops(&mut d).is_empty());
    d.tick(12_000);
    assert_eq!(ops(&mut d), [DemandOp::StopPull]);
    assert!(d.is_idle());
    // A new player starts a new pull.
    d.player_joined(13_000);
    assert_eq!(ops(&mut d), [DemandOp::StartPull { origin: 0 }]);
}

#[test]
fn a_player_back_within_the_grace_keeps_the_pull() {
    let mut d = demand(1);
    d.player_joined(0);
    ops(&mut d);
    d.player_left(1000);
    d.player_joined(5000);
    d.tick(20_000);
    assert!(ops(&mut d).is_empty());
    assert_eq!(d.origin(), Some(0));
    // A pull that dies during the grace is not restarted.
    d.player_left(21_000);
    d.pull_failed(22_000);
    assert!(d.is_idle());
    d.tick(40_000);
    assert!(ops(&mut d).is_empty());
}

#[test]
fn failover_goes_round_the_origins_then_backs_off() {
    let mut d = demand(3);
    d.player_joined(0);
    d.pull_failed(10);
    d.pull_failed(20);
    assert_eq!(
        ops(&mut d),
        [
            DemandOp::StartPull { origin: 0 },
            DemandOp::StartPull { origin: 1 },
            DemandOp::StartPull { origin: 2 }
        ]
    );
    // A full round failed: wait, then the first origin again.
    d.pull_failed(30);
    assert_eq!(d.origin(), None);
    let until = d.deadline().unwrap_or(0);
    assert!((30 + 500..=30 + 1000).contains(&until), "{until}");
    d.tick(until - 1);
    assert!(ops(&mut d).is_empty());
    d.tick(until);
    assert_eq!(ops(&mut d), [DemandOp::StartPull { origin: 0 }]);
    // The next round's wait is longer, up to the cap.
    let mut now = until;
    let mut waits = Vec::new();
    for _ in 0..4 {
        for _ in 0..3 {
            d.pull_failed(now);
        }
        let until = d.deadline().unwrap_or(0);
        waits.push(until - now);
        d.tick(until);
        now = until;
    }
    for (w, n) in waits.iter().zip([2000, 4000, 4000, 4000]) {
        assert!((n / 2..=n).contains(w), "{waits:?}");
    }
    assert_eq!(d.failovers(), 15);
}

#[test]
fn a_stable_pull_resets_the_round_backoff() {
    let mut d = demand(1);
    d.player_joined(0);
    for t in [0, 10_000, 20_000] {
        d.pull_failed(t);
        let until = d.deadline().unwrap_or(0);
        d.tick(until);
    }
    d.pull_up(30_000);
    d.pull_failed(60_000);
    let wait = d.deadline().unwrap_or(0) - 60_000;
    assert!(wait <= 1000, "{wait}");
}

#[test]
fn players_leaving_during_the_backoff_end_it() {
    let mut d = demand(1);
    d.player_joined(0);
    assert_eq!(ops(&mut d), [DemandOp::StartPull { origin: 0 }]);
    d.pull_failed(0);
    assert!(d.deadline().is_some());
    d.player_left(100);
    assert!(d.is_idle());
    assert_eq!(d.deadline(), None);
    d.tick(100_000);
    assert!(ops(&mut d).is_empty());
}

#[test]
fn without_origins_nothing_is_pulled() {
    let mut d = demand(0);
    d.player_joined(0);
    assert!(ops(&mut d).is_empty());
    d.player_left(1);
    assert!(d.is_idle());
}
