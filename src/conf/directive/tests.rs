use std::path::PathBuf;

use crate::conf::ServerSettings;

use super::*;

#[test]
fn dash_directives() {
    let mut c = RtmpConf::new();
    c.set(Scope::Main, "dash_fragment", &["3"]).unwrap();
    let s = c.add_server();
    let app = |a| Scope::Application { server: s, app: a };
    let a = c.add_application(s, "live").unwrap();
    let b = c.add_application(s, "nopath").unwrap();
    c.set(app(a), "dash", &["on"]).unwrap();
    c.set(app(a), "dash_path", &["/var/www/dash/"]).unwrap();
    c.set(app(a), "dash_nested", &["on"]).unwrap();
    assert!(matches!(
        c.set(app(a), "dash_path", &["/other"]),
        Err(ConfError::Duplicate(_))
    ));
    assert!(matches!(
        c.set(app(b), "dash_path", &["relative"]),
        Err(ConfError::Value { .. })
    ));
    c.finish().unwrap();
    let d = c.servers[0].applications[a].settings.dash.clone().unwrap();
    assert_eq!(d.path, PathBuf::from("/var/www/dash"));
    assert_eq!(d.config.fragment_ms, 3_000);
    assert_eq!(d.config.playlist_length_ms, 30_000);
    assert!(d.config.nested && d.config.cleanup);
    assert!(c.servers[0].applications[a].settings.accepts_publish());
    assert!(c.servers[0].applications[b].settings.dash.is_none());

    let mut c = RtmpConf::new();
    let s = c.add_server();
    let a = c.add_application(s, "live").unwrap();
    c.set(Scope::Application { server: s, app: a }, "dash", &["on"])
        .unwrap();
    assert!(matches!(c.finish(), Err(ConfError::Missing { .. })));
}

#[test]
fn errors() {
    let mut c = RtmpConf::new();
    let s = c.add_server();
    let app = Scope::Application {
        server: s,
        app: c.add_application(s, "live").unwrap(),
    };
    assert_eq!(
        c.set(Scope::Main, "bogus", &[]),
        Err(ConfError::Unknown("bogus".into()))
    );
    assert_eq!(
        c.set(app, "chunk_size", &["4096"]),
        Err(ConfError::NotAllowedHere("chunk_size"))
    );
    assert_eq!(
        c.set(Scope::Main, "listen", &["1935"]),
        Err(ConfError::NotAllowedHere("listen"))
    );
    assert!(matches!(
        c.set(Scope::Main, "chunk_size", &["1"]),
        Err(ConfError::Value { .. })
    ));
    assert!(matches!(
        c.set(Scope::Main, "chunk_size", &[]),
        Err(ConfError::Arity { .. })
    ));
    assert!(matches!(
        c.set(app, "live", &["maybe"]),
        Err(ConfError::Value { .. })
    ));
    c.set(app, "live", &["on"]).unwrap();
    assert_eq!(
        c.set(app, "live", &["on"]),
        Err(ConfError::Duplicate("live"))
    );
    c.set(Scope::Server(s), "listen", &["1935"]).unwrap();
    let s2 = c.add_server();
    assert!(matches!(
        c.set(Scope::Server(s2), "listen", &["0.0.0.0:1935"]),
        Err(ConfError::DuplicateListen(_))
    ));
    c.set(Scope::Server(s2), "listen", &["[::]:1935", "ipv6only=on"])
        .unwrap();
    assert!(matches!(
        c.add_application(s, "live"),
        Err(ConfError::DuplicateApplication(_))
    ));
    assert!(matches!(
        c.add_application(s, "../x"),
        Err(ConfError::InvalidApplicationName(_))
    ));
}

