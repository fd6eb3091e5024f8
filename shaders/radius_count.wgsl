// radius_count.wgsl — neighbours within each query's own radius (KSG marginal
// counts, Kraskov et al. 2004 eqs. 8–9; Ross 2014; Frenzel–Pompe CMI).
//
// `<` (KSG-1) or `<=` (KSG-2) per `p.boundary`. Counts of successive
// reference blocks and of a block's reference slices (ref_scan.wgsl) add up
// in `counts` (zeroed by the host) with atomic adds: integer addition, exact
// in any order, so the slices need no merge. One radius and one count per
// slot (query row) of the invocation, in registers.

@group(0) @binding(4) var<storage, read> radii: array<f32>;
@group(0) @binding(5) var<storage, read_write> counts: array<atomic<u32>>;

var<private> radius: vec4<f32>;
var<private> count: vec4<u32>;

fn consume(d: f32, slot: u32, jl: u32) {
    if (p.boundary == BOUNDARY_LESS) {
        count[slot] += select(0u, 1u, d < radius[slot]);
    } else {
        count[slot] += select(0u, 1u, d <= radius[slot]);
    }
}

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    scan_setup(linear_index(wid, lid, p.groups_x), wid.z);
    count = vec4<u32>(0u);
    radius = vec4<f32>(radii[qrow.x], radii[qrow.y], radii[qrow.z], radii[qrow.w]);
    scan_refs(lid);
    if (live > 0u) {
        atomicAdd(&counts[qrow.x], count.x);
    }
    if (live > 1u) {
        atomicAdd(&counts[qrow.y], count.y);
    }
    if (live > 2u) {
        atomicAdd(&counts[qrow.z], count.z);
    }
    if (live > 3u) {
        atomicAdd(&counts[qrow.w], count.w);
    }
}
