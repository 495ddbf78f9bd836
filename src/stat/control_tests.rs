//! Control URLs and the stat's sections and formats, as parsed from requests.

use super::*;

#[test]
fn control_urls() {
    let all = ControlSections::parse(["all"]).unwrap();
    let drop = |path: &str, q: &str| match Control::parse(path, q, all, 0) {
        Ok(Control::Drop(c)) => Ok(c),
        Ok(other) => panic!("{other:?}"),
        Err(e) => Err(e),
    };
    let c = drop("/control/drop/publisher", "app=live&name=cam").unwrap();
    assert_eq!(c.subject, Subject::Publisher);
    assert_eq!(Command::decode(&c.encode()), Some(c.clone()));
    let pubv = ClientView {
        server: 0,
        app: "live",
        addr: "1.2.3.4",
        id: 5,
        publishing: Some("cam"),
        playing: None,
    };
    let playv = ClientView {
        publishing: None,
        playing: Some("cam"),
        id: 6,
        ..pubv
    };
    assert!(c.matches(&pubv) && !c.matches(&playv));
    let s = drop("/control/drop/subscriber", "name=cam&srv=0").unwrap();
    assert!(!s.matches(&pubv) && s.matches(&playv));
    let cl = drop("/c/drop/client", "clientid=6").unwrap();
    assert!(!cl.matches(&pubv) && cl.matches(&playv));
    assert_eq!(Command::decode(&cl.encode()), Some(cl));
    let other_srv = drop("/c/drop/client", "name=cam&srv=1").unwrap();
    assert!(!other_srv.matches(&pubv));
    for (path, q, status) in [
        ("/control/drop/publisher", "", 400),
        ("/control/drop/everyone", "name=x", 400),
        ("/control/explode/publisher", "name=x", 400),
        ("/control/drop/client", "clientid=abc", 400),
        ("/control/drop/client", "name=%zz", 400),
        ("/control/redirect/publisher", "name=a", 400),
        ("/control/record/pause", "name=a", 400),
        ("/control/record/start", "name=a&srv=x", 400),
    ] {
        assert_eq!(
            Control::parse(path, q, all, 0).unwrap_err().status,
            status,
            "{path}?{q}"
        );
    }
    let drop_only = ControlSections::parse(["drop"]).unwrap();
    assert_eq!(
        Control::parse("/c/record/start", "name=a", drop_only, 0)
            .unwrap_err()
            .status,
        403
    );
    assert!(ControlSections::parse(["bogus"]).is_err());
    assert!(Command::decode(&[9, 0]).is_none());
}

#[test]
fn sections_and_formats() {
    assert_eq!(Sections::parse(["all"]).unwrap(), Sections::ALL);
    let s = Sections::parse(["live", "global"]).unwrap();
    assert!(s.live && s.global && !s.clients);
    assert!(Sections::parse(["nope"]).is_err());
    assert!(Sections::parse([]).is_err());
    assert_eq!(Format::parse("json"), Some(Format::Json));
    assert_eq!(Format::parse("yaml"), None);
}
