// knn.wgsl — k-th nearest neighbour by brute force (KSG, Kozachenko–Leonenko).
//
// Each slot (query row) of an invocation keeps its k best (distance, index)
// pairs sorted in private memory: ascending distance, ties by the lower
// reference index, exactly as `KList` in src/kernels/cpu/knn.rs. The lists
// live in `best_d`/`best_i` between dispatches (one per reference block), so
// blocks merge exactly; the host initialises them to (+inf, u32::MAX). A
// reference must beat the slot's current k-th entry, kept in registers
// (`kd`, `ki`), before the list in private memory is touched.

@group(0) @binding(4) var<storage, read_write> best_d: array<f32>;
@group(0) @binding(5) var<storage, read_write> best_i: array<u32>;

// Slot s's list at s * k.
var<private> dl: array<f32, MAX_QPI * MAX_K>;
var<private> il: array<u32, MAX_QPI * MAX_K>;
// Each slot's k-th entry.
var<private> kd: vec4<f32>;
var<private> ki: vec4<u32>;

fn before(d: f32, j: u32, pd: f32, pj: u32) -> bool {
    return d < pd || (d == pd && j < pj);
}

fn consume(d: f32, slot: u32, jl: u32) {
    let j = p.r_offset + jl;
    if (!before(d, j, kd[slot], ki[slot])) {
        return;
    }
    let base = slot * p.k;
    var s = p.k - 1u;
    while (s > 0u && before(d, j, dl[base + s - 1u], il[base + s - 1u])) {
        dl[base + s] = dl[base + s - 1u];
        il[base + s] = il[base + s - 1u];
        s -= 1u;
    }
    dl[base + s] = d;
    il[base + s] = j;
    kd[slot] = dl[base + p.k - 1u];
    ki[slot] = il[base + p.k - 1u];
}

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    scan_setup(linear_index(wid, lid, p.groups_x));
    // The live slots' lists are consecutive in the buffers.
    let first = qrow.x * p.k;
    let n = live * p.k;
    for (var e = 0u; e < n; e++) {
        dl[e] = best_d[first + e];
        il[e] = best_i[first + e];
    }
    let last = vec4<u32>(1u, 2u, 3u, 4u) * p.k - 1u;
    kd = vec4<f32>(dl[last.x], dl[last.y], dl[last.z], dl[last.w]);
    ki = vec4<u32>(il[last.x], il[last.y], il[last.z], il[last.w]);
    scan_refs(lid);
    for (var e = 0u; e < n; e++) {
        best_d[first + e] = dl[e];
        best_i[first + e] = il[e];
    }
}
