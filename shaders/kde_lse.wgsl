// kde_lse.wgsl — log Σ_j exp(−scale·‖q − r_j‖²), the kernel-density sum of
// the Kolchinsky–Tracey bounds (Saxe et al. 2018).
//
// Running log-sum-exp with a maximum: `state[i] = (m, s)` with the sum equal
// to exp(m) · s, carried between reference-block dispatches (so blocks merge
// exactly); s == 0 means no reference seen yet (the host then reports −inf).
// One (m, s) per slot (query row) of the invocation, in registers.

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
    scan_setup(linear_index(wid, lid, p.groups_x));
    let s0 = state[qrow.x];
    let s1 = state[qrow.y];
    let s2 = state[qrow.z];
    let s3 = state[qrow.w];
    m = vec4<f32>(s0.x, s1.x, s2.x, s3.x);
    s = vec4<f32>(s0.y, s1.y, s2.y, s3.y);
    scan_refs(lid);
    if (live > 0u) {
        state[qrow.x] = vec2<f32>(m.x, s.x);
    }
    if (live > 1u) {
        state[qrow.y] = vec2<f32>(m.y, s.y);
    }
    if (live > 2u) {
        state[qrow.z] = vec2<f32>(m.z, s.z);
    }
    if (live > 3u) {
        state[qrow.w] = vec2<f32>(m.w, s.w);
    }
}
