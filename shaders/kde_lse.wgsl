// kde_lse.wgsl — log Σ_j exp(−scale·‖q − r_j‖²), the kernel-density sum of
// the Kolchinsky–Tracey bounds (Saxe et al. 2018).
//
// Running log-sum-exp with a maximum: `state[i] = (m, s)` with the sum equal
// to exp(m) · s, carried between reference-block dispatches (so blocks merge
// exactly); s == 0 means no reference seen yet (the host then reports −inf).

@group(0) @binding(4) var<storage, read_write> state: array<vec2<f32>>;

var<private> m: f32;
var<private> s: f32;

fn consume(d: f32, lq: u32, jl: u32) {
    let e = -p.scale * d;
    if (s == 0.0) {
        m = e;
        s = 1.0;
    } else if (e > m) {
        s = s * exp(m - e) + 1.0;
        m = e;
    } else {
        s += exp(e - m);
    }
}

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let lq = linear_index(wid, lid, p.groups_x);
    let live = lq < p.n_q;
    m = 0.0;
    s = 0.0;
    if (live) {
        let st = state[lq];
        m = st.x;
        s = st.y;
    }
    scan_refs(lq, lid);
    if (live) {
        state[lq] = vec2<f32>(m, s);
    }
}
