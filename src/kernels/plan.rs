//! `TilePlan`: the one place that decides how a kernel's work is cut.
//!
//! A problem of `n_query × n_ref` pairs in `dim` columns is cut into query
//! blocks × reference blocks so that (a) every buffer fits the device's
//! `max_storage_buffer_binding_size` / `max_buffer_size`, (b) a dispatch's
//! workgroup grid fits `max_compute_workgroups_per_dimension` (2-D when
//! needed), (c) a dispatch stays short (a budget of coordinate-pairs per
//! dispatch, a proxy for the watchdog of laptop GPUs), and (d) one shader
//! invocation runs at most `max_loop_iterations` loop iterations in one
//! dispatch: Mesa's lavapipe silently stops an invocation after 65,535
//! iterations counted over all its loops and returns wrong results.
//!
//! Partial results of reference blocks merge exactly: k-lists merge (the GPU
//! keeps the running list in a buffer between dispatches), counts add, and
//! log-sum-exps combine with the max trick ([`lse_combine`]).
//!
//! The plan is pure: tests drive it with tiny [`Limits`] so that every tiling
//! and merge path runs on any machine, and the CPU twins use the same shape.

use crate::error::{Error, Result};
use std::ops::Range;

/// Largest k the kernels support (the per-invocation k-list lives in registers/private memory).
pub const MAX_K: usize = 64;

/// Largest row width the kernels support.
pub const MAX_DIM: usize = 65_536;

/// Lavapipe's silent per-invocation loop-iteration cap.
pub const LAVAPIPE_LOOP_LIMIT: u64 = 65_535;

/// The kernels, as the plan sees them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KernelKind {
    /// k-th nearest neighbour.
    Knn,
    /// Neighbour counting within per-query radii.
    RadiusCount,
    /// Kernel-density log-sum-exp.
    KdeLse,
    /// Histogram binning (rows only, no references).
    Bin,
    /// Distance tile.
    Pairwise,
}

impl KernelKind {
    /// The kernel's one name (shader file, module, labels).
    pub fn name(self) -> &'static str {
        match self {
            KernelKind::Knn => "knn",
            KernelKind::RadiusCount => "radius_count",
            KernelKind::KdeLse => "kde_lse",
            KernelKind::Bin => "bin",
            KernelKind::Pairwise => "pairwise",
        }
    }
}

/// Workgroups a dispatch should hold to keep a large GPU busy (the time
/// budget cuts reference blocks before it shrinks query blocks below this).
pub const FILL_WORKGROUPS: u64 = 256;

/// The limits a plan honours.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// Largest storage-buffer binding, bytes.
    pub max_storage_binding_bytes: u64,
    /// Largest buffer, bytes.
    pub max_buffer_bytes: u64,
    /// Largest workgroup count along one dispatch dimension.
    pub max_workgroups_per_dim: u32,
    /// Invocations per workgroup.
    pub workgroup_size: u32,
    /// Query rows handled by one invocation.
    pub queries_per_invocation: u32,
    /// Loop iterations one invocation may run per dispatch (all loops together).
    pub max_loop_iterations: u64,
    /// Coordinate-pairs (query × reference × dim) one dispatch may cover.
    pub max_coord_pairs_per_dispatch: u64,
}

impl Limits {
    /// Shape for the CPU twins: blocks sized for the caches
    /// (a reference block of at most ~256 KiB, the loop bound unused).
    pub fn cpu() -> Self {
        Limits {
            max_storage_binding_bytes: 256 << 10,
            max_buffer_bytes: 256 << 10,
            max_workgroups_per_dim: u32::MAX,
            workgroup_size: 1,
            queries_per_invocation: 1,
            max_loop_iterations: u64::MAX,
            max_coord_pairs_per_dispatch: u64::MAX,
        }
    }

    /// Tiny limits that force many blocks; for tests of tiling and merging.
    pub fn tiny() -> Self {
        Limits {
            max_storage_binding_bytes: 4096,
            max_buffer_bytes: 4096,
            max_workgroups_per_dim: 4,
            workgroup_size: 8,
            queries_per_invocation: 1,
            max_loop_iterations: 600,
            max_coord_pairs_per_dispatch: 1 << 14,
        }
    }
}

