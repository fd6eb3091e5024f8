// ref_scan.wgsl — prepended (after common.wgsl) to the four kernels that
// compare query rows with reference rows: knn, radius_count, kde_lse, pairwise.
//
// Each workgroup streams the reference block through workgroup memory in
// tiles of TILE_VEC4 vec4s: whole rows when a row fits (TILE_VEC4 / vec4s
// rows per tile), else one row in chunks of TILE_VEC4 whose partial
// distance is carried across chunks. Every invocation owns QPI consecutive
// query rows ("slots"): each reference vec4 is read once from workgroup
// memory and used for all of them (register blocking). For every slot and
// every reference, in ascending reference order, the kernel's
// `consume(dist, slot, local reference)` is called; that order is what makes
// tie-breaking by the lower index work in knn, and it keeps each query's
// kde_lse sum in reference order.
//
// The pipeline is specialised with override constants (one pipeline per
// combination; the plan picks them, `ScanShape` in src/kernels/plan.rs):
// - NORM: the distance, so the innermost loop has no branch on the norm;
// - QPI: query rows per invocation (1..=MAX_QPI);
// - QV4 > 0: the register path for rows of QV4 vec4s (QPI * QV4 <= QREG_VEC4):
//   the query rows are loaded once into registers and the loop over a row's
//   vec4s has a constant trip count (unrolled by the driver);
//   QV4 == 0: the general path for wider rows, which reads the query rows
//   from their storage buffer (a cached read) inside the loop.
//
// Rows are packed as vec4 with each column block zero-padded to a multiple
// of 4 columns (zeros change neither a max of |a - b| nor a sum of squares),
// so every vec4 belongs to one block; `block_ends` are the blocks' exclusive
// ends in vec4 units (general path), `p.block_starts` the same as a bit mask
// (register path). Distances are folded in column order exactly as before
// register blocking (max4 of |q - r| per vec4; dot(q - r, q - r) added per
// vec4), so results do not depend on the shape. The loop structure here is
// the cost model of `iterations_per_tile` in src/kernels/plan.rs (lavapipe's
// loop bound).

override NORM: u32 = NORM_CHEBYSHEV;
override QPI: u32 = 1u;
override QV4: u32 = 0u;

// No reference to skip (exclude-self off, or the query's own row is not in this block).
const NO_SKIP: u32 = 0xffffffffu;

@group(0) @binding(0) var<uniform> p: PairParams;
@group(0) @binding(1) var<storage, read> q_rows: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> r_rows: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> block_ends: array<u32>;

var<workgroup> tile: array<vec4<f32>, TILE_VEC4>;

// Local query row of each slot; slots past the block repeat the last row and consume nothing.
var<private> qrow: vec4<u32>;
// Slots holding a query row of the block (0 when the invocation has none).
var<private> live: u32;
// Per slot, the local reference index to skip (exclude-self), or NO_SKIP.
var<private> skip: vec4<u32>;
// Register path: the slots' query rows, slot s at s * QV4.
var<private> qreg: array<vec4<f32>, QREG_VEC4>;
// The local reference rows [ref_lo, ref_hi) of this workgroup's slice.
var<private> ref_lo: u32;
var<private> ref_hi: u32;

// Sets up the slots of invocation `g` (linear index over the grid) and the
// references of reference slice `slice`.
fn scan_setup(g: u32, slice: u32) {
    ref_lo = min(slice * p.slice_rows, p.n_r);
    ref_hi = min(ref_lo + p.slice_rows, p.n_r);
    let lq0 = g * QPI;
    live = select(0u, min(QPI, p.n_q - lq0), lq0 < p.n_q);
    qrow = min(vec4<u32>(lq0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.n_q - 1u));
    let gq = vec4<u32>(p.q_offset) + qrow;
    let own = vec4<bool>(p.exclude_self != 0u) & (gq >= vec4<u32>(p.r_offset));
    skip = select(vec4<u32>(NO_SKIP), gq - vec4<u32>(p.r_offset), own);
}

// Folds one vec4 of query `q` against reference `t` into a running distance.
fn fold(acc: f32, q: vec4<f32>, t: vec4<f32>) -> f32 {
    let df = q - t;
    if (NORM == NORM_CHEBYSHEV) {
        return max(acc, max4(abs(df)));
    }
    return acc + dot(df, df);
}

