// radius_count.wgsl — neighbours within each query's own radius (KSG marginal
// counts, Kraskov et al. 2004 eqs. 8–9; Ross 2014; Frenzel–Pompe CMI).
//
// `<` (KSG-1) or `<=` (KSG-2) per `p.boundary`. Counts of successive
// reference blocks add up in `counts` (zeroed by the host).

@group(0) @binding(4) var<storage, read> radii: array<f32>;
@group(0) @binding(5) var<storage, read_write> counts: array<u32>;

var<private> radius: f32;
var<private> count: u32;

fn consume(d: f32, lq: u32, jl: u32) {
    if (p.boundary == BOUNDARY_LESS) {
        count += select(0u, 1u, d < radius);
    } else {
        count += select(0u, 1u, d <= radius);
    }
}

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let lq = linear_index(wid, lid, p.groups_x);
    let live = lq < p.n_q;
    count = 0u;
    if (live) {
        radius = radii[lq];
    }
    scan_refs(lq, lid);
    if (live) {
        counts[lq] += count;
    }
}
