use ngx_rtmp::amf0::{self, decode_all, AmfError, Decoder, Value, DEFAULT_MAX_DEPTH};

fn roundtrip(v: &Value) {
    let bytes = amf0::encode_to_bytes(std::slice::from_ref(v));
    let back = decode_all(&bytes, DEFAULT_MAX_DEPTH).unwrap();
    assert_eq!(back, vec![v.clone()], "bytes {bytes:02x?}");
}

#[test]
fn scalars_roundtrip() {
    for v in [
        Value::Number(0.0),
        Value::Number(-1.5),
        Value::Number(f64::MAX),
        Value::Number(f64::INFINITY),
        Value::Boolean(true),
        Value::Boolean(false),
        Value::from(""),
        Value::from("héllo wörld"),
        Value::Null,
        Value::Undefined,
        Value::Date {
            millis: 1_700_000_000_000.0,
            tz: -60,
        },
        Value::LongString("x".repeat(70_000)),
        Value::LongString(String::new()),
    ] {
        roundtrip(&v);
    }
}

#[test]
fn long_plain_string_is_encoded_as_long_string() {
    let v = Value::String("y".repeat(65_536));
    let bytes = amf0::encode_to_bytes(std::slice::from_ref(&v));
    assert_eq!(bytes[0], 0x0C);
    let back = decode_all(&bytes, 4).unwrap();
    assert_eq!(back[0].as_str().unwrap().len(), 65_536);
}

#[test]
fn containers_roundtrip() {
    let nested = Value::object([
        ("app", Value::from("live")),
        ("n", Value::Number(3.0)),
        (
            "arr",
            Value::StrictArray(vec![Value::Null, Value::from("a"), Value::Boolean(true)]),
        ),
        (
            "ecma",
            Value::EcmaArray(vec![
                ("width".into(), Value::Number(1920.0)),
                ("".into(), Value::Undefined),
            ]),
        ),
        ("empty", Value::Object(vec![])),
    ]);
    roundtrip(&nested);
    roundtrip(&Value::EcmaArray(vec![]));
    roundtrip(&Value::StrictArray(vec![]));
}

#[test]
fn sequence_roundtrip_and_helpers() {
    let values = vec![
        Value::from("connect"),
        Value::Number(1.0),
        Value::object([
            ("app", Value::from("live")),
            ("objectEncoding", Value::Number(0.0)),
        ]),
    ];
    let bytes = amf0::encode_to_bytes(&values);
    let back = decode_all(&bytes, DEFAULT_MAX_DEPTH).unwrap();
    assert_eq!(back, values);
    assert_eq!(back[0].as_str(), Some("connect"));
    assert_eq!(back[1].as_f64(), Some(1.0));
    assert_eq!(back[2].get_str("app"), Some("live"));
    assert_eq!(
        back[2].object_get("objectEncoding"),
        Some(&Value::Number(0.0))
    );
    assert_eq!(back[2].object_get("missing"), None);
    assert_eq!(back[0].object_get("app"), None);
    assert!(Value::Undefined.is_null());

    let mut d = Decoder::new(&bytes, 4);
    assert_eq!(d.decode().unwrap(), values[0]);
    assert!(!d.is_empty());
}

#[test]
fn known_bytes() {
    // "_result", 1.0, null
    let bytes = [
        0x02, 0x00, 0x07, b'_', b'r', b'e', b's', b'u', b'l', b't', 0x00, 0x3F, 0xF0, 0, 0, 0, 0,
        0, 0, 0x05,
    ];
    let v = decode_all(&bytes, 4).unwrap();
    assert_eq!(
        v,
        vec![Value::from("_result"), Value::Number(1.0), Value::Null]
    );
    assert_eq!(amf0::encode_to_bytes(&v).as_ref(), &bytes[..]);
}

#[test]
fn truncated_inputs_fail_cleanly() {
    let full = amf0::encode_to_bytes(&[Value::object([
        ("a", Value::from("bcd")),
        ("e", Value::StrictArray(vec![Value::Number(1.0)])),
        ("d", Value::Date { millis: 1.0, tz: 0 }),
    ])]);
    for cut in 0..full.len() {
        let r = decode_all(&full[..cut], 8);
        if cut == 0 {
            assert_eq!(r, Ok(vec![]));
        } else {
            assert!(r.is_err(), "cut {cut} decoded");
        }
    }
}

