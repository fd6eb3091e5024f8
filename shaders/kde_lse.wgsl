// kde_lse.wgsl — log Σ_j exp(−scale·‖q − r_j‖²), the kernel-density sum of
// the Kolchinsky–Tracey bounds (Saxe et al. 2018).
//
// Running log-sum-exp with a maximum: `state[i] = (m, s)` with the sum equal
// to exp(m) · s, carried between reference-block dispatches (so blocks merge
// exactly); s == 0 means no reference seen yet (the host then reports −inf).
// A query block's first reference block starts from (0, 0). One (m, s) per
// slot (query row) of the invocation, in registers.
//
// Reference slice z (ref_scan.wgsl) keeps its own (m, s) at
// state[z * n_q + query]; `merge` combines the slices in slice order
// (0, 1, 2, …) into state[query], so the value does not depend on scheduling.

@group(0) @binding(4) var<storage, read_write> state: array<vec2<f32>>;

var<private> m: vec4<f32>;
var<private> s: vec4<f32>;

fn consume(d: f32, slot: u32, jl: u32) {
    let e = -p.scale * d;
    if (s[slot] == 0.0) {
        m[slot] = e;
        s[slot] = 1.0;
    } else if (e > m[slot]) {
        s[slot] = s[slot] * exp(m[slot] - e) + 1.0;
        m[slot] = e;
    } else {
        s[slot] += exp(e - m[slot]);
    }
}

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    scan_setup(linear_index(wid, lid, p.groups_x), wid.z);
    let at = vec4<u32>(wid.z * p.n_q) + qrow;
    m = vec4<f32>(0.0);
    s = vec4<f32>(0.0);
    if (p.first_block == 0u) {
        let s0 = state[at.x];
        let s1 = state[at.y];
        let s2 = state[at.z];
        let s3 = state[at.w];
        m = vec4<f32>(s0.x, s1.x, s2.x, s3.x);
        s = vec4<f32>(s0.y, s1.y, s2.y, s3.y);
    }
    scan_refs(lid);
    if (live > 0u) {
        state[at.x] = vec2<f32>(m.x, s.x);
    }
    if (live > 1u) {
        state[at.y] = vec2<f32>(m.y, s.y);
    }
    if (live > 2u) {
        state[at.z] = vec2<f32>(m.z, s.z);
    }
    if (live > 3u) {
        state[at.w] = vec2<f32>(m.w, s.w);
    }
}

// One invocation per query of the block: the slices' (m, s) combined in
// slice order with the max trick into state[query].
@compute @workgroup_size(WG_SIZE)
fn merge(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = linear_index(wid, lid, p.groups_x);
    if (i >= p.n_q) {
        return;
    }
    var a = state[i];
    for (var z = 1u; z < p.slices; z++) {
        let b = state[z * p.n_q + i];
        if (b.y == 0.0) {
            continue;
        }
        if (a.y == 0.0) {
            a = b;
            continue;
        }
        let mx = max(a.x, b.x);
        a = vec2<f32>(mx, a.y * exp(a.x - mx) + b.y * exp(b.x - mx));
    }
    state[i] = a;
}
