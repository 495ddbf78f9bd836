//! The play checks of `rtmp_hls` playlist requests (`rtmp_hls_play_check on`), sans-IO: the
//! query arguments they are checked on ([`without_directives`]), the key an `on_play` verdict
//! is reused under ([`Key`]), and the per-worker map of verdicts and of requests waiting for
//! a verdict ([`Verdicts`]).
//!
//! A player reloads a live playlist every target duration, an LL-HLS player about three times
//! a second: `on_play` is asked once per (application, stream, client address, arguments) and
//! its verdict reused for a while; requests of a key whose callback is out wait for that one
//! answer. The map holds digests of keys, not the keys: an entry costs the same whatever the
//! arguments, and the number of entries is bounded (the oldest verdict goes first), so hostile
//! arguments cannot grow it.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::query::Directives;
use crate::auth::http_play::callback_verdict;
use crate::http::{HttpError, Response};

/// Default of `rtmp_hls_play_cache`: how long an `on_play` verdict is reused.
pub const DEFAULT_CACHE_MS: u64 = 30_000;
/// Entries (verdicts and callbacks out) a worker keeps at most.
pub const CAPACITY: usize = 4096;

/// The query arguments without the LL-HLS delivery directives (every `_HLS_` parameter: the
/// name prefix is reserved for them), in their order, undecoded: what `play_secret` and
/// `on_play` see, the same for every reload of one player.
pub fn without_directives(args: &str) -> String {
    let mut out = String::with_capacity(args.len());
    for pair in args.split('&') {
        if pair.is_empty() || pair.starts_with("_HLS_") {
            continue;
        }
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(pair);
    }
    out
}

/// What an `on_play` answer means for an HLS player of `stream`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Refused, and why (kept for the cache time).
    Refused(String),
    /// No answer (unreachable, timeout, malformed): this round's requests are refused,
    /// nothing is kept.
    Failed(String),
}

impl Verdict {
    /// What [`Verdicts::settle`] keeps.
    pub fn kept(&self) -> Option<bool> {
        match self {
            Verdict::Allowed => Some(true),
            Verdict::Refused(_) => Some(false),
            Verdict::Failed(_) => None,
        }
    }
}

/// Reads the `on_play` answer as for any HTTP player (2xx plays, a 3xx to a name renames,
/// anything else refuses), except that a rename to another stream refuses: the playlist
/// requested is the one served, and a player cannot be moved to another stream's playlist.
pub fn verdict(stream: &str, result: Result<Response, HttpError>) -> Verdict {
    match result {
        Err(e) => Verdict::Failed(format!("on_play failed: {e}")),
        Ok(r) => match callback_verdict(stream, Ok(r)) {
            Ok(name) if name == stream => Verdict::Allowed,
            Ok(name) => Verdict::Refused(format!(
                "on_play renames \"{stream}\" to \"{name}\", which an HLS player cannot follow"
            )),
            Err(why) => Verdict::Refused(why.to_string()),
        },
    }
}

/// A playlist request waiting for its verdict, with what its answer needs once allowed.
pub struct Suspended<R> {
    pub request: R,
    pub playlist: PathBuf,
    pub directives: Directives,
    pub max_waiting: usize,
}

/// What an `on_play` verdict is reused for: the digest of (application, stream, client
/// address, arguments without the directives).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key([u8; 32]);

impl Key {
    pub fn new(app: &str, stream: &str, ip: Option<IpAddr>, args: &str) -> Key {
        let mut h = Sha256::new();
        let ip = ip.map(|ip| ip.to_string()).unwrap_or_default();
        // Each field with its length: no two tuples give the same input.
        for field in [app, stream, ip.as_str(), args] {
            h.update((field.len() as u64).to_be_bytes());
            h.update(field.as_bytes());
        }
        Key(h.finalize().into())
    }
}

/// What [`Verdicts::lookup`] knows of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    /// `on_play` allowed it (true) or refused it, less than the cache time ago.
    Verdict(bool),
    /// Its callback is out: wait for it ([`Verdicts::join`]).
    Asking,
    /// Nothing: ask ([`Verdicts::ask`]).
    Unknown,
}

/// Why a request cannot wait for a verdict (answered 503).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// Every entry is a callback out.
    Callbacks,
    /// The worker holds its most waiting requests.
    Waiting,
}

