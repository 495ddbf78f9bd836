//! The shared-memory zone through which workers see each other's live streams.
//!
//! Why shared memory: nginx spreads connections over its workers, so a player often lands on
//! another worker than the publisher. The publisher's worker writes every message of its
//! stream into a ring in one zone ([`crate::live::shm`] defines layout and lock-free protocol);
//! a worker with players of a stream it does not publish reads that ring on a timer
//! (`remote.rs`). Unlike nginx-rtmp's `rtmp_auto_push` there are no per-stream unix
//! sockets, nothing to reconnect after a reload (the zone survives reloads with the same
//! size and old and new workers keep reading each other), and a crashed publisher worker
//! only leaves a slot that goes stale and is reclaimed.

use std::sync::atomic::AtomicU64;

use nginx_sys::{ngx_conf_t, ngx_shm_zone_t, ngx_str_t};

use crate::conf::ServerConf;
use crate::live::shm::{self, Layout, Region};
use crate::live::StreamKey;

/// The slot name of `key` in the shared zone: its server's first listen address, its
/// application and its name (the same for its publisher, a pull and players on any worker).
pub fn ring_key(server: &ServerConf, key: &StreamKey) -> String {
    let listen = server
        .listens
        .first()
        .map(|l| l.addr.to_string())
        .unwrap_or_default();
    format!("{listen}/{}/{}", key.app, key.name)
}

/// The mapped zone in this process, as atomic words (the core's `Region` is implemented for
/// any `[AtomicU64]`). Same address in every worker: nginx maps zones in the master.
pub type ShmRegion = &'static [AtomicU64];

/// The zone of this worker, once `init_process` found it.
#[derive(Clone, Copy, Debug)]
pub struct Zone {
    pub region: ShmRegion,
    pub layout: Layout,
}

/// Registers the live zone with nginx during configuration.
///
/// # Safety
/// `cf` must be the configuration being parsed; `tag` a pointer stable across reloads.
pub unsafe fn add(
    cf: *mut ngx_conf_t,
    size: usize,
    tag: *mut core::ffi::c_void,
) -> Result<*mut ngx_shm_zone_t, String> {
    Layout::new(size).map_err(|e| format!("live_shm_size {size}: {e}"))?;
    // SAFETY: see the contract.
    unsafe { add_zone(cf, b"ngx_rtmp_rs_live\0", size, tag, init_zone) }
}

unsafe extern "C" fn init_zone(
    zone: *mut ngx_shm_zone_t,
    data: *mut core::ffi::c_void,
) -> nginx_sys::ngx_int_t {
    let layout = |r: ShmRegion| Layout::new(Region::len(r)).ok();
    // SAFETY: nginx calls this with the mapped zone.
    unsafe {
        init_with(
            zone,
            data,
            |r| layout(r).is_some_and(|l| shm::check(&r, &l).is_ok()),
            |r| layout(r).is_some_and(|l| shm::format(&r, &l).is_ok()),
        )
    }
}

/// Registers a shared zone whose usable part (after nginx's slab header) is `size` bytes;
/// `init` runs once it is mapped (see [`init_with`]).
///
/// # Safety
/// `cf` must be the configuration being parsed; `tag` a pointer stable across reloads;
/// `name` NUL-terminated.
pub(super) unsafe fn add_zone(
    cf: *mut ngx_conf_t,
    name: &'static [u8],
    size: usize,
    tag: *mut core::ffi::c_void,
    init: unsafe extern "C" fn(*mut ngx_shm_zone_t, *mut core::ffi::c_void) -> nginx_sys::ngx_int_t,
) -> Result<*mut ngx_shm_zone_t, String> {
    let mut ngx_name = ngx_str_t {
        len: name.len().saturating_sub(1),
        data: name.as_ptr().cast_mut(),
    };
    // SAFETY: nginx copies the name; `tag` is stable (contract).
    let zone =
        unsafe { nginx_sys::ngx_shared_memory_add(cf, &mut ngx_name, size + NGX_SLAB_HEADER, tag) };
    if zone.is_null() {
        return Err(format!(
            "could not add the shared memory zone \"{}\"",
            String::from_utf8_lossy(&name[..ngx_name.len])
        ));
    }
    // SAFETY: a zone just returned by nginx; `init` runs once the zone is mapped.
    unsafe { (*zone).init = Some(init) };
    Ok(zone)
}

/// The body of a zone's `init`: a zone kept across a reload (`data` set by the previous
/// cycle) whose content `keep` accepts is left as is — old workers still use it; otherwise
/// `format` lays it out anew.
///
/// # Safety
/// `zone` must be the mapped zone nginx passes to `init`.
pub(super) unsafe fn init_with(
    zone: *mut ngx_shm_zone_t,
    data: *mut core::ffi::c_void,
    keep: impl FnOnce(ShmRegion) -> bool,
    format: impl FnOnce(ShmRegion) -> bool,
) -> nginx_sys::ngx_int_t {
    let ok = super::catch(|| {
        // SAFETY: see the contract.
        let region = unsafe { region_of(zone) };
        let kept = !data.is_null() && keep(region);
        if kept || format(region) {
            // SAFETY: `data` marks the zone as initialised for the next reload.
            unsafe { (*zone).data = (*zone).shm.addr.cast() };
            true
        } else {
            false
        }
    });
    if ok == Some(true) {
        nginx_sys::NGX_OK as nginx_sys::ngx_int_t
    } else {
        nginx_sys::NGX_ERROR as nginx_sys::ngx_int_t
    }
}

/// # Safety
/// `zone` must be a mapped (non-null) zone.
pub(super) unsafe fn region_of(zone: *mut ngx_shm_zone_t) -> ShmRegion {
    // SAFETY: the zone is page-aligned, `size` bytes long and mapped for the life of the
    // process; past `NGX_SLAB_HEADER` it is only ever accessed through atomics, by every
    // process that maps it. `add` makes zones larger than the header.
    unsafe {
        let size = (*zone).shm.size.saturating_sub(NGX_SLAB_HEADER);
        std::slice::from_raw_parts(
            (*zone).shm.addr.add(NGX_SLAB_HEADER).cast::<AtomicU64>(),
            size / 8,
        )
    }
}

/// The start of every zone stays nginx's: it initialises an `ngx_slab_pool_t` there and, when
/// any worker exits, force-unlocks the mutex in it (`ngx_unlock_mutexes` does so for every
/// zone, slab or not). Our layout starts one page later so that header stays intact.
pub(super) const NGX_SLAB_HEADER: usize = {
    let header = std::mem::size_of::<nginx_sys::ngx_slab_pool_t>();
    assert!(header <= 4096);
    4096
};

/// The zone as seen by a worker.
///
/// # Safety
/// `zone` must be the zone registered by [`add`] in the cycle the worker runs.
pub unsafe fn attach(zone: *mut ngx_shm_zone_t) -> Option<Zone> {
    if zone.is_null() {
        return None;
    }
    // SAFETY: see the contract; workers start after every zone was mapped and initialised.
    if unsafe { (*zone).shm.addr }.is_null() {
        return None;
    }
    // SAFETY: as above, the address is that of the mapped zone.
    let region = unsafe { region_of(zone) };
    let layout = Layout::new(Region::len(region)).ok()?;
    shm::check(&region, &layout).ok()?;
    Some(Zone { region, layout })
}

/// Whether the worker that owns a slot is still running.
pub fn is_alive(owner: u64) -> bool {
    let pid = (owner >> 32) as libc::pid_t;
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks for the process' existence.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}
