//! Hugging Face `.safetensors` files (what `safetensors.torch.save_file`
//! writes): a JSON header naming each tensor's dtype, shape and byte range,
//! then the little-endian data. Parsed with the `safetensors` crate, which
//! validates the header and offsets.

use super::{array_path, decode, read_file, Array, Elem, ElemKind};
use crate::error::{Error, Result};
use safetensors::{Dtype, SafeTensors};
use std::path::Path;

fn parse<'a>(path: &Path, bytes: &'a [u8]) -> Result<SafeTensors<'a>> {
    SafeTensors::deserialize(bytes).map_err(|e| Error::Format {
        path: path.to_path_buf(),
        reason: format!("not a readable .safetensors file: {e:?}"),
    })
}

/// Tensor names, in the order of their data in the file.
pub fn list_safetensors(path: &Path) -> Result<Vec<String>> {
    let bytes = read_file(path)?;
    let st = parse(path, &bytes)?;
    let mut named: Vec<(usize, String)> = st
        .tensors()
        .into_iter()
        .map(|(n, t)| (t.data().as_ptr() as usize, n))
        .collect();
    named.sort();
    Ok(named.into_iter().map(|(_, n)| n).collect())
}

/// Reads tensor `name`; without a name the file must hold exactly one tensor.
pub fn read_safetensors(path: &Path, name: Option<&str>) -> Result<Array> {
    let bytes = read_file(path)?;
    let st = parse(path, &bytes)?;
    let mut names: Vec<String> = st.names().into_iter().cloned().collect();
    names.sort();
    let name = match name {
        Some(n) => n.to_string(),
        None if names.len() == 1 => names[0].clone(),
        None => {
            return Err(Error::Format {
                path: path.to_path_buf(),
                reason: format!(
                    "the file holds {} tensors ({}); name one as `{}:NAME`",
                    names.len(),
                    names.join(", "),
                    path.display()
                ),
            })
        }
    };
    let what = array_path(path, Some(&name));
    let t = st.tensor(&name).map_err(|_| Error::Format {
        path: what.clone(),
        reason: format!("no such tensor; the file holds: {}", names.join(", ")),
    })?;
    let (kind, size) = match t.dtype() {
        Dtype::BOOL => (ElemKind::Bool, 1),
        Dtype::U8 => (ElemKind::UInt, 1),
        Dtype::I8 => (ElemKind::Int, 1),
        Dtype::I16 => (ElemKind::Int, 2),
        Dtype::U16 => (ElemKind::UInt, 2),
        Dtype::F16 => (ElemKind::Float, 2),
        Dtype::BF16 => (ElemKind::BFloat, 2),
        Dtype::I32 => (ElemKind::Int, 4),
        Dtype::U32 => (ElemKind::UInt, 4),
        Dtype::F32 => (ElemKind::Float, 4),
        Dtype::F64 => (ElemKind::Float, 8),
        Dtype::I64 => (ElemKind::Int, 8),
        Dtype::U64 => (ElemKind::UInt, 8),
        other => {
            return Err(Error::Format {
                path: what,
                reason: format!("unsupported dtype {other:?}"),
            })
        }
    };
    let elem = Elem {
        kind,
        size,
        big_endian: false,
    };
    let shape = t.shape().to_vec();
    let conv = decode(&what, t.data(), elem, &shape, false)?;
    Ok(Array {
        name: what.display().to_string(),
        shape,
        data: conv.values,
        discrete: elem.discrete(),
        map: conv.map,
        notes: conv.notes,
    })
}
