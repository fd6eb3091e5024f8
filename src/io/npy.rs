//! NumPy `.npy` files (NEP 1, format versions 1.0, 2.0 and 3.0).
//!
//! Layout: the magic `\x93NUMPY`, two version bytes, a little-endian header
//! length (u16 in 1.0, u32 in 2.0/3.0), then a Python dict literal such as
//! `{'descr': '<f4', 'fortran_order': False, 'shape': (100, 8), }`, then the raw
//! data. Our own parser handles every dtype the issue asks for (f16/f32/f64,
//! signed and unsigned integers, bool, either byte order, C or Fortran order)
//! and rejects structured dtypes and object arrays with a message.

use super::{array_path, check_shape, decode, read_file, Array, Elem, ElemKind};
use crate::error::{Error, Result};
use std::path::Path;

const MAGIC: &[u8] = b"\x93NUMPY";

/// Reads a `.npy` file.
pub fn read_npy(path: &Path) -> Result<Array> {
    let bytes = read_file(path)?;
    parse_npy(&bytes, path, None)
}

/// Parses the bytes of a `.npy` file; `path` and `array` name it in errors.
pub fn parse_npy(bytes: &[u8], path: &Path, array: Option<&str>) -> Result<Array> {
    let what = array_path(path, array);
    let bad = |reason: String| Error::Format {
        path: what.clone(),
        reason,
    };
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(bad(
            "not a .npy array: the file does not start with the \\x93NUMPY magic".into(),
        ));
    }
    let major = bytes[6];
    let (header_len, start): (usize, usize) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(bad("truncated .npy header".into()));
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        v => return Err(bad(format!("unsupported .npy format version {v}"))),
    };
    let end = start
        .checked_add(header_len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| {
            bad(format!(
                "truncated .npy header: it claims {header_len} bytes, the file has {}",
                bytes.len().saturating_sub(start)
            ))
        })?;
    let header = std::str::from_utf8(&bytes[start..end])
        .map_err(|_| bad("the .npy header is not text".into()))?;
    let h = Header::parse(header)
        .map_err(|e| bad(format!("bad .npy header `{}`: {e}", header.trim())))?;
    let elem = parse_descr(&h.descr).map_err(bad)?;
    check_shape(&what, &h.shape)?;
    let conv = decode(&what, &bytes[end..], elem, &h.shape, h.fortran)?;
    Ok(Array {
        name: what.display().to_string(),
        shape: h.shape,
        data: conv.values,
        discrete: elem.discrete(),
        map: conv.map,
        notes: conv.notes,
    })
}

/// A NumPy dtype string such as `<f4`, `>i8`, `|b1`, `|u1`.
fn parse_descr(descr: &str) -> std::result::Result<Elem, String> {
    let b = descr.as_bytes();
    if b.len() < 2 {
        return Err(format!("unsupported dtype `{descr}`"));
    }
    let (order, rest) = match b[0] {
        b'<' | b'>' | b'|' | b'=' => (b[0], &descr[1..]),
        _ => (b'=', descr),
    };
    // `=` is native order; NumPy writes explicit order, and every platform we build for is little-endian.
    let big_endian = order == b'>';
    let (code, size) = rest.split_at(1);
    let size: usize = size
        .parse()
        .map_err(|_| format!("unsupported dtype `{descr}`"))?;
    let kind = match code {
        "f" => ElemKind::Float,
        "i" => ElemKind::Int,
        "u" => ElemKind::UInt,
        "b" => ElemKind::Bool,
        "?" => ElemKind::Bool,
        _ => {
            return Err(format!(
                "unsupported dtype `{descr}`: expected a float (f2, f4, f8), integer (i1..i8, u1..u8) or bool (b1)"
            ))
        }
    };
    let ok = match kind {
        ElemKind::Float => matches!(size, 2 | 4 | 8),
        ElemKind::Int | ElemKind::UInt => matches!(size, 1 | 2 | 4 | 8),
        ElemKind::Bool => size == 1,
        ElemKind::BFloat => false,
    };
    if !ok {
        return Err(format!("unsupported dtype `{descr}`"));
    }
    Ok(Elem {
        kind,
        size,
        big_endian,
    })
}

