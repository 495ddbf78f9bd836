//! nginx-rtmp's relay directives: `push URL [app= name= tcUrl= pageUrl= swfUrl= flashVer=
//! playPath= live=]` and `pull URL [... static]` (several lines each), `push_reconnect TIME`,
//! `pull_reconnect TIME`, `relay_buffer TIME`, `session_relay on|off`, and ours,
//! `pull_grace TIME`; and how relay hosts are resolved: `resolver ADDRESS ... [valid=TIME]
//! [ipv6=on|off]` (nginx's resolver, which the shell creates and numbers: the model keeps
//! that number) and `resolver_timeout TIME`.
//!
//! A level with `push` (or `pull`) lines replaces the lines it would inherit (as
//! `hls_variant` does); the others are inherited value by value. And ours for `rtmps://` targets:
//! `relay_ssl_verify on|off`, `relay_ssl_trusted_certificate FILE`, `relay_ssl_protocols ...`.

use crate::relay::{
    RelayKind, RelayTarget, Scheme, DEFAULT_GRACE_MS, DEFAULT_RECONNECT_MS, DEFAULT_RELAY_BUFFER_MS,
};

use super::args::{flag_arg, one_arg, set_once, time_arg};
use super::error::ConfError;
use super::tls::TlsProtocols;

/// Directives handled here.
const RELAY_DIRECTIVES: [&str; 11] = [
    "push",
    "push_reconnect",
    "relay_buffer",
    "session_relay",
    "resolver_timeout",
    "pull",
    "pull_reconnect",
    "pull_grace",
    "relay_ssl_verify",
    "relay_ssl_trusted_certificate",
    "relay_ssl_protocols",
];

/// nginx's `resolver_timeout` default.
pub const DEFAULT_RESOLVER_TIMEOUT_MS: u64 = 30_000;

/// The relay directives of one level.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct RelayLayer {
    push: Option<Vec<RelayTarget>>,
    push_reconnect: Option<u64>,
    relay_buffer: Option<u64>,
    session_relay: Option<bool>,
    resolver: Option<usize>,
    resolver_timeout: Option<u64>,
    pull: Option<Vec<RelayTarget>>,
    pull_reconnect: Option<u64>,
    pull_grace: Option<u64>,
    ssl_verify: Option<bool>,
    ssl_trusted_certificate: Option<String>,
    ssl_protocols: Option<TlsProtocols>,
}

/// How `rtmps://` relays of an application speak TLS. Applications with equal settings share
/// one client context in the shell.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RelaySsl {
    /// `relay_ssl_verify` (default on): the target's certificate must chain to a trusted
    /// authority and name the target's host.
    pub verify: bool,
    /// `relay_ssl_trusted_certificate FILE` (PEM): the authorities trusted instead of the
    /// system's store. The shell makes the path absolute and checks the file when it reads
    /// the directive.
    pub trusted_certificate: Option<String>,
    /// `relay_ssl_protocols` (default TLSv1.2 TLSv1.3).
    pub protocols: TlsProtocols,
}

impl Default for RelaySsl {
    fn default() -> Self {
        RelaySsl {
            verify: true,
            trusted_certificate: None,
            protocols: TlsProtocols::DEFAULT,
        }
    }
}

