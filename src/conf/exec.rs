//! The `exec` family's settings: the lines of each level, `exec_options`, `respawn`,
//! `respawn_timeout`, `exec_kill_signal`, and where `exec_static` lines are collected.

use std::path::PathBuf;

use crate::exec::{parse_signal, ExecKind, ExecLine};

use super::args::{flag_arg, one_arg, set_once, time_arg, value_err};
use super::error::ConfError;
use super::model::{RtmpConf, Scope};
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

impl RtmpConf {
    /// Whether `exec_options on` holds where a line of `scope` is read (its own level or an
    /// enclosing one, set before it).
    fn exec_options_at(&self, scope: Scope) -> bool {
        let main = self.app_layer.exec.options;
        let (server, app) = match scope {
            Scope::Main => (None, None),
            Scope::Server(s) => (
                self.servers.get(s).and_then(|s| s.app_layer.exec.options),
                None,
            ),
            Scope::Application { server, app } => {
                let srv = self.servers.get(server);
                (
                    srv.and_then(|s| s.app_layer.exec.options),
                    srv.and_then(|s| s.applications.get(app))
                        .and_then(|a| a.layer.exec.options),
                )
            }
        };
        app.or(server).or(main).unwrap_or(false)
    }

    /// An `exec*` line: `values` are the program as written and its arguments; the shell
    /// found the program at `path`.
    pub fn set_exec(
        &mut self,
        scope: Scope,
        kind: ExecKind,
        path: PathBuf,
        values: &[&str],
    ) -> Result<(), ConfError> {
        let Some((program, rest)) = values.split_first() else {
            return Err(ConfError::Arity {
                directive: kind.directive(),
                expected: "a program and its arguments",
            });
        };
        let options = self.exec_options_at(scope);
        let mut line = ExecLine {
            kind,
            program: (*program).to_owned(),
            path,
            args: Vec::with_capacity(rest.len()),
            names: Vec::new(),
        };
        for a in rest {
            match a.strip_prefix("name=") {
                Some(n) if options => line.names.push(n.to_owned()),
                _ => line.args.push((*a).to_owned()),
            }
        }
        if kind == ExecKind::Static {
            self.static_lines.push((scope, line));
            return Ok(());
        }
        self.app_layer(scope, kind.directive())?
            .exec
            .lines
            .push(line);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> PathBuf {
        PathBuf::from("/bin/echo")
    }

    #[test]
    fn lines_policies_and_static() {
        let mut c = RtmpConf::new();
        c.set(Scope::Main, "respawn_timeout", &["2s"]).unwrap();
        c.set_exec(Scope::Main, ExecKind::Publish, p(), &["echo", "main"])
            .unwrap();
        c.set_exec(Scope::Main, ExecKind::Static, p(), &["echo", "static"])
            .unwrap();
        let s = c.add_server();
        let a = c.add_application(s, "src").unwrap();
        let app = Scope::Application { server: s, app: a };
        c.set(app, "exec_options", &["on"]).unwrap();
        c.set(app, "exec_kill_signal", &["KILL"]).unwrap();
        c.set(app, "respawn", &["off"]).unwrap();
        c.set_exec(
            app,
            ExecKind::Push,
            p(),
            &["echo", "name=cam", "$name", "name=x"],
        )
        .unwrap();
        c.set_exec(app, ExecKind::Static, p(), &["echo", "in-app"])
            .unwrap();
        let b = c.add_application(s, "other").unwrap();
        let other = Scope::Application { server: s, app: b };
        // Without exec_options, name= is an argument.
        c.set_exec(other, ExecKind::Push, p(), &["echo", "name=cam"])
            .unwrap();
        c.finish().unwrap();
        let e = &c.servers[0].applications[a].settings.exec;
        assert_eq!(e.lines.len(), 2);
        assert_eq!(e.lines[0].kind, ExecKind::Push);
        assert_eq!(e.lines[0].args, ["$name"]);
        assert_eq!(e.lines[0].names, ["cam", "x"]);
        assert_eq!(e.lines[1].args, ["main"]);
        assert_eq!(e.lines_for(ExecKind::Push, "cam").count(), 1);
        assert_eq!(e.lines_for(ExecKind::Push, "dog").count(), 0);
        assert_eq!(e.lines_for(ExecKind::Publish, "dog").count(), 1);
        assert_eq!(
            e.policy,
            ExecPolicy {
                respawn: false,
                respawn_timeout_ms: 2000,
                kill_signal: 9
            }
        );
        let o = &c.servers[0].applications[b].settings.exec;
        assert_eq!(o.lines[0].args, ["name=cam"]);
        assert_eq!(o.policy.kill_signal, 15);
        assert!(o.policy.respawn);
        assert_eq!(c.static_execs.len(), 2);
        assert_eq!(c.static_execs[0].line.args, ["static"]);
        assert_eq!(c.static_execs[0].policy.respawn_timeout_ms, 2000);
        assert_eq!(c.static_execs[1].policy.kill_signal, 9);
    }

    #[test]
    fn errors() {
        let mut c = RtmpConf::new();
        assert!(matches!(
            c.set(Scope::Main, "exec_kill_signal", &["TERMINATE"]),
            Err(ConfError::Value { .. })
        ));
        assert!(matches!(
            c.set(Scope::Main, "respawn_timeout", &["soon"]),
            Err(ConfError::Value { .. })
        ));
        assert!(matches!(
            c.set(Scope::Main, "respawn", &["maybe"]),
            Err(ConfError::Value { .. })
        ));
        c.set(Scope::Main, "respawn", &["on"]).unwrap();
        assert_eq!(
            c.set(Scope::Main, "respawn", &["on"]),
            Err(ConfError::Duplicate("respawn"))
        );
        assert!(matches!(
            c.set_exec(Scope::Main, ExecKind::Push, p(), &[]),
            Err(ConfError::Arity { .. })
        ));
        assert_eq!(
            c.set(Scope::Main, "exec_pull", &["x"]),
            Err(ConfError::Unknown("exec_pull".into()))
        );
    }
}
