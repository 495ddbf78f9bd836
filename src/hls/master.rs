//! The master playlist (RFC 8216 4.3.4): one `#EXT-X-STREAM-INF` per live member of a
//! variant group, highest bandwidth first, with what the media says (`BANDWIDTH`,
//! `AVERAGE-BANDWIDTH`, `CODECS`, `RESOLUTION`, `FRAME-RATE`) and the operator's attributes,
//! which win where given. `PROGRAM-ID` (removed from HLS in protocol version 6) is dropped.

use std::fmt::Write as _;

use super::stream_inf::{Attribute, VariantInfo};

/// One member as the master lists it.
#[derive(Debug, Clone)]
pub struct MasterEntry<'a> {
    /// The member's media playlist URI.
    pub uri: String,
    /// The operator's attributes, in their order.
    pub attributes: &'a [Attribute],
    /// The member's measurement, if it has one.
    pub info: Option<&'a VariantInfo>,
}

/// An attribute list in output order: name and value as written.
fn stream_inf(e: &MasterEntry<'_>) -> Vec<(String, String)> {
    let mut list: Vec<(String, String)> = Vec::with_capacity(6 + e.attributes.len());
    if let Some(i) = e.info {
        list.push(("BANDWIDTH".into(), i.bandwidth_peak.max(1).to_string()));
        list.push((
            "AVERAGE-BANDWIDTH".into(),
            i.bandwidth_avg.max(1).to_string(),
        ));
        if let Some(c) = &i.codecs {
            // Our codec strings never contain a quote; see MemberStatus::parse.
            list.push(("CODECS".into(), format!("\"{c}\"")));
        }
        if let Some((w, h)) = i.resolution {
            list.push(("RESOLUTION".into(), format!("{w}x{h}")));
        }
        if let Some(f) = i.frame_rate_milli {
            list.push(("FRAME-RATE".into(), format!("{}.{:03}", f / 1000, f % 1000)));
        }
    }
    for a in e.attributes {
        if a.name == "PROGRAM-ID" {
            continue;
        }
        match list.iter_mut().find(|(n, _)| *n == a.name) {
            Some(slot) => slot.1 = a.value.clone(),
            None => list.push((a.name.clone(), a.value.clone())),
        }
    }
    list
}

fn bandwidth_of(list: &[(String, String)]) -> Option<u64> {
    list.iter()
        .find(|(n, _)| n == "BANDWIDTH")
        .map(|(_, v)| v.parse().unwrap_or(0))
}

/// An entry ready to print: its bandwidth, attributes and URI.
type Line<'a> = (u64, Vec<(String, String)>, &'a str);

/// Renders the master playlist, or `None` when no entry can be listed (`BANDWIDTH` is
/// required: an entry with neither a measurement nor an operator's `BANDWIDTH` is left out).
/// Entries keep their given order among equal bandwidths.
pub fn render(entries: &[MasterEntry<'_>]) -> Option<String> {
    let mut lines: Vec<Line<'_>> = entries
        .iter()
        .filter_map(|e| {
            let list = stream_inf(e);
            Some((bandwidth_of(&list)?, list, e.uri.as_str()))
        })
        .collect();
    if lines.is_empty() {
        return None;
    }
    lines.sort_by_key(|l| std::cmp::Reverse(l.0));
    let mut s = String::from("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    for (_, list, uri) in lines {
        s.push_str("#EXT-X-STREAM-INF:");
        for (i, (name, value)) in list.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let _ = write!(s, "{name}={value}");
        }
        s.push('\n');
        s.push_str(uri);
        s.push('\n');
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(peak: u64) -> VariantInfo {
        VariantInfo {
            bandwidth_peak: peak,
            bandwidth_avg: peak * 3 / 4,
            codecs: Some("avc1.64001F,mp4a.40.2".into()),
            resolution: Some((1280, 720)),
            frame_rate_milli: Some(29_970),
        }
    }

    fn attrs(list: &[&str]) -> Vec<Attribute> {
        list.iter().map(|a| Attribute::parse(a).unwrap()).collect()
    }

    #[test]
    fn measured_only() {
        let i = info(1_000_000);
        let text = render(&[MasterEntry {
            uri: "cam_hi.m3u8".into(),
            attributes: &[],
            info: Some(&i),
        }])
        .unwrap();
        assert_eq!(
            text,
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-STREAM-INF:BANDWIDTH=1000000,AVERAGE-BANDWIDTH=750000,\
             CODECS=\"avc1.64001F,mp4a.40.2\",RESOLUTION=1280x720,FRAME-RATE=29.970\n\
             cam_hi.m3u8\n"
        );
    }

    #[test]
    fn operator_attributes_win_and_pass_through() {
        let i = info(300_000);
        let a = attrs(&[
            "PROGRAM-ID=1",
            "BANDWIDTH=288000",
            "NAME=\"low, really\"",
            "RESOLUTION=320x180",
        ]);
        let text = render(&[MasterEntry {
            uri: "cam_low.m3u8".into(),
            attributes: &a,
            info: Some(&i),
        }])
        .unwrap();
        assert!(text.contains(
            "#EXT-X-STREAM-INF:BANDWIDTH=288000,AVERAGE-BANDWIDTH=225000,\
             CODECS=\"avc1.64001F,mp4a.40.2\",RESOLUTION=320x180,FRAME-RATE=29.970,\
             NAME=\"low, really\"\n"
        ));
        assert!(!text.contains("PROGRAM-ID"));
    }

    #[test]
    fn order_and_unmeasured_members() {
        let (lo, hi) = (info(200_000), info(2_000_000));
        let op_only = attrs(&["BANDWIDTH=800000"]);
        let text = render(&[
            MasterEntry {
                uri: "lo.m3u8".into(),
                attributes: &[],
                info: Some(&lo),
            },
            MasterEntry {
                uri: "mid.m3u8".into(),
                attributes: &op_only,
                info: None,
            },
            MasterEntry {
                uri: "hi.m3u8".into(),
                attributes: &[],
                info: Some(&hi),
            },
            // Neither measured nor given a BANDWIDTH: not listable.
            MasterEntry {
                uri: "none.m3u8".into(),
                attributes: &[],
                info: None,
            },
        ])
        .unwrap();
        let uris: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(uris, ["hi.m3u8", "mid.m3u8", "lo.m3u8"]);
        assert!(text.contains("#EXT-X-STREAM-INF:BANDWIDTH=800000\nmid.m3u8\n"));
        assert_eq!(render(&[]), None);
    }
}