/// An application's relays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelaySettings {
    /// `push` lines, in configuration order: every published stream of the application
    /// (whose name a line's `name=` matches, when given) is pushed to each.
    pub push: Vec<RelayTarget>,
    /// `push_reconnect` (default 3 s): the first delay before a failed push tries again; the
    /// relay's backoff grows from it, with jitter, up to its cap.
    pub push_reconnect_ms: u64,
    /// `relay_buffer` (default 5 s): media time a slow target may have queued before its
    /// video skips to the next keyframe.
    pub relay_buffer_ms: u32,
    /// `session_relay on|off` (default off). In nginx-rtmp a relay normally lives as long as
    /// the stream it relays; `on` ties it to the session that caused it instead (a pull
    /// closes with the player that started it). Accepted and kept; pushes end with their
    /// stream either way.
    pub session_relay: bool,
    /// TLS of the `rtmps://` targets.
    pub ssl: RelaySsl,
    /// The `resolver` in effect: the number the shell gave the nginx resolver it created for
    /// that line. `None`: names are resolved when the configuration loads.
    pub resolver: Option<usize>,
    /// `resolver_timeout` (default 30 s, as nginx's): how long one lookup may take.
    pub resolver_timeout_ms: u64,
    /// `pull` lines, in configuration order: the origins a stream this edge lacks is pulled
    /// from, tried in this order (the next one when a pull fails). A line with `name=`
    /// applies to that local stream only.
    pub pull: Vec<RelayTarget>,
    /// `pull_reconnect` (default 3 s): the first delay before a round of origins that all
    /// failed is tried again; the backoff grows from it, with jitter, up to its cap.
    pub pull_reconnect_ms: u64,
    /// `pull_grace` (ours, default 10 s): how long a pull started by players stays up after
    /// the last player on any worker left. `0` closes it at once, as nginx-rtmp does.
    pub pull_grace_ms: u64,
}

impl Default for RelaySettings {
    fn default() -> Self {
        RelaySettings {
            push: Vec::new(),
            push_reconnect_ms: DEFAULT_RECONNECT_MS,
            relay_buffer_ms: DEFAULT_RELAY_BUFFER_MS,
            session_relay: false,
            ssl: RelaySsl::default(),
            resolver: None,
            resolver_timeout_ms: DEFAULT_RESOLVER_TIMEOUT_MS,
            pull: Vec::new(),
            pull_reconnect_ms: DEFAULT_RECONNECT_MS,
            pull_grace_ms: DEFAULT_GRACE_MS,
        }
    }
}

impl RelaySettings {
    /// The push targets of the stream `name`.
    pub fn pushes_of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a RelayTarget> {
        self.push
            .iter()
            .filter(move |t| t.name.is_empty() || t.name == name)
    }

    /// Whether a target is `rtmps://`: the shell then needs a TLS client context for
    /// [`RelaySettings::ssl`].
    pub fn uses_tls(&self) -> bool {
        self.push
            .iter()
            .chain(&self.pull)
            .any(|t| t.url.scheme == Scheme::Rtmps)
    }

    /// The origins a player of the stream `name` makes this edge pull from (not the
    /// `static` lines, which run from the worker's start).
    pub fn pulls_of<'a>(&'a self, name: &'a str) -> Vec<RelayTarget> {
        self.pull
            .iter()
            .filter(|t| !t.is_static && (t.name.is_empty() || t.name == name))
            .cloned()
            .collect()
    }

    /// The `static` pull lines.
    pub fn static_pulls(&self) -> impl Iterator<Item = &RelayTarget> {
        self.pull.iter().filter(|t| t.is_static)
    }
}

