//! Application-level settings (`live`, access rules, HLS, DASH, ...): their per-level layer,
//! inheritance, defaults and the resolved settings the shell uses.

use std::path::PathBuf;
use std::sync::Arc;

use crate::auth::{AccessList, KeyMap};
use crate::dash::DashConfig;
use crate::exec::ExecKind;
use crate::hls::{
    FragmentType, HlsConfig, Naming, PlaylistKind, Slicing, VariantSpec, DEFAULT_PART_MS,
};
use crate::live::gop::{DEFAULT_MAX_BYTES as GOP_MAX_BYTES, DEFAULT_MAX_FRAMES as GOP_MAX_FRAMES};
use crate::live::player::DEFAULT_MAX_PENDING_BYTES;
use crate::live::{GopCache, QueuePolicy};
use crate::transcode::Rendition;

use super::error::ConfError;
use super::exec::{ExecLayer, ExecSettings};
use super::notify::{Call, NotifyLayer, NotifySettings};
use super::record::{resolve_recorders, RecordDone, RecordLayer, RecorderBlock, RecorderSettings};
use super::relay::{RelayLayer, RelaySettings};

/// Application-level settings, inheritable from `rtmp {}` and `server {}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct AppLayer {
    pub(super) live: Option<bool>,
    pub(super) notify: NotifyLayer,
    pub(super) idle_streams: Option<bool>,
    pub(super) gop_cache: Option<bool>,
    pub(super) wait_key: Option<bool>,
    pub(super) wait_video: Option<bool>,
    pub(super) player_buffer: Option<u32>,
    pub(super) drop_idle_publisher: Option<u64>,
    pub(super) publish_takeover: Option<bool>,
    /// `allow`/`deny` rules of this level; a level with rules replaces inherited ones.
    pub(super) access: Option<AccessList>,
    pub(super) publish_keys: Option<Arc<KeyMap>>,
    pub(super) publish_secret: Option<String>,
    pub(super) play_secret: Option<String>,
    pub(super) record: RecordLayer,
    /// `recorder` blocks (application level only, so never inherited).
    pub(super) recorders: Vec<RecorderBlock>,
    pub(super) hls: Option<bool>,
    pub(super) hls_path: Option<String>,
    pub(super) hls_fragment: Option<u64>,
    pub(super) hls_playlist_length: Option<u64>,
    pub(super) hls_max_fragment: Option<u64>,
    pub(super) hls_continuous: Option<bool>,
    pub(super) hls_nested: Option<bool>,
    pub(super) hls_cleanup: Option<bool>,
    pub(super) hls_naming: Option<Naming>,
    pub(super) hls_slicing: Option<Slicing>,
    pub(super) hls_type: Option<PlaylistKind>,
    pub(super) hls_fragment_type: Option<FragmentType>,
    pub(super) hls_base_url: Option<String>,
    pub(super) hls_low_latency: Option<bool>,
    pub(super) hls_part_duration: Option<u64>,
    pub(super) hls_program_date_time: Option<bool>,
    /// `hls_variant` lines of this level; a level with some replaces inherited ones.
    pub(super) hls_variants: Option<Vec<VariantSpec>>,
    pub(super) dash: Option<bool>,
    pub(super) dash_path: Option<String>,
    pub(super) dash_fragment: Option<u64>,
    pub(super) dash_playlist_length: Option<u64>,
    pub(super) dash_nested: Option<bool>,
    pub(super) dash_cleanup: Option<bool>,
    /// `hls_rendition` lines (application level only, so never inherited).
    pub(super) renditions: Vec<Rendition>,
    pub(super) transcode_ffmpeg: Option<String>,
    pub(super) exec: ExecLayer,
    pub(super) relay: RelayLayer,
}

