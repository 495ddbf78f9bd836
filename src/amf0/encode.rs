//! AMF0 encoder.

use bytes::{BufMut, Bytes, BytesMut};

use super::marker;
use super::value::Value;

/// Appends the encoding of `value` to `out`.
///
/// A `String` longer than 65535 bytes is written as a long string. Property
/// keys longer than 65535 bytes are cut to that length (AMF0 cannot express
/// them); keys come from our own code, never from unchecked peer data.
pub fn encode<B: BufMut>(value: &Value, out: &mut B) {
    match value {
        Value::Number(n) => {
            out.put_u8(marker::NUMBER);
            out.put_f64(*n);
        }
        Value::Boolean(b) => {
            out.put_u8(marker::BOOLEAN);
            out.put_u8(u8::from(*b));
        }
        Value::String(s) => match u16::try_from(s.len()) {
            Ok(len) => {
                out.put_u8(marker::STRING);
                out.put_u16(len);
                out.put_slice(s.as_bytes());
            }
            Err(_) => long_string(s, out),
        },
        Value::Object(props) => {
            out.put_u8(marker::OBJECT);
            properties(props, out);
        }
        Value::Null => out.put_u8(marker::NULL),
        Value::Undefined => out.put_u8(marker::UNDEFINED),
        Value::EcmaArray(props) => {
            out.put_u8(marker::ECMA_ARRAY);
            out.put_u32(u32::try_from(props.len()).unwrap_or(u32::MAX));
            properties(props, out);
        }
        Value::StrictArray(items) => {
            out.put_u8(marker::STRICT_ARRAY);
            out.put_u32(u32::try_from(items.len()).unwrap_or(u32::MAX));
            for item in items {
                encode(item, out);
            }
        }
        Value::Date { millis, tz } => {
            out.put_u8(marker::DATE);
            out.put_f64(*millis);
            out.put_i16(*tz);
        }
        Value::LongString(s) => long_string(s, out),
    }
}

fn long_string<B: BufMut>(s: &str, out: &mut B) {
    let bytes = s.as_bytes();
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.put_u8(marker::LONG_STRING);
    out.put_u32(len);
    out.put_slice(bytes.get(..len as usize).unwrap_or(bytes));
}

fn properties<B: BufMut>(props: &[(String, Value)], out: &mut B) {
    for (key, value) in props {
        let raw = key.as_bytes();
        let len = u16::try_from(raw.len()).unwrap_or(u16::MAX);
        out.put_u16(len);
        out.put_slice(raw.get(..usize::from(len)).unwrap_or(raw));
        encode(value, out);
    }
    out.put_u8(0);
    out.put_u8(0);
    out.put_u8(marker::OBJECT_END);
}

/// Encodes a sequence of values (a command or data message body).
pub fn encode_all<B: BufMut>(values: &[Value], out: &mut B) {
    for v in values {
        encode(v, out);
    }
}

/// Encodes a sequence of values into one `Bytes`.
pub fn encode_to_bytes(values: &[Value]) -> Bytes {
    let mut out = BytesMut::new();
    encode_all(values, &mut out);
    out.freeze()
}
