//! Reading activations, inputs and labels from files.
//!
//! Researchers save activations from Python: NumPy's `.npy`/`.npz`
//! (the format is specified in NEP 1, "A simple file format for NumPy
//! arrays"), PyTorch's `.safetensors`, or plain CSV. This module turns any of
//! them into an [`Array`]: `f32` values in row-major (C) order, a shape, and
//! whether the values are discrete symbols (labels, bits) or measurements.
//!
//! Conventions (also in `docs/formats.md`):
//! - 1-D arrays are `n × 1`; 2-D arrays are `n × d`; arrays of 3 or more
//!   dimensions (`n × h × w`, `n × c × h × w`) are flattened to
//!   `n × (h·w·…)` in C order, i.e. the first axis is always the sample axis.
//!   0-D arrays (scalars) and arrays with no rows or no columns are rejected.
//! - Integer and bool arrays are discrete; float arrays are continuous unless
//!   the user marks them (`--discrete`). Integers must lie within ±2^24 so that
//!   every symbol survives the conversion to f32 exactly.
//! - Every value must be finite.
//! - Float64 values keep their precision until the conversion to f32: a
//!   column is stored relative to its f64 mean, and an array by a power of
//!   two, where that keeps bits f32 would lose (see [`crate::data::convert`];
//!   [`Array::map`] records it). f32 values are stored as they are unless
//!   they are subnormal or far outside 2^-60 .. 2^60.
//!
//! Every error names the file, the array inside it and the shape or value at
//! fault; malformed input never panics.

mod csv;
mod npy;
mod npz;
mod safetensors;

pub use self::csv::read_csv;
pub use self::npy::{parse_npy, read_npy};
pub use self::npz::{list_npz, read_npz};
pub use self::safetensors::{list_safetensors, read_safetensors};

use crate::data::{convert_f64, fit_f32, Converted, Dataset, ValueMap};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// Largest integer magnitude that f32 holds exactly (2^24): beyond it two
/// distinct integer symbols could become one.
pub const MAX_EXACT_INT: f64 = 16_777_216.0;

/// One array read from a file, converted to f32 in row-major order.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    /// `file` or `file:array`, used in every message.
    pub name: String,
    /// The shape as stored in the file.
    pub shape: Vec<usize>,
    /// Stored values in C order (`n × d` after flattening the trailing axes):
    /// the file's values, or, where [`Array::map`] is not the identity, the
    /// file's values centred and scaled as it records.
    pub data: Vec<f32>,
    /// Integer or bool storage (or marked discrete by the user): each row is one symbol.
    pub discrete: bool,
    /// `file value = origin_c + 2^e · stored` (the identity unless float64
    /// precision or an extreme scale needed it).
    pub map: ValueMap,
    /// What the conversion to f32 noted (centring, scaling, values stored as 0).
    pub notes: Vec<String>,
}

impl Array {
    /// Rows: the length of the first axis.
    pub fn n(&self) -> usize {
        self.shape.first().copied().unwrap_or(0)
    }
    /// Columns: the product of the remaining axes (1 for a 1-D array).
    pub fn d(&self) -> usize {
        self.shape.iter().skip(1).product()
    }
    /// The validated matrix (finite values, at least one row and column),
    /// with the map to the file's values.
    pub fn to_dataset(&self) -> Result<Dataset> {
        self.clone().into_dataset()
    }
    /// Like [`Array::to_dataset`], without copying.
    pub fn into_dataset(self) -> Result<Dataset> {
        let (n, d) = (self.n(), self.d());
        let map = if self.map.origin().len() == d {
            self.map
        } else {
            ValueMap::identity(d)
        };
        Dataset::with_map(self.name, self.data, n, d, map, self.notes)
    }
}

/// The file kinds infoplane reads, chosen by extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// NumPy `.npy`.
    Npy,
    /// NumPy `.npz` (zip of `.npy`, stored or deflated).
    Npz,
    /// Hugging Face `.safetensors`.
    Safetensors,
    /// Comma-separated values, header optional.
    Csv,
}

