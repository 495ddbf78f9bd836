//! nginx-rtmp-module's stat XML: same elements, same nesting, so that its `stat.xsl` and the
//! tools built on it read ours.

use std::fmt::Write;

use super::model::{
    ClientStat, Meta, ProcessStat, RecorderStat, RelayStat, Sections, StatView, StreamStat,
};
pub use crate::files::xml_escape as escape;

fn client(out: &mut String, c: &ClientStat) {
    let _ = write!(
        out,
        "<client><id>{}</id><address>{}</address><time>{}</time>",
        c.id,
        escape(&c.address),
        c.time_ms
    );
    if !c.flashver.is_empty() {
        let _ = write!(out, "<flashver>{}</flashver>", escape(&c.flashver));
    }
    if !c.page_url.is_empty() {
        let _ = write!(out, "<pageurl>{}</pageurl>", escape(&c.page_url));
    }
    if !c.swf_url.is_empty() {
        let _ = write!(out, "<swfurl>{}</swfurl>", escape(&c.swf_url));
    }
    // nginx-rtmp has no such element: a plain client reads as in its XML.
    if c.tls || c.http {
        let _ = write!(out, "<protocol>{}</protocol>", c.protocol());
    }
    let _ = write!(
        out,
        "<dropped>{}</dropped><avsync></avsync><bytes_in>{}</bytes_in><bytes_out>{}</bytes_out>",
        c.dropped, c.bytes_in, c.bytes_out
    );
    if c.publishing {
        out.push_str("<publishing/>");
    }
    if c.active {
        out.push_str("<active/>");
    }
    out.push_str("</client>\r\n");
}

fn meta(out: &mut String, m: &Meta) {
    out.push_str("<meta>");
    if let Some(v) = &m.video {
        let _ = write!(
            out,
            "<video><width>{}</width><height>{}</height><frame_rate>{}</frame_rate>",
            v.width, v.height, v.frame_rate
        );
        if !v.codec.is_empty() {
            let _ = write!(out, "<codec>{}</codec>", escape(&v.codec));
        }
        if !v.profile.is_empty() {
            let _ = write!(out, "<profile>{}</profile>", escape(&v.profile));
        }
        if !v.level.is_empty() {
            let _ = write!(
                out,
                "<compat>{}</compat><level>{}</level>",
                v.compat,
                escape(&v.level)
            );
        }
        out.push_str("</video>");
    }
    if let Some(a) = &m.audio {
        out.push_str("<audio>");
        if !a.codec.is_empty() {
            let _ = write!(out, "<codec>{}</codec>", escape(&a.codec));
        }
        if !a.profile.is_empty() {
            let _ = write!(out, "<profile>{}</profile>", escape(&a.profile));
        }
        if a.channels != 0 {
            let _ = write!(out, "<channels>{}</channels>", a.channels);
        }
        if a.sample_rate != 0 {
            let _ = write!(out, "<sample_rate>{}</sample_rate>", a.sample_rate);
        }
        out.push_str("</audio>");
    }
    // Every track (nginx-rtmp has none of this: its tools read `video` and `audio`).
    if !m.tracks.is_empty() {
        out.push_str("<tracks>");
        for t in &m.tracks {
            let _ = write!(
                out,
                "<track><id>{}</id><type>{}</type><codec>{}</codec>",
                t.id,
                escape(&t.kind),
                escape(&t.codec)
            );
            if !t.profile.is_empty() {
                let _ = write!(out, "<profile>{}</profile>", escape(&t.profile));
            }
            if !t.level.is_empty() {
                let _ = write!(out, "<level>{}</level>", escape(&t.level));
            }
            if t.width != 0 || t.height != 0 {
                let _ = write!(
                    out,
                    "<width>{}</width><height>{}</height>",
                    t.width, t.height
                );
            }
            if t.channels != 0 {
                let _ = write!(out, "<channels>{}</channels>", t.channels);
            }
            if t.sample_rate != 0 {
                let _ = write!(out, "<sample_rate>{}</sample_rate>", t.sample_rate);
            }
            out.push_str("</track>");
        }
        out.push_str("</tracks>");
    }
    out.push_str("</meta>\r\n");
}

/// A recorder of the stream (nginx-rtmp's stat has no recording element: its tools skip it).
/// `<duration>` is in ms, as `<time>` is.
fn recorder(out: &mut String, r: &RecorderStat) {
    let _ = write!(
        out,
        "<recorder><id>{}</id><path>{}</path><bytes>{}</bytes><duration>{}</duration>\
         <frames>{}</frames><files>{}</files>",
        escape(&r.id),
        escape(&r.path),
        r.bytes,
        r.duration_ms,
        r.frames,
        r.files
    );
    if r.manual {
        out.push_str("<manual/>");
    }
    if r.started {
        out.push_str("<started/>");
    }
    if r.recording {
        out.push_str("<recording/>");
    }
    if r.failed {
        out.push_str("<failed/>");
    }
    out.push_str("</recorder>\r\n");
}