enum Slot<H> {
    Verdict { allowed: bool, until_ms: u64 },
    Asking { waiters: Vec<(u64, H)> },
}

struct Entry<H> {
    slot: Slot<H>,
    /// Insertion order, for eviction.
    seq: u64,
}

/// The verdicts of one worker and the requests waiting for one. `H` is what the shell needs
/// to continue a request.
pub struct Verdicts<H> {
    entries: HashMap<Key, Entry<H>>,
    /// seq → key of every entry, oldest first.
    order: BTreeMap<u64, Key>,
    /// waiter id → the key it waits on.
    waiting: HashMap<u64, Key>,
    next_seq: u64,
    capacity: usize,
}

impl<H> Default for Verdicts<H> {
    fn default() -> Self {
        Verdicts::with_capacity(CAPACITY)
    }
}

impl<H> Verdicts<H> {
    pub fn with_capacity(capacity: usize) -> Self {
        Verdicts {
            entries: HashMap::new(),
            order: BTreeMap::new(),
            waiting: HashMap::new(),
            next_seq: 1,
            capacity: capacity.max(1),
        }
    }

    /// Entries held (verdicts and callbacks out).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Requests waiting for a verdict.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// What is known of `key` at `now_ms` (an expired verdict is forgotten).
    pub fn lookup(&mut self, key: &Key, now_ms: u64) -> Known {
        let known = match self.entries.get(key).map(|e| &e.slot) {
            None => return Known::Unknown,
            Some(Slot::Asking { .. }) => return Known::Asking,
            Some(Slot::Verdict { allowed, until_ms }) => {
                (now_ms < *until_ms).then_some(Known::Verdict(*allowed))
            }
        };
        known.unwrap_or_else(|| {
            self.remove(key);
            Known::Unknown
        })
    }

    /// Whether a callback for a new key may go out, and one more request wait, with at most
    /// `max_waiting` waiting requests.
    pub fn can_ask(&self, max_waiting: usize) -> Result<(), Full> {
        if self.waiting.len() >= max_waiting {
            return Err(Full::Waiting);
        }
        let verdicts = self
            .entries
            .values()
            .any(|e| matches!(e.slot, Slot::Verdict { .. }));
        if self.entries.len() >= self.capacity && !verdicts {
            return Err(Full::Callbacks);
        }
        Ok(())
    }

    /// The callback of `key` goes out: request `id` (`handle`) waits for it. The oldest verdict
    /// makes room when the map is full. Call [`Verdicts::can_ask`] first.
    pub fn ask(&mut self, key: Key, id: u64, handle: H) -> Result<(), Full> {
        while self.entries.len() >= self.capacity {
            let oldest = self.order.iter().find_map(|(_, k)| {
                matches!(self.entries.get(k)?.slot, Slot::Verdict { .. }).then_some(*k)
            });
            match oldest {
                Some(k) => self.remove(&k),
                None => return Err(Full::Callbacks),
            }
        }
        self.remove(&key);
        self.insert(
            key,
            Slot::Asking {
                waiters: vec![(id, handle)],
            },
        );
        self.waiting.insert(id, key);
        Ok(())
    }

    /// Request `id` (`handle`) waits for the callback of `key`, which is out. `Err` gives the
    /// handle back when the worker holds `max_waiting` waiting requests, or when no callback
    /// of `key` is out.
    pub fn join(&mut self, key: &Key, id: u64, handle: H, max_waiting: usize) -> Result<(), H> {
        if self.waiting.len() >= max_waiting {
            return Err(handle);
        }
        match self.entries.get_mut(key).map(|e| &mut e.slot) {
            Some(Slot::Asking { waiters }) => {
                waiters.push((id, handle));
                self.waiting.insert(id, *key);
                Ok(())
            }
            _ => Err(handle),
        }
    }

