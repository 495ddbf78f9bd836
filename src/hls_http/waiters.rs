//! The requests of one worker that wait for a playlist file to change: blocking playlist
//! reloads and requests of the hinted next part. Grouped by the playlist they watch, so that
//! each change of a file is read once for all of its waiters. `H` is the shell's handle of a
//! request.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use super::block::{satisfied, Want};
use super::path::hint_names;
use super::query::Skip;
use super::state::PlaylistState;

/// What identifies one version of a file: the shell's (device, inode, mtime ns, size). A
/// playlist replaced by rename gets a new inode, so two versions written within one mtime
/// tick still differ.
pub type Stamp = [u64; 4];

/// What a waiting request waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Awaited {
    /// A blocking playlist reload; `skip` asks for the delta update.
    Playlist { want: Want, skip: Option<Skip> },
    /// The part file (its path) that the playlist's preload hint names.
    Part { file: PathBuf },
}

/// Why a waiting request is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The playlist now satisfies it (a part: the hint moved past it, so it is written or
    /// will never be): serve it.
    Ready,
    /// The watched playlist is gone (the stream ended and was cleaned up): 404.
    Gone,
    /// The wait limit passed: 503.
    Expired,
}

/// An answered request.
#[derive(Debug)]
pub struct Woken<H> {
    pub handle: H,
    pub awaited: Awaited,
    pub outcome: Outcome,
}

struct Entry<H> {
    handle: H,
    watch: PathBuf,
    awaited: Awaited,
    deadline_ms: u64,
}

struct Watch {
    stamp: Option<Stamp>,
    ids: Vec<u64>,
}

/// The waiting requests of a worker.
pub struct Waiters<H> {
    next_id: u64,
    entries: HashMap<u64, Entry<H>>,
    watches: HashMap<PathBuf, Watch>,
    /// (deadline, id) of every entry: a tick looks at the due ones only.
    deadlines: BTreeSet<(u64, u64)>,
}

impl<H> Default for Waiters<H> {
    fn default() -> Self {
        Waiters {
            next_id: 1,
            entries: HashMap::new(),
            watches: HashMap::new(),
            deadlines: BTreeSet::new(),
        }
    }
}

fn still_waits(a: &Awaited, s: &PlaylistState) -> bool {
    match a {
        Awaited::Playlist { want, .. } => !satisfied(*want, s),
        Awaited::Part { file } => {
            let file = file.to_string_lossy();
            !s.ended
                && s.preload_hint
                    .as_deref()
                    .is_some_and(|h| hint_names(h, &file))
        }
    }
}

