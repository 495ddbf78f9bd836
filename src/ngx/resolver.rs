//! Host names of relay targets, the nginx side: the resolvers that `resolver` lines create
//! (nginx's own, `ngx_resolver_create`, as its http core does), the answers looked up when
//! the configuration loads for applications without one, and [`NgxLookup`]: one name asked
//! of nginx's non-blocking resolver, cancelled when dropped.
//!
//! nginx calls a lookup's handler from its event loop, or at once from inside
//! `ngx_resolve_name` when the answer is cached: the handler only stores the answer and, when
//! the lookup is not being started, wakes its owner. The context belongs to nginx's resolver
//! until `ngx_resolve_name_done`, which the handler or the cancel calls, whichever comes
//! first; after it nothing refers to the context.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::ptr::{self, NonNull};
use std::rc::{Rc, Weak};

use nginx_sys::{
    ngx_conf_t, ngx_int_t, ngx_resolve_name, ngx_resolve_name_done, ngx_resolve_start,
    ngx_resolver_create, ngx_resolver_ctx_t, ngx_resolver_strerror, ngx_resolver_t, ngx_str_t,
    ngx_uint_t, NGX_LOG_INFO, NGX_OK,
};

use super::log::Log;
use super::net::ip_of;
use crate::conf::RtmpConf;

/// What a lookup found: addresses (port 0: the relay sets its own), or why there are none.
pub type Answer = Result<Vec<SocketAddr>, String>;

/// The name service of one configuration: its nginx resolvers (numbered as the model keeps
/// them) and the answers found when it loaded.
#[derive(Default)]
pub struct Names {
    resolvers: Vec<NonNull<ngx_resolver_t>>,
    load_time: HashMap<String, Vec<IpAddr>>,
}

impl Names {
    /// `resolver ADDRESS ... [valid=TIME] [ipv6=on|off]`: nginx's resolver from the line's
    /// arguments; its number, or `None` when nginx refused them (it logged why, with file
    /// and line).
    ///
    /// # Safety
    /// `cf` must be the `ngx_conf_t` of a directive handler; the resolver lives in its pool
    /// (the cycle's), as long as the configuration.
    pub unsafe fn create(&mut self, cf: *mut ngx_conf_t) -> Option<usize> {
        // SAFETY: during a directive handler `cf->args` holds the directive's tokens, the
        // name first; nginx reads `n` strings after it.
        let r = unsafe {
            let args = (*cf).args;
            let n = (*args).nelts.checked_sub(1)?;
            let names = (*args).elts.cast::<ngx_str_t>().add(1);
            ngx_resolver_create(cf, names, n as ngx_uint_t)
        };
        let r = NonNull::new(r)?;
        // SAFETY: nginx just made the resolver; nothing uses it yet. Its socket errors go to
        // the info level: the relay logs what a failed lookup means for it, once per state
        // change (as for its connections).
        unsafe { (*r.as_ptr()).log_level = NGX_LOG_INFO as ngx_uint_t };
        self.resolvers.push(r);
        Some(self.resolvers.len() - 1)
    }

    /// The resolver numbered `id`.
    pub fn resolver(&self, id: usize) -> Option<NonNull<ngx_resolver_t>> {
        self.resolvers.get(id).copied()
    }

    /// The addresses `host` had when the configuration loaded.
    pub fn at_load(&self, host: &str) -> Option<&[IpAddr]> {
        self.load_time.get(host).map(Vec::as_slice)
    }

    /// Resolves now (blocking, as nginx-rtmp does when it reads its configuration) the host
    /// names of relay targets in applications without `resolver`. A name that does not
    /// resolve is a warning: the relay tries again at run time.
    pub fn resolve_at_load(&mut self, conf: &RtmpConf, log: Log) {
        let mut failed: Vec<&str> = Vec::new();
        let apps = conf.servers.iter().flat_map(|s| &s.applications);
        for app in apps.filter(|a| a.settings.relay.resolver.is_none()) {
            for target in &app.settings.relay.push {
                let host = target.url.host.as_str();
                if host.parse::<IpAddr>().is_ok()
                    || host.eq_ignore_ascii_case("localhost")
                    || self.load_time.contains_key(host)
                    || failed.contains(&host)
                {
                    continue;
                }
                match lookup_blocking(host) {
                    Ok(addrs) => {
                        self.load_time
                            .insert(host.to_owned(), addrs.iter().map(|a| a.ip()).collect());
                    }
                    Err(why) => {
                        failed.push(host);
                        log_warn!(
                            log,
                            "rtmp: relay host \"{}\" of application \"{}\" does not resolve now \
                             ({}): its relays retry it; configure \"resolver\" to look names \
                             up when connecting",
                            host,
                            app.name,
                            why
                        );
                    }
                }
            }
        }
    }
}

