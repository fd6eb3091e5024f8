// knn.wgsl — k-th nearest neighbour by brute force (KSG, Kozachenko–Leonenko).
//
// Each invocation keeps its query's k best (distance, index) pairs sorted in
// private memory: ascending distance, ties by the lower reference index,
// exactly as `KList` in src/kernels/cpu/knn.rs. The list lives in
// `best_d`/`best_i` between dispatches (one per reference block), so blocks
// merge exactly; the host initialises it to (+inf, u32::MAX).

@group(0) @binding(4) var<storage, read_write> best_d: array<f32>;
@group(0) @binding(5) var<storage, read_write> best_i: array<u32>;

var<private> dl: array<f32, MAX_K>;
var<private> il: array<u32, MAX_K>;

fn before(d: f32, j: u32, pd: f32, pj: u32) -> bool {
    return d < pd || (d == pd && j < pj);
}

fn consume(d: f32, lq: u32, jl: u32) {
    let j = p.r_offset + jl;
    let last = p.k - 1u;
    if (!before(d, j, dl[last], il[last])) {
        return;
    }
    var s = last;
    while (s > 0u && before(d, j, dl[s - 1u], il[s - 1u])) {
        dl[s] = dl[s - 1u];
        il[s] = il[s - 1u];
        s -= 1u;
    }
    dl[s] = d;
    il[s] = j;
}

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let lq = linear_index(wid, lid, p.groups_x);
    let live = lq < p.n_q;
    if (live) {
        for (var t = 0u; t < p.k; t++) {
            dl[t] = best_d[lq * p.k + t];
            il[t] = best_i[lq * p.k + t];
        }
    }
    scan_refs(lq, lid);
    if (live) {
        for (var t = 0u; t < p.k; t++) {
            best_d[lq * p.k + t] = dl[t];
            best_i[lq * p.k + t] = il[t];
        }
    }
}