impl<H> Waiters<H> {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds a request that waits until `deadline_ms` for `playlist` (as read at `stamp`) to
    /// satisfy `awaited`; returns its id (never reused).
    pub fn add(
        &mut self,
        handle: H,
        playlist: &Path,
        stamp: Option<Stamp>,
        awaited: Awaited,
        deadline_ms: u64,
    ) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let watch = self.watches.entry(playlist.to_path_buf()).or_insert(Watch {
            stamp,
            ids: Vec::new(),
        });
        watch.ids.push(id);
        self.deadlines.insert((deadline_ms, id));
        self.entries.insert(
            id,
            Entry {
                handle,
                watch: playlist.to_path_buf(),
                awaited,
                deadline_ms,
            },
        );
        id
    }

    /// Forgets request `id` (its client went away); nothing when it was answered already.
    pub fn remove(&mut self, id: u64) -> Option<H> {
        let e = self.entries.remove(&id)?;
        self.deadlines.remove(&(e.deadline_ms, id));
        if let Some(w) = self.watches.get_mut(&e.watch) {
            w.ids.retain(|i| *i != id);
            if w.ids.is_empty() {
                self.watches.remove(&e.watch);
            }
        }
        Some(e.handle)
    }

    /// The watched playlists and the version of each last read.
    pub fn watched(&self) -> Vec<(PathBuf, Option<Stamp>)> {
        self.watches
            .iter()
            .map(|(p, w)| (p.clone(), w.stamp))
            .collect()
    }

    /// `playlist` is now at `stamp` with `state` (`None`: it is gone): the requests it
    /// answers.
    pub fn update(
        &mut self,
        playlist: &Path,
        stamp: Option<Stamp>,
        state: Option<&PlaylistState>,
    ) -> Vec<Woken<H>> {
        let Some(w) = self.watches.get_mut(playlist) else {
            return Vec::new();
        };
        w.stamp = stamp;
        let entries = &self.entries;
        let (done, keep): (Vec<u64>, Vec<u64>) = w.ids.iter().partition(|id| {
            entries
                .get(id)
                .is_none_or(|e| state.is_none_or(|s| !still_waits(&e.awaited, s)))
        });
        w.ids = keep;
        if w.ids.is_empty() {
            self.watches.remove(playlist);
        }
        let outcome = if state.is_some() {
            Outcome::Ready
        } else {
            Outcome::Gone
        };
        done.into_iter()
            .filter_map(|id| {
                let e = self.entries.remove(&id)?;
                self.deadlines.remove(&(e.deadline_ms, id));
                Some(e)
            })
            .map(|e| Woken {
                handle: e.handle,
                awaited: e.awaited,
                outcome,
            })
            .collect()
    }

    /// The requests whose wait limit passed at `now_ms`.
    pub fn expire(&mut self, now_ms: u64) -> Vec<Woken<H>> {
        let due: Vec<u64> = self
            .deadlines
            .iter()
            .take_while(|(d, _)| *d <= now_ms)
            .map(|(_, id)| *id)
            .collect();
        due.into_iter()
            .filter_map(|id| {
                let awaited = self.entries.get(&id)?.awaited.clone();
                let handle = self.remove(id)?;
                Some(Woken {
                    handle,
                    awaited,
                    outcome: Outcome::Expired,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hls_http::state::Pos;

    fn state(last: Pos, hint: &str) -> PlaylistState {
        PlaylistState {
            media_sequence: 0,
            segments: last.msn,
            last: Some(last),
            can_block_reload: true,
            preload_hint: Some(hint.into()),
            ..PlaylistState::default()
        }
    }

    fn wait(msn: u64, part: u64) -> Awaited {
        Awaited::Playlist {
            want: Want {
                msn,
                part: Some(part),
            },
            skip: None,
        }
    }

    #[test]
    fn a_change_answers_the_satisfied_requests_only() {
        let mut w = Waiters::default();
        let p = Path::new("/h/cam.m3u8");
        w.add("a", p, Some([1, 1, 1, 1]), wait(5, 1), 1000);
        w.add("b", p, Some([1, 1, 1, 1]), wait(5, 2), 1000);
        w.add(
            "c",
            p,
            None,
            Awaited::Part {
                file: "/h/cam-5.2.ts".into(),
            },
            1000,
        );
        w.add("d", Path::new("/h/other.m3u8"), None, wait(1, 0), 1000);
        assert_eq!(w.len(), 4);
        assert_eq!(w.watched().len(), 2);
        let s = state(Pos { msn: 5, part: 1 }, "cam-5.2.ts");
        let woken = w.update(p, Some([1, 1, 2, 9]), Some(&s));
        assert_eq!(woken.iter().map(|x| x.handle).collect::<Vec<_>>(), ["a"]);
        assert_eq!(woken[0].outcome, Outcome::Ready);
        assert!(w.watched().contains(&(p.to_path_buf(), Some([1, 1, 2, 9]))));
        // The part is listed and the hint moved on: "b" and the part request are answered.
        let s = state(Pos { msn: 5, part: 2 }, "cam-5.3.ts");
        let mut woken: Vec<_> = w
            .update(p, None, Some(&s))
            .into_iter()
            .map(|x| x.handle)
            .collect();
        woken.sort_unstable();
        assert_eq!(woken, ["b", "c"]);
        assert_eq!(w.watched().len(), 1);
        // A deleted playlist answers its requests as gone.
        let gone = w.update(Path::new("/h/other.m3u8"), None, None);
        assert_eq!((gone.len(), gone[0].outcome), (1, Outcome::Gone));
        assert!(w.is_empty() && w.watched().is_empty());
    }

    #[test]
    fn removed_and_expired_requests_leave_no_trace() {
        let mut w = Waiters::default();
        let p = Path::new("/h/cam.m3u8");
        let a = w.add(1, p, None, wait(9, 0), 500);
        let b = w.add(2, p, None, wait(9, 0), 900);
        assert_ne!(a, b);
        assert_eq!(w.remove(a), Some(1));
        assert_eq!(w.remove(a), None);
        assert!(w.expire(899).is_empty());
        let e = w.expire(900);
        assert_eq!(
            (e.len(), e[0].handle, e[0].outcome),
            (1, 2, Outcome::Expired)
        );
        assert!(w.is_empty() && w.watched().is_empty());
        assert!(w.update(p, None, None).is_empty());
    }
}
