//! The stat as JSON: the content of the XML, as objects and arrays.

use std::fmt::Write;

use super::model::{ClientStat, Meta, RecorderStat, RelayStat, Sections, StatView, StreamStat};

/// A JSON string literal (quotes included).
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // `<` too, so a name can never close a <script> the JSON is embedded in.
            c if (c as u32) < 0x20 || c == '<' || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn client(c: &ClientStat) -> String {
    format!(
        "{{\"id\":{},\"address\":{},\"time\":{},\"protocol\":\"{}\",\"flashver\":{},\"swfurl\":{},\"pageurl\":{},\
         \"dropped\":{},\"bytes_in\":{},\"bytes_out\":{},\"publishing\":{},\"active\":{},\"pid\":{}}}",
        c.id,
        string(&c.address),
        c.time_ms,
        c.protocol(),
        string(&c.flashver),
        string(&c.swf_url),
        string(&c.page_url),
        c.dropped,
        c.bytes_in,
        c.bytes_out,
        c.publishing,
        c.active,
        c.pid
    )
}

fn meta(m: &Meta) -> String {
    let video = m.video.as_ref().map_or("null".to_owned(), |v| {
        format!(
            "{{\"width\":{},\"height\":{},\"frame_rate\":{},\"codec\":{},\"profile\":{},\
             \"compat\":{},\"level\":{}}}",
            v.width,
            v.height,
            v.frame_rate,
            string(&v.codec),
            string(&v.profile),
            v.compat,
            string(&v.level)
        )
    });
    let audio = m.audio.as_ref().map_or("null".to_owned(), |a| {
        format!(
            "{{\"codec\":{},\"profile\":{},\"channels\":{},\"sample_rate\":{}}}",
            string(&a.codec),
            string(&a.profile),
            a.channels,
            a.sample_rate
        )
    });
    let tracks: Vec<String> = m
        .tracks
        .iter()
        .map(|t| {
            format!(
                "{{\"id\":{},\"type\":{},\"codec\":{},\"profile\":{},\"level\":{},\
                 \"width\":{},\"height\":{},\"channels\":{},\"sample_rate\":{}}}",
                t.id,
                string(&t.kind),
                string(&t.codec),
                string(&t.profile),
                string(&t.level),
                t.width,
                t.height,
                t.channels,
                t.sample_rate
            )
        })
        .collect();
    format!(
        "{{\"video\":{video},\"audio\":{audio},\"tracks\":[{}]}}",
        tracks.join(",")
    )
}

fn recorder(r: &RecorderStat) -> String {
    format!(
        "{{\"id\":{},\"path\":{},\"recording\":{},\"failed\":{},\"bytes\":{},\"duration_ms\":{},\
         \"frames\":{},\"files\":{},\"manual\":{},\"started\":{}}}",
        string(&r.id),
        if r.path.is_empty() {
            "null".into()
        } else {
            string(&r.path)
        },
        r.recording,
        r.failed,
        r.bytes,
        r.duration_ms,
        r.frames,
        r.files,
        r.manual,
        r.started
    )
}

fn relay(r: &RelayStat) -> String {
    let opt = |v: &str| {
        if v.is_empty() {
            "null".to_owned()
        } else {
            string(v)
        }
    };
    format!(
        "{{\"kind\":{},\"state\":{},\"url\":{},\"addr\":{},\"bytes_out\":{},\"bytes_in\":{},\
         \"reconnects\":{},\"failures\":{},\"last_error\":{},\"time_in_state_ms\":{},\"pid\":{}}}",
        string(&r.kind),
        string(&r.state),
        string(&r.target),
        opt(&r.addr),
        r.bytes_out,
        r.bytes_in,
        r.reconnects,
        r.failures,
        opt(&r.last_error),
        r.time_in_state_ms,
        r.pid
    )
}

