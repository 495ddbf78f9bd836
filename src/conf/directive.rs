//! Directive interpretation: each directive's arguments checked and stored in the layer of the
//! level (`rtmp`, `server`, `application`) where it appears.

use std::sync::Arc;

use crate::auth::{AccessList, KeyMap, Rule};
use crate::hls::{FragmentType, Naming, PlaylistKind, Slicing, VariantSpec};
use crate::http::Method;
use crate::transcode::Rendition;

use super::app::AppLayer;
use super::args::{
    flag_arg, interval_arg, one_arg, path_arg, set_once, size_arg, time_arg, value_err,
};
use super::error::ConfError;
use super::listen::Listen;
use super::model::{RtmpConf, Scope};
use super::notify::{Call, NotifyLayer, NotifyUrl};
use super::record::{RecordLayer, RecorderBlock};
use super::relay::RelayLayer;
use super::server::ServerLayer;
use super::tls::TlsLayer;
use super::value::ValueError;

impl RtmpConf {
    fn server_layer(
        &mut self,
        scope: Scope,
        directive: &'static str,
    ) -> Result<&mut ServerLayer, ConfError> {
        match scope {
            Scope::Main => Ok(&mut self.layer),
            Scope::Server(s) => self
                .servers
                .get_mut(s)
                .map(|s| &mut s.layer)
                .ok_or(ConfError::NotAllowedHere(directive)),
            Scope::Application { .. } | Scope::Recorder { .. } => {
                Err(ConfError::NotAllowedHere(directive))
            }
        }
    }

    pub(super) fn app_layer(
        &mut self,
        scope: Scope,
        directive: &'static str,
    ) -> Result<&mut AppLayer, ConfError> {
        let layer = match scope {
            Scope::Main => Some(&mut self.app_layer),
            Scope::Server(s) => self.servers.get_mut(s).map(|s| &mut s.app_layer),
            Scope::Application { server, app } => self
                .servers
                .get_mut(server)
                .and_then(|s| s.applications.get_mut(app))
                .map(|a| &mut a.layer),
            Scope::Recorder { .. } => None,
        };
        layer.ok_or(ConfError::NotAllowedHere(directive))
    }

    /// The `recorder` block of a `Scope::Recorder`.
    fn recorder_block(
        &mut self,
        scope: Scope,
        directive: &'static str,
    ) -> Result<&mut RecorderBlock, ConfError> {
        let Scope::Recorder { server, app, rec } = scope else {
            return Err(ConfError::NotAllowedHere(directive));
        };
        self.servers
            .get_mut(server)
            .and_then(|s| s.applications.get_mut(app))
            .and_then(|a| a.layer.recorders.get_mut(rec))
            .ok_or(ConfError::NotAllowedHere(directive))
    }

    /// The `record*` settings of a level, or of a `recorder` block.
    fn record_layer(
        &mut self,
        scope: Scope,
        directive: &'static str,
    ) -> Result<&mut RecordLayer, ConfError> {
        if let Scope::Recorder { .. } = scope {
            return Ok(&mut self.recorder_block(scope, directive)?.layer);
        }
        Ok(&mut self.app_layer(scope, directive)?.record)
    }