impl FileKind {
    /// The kind of `path` from its extension.
    pub fn of(path: &Path) -> Result<FileKind> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase());
        match ext.as_deref() {
            Some("npy") => Ok(FileKind::Npy),
            Some("npz") => Ok(FileKind::Npz),
            Some("safetensors") => Ok(FileKind::Safetensors),
            Some("csv") | Some("txt") | Some("tsv") => Ok(FileKind::Csv),
            _ => Err(Error::Format {
                path: path.to_path_buf(),
                reason: "unknown file type: expected .npy, .npz, .safetensors or .csv".into(),
            }),
        }
    }
}

/// Splits `file.npz:name` into the file and the array name. A path that exists
/// as given is taken whole (so a file name may itself contain a colon).
pub fn split_spec(spec: &str) -> (PathBuf, Option<String>) {
    if Path::new(spec).exists() {
        return (PathBuf::from(spec), None);
    }
    match spec.rfind(':') {
        // A single drive letter ("C:\data") is not an array name.
        Some(i) if i > 1 && i + 1 < spec.len() => {
            (PathBuf::from(&spec[..i]), Some(spec[i + 1..].to_string()))
        }
        _ => (PathBuf::from(spec), None),
    }
}

/// Reads one array from `file`, `file.npz:name`, `file.safetensors:name` or
/// `file.csv:col1,col2` (columns picked by header name).
pub fn load(spec: &str) -> Result<Array> {
    let (path, name) = split_spec(spec);
    match FileKind::of(&path)? {
        FileKind::Npy => {
            if let Some(name) = name {
                return Err(Error::Format {
                    path,
                    reason: format!("a .npy file holds one array; cannot select `{name}`"),
                });
            }
            read_npy(&path)
        }
        FileKind::Npz => read_npz(&path, name.as_deref()),
        FileKind::Safetensors => read_safetensors(&path, name.as_deref()),
        FileKind::Csv => read_csv(&path, name.as_deref()),
    }
}

/// Every array in a `.npz` or `.safetensors` file, in the file's order
/// (or the one array of a `.npy`/`.csv`, named by the file stem).
pub fn load_all(path: &Path) -> Result<Vec<(String, Array)>> {
    let stem = || {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    match FileKind::of(path)? {
        FileKind::Npy => Ok(vec![(stem(), read_npy(path)?)]),
        FileKind::Csv => Ok(vec![(stem(), read_csv(path, None)?)]),
        FileKind::Npz => list_npz(path)?
            .into_iter()
            .map(|n| read_npz(path, Some(&n)).map(|a| (n, a)))
            .collect(),
        FileKind::Safetensors => list_safetensors(path)?
            .into_iter()
            .map(|n| read_safetensors(path, Some(&n)).map(|a| (n, a)))
            .collect(),
    }
}

pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// `file:array` as a path, for [`Error::Format`].
pub(crate) fn array_path(path: &Path, array: Option<&str>) -> PathBuf {
    match array {
        Some(a) => PathBuf::from(format!("{}:{a}", path.display())),
        None => path.to_path_buf(),
    }
}

/// The element types the binary formats store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ElemKind {
    Bool,
    Int,
    UInt,
    Float,
    /// bfloat16 (safetensors only).
    BFloat,
}

/// One element type: kind, size in bytes, byte order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Elem {
    pub kind: ElemKind,
    pub size: usize,
    pub big_endian: bool,
}

impl Elem {
    pub fn discrete(&self) -> bool {
        matches!(self.kind, ElemKind::Bool | ElemKind::Int | ElemKind::UInt)
    }
}