    /// The callback of `key` answered: `Some(allowed)` is kept for `cache_ms` from `now_ms`
    /// (nothing is kept for 0, nor for `None`: a callback that failed is asked again next
    /// time). Returns the requests that waited, to continue or refuse.
    pub fn settle(
        &mut self,
        key: &Key,
        allowed: Option<bool>,
        now_ms: u64,
        cache_ms: u64,
    ) -> Vec<H> {
        let asking = matches!(
            self.entries.get(key).map(|e| &e.slot),
            Some(Slot::Asking { .. })
        );
        let waiters = match asking.then(|| self.take(key)).flatten() {
            Some(Slot::Asking { waiters }) => waiters,
            _ => Vec::new(),
        };
        for (id, _) in &waiters {
            self.waiting.remove(id);
        }
        if let (Some(allowed), true) = (allowed, cache_ms > 0) {
            self.remove(key);
            let until_ms = now_ms.saturating_add(cache_ms);
            if self.entries.len() < self.capacity || self.evict_one() {
                self.insert(key.to_owned(), Slot::Verdict { allowed, until_ms });
            }
        }
        waiters.into_iter().map(|(_, h)| h).collect()
    }

    /// Request `id` went away before its verdict: it is forgotten (its callback still
    /// settles the key for the others).
    pub fn forget(&mut self, id: u64) {
        let Some(key) = self.waiting.remove(&id) else {
            return;
        };
        if let Some(Slot::Asking { waiters }) = self.entries.get_mut(&key).map(|e| &mut e.slot) {
            waiters.retain(|(i, _)| *i != id);
        }
    }

    /// Every waiting request (the worker exits), their callbacks forgotten.
    pub fn drain(&mut self) -> Vec<H> {
        let asking: Vec<Key> = self
            .entries
            .iter()
            .filter(|(_, e)| matches!(e.slot, Slot::Asking { .. }))
            .map(|(k, _)| *k)
            .collect();
        let mut out = Vec::new();
        for k in asking {
            if let Some(Slot::Asking { waiters }) = self.take(&k) {
                out.extend(waiters.into_iter().map(|(_, h)| h));
            }
        }
        self.waiting.clear();
        out
    }