#[test]
fn unsupported_and_unknown_markers() {
    assert_eq!(
        decode_all(&[0x07, 0, 1], 4),
        Err(AmfError::Unsupported("reference"))
    );
    assert!(decode_all(&[0x0D], 4).unwrap_err().is_unsupported());
    assert!(decode_all(&[0x10, 0, 1, b'x'], 4)
        .unwrap_err()
        .is_unsupported());
    assert!(decode_all(&[0x11, 0x01], 4).unwrap_err().is_unsupported());
    assert_eq!(decode_all(&[0x42], 4), Err(AmfError::UnknownMarker(0x42)));
    assert_eq!(decode_all(&[0x09], 4), Err(AmfError::UnexpectedObjectEnd));
    assert_eq!(
        decode_all(&[0x02, 0, 1, 0xFF], 4),
        Err(AmfError::InvalidUtf8)
    );
}

#[test]
fn hostile_counts_do_not_allocate() {
    // A strict array announcing 4 billion elements in 5 bytes.
    assert_eq!(
        decode_all(&[0x0A, 0xFF, 0xFF, 0xFF, 0xFF], 4),
        Err(AmfError::Truncated)
    );
    // A long string announcing 4 GiB.
    assert_eq!(
        decode_all(&[0x0C, 0xFF, 0xFF, 0xFF, 0xFF, b'a'], 4),
        Err(AmfError::Truncated)
    );
}

#[test]
fn ecma_array_without_end_marker_is_accepted_at_end_of_buffer() {
    let mut b = vec![0x08, 0, 0, 0, 1, 0, 1, b'w', 0x00];
    b.extend_from_slice(&1.0f64.to_be_bytes());
    let v = decode_all(&b, 4).unwrap();
    assert_eq!(v[0].get_f64("w"), Some(1.0));
}

fn deep(marker_prefix: &[u8], depth: usize) -> Vec<u8> {
    let mut b = Vec::with_capacity(marker_prefix.len() * depth);
    for _ in 0..depth {
        b.extend_from_slice(marker_prefix);
    }
    b
}

#[test]
fn hundred_thousand_deep_nesting_is_an_error_not_a_crash() {
    // object { "a": object { "a": ... } }
    let objects = deep(&[0x03, 0x00, 0x01, b'a'], 100_000);
    assert_eq!(
        decode_all(&objects, DEFAULT_MAX_DEPTH),
        Err(AmfError::TooDeep {
            max: DEFAULT_MAX_DEPTH
        })
    );
    let arrays = deep(&[0x0A, 0, 0, 0, 1], 100_000);
    assert_eq!(
        decode_all(&arrays, DEFAULT_MAX_DEPTH),
        Err(AmfError::TooDeep {
            max: DEFAULT_MAX_DEPTH
        })
    );
    let ecma = deep(&[0x08, 0, 0, 0, 1, 0x00, 0x01, b'a'], 100_000);
    assert_eq!(
        decode_all(&ecma, DEFAULT_MAX_DEPTH),
        Err(AmfError::TooDeep {
            max: DEFAULT_MAX_DEPTH
        })
    );
}

#[test]
fn depth_limit_is_exact() {
    let mut v = Value::Null;
    for _ in 0..5 {
        v = Value::object([("a", v)]);
    }
    let bytes = amf0::encode_to_bytes(std::slice::from_ref(&v));
    assert!(decode_all(&bytes, 5).is_ok());
    assert_eq!(decode_all(&bytes, 4), Err(AmfError::TooDeep { max: 4 }));
}

#[test]
fn configured_depth_is_capped() {
    let objects = deep(&[0x03, 0x00, 0x01, b'a'], 100_000);
    assert_eq!(
        decode_all(&objects, usize::MAX),
        Err(AmfError::TooDeep {
            max: amf0::HARD_MAX_DEPTH
        })
    );
}
