//! Name resolution for relay targets, never blocking the worker. With `resolver`, every
//! attempt asks nginx's resolver again (a moved host is followed). Without it, the answer
//! found when the configuration loaded is used; a name that had none is looked up once on a
//! helper thread (`getaddrinfo` blocks), whose answer the link picks up on a tick, and a
//! name found that way is kept for the worker, as a load-time answer would be.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ptr::NonNull;
use std::sync::{Arc, Mutex};

use nginx_sys::ngx_resolver_t;

use crate::conf::RelaySettings;
use crate::ngx::log::Log;
use crate::ngx::resolver::{lookup_blocking, Answer, NgxLookup, Started};

/// Helper threads in flight at most per worker (each blocked in `getaddrinfo`).
const MAX_THREADS: usize = 8;

/// How the relays of an application resolve names.
#[derive(Clone, Copy)]
pub struct NameService {
    /// nginx's resolver and `resolver_timeout`, when the application has `resolver`.
    resolver: Option<(NonNull<ngx_resolver_t>, u64)>,
}

impl NameService {
    /// The service of an application's relays.
    pub fn of(relay: &RelaySettings) -> NameService {
        let resolver = relay.resolver.and_then(|id| {
            crate::ngx::module::names()
                .and_then(|n| n.resolver(id))
                .map(|r| (r, relay.resolver_timeout_ms))
        });
        NameService { resolver }
    }
}

type Slot = Arc<Mutex<Option<Answer>>>;

/// A lookup in flight; dropping it forgets it (nginx's is cancelled).
pub enum Lookup {
    Nginx(NgxLookup),
    Thread { host: String, slot: Slot },
}

impl Lookup {
    /// Whether the answer is there.
    pub fn ready(&self) -> bool {
        match self {
            Lookup::Nginx(l) => l.ready(),
            Lookup::Thread { slot, .. } => slot.lock().map_or(true, |s| s.is_some()),
        }
    }

    /// The answer, if it is there (taken).
    pub fn answer(&self) -> Option<Answer> {
        match self {
            Lookup::Nginx(l) => l.answer(),
            Lookup::Thread { host, slot } => {
                let answer = match slot.lock() {
                    Ok(s) => s.clone()?,
                    Err(_) => Err("the lookup thread failed".to_owned()),
                };
                if let Ok(addrs) = &answer {
                    LEARNED.with(|l| {
                        l.borrow_mut().insert(host.clone(), addrs.clone());
                    });
                }
                Some(answer)
            }
        }
    }
}

/// How [`resolve`] went.
pub enum Resolving {
    Answered(Answer),
    Pending(Lookup),
}

thread_local! {
    /// Names the worker's helper threads found.
    static LEARNED: RefCell<HashMap<String, Vec<SocketAddr>>> = RefCell::new(HashMap::new());
    /// Helper threads by name (a second relay of the same name shares the thread).
    static THREADS: RefCell<HashMap<String, Slot>> = RefCell::new(HashMap::new());
    /// Names already announced as looked up on a helper thread.
    static TOLD: RefCell<HashSet<String>> = RefCell::new(HashSet::new());
}

/// Resolves `host` for a relay of `service`; `wake` runs (from the event loop) when an
/// nginx lookup answers later. A helper thread's answer is only polled for
/// ([`Lookup::ready`]).
pub fn resolve(service: &NameService, host: &str, wake: Box<dyn FnOnce()>) -> Resolving {
    if host.eq_ignore_ascii_case("localhost") {
        let lo = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
        return Resolving::Answered(Ok(vec![lo]));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Resolving::Answered(Ok(vec![SocketAddr::new(ip, 0)]));
    }
    if let Some((resolver, timeout_ms)) = service.resolver {
        // SAFETY: the resolver comes from the worker's cycle, which outlives the worker's
        // relays; lookups still in flight are cancelled when the worker exits.
        return match unsafe { NgxLookup::start(resolver, host, timeout_ms, wake) } {
            Started::Answered(a) => Resolving::Answered(a),
            Started::Pending(l) => Resolving::Pending(Lookup::Nginx(l)),
        };
    }
    let at_load = crate::ngx::module::names().and_then(|n| n.at_load(host));
    if let Some(ips) = at_load.filter(|ips| !ips.is_empty()) {
        return Resolving::Answered(Ok(ips.iter().map(|ip| SocketAddr::new(*ip, 0)).collect()));
    }
    if let Some(addrs) = LEARNED.with(|l| l.borrow().get(host).cloned()) {
        return Resolving::Answered(Ok(addrs));
    }
    match on_thread(host) {
        Ok(slot) => Resolving::Pending(Lookup::Thread {
            host: host.to_owned(),
            slot,
        }),
        Err(why) => Resolving::Answered(Err(why)),
    }
}

/// The helper thread looking `host` up: the one in flight, or a new one.
fn on_thread(host: &str) -> Result<Slot, String> {
    THREADS.with(|t| {
        let mut threads = t.borrow_mut();
        let running = |s: &Slot| s.lock().is_ok_and(|a| a.is_none());
        if let Some(slot) = threads.get(host).filter(|s| running(s)) {
            return Ok(slot.clone());
        }
        threads.retain(|_, s| running(s));
        if threads.len() >= MAX_THREADS {
            return Err(format!(
                "{MAX_THREADS} names are being looked up already; configure \"resolver\""
            ));
        }
        if TOLD.with(|t| t.borrow_mut().insert(host.to_owned())) {
            log_notice!(
                Log::cycle(),
                "rtmp: relay host \"{}\" did not resolve when the configuration loaded and no \
                 \"resolver\" is configured: looking it up on a helper thread; configure \
                 \"resolver\" to follow address changes",
                host
            );
        }
        let slot: Slot = Arc::new(Mutex::new(None));
        spawn_lookup(host.to_owned(), slot.clone())?;
        threads.insert(host.to_owned(), slot.clone());
        Ok(slot)
    })
}

/// Starts a thread that runs `getaddrinfo` for `host` and leaves the answer in `slot`. It
/// takes no signal: nginx's signals go to the worker's own thread.
fn spawn_lookup(host: String, slot: Slot) -> Result<(), String> {
    // SAFETY: plain signal-mask calls on the worker's thread; the mask is restored right
    // after the spawn, and the new thread inherits the blocked one.
    let old = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
        old
    };
    let spawned = std::thread::Builder::new()
        .name("rtmp-resolve".to_owned())
        .spawn(move || {
            let answer = lookup_blocking(&host);
            if let Ok(mut s) = slot.lock() {
                *s = Some(answer);
            }
        });
    // SAFETY: as above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    spawned
        .map(|_| ())
        .map_err(|e| format!("could not start a lookup thread: {e}"))
}