    /// Interprets one simple (non-block) directive.
    pub fn set(&mut self, scope: Scope, name: &str, args: &[&str]) -> Result<(), ConfError> {
        if let Some(directive) = RecordLayer::directive(name) {
            return self
                .record_layer(scope, directive)?
                .set(directive, args)
                .unwrap_or_else(|| Err(ConfError::Unknown(name.to_owned())));
        }
        if let Some(directive) = NotifyLayer::option(name) {
            return self
                .app_layer(scope, directive)?
                .notify
                .set_option(directive, args);
        }
        if let Some(directive) = RelayLayer::directive(name) {
            return self.app_layer(scope, directive)?.relay.set(directive, args);
        }
        if let Some(directive) = TlsLayer::directive(name) {
            return self
                .server_layer(scope, directive)?
                .tls
                .set(directive, args);
        }
        match name {
            "listen" => self.set_listen(scope, args),
            "live_shm_size" => {
                if scope != Scope::Main {
                    return Err(ConfError::NotAllowedHere("live_shm_size"));
                }
                let v = size_arg("live_shm_size", args, 1 << 20, 4095 << 20)?;
                set_once(&mut self.shm_size, "live_shm_size", v as usize)
            }
            "chunk_size" => {
                let v = size_arg("chunk_size", args, 128, 0xFF_FFFF)?;
                set_once(
                    &mut self.server_layer(scope, "chunk_size")?.chunk_size,
                    "chunk_size",
                    v,
                )
            }
            "play_flush_interval" => {
                let v = interval_arg("play_flush_interval", args)?;
                let l = self.server_layer(scope, "play_flush_interval")?;
                set_once(&mut l.play_flush_interval_ms, "play_flush_interval", v)
            }
            "publish_read_interval" => {
                let v = interval_arg("publish_read_interval", args)?;
                let l = self.server_layer(scope, "publish_read_interval")?;
                set_once(&mut l.publish_read_interval_ms, "publish_read_interval", v)
            }
            "max_message" => {
                let v = size_arg("max_message", args, 1024, 64 * 1024 * 1024)?;
                set_once(
                    &mut self.server_layer(scope, "max_message")?.max_message,
                    "max_message",
                    v,
                )
            }
            "ack_window" => {
                let v = size_arg("ack_window", args, 1, 0x7FFF_FFFF)?;
                set_once(
                    &mut self.server_layer(scope, "ack_window")?.ack_window,
                    "ack_window",
                    v,
                )
            }
            "max_streams" => {
                let v = size_arg("max_streams", args, 1, 1024)?;
                set_once(
                    &mut self.server_layer(scope, "max_streams")?.max_streams,
                    "max_streams",
                    v,
                )
            }
            "timeout" => {
                let v = time_arg("timeout", args, 1)?;
                set_once(
                    &mut self.server_layer(scope, "timeout")?.timeout_ms,
                    "timeout",
                    v,
                )
            }
            "ping" => {
                let v = time_arg("ping", args, 0)?;
                set_once(&mut self.server_layer(scope, "ping")?.ping_ms, "ping", v)
            }
            "ping_timeout" => {
                let v = time_arg("ping_timeout", args, 1)?;
                set_once(
                    &mut self.server_layer(scope, "ping_timeout")?.ping_timeout_ms,
                    "ping_timeout",
                    v,
                )
            }
            "live" => {
                let v = flag_arg("live", args)?;
                set_once(&mut self.app_layer(scope, "live")?.live, "live", v)
            }
            "idle_streams" => {
                let v = flag_arg("idle_streams", args)?;
                set_once(
                    &mut self.app_layer(scope, "idle_streams")?.idle_streams,
                    "idle_streams",
                    v,
                )
            }
            "gop_cache" => {
                let v = flag_arg("gop_cache", args)?;
                set_once(
                    &mut self.app_layer(scope, "gop_cache")?.gop_cache,
                    "gop_cache",
                    v,
                )
            }
            "wait_key" => {
                let v = flag_arg("wait_key", args)?;
                set_once(
                    &mut self.app_layer(scope, "wait_key")?.wait_key,
                    "wait_key",
                    v,
                )
            }
            "wait_video" => {
                let v = flag_arg("wait_video", args)?;
                set_once(
                    &mut self.app_layer(scope, "wait_video")?.wait_video,
                    "wait_video",
                    v,
                )
            }
            "drop_idle_publisher" => {
                let v = time_arg("drop_idle_publisher", args, 100)?;
                let l = self.app_layer(scope, "drop_idle_publisher")?;
                set_once(&mut l.drop_idle_publisher, "drop_idle_publisher", v)
            }
            "publish_takeover" => {
                let v = flag_arg("publish_takeover", args)?;
                let l = self.app_layer(scope, "publish_takeover")?;
                set_once(&mut l.publish_takeover, "publish_takeover", v)
            }
            "player_buffer" => {
                let v = size_arg("player_buffer", args, 64 * 1024, 1 << 30)?;
                let l = self.app_layer(scope, "player_buffer")?;
                set_once(&mut l.player_buffer, "player_buffer", v)
            }
            "allow" | "deny" => {
                let (action, target) = match args {
                    [a, t] => (*a, *t),
                    _ => {
                        return Err(ConfError::Arity {
                            directive: if name == "allow" { "allow" } else { "deny" },
                            expected: "2: publish|play and an address, CIDR or all",
                        })
                    }
                };
                let rule =
                    Rule::parse(name == "allow", action, target).map_err(ConfError::Access)?;
                let directive = if name == "allow" { "allow" } else { "deny" };
                self.app_layer(scope, directive)?
                    .access
                    .get_or_insert_with(AccessList::default)
                    .push(rule);
                Ok(())
            }
            "notify_method" => {
                let a = one_arg("notify_method", args)?;
                let m = match a {
                    "get" | "GET" => Method::Get,
                    "post" | "POST" => Method::Post,
                    _ => {
                        return Err(value_err("notify_method", a)(ValueError::Choice(
                            "get or post",
                        )))
                    }
                };
                if self.app_layer(scope, "notify_method")?.notify.set_method(m) {
                    Ok(())
                } else {
                    Err(ConfError::Duplicate("notify_method"))
                }
            }
            "publish_secret" | "play_secret" => {
                let directive = if name == "publish_secret" {
                    "publish_secret"
                } else {
                    "play_secret"
                };
                let a = one_arg(directive, args)?;
                if a.len() < 16 {
                    return Err(value_err(directive, "(secret)")(ValueError::Choice(
                        "a secret of at least 16 characters",
                    )));
                }
                let l = self.app_layer(scope, directive)?;
                let slot = if directive == "publish_secret" {
                    &mut l.publish_secret
                } else {
                    &mut l.play_secret
                };
                set_once(slot, directive, a.to_owned())
            }
            "exec_options" | "respawn" | "respawn_timeout" | "exec_kill_signal" => {
                let directive = match name {
                    "exec_options" => "exec_options",
                    "respawn" => "respawn",
                    "respawn_timeout" => "respawn_timeout",
                    _ => "exec_kill_signal",
                };
                self.app_layer(scope, directive)?
                    .exec
                    .set(name, args)
                    .unwrap_or_else(|| Err(ConfError::Unknown(name.to_owned())))
            }
            "hls" => {
                let v = flag_arg("hls", args)?;
                set_once(&mut self.app_layer(scope, "hls")?.hls, "hls", v)
            }
            "hls_path" => {
                let v = path_arg("hls_path", args)?;
                set_once(
                    &mut self.app_layer(scope, "hls_path")?.hls_path,
                    "hls_path",
                    v,
                )
            }
            "hls_fragment" => {
                let v = time_arg("hls_fragment", args, 100)?;
                set_once(
                    &mut self.app_layer(scope, "hls_fragment")?.hls_fragment,
                    "hls_fragment",
                    v,
                )
            }
            "hls_playlist_length" => {
                let v = time_arg("hls_playlist_length", args, 1000)?;
                let l = self.app_layer(scope, "hls_playlist_length")?;
                set_once(&mut l.hls_playlist_length, "hls_playlist_length", v)
            }
            "hls_max_fragment" => {
                let v = time_arg("hls_max_fragment", args, 100)?;
                let l = self.app_layer(scope, "hls_max_fragment")?;
                set_once(&mut l.hls_max_fragment, "hls_max_fragment", v)
            }
            "hls_continuous" => {
                let v = flag_arg("hls_continuous", args)?;
                let l = self.app_layer(scope, "hls_continuous")?;
                set_once(&mut l.hls_continuous, "hls_continuous", v)
            }
            "hls_nested" => {
                let v = flag_arg("hls_nested", args)?;
                set_once(
                    &mut self.app_layer(scope, "hls_nested")?.hls_nested,
                    "hls_nested",
                    v,
                )
            }
            "hls_cleanup" => {
                let v = flag_arg("hls_cleanup", args)?;
                set_once(
                    &mut self.app_layer(scope, "hls_cleanup")?.hls_cleanup,
                    "hls_cleanup",
                    v,
                )
            }
            "hls_fragment_naming" => {
                let a = one_arg("hls_fragment_naming", args)?;
                let v = match a {
                    "sequential" => Naming::Sequential,
                    "timestamp" => Naming::Timestamp,
                    "system" => Naming::System,
                    _ => {
                        return Err(value_err("hls_fragment_naming", a)(ValueError::Choice(
                            "sequential, timestamp or system",
                        )))
                    }
                };
                let l = self.app_layer(scope, "hls_fragment_naming")?;
                set_once(&mut l.hls_naming, "hls_fragment_naming", v)
            }
            "hls_fragment_slicing" => {
                let a = one_arg("hls_fragment_slicing", args)?;
                let v = match a {
                    "plain" => Slicing::Plain,
                    "aligned" => Slicing::Aligned,
                    _ => {
                        return Err(value_err("hls_fragment_slicing", a)(ValueError::Choice(
                            "plain or aligned",
                        )))
                    }
                };
                let l = self.app_layer(scope, "hls_fragment_slicing")?;
                set_once(&mut l.hls_slicing, "hls_fragment_slicing", v)
            }
            "hls_fragment_type" => {
                let a = one_arg("hls_fragment_type", args)?;
                let v = match a {
                    "mpegts" => FragmentType::MpegTs,
                    "fmp4" => FragmentType::Fmp4,
                    _ => {
                        return Err(value_err("hls_fragment_type", a)(ValueError::Choice(
                            "mpegts or fmp4",
                        )))
                    }
                };
                let l = self.app_layer(scope, "hls_fragment_type")?;
                set_once(&mut l.hls_fragment_type, "hls_fragment_type", v)
            }
            "hls_type" => {
                let a = one_arg("hls_type", args)?;
                let v = match a {
                    "live" => PlaylistKind::Live,
                    "event" => PlaylistKind::Event,
                    _ => {
                        return Err(value_err("hls_type", a)(ValueError::Choice(
                            "live or event",
                        )))
                    }
                };
                set_once(
                    &mut self.app_layer(scope, "hls_type")?.hls_type,
                    "hls_type",
                    v,
                )
            }
            "hls_base_url" => {
                let a = one_arg("hls_base_url", args)?;
                if a.chars().any(|c| c.is_control() || c.is_whitespace()) {
                    return Err(value_err("hls_base_url", a)(ValueError::Choice(
                        "a URL without spaces or control characters",
                    )));
                }
                let l = self.app_layer(scope, "hls_base_url")?;
                set_once(&mut l.hls_base_url, "hls_base_url", a.to_owned())
            }
            "hls_low_latency" | "hls_part_duration" | "hls_program_date_time" => {
                self.set_low_latency(scope, name, args)
            }
            "hls_variant" => {
                let (suffix, params) = args.split_first().ok_or(ConfError::Arity {
                    directive: "hls_variant",
                    expected: "a suffix and optional PARAM=VALUE",
                })?;
                let spec = VariantSpec::parse(suffix, params).map_err(ConfError::Variant)?;
                let l = self.app_layer(scope, "hls_variant")?;
                let list = l.hls_variants.get_or_insert_with(Vec::new);
                if list.iter().any(|v| v.suffix == spec.suffix) {
                    return Err(ConfError::DuplicateVariant(spec.suffix));
                }
                list.push(spec);
                Ok(())
            }
            "dash" => {
                let v = flag_arg("dash", args)?;
                set_once(&mut self.app_layer(scope, "dash")?.dash, "dash", v)
            }
            "dash_path" => {
                let v = path_arg("dash_path", args)?;
                let l = self.app_layer(scope, "dash_path")?;
                set_once(&mut l.dash_path, "dash_path", v)
            }
            "dash_fragment" => {
                let v = time_arg("dash_fragment", args, 100)?;
                let l = self.app_layer(scope, "dash_fragment")?;
                set_once(&mut l.dash_fragment, "dash_fragment", v)
            }
            "dash_playlist_length" => {
                let v = time_arg("dash_playlist_length", args, 1000)?;
                let l = self.app_layer(scope, "dash_playlist_length")?;
                set_once(&mut l.dash_playlist_length, "dash_playlist_length", v)
            }
            "dash_nested" => {
                let v = flag_arg("dash_nested", args)?;
                let l = self.app_layer(scope, "dash_nested")?;
                set_once(&mut l.dash_nested, "dash_nested", v)
            }
            "dash_cleanup" => {
                let v = flag_arg("dash_cleanup", args)?;
                let l = self.app_layer(scope, "dash_cleanup")?;
                set_once(&mut l.dash_cleanup, "dash_cleanup", v)
            }
            "hls_rendition" => {
                let Scope::Application { .. } = scope else {
                    return Err(ConfError::NotAllowedHere("hls_rendition"));
                };
                let r = Rendition::parse(args).map_err(ConfError::Rendition)?;
                let l = self.app_layer(scope, "hls_rendition")?;
                if l.renditions.iter().any(|o| o.name == r.name) {
                    return Err(ConfError::DuplicateRendition(r.name));
                }
                l.renditions.push(r);
                Ok(())
            }
            "transcode_ffmpeg" => {
                // The shell resolves and checks the program before handing its path here.
                let a = one_arg("transcode_ffmpeg", args)?;
                if a.is_empty() || a.contains('\0') {
                    return Err(value_err("transcode_ffmpeg", a)(ValueError::Path));
                }
                let l = self.app_layer(scope, "transcode_ffmpeg")?;
                set_once(&mut l.transcode_ffmpeg, "transcode_ffmpeg", a.to_owned())
            }
            "transcode_max" => {
                let v = size_arg("transcode_max", args, 0, 65_535)?;
                let l = self.server_layer(scope, "transcode_max")?;
                set_once(&mut l.transcode_max, "transcode_max", v)
            }
            other => Err(ConfError::Unknown(other.to_owned())),
        }
    }

