//! The `exec` family's settings: the lines of each level, `exec_options`, `respawn`,
//! `respawn_timeout`, `exec_kill_signal`, and where `exec_static` lines are collected.

use crate::exec::{parse_signal, ExecKind, ExecLine};

use super::args::{flag_arg, one_arg, set_once, time_arg, value_err};
use super::error::ConfError;
use super::value::ValueError;

/// How an application's supervised `exec` children are respawned and stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecPolicy {
    /// `respawn on|off` (default on).
    pub respawn: bool,
    /// `respawn_timeout` (default 5s): the first delay of the respawn backoff.
    pub respawn_timeout_ms: u64,
    /// `exec_kill_signal` (default TERM; SIGKILL follows after a grace period).
    pub kill_signal: i32,
}

impl Default for ExecPolicy {
    fn default() -> ExecPolicy {
        ExecPolicy {
            respawn: true,
            respawn_timeout_ms: 5000,
            kill_signal: 15,
        }
    }
}

/// An application's `exec*` lines (all kinds but `exec_static`) and their policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecSettings {
    pub lines: Vec<ExecLine>,
    pub policy: ExecPolicy,
}

impl ExecSettings {
    /// The lines of one kind that run for stream `name`.
    pub fn lines_for<'a>(
        &'a self,
        kind: ExecKind,
        name: &'a str,
    ) -> impl Iterator<Item = &'a ExecLine> + 'a {
        self.lines
            .iter()
            .filter(move |l| l.kind == kind && l.applies_to(name))
    }
}

impl ExecSettings {
    /// Whether an `exec_pull` line runs for stream `name`.
    pub fn pulls(&self, name: &str) -> bool {
        self.lines_for(ExecKind::Pull, name).next().is_some()
    }
}

/// An `exec_static` line with the policy of the level where it appears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticExec {
    pub line: ExecLine,
    pub policy: ExecPolicy,
}

/// The `exec` part of a level's layer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct ExecLayer {
    pub(super) lines: Vec<ExecLine>,
    pub(super) options: Option<bool>,
    pub(super) respawn: Option<bool>,
    pub(super) respawn_timeout: Option<u64>,
    pub(super) kill_signal: Option<i32>,
}

impl ExecLayer {
    /// A level's lines run before those it inherits, as nginx-rtmp merges them.
    pub(super) fn merge(&self, parent: &ExecLayer) -> ExecLayer {
        ExecLayer {
            lines: self.lines.iter().chain(&parent.lines).cloned().collect(),
            options: self.options.or(parent.options),
            respawn: self.respawn.or(parent.respawn),
            respawn_timeout: self.respawn_timeout.or(parent.respawn_timeout),
            kill_signal: self.kill_signal.or(parent.kill_signal),
        }
    }

    pub(super) fn policy(&self) -> ExecPolicy {
        let d = ExecPolicy::default();
        ExecPolicy {
            respawn: self.respawn.unwrap_or(d.respawn),
            respawn_timeout_ms: self.respawn_timeout.unwrap_or(d.respawn_timeout_ms),
            kill_signal: self.kill_signal.unwrap_or(d.kill_signal),
        }
    }

    pub(super) fn resolve(&self) -> ExecSettings {
        ExecSettings {
            lines: self.lines.clone(),
            policy: self.policy(),
        }
    }

    /// `exec_options`, `respawn`, `respawn_timeout`, `exec_kill_signal`; `None`: not one of
    /// them.
    pub(super) fn set(&mut self, name: &str, args: &[&str]) -> Option<Result<(), ConfError>> {
        Some(match name {
            "exec_options" => flag_arg("exec_options", args)
                .and_then(|v| set_once(&mut self.options, "exec_options", v)),
            "respawn" => {
                flag_arg("respawn", args).and_then(|v| set_once(&mut self.respawn, "respawn", v))
            }
            "respawn_timeout" => time_arg("respawn_timeout", args, 0)
                .and_then(|v| set_once(&mut self.respawn_timeout, "respawn_timeout", v)),
            "exec_kill_signal" => one_arg("exec_kill_signal", args).and_then(|a| {
                let sig = parse_signal(a).map_err(|_| {
                    value_err("exec_kill_signal", a)(ValueError::Choice(
                        "a signal number or a name such as TERM, KILL, INT, HUP, QUIT, USR1, USR2",
                    ))
                })?;
                set_once(&mut self.kill_signal, "exec_kill_signal", sig)
            }),
            _ => return None,
        })
    }
}
