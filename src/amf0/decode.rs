//! AMF0 decoder over a complete buffer, with a nesting-depth limit.

use super::error::AmfError;
use super::marker;
use super::value::Value;

/// Default maximum nesting of objects/arrays.
pub const DEFAULT_MAX_DEPTH: usize = 32;
/// Ceiling on any configured depth: the decoder recurses once per level,
/// so the stack stays small whatever the configuration says.
pub const HARD_MAX_DEPTH: usize = 256;

/// Reads AMF0 values one after another from a byte slice.
///
/// Recursion is bounded by `max_depth`, so hostile input (for example
/// 100 000 nested objects) yields [`AmfError::TooDeep`] instead of
/// exhausting the stack.
#[derive(Debug, Clone)]
pub struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
    max_depth: usize,
}

/// Decodes every value in `buf`.
pub fn decode_all(buf: &[u8], max_depth: usize) -> Result<Vec<Value>, AmfError> {
    let mut d = Decoder::new(buf, max_depth);
    let mut out = Vec::new();
    while !d.is_empty() {
        out.push(d.decode()?);
    }
    Ok(out)
}

impl<'a> Decoder<'a> {
    /// `max_depth` is capped at [`HARD_MAX_DEPTH`].
    pub fn new(buf: &'a [u8], max_depth: usize) -> Self {
        Decoder {
            buf,
            pos: 0,
            max_depth: max_depth.min(HARD_MAX_DEPTH),
        }
    }

    /// True when every byte has been consumed.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The bytes not consumed yet.
    pub fn remaining(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    /// Decodes the next value.
    pub fn decode(&mut self) -> Result<Value, AmfError> {
        self.value(0)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], AmfError> {
        let end = self.pos.checked_add(n).ok_or(AmfError::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(AmfError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], AmfError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, AmfError> {
        Ok(u8::from_be_bytes(self.array()?))
    }

    fn u16(&mut self) -> Result<u16, AmfError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, AmfError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn f64(&mut self) -> Result<f64, AmfError> {
        Ok(f64::from_be_bytes(self.array()?))
    }

    fn utf8(&mut self, len: usize) -> Result<String, AmfError> {
        let raw = self.take(len)?;
        std::str::from_utf8(raw)
            .map(str::to_owned)
            .map_err(|_| AmfError::InvalidUtf8)
    }

    fn short_string(&mut self) -> Result<String, AmfError> {
        let len = self.u16()?;
        self.utf8(usize::from(len))
    }

    fn long_string(&mut self) -> Result<String, AmfError> {
        let len = self.u32()?;
        let len = usize::try_from(len).map_err(|_| AmfError::Truncated)?;
        self.utf8(len)
    }

    fn peek_object_end(&self) -> bool {
        matches!(
            self.buf.get(self.pos..self.pos.saturating_add(3)),
            Some([0, 0, marker::OBJECT_END])
        )
    }

    fn nested(&self, depth: usize) -> Result<usize, AmfError> {
        let next = depth.saturating_add(1);
        if next > self.max_depth {
            return Err(AmfError::TooDeep {
                max: self.max_depth,
            });
        }
        Ok(next)
    }

    /// Properties up to the `00 00 09` end marker. For ECMA arrays some
    /// encoders omit the end marker at the end of the buffer: `lenient_count`
    /// accepts that once the announced number of entries has been read.
    fn properties(
        &mut self,
        depth: usize,
        lenient_count: Option<u32>,
    ) -> Result<Vec<(String, Value)>, AmfError> {
        let mut props = Vec::new();
        loop {
            if self.peek_object_end() {
                self.pos = self.pos.saturating_add(3);
                return Ok(props);
            }
            if let Some(count) = lenient_count {
                if self.is_empty() && u32::try_from(props.len()).is_ok_and(|n| n >= count) {
                    return Ok(props);
                }
            }
            let key = self.short_string()?;
            let value = self.value(depth)?;
            props.push((key, value));
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, AmfError> {
        let m = self.u8()?;
        match m {
            marker::NUMBER => Ok(Value::Number(self.f64()?)),
            marker::BOOLEAN => Ok(Value::Boolean(self.u8()? != 0)),
            marker::STRING => Ok(Value::String(self.short_string()?)),
            marker::OBJECT => {
                let d = self.nested(depth)?;
                Ok(Value::Object(self.properties(d, None)?))
            }
            marker::NULL => Ok(Value::Null),
            marker::UNDEFINED => Ok(Value::Undefined),
            marker::ECMA_ARRAY => {
                let d = self.nested(depth)?;
                let count = self.u32()?;
                Ok(Value::EcmaArray(self.properties(d, Some(count))?))
            }
            marker::OBJECT_END => Err(AmfError::UnexpectedObjectEnd),
            marker::STRICT_ARRAY => {
                let d = self.nested(depth)?;
                let count = self.u32()?;
                // Every element takes at least one byte: never trust the
                // count beyond what the buffer can hold.
                let remaining = self.buf.len().saturating_sub(self.pos);
                let count = usize::try_from(count).unwrap_or(usize::MAX);
                if count > remaining {
                    return Err(AmfError::Truncated);
                }
                let mut items = Vec::with_capacity(count);
                for _ in 0..count {
                    items.push(self.value(d)?);
                }
                Ok(Value::StrictArray(items))
            }
            marker::DATE => {
                let millis = self.f64()?;
                let tz = i16::from_be_bytes(self.array()?);
                Ok(Value::Date { millis, tz })
            }
            marker::LONG_STRING => Ok(Value::LongString(self.long_string()?)),
            marker::MOVIECLIP
            | marker::REFERENCE
            | marker::UNSUPPORTED
            | marker::RECORDSET
            | marker::XML_DOCUMENT
            | marker::TYPED_OBJECT
            | marker::AVMPLUS => Err(AmfError::Unsupported(marker::name(m))),
            other => Err(AmfError::UnknownMarker(other)),
        }
    }
}
