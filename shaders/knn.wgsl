// knn.wgsl — k-th nearest neighbour by brute force (KSG, Kozachenko–Leonenko).
//
// Each slot (query row) of an invocation keeps its k best (distance, index)
// pairs sorted in private memory: ascending distance, ties by the lower
// reference index, exactly as `KList` in src/kernels/cpu/knn.rs. The lists
// live in `best_d`/`best_i` between dispatches (one per reference block), so
// blocks merge exactly; a query block's first reference block starts them at
// (+inf, u32::MAX). A reference must beat the slot's current k-th entry, kept
// in registers (`kd`, `ki`), before the list in private memory is touched.
//
// Reference slice z (ref_scan.wgsl) keeps its own lists, at list
// z * n_q + query; `merge` then takes the k smallest of the slices' lists by
// (distance, then lower index) into region `p.slices`. Every index is in
// exactly one slice, so that is the k smallest of all references: the
// CPU's lists, to the bit.

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
    scan_setup(linear_index(wid, lid, p.groups_x), wid.z);
    // The live slots' lists are consecutive in the buffers (in this slice's region).
    let first = (wid.z * p.n_q + qrow.x) * p.k;
    let n = live * p.k;
    if (p.first_block != 0u) {
        let inf = bitcast<f32>(0x7f800000u);
        for (var e = 0u; e < n; e++) {
            dl[e] = inf;
            il[e] = 0xffffffffu;
        }
    } else {
        for (var e = 0u; e < n; e++) {
            dl[e] = best_d[first + e];
            il[e] = best_i[first + e];
        }
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

// Each slice's next unmerged entry (absolute list position).
var<private> head: array<u32, MAX_SLICES>;

// One invocation per query of the block: the k-way merge of its
// `p.slices` sorted lists into list `p.slices * n_q + query`.
@compute @workgroup_size(WG_SIZE)
fn merge(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, lid, p.groups_x);
    if (i >= p.n_q) {
        return;
    }
    for (var z = 0u; z < p.slices; z++) {
        head[z] = (z * p.n_q + i) * p.k;
    }
    let out = (p.slices * p.n_q + i) * p.k;
    // Fewer than k entries are taken before the last step, so no list runs out.
    for (var t = 0u; t < p.k; t++) {
        var bz = 0u;
        var bd = best_d[head[0]];
        var bj = best_i[head[0]];
        for (var z = 1u; z < p.slices; z++) {
            let d = best_d[head[z]];
            let j = best_i[head[z]];
            if (before(d, j, bd, bj)) {
                bz = z;
                bd = d;
                bj = j;
            }
        }
        best_d[out + t] = bd;
        best_i[out + t] = bj;
        head[bz] += 1u;
    }
}
