//! The stream's codecs as its HLS output sees them: the primary tracks' configurations,
//! which container carries them, and the move to fMP4 of a stream whose codecs MPEG-TS
//! cannot carry (AV1, VP9, Opus) although `hls_fragment_type mpegts` is configured.

use super::HlsStream;
use crate::files::Now;
use crate::hls::config::FragmentType;
use crate::hls::muxer::{ts_can_carry, AudioFormat, SegmentMuxer};
use crate::media::{Demuxer, VideoConfig};

/// What the stream's configuration says, taken again whenever a track's configuration
/// changes (not per frame).
#[derive(Debug)]
pub(super) struct StreamCodecs {
    /// The configured container.
    configured: FragmentType,
    /// Whether the notice of a move to fMP4 was given.
    noticed: bool,
    /// The primary tracks' generations the rest was taken from.
    generations: Option<(u32, u32)>,
    /// The primary audio track's configuration.
    pub audio: Option<AudioFormat>,
    /// The primary video track is HEVC (the TS PMT announces stream type 0x24).
    pub hevc: bool,
    /// The codecs need fMP4 and the muxer is still MPEG-TS: the next segment is fMP4.
    pub switch_pending: bool,
    /// A previous fMP4 playlist whose fate waits for the codecs (see `adopt_previous`).
    pub previous: Option<String>,
}

impl StreamCodecs {
    pub fn new(configured: FragmentType) -> Self {
        Self {
            configured,
            noticed: false,
            generations: None,
            audio: None,
            hevc: false,
            switch_pending: false,
            previous: None,
        }
    }
}

impl HlsStream {
    /// Takes the stream's primary codecs after a message. A stream that MPEG-TS cannot carry
    /// moves to fMP4: at once when no segment is open, else from the next segment on.
    pub(super) fn observe_codecs(&mut self, codecs: &Demuxer, now: Now) {
        let generations = (codecs.video_generation(), codecs.audio_generation());
        if self.codecs.generations == Some(generations) {
            return;
        }
        self.codecs.generations = Some(generations);
        let video = codecs.video().map(|t| &t.config);
        let audio = codecs.audio().map(|t| &t.config);
        self.codecs.audio = audio.map(AudioFormat::new);
        self.codecs.hevc = matches!(video, Some(VideoConfig::Hevc(_)));
        let fits_ts = ts_can_carry(video, audio);
        if let Some(text) = self.codecs.previous.take() {
            // A previous fMP4 playlist goes on when this publish needs fMP4 too.
            if !fits_ts {
                self.switch_to_fmp4();
            }
            self.adopt_previous(&text, now, false);
        }
        if self.codecs.configured != FragmentType::MpegTs || fits_ts {
            return;
        }
        if !self.codecs.noticed {
            self.codecs.noticed = true;
            let names: Vec<String> = video
                .map(|v| format!("{} video", v.codec_name()))
                .into_iter()
                .chain(audio.map(|a| format!("{} audio", a.codec_name())))
                .collect();
            self.notices.push_back(format!(
                "stream \"{}\" ({}) is written as fMP4: MPEG-TS cannot carry its \
                 codecs (hls_fragment_type mpegts)",
                self.name,
                names.join(", ")
            ));
        }
        if self.mux.kind() == FragmentType::MpegTs {
            self.codecs.switch_pending = true;
            if matches!(self.state, super::State::Waiting { .. }) {
                self.switch_to_fmp4();
            }
        }
    }

    /// Makes the stream's segments fMP4 from the next one on (the caller opens it, with a
    /// discontinuity when segments were listed before).
    pub(super) fn switch_to_fmp4(&mut self) {
        self.mux = SegmentMuxer::new(FragmentType::Fmp4);
        self.config.fragment_type = FragmentType::Fmp4;
        self.codecs.switch_pending = false;
    }

    /// The next line for the shell's log (at notice level), if any.
    pub fn poll_notice(&mut self) -> Option<String> {
        self.notices.pop_front()
    }
}
