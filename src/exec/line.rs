//! One `exec*` directive: when it runs, what it runs, for which names, and the argument list
//! and redirections it gives for a stream.

use std::path::PathBuf;

use super::eval::{eval, eval_in_path, Vars};
use super::redirect::{parse_redirect, RedirectError, Redirection, Source};

/// When a line runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExecKind {
    /// `exec` / `exec_push`: a supervised child per publish, stopped at unpublish.
    Push,
    /// `exec_publish`: once when a publish starts.
    Publish,
    /// `exec_publish_done`: once when it ends.
    PublishDone,
    /// `exec_play`: once when a play starts.
    Play,
    /// `exec_play_done`: once when it ends.
    PlayDone,
    /// `exec_static`: a supervised child of the server, started with it.
    Static,
    /// `exec_record_done`: once when a recorder finishes a file.
    RecordDone,
    /// `exec_pull`: a supervised child per stream that players want and nobody publishes
    /// (it is expected to publish the stream), stopped when its players are gone.
    Pull,
}

impl ExecKind {
    pub fn from_directive(name: &str) -> Option<ExecKind> {
        Some(match name {
            "exec" | "exec_push" => ExecKind::Push,
            "exec_publish" => ExecKind::Publish,
            "exec_publish_done" => ExecKind::PublishDone,
            "exec_play" => ExecKind::Play,
            "exec_play_done" => ExecKind::PlayDone,
            "exec_static" => ExecKind::Static,
            "exec_record_done" => ExecKind::RecordDone,
            "exec_pull" => ExecKind::Pull,
            _ => return None,
        })
    }

    pub fn directive(self) -> &'static str {
        match self {
            ExecKind::Push => "exec",
            ExecKind::Publish => "exec_publish",
            ExecKind::PublishDone => "exec_publish_done",
            ExecKind::Play => "exec_play",
            ExecKind::PlayDone => "exec_play_done",
            ExecKind::Static => "exec_static",
            ExecKind::RecordDone => "exec_record_done",
            ExecKind::Pull => "exec_pull",
        }
    }

    /// Whether its child is supervised (respawned, stopped) rather than run once.
    pub fn is_managed(self) -> bool {
        matches!(self, ExecKind::Push | ExecKind::Static | ExecKind::Pull)
    }
}

/// One `exec*` directive as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecLine {
    pub kind: ExecKind,
    /// The program as written (for logs and stat).
    pub program: String,
    /// Where it was found when the configuration was read.
    pub path: PathBuf,
    /// The arguments as written, before substitution.
    pub args: Vec<String>,
    /// `name=` options (with `exec_options on`): the line runs only for these stream names.
    pub names: Vec<String>,
}

/// What one run of a line executes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The arguments after the program, substituted, redirections removed.
    pub args: Vec<String>,
    pub redirections: Vec<Redirection>,
}

impl Invocation {
    /// Whether stderr goes somewhere of the operator's choosing.
    pub fn redirects_stderr(&self) -> bool {
        self.redirections.iter().any(|r| r.fd == 2)
    }
}

impl ExecLine {
    /// Whether the line runs for stream `name` (`exec_options on` with `name=` filters).
    pub fn applies_to(&self, name: &str) -> bool {
        self.names.is_empty() || self.names.iter().any(|n| n == name)
    }

