//! The stat board's shared-memory zone ([`crate::stat::board`] defines layout and protocol):
//! registered with every `rtmp {}` block, mapped before workers start, kept across reloads
//! (old and new workers then see each other's snapshots).

use nginx_sys::{ngx_conf_t, ngx_shm_zone_t, ngx_str_t};

use super::shm::{region_of, ShmRegion, NGX_SLAB_HEADER};
use crate::stat::board::{self, Board};

const ZONE_NAME: &[u8] = b"ngx_rtmp_rs_stat\0";

fn geometry() -> Board {
    // The defaults are valid by construction (tested in the core).
    Board::new(board::DEFAULT_SLOTS, board::DEFAULT_SLOT_BYTES).unwrap_or(Board {
        slots: board::DEFAULT_SLOTS,
        slot_bytes: board::DEFAULT_SLOT_BYTES,
    })
}

/// Registers the zone during configuration.
///
/// # Safety
/// `cf` must be the configuration being parsed; `tag` a pointer stable across reloads.
pub unsafe fn add(
    cf: *mut ngx_conf_t,
    tag: *mut core::ffi::c_void,
) -> Result<*mut ngx_shm_zone_t, String> {
    let g = geometry();
    // Our board starts after nginx's slab pool header (see `shm::NGX_SLAB_HEADER`).
    let size = board::zone_size(g.slots, g.slot_bytes) + NGX_SLAB_HEADER;
    let mut name = ngx_str_t {
        len: ZONE_NAME.len() - 1,
        data: ZONE_NAME.as_ptr().cast_mut(),
    };
    // SAFETY: nginx copies the name into the zone; `tag` is stable.
    let zone = unsafe { nginx_sys::ngx_shared_memory_add(cf, &mut name, size, tag) };
    if zone.is_null() {
        return Err("could not add the stat shared memory zone".into());
    }
    // SAFETY: a zone just returned by nginx; `init` runs once the zone is mapped.
    unsafe { (*zone).init = Some(init_zone) };
    Ok(zone)
}

unsafe extern "C" fn init_zone(
    zone: *mut ngx_shm_zone_t,
    data: *mut core::ffi::c_void,
) -> nginx_sys::ngx_int_t {
    let ok = super::catch(|| {
        // SAFETY: nginx calls this with the mapped zone.
        let region = unsafe { region_of(zone) };
        let g = geometry();
        if !(data.is_null() || g.check(&region).is_err()) {
            // Kept across a reload: old workers still publish into it.
        } else if g.format(&region).is_err() {
            return false;
        }
        // SAFETY: marks the zone as initialised for the next reload.
        unsafe { (*zone).data = (*zone).shm.addr.cast() };
        true
    });
    if ok == Some(true) {
        nginx_sys::NGX_OK as nginx_sys::ngx_int_t
    } else {
        nginx_sys::NGX_ERROR as nginx_sys::ngx_int_t
    }
}

/// The board as mapped in this worker.
#[derive(Clone, Copy, Debug)]
pub struct BoardZone {
    pub region: ShmRegion,
    pub board: Board,
}

/// # Safety
/// `zone` must be null or the zone registered by [`add`] for the worker's cycle.
pub unsafe fn attach(zone: *mut ngx_shm_zone_t) -> Option<BoardZone> {
    if zone.is_null() {
        return None;
    }
    // SAFETY: see the contract; workers start after every zone was mapped and initialised.
    let region = unsafe { region_of(zone) };
    if crate::live::shm::Region::len(&region) == 0 {
        return None;
    }
    let board = geometry();
    board.check(&region).ok()?;
    Some(BoardZone { region, board })
}