fn stream(s: &StreamStat, sections: Sections) -> String {
    let clients = if sections.clients {
        s.clients.iter().map(client).collect::<Vec<_>>().join(",")
    } else {
        String::new()
    };
    format!(
        "{{\"name\":{},\"time\":{},\"bw_in\":{},\"bytes_in\":{},\"bw_out\":{},\"bytes_out\":{},\
         \"bw_audio\":{},\"bw_video\":{},\"meta\":{},\"clients\":[{}],\"nclients\":{},\
         \"dropped\":{},\"publishing\":{},\"active\":{},\"recorders\":[{}],\"relays\":[{}]}}",
        string(&s.name),
        s.time_ms,
        s.bw_in,
        s.bytes_in,
        s.bw_out,
        s.bytes_out,
        s.bw_audio,
        s.bw_video,
        s.meta.as_ref().map_or("null".to_owned(), meta),
        clients,
        s.nclients(),
        s.dropped(),
        s.publishing,
        s.active,
        s.recorders
            .iter()
            .map(recorder)
            .collect::<Vec<_>>()
            .join(","),
        s.relays.iter().map(relay).collect::<Vec<_>>().join(",")
    )
}

pub fn render(view: &StatView, sections: Sections) -> String {
    let mut out = String::with_capacity(4096);
    let rejected = view
        .rejected
        .iter()
        .map(|(k, v)| format!("{}:{v}", string(k)))
        .collect::<Vec<_>>()
        .join(",");
    let workers = view
        .workers
        .iter()
        .map(|w| {
            format!(
                "{{\"pid\":{},\"naccepted\":{},\"streams\":{},\"age_ms\":{}}}",
                w.pid, w.naccepted, w.streams, w.age_ms
            )
        })
        .collect::<Vec<_>>()
        .join(",");
    let processes = view
        .processes
        .iter()
        .map(|p| {
            format!(
                "{{\"label\":{},\"worker\":{},\"pid\":{},\"uptime_ms\":{},\"restarts\":{},\
                 \"last_exit\":{},\"log\":{}}}",
                string(&p.label),
                p.worker,
                p.pid,
                p.uptime_ms,
                p.restarts,
                string(&p.last_exit),
                string(&p.log)
            )
        })
        .collect::<Vec<_>>()
        .join(",");
    let _ = write!(
        out,
        "{{\"nginx_version\":{},\"nginx_rtmp_version\":{},\"pid\":{},\"uptime\":{},\
         \"naccepted\":{},\"bw_in\":{},\"bytes_in\":{},\"bw_out\":{},\"bytes_out\":{},\
         \"hls_segments\":{},\"transcode_refused\":{},\"record_failed\":{},\"rejected_publish\":{{{}}},\"workers\":[{}],\"truncated\":{},\
         \"processes\":[{}],\"servers\":[",
        string(&view.nginx_version),
        string(&view.module_version),
        view.pid,
        view.uptime,
        view.naccepted,
        view.bw_in,
        view.bytes_in,
        view.bw_out,
        view.bytes_out,
        view.hls_segments,
        view.transcode_refused,
        view.record_failed,
        rejected,
        workers,
        view.truncated,
        processes
    );
    for (i, server) in view.servers.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "{{\"index\":{},\"accepted\":{},\"active\":{},\"applications\":[",
            server.index, server.accepted, server.active
        );
        for (j, app) in server.applications.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            let _ = write!(out, "{{\"name\":{},\"live\":", string(&app.name));
            if sections.live && app.live {
                let streams = app
                    .streams
                    .iter()
                    .map(|s| stream(s, sections))
                    .collect::<Vec<_>>()
                    .join(",");
                let _ = write!(
                    out,
                    "{{\"streams\":[{streams}],\"nclients\":{}}}",
                    app.nclients()
                );
            } else {
                out.push_str("null");
            }
            out.push('}');
        }
        out.push_str("]}");
    }
    out.push_str("]}\n");
    out
}