/// The three keys of a `.npy` header.
#[derive(Debug, PartialEq)]
struct Header {
    descr: String,
    fortran: bool,
    shape: Vec<usize>,
}

impl Header {
    /// A small parser for the dict literal NumPy writes; tolerant of spacing
    /// and key order, strict about everything else.
    fn parse(text: &str) -> std::result::Result<Header, String> {
        let mut p = Lexer {
            s: text.trim().as_bytes(),
            i: 0,
        };
        p.expect(b'{')?;
        let (mut descr, mut fortran, mut shape) = (None, None, None);
        loop {
            p.ws();
            if p.eat(b'}') {
                break;
            }
            let key = p.string()?;
            p.ws();
            p.expect(b':')?;
            p.ws();
            match key.as_str() {
                "descr" => {
                    if p.peek() == Some(b'[') {
                        return Err(
                            "structured dtypes are not supported: save a plain numeric array"
                                .into(),
                        );
                    }
                    descr = Some(p.string()?)
                }
                "fortran_order" => fortran = Some(p.boolean()?),
                "shape" => shape = Some(p.tuple()?),
                other => return Err(format!("unexpected key `{other}`")),
            }
            p.ws();
            if !p.eat(b',') {
                p.ws();
                p.expect(b'}')?;
                break;
            }
        }
        Ok(Header {
            descr: descr.ok_or("missing `descr`")?,
            fortran: fortran.ok_or("missing `fortran_order`")?,
            shape: shape.ok_or("missing `shape`")?,
        })
    }
}

struct Lexer<'a> {
    s: &'a [u8],
    i: usize,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, c: u8) -> std::result::Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected `{}` at byte {}", c as char, self.i))
        }
    }
    fn string(&mut self) -> std::result::Result<String, String> {
        let q = self.peek().ok_or("unexpected end")?;
        if q != b'\'' && q != b'"' {
            return Err(format!("expected a quoted string at byte {}", self.i));
        }
        self.i += 1;
        let start = self.i;
        while self.peek().is_some_and(|c| c != q) {
            self.i += 1;
        }
        let s = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
        self.expect(q)?;
        Ok(s)
    }
    fn boolean(&mut self) -> std::result::Result<bool, String> {
        let rest = &self.s[self.i..];
        if rest.starts_with(b"True") {
            self.i += 4;
            Ok(true)
        } else if rest.starts_with(b"False") {
            self.i += 5;
            Ok(false)
        } else {
            Err(format!("expected True or False at byte {}", self.i))
        }
    }
    fn tuple(&mut self) -> std::result::Result<Vec<usize>, String> {
        self.expect(b'(')?;
        let mut out = Vec::new();
        loop {
            self.ws();
            if self.eat(b')') {
                return Ok(out);
            }
            let start = self.i;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.i += 1;
            }
            // Python 2 NumPy wrote long integers as `3L`.
            let digits = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
            let v: usize = digits
                .parse()
                .map_err(|_| format!("expected a dimension at byte {start}"))?;
            self.eat(b'L');
            out.push(v);
            self.ws();
            if !self.eat(b',') {
                self.ws();
                self.expect(b')')?;
                return Ok(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_variants() {
        let h =
            Header::parse("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }").unwrap();
        assert_eq!(
            h,
            Header {
                descr: "<f4".into(),
                fortran: false,
                shape: vec![3, 4]
            }
        );
        let h = Header::parse("{'shape': (5,), 'fortran_order': True, 'descr': '|b1'}").unwrap();
        assert_eq!(h.shape, vec![5]);
        assert!(h.fortran);
        assert_eq!(
            Header::parse("{'descr': '<f8', 'fortran_order': False, 'shape': ()}")
                .unwrap()
                .shape,
            Vec::<usize>::new()
        );
        assert!(
            Header::parse("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,)}")
                .is_err()
        );
        assert!(Header::parse("{'descr': '<f4'").is_err());
    }

    #[test]
    fn descr_codes() {
        assert!(parse_descr(">i2").unwrap().big_endian);
        assert_eq!(parse_descr("<f2").unwrap().kind, ElemKind::Float);
        assert!(parse_descr("<c8").is_err());
        assert!(parse_descr("<f3").is_err());
        assert!(parse_descr("|O").is_err());
    }
}