/// Invocations per workgroup of every shader (`WG_SIZE` in `shaders/common.wgsl`).
pub const GPU_WORKGROUP_SIZE: u32 = 64;

/// Reference tile held in workgroup memory, in `vec4<f32>` (`TILE_VEC4` in
/// `shaders/common.wgsl`): whole rows when a row fits, else one row in chunks.
pub const GPU_TILE_VEC4: usize = 512;

/// The tile shape of `shaders/ref_scan.wgsl` for rows of `dim` columns:
/// `(vec4s per row, rows per tile, vec4s per chunk, chunks per row)`.
pub fn tile_shape(dim: usize) -> (u64, u64, u64, u64) {
    let vec4s = dim.div_ceil(4).max(1) as u64;
    let tile = GPU_TILE_VEC4 as u64;
    let rows = (tile / vec4s).max(1);
    let chunk = vec4s.min(tile);
    (vec4s, rows, chunk, vec4s.div_ceil(chunk))
}

/// Loop iterations one invocation runs for one tile of `m` reference rows
/// (`m` ≤ rows per tile) in `shaders/ref_scan.wgsl`, counting every trip and
/// one extra per loop entry (the exit test), with `wg` invocations sharing
/// the tile load. `knn` adds up to k insertion steps per reference.
pub fn iterations_per_tile(kernel: KernelKind, dim: usize, k: usize, m: u64, wg: u32) -> u64 {
    if kernel == KernelKind::Bin || m == 0 {
        return 0;
    }
    let (vec4s, _, chunk, chunks) = tile_shape(dim);
    let insert = if kernel == KernelKind::Knn {
        k as u64
    } else {
        0
    };
    // tile-loop trip + chunk loop (trips + entry)
    // + per chunk: load loop (trips + entry) and row loop (trips + entry)
    // + per row: the distance loop over all chunks (trips + one entry per chunk) and insertion
    1 + (chunks + 1)
        + chunks * ((m * chunk).div_ceil(wg.max(1) as u64) + 1 + m + 1)
        + m * (vec4s + chunks + insert)
}

/// Loop iterations one invocation spends per reference row (one query), an
/// upper bound from full tiles (see [`iterations_per_tile`]).
pub fn iterations_per_ref(kernel: KernelKind, dim: usize, k: usize) -> u64 {
    let (_, rows, _, _) = tile_shape(dim);
    iterations_per_tile(kernel, dim, k, rows, GPU_WORKGROUP_SIZE).div_ceil(rows)
}

/// Loop iterations per invocation that do not depend on the reference count:
/// the tile-loop entry, loading and storing the k-list (`knn`), or the whole
/// of `shaders/bin.wgsl` (per column one trip, a binary-search entry and up
/// to ⌈log2(E+1)⌉ search trips for E cut points).
pub fn iterations_fixed(kernel: KernelKind, dim: usize, k: usize, bin_edges: usize) -> u64 {
    match kernel {
        KernelKind::Knn => 2 * (k as u64 + 1) + 2,
        KernelKind::Bin => {
            let search = u64::from(usize::BITS - bin_edges.leading_zeros());
            dim as u64 * (2 + search) + 2
        }
        _ => 2,
    }
}

/// Loop iterations of one invocation over a reference block of `n_ref` rows
/// (exact model of the shaders' loops; monotone in `n_ref`).
pub fn loop_iterations(
    kernel: KernelKind,
    n_ref: usize,
    dim: usize,
    k: usize,
    bin_edges: usize,
    wg: u32,
) -> u64 {
    let fixed = iterations_fixed(kernel, dim, k, bin_edges);
    if kernel == KernelKind::Bin {
        return fixed;
    }
    let (_, rows, _, _) = tile_shape(dim);
    let n = n_ref as u64;
    fixed
        + (n / rows) * iterations_per_tile(kernel, dim, k, rows, wg)
        + iterations_per_tile(kernel, dim, k, n % rows, wg)
}

/// How one kernel call is cut into dispatches.
#[derive(Clone, Debug, PartialEq)]
pub struct TilePlan {
    /// Which kernel.
    pub kernel: KernelKind,
    /// Total query rows.
    pub n_query: usize,
    /// Total reference rows (0 for `Bin`).
    pub n_ref: usize,
    /// Row width.
    pub dim: usize,
    /// Query rows per block.
    pub query_block: usize,
    /// Reference rows per block.
    pub ref_block: usize,
    /// Invocations per workgroup and query rows per invocation, from the limits.
    pub workgroup_size: u32,
    /// Query rows per invocation.
    pub queries_per_invocation: u32,
    /// Workgroup-count limit per dispatch dimension.
    pub max_workgroups_per_dim: u32,
    /// Worst-case loop iterations of one invocation in one dispatch.
    pub loop_iterations: u64,
}