impl RelayLayer {
    /// The static name of a relay directive, or `None` for another directive.
    pub(super) fn directive(name: &str) -> Option<&'static str> {
        RELAY_DIRECTIVES.iter().copied().find(|d| *d == name)
    }

    pub(super) fn set(&mut self, directive: &'static str, args: &[&str]) -> Result<(), ConfError> {
        match directive {
            "push" | "pull" => {
                let (url, rest) = args.split_first().ok_or(ConfError::Arity {
                    directive,
                    expected: "1 or more",
                })?;
                let kind = if directive == "push" {
                    RelayKind::Push
                } else {
                    RelayKind::Pull
                };
                let target =
                    RelayTarget::parse(kind, url, rest).map_err(|error| ConfError::Relay {
                        directive,
                        arg: (*url).to_owned(),
                        error,
                    })?;
                let lines = if kind == RelayKind::Push {
                    &mut self.push
                } else {
                    &mut self.pull
                };
                lines.get_or_insert_with(Vec::new).push(target);
                Ok(())
            }
            "pull_reconnect" => {
                let v = time_arg(directive, args, 1)?;
                set_once(&mut self.pull_reconnect, directive, v)
            }
            "pull_grace" => {
                let v = time_arg(directive, args, 0)?;
                set_once(&mut self.pull_grace, directive, v)
            }
            "push_reconnect" => {
                let v = time_arg(directive, args, 1)?;
                set_once(&mut self.push_reconnect, directive, v)
            }
            "relay_buffer" => {
                let v = time_arg(directive, args, 1)?;
                set_once(&mut self.relay_buffer, directive, v)
            }
            "session_relay" => {
                let v = flag_arg(directive, args)?;
                set_once(&mut self.session_relay, directive, v)
            }
            "relay_ssl_verify" => {
                let v = flag_arg(directive, args)?;
                set_once(&mut self.ssl_verify, directive, v)
            }
            "relay_ssl_trusted_certificate" => {
                let v = one_arg(directive, args)?;
                if v.is_empty() {
                    return Err(ConfError::Arity {
                        directive,
                        expected: "a file name",
                    });
                }
                set_once(&mut self.ssl_trusted_certificate, directive, v.to_owned())
            }
            "relay_ssl_protocols" => {
                let v = TlsProtocols::parse(directive, args)?;
                set_once(&mut self.ssl_protocols, directive, v)
            }
            "resolver_timeout" => {
                let v = time_arg(directive, args, 1)?;
                set_once(&mut self.resolver_timeout, directive, v)
            }
            _ => Err(ConfError::Unknown(directive.to_owned())),
        }
    }

    /// `resolver ...`: `id` is the shell's number for the nginx resolver of the line.
    pub(super) fn set_resolver(&mut self, id: usize) -> Result<(), ConfError> {
        set_once(&mut self.resolver, "resolver", id)
    }

    pub(super) fn merge(&self, parent: &RelayLayer) -> RelayLayer {
        RelayLayer {
            push: self.push.clone().or_else(|| parent.push.clone()),
            push_reconnect: self.push_reconnect.or(parent.push_reconnect),
            relay_buffer: self.relay_buffer.or(parent.relay_buffer),
            session_relay: self.session_relay.or(parent.session_relay),
            ssl_verify: self.ssl_verify.or(parent.ssl_verify),
            ssl_trusted_certificate: self
                .ssl_trusted_certificate
                .clone()
                .or_else(|| parent.ssl_trusted_certificate.clone()),
            ssl_protocols: self.ssl_protocols.or(parent.ssl_protocols),
            resolver: self.resolver.or(parent.resolver),
            resolver_timeout: self.resolver_timeout.or(parent.resolver_timeout),
            pull: self.pull.clone().or_else(|| parent.pull.clone()),
            pull_reconnect: self.pull_reconnect.or(parent.pull_reconnect),
            pull_grace: self.pull_grace.or(parent.pull_grace),
        }
    }

    pub(super) fn resolve(&self) -> RelaySettings {
        let d = RelaySettings::default();
        RelaySettings {
            push: self.push.clone().unwrap_or_default(),
            push_reconnect_ms: self.push_reconnect.unwrap_or(d.push_reconnect_ms),
            relay_buffer_ms: self
                .relay_buffer
                .map_or(d.relay_buffer_ms, |v| u32::try_from(v).unwrap_or(u32::MAX)),
            session_relay: self.session_relay.unwrap_or(d.session_relay),
            ssl: RelaySsl {
                verify: self.ssl_verify.unwrap_or(d.ssl.verify),
                trusted_certificate: self.ssl_trusted_certificate.clone(),
                protocols: self.ssl_protocols.unwrap_or(d.ssl.protocols),
            },
            resolver: self.resolver,
            resolver_timeout_ms: self.resolver_timeout.unwrap_or(d.resolver_timeout_ms),
            pull: self.pull.clone().unwrap_or_default(),
            pull_reconnect_ms: self.pull_reconnect.unwrap_or(d.pull_reconnect_ms),
            pull_grace_ms: self.pull_grace.unwrap_or(d.pull_grace_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::model::{RtmpConf, Scope};
    use super::*;

    fn conf() -> (RtmpConf, Scope) {
        let mut c = RtmpConf::new();
        let s = c.add_server();
        let a = c.add_application(s, "live").unwrap();
        (c, Scope::Application { server: s, app: a })
    }

    fn settings(c: &RtmpConf) -> RelaySettings {
        let mut c = c.clone();
        c.finish().unwrap();
        c.servers[0].applications[0].settings.relay.clone()
    }

    #[test]
    fn defaults_as_nginx_rtmp() {
        let (c, _) = conf();
        let s = settings(&c);
        assert!(s.push.is_empty());
        assert_eq!(s.push_reconnect_ms, 3000);
        assert_eq!(s.relay_buffer_ms, 5000);
        assert!(!s.session_relay);
        assert_eq!(s.resolver, None);
        assert_eq!(s.resolver_timeout_ms, 30_000);
        assert_eq!(s.ssl, RelaySsl::default());
        assert!(s.ssl.verify);
        assert_eq!(s.ssl.protocols, TlsProtocols::DEFAULT);
        assert!(!s.uses_tls());
    }

    #[test]
    fn rtmps_targets_and_their_tls_settings() {
        let (mut c, app) = conf();
        c.set(Scope::Main, "relay_ssl_protocols", &["TLSv1.3"])
            .unwrap();
        c.set(
            Scope::Main,
            "relay_ssl_trusted_certificate",
            &["/etc/ssl/ca.pem"],
        )
        .unwrap();
        c.set(app, "push", &["rtmps://live.example.com/app/key"])
            .unwrap();
        c.set(app, "relay_ssl_verify", &["off"]).unwrap();
        let s = settings(&c);
        assert!(s.uses_tls());
        assert_eq!(s.push[0].url.port, 443);
        assert_eq!(
            s.ssl,
            RelaySsl {
                verify: false,
                trusted_certificate: Some("/etc/ssl/ca.pem".into()),
                protocols: TlsProtocols::parse("x", &["TLSv1.3"]).unwrap(),
            }
        );
        assert!(c.set(app, "relay_ssl_verify", &["on"]).is_err());
        assert!(c.set(app, "relay_ssl_protocols", &["TLSv2"]).is_err());
        assert!(c.set(app, "relay_ssl_protocols", &[]).is_err());
        assert!(c
            .set(app, "relay_ssl_trusted_certificate", &["a", "b"])
            .is_err());
        assert!(c.set(app, "relay_ssl_trusted_certificate", &[""]).is_err());
    }

    #[test]
    fn resolver_inherited_and_overridden() {
        let (mut c, app) = conf();
        c.set_resolver(Scope::Main, 0).unwrap();
        c.set(Scope::Main, "resolver_timeout", &["5s"]).unwrap();
        let s = settings(&c);
        assert_eq!(s.resolver, Some(0));
        assert_eq!(s.resolver_timeout_ms, 5000);
        c.set_resolver(Scope::Server(0), 1).unwrap();
        assert_eq!(settings(&c).resolver, Some(1));
        c.set_resolver(app, 2).unwrap();
        assert_eq!(settings(&c).resolver, Some(2));
        assert_eq!(
            c.set_resolver(app, 3),
            Err(ConfError::Duplicate("resolver"))
        );
        assert!(c.set(app, "resolver_timeout", &["soon"]).is_err());
        assert!(c.set(app, "resolver_timeout", &[]).is_err());
    }

    #[test]
    fn push_lines_with_arguments() {
        let (mut c, app) = conf();
        c.set(app, "push", &["rtmp://127.0.0.1:1940/live"]).unwrap();
        c.set(
            app,
            "push",
            &["127.0.0.2/other", "name=cam", "playPath=x", "live=1"],
        )
        .unwrap();
        c.set(app, "push_reconnect", &["500ms"]).unwrap();
        c.set(app, "relay_buffer", &["2s"]).unwrap();
        c.set(app, "session_relay", &["on"]).unwrap();
        let s = settings(&c);
        assert_eq!(s.push.len(), 2);
        assert_eq!(s.push[0].url.port, 1940);
        assert_eq!(s.push[1].url.port, 1935);
        assert_eq!(s.push[1].play_path("cam"), "x");
        assert_eq!(s.pushes_of("cam").count(), 2);
        assert_eq!(s.pushes_of("other").count(), 1);
        assert_eq!(s.push_reconnect_ms, 500);
        assert_eq!(s.relay_buffer_ms, 2000);
        assert!(s.session_relay);
    }

    #[test]
    fn pull_lines_origins_and_static() {
        let (mut c, app) = conf();
        c.set(app, "pull", &["rtmp://127.0.0.1:1940/live"]).unwrap();
        c.set(app, "pull", &["rtmp://127.0.0.2/live", "name=cam"])
            .unwrap();
        c.set(
            app,
            "pull",
            &["rtmp://127.0.0.3/live", "name=lobby", "static"],
        )
        .unwrap();
        c.set(app, "pull_reconnect", &["500ms"]).unwrap();
        c.set(app, "pull_grace", &["0"]).unwrap();
        let s = settings(&c);
        assert_eq!(s.pull.len(), 3);
        assert_eq!(s.pulls_of("cam").len(), 2);
        assert_eq!(s.pulls_of("other").len(), 1);
        assert!(s.pulls_of("lobby").iter().all(|t| !t.is_static));
        assert_eq!(s.static_pulls().count(), 1);
        assert_eq!(s.pull_reconnect_ms, 500);
        assert_eq!(s.pull_grace_ms, 0);
        assert!(s.push.is_empty());
        let d = settings(&conf().0);
        assert_eq!(
            (d.pull_reconnect_ms, d.pull_grace_ms),
            (3000, DEFAULT_GRACE_MS)
        );
        for bad in [
            &["rtmp://h/live", "static"][..],
            &["rtmp://h/live", "bogus"][..],
            &[][..],
        ] {
            assert!(c.set(app, "pull", bad).is_err(), "{bad:?}");
        }
        assert!(c.set(app, "pull_reconnect", &["0"]).is_err());
    }

    #[test]
    fn inherited_and_replaced() {
        let (mut c, app) = conf();
        c.set(Scope::Main, "push", &["rtmp://10.0.0.1/a"]).unwrap();
        c.set(Scope::Main, "push_reconnect", &["1s"]).unwrap();
        assert_eq!(settings(&c).push.len(), 1);
        c.set(app, "push", &["rtmp://10.0.0.2/b"]).unwrap();
        let s = settings(&c);
        assert_eq!(s.push.len(), 1);
        assert_eq!(s.push[0].url.host, "10.0.0.2");
        assert_eq!(s.push_reconnect_ms, 1000);
    }

    #[test]
    fn malformed_lines_fail() {
        let (mut c, app) = conf();
        for bad in [
            &["http://h/live"][..],
            &["rtmp://h:0/live"][..],
            &["rtmp://h/live", "bogus=1"][..],
            &["rtmp://h/live", "live=x"][..],
            &["rtmp://h/live", "static"][..],
            &[][..],
        ] {
            assert!(c.set(app, "push", bad).is_err(), "{bad:?}");
        }
        assert!(c.set(app, "push_reconnect", &["soon"]).is_err());
        assert!(c.set(app, "relay_buffer", &["0"]).is_err());
        assert!(c.set(app, "session_relay", &["maybe"]).is_err());
        c.set(app, "push_reconnect", &["1s"]).unwrap();
        assert_eq!(
            c.set(app, "push_reconnect", &["2s"]),
            Err(ConfError::Duplicate("push_reconnect"))
        );
    }
}