/// A relay of the stream (nginx-rtmp's stat has no relay element: its tools skip it).
/// `<time>` is the time in its state, ms.
fn relay(out: &mut String, r: &RelayStat) {
    let _ = write!(
        out,
        "<relay><kind>{}</kind><state>{}</state><url>{}</url><addr>{}</addr>\
         <bytes_out>{}</bytes_out><bytes_in>{}</bytes_in><reconnects>{}</reconnects>\
         <failures>{}</failures><last_error>{}</last_error><time>{}</time><pid>{}</pid>\
         </relay>\r\n",
        escape(&r.kind),
        escape(&r.state),
        escape(&r.target),
        escape(&r.addr),
        r.bytes_out,
        r.bytes_in,
        r.reconnects,
        r.failures,
        escape(&r.last_error),
        r.time_in_state_ms,
        r.pid
    );
}

fn stream(out: &mut String, s: &StreamStat, sections: Sections) {
    let _ = write!(
        out,
        "<stream>\r\n<name>{}</name>\r\n<time>{}</time>\
         <bw_in>{}</bw_in>\r\n<bytes_in>{}</bytes_in>\r\n\
         <bw_out>{}</bw_out>\r\n<bytes_out>{}</bytes_out>\r\n\
         <bw_audio>{}</bw_audio>\r\n<bw_video>{}</bw_video>\r\n",
        escape(&s.name),
        s.time_ms,
        s.bw_in,
        s.bytes_in,
        s.bw_out,
        s.bytes_out,
        s.bw_audio,
        s.bw_video
    );
    if sections.clients {
        for c in &s.clients {
            client(out, c);
        }
    }
    if let Some(m) = &s.meta {
        meta(out, m);
    }
    let _ = write!(out, "<nclients>{}</nclients>\r\n", s.nclients());
    if s.publishing {
        out.push_str("<publishing/>\r\n");
    }
    if s.active {
        out.push_str("<active/>\r\n");
    }
    if !s.recorders.is_empty() {
        out.push_str("<recorders>\r\n");
        for r in &s.recorders {
            recorder(out, r);
        }
        out.push_str("</recorders>\r\n");
    }
    if !s.relays.is_empty() {
        out.push_str("<relays>\r\n");
        for r in &s.relays {
            relay(out, r);
        }
        out.push_str("</relays>\r\n");
    }
    out.push_str("</stream>\r\n");
}

/// A child process (an element nginx-rtmp does not have: its tools skip it).
fn process(out: &mut String, p: &ProcessStat) {
    let _ = write!(
        out,
        "<process><label>{}</label><worker>{}</worker><pid>{}</pid><uptime>{}</uptime>\
         <restarts>{}</restarts><last_exit>{}</last_exit><log>{}</log></process>\r\n",
        escape(&p.label),
        p.worker,
        p.pid,
        p.uptime_ms,
        p.restarts,
        escape(&p.last_exit),
        escape(&p.log)
    );
}

/// The whole document. `stylesheet`: the `rtmp_stat_stylesheet` href, if any.
pub fn render(view: &StatView, sections: Sections, stylesheet: Option<&str>) -> String {
    let mut out = String::with_capacity(4096);
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\" ?>\r\n");
    if let Some(href) = stylesheet.filter(|h| !h.is_empty()) {
        let _ = write!(
            out,
            "<?xml-stylesheet type=\"text/xsl\" href=\"{}\" ?>\r\n",
            escape(href)
        );
    }
    out.push_str("<rtmp>\r\n");
    let _ = write!(
        out,
        "<nginx_version>{}</nginx_version>\r\n<nginx_rtmp_version>{}</nginx_rtmp_version>\r\n\
         <pid>{}</pid>\r\n<uptime>{}</uptime>\r\n<naccepted>{}</naccepted>\r\n\
         <bw_in>{}</bw_in>\r\n<bytes_in>{}</bytes_in>\r\n<bw_out>{}</bw_out>\r\n\
         <bytes_out>{}</bytes_out>\r\n",
        escape(&view.nginx_version),
        escape(&view.module_version),
        view.pid,
        view.uptime,
        view.naccepted,
        view.bw_in,
        view.bytes_in,
        view.bw_out,
        view.bytes_out
    );
    if sections.global {
        let _ = write!(out, "<nworkers>{}</nworkers>\r\n", view.workers.len());
    }
    for server in &view.servers {
        out.push_str("<server>\r\n");
        for app in &server.applications {
            let _ = write!(
                out,
                "<application>\r\n<name>{}</name>\r\n",
                escape(&app.name)
            );
            if sections.live && app.live {
                out.push_str("<live>\r\n");
                for s in &app.streams {
                    stream(&mut out, s, sections);
                }
                let _ = write!(
                    out,
                    "<nclients>{}</nclients>\r\n</live>\r\n",
                    app.nclients()
                );
            }
            out.push_str("</application>\r\n");
        }
        out.push_str("</server>\r\n");
    }
    if sections.global && !view.processes.is_empty() {
        out.push_str("<processes>\r\n");
        for p in &view.processes {
            process(&mut out, p);
        }
        out.push_str("</processes>\r\n");
    }
    out.push_str("</rtmp>\r\n");
    out
}
