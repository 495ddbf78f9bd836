use super::*;
use crate::conf::{RtmpConf, Scope};
use std::net::SocketAddr;

fn conf(main: &[(&str, &[&str])], server: &[(&str, &[&str])]) -> Result<RtmpConf, ConfError> {
    let mut c = RtmpConf::new();
    for (name, args) in main {
        c.set(Scope::Main, name, args)?;
    }
    let s = c.add_server();
    for (name, args) in server {
        c.set(Scope::Server(s), name, args)?;
    }
    c.finish()?;
    Ok(c)
}

const SSL_LISTEN: (&str, &[&str]) = ("listen", &["127.0.0.1:1936", "ssl"]);

#[test]
fn defaults_and_inheritance() {
    let c = conf(
        &[
            ("ssl_certificate", &["/etc/a.crt"]),
            ("ssl_certificate_key", &["/etc/a.key"]),
            ("ssl_ciphers", &["ECDHE+AESGCM"]),
        ],
        &[SSL_LISTEN, ("ssl_protocols", &["TLSv1.3"])],
    )
    .unwrap();
    let tls = c.servers[0].tls.as_ref().unwrap();
    assert_eq!(
        tls.certificates,
        vec![CertificatePair {
            certificate: "/etc/a.crt".into(),
            key: "/etc/a.key".into()
        }]
    );
    assert_eq!(tls.ciphers, "ECDHE+AESGCM");
    assert_eq!(
        tls.protocols.iter().collect::<Vec<_>>(),
        [TlsProtocol::TlsV1_3]
    );
    assert_eq!(tls.session_cache, SessionCache::None);
    assert_eq!(tls.session_timeout_ms, 300_000);

    let c = conf(
        &[],
        &[
            SSL_LISTEN,
            ("ssl_certificate", &["rsa.crt"]),
            ("ssl_certificate_key", &["rsa.key"]),
            ("ssl_certificate", &["ec.crt"]),
            ("ssl_certificate_key", &["ec.key"]),
            ("ssl_session_cache", &["builtin:1000"]),
            ("ssl_session_timeout", &["10m"]),
        ],
    )
    .unwrap();
    let tls = c.servers[0].tls.as_ref().unwrap();
    assert_eq!(tls.certificates.len(), 2);
    assert_eq!(tls.certificates[1].key, "ec.key");
    assert_eq!(tls.ciphers, DEFAULT_CIPHERS);
    assert_eq!(
        tls.protocols.iter().collect::<Vec<_>>(),
        [TlsProtocol::TlsV1_2, TlsProtocol::TlsV1_3]
    );
    assert_eq!(tls.session_cache, SessionCache::Builtin(Some(1000)));
    assert_eq!(tls.session_timeout_ms, 600_000);
}

#[test]
fn a_level_with_certificates_replaces_inherited_ones() {
    let c = conf(
        &[
            ("ssl_certificate", &["main.crt"]),
            ("ssl_certificate_key", &["main.key"]),
        ],
        &[SSL_LISTEN, ("ssl_certificate", &["srv.crt"])],
    );
    // The server's certificate list replaces the inherited one; its keys are inherited.
    let c = c.unwrap();
    let tls = c.servers[0].tls.as_ref().unwrap();
    assert_eq!(tls.certificates[0].certificate, "srv.crt");
    assert_eq!(tls.certificates[0].key, "main.key");
}

#[test]
fn plain_servers_need_nothing() {
    let c = conf(&[], &[("listen", &["1935"])]).unwrap();
    assert_eq!(c.servers[0].tls, None);
    let c = conf(&[("ssl_certificate", &["a.crt"])], &[("listen", &["1935"])]).unwrap();
    assert_eq!(c.servers[0].tls, None);
}

#[test]
fn errors() {
    let listen: SocketAddr = "127.0.0.1:1936".parse().unwrap();
    assert_eq!(
        conf(&[], &[SSL_LISTEN]).unwrap_err(),
        ConfError::Tls(TlsError::NoCertificate { listen })
    );
    assert_eq!(
        conf(&[], &[SSL_LISTEN, ("ssl_certificate", &["a.crt"])]).unwrap_err(),
        ConfError::Tls(TlsError::NoKey { listen })
    );
    let e = conf(
        &[],
        &[
            SSL_LISTEN,
            ("ssl_certificate", &["a.crt"]),
            ("ssl_certificate_key", &["a.key"]),
            ("ssl_certificate", &["b.crt"]),
        ],
    )
    .unwrap_err();
    assert_eq!(
        e,
        ConfError::Tls(TlsError::NoKeyFor {
            listen,
            certificate: "b.crt".into()
        })
    );
    assert!(e.to_string().contains("\"b.crt\""), "{e}");
    assert!(matches!(
        conf(&[], &[("ssl_protocols", &["TLSv1.2", "TLSv9"])]),
        Err(ConfError::Value {
            directive: "ssl_protocols",
            ..
        })
    ));
    assert!(matches!(
        conf(&[], &[("ssl_protocols", &[])]),
        Err(ConfError::Arity { .. })
    ));
    assert!(matches!(
        conf(
            &[
                ("ssl_protocols", &["TLSv1.2"]),
                ("ssl_protocols", &["TLSv1.3"])
            ],
            &[]
        ),
        Err(ConfError::Duplicate("ssl_protocols"))
    ));
    for bad in ["shared:SSL:10m", "builtin:0", "builtin:x", "on"] {
        assert!(
            matches!(
                conf(&[], &[("ssl_session_cache", &[bad])]),
                Err(ConfError::Value { .. })
            ),
            "{bad}"
        );
    }
    assert!(matches!(
        conf(&[], &[("ssl_certificate", &["a.crt", "b.crt"])]),
        Err(ConfError::Arity { .. })
    ));
    let mut c = RtmpConf::new();
    let s = c.add_server();
    let a = c.add_application(s, "live").unwrap();
    assert_eq!(
        c.set(
            Scope::Application { server: s, app: a },
            "ssl_certificate",
            &["a.crt"]
        ),
        Err(ConfError::NotAllowedHere("ssl_certificate"))
    );
}
