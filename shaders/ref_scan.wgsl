// ref_scan.wgsl — prepended (after common.wgsl) to the four kernels that
// compare query rows with reference rows: knn, radius_count, kde_lse, pairwise.
//
// Each workgroup streams the reference block through workgroup memory in
// tiles of TILE_VEC4 vec4s: whole rows when a row fits (TILE_VEC4 / vec4s
// rows per tile), else one row in chunks of TILE_VEC4 whose partial
// distance is carried across chunks. Every invocation owns one query row and
// calls the kernel's `consume(dist, local query, local reference)` for the
// references in ascending index order, which is what makes tie-breaking by
// the lower index work in knn.
//
// Rows are packed as vec4 with each column block zero-padded to a multiple
// of 4 columns (zeros change neither a max of |a - b| nor a sum of squares),
// so every vec4 belongs to one block; `block_ends` are the blocks' exclusive
// ends in vec4 units. The loop structure here is the cost model of
// `iterations_per_tile` in src/kernels/plan.rs (lavapipe's loop bound).

@group(0) @binding(0) var<uniform> p: PairParams;
@group(0) @binding(1) var<storage, read> q_rows: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> r_rows: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> block_ends: array<u32>;

var<workgroup> tile: array<vec4<f32>, TILE_VEC4>;

fn scan_refs(lq: u32, lid: u32) {
    let live = lq < p.n_q;
    let qbase = min(lq, p.n_q - 1u) * p.vec4s;
    let gq = p.q_offset + lq;
    let v4 = p.vec4s;
    let chunk = min(v4, TILE_VEC4);
    let rows = max(TILE_VEC4 / v4, 1u);
    // Distance state of the current reference: Chebyshev keeps `best`;
    // squared Euclidean sums the open block in `sum` and keeps the largest
    // closed block in `best`.
    var sum = 0.0;
    var best = 0.0;
    var nb = 0u;
    for (var t0 = 0u; t0 < p.n_r; t0 += rows) {
        let nrows = min(rows, p.n_r - t0);
        for (var c0 = 0u; c0 < v4; c0 += chunk) {
            let clen = min(chunk, v4 - c0);
            let total = nrows * clen;
            // The previous tile must be consumed by every invocation before it is overwritten.
            workgroupBarrier();
            for (var e = lid; e < total; e += WG_SIZE) {
                let rr = e / clen;
                tile[e] = r_rows[(t0 + rr) * v4 + c0 + (e - rr * clen)];
            }
            workgroupBarrier();
            if (live) {
                for (var rr = 0u; rr < nrows; rr++) {
                    if (c0 == 0u) {
                        sum = 0.0;
                        best = 0.0;
                        nb = 0u;
                    }
                    let tb = rr * clen;
                    if (p.norm == NORM_CHEBYSHEV) {
                        for (var c = 0u; c < clen; c++) {
                            best = max(best, max4(abs(q_rows[qbase + c0 + c] - tile[tb + c])));
                        }
                    } else {
                        for (var c = 0u; c < clen; c++) {
                            if (c0 + c == block_ends[nb]) {
                                best = max(best, sum);
                                sum = 0.0;
                                nb += 1u;
                            }
                            let df = q_rows[qbase + c0 + c] - tile[tb + c];
                            sum += dot(df, df);
                        }
                    }
                    let j = t0 + rr;
                    if (c0 + clen == v4 && !(p.exclude_self != 0u && p.r_offset + j == gq)) {
                        consume(max(best, sum), lq, j);
                    }
                }
            }
        }
    }
}
