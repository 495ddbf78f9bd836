//! The stat board's shared-memory zone ([`crate::stat::board`] defines layout and protocol):
//! registered with every `rtmp {}` block, mapped before workers start, kept across reloads
//! (old and new workers then see each other's snapshots).

use nginx_sys::{ngx_conf_t, ngx_shm_zone_t};

use super::shm::{add_zone, init_with, region_of, ShmRegion};
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
    let size = board::zone_size(g.slots, g.slot_bytes);
    // SAFETY: see the contract.
    unsafe { add_zone(cf, ZONE_NAME, size, tag, init_zone) }
}

unsafe extern "C" fn init_zone(
    zone: *mut ngx_shm_zone_t,
    data: *mut core::ffi::c_void,
) -> nginx_sys::ngx_int_t {
    let g = geometry();
    // SAFETY: nginx calls this with the mapped zone.
    unsafe {
        init_with(
            zone,
            data,
            |r| g.check(&r).is_ok(),
            |r| g.format(&r).is_ok(),
        )
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