/// Checks a shape (at least one axis, rows and columns non-empty) and returns
/// its element count, guarding the multiplication against overflow.
pub(crate) fn check_shape(what: &Path, shape: &[usize]) -> Result<usize> {
    let shown = format!("{shape:?}");
    if shape.is_empty() {
        return Err(Error::Format {
            path: what.to_path_buf(),
            reason:
                "a 0-D array (a scalar) has no samples: expected shape (n,), (n, d) or (n, ...)"
                    .into(),
        });
    }
    if shape.contains(&0) {
        return Err(Error::Format {
            path: what.to_path_buf(),
            reason: format!("shape {shown} is empty: need at least one row and one column"),
        });
    }
    shape
        .iter()
        .try_fold(1usize, |acc, &s| acc.checked_mul(s))
        .ok_or_else(|| Error::Format {
            path: what.to_path_buf(),
            reason: format!("shape {shown} is too large"),
        })
}

/// Decodes `count` elements of type `elem` from `bytes` into stored f32
/// values in C order with their map (see [`crate::data::convert`]).
/// `fortran` means the bytes are in column-major order for `shape`.
pub(crate) fn decode(
    what: &Path,
    bytes: &[u8],
    elem: Elem,
    shape: &[usize],
    fortran: bool,
) -> Result<Converted> {
    let count = check_shape(what, shape)?;
    let need = count.checked_mul(elem.size).ok_or_else(|| Error::Format {
        path: what.to_path_buf(),
        reason: format!("shape {shape:?} is too large"),
    })?;
    if bytes.len() != need {
        return Err(Error::Format {
            path: what.to_path_buf(),
            reason: format!(
                "shape {shape:?} of {}-byte elements needs {need} bytes of data, the file has {}",
                elem.size,
                bytes.len()
            ),
        });
    }
    let mut out = Vec::with_capacity(count);
    macro_rules! ints {
        ($t:ty, $dst:expr) => {{
            for c in bytes.chunks_exact(elem.size) {
                let a = c.try_into().expect("chunk of the element size");
                let v = if elem.big_endian {
                    <$t>::from_be_bytes(a)
                } else {
                    <$t>::from_le_bytes(a)
                };
                $dst.push(v as f64);
            }
        }};
    }
    match (elem.kind, elem.size) {
        (ElemKind::Float, 4) => {
            for c in bytes.chunks_exact(4) {
                let a: [u8; 4] = c.try_into().expect("4-byte chunk");
                out.push(if elem.big_endian {
                    f32::from_be_bytes(a)
                } else {
                    f32::from_le_bytes(a)
                });
            }
        }
        (ElemKind::Float, 2) | (ElemKind::BFloat, 2) => {
            for c in bytes.chunks_exact(2) {
                let a: [u8; 2] = c.try_into().expect("2-byte chunk");
                let bits = if elem.big_endian {
                    u16::from_be_bytes(a)
                } else {
                    u16::from_le_bytes(a)
                };
                out.push(if elem.kind == ElemKind::BFloat {
                    half::bf16::from_bits(bits).to_f32()
                } else {
                    half::f16::from_bits(bits).to_f32()
                });
            }
        }
        (ElemKind::Float, 8) => {
            // Kept in f64 until the conversion, which centres and scales
            // where f32 would lose bits.
            let mut wide: Vec<f64> = bytes
                .chunks_exact(8)
                .map(|c| {
                    let a: [u8; 8] = c.try_into().expect("8-byte chunk");
                    if elem.big_endian {
                        f64::from_be_bytes(a)
                    } else {
                        f64::from_le_bytes(a)
                    }
                })
                .collect();
            if fortran && shape.len() > 1 {
                wide = fortran_to_c(&wide, shape);
            }
            let (n, d) = (shape[0], count / shape[0]);
            return convert_f64(&what.display().to_string(), &wide, n, d);
        }
        (ElemKind::Bool, 1) => out.extend(bytes.iter().map(|&b| f32::from(u8::from(b != 0)))),
        (ElemKind::Int | ElemKind::UInt, size) => {
            // Integers go through f64 first so the ±2^24 check sees the true value.
            let mut wide: Vec<f64> = Vec::with_capacity(count);
            match (elem.kind, size) {
                (ElemKind::Int, 1) => ints!(i8, wide),
                (ElemKind::Int, 2) => ints!(i16, wide),
                (ElemKind::Int, 4) => ints!(i32, wide),
                (ElemKind::Int, 8) => ints!(i64, wide),
                (ElemKind::UInt, 1) => ints!(u8, wide),
                (ElemKind::UInt, 2) => ints!(u16, wide),
                (ElemKind::UInt, 4) => ints!(u32, wide),
                (ElemKind::UInt, 8) => ints!(u64, wide),
                _ => {
                    return Err(Error::Format {
                        path: what.to_path_buf(),
                        reason: format!("unsupported {size}-byte integer type"),
                    })
                }
            }
            if let Some(pos) = wide.iter().position(|v| v.abs() > MAX_EXACT_INT) {
                return Err(Error::Format {
                    path: what.to_path_buf(),
                    reason: format!(
                        "integer {} at flat index {pos} is beyond ±2^24 and would not survive conversion to f32",
                        wide[pos]
                    ),
                });
            }
            out.extend(wide.iter().map(|&v| v as f32));
        }
        (kind, size) => {
            return Err(Error::Format {
                path: what.to_path_buf(),
                reason: format!("unsupported element type: {kind:?} of {size} bytes"),
            })
        }
    }
    if fortran && shape.len() > 1 {
        out = fortran_to_c(&out, shape);
    }
    let (n, d) = (shape[0], count / shape[0]);
    if elem.discrete() {
        return Ok(Converted {
            values: out,
            map: ValueMap::identity(d),
            notes: Vec::new(),
        });
    }
    fit_f32(&what.display().to_string(), out, n, d)
}