impl TilePlan {
    /// Plans `kernel` over `n_query × n_ref` rows of `dim` columns.
    /// `k` is the neighbour rank for `Knn` (ignored otherwise); `bin_edges` the
    /// largest number of cut points per column for `Bin`.
    pub fn new(
        kernel: KernelKind,
        n_query: usize,
        n_ref: usize,
        dim: usize,
        k: usize,
        bin_edges: usize,
        limits: &Limits,
    ) -> Result<TilePlan> {
        let fail = |reason: String| Error::Plan {
            kernel: kernel.name(),
            reason,
        };
        if dim == 0 || dim > MAX_DIM {
            return Err(fail(format!("row width {dim} is outside 1..={MAX_DIM}")));
        }
        let row_bytes = (dim.div_ceil(4) * 16) as u64;
        let binding = limits
            .max_storage_binding_bytes
            .min(limits.max_buffer_bytes);
        let rows_per_binding = (binding / row_bytes) as usize;
        if rows_per_binding == 0 {
            return Err(fail(format!(
                "one row of {dim} columns ({row_bytes} bytes) exceeds the {binding}-byte buffer limit"
            )));
        }

        // Reference block: loop bound first, then buffer size.
        let wg = limits.workgroup_size;
        let iterations = |n: usize| loop_iterations(kernel, n, dim, k, bin_edges, wg);
        let bounded = limits.max_loop_iterations != u64::MAX;
        if bounded
            && iterations(usize::from(kernel != KernelKind::Bin)) > limits.max_loop_iterations
        {
            return Err(fail(format!(
                "one {} of {dim} columns needs {} loop iterations per invocation, over the bound of {}",
                if kernel == KernelKind::Bin { "row" } else { "reference" },
                iterations(1),
                limits.max_loop_iterations
            )));
        }
        let mut ref_block = n_ref.max(1);
        if kernel != KernelKind::Bin {
            if bounded && iterations(ref_block) > limits.max_loop_iterations {
                // largest block within the bound (the cost is monotone in the block size)
                let (mut lo, mut hi) = (1usize, ref_block);
                while hi - lo > 1 {
                    let mid = lo + (hi - lo) / 2;
                    if iterations(mid) <= limits.max_loop_iterations {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                ref_block = lo;
            }
            ref_block = ref_block.min(rows_per_binding);
            if kernel == KernelKind::Pairwise {
                // the output tile q_block × r_block floats must fit one binding too
                ref_block = ref_block.min(((binding / 4) as usize).max(1));
            }
        }
        ref_block = ref_block.max(1);

        // Time budget, first on the reference side: a dispatch should still
        // hold enough queries to fill a GPU (FILL_WORKGROUPS workgroups), so
        // long reference sets are cut rather than the query block shrunk to a
        // handful of workgroups.
        if kernel != KernelKind::Bin {
            let per_group = limits.workgroup_size as u64 * limits.queries_per_invocation as u64;
            let fill = (per_group * FILL_WORKGROUPS).min(n_query.max(1) as u64);
            let by_time = limits.max_coord_pairs_per_dispatch / (fill * dim as u64).max(1);
            ref_block = ref_block.min(by_time.clamp(1, usize::MAX as u64) as usize);
        }

        // Query block: buffers, output, grid size, time budget.
        let per_query_out = match kernel {
            KernelKind::Knn => 8 * k.max(1) as u64,
            KernelKind::Bin => 4 * dim as u64 + 8,
            KernelKind::Pairwise => 4 * ref_block as u64,
            _ => 4,
        };
        let mut query_block = n_query.max(1).min(rows_per_binding);
        query_block = query_block.min(((binding / per_query_out) as usize).max(1));
        let per_group = limits.workgroup_size as u64 * limits.queries_per_invocation as u64;
        let max_groups =
            limits.max_workgroups_per_dim as u64 * limits.max_workgroups_per_dim as u64;
        query_block =
            query_block.min(per_group.saturating_mul(max_groups).min(usize::MAX as u64) as usize);
        if kernel != KernelKind::Bin {
            let pairs = (ref_block * dim) as u64;
            let by_time = (limits.max_coord_pairs_per_dispatch / pairs.max(1)).max(1);
            query_block = query_block.min(by_time.min(usize::MAX as u64) as usize);
        }
        query_block = query_block.max(1);

        let loop_iterations = iterations(if kernel == KernelKind::Bin {
            0
        } else {
            ref_block
        });
        Ok(TilePlan {
            kernel,
            n_query,
            n_ref,
            dim,
            query_block,
            ref_block,
            workgroup_size: limits.workgroup_size,
            queries_per_invocation: limits.queries_per_invocation,
            max_workgroups_per_dim: limits.max_workgroups_per_dim,
            loop_iterations,
        })
    }

    /// Query blocks in order.
    pub fn query_blocks(&self) -> impl Iterator<Item = Range<usize>> + '_ {
        blocks(self.n_query, self.query_block)
    }

    /// Reference blocks in order.
    pub fn ref_blocks(&self) -> impl Iterator<Item = Range<usize>> + '_ {
        blocks(self.n_ref, self.ref_block)
    }