#[test]
fn renditions_and_transcode() {
    let mut c = RtmpConf::new();
    c.set(Scope::Main, "transcode_max", &["2"]).unwrap();
    let s = c.add_server();
    let app = |a| Scope::Application { server: s, app: a };
    let a = c.add_application(s, "live").unwrap();
    let b = c.add_application(s, "nohls").unwrap();
    c.set(app(a), "hls", &["on"]).unwrap();
    c.set(app(a), "hls_path", &["/tmp/hls"]).unwrap();
    c.set(
        app(a),
        "hls_rendition",
        &["480p", "height=480", "bitrate=1200k"],
    )
    .unwrap();
    c.set(app(a), "hls_rendition", &["360p", "height=360"])
        .unwrap();
    assert_eq!(
        c.set(app(a), "hls_rendition", &["360p", "height=240"]),
        Err(ConfError::DuplicateRendition("360p".into()))
    );
    assert!(matches!(
        c.set(app(a), "hls_rendition", &["x", "height=360", "speed=2"]),
        Err(ConfError::Rendition(_))
    ));
    assert_eq!(
        c.set(Scope::Server(s), "hls_rendition", &["x", "height=360"]),
        Err(ConfError::NotAllowedHere("hls_rendition"))
    );
    assert_eq!(
        c.set(app(a), "transcode_max", &["1"]),
        Err(ConfError::NotAllowedHere("transcode_max"))
    );
    c.set(app(a), "transcode_ffmpeg", &["/usr/bin/ffmpeg"])
        .unwrap();
    assert_eq!(
        c.set(app(a), "transcode_ffmpeg", &["/usr/bin/ffmpeg"]),
        Err(ConfError::Duplicate("transcode_ffmpeg"))
    );
    c.finish().unwrap();
    let srv = &c.servers[0];
    assert_eq!(srv.settings.transcode_max, Some(2));
    let live = &srv.applications[a].settings;
    let names: Vec<_> = live.renditions.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["480p", "360p"]);
    assert_eq!(
        live.transcode_ffmpeg.as_deref(),
        Some(std::path::Path::new("/usr/bin/ffmpeg"))
    );
    assert!(srv.applications[b].settings.renditions.is_empty());
    assert_eq!(ServerSettings::default().transcode_max, None);

    // Renditions need HLS.
    let mut c = RtmpConf::new();
    let s = c.add_server();
    let a = c.add_application(s, "live").unwrap();
    c.set(
        Scope::Application { server: s, app: a },
        "hls_rendition",
        &["360p", "height=360"],
    )
    .unwrap();
    assert!(matches!(c.finish(), Err(ConfError::Missing { .. })));
}

#[test]
fn hls_variant() {
    let mut c = RtmpConf::new();
    let s = c.add_server();
    let a = c.add_application(s, "hls").unwrap();
    let app = Scope::Application { server: s, app: a };
    for d in [("hls", "on"), ("hls_path", "/tmp/hls")] {
        c.set(app, d.0, &[d.1]).unwrap();
    }
    c.set(app, "hls_variant", &["_low", "BANDWIDTH=288000"])
        .unwrap();
    c.set(app, "hls_variant", &["_hi"]).unwrap();
    assert_eq!(
        c.set(app, "hls_variant", &["_low"]),
        Err(ConfError::DuplicateVariant("_low".into()))
    );
    assert!(matches!(
        c.set(app, "hls_variant", &[""]),
        Err(ConfError::Variant(_))
    ));
    assert!(matches!(
        c.set(app, "hls_variant", &["_x", "BANDWIDTH"]),
        Err(ConfError::Variant(_))
    ));
    assert!(matches!(
        c.set(app, "hls_variant", &[]),
        Err(ConfError::Arity { .. })
    ));
    c.finish().unwrap();
    let hls = c.servers[0].applications[a].settings.hls.clone().unwrap();
    let suffixes: Vec<_> = hls.variants.iter().map(|v| v.suffix.as_str()).collect();
    assert_eq!(suffixes, ["_low", "_hi"]);
    assert_eq!(hls.variants[0].attributes[0].value, "288000");
}