    fn insert(&mut self, key: Key, slot: Slot<H>) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.insert(seq, key);
        self.entries.insert(key, Entry { slot, seq });
    }

    fn take(&mut self, key: &Key) -> Option<Slot<H>> {
        let e = self.entries.remove(key)?;
        self.order.remove(&e.seq);
        Some(e.slot)
    }

    fn remove(&mut self, key: &Key) {
        self.take(key);
    }

    /// Removes the oldest verdict; false when there is none.
    fn evict_one(&mut self) -> bool {
        let oldest = self.order.values().copied().find(|k| {
            self.entries
                .get(k)
                .is_some_and(|e| matches!(e.slot, Slot::Verdict { .. }))
        });
        match oldest {
            Some(k) => {
                self.remove(&k);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn key(args: &str) -> Key {
        Key::new("live", "cam", "10.0.0.1".parse().ok(), args)
    }

    #[test]
    fn directives_are_removed_from_the_arguments() {
        assert_eq!(
            without_directives("_HLS_msn=4&token=a&_HLS_part=1&x&_HLS_skip=YES"),
            "token=a&x"
        );
        assert_eq!(without_directives("expires=1&sig=ab"), "expires=1&sig=ab");
        assert_eq!(without_directives("_HLS_msn=1"), "");
        assert_eq!(without_directives("&&a=1&&"), "a=1");
        // An encoded name is not a directive (Directives::parse does not read it either).
        assert_eq!(without_directives("%5FHLS_msn=1"), "%5FHLS_msn=1");
    }

    #[test]
    fn renames_refuse_unless_to_the_same_stream() {
        let answer = |text: &str| {
            let mut p = crate::http::ResponseParser::default();
            match p.feed(text.as_bytes()).unwrap() {
                crate::http::Status::Complete(r) => Ok(r),
                crate::http::Status::Incomplete => panic!("incomplete"),
            }
        };
        let ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(verdict("cam", answer(ok)), Verdict::Allowed);
        let same = "HTTP/1.1 302 Found\r\nLocation: cam\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(verdict("cam", answer(same)), Verdict::Allowed);
        let other = "HTTP/1.1 302 Found\r\nLocation: other\r\nContent-Length: 0\r\n\r\n";
        assert!(matches!(verdict("cam", answer(other)), Verdict::Refused(_)));
        let no = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(verdict("cam", answer(no)).kept(), Some(false));
        let failed = verdict("cam", Err(HttpError::Timeout));
        assert!(matches!(failed, Verdict::Failed(_)));
        assert_eq!(failed.kept(), None);
    }

    #[test]
    fn keys_tell_every_field_apart() {
        let ip = "10.0.0.1".parse().ok();
        assert_eq!(key("t=1"), Key::new("live", "cam", ip, "t=1"));
        assert_ne!(key("t=1"), key("t=2"));
        assert_ne!(
            Key::new("live", "cam", ip, ""),
            Key::new("live", "cam", "10.0.0.2".parse().ok(), "")
        );
        assert_ne!(
            Key::new("li", "vecam", ip, ""),
            Key::new("live", "cam", ip, "")
        );
        assert_ne!(Key::new("live", "cam", None, ""), key(""));
    }

    #[test]
    fn one_callback_answers_every_waiter_and_is_reused_until_it_expires() {
        let mut v: Verdicts<&str> = Verdicts::default();
        let k = key("");
        assert_eq!(v.lookup(&k, 0), Known::Unknown);
        v.can_ask(10).unwrap();
        v.ask(k, 1, "first").unwrap();
        assert_eq!(v.lookup(&k, 0), Known::Asking);
        v.join(&k, 2, "second", 10).unwrap();
        v.join(&k, 3, "gone", 10).unwrap();
        assert_eq!(v.waiting(), 3);
        v.forget(3);
        v.forget(99);
        assert_eq!(v.settle(&k, Some(true), 100, 1000), vec!["first", "second"]);
        assert_eq!(v.waiting(), 0);
        assert_eq!(v.lookup(&k, 1099), Known::Verdict(true));
        assert_eq!(v.lookup(&k, 1100), Known::Unknown);
        assert!(v.is_empty(), "an expired verdict is forgotten");
        // Joining a key without a callback out gives the handle back.
        assert_eq!(v.join(&k, 4, "late", 10), Err("late"));
    }

    #[test]
    fn refusals_are_kept_failures_and_zero_cache_are_not() {
        let mut v: Verdicts<u8> = Verdicts::default();
        let (a, b, c) = (key("a"), key("b"), key("c"));
        v.ask(a, 1, 1).unwrap();
        v.ask(b, 2, 2).unwrap();
        v.ask(c, 3, 3).unwrap();
        assert_eq!(v.settle(&a, Some(false), 0, 1000), vec![1]);
        assert_eq!(v.settle(&b, None, 0, 1000), vec![2]);
        assert_eq!(v.settle(&c, Some(true), 0, 0), vec![3]);
        assert_eq!(v.lookup(&a, 5), Known::Verdict(false));
        assert_eq!(v.lookup(&b, 5), Known::Unknown);
        assert_eq!(v.lookup(&c, 5), Known::Unknown);
        // A settle without a callback out answers nobody.
        assert!(v.settle(&b, Some(true), 0, 1000).is_empty());
    }

    #[test]
    fn bounded_oldest_verdict_evicted_callbacks_out_never() {
        let mut v: Verdicts<u64> = Verdicts::with_capacity(3);
        let keys: Vec<Key> = (0..6).map(|i| key(&format!("t={i}"))).collect();
        for (i, k) in keys.iter().take(3).enumerate() {
            v.ask(*k, i as u64, i as u64).unwrap();
        }
        assert_eq!(v.can_ask(100), Err(Full::Callbacks));
        assert_eq!(v.ask(keys[3], 3, 3), Err(Full::Callbacks));
        v.settle(&keys[0], Some(true), 0, 1000);
        v.settle(&keys[1], Some(true), 0, 1000);
        v.can_ask(100).unwrap();
        v.ask(keys[3], 3, 3).unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(
            v.lookup(&keys[0], 1),
            Known::Unknown,
            "oldest verdict evicted"
        );
        assert_eq!(v.lookup(&keys[1], 1), Known::Verdict(true));
        assert_eq!(v.lookup(&keys[2], 1), Known::Asking);
        // Thousands of hostile keys: the map never grows past its capacity.
        for i in 0..5000u64 {
            let k = key(&format!("junk={i}{}", "x".repeat(1000)));
            if v.can_ask(10_000).is_ok() && v.ask(k, 100 + i, i).is_ok() {
                v.settle(&k, Some(false), 0, 1000);
            }
            assert!(v.len() <= 3);
        }
        assert_eq!(v.can_ask(1), Err(Full::Waiting), "the waiting limit");
        let mut rest = v.drain();
        rest.sort();
        assert_eq!(rest, vec![2, 3]);
        assert_eq!(v.waiting(), 0);
    }
}
