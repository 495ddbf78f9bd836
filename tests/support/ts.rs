//! The MPEG-TS parser of the tests, on the `mpeg2ts` crate's reader (which checks sync bytes,
//! PSI sections with their CRC, PES headers): packets with their continuity counters, the
//! PAT and PMT, PES reassembled per PID with their timestamps, random access indicator and
//! PCR, and every PCR in order.
//!
//! [`Ts::parse`] never panics (segments of other servers are read too) and says in `error`
//! where reading stopped; [`parse_ts`] is the strict form for the output of our own muxer.

use std::collections::HashMap;

use mpeg2ts::ts::{ReadTsPacket, TsPacket, TsPacketReader, TsPayload};

pub const TS_PACKET: usize = 188;
/// PMT stream types.
pub const ST_H264: u8 = 0x1b;
pub const ST_AAC: u8 = 0x0f;

/// What tests read of a packet's header and adaptation field.
pub trait PacketExt {
    fn pid(&self) -> u16;
    fn cc(&self) -> u8;
    fn has_payload(&self) -> bool;
    fn random_access(&self) -> bool;
    /// PCR base (90 kHz).
    fn pcr(&self) -> Option<u64>;
}

impl PacketExt for TsPacket {
    fn pid(&self) -> u16 {
        self.header.pid.as_u16()
    }
    fn cc(&self) -> u8 {
        self.header.continuity_counter.as_u8()
    }
    fn has_payload(&self) -> bool {
        self.payload.is_some()
    }
    fn random_access(&self) -> bool {
        self.adaptation_field
            .as_ref()
            .is_some_and(|a| a.random_access_indicator)
    }
    fn pcr(&self) -> Option<u64> {
        self.adaptation_field
            .as_ref()
            .and_then(|a| a.pcr)
            .map(|c| c.as_u64() / 300)
    }
}

/// A PES reassembled from TS packets.
#[derive(Debug, Clone)]
pub struct PesInfo {
    pub pid: u16,
    pub pts: Option<u64>,
    pub dts: Option<u64>,
    /// Elementary stream data (the PES header stripped).
    pub data: Vec<u8>,
    /// random_access_indicator of the packet that starts it.
    pub random_access: bool,
    /// PCR base carried by the packet that starts it.
    pub pcr: Option<u64>,
    /// Index of that packet in the file.
    pub first_packet: usize,
}

impl PesInfo {
    /// DTS, or PTS when there is no DTS.
    pub fn decode_ts(&self) -> Option<u64> {
        self.dts.or(self.pts)
    }
}

/// What a TS file contains.
#[derive(Debug, Clone, Default)]
pub struct TsInfo {
    pub packets: Vec<TsPacket>,
    /// Why reading stopped before the end (the packets before it are kept).
    pub error: Option<String>,
    /// PES in the order they start.
    pub pes: Vec<PesInfo>,
    /// (pid, PCR base) in order.
    pub pcrs: Vec<(u16, u64)>,
    /// PMT PID of the first PAT.
    pub pmt_pid: Option<u16>,
    /// PCR PID of the first PMT.
    pub pcr_pid: Option<u16>,
    /// (stream type, PID) of the first PMT.
    pub streams: Vec<(u8, u16)>,
    /// The PIDs of `streams`.
    pub pmt_pids: Vec<u16>,
    /// Payloads continuing a PES on a PID with no PES started.
    pub orphan_payloads: usize,
}

impl TsInfo {
    pub fn parse(bytes: &[u8]) -> TsInfo {
        let mut info = TsInfo::default();
        if !bytes.len().is_multiple_of(TS_PACKET) {
            info.error = Some(format!(
                "{} bytes: TS length not a multiple of 188",
                bytes.len()
            ));
            return info;
        }
        let mut r = TsPacketReader::new(bytes);
        let mut open: HashMap<u16, PesInfo> = HashMap::new();
        let mut done = Vec::new();
        loop {
            let i = info.packets.len();
            let p = match r.read_ts_packet() {
                Ok(Some(p)) => p,
                Ok(None) => break,
                Err(e) => {
                    info.error = Some(format!("packet {i}: {e}"));
                    break;
                }
            };
            let pid = p.pid();
            if let Some(pcr) = p.pcr() {
                info.pcrs.push((pid, pcr));
            }
            match &p.payload {
                Some(TsPayload::Pat(pat)) if info.pmt_pid.is_none() => {
                    info.pmt_pid = pat
                        .table
                        .iter()
                        .find(|a| a.program_num != 0)
                        .map(|a| a.program_map_pid.as_u16());
                }
                Some(TsPayload::Pmt(pmt))
                    if Some(pid) == info.pmt_pid && info.pcr_pid.is_none() =>
                {
                    info.pcr_pid = pmt.pcr_pid.map(|p| p.as_u16());
                    info.streams = pmt
                        .es_info
                        .iter()
                        .map(|e| (e.stream_type as u8, e.elementary_pid.as_u16()))
                        .collect();
                    info.pmt_pids = info.streams.iter().map(|s| s.1).collect();
                }
                Some(TsPayload::Pes(pes)) => {
                    if let Some(prev) = open.remove(&pid) {
                        done.push(prev);
                    }
                    open.insert(
                        pid,
                        PesInfo {
                            pid,
                            pts: pes.header.pts.map(|t| t.as_u64()),
                            dts: pes.header.dts.map(|t| t.as_u64()),
                            data: pes.data.to_vec(),
                            random_access: p.random_access(),
                            pcr: p.pcr(),
                            first_packet: i,
                        },
                    );
                }
                Some(TsPayload::Raw(raw)) => match open.get_mut(&pid) {
                    Some(pes) => pes.data.extend_from_slice(raw),
                    None => info.orphan_payloads += 1,
                },
                _ => {}
            }
            info.packets.push(p);
        }
        done.extend(open.into_values());
        done.sort_by_key(|p| p.first_packet);
        info.pes = done;
        info
    }

    /// The PID of the first stream of `stream_type` in the PMT.
    pub fn pid_of(&self, stream_type: u8) -> Option<u16> {
        self.streams
            .iter()
            .find(|s| s.0 == stream_type)
            .map(|s| s.1)
    }
}

/// Parses our own muxer's output: panics unless `mpeg2ts` reads every packet and every
/// continuation payload belongs to a PES.
pub fn parse_ts(bytes: &[u8]) -> TsInfo {
    let info = TsInfo::parse(bytes);
    if let Some(e) = &info.error {
        panic!("mpeg2ts reader rejected our output: {e}");
    }
    assert_eq!(info.orphan_payloads, 0, "continuation without PES start");
    info
}