    /// Reference rows once every block is padded to whole panels of `panel`
    /// rows (how the CPU twins pack references; memory estimates use it).
    pub fn padded_refs(&self, panel: usize) -> u64 {
        let whole = |rows: usize| (rows.div_ceil(panel.max(1)) * panel.max(1)) as u64;
        let full = (self.n_ref / self.ref_block) as u64;
        full.saturating_mul(whole(self.ref_block))
            .saturating_add(whole(self.n_ref % self.ref_block))
    }

    /// Number of dispatches (query blocks × reference blocks).
    pub fn dispatches(&self) -> usize {
        let qb = self.n_query.div_ceil(self.query_block);
        let rb = if self.kernel == KernelKind::Bin {
            1
        } else {
            self.n_ref.div_ceil(self.ref_block)
        };
        qb * rb
    }

    /// Workgroup grid `(x, y)` for a query block of `rows` rows; `x * y` groups
    /// cover the rows, and `x` never exceeds the per-dimension limit.
    pub fn workgroups(&self, rows: usize) -> (u32, u32) {
        let per_group = self.workgroup_size as usize * self.queries_per_invocation as usize;
        let groups = rows.div_ceil(per_group).max(1);
        let max = self.max_workgroups_per_dim as usize;
        if groups <= max {
            (groups as u32, 1)
        } else {
            (max as u32, groups.div_ceil(max) as u32)
        }
    }
}

fn blocks(n: usize, size: usize) -> impl Iterator<Item = Range<usize>> {
    (0..n.div_ceil(size)).map(move |b| b * size..((b + 1) * size).min(n))
}