impl AppLayer {
    pub(super) fn merge(&self, parent: &AppLayer) -> AppLayer {
        AppLayer {
            live: self.live.or(parent.live),
            notify: self.notify.merge(&parent.notify),
            idle_streams: self.idle_streams.or(parent.idle_streams),
            gop_cache: self.gop_cache.or(parent.gop_cache),
            wait_key: self.wait_key.or(parent.wait_key),
            wait_video: self.wait_video.or(parent.wait_video),
            player_buffer: self.player_buffer.or(parent.player_buffer),
            drop_idle_publisher: self.drop_idle_publisher.or(parent.drop_idle_publisher),
            publish_takeover: self.publish_takeover.or(parent.publish_takeover),
            access: self.access.clone().or_else(|| parent.access.clone()),
            publish_keys: self
                .publish_keys
                .clone()
                .or_else(|| parent.publish_keys.clone()),
            publish_secret: self
                .publish_secret
                .clone()
                .or_else(|| parent.publish_secret.clone()),
            play_secret: self
                .play_secret
                .clone()
                .or_else(|| parent.play_secret.clone()),
            record: self.record.merge(&parent.record),
            recorders: self.recorders.clone(),
            hls: self.hls.or(parent.hls),
            hls_path: self.hls_path.clone().or_else(|| parent.hls_path.clone()),
            hls_fragment: self.hls_fragment.or(parent.hls_fragment),
            hls_playlist_length: self.hls_playlist_length.or(parent.hls_playlist_length),
            hls_max_fragment: self.hls_max_fragment.or(parent.hls_max_fragment),
            hls_continuous: self.hls_continuous.or(parent.hls_continuous),
            hls_nested: self.hls_nested.or(parent.hls_nested),
            hls_cleanup: self.hls_cleanup.or(parent.hls_cleanup),
            hls_naming: self.hls_naming.or(parent.hls_naming),
            hls_slicing: self.hls_slicing.or(parent.hls_slicing),
            hls_type: self.hls_type.or(parent.hls_type),
            hls_fragment_type: self.hls_fragment_type.or(parent.hls_fragment_type),
            hls_base_url: self
                .hls_base_url
                .clone()
                .or_else(|| parent.hls_base_url.clone()),
            hls_low_latency: self.hls_low_latency.or(parent.hls_low_latency),
            hls_part_duration: self.hls_part_duration.or(parent.hls_part_duration),
            hls_program_date_time: self.hls_program_date_time.or(parent.hls_program_date_time),
            hls_variants: self
                .hls_variants
                .clone()
                .or_else(|| parent.hls_variants.clone()),
            dash: self.dash.or(parent.dash),
            dash_path: self.dash_path.clone().or_else(|| parent.dash_path.clone()),
            dash_fragment: self.dash_fragment.or(parent.dash_fragment),
            dash_playlist_length: self.dash_playlist_length.or(parent.dash_playlist_length),
            dash_nested: self.dash_nested.or(parent.dash_nested),
            dash_cleanup: self.dash_cleanup.or(parent.dash_cleanup),
            renditions: self.renditions.clone(),
            transcode_ffmpeg: self
                .transcode_ffmpeg
                .clone()
                .or_else(|| parent.transcode_ffmpeg.clone()),
            exec: self.exec.merge(&parent.exec),
            relay: self.relay.merge(&parent.relay),
        }
    }

    pub(super) fn resolve(&self, app: &str) -> Result<AppSettings, ConfError> {
        let hls = if self.hls.unwrap_or(false) {
            let path = self.hls_path.clone().ok_or_else(|| ConfError::Missing {
                directive: "hls_path",
                app: app.to_owned(),
            })?;
            let d = HlsConfig::default();
            let config = HlsConfig {
                fragment_ms: self.hls_fragment.unwrap_or(d.fragment_ms),
                playlist_length_ms: self.hls_playlist_length.unwrap_or(d.playlist_length_ms),
                max_fragment_ms: self.hls_max_fragment.or(d.max_fragment_ms),
                continuous: self.hls_continuous.unwrap_or(d.continuous),
                nested: self.hls_nested.unwrap_or(d.nested),
                cleanup: self.hls_cleanup.unwrap_or(d.cleanup),
                naming: self.hls_naming.unwrap_or(d.naming),
                slicing: self.hls_slicing.unwrap_or(d.slicing),
                kind: self.hls_type.unwrap_or(d.kind),
                fragment_type: self.hls_fragment_type.unwrap_or(d.fragment_type),
                base_url: self.hls_base_url.clone().unwrap_or(d.base_url),
                part_ms: self
                    .hls_low_latency
                    .unwrap_or(false)
                    .then(|| self.hls_part_duration.unwrap_or(DEFAULT_PART_MS)),
                program_date_time: self
                    .hls_program_date_time
                    .or(self.hls_low_latency)
                    .unwrap_or(d.program_date_time),
            };
            Some(HlsSettings {
                path: PathBuf::from(path),
                config,
                variants: self.hls_variants.clone().unwrap_or_default(),
            })
        } else {
            None
        };
        let dash = if self.dash.unwrap_or(false) {
            let path = self.dash_path.clone().ok_or_else(|| ConfError::Missing {
                directive: "dash_path",
                app: app.to_owned(),
            })?;
            let d = DashConfig::default();
            Some(DashSettings {
                path: PathBuf::from(path),
                config: DashConfig {
                    fragment_ms: self.dash_fragment.unwrap_or(d.fragment_ms),
                    playlist_length_ms: self.dash_playlist_length.unwrap_or(d.playlist_length_ms),
                    nested: self.dash_nested.unwrap_or(d.nested),
                    cleanup: self.dash_cleanup.unwrap_or(d.cleanup),
                },
            })
        } else {
            None
        };
        if !self.renditions.is_empty() && hls.is_none() {
            return Err(ConfError::Missing {
                directive: "hls",
                app: app.to_owned(),
            });
        }
        let notify = self.notify.resolve();
        let record_done = RecordDone {
            url: notify.get(Call::RecordDone),
            lines: self
                .exec
                .lines
                .iter()
                .filter(|l| l.kind == ExecKind::RecordDone)
                .collect(),
        };
        Ok(AppSettings {
            live: self.live.unwrap_or(false),
            notify: notify.clone(),
            idle_streams: self.idle_streams.unwrap_or(true),
            gop_cache: self.gop_cache.unwrap_or(true),
            wait_key: self.wait_key.unwrap_or(false),
            wait_video: self.wait_video.unwrap_or(false),
            player_buffer: self
                .player_buffer
                .map_or(DEFAULT_MAX_PENDING_BYTES, |b| b as usize),
            drop_idle_publisher_ms: self.drop_idle_publisher,
            publish_takeover: self.publish_takeover.unwrap_or(false),
            access: self.access.clone().unwrap_or_default(),
            publish_keys: self.publish_keys.clone(),
            publish_secret: self.publish_secret.clone(),
            play_secret: self.play_secret.clone(),
            hls,
            dash,
            renditions: self.renditions.clone(),
            transcode_ffmpeg: self.transcode_ffmpeg.as_ref().map(PathBuf::from),
            exec: self.exec.resolve(),
            record: resolve_recorders(app, &self.record, &self.recorders, &record_done)?,
            relay: self.relay.resolve(),
        })
    }
}