// Hands reference `jl`'s distance to every live slot but the one it must skip.
// `acc` holds the open (last) block, `blk` the largest closed block (NORM_SQ_BLOCKS).
fn emit(acc: vec4<f32>, blk: vec4<f32>, jl: u32) {
    let d = max(blk, acc);
    if (jl != skip.x) {
        consume(d.x, 0u, jl);
    }
    if (QPI > 1u && live > 1u && jl != skip.y) {
        consume(d.y, 1u, jl);
    }
    if (QPI > 2u && live > 2u && jl != skip.z) {
        consume(d.z, 2u, jl);
    }
    if (QPI > 3u && live > 3u && jl != skip.w) {
        consume(d.w, 3u, jl);
    }
}

// Rows of QV4 vec4s: whole rows per tile, query rows in registers.
fn scan_registers(lid: u32) {
    // QV4 itself (the max only keeps the unused specialisation QV4 = 0 free of a division by zero).
    let v4 = max(QV4, 1u);
    let rows = TILE_VEC4 / v4;
    for (var e = 0u; e < QPI * v4; e++) {
        let s = e / v4;
        qreg[e] = q_rows[qrow[s] * v4 + (e - s * v4)];
    }
    for (var t0 = ref_lo; t0 < ref_hi; t0 += rows) {
        let nrows = min(rows, ref_hi - t0);
        let src = t0 * v4;
        // The previous tile must be consumed by every invocation before it is overwritten.
        workgroupBarrier();
        for (var e = lid; e < nrows * v4; e += WG_SIZE) {
            tile[e] = r_rows[src + e];
        }
        workgroupBarrier();
        if (live > 0u) {
            for (var rr = 0u; rr < nrows; rr++) {
                var acc = vec4<f32>(0.0);
                var blk = vec4<f32>(0.0);
                let tb = rr * v4;
                for (var c = 0u; c < v4; c++) {
                    let t = tile[tb + c];
                    if (NORM == NORM_SQ_BLOCKS && ((p.block_starts >> c) & 1u) != 0u) {
                        blk = max(blk, acc);
                        acc = vec4<f32>(0.0);
                    }
                    acc.x = fold(acc.x, qreg[c], t);
                    if (QPI > 1u) {
                        acc.y = fold(acc.y, qreg[v4 + c], t);
                    }
                    if (QPI > 2u) {
                        acc.z = fold(acc.z, qreg[2u * v4 + c], t);
                    }
                    if (QPI > 3u) {
                        acc.w = fold(acc.w, qreg[3u * v4 + c], t);
                    }
                }
                emit(acc, blk, t0 + rr);
            }
        }
    }
}

// Any row width: rows (or chunks of one row) per tile, query rows read from storage.
fn scan_general(lid: u32) {
    let v4 = p.vec4s;
    let chunk = min(v4, TILE_VEC4);
    let rows = max(TILE_VEC4 / v4, 1u);
    let qb = qrow * v4;
    var acc = vec4<f32>(0.0);
    var blk = vec4<f32>(0.0);
    var nb = 0u;
    for (var t0 = ref_lo; t0 < ref_hi; t0 += rows) {
        let nrows = min(rows, ref_hi - t0);
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
            if (live > 0u) {
                for (var rr = 0u; rr < nrows; rr++) {
                    if (c0 == 0u) {
                        acc = vec4<f32>(0.0);
                        blk = vec4<f32>(0.0);
                        nb = 0u;
                    }
                    let tb = rr * clen;
                    for (var c = 0u; c < clen; c++) {
                        let t = tile[tb + c];
                        let col = c0 + c;
                        if (NORM == NORM_SQ_BLOCKS && col == block_ends[nb]) {
                            blk = max(blk, acc);
                            acc = vec4<f32>(0.0);
                            nb += 1u;
                        }
                        acc.x = fold(acc.x, q_rows[qb.x + col], t);
                        if (QPI > 1u) {
                            acc.y = fold(acc.y, q_rows[qb.y + col], t);
                        }
                        if (QPI > 2u) {
                            acc.z = fold(acc.z, q_rows[qb.z + col], t);
                        }
                        if (QPI > 3u) {
                            acc.w = fold(acc.w, q_rows[qb.w + col], t);
                        }
                    }
                    if (c0 + clen == v4) {
                        emit(acc, blk, t0 + rr);
                    }
                }
            }
        }
    }
}

// Scans the slice of the reference block for the slots set up by `scan_setup`.
fn scan_refs(lid: u32) {
    if (QV4 > 0u) {
        scan_registers(lid);
    } else {
        scan_general(lid);
    }
}
