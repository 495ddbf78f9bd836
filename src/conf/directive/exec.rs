//! The `exec*` lines: a program and its arguments (with `name=` filters under
//! `exec_options on`), stored where the line's level keeps them.

use std::path::PathBuf;

use crate::exec::{ExecKind, ExecLine};

use super::super::error::ConfError;
use super::super::model::{RtmpConf, Scope};

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
            Scope::Application { server, app } | Scope::Recorder { server, app, .. } => {
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
        if let Scope::Recorder { .. } = scope {
            // A recorder block has its own `exec_record_done` lines only.
            if kind != ExecKind::RecordDone {
                return Err(ConfError::NotAllowedHere(kind.directive()));
            }
            let block = self.recorder_block(scope, kind.directive())?;
            block.exec_record_done.push(line);
            return Ok(());
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