    /// The arguments for a stream (`vars`), or for `exec_static` (`None`: no substitution,
    /// as nginx-rtmp). An argument is a redirection when it is one as written: nginx-rtmp
    /// decides after substitution, so a client whose flashVer or `?args` reads `>/etc/x`
    /// turns an argument into a file it truncates; here values only fill in what the operator
    /// wrote (and name one file in a redirection, see [`eval_in_path`]).
    pub fn invocation(&self, vars: Option<&Vars>) -> Result<Invocation, RedirectError> {
        let mut inv = Invocation {
            args: Vec::with_capacity(self.args.len()),
            redirections: Vec::new(),
        };
        for raw in &self.args {
            let redirect = parse_redirect(raw).is_some();
            let a = match (vars, redirect) {
                (Some(v), false) => eval(raw, v),
                (Some(v), true) => eval_in_path(raw, v),
                (None, _) => raw.clone(),
            };
            match parse_redirect(&a).filter(|_| redirect) {
                Some(r) => {
                    let r = r?;
                    if let Source::Fd(from) = r.source {
                        let known = from <= 2 || inv.redirections.iter().any(|e| e.fd == from);
                        if !known {
                            return Err(RedirectError::NoSuchDescriptor(a));
                        }
                    }
                    inv.redirections.push(r);
                }
                None => inv.args.push(a),
            }
        }
        Ok(inv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(args: &[&str]) -> ExecLine {
        ExecLine {
            kind: ExecKind::Push,
            program: "ffmpeg".into(),
            path: PathBuf::from("/usr/bin/ffmpeg"),
            args: args.iter().map(|s| (*s).to_owned()).collect(),
            names: Vec::new(),
        }
    }

    #[test]
    fn substitution_then_redirections() {
        let l = line(&[
            "-i",
            "rtmp://127.0.0.1/$app/$name",
            "-f",
            "flv",
            "rtmp://127.0.0.1/hls/$name_low",
            "2>>/var/log/ffmpeg-$name.log",
            ">/dev/null",
        ]);
        let v = Vars {
            name: "cam".into(),
            app: "src".into(),
            ..Vars::default()
        };
        let inv = l.invocation(Some(&v)).unwrap();
        assert_eq!(
            inv.args,
            [
                "-i",
                "rtmp://127.0.0.1/src/cam",
                "-f",
                "flv",
                "rtmp://127.0.0.1/hls/cam_low"
            ]
        );
        assert_eq!(
            inv.redirections,
            [
                Redirection {
                    fd: 2,
                    source: Source::Append("/var/log/ffmpeg-cam.log".into())
                },
                Redirection {
                    fd: 1,
                    source: Source::Truncate("/dev/null".into())
                }
            ]
        );
        assert!(inv.redirects_stderr());
        // exec_static: no substitution.
        let inv = l.invocation(None).unwrap();
        assert_eq!(inv.args[1], "rtmp://127.0.0.1/$app/$name");
        assert!(line(&["2>"]).invocation(None).is_err());
        // Only the command's own descriptors can be copied, never one of the worker's.
        assert_eq!(
            line(&["3>&7"]).invocation(None),
            Err(RedirectError::NoSuchDescriptor("3>&7".into()))
        );
        let inv = line(&["3>/tmp/x", "4>&3", "2>&1"])
            .invocation(None)
            .unwrap();
        assert_eq!(inv.redirections.len(), 3);
        assert!(!line(&["x"]).invocation(None).unwrap().redirects_stderr());
        // Values never make a redirection, and name one file inside one.
        let hostile = Vars {
            name: "cam".into(),
            args: ">/etc/passwd".into(),
            flashver: "2>&1".into(),
            ..Vars::default()
        };
        let inv = line(&["$args", "$flashver", "2>>/var/log/$name-$args"])
            .invocation(Some(&hostile))
            .unwrap();
        assert_eq!(inv.args, [">/etc/passwd", "2>&1"]);
        assert_eq!(
            inv.redirections,
            [Redirection {
                fd: 2,
                source: Source::Append("/var/log/cam->_etc_passwd".into())
            }]
        );
    }

    #[test]
    fn name_filters_and_kinds() {
        let mut l = line(&[]);
        assert!(l.applies_to("any"));
        l.names = vec!["a".into(), "b".into()];
        assert!(l.applies_to("b") && !l.applies_to("c"));
        assert_eq!(ExecKind::from_directive("exec_push"), Some(ExecKind::Push));
        assert_eq!(ExecKind::from_directive("exec_pull"), Some(ExecKind::Pull));
        assert_eq!(ExecKind::from_directive("exec_pulls"), None);
        assert!(ExecKind::Pull.is_managed());
        assert_eq!(ExecKind::Pull.directive(), "exec_pull");
        assert_eq!(
            ExecKind::from_directive("exec_record_done"),
            Some(ExecKind::RecordDone)
        );
        assert_eq!(ExecKind::RecordDone.directive(), "exec_record_done");
        assert!(!ExecKind::RecordDone.is_managed());
        assert!(ExecKind::Static.is_managed() && !ExecKind::PlayDone.is_managed());
        assert_eq!(ExecKind::PublishDone.directive(), "exec_publish_done");
    }
}
