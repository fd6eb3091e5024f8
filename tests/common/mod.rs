//! Helpers shared by the integration tests (each test file that uses them
//! says `mod common;`; not every file uses every helper).
#![allow(dead_code)]

use infoplane::kernels::cpu::KList;
use infoplane::kernels::{CountSpec, KnnSpec, Rows};
use std::path::Path;

/// A version-1.0 `.npy` file: the header dict padded to a multiple of 64
/// bytes, then `payload` as given (which may lie about the shape on purpose).
pub fn npy_bytes(descr: &str, shape: &str, fortran: bool, payload: &[u8]) -> Vec<u8> {
    let dict = format!(
        "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
        if fortran { "True" } else { "False" }
    );
    let mut h = dict.into_bytes();
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(b' ');
    }
    h.push(b'\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(h.len() as u16).to_le_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(payload);
    out
}

/// Little-endian f32 values as `.npy` bytes of the given shape.
pub fn npy_f32(v: &[f32], shape: &str) -> Vec<u8> {
    let payload: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    npy_bytes("<f4", shape, false, &payload)
}

/// Writes `v` as an `n × d` little-endian f32 `.npy` file.
pub fn write_npy_f32(path: &Path, v: &[f32], n: usize, d: usize) {
    std::fs::write(path, npy_f32(v, &format!("({n}, {d})"))).unwrap();
}

/// The k nearest by brute force: k-th distances and indices, ties to the
/// lower index (the reference of the pruned CPU scans).
pub fn knn_brute(q: Rows<'_>, r: Rows<'_>, spec: &KnnSpec) -> (Vec<f32>, Vec<u32>) {
    let mut kth = Vec::new();
    let mut idx = Vec::new();
    for i in 0..q.n() {
        let mut list = KList::new(spec.k);
        for j in 0..r.n() {
            if !(spec.exclude_self && i == j) {
                list.offer(spec.metric.distance(q.row(i), r.row(j)), j as u32);
            }
        }
        kth.push(list.worst());
        idx.extend_from_slice(list.indices());
    }
    (kth, idx)
}

/// Neighbours within each query's radius, by brute force.
pub fn count_brute(q: Rows<'_>, r: Rows<'_>, radii: &[f32], spec: &CountSpec) -> Vec<u32> {
    (0..q.n())
        .map(|i| {
            (0..r.n())
                .filter(|&j| !(spec.exclude_self && i == j))
                .filter(|&j| {
                    spec.boundary
                        .admits(spec.metric.distance(q.row(i), r.row(j)), radii[i])
                })
                .count() as u32
        })
        .collect()
}