/// `getaddrinfo`, blocking: at configuration time, or on a thread of its own.
pub fn lookup_blocking(host: &str) -> Answer {
    let addrs: Vec<SocketAddr> = (host, 0)
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .collect();
    let mut unique: Vec<SocketAddr> = Vec::with_capacity(addrs.len());
    for a in addrs {
        if !unique.contains(&a) {
            unique.push(a);
        }
    }
    if unique.is_empty() {
        return Err("no address".to_owned());
    }
    Ok(unique)
}

/// One lookup in flight, shared by its owner ([`NgxLookup`]) and nginx's context (through
/// `ctx->data`, one strong reference until the context is done).
struct Inner {
    /// nginx's context while it is in flight; null once done.
    ctx: Cell<*mut ngx_resolver_ctx_t>,
    /// The name nginx reads (and lowercases in place) while the context lives.
    name: Box<[u8]>,
    answer: RefCell<Option<Answer>>,
    /// Inside `ngx_resolve_name`: the answer is picked up by the starter, no wake.
    starting: Cell<bool>,
    wake: RefCell<Option<Box<dyn FnOnce()>>>,
}

thread_local! {
    /// Lookups in flight, cancelled when the worker exits (before nginx frees its resolvers).
    static IN_FLIGHT: RefCell<Vec<Weak<Inner>>> = const { RefCell::new(Vec::new()) };
}

/// A name asked of nginx's resolver: [`NgxLookup::answer`] once it answered; dropping it
/// before cancels the lookup.
pub struct NgxLookup(Rc<Inner>);

/// How [`NgxLookup::start`] went.
pub enum Started {
    /// Answered at once (a cached answer, or the lookup could not start).
    Answered(Answer),
    /// In flight: `wake` runs from the event loop when it answers.
    Pending(NgxLookup),
}

impl NgxLookup {
    /// Asks `resolver` for `host`, giving up after `timeout_ms`.
    ///
    /// # Safety
    /// `resolver` must come from [`Names::create`] of the worker's cycle.
    pub unsafe fn start(
        resolver: NonNull<ngx_resolver_t>,
        host: &str,
        timeout_ms: u64,
        wake: Box<dyn FnOnce()>,
    ) -> Started {
        // SAFETY: the caller's contract: a live resolver with name servers.
        let ctx = unsafe { ngx_resolve_start(resolver.as_ptr(), ptr::null_mut()) };
        // `NGX_NO_RESOLVER` is `(void *) -1`: a resolver without servers, which
        // `ngx_resolver_create` of a `resolver` line never makes.
        if ctx.is_null() || ctx as isize == -1 {
            return Started::Answered(Err("the resolver could not start a lookup".to_owned()));
        }
        let inner = Rc::new(Inner {
            ctx: Cell::new(ctx),
            name: host.as_bytes().into(),
            answer: RefCell::new(None),
            starting: Cell::new(true),
            wake: RefCell::new(Some(wake)),
        });
        let data = Rc::into_raw(inner.clone());
        // SAFETY: `ctx` is a zeroed context nginx just allocated for us; the name's bytes
        // live in `inner`, which the context keeps alive through `data` until it is done.
        let rc = unsafe {
            (*ctx).name = ngx_str_t {
                len: inner.name.len(),
                data: inner.name.as_ptr().cast_mut(),
            };
            (*ctx).handler = Some(on_answer);
            (*ctx).data = data.cast_mut().cast();
            (*ctx).timeout = timeout_ms as nginx_sys::ngx_msec_t;
            // A lookup in flight never delays a graceful shutdown.
            (*ctx).set_cancelable(1);
            ngx_resolve_name(ctx)
        };
        inner.starting.set(false);
        if rc != NGX_OK as ngx_int_t {
            if !inner.ctx.replace(ptr::null_mut()).is_null() {
                // SAFETY: on failure nginx freed the context without calling the handler:
                // the reference it held is ours to release.
                drop(unsafe { Rc::from_raw(data) });
            }
            return Started::Answered(Err("the resolver could not start a lookup".to_owned()));
        }
        if let Some(answer) = inner.answer.borrow_mut().take() {
            return Started::Answered(answer);
        }
        IN_FLIGHT.with(|f| {
            let mut f = f.borrow_mut();
            f.retain(|w| w.strong_count() > 0);
            f.push(Rc::downgrade(&inner));
        });
        Started::Pending(NgxLookup(inner))
    }