/// Combines two log-sum-exps exactly: `log(e^a + e^b)` with the max trick.
pub fn lse_combine(a: f32, b: f32) -> f32 {
    if a == f32::NEG_INFINITY {
        return b;
    }
    if b == f32::NEG_INFINITY {
        return a;
    }
    let m = a.max(b);
    m + ((a - m).exp() + (b - m).exp()).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_refs_counts_whole_panels_per_block() {
        let p = TilePlan::new(KernelKind::Knn, 10, 777, 17, 3, 0, &Limits::tiny()).unwrap();
        let want: usize = p.ref_blocks().map(|b| b.len().div_ceil(32) * 32).sum();
        assert_eq!(p.padded_refs(32), want as u64);
        assert_eq!(p.padded_refs(1), 777);
    }

    #[test]
    fn blocks_cover_exactly() {
        let p = TilePlan::new(KernelKind::Knn, 1000, 777, 17, 3, 0, &Limits::tiny()).unwrap();
        let q: Vec<_> = p.query_blocks().collect();
        assert_eq!(q.first().unwrap().start, 0);
        assert_eq!(q.last().unwrap().end, 1000);
        assert!(q.windows(2).all(|w| w[0].end == w[1].start));
        let r: Vec<_> = p.ref_blocks().collect();
        assert_eq!(r.last().unwrap().end, 777);
        assert!(p.loop_iterations <= Limits::tiny().max_loop_iterations);
        assert!(p.dispatches() > 10);
    }

    #[test]
    fn lavapipe_bound_holds_for_every_kernel() {
        let lim = Limits {
            max_loop_iterations: LAVAPIPE_LOOP_LIMIT,
            ..Limits::cpu()
        };
        for kernel in [
            KernelKind::Knn,
            KernelKind::RadiusCount,
            KernelKind::KdeLse,
            KernelKind::Pairwise,
        ] {
            for dim in [1, 3, 64, 300, 4096] {
                let p = TilePlan::new(kernel, 100_000, 100_000, dim, MAX_K, 0, &lim).unwrap();
                assert!(
                    p.loop_iterations <= LAVAPIPE_LOOP_LIMIT,
                    "{kernel:?} d={dim}: {}",
                    p.loop_iterations
                );
            }
        }
    }

    #[test]
    fn grid_fits_the_dimension_limit() {
        let p = TilePlan::new(
            KernelKind::RadiusCount,
            10_000,
            10,
            1,
            0,
            0,
            &Limits::tiny(),
        )
        .unwrap();
        let (x, y) = p.workgroups(p.query_block);
        assert!(x <= 4 && (x * y) as usize * 8 >= p.query_block);
    }

    #[test]
    fn cost_model_is_monotone_and_matches_the_tiles() {
        for kernel in [
            KernelKind::Knn,
            KernelKind::RadiusCount,
            KernelKind::Pairwise,
        ] {
            for dim in [1, 4, 17, 300, 2049, 4096] {
                let mut last = 0;
                for n in 0..1200 {
                    let it = loop_iterations(kernel, n, dim, 10, 0, GPU_WORKGROUP_SIZE);
                    assert!(it >= last, "{kernel:?} d={dim} n={n}");
                    last = it;
                }
                let per_ref = iterations_per_ref(kernel, dim, 10);
                assert!(per_ref >= dim.div_ceil(4) as u64, "{kernel:?} d={dim}");
            }
        }
        // rows wider than a tile are scanned in chunks of one row
        assert_eq!(tile_shape(4096), (1024, 1, 512, 2));
        assert_eq!(tile_shape(3), (1, 512, 1, 1));
    }

    #[test]
    fn plan_respects_the_loop_bound_exactly() {
        let lim = Limits {
            max_loop_iterations: 10_000,
            workgroup_size: GPU_WORKGROUP_SIZE,
            ..Limits::cpu()
        };
        let p = TilePlan::new(KernelKind::Knn, 10, 50_000, 8, 5, 0, &lim).unwrap();
        let wg = GPU_WORKGROUP_SIZE;
        assert!(p.loop_iterations <= 10_000);
        assert!(loop_iterations(KernelKind::Knn, p.ref_block + 1, 8, 5, 0, wg) > 10_000);
        // a binning row too long for the bound is an error, not a silent cut
        let e = TilePlan::new(KernelKind::Bin, 10, 0, 20_000, 0, 0, &lim).unwrap_err();
        assert!(e.to_string().contains("loop iterations"), "{e}");
    }

    #[test]
    fn time_budget_keeps_query_blocks_large() {
        let lim = Limits {
            max_storage_binding_bytes: 256 << 20,
            max_buffer_bytes: 256 << 20,
            max_workgroups_per_dim: 65_535,
            workgroup_size: GPU_WORKGROUP_SIZE,
            queries_per_invocation: 1,
            max_loop_iterations: u64::MAX,
            max_coord_pairs_per_dispatch: 1 << 30,
        };
        let p = TilePlan::new(KernelKind::Knn, 100_000, 100_000, 64, 10, 0, &lim).unwrap();
        assert!(p.query_block >= (GPU_WORKGROUP_SIZE as u64 * FILL_WORKGROUPS) as usize);
        assert!((p.query_block * p.ref_block * 64) as u64 <= 1 << 30);
    }

    #[test]
    fn lse_combines_exactly() {
        let a = (1.0f32.exp() + 2.0f32.exp()).ln();
        let b = (3.0f32.exp()).ln();
        let all = (1.0f32.exp() + 2.0f32.exp() + 3.0f32.exp()).ln();
        assert!((lse_combine(a, b) - all).abs() < 1e-6);
        assert_eq!(lse_combine(f32::NEG_INFINITY, 1.5), 1.5);
    }
}
