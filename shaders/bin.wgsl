// bin.wgsl — bin index of every value and the 64-bit pattern key of every row
// (Shwartz-Ziv & Tishby 2017 equal bins; Saxe et al. 2018 fixed width;
// Chelombiev et al. 2019 adaptive edges).
//
// The same f32 operations as `bin_index` in src/kernels/cpu/bin.rs: multiply
// by constants rounded once on the host, never divide (Vulkan division is
// not correctly rounded). The key is two u32 lanes exactly as `pattern_key`
// in src/kernels/mod.rs (no 64-bit integers in portable WGSL).

@group(0) @binding(0) var<uniform> bp: BinParams;
@group(0) @binding(1) var<storage, read> values: array<f32>;
// Edges binning: cut points of column c are edges[edge_start[c] .. edge_start[c + 1]].
@group(0) @binding(2) var<storage, read> edge_start: array<u32>;
@group(0) @binding(3) var<storage, read> edges: array<f32>;
@group(0) @binding(4) var<storage, read_write> out_idx: array<i32>;
@group(0) @binding(5) var<storage, read_write> out_keys: array<vec2<u32>>;

fn bin_index(t: f32, c: u32) -> i32 {
    if (bp.mode == BIN_EQUAL_RANGE) {
        let b = floor((t - bp.lo) * bp.scale);
        return i32(clamp(b, 0.0, f32(bp.bins - 1u)));
    }
    if (bp.mode == BIN_WIDTH) {
        var b = floor(t * bp.inv_width);
        if ((b + 1.0) * bp.width <= t) {
            b += 1.0;
        } else if (b * bp.width > t) {
            b -= 1.0;
        }
        // Saturate like Rust's `as i32` (i32::MAX as f32 rounds up to 2^31).
        if (b >= 2147483648.0) {
            return 2147483647i;
        }
        if (b <= -2147483648.0) {
            return -2147483647i - 1i;
        }
        return i32(b);
    }
    // Number of cut points <= t (partition_point on a sorted list).
    var lo = edge_start[c];
    var hi = edge_start[c + 1u];
    let first = lo;
    while (lo < hi) {
        let mid = lo + (hi - lo) / 2u;
        if (edges[mid] <= t) {
            lo = mid + 1u;
        } else {
            hi = mid;
        }
    }
    return i32(lo - first);
}

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let row = linear_index(wid, lid, bp.groups_x);
    if (row >= bp.n_rows) {
        return;
    }
    var klo = 0x9e3779b9u;
    var khi = 0x7f4a7c15u ^ bp.dim;
    let base = row * bp.dim;
    for (var c = 0u; c < bp.dim; c++) {
        let b = bin_index(values[base + c], c);
        out_idx[base + c] = b;
        let v = bitcast<u32>(b);
        klo = mix32(rotl(klo, 5u) ^ v);
        khi = mix32(rotl(khi, 7u) ^ v ^ 0x27d4eb2fu);
    }
    out_keys[row] = vec2<u32>(klo, khi);
}
