//! Renditions of one master playlist that tell each other where they stand, for
//! `#EXT-X-RENDITION-REPORT`: each rendition's [`HlsStream`](super::HlsStream) posts its last
//! segment and part on a shared [`RenditionBoard`] whenever it writes its playlist, and
//! reads the others' from there. A report therefore says what the other rendition's
//! playlist said when this one was written.

use std::cell::RefCell;
use std::rc::Rc;

use super::parts::RenditionReport;
use crate::files::uri_escape;

#[derive(Debug)]
struct Slot {
    name: String,
    /// `(LAST-MSN, LAST-PART)` of its latest playlist, once it wrote one with parts.
    last: Option<(u64, u64)>,
}

/// The shared board of one master's renditions (a handle: clones share it). Single-threaded,
/// as a worker is; no borrow outlives a call.
#[derive(Debug, Clone, Default)]
pub struct RenditionBoard(Rc<RefCell<Vec<Slot>>>);

impl RenditionBoard {
    pub fn new() -> RenditionBoard {
        RenditionBoard::default()
    }

    /// Rendition `name` posts its latest `(LAST-MSN, LAST-PART)`.
    pub fn post(&self, name: &str, last: Option<(u64, u64)>) {
        let mut slots = self.0.borrow_mut();
        match slots.iter_mut().find(|s| s.name == name) {
            Some(s) => s.last = last,
            None => slots.push(Slot {
                name: name.to_owned(),
                last,
            }),
        }
    }

    /// The reports on the other renditions for the playlist of `name`: their playlists
    /// relative to its own (`nested`: each in its own directory).
    pub fn reports_for(&self, name: &str, nested: bool, out: &mut Vec<RenditionReport>) {
        out.clear();
        for s in self.0.borrow().iter().filter(|s| s.name != name) {
            let Some((last_msn, last_part)) = s.last else {
                continue;
            };
            let other = uri_escape(&s.name);
            let uri = if nested {
                format!("../{other}/index.m3u8")
            } else {
                format!("{other}.m3u8")
            };
            out.push(RenditionReport {
                uri,
                last_msn,
                last_part,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rendition_hears_of_the_others() {
        let board = RenditionBoard::new();
        let other = board.clone();
        board.post("cam_t0", Some((4, 2)));
        other.post("cam_t1", None);
        let mut out = Vec::new();
        board.reports_for("cam_t1", false, &mut out);
        assert_eq!(
            out,
            vec![RenditionReport {
                uri: "cam_t0.m3u8".into(),
                last_msn: 4,
                last_part: 2
            }]
        );
        board.reports_for("cam_t0", false, &mut out);
        assert!(out.is_empty());
        other.post("cam_t1", Some((4, 1)));
        board.post("cam_t0", Some((5, 0)));
        board.reports_for("cam_t0", true, &mut out);
        assert_eq!(out[0].uri, "../cam_t1/index.m3u8");
        assert_eq!((out[0].last_msn, out[0].last_part), (4, 1));
        board.reports_for("cam_t1", true, &mut out);
        assert_eq!((out[0].last_msn, out[0].last_part), (5, 0));
    }
}
