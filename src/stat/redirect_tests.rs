//! `/control/redirect`: parsed into a [`Command`] with `newname`, carried to other workers.

use super::*;

fn all() -> ControlSections {
    ControlSections::parse(["all"]).unwrap()
}

#[test]
fn redirects_parse_and_travel() {
    let Ok(Control::Redirect(r)) = Control::parse(
        "/c/redirect/subscriber",
        "app=live&name=a&newname=b",
        all(),
        0,
    ) else {
        panic!("a redirect")
    };
    assert_eq!(r.newname.as_deref(), Some("b"));
    let what = r.redirect_what();
    assert!(what.playbacks && !what.publications);
    assert_eq!(what.name, Some("a"));
    assert_eq!(
        Control::decode(&Control::Redirect(r.clone()).encode()),
        Some(Control::Redirect(r))
    );
    let Ok(Control::Redirect(c)) =
        Control::parse("/c/redirect/client", "clientid=7&newname=b", all(), 0)
    else {
        panic!("a redirect")
    };
    let what = c.redirect_what();
    assert!(what.playbacks && what.publications && what.name.is_none());
}

#[test]
fn bad_redirects_are_refused() {
    for (path, q, status) in [
        ("/control/redirect/publisher", "name=a", 400),
        ("/control/redirect/publisher", "newname=b", 400),
        ("/control/redirect/publisher", "name=a&newname=b/c", 400),
        (
            "/control/redirect/publisher",
            "name=a&newname=b%3Fx%3D1",
            400,
        ),
        ("/control/redirect/player", "name=a&newname=b", 400),
    ] {
        assert_eq!(
            Control::parse(path, q, all(), 0).unwrap_err().status,
            status,
            "{path}?{q}"
        );
    }
    let redirect_off = ControlSections::parse(["drop", "record"]).unwrap();
    assert_eq!(
        Control::parse("/c/redirect/client", "name=a&newname=b", redirect_off, 0)
            .unwrap_err()
            .status,
        403
    );
}
