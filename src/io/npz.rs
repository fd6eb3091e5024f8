//! NumPy `.npz` archives: a zip file of `.npy` members, stored (`np.savez`)
//! or deflated (`np.savez_compressed`). Array `name` is the member `name.npy`.

use super::{array_path, npy::parse_npy, Array};
use crate::error::{Error, Result};
use std::io::Read;
use std::path::Path;

fn open(path: &Path) -> Result<zip::ZipArchive<std::fs::File>> {
    let f = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    zip::ZipArchive::new(f).map_err(|e| Error::Format {
        path: path.to_path_buf(),
        reason: format!("not a readable .npz (zip) archive: {e}"),
    })
}

/// The array names in a `.npz` archive, in archive order.
pub fn list_npz(path: &Path) -> Result<Vec<String>> {
    let z = open(path)?;
    Ok((0..z.len())
        .filter_map(|i| z.name_for_index(i))
        .filter_map(|n| n.strip_suffix(".npy").map(str::to_string))
        .collect())
}

/// Reads array `name` from a `.npz`; without a name the archive must hold exactly one array.
pub fn read_npz(path: &Path, name: Option<&str>) -> Result<Array> {
    let names = list_npz(path)?;
    let name = match name {
        Some(n) => n.to_string(),
        None if names.len() == 1 => names[0].clone(),
        None => {
            return Err(Error::Format {
                path: path.to_path_buf(),
                reason: format!(
                    "the archive holds {} arrays ({}); name one as `{}:NAME`",
                    names.len(),
                    names.join(", "),
                    path.display()
                ),
            })
        }
    };
    let mut z = open(path)?;
    let what = array_path(path, Some(&name));
    let mut member = z
        .by_name(&format!("{name}.npy"))
        .map_err(|_| Error::Format {
            path: what.clone(),
            reason: format!("no such array; the archive holds: {}", names.join(", ")),
        })?;
    // The declared size bounds the allocation; a lying header only shortens the read.
    let declared = member.size();
    let mut bytes = Vec::with_capacity(declared.min(1 << 26) as usize);
    member
        .by_ref()
        .take(declared)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::Format {
            path: what.clone(),
            reason: format!("cannot decompress the member: {e}"),
        })?;
    parse_npy(&bytes, path, Some(&name))
}