    /// The answer, once nginx gave it (taken: `None` afterwards).
    pub fn answer(&self) -> Option<Answer> {
        self.0.answer.borrow_mut().take()
    }

    /// Whether an answer waits.
    pub fn ready(&self) -> bool {
        self.0.answer.borrow().is_some()
    }
}

impl Drop for NgxLookup {
    fn drop(&mut self) {
        cancel(&self.0);
    }
}

/// Gives the context back to nginx if it is still in flight; nothing calls back after.
fn cancel(inner: &Inner) {
    inner.wake.borrow_mut().take();
    let ctx = inner.ctx.replace(ptr::null_mut());
    if ctx.is_null() {
        return;
    }
    // SAFETY: a non-null `ctx` is in flight: nginx has not called the handler, so the
    // context and its `data` (the reference `start` gave it) are live; after
    // `ngx_resolve_name_done` nginx forgets the context.
    unsafe {
        let data = (*ctx).data.cast::<Inner>().cast_const();
        ngx_resolve_name_done(ctx);
        drop(Rc::from_raw(data));
    }
}

/// The worker exits: every lookup in flight is cancelled while nginx's resolvers live.
pub fn cancel_all() {
    let all = IN_FLIGHT.with(|f| std::mem::take(&mut *f.borrow_mut()));
    for inner in all.iter().filter_map(Weak::upgrade) {
        cancel(&inner);
    }
}

/// The handler of every lookup's context.
unsafe extern "C" fn on_answer(ctx: *mut ngx_resolver_ctx_t) {
    // SAFETY: nginx calls the handler once per context, with the `data` that `start` set:
    // a reference to the lookup's `Inner`, taken back here.
    let inner = unsafe { Rc::from_raw((*ctx).data.cast::<Inner>().cast_const()) };
    let _ = super::catch(|| {
        // SAFETY: during the handler the context and its answer are live.
        let answer = unsafe { read_answer(ctx) };
        inner.ctx.set(ptr::null_mut());
        // SAFETY: the handler owns the context now; nginx's own users end it here too.
        unsafe { ngx_resolve_name_done(ctx) };
        *inner.answer.borrow_mut() = Some(answer);
        if !inner.starting.get() {
            let wake = inner.wake.borrow_mut().take();
            if let Some(wake) = wake {
                wake();
            }
        }
    });
}

/// The addresses of an answered context, or nginx's reason.
///
/// # Safety
/// `ctx` must be a context whose handler is running.
unsafe fn read_answer(ctx: *mut ngx_resolver_ctx_t) -> Answer {
    // SAFETY: the contract; nginx sets `state`, and `addrs`/`naddrs` when it is `NGX_OK`.
    let ctx = unsafe { &*ctx };
    if ctx.state != NGX_OK as ngx_int_t {
        // SAFETY: nginx's reason strings are static.
        let why = unsafe { std::ffi::CStr::from_ptr(ngx_resolver_strerror(ctx.state)) };
        return Err(format!("{} ({})", why.to_string_lossy(), ctx.state));
    }
    let mut addrs = Vec::new();
    for i in 0..ctx.naddrs {
        // SAFETY: `addrs` holds `naddrs` entries, each with a whole socket address.
        let ip = unsafe { ip_of((*ctx.addrs.add(i)).sockaddr.cast()) };
        if let Some(ip) = ip {
            addrs.push(SocketAddr::new(ip, 0));
        }
    }
    if addrs.is_empty() {
        return Err("no address".to_owned());
    }
    Ok(addrs)
}