/// `hls on` with its directory and settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HlsSettings {
    /// `hls_path`: where playlists and segments are written.
    pub path: PathBuf,
    pub config: HlsConfig,
    /// `hls_variant` lines, in configuration order.
    pub variants: Vec<VariantSpec>,
}

/// `dash on` with its directory and settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashSettings {
    /// `dash_path`: where the MPD and the fragments are written.
    pub path: PathBuf,
    pub config: DashConfig,
}

/// Resolved settings of one application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSettings {
    /// `live on|off`: accept live publishers and players.
    pub live: bool,
    /// `on_publish`, `on_play`, ... callbacks.
    pub notify: NotifySettings,
    /// `idle_streams on|off` (default on): players of an unpublished name wait for it.
    pub idle_streams: bool,
    /// `gop_cache on|off` (default on): joining players start at the latest keyframe at once.
    pub gop_cache: bool,
    /// `wait_key on|off`: a player's video starts with a keyframe.
    pub wait_key: bool,
    /// `wait_video on|off`: no audio to a player before its first video frame.
    pub wait_video: bool,
    /// `player_buffer SIZE` (default 2m): unsent bytes a player may have before it skips to
    /// the next keyframe.
    pub player_buffer: usize,
    /// `drop_idle_publisher TIME`: a publisher that sends no media for this long is closed.
    pub drop_idle_publisher_ms: Option<u64>,
    /// `publish_takeover on`: a new publisher of a live name replaces the old one (an encoder
    /// that reconnected while its old TCP session hangs) instead of being refused.
    pub publish_takeover: bool,
    /// `allow`/`deny publish|play` rules.
    pub access: AccessList,
    /// `publish_keys`: secret key → public name; publishers must use a listed key.
    pub publish_keys: Option<Arc<KeyMap>>,
    /// `publish_secret`: publish names must carry a valid `expires`/`sig` signature.
    pub publish_secret: Option<String>,
    /// `play_secret`: the same for players.
    pub play_secret: Option<String>,
    /// `hls on` (with `hls_path`), or `None`.
    pub hls: Option<HlsSettings>,
    /// `dash on` (with `dash_path`), or `None`.
    pub dash: Option<DashSettings>,
    /// `hls_rendition` lines, in order (empty: no transcoding). They need `hls on`.
    pub renditions: Vec<Rendition>,
    /// `transcode_ffmpeg PATH`: the encoder program, resolved by the shell when the
    /// configuration is read (an absolute path to an executable file). `None` until then when
    /// not set: the shell fills in `ffmpeg` found on PATH for an application with renditions.
    pub transcode_ffmpeg: Option<PathBuf>,
    /// `exec*` lines (but `exec_static`) and how their children are supervised.
    pub exec: ExecSettings,
    /// The application's recorders (`record` other than `off`, `recorder` blocks).
    pub record: Vec<RecorderSettings>,
    /// `push`, `push_reconnect`, `relay_buffer`, `session_relay`.
    pub relay: RelaySettings,
}

impl AppSettings {
    /// The queue rules of each player.
    pub fn queue_policy(&self) -> QueuePolicy {
        QueuePolicy {
            max_pending_bytes: self.player_buffer,
            wait_key: self.wait_key,
            wait_video: self.wait_video,
        }
    }

    /// A GOP cache for a newly published stream.
    pub fn gop_cache(&self) -> GopCache {
        GopCache::new(self.gop_cache, GOP_MAX_FRAMES, GOP_MAX_BYTES)
    }

    /// Whether a publisher's stream goes anywhere (players, HLS, DASH or a recorder).
    pub fn accepts_publish(&self) -> bool {
        self.live
            || self.hls.is_some()
            || self.dash.is_some()
            || !self.record.is_empty()
            || !self.relay.push.is_empty()
    }
}
