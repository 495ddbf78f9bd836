//! The AMF0 value model and accessors.

/// One AMF0 value.
///
/// Objects and ECMA arrays keep their properties in wire order (a `Vec` of
/// pairs): RTMP peers care about order for nothing, but keeping it makes
/// re-encoding byte-exact and avoids hashing peer-chosen keys.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Number(f64),
    Boolean(bool),
    /// A string of at most 65535 bytes on the wire (longer strings are
    /// encoded as long strings automatically).
    String(String),
    Object(Vec<(String, Value)>),
    Null,
    Undefined,
    EcmaArray(Vec<(String, Value)>),
    StrictArray(Vec<Value>),
    /// Milliseconds since the epoch and the (unused, reserved) time zone.
    Date {
        millis: f64,
        tz: i16,
    },
    LongString(String),
}

impl Value {
    /// The string content of a `String` or `LongString`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) | Value::LongString(s) => Some(s),
            _ => None,
        }
    }

    /// The number of a `Number`.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The boolean of a `Boolean`.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// True for `Null` and `Undefined`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null | Value::Undefined)
    }

    /// The properties of an `Object` or `EcmaArray`.
    pub fn properties(&self) -> Option<&[(String, Value)]> {
        match self {
            Value::Object(p) | Value::EcmaArray(p) => Some(p),
            _ => None,
        }
    }

    /// The first property named `key` of an `Object` or `EcmaArray`.
    pub fn object_get(&self, key: &str) -> Option<&Value> {
        self.properties()?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// `object_get(key)` as a string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.object_get(key).and_then(Value::as_str)
    }

    /// `object_get(key)` as a number.
    pub fn get_f64(&self, key: &str) -> Option<f64> {
        self.object_get(key).and_then(Value::as_f64)
    }

    /// The elements of a `StrictArray`.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::StrictArray(v) => Some(v),
            _ => None,
        }
    }

    /// Convenience constructor: an `Object` from `(&str, Value)` pairs.
    pub fn object<'a, I>(props: I) -> Value
    where
        I: IntoIterator<Item = (&'a str, Value)>,
    {
        Value::Object(props.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    /// Convenience constructor for `String`.
    pub fn string(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }
}

impl From<f64> for Value {
    fn from(n: f64) -> Self {
        Value::Number(n)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Boolean(b)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}
