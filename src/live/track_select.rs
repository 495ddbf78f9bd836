//! One track of a multitrack stream as a stream of its own: [`TrackSelect`] wraps any
//! [`Output`] and shows it one chosen video track (and the primary or a chosen audio track) as
//! the stream's primary tracks, so that an output of one rendition (HLS, say) writes that
//! track without knowing the stream has others.
//!
//! The wrapped output sees:
//! - `frames`: the chosen tracks' frames of the message, relabelled as the default track
//!   (id 0); other tracks' frames are gone. Relabelling clones a [`Frame`] (its data is a
//!   refcounted slice of the message), into a buffer the adapter reuses;
//! - `codecs`: a view of the stream's configuration with only the chosen tracks, as track 0
//!   ([`Demuxer::projected`]), rebuilt only when a chosen track's configuration changes (its
//!   generation), so a codec change mid-stream reaches the output as it would for track 0;
//! - a message that carries frames of other tracks only is not passed on; codec headers and
//!   metadata (no frames) are.
//!
//! The message's `payload` and the `gop` stay the published stream's (every track): wrap only
//! outputs that read frames and configuration, not ones that forward the publisher's bytes
//! (relays, FLV recorders).

use super::output::{Output, OutputError, OutputOp, Published};
use crate::files::Now;
use crate::media::{AudioTrack, Demuxer, Frame, Track};

/// Which audio track goes with the chosen video track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioChoice {
    /// The stream's primary audio track, whichever it is at the time.
    Primary,
    /// The audio track of this id.
    Track(u8),
}

/// The track a view was built from: its id and the generation of its configuration.
type Source = Option<(u8, u32)>;

/// An output of one video track (and one audio track) of a stream.
pub struct TrackSelect<O> {
    inner: O,
    video_id: u8,
    audio: AudioChoice,
    /// The chosen tracks as the stream's only tracks.
    view: Demuxer,
    /// What `view` was built from.
    view_video: Source,
    view_audio: Source,
    /// The relabelled frames of the current message (reused).
    frames: Vec<Frame>,
}

impl<O: Output> TrackSelect<O> {
    /// `inner` sees video track `video_id` and the audio track `audio` chooses.
    pub fn new(inner: O, video_id: u8, audio: AudioChoice) -> TrackSelect<O> {
        TrackSelect {
            inner,
            video_id,
            audio,
            view: Demuxer::new(),
            view_video: None,
            view_audio: None,
            frames: Vec::with_capacity(2),
        }
    }

    /// The chosen video track's id.
    pub fn video_id(&self) -> u8 {
        self.video_id
    }

    pub fn inner(&self) -> &O {
        &self.inner
    }

    /// The configuration view the wrapped output sees.
    pub fn view(&self) -> &Demuxer {
        &self.view
    }

    fn audio_track<'d>(&self, codecs: &'d Demuxer) -> Option<&'d AudioTrack> {
        match self.audio {
            AudioChoice::Primary => codecs.audio(),
            AudioChoice::Track(id) => codecs.audio_track(id),
        }
    }

    /// Rebuilds the view when a chosen track appeared or changed configuration.
    fn refresh_view(&mut self, codecs: &Demuxer) {
        let video = codecs.video_track(self.video_id);
        let audio = self.audio_track(codecs);
        let video_source = video.map(|t| (t.id, t.generation));
        let audio_source = audio.map(|t| (t.id, t.generation));
        if video_source == self.view_video && audio_source == self.view_audio {
            return;
        }
        self.view = Demuxer::projected(video.cloned(), audio.cloned());
        self.view_video = video_source;
        self.view_audio = audio_source;
    }

    /// Whether `frame` is of a chosen track (the view is current).
    fn chosen(&self, frame: &Frame) -> bool {
        match frame.track {
            Track::Video => frame.track_id == self.video_id,
            Track::Audio => self.view_audio.is_some_and(|(id, _)| id == frame.track_id),
        }
    }
}

/// A frame of a chosen track as the default track of the view.
fn relabelled(frame: &Frame) -> Frame {
    Frame {
        track_id: 0,
        ..frame.clone()
    }
}

impl<O: Output> Output for TrackSelect<O> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn push(&mut self, msg: &Published<'_>) -> Result<(), OutputError> {
        self.refresh_view(msg.codecs);
        self.frames.clear();
        for f in msg.frames {
            if self.chosen(f) {
                self.frames.push(relabelled(f));
            }
        }
        if self.frames.is_empty() && !msg.frames.is_empty() {
            return Ok(());
        }
        let projected = Published {
            frames: &self.frames,
            codecs: &self.view,
            ..*msg
        };
        self.inner.push(&projected)
    }

    fn finish(&mut self, now: Now) -> Result<(), OutputError> {
        self.inner.finish(now)
    }

    fn poll_op(&mut self) -> Option<OutputOp> {
        self.inner.poll_op()
    }

    fn acknowledge(&mut self, bytes: usize) {
        self.inner.acknowledge(bytes);
    }
}
