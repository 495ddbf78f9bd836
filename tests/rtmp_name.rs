use ngx_rtmp::rtmp::name::{
    check_name, parse_app, parse_stream_name, parse_stream_name_with, validate_app, NameError,
    StreamName,
};

#[test]
fn stream_names() {
    assert_eq!(
        parse_stream_name("key", 256),
        Ok(StreamName {
            name: "key".into(),
            args: String::new()
        })
    );
    assert_eq!(
        parse_stream_name("live_1-A.b~c?token=a?b&c=d e", 256),
        Ok(StreamName {
            name: "live_1-A.b~c".into(),
            args: "token=a?b&c=d e".into()
        })
    );
    assert_eq!(parse_stream_name("", 256), Err(NameError::Empty));
    assert_eq!(parse_stream_name("?x", 256), Err(NameError::Empty));
    assert_eq!(parse_stream_name(".", 256), Err(NameError::LeadingDot));
    assert_eq!(parse_stream_name("..", 256), Err(NameError::LeadingDot));
    assert_eq!(
        parse_stream_name("abcd", 3),
        Err(NameError::TooLong { len: 4, max: 3 })
    );
    for bad in [
        '/', '\\', '#', '%', '"', '\'', '<', '>', '|', '*', ':', ';', '`',
    ] {
        assert_eq!(
            parse_stream_name(&format!("a{bad}b"), 256),
            Err(NameError::Forbidden(bad)),
            "{bad}"
        );
    }
    for bad in ["a b", "a\tb", "a\u{0}", "a\u{7f}", "é"] {
        assert!(matches!(
            parse_stream_name(bad, 256),
            Err(NameError::NotPrintable(_))
        ));
    }
    assert_eq!(
        parse_stream_name("k?a\u{1}", 256),
        Err(NameError::ArgsControlChar(1))
    );
    assert_eq!(
        parse_stream_name_with("k?abcd", 256, 3),
        Err(NameError::ArgsTooLong { len: 4, max: 3 })
    );
    assert!(check_name("a.b..c", 10).is_ok());
}

#[test]
fn app_names() {
    assert_eq!(validate_app("live"), Ok("live"));
    assert_eq!(validate_app("live/"), Ok("live"));
    assert_eq!(validate_app("live?secret=1"), Ok("live"));
    assert_eq!(
        parse_app("live?secret=1", 256, 1024),
        Ok(("live", "secret=1"))
    );
    assert_eq!(validate_app(""), Err(NameError::Empty));
    assert_eq!(validate_app("a/b"), Err(NameError::Forbidden('/')));
    assert_eq!(validate_app(".."), Err(NameError::LeadingDot));
    assert!(validate_app(&"a".repeat(257)).is_err());
}

#[test]
fn errors_display() {
    assert_eq!(
        NameError::Forbidden('/').to_string(),
        "name: character '/' not allowed"
    );
}