/// Reorders column-major values of `shape` into row-major order.
fn fortran_to_c<T: Copy>(src: &[T], shape: &[usize]) -> Vec<T> {
    let nd = shape.len();
    // Column-major strides: axis 0 varies fastest.
    let mut fstride = vec![1usize; nd];
    for k in 1..nd {
        fstride[k] = fstride[k - 1] * shape[k - 1];
    }
    let mut out = Vec::with_capacity(src.len());
    let mut idx = vec![0usize; nd];
    for _ in 0..src.len() {
        let off: usize = idx.iter().zip(&fstride).map(|(i, s)| i * s).sum();
        out.push(src[off]);
        // Advance the row-major multi-index: the last axis varies fastest.
        for k in (0..nd).rev() {
            idx[k] += 1;
            if idx[k] < shape[k] {
                break;
            }
            idx[k] = 0;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fortran_reorder_matches_c_order() {
        // 2×3 array [[0,1,2],[3,4,5]] in Fortran order is 0,3,1,4,2,5.
        let f = [0.0, 3.0, 1.0, 4.0, 2.0, 5.0];
        assert_eq!(
            fortran_to_c(&f, &[2, 3]),
            vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
        );
        // 2×2×2: C value = 4i + 2j + k; Fortran offset = i + 2j + 4k.
        let mut f3 = vec![0.0; 8];
        for i in 0..2 {
            for j in 0..2 {
                for k in 0..2 {
                    f3[i + 2 * j + 4 * k] = (4 * i + 2 * j + k) as f32;
                }
            }
        }
        let c: Vec<f32> = (0..8).map(|v| v as f32).collect();
        assert_eq!(fortran_to_c(&f3, &[2, 2, 2]), c);
    }

    #[test]
    fn spec_splits_on_the_last_colon() {
        let (p, n) = split_spec("/no/such/run.npz:layer1");
        assert_eq!(p, PathBuf::from("/no/such/run.npz"));
        assert_eq!(n.as_deref(), Some("layer1"));
        let (_, n) = split_spec("/no/such/x.npy");
        assert_eq!(n, None);
    }
}
