//! Bounds-checked readers shared by the parsers: a byte cursor over a slice
//! and an MSB-first bit reader with Exp-Golomb codes (H.264 7.2, 9.1).

use super::error::MediaError;

/// Byte cursor; every read names what it was reading for the error.
pub(crate) struct ByteReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> ByteReader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, MediaError> {
        let b = *self.buf.get(self.pos).ok_or(MediaError::Truncated(what))?;
        self.pos += 1;
        Ok(b)
    }

    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, MediaError> {
        let s = self.take(2, what)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }

    pub(crate) fn u24(&mut self, what: &'static str) -> Result<u32, MediaError> {
        let s = self.take(3, what)?;
        Ok(u32::from_be_bytes([0, s[0], s[1], s[2]]))
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, MediaError> {
        let s = self.take(4, what)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// Returns the position of the taken range (for zero-copy slicing) too.
    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], MediaError> {
        let end = self.pos.checked_add(n).ok_or(MediaError::Truncated(what))?;
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or(MediaError::Truncated(what))?;
        self.pos = end;
        Ok(s)
    }
}

/// MSB-first bit reader.
pub(crate) struct BitReader<'a> {
    buf: &'a [u8],
    bit: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, bit: 0 }
    }

    pub(crate) fn bit(&mut self, what: &'static str) -> Result<bool, MediaError> {
        let byte = *self
            .buf
            .get(self.bit / 8)
            .ok_or(MediaError::Truncated(what))?;
        let v = (byte >> (7 - (self.bit % 8))) & 1;
        self.bit += 1;
        Ok(v == 1)
    }

    /// Reads `n` <= 32 bits.
    pub(crate) fn bits(&mut self, n: u32, what: &'static str) -> Result<u32, MediaError> {
        debug_assert!(n <= 32);
        let mut v: u32 = 0;
        for _ in 0..n {
            v = (v << 1) | u32::from(self.bit(what)?);
        }
        Ok(v)
    }

    pub(crate) fn skip(&mut self, n: u32, what: &'static str) -> Result<(), MediaError> {
        for _ in 0..n {
            self.bit(what)?;
        }
        Ok(())
    }

    /// Unsigned Exp-Golomb, ue(v). Values above 2^31 - 2 are rejected.
    pub(crate) fn ue(&mut self, what: &'static str) -> Result<u32, MediaError> {
        let mut zeros = 0u32;
        while !self.bit(what)? {
            zeros += 1;
            if zeros > 31 {
                return Err(MediaError::Invalid(what));
            }
        }
        if zeros == 0 {
            return Ok(0);
        }
        let rest = self.bits(zeros, what)?;
        // (1 << zeros) - 1 + rest, computed without overflow for zeros == 31.
        let base = (1u64 << zeros) - 1;
        u32::try_from(base + u64::from(rest)).map_err(|_| MediaError::Invalid(what))
    }

    /// Signed Exp-Golomb, se(v).
    pub(crate) fn se(&mut self, what: &'static str) -> Result<i32, MediaError> {
        let k = i64::from(self.ue(what)?);
        let v = if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) };
        i32::try_from(v).map_err(|_| MediaError::Invalid(what))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_golomb() {
        // 1 | 010 | 011 | 00100 | 00101 -> ue: 0, 1, 2, 3, 4
        let buf = [0b1010_0110, 0b0100_0010, 0b1000_0000];
        let mut r = BitReader::new(&buf);
        let v: Vec<u32> = (0..5).map(|_| r.ue("t").unwrap()).collect();
        assert_eq!(v, [0, 1, 2, 3, 4]);
        let buf = [0b0100_1100, 0b1000_0000];
        let mut r = BitReader::new(&buf);
        assert_eq!(r.se("t").unwrap(), 1);
        assert_eq!(r.se("t").unwrap(), -1);
        assert_eq!(r.se("t").unwrap(), 2);
    }

    #[test]
    fn exp_golomb_overlong_is_error() {
        let buf = [0u8; 8];
        assert!(BitReader::new(&buf).ue("t").is_err());
        let buf = [0u8; 2];
        assert!(BitReader::new(&buf).ue("t").is_err());
    }
}
