//! Avro binary primitives: zig-zag varints, length-prefixed strings, blocks.

use super::CodecError;

/// The two bytes every single-object encoded message starts with.
pub const MAGIC: [u8; 2] = [0xC3, 0x01];
/// Magic plus the 8-byte schema fingerprint.
pub const HEADER_LEN: usize = 10;

/// CRC-64-AVRO (Rabin) fingerprint of a schema's parsing canonical form,
/// as the Avro specification defines it.
pub fn rabin_fingerprint(canonical: &[u8]) -> u64 {
    const EMPTY: u64 = 0xc15d_213a_a4d7_a795;
    static TABLE: std::sync::OnceLock<[u64; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u64; 256];
        for (i, slot) in t.iter_mut().enumerate() {
            let mut fp = i as u64;
            for _ in 0..8 {
                fp = (fp >> 1) ^ (EMPTY & (fp & 1).wrapping_neg());
            }
            *slot = fp;
        }
        t
    });
    canonical.iter().fold(EMPTY, |fp, b| {
        (fp >> 8) ^ table[((fp ^ u64::from(*b)) & 0xff) as usize]
    })
}

pub fn put_long(buf: &mut Vec<u8>, v: i64) {
    let mut n = ((v << 1) ^ (v >> 63)) as u64;
    while n >= 0x80 {
        buf.push((n as u8) | 0x80);
        n >>= 7;
    }
    buf.push(n as u8);
}

pub fn put_str(buf: &mut Vec<u8>, s: &str) {
    put_long(buf, s.len() as i64);
    buf.extend_from_slice(s.as_bytes());
}

pub fn put_bool(buf: &mut Vec<u8>, v: bool) {
    buf.push(u8::from(v));
}

pub fn put_double(buf: &mut Vec<u8>, v: f64) {
    buf.extend_from_slice(&v.to_le_bytes());
}

/// Writes an array or map of `len` items; `item` writes one.
pub fn put_block<T>(
    buf: &mut Vec<u8>,
    items: impl ExactSizeIterator<Item = T>,
    mut item: impl FnMut(&mut Vec<u8>, T),
) {
    if items.len() > 0 {
        put_long(buf, items.len() as i64);
        for it in items {
            item(buf, it);
        }
    }
    put_long(buf, 0);
}

/// A cursor over an Avro body. Every read names the field it serves, so a
/// bad payload yields an error that says where it went wrong.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], CodecError> {
        if self.remaining() < n {
            return Err(CodecError::Truncated { field });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub fn long(&mut self, field: &'static str) -> Result<i64, CodecError> {
        let zigzag = |n: u64| ((n >> 1) as i64) ^ -((n & 1) as i64);
        // Union branches, lengths and counts nearly always fit one byte.
        if let Some(&b) = self.buf.get(self.pos)
            && b & 0x80 == 0
        {
            self.pos += 1;
            return Ok(zigzag(u64::from(b)));
        }
        let mut n: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.take(1, field)?[0];
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(zigzag(n));
            }
        }
        Err(CodecError::invalid(field, "varint longer than 10 bytes"))
    }

    pub fn int(&mut self, field: &'static str) -> Result<i32, CodecError> {
        let v = self.long(field)?;
        i32::try_from(v).map_err(|_| CodecError::invalid(field, format!("{v} does not fit an int")))
    }

    fn len(&mut self, field: &'static str) -> Result<usize, CodecError> {
        let n = self.long(field)?;
        let n = usize::try_from(n)
            .map_err(|_| CodecError::invalid(field, format!("negative length {n}")))?;
        if n > self.remaining() {
            return Err(CodecError::Truncated { field });
        }
        Ok(n)
    }

    pub fn str(&mut self, field: &'static str) -> Result<&'a str, CodecError> {
        let n = self.len(field)?;
        let bytes = self.take(n, field)?;
        std::str::from_utf8(bytes)
            .map_err(|e| CodecError::invalid(field, format!("not UTF-8: {e}")))
    }

    pub fn string(&mut self, field: &'static str) -> Result<String, CodecError> {
        self.str(field).map(str::to_owned)
    }

    pub fn bool(&mut self, field: &'static str) -> Result<bool, CodecError> {
        match self.take(1, field)?[0] {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(CodecError::invalid(field, format!("boolean byte {b}"))),
        }
    }

    pub fn double(&mut self, field: &'static str) -> Result<f64, CodecError> {
        let b = self.take(8, field)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_le_bytes(a))
    }

    /// Reads a union branch index below `branches`.
    pub fn branch(&mut self, field: &'static str, branches: usize) -> Result<usize, CodecError> {
        let i = self.long(field)?;
        usize::try_from(i)
            .ok()
            .filter(|i| *i < branches)
            .ok_or_else(|| CodecError::invalid(field, format!("union branch {i} of {branches}")))
    }

    /// Reads an array or map, calling `item` once per element.
    pub fn blocks(
        &mut self,
        field: &'static str,
        mut item: impl FnMut(&mut Self) -> Result<(), CodecError>,
    ) -> Result<(), CodecError> {
        loop {
            let count = self.long(field)?;
            if count == 0 {
                return Ok(());
            }
            if count < 0 {
                self.long(field)?; // block size in bytes, only useful for skipping
            }
            let count = count.unsigned_abs();
            // Every item takes at least one byte; a larger count is a lie.
            if count > self.remaining() as u64 {
                return Err(CodecError::Truncated { field });
            }
            for _ in 0..count {
                item(self)?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longs_round_trip_at_the_edges() {
        for v in [0, 1, -1, 63, -64, 64, i64::MAX, i64::MIN, 1 << 40] {
            let mut buf = Vec::new();
            put_long(&mut buf, v);
            assert_eq!(Reader::new(&buf).long("v").unwrap(), v);
        }
    }

    #[test]
    fn known_varint_bytes() {
        // From the Avro specification's zig-zag table.
        let mut buf = Vec::new();
        for v in [0, -1, 1, -2, 2, -64, 64] {
            put_long(&mut buf, v);
        }
        assert_eq!(buf, [0x00, 0x01, 0x02, 0x03, 0x04, 0x7f, 0x80, 0x01]);
    }

    #[test]
    fn fingerprint_of_null_schema_matches_the_specification() {
        // The specification's test vector: fingerprint64("\"null\"").
        assert_eq!(rabin_fingerprint(b"\"null\""), 0x63dd_24e7_cc25_8f8a);
    }
}
