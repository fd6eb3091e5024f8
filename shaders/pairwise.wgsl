// pairwise.wgsl — one tile of the distance matrix (diagnostics and `check`):
// out[lq · n_r + j] for the query and reference blocks of this dispatch.

@group(0) @binding(4) var<storage, read_write> out: array<f32>;

fn consume(d: f32, slot: u32, jl: u32) {
    out[qrow[slot] * p.n_r + jl] = d;
}

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    scan_setup(linear_index(wid, lid, p.groups_x), wid.z);
    scan_refs(lid);
}