    pub(super) fn set_listen(&mut self, scope: Scope, args: &[&str]) -> Result<(), ConfError> {
        let Scope::Server(s) = scope else {
            return Err(ConfError::NotAllowedHere("listen"));
        };
        let listen = Listen::parse(args).map_err(ConfError::Listen)?;
        if self
            .servers
            .iter()
            .flat_map(|s| &s.listens)
            .any(|l| l.conflicts_with(&listen))
        {
            return Err(ConfError::DuplicateListen(listen.addr.to_string()));
        }
        self.servers
            .get_mut(s)
            .ok_or(ConfError::NotAllowedHere("listen"))?
            .listens
            .push(listen);
        Ok(())
    }

    /// `on_connect|on_publish|... URL`: the shell parses and resolves the URL (at
    /// configuration time), then hands it here.
    pub fn set_notify(
        &mut self,
        scope: Scope,
        call: Call,
        url: NotifyUrl,
    ) -> Result<(), ConfError> {
        let directive = call.directive();
        if call == Call::Connect && scope.application().is_some() {
            return Err(ConfError::NotAllowedHere(directive));
        }
        if let Scope::Recorder { .. } = scope {
            // A recorder block has its own `on_record_done` only.
            if call != Call::RecordDone {
                return Err(ConfError::NotAllowedHere(directive));
            }
            let block = self.recorder_block(scope, directive)?;
            return set_once(&mut block.on_record_done, directive, url);
        }
        if self.app_layer(scope, directive)?.notify.set(call, url) {
            Ok(())
        } else {
            Err(ConfError::Duplicate(directive))
        }
    }

    /// `publish_keys FILE`: the shell reads and parses the file, then hands the map here.
    pub fn set_publish_keys(&mut self, scope: Scope, keys: KeyMap) -> Result<(), ConfError> {
        let l = self.app_layer(scope, "publish_keys")?;
        set_once(&mut l.publish_keys, "publish_keys", Arc::new(keys))
    }

    /// `resolver ...` at `scope`: `id` is the shell's number for the nginx resolver it
    /// created from the line (nginx checks the addresses and parameters).
    pub fn set_resolver(&mut self, scope: Scope, id: usize) -> Result<(), ConfError> {
        self.app_layer(scope, "resolver")?.relay.set_resolver(id)
    }
}

mod exec;
mod low_latency;

#[cfg(test)]
mod exec_tests;
#[cfg(test)]
mod tests;
