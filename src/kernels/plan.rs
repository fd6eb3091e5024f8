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
//! On the GPU a reference block can also be cut into *reference slices*
//! scanned side by side in one dispatch (the grid's third dimension), each
//! with its own partial state, merged the same exact ways after the last
//! block: a large GPU needs more invocations than a query block has query
//! rows ([`TilePlan::ref_slices`]).
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

/// Most reference slices of one dispatch (`MAX_SLICES` in `shaders/common.wgsl`).
pub const MAX_REF_SLICES: u32 = 64;

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
/// budget cuts reference blocks before it shrinks query blocks below this):
/// 1,024 workgroups of 64 invocations fill the 132 SMs of an H100/H200 to a
/// quarter of their thread slots (when there are that many queries).
pub const FILL_WORKGROUPS: u64 = 1024;

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
    /// Most query rows one invocation may own; the plan picks the shader's
    /// [`ScanShape`] within it (1 for the CPU twins).
    pub queries_per_invocation: u32,
    /// Loop iterations one invocation may run per dispatch (all loops together).
    pub max_loop_iterations: u64,
    /// Coordinate-pairs (query × reference × dim) one dispatch may cover.
    pub max_coord_pairs_per_dispatch: u64,
    /// Invocations one dispatch should hold to fill the device: the plan cuts
    /// a reference block into slices until (queries / QPI) × slices reaches
    /// it. 0: never (software adapters and the CPU twins).
    pub fill_invocations: u64,
    /// Fewest reference rows per slice (each slice pays for loading its
    /// queries and partial state, and for the merge).
    pub min_slice_rows: usize,
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
            fill_invocations: 0,
            min_slice_rows: 1,
        }
    }

    /// Tiny limits that force many blocks; for tests of tiling and merging.
    pub fn tiny() -> Self {
        Limits {
            max_storage_binding_bytes: 4096,
            max_buffer_bytes: 4096,
            max_workgroups_per_dim: 4,
            workgroup_size: 8,
            queries_per_invocation: GPU_MAX_QUERIES_PER_INVOCATION,
            max_loop_iterations: 600,
            max_coord_pairs_per_dispatch: 1 << 14,
            // more invocations than the tiny query blocks hold: reference slices
            fill_invocations: 1024,
            min_slice_rows: 2,
        }
    }
}

/// Invocations per workgroup of every shader (`WG_SIZE` in `shaders/common.wgsl`).
pub const GPU_WORKGROUP_SIZE: u32 = 64;

/// Reference tile held in workgroup memory, in `vec4<f32>` (`TILE_VEC4` in
/// `shaders/common.wgsl`): whole rows when a row fits, else one row in chunks.
pub const GPU_TILE_VEC4: usize = 512;

/// Most query rows one invocation of a query × reference shader owns
/// (`MAX_QPI` in `shaders/common.wgsl`).
pub const GPU_MAX_QUERIES_PER_INVOCATION: u32 = 4;

/// Query rows an invocation holds in registers, in vec4 over all its rows
/// (`QREG_VEC4` in `shaders/common.wgsl`): 64 floats.
pub const GPU_QUERY_REGISTER_VEC4: usize = 16;

/// Query rows per invocation on the general path (rows too wide for registers).
const GENERAL_QUERIES_PER_INVOCATION: u32 = 2;

/// The specialisation of `shaders/ref_scan.wgsl` for one call: query rows
/// per invocation (`QPI`) and, for rows narrow enough, the register path
/// (`QV4`, the row width in vec4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ScanShape {
    /// Query rows per invocation (`QPI`, 1..=[`GPU_MAX_QUERIES_PER_INVOCATION`]).
    pub queries: u32,
    /// Register path: the padded row width in vec4 (`QV4`); 0 for the general path.
    pub register_vec4s: u32,
}

impl ScanShape {
    /// The shape for rows of `dim` columns with at most `max_queries` query
    /// rows per invocation: rows of up to [`GPU_QUERY_REGISTER_VEC4`] vec4s
    /// take the register path with as many queries as the register budget
    /// holds; wider rows the general path. `Bin` has one row per invocation.
    pub fn new(kernel: KernelKind, dim: usize, max_queries: u32) -> Self {
        let max_q = max_queries.clamp(1, GPU_MAX_QUERIES_PER_INVOCATION);
        let vec4s = dim.div_ceil(4).max(1);
        if kernel == KernelKind::Bin {
            ScanShape {
                queries: 1,
                register_vec4s: 0,
            }
        } else if vec4s <= GPU_QUERY_REGISTER_VEC4 {
            ScanShape {
                queries: ((GPU_QUERY_REGISTER_VEC4 / vec4s) as u32).min(max_q),
                register_vec4s: vec4s as u32,
            }
        } else {
            ScanShape {
                queries: GENERAL_QUERIES_PER_INVOCATION.min(max_q),
                register_vec4s: 0,
            }
        }
    }
}

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
/// the tile load. `knn` adds up to k insertion steps per reference and slot.
/// The loops over a row's vec4s count although the register path's have a
/// constant trip count (which drivers unroll): a safe upper bound.
pub fn iterations_per_tile(
    kernel: KernelKind,
    dim: usize,
    k: usize,
    m: u64,
    wg: u32,
    shape: ScanShape,
) -> u64 {
    if kernel == KernelKind::Bin || m == 0 {
        return 0;
    }
    let (vec4s, _, chunk, chunks) = tile_shape(dim);
    let wg = wg.max(1) as u64;
    let insert = if kernel == KernelKind::Knn {
        shape.queries as u64 * k as u64
    } else {
        0
    };
    if shape.register_vec4s > 0 {
        // tile-loop trip + load loop (trips + entry) + row loop (trips + entry)
        // + per row: the vec4 loop (trips + entry) and the insertions
        return 1 + ((m * vec4s).div_ceil(wg) + 1) + (m + 1) + m * (vec4s + 1 + insert);
    }
    // tile-loop trip + chunk loop (trips + entry)
    // + per chunk: load loop (trips + entry) and row loop (trips + entry)
    // + per row: the distance loop over all chunks (trips + one entry per chunk) and insertion
    1 + (chunks + 1)
        + chunks * ((m * chunk).div_ceil(wg) + 1 + m + 1)
        + m * (vec4s + chunks + insert)
}

/// Loop iterations one invocation spends per reference row (all its query
/// rows), an upper bound from full tiles (see [`iterations_per_tile`]).
pub fn iterations_per_ref(kernel: KernelKind, dim: usize, k: usize, shape: ScanShape) -> u64 {
    let (_, rows, _, _) = tile_shape(dim);
    iterations_per_tile(kernel, dim, k, rows, GPU_WORKGROUP_SIZE, shape).div_ceil(rows)
}

/// Loop iterations per invocation that do not depend on the reference count:
/// the tile-loop entry, loading the query rows into registers (register
/// path), loading and storing the k-lists (`knn`), or the whole of
/// `shaders/bin.wgsl` (per column one trip, a binary-search entry and up to
/// ⌈log2(E+1)⌉ search trips for E cut points).
pub fn iterations_fixed(
    kernel: KernelKind,
    dim: usize,
    k: usize,
    bin_edges: usize,
    shape: ScanShape,
) -> u64 {
    let q = shape.queries as u64;
    let registers = if shape.register_vec4s > 0 {
        q * shape.register_vec4s as u64 + 1
    } else {
        0
    };
    match kernel {
        KernelKind::Knn => 1 + registers + 2 * (q * k as u64 + 1),
        KernelKind::Bin => {
            let search = u64::from(usize::BITS - bin_edges.leading_zeros());
            dim as u64 * (2 + search) + 2
        }
        _ => 1 + registers,
    }
}

/// Loop iterations of one invocation over a reference block of `n_ref` rows
/// (exact model of the shaders' loops, the vec4 loops counted; monotone in `n_ref`).
pub fn loop_iterations(
    kernel: KernelKind,
    n_ref: usize,
    dim: usize,
    k: usize,
    bin_edges: usize,
    wg: u32,
    shape: ScanShape,
) -> u64 {
    let fixed = iterations_fixed(kernel, dim, k, bin_edges, shape);
    if kernel == KernelKind::Bin {
        return fixed;
    }
    let (_, rows, _, _) = tile_shape(dim);
    let n = n_ref as u64;
    fixed
        + (n / rows) * iterations_per_tile(kernel, dim, k, rows, wg, shape)
        + iterations_per_tile(kernel, dim, k, n % rows, wg, shape)
}

/// Bytes of partial state one reference slice keeps per query row in each
/// state buffer of the GPU kernel: knn one distance (or index) per
/// neighbour, kde_lse a (max, sum) pair; 0 where slices share one state
/// (radius_count adds atomically) or need none (pairwise, bin).
pub fn slice_state_bytes(kernel: KernelKind, k: usize) -> u64 {
    match kernel {
        KernelKind::Knn => (k.max(1) as u64).saturating_mul(4),
        KernelKind::KdeLse => 8,
        _ => 0,
    }
}

/// Regions of a state buffer for `slices` reference slices: one per slice,
/// and for knn (with more than one slice) one more that the merge writes.
pub fn state_regions(kernel: KernelKind, slices: u32) -> u64 {
    let s = u64::from(slices.max(1));
    if kernel == KernelKind::Knn && s > 1 {
        s + 1
    } else {
        s
    }
}

/// Loop iterations of one invocation of a kernel's `merge` entry point over
/// `slices` slices (trips and one exit test per loop, as
/// [`iterations_per_tile`]); 0 with one slice, where no merge runs. knn: the
/// heads loop, then per neighbour rank a pass over slices 1..; kde_lse: one
/// pass over slices 1..
pub fn merge_iterations(kernel: KernelKind, k: usize, slices: u32) -> u64 {
    let s = u64::from(slices);
    let k = k as u64;
    if s <= 1 {
        return 0;
    }
    match kernel {
        KernelKind::Knn => (s + 1) + (k + 1) + k * s,
        KernelKind::KdeLse => s,
        _ => 0,
    }
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
    /// Invocations per workgroup, from the limits.
    pub workgroup_size: u32,
    /// The shader specialisation (query rows per invocation, register path).
    pub shape: ScanShape,
    /// Workgroup-count limit per dispatch dimension.
    pub max_workgroups_per_dim: u32,
    /// Reference slices per dispatch (GPU; the grid's z): a reference block
    /// is scanned as this many slices of [`TilePlan::slice_rows`] rows side
    /// by side, each with its own partial state, merged after the last
    /// block. 1: no slicing (the CPU twins, software adapters).
    pub ref_slices: u32,
    /// Reference rows per slice (the last slice of a block may be shorter).
    pub slice_rows: usize,
    /// Worst-case loop iterations of one invocation in one dispatch (a slice
    /// scan, or the merge of the slices).
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
        if dim == 0 || dim > MAX_DIM {
            return Err(plan_error(
                kernel,
                format!("row width {dim} is outside 1..={MAX_DIM}"),
            ));
        }
        let row_bytes = (dim.div_ceil(4) * 16) as u64;
        let binding = limits
            .max_storage_binding_bytes
            .min(limits.max_buffer_bytes);
        let rows_per_binding = (binding / row_bytes) as usize;
        if rows_per_binding == 0 {
            return Err(plan_error(kernel, format!(
                "one row of {dim} columns ({row_bytes} bytes) exceeds the {binding}-byte buffer limit"
            )));
        }
        let cut = Cut {
            kernel,
            n_query,
            n_ref,
            dim,
            k,
            bin_edges,
            limits,
            shape: ScanShape::new(kernel, dim, limits.queries_per_invocation),
            binding,
            rows_per_binding,
        };
        let ref_block = cut.ref_block()?;
        let query_block = cut.query_block(ref_block);
        // Equal slices, none of them empty in a full block.
        let slices = cut.ref_slices(query_block, ref_block);
        let slice_rows = ref_block.div_ceil(slices as usize);
        let ref_slices = ref_block.div_ceil(slice_rows) as u32;
        let loop_iterations = if kernel == KernelKind::Bin {
            cut.iterations(0)
        } else {
            cut.iterations(slice_rows)
                .max(merge_iterations(kernel, k, ref_slices))
        };
        Ok(TilePlan {
            kernel,
            n_query,
            n_ref,
            dim,
            query_block,
            ref_block,
            workgroup_size: limits.workgroup_size,
            shape: cut.shape,
            max_workgroups_per_dim: limits.max_workgroups_per_dim,
            ref_slices,
            slice_rows,
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
        let per_group = self.workgroup_size as usize * self.shape.queries as usize;
        let groups = rows.div_ceil(per_group).max(1);
        let max = self.max_workgroups_per_dim as usize;
        if groups <= max {
            (groups as u32, 1)
        } else {
            (max as u32, groups.div_ceil(max) as u32)
        }
    }
}

impl TilePlan {
    /// Workgroup grid `(x, y)` of a `merge` dispatch over a query block of
    /// `rows` rows: one query per invocation.
    pub fn merge_workgroups(&self, rows: usize) -> (u32, u32) {
        let groups = rows.div_ceil(self.workgroup_size as usize).max(1);
        let max = self.max_workgroups_per_dim as usize;
        if groups <= max {
            (groups as u32, 1)
        } else {
            (max as u32, groups.div_ceil(max) as u32)
        }
    }

    /// Bytes of each state buffer of a query block of `rows` rows (all
    /// slices' partial states, and knn's merge output), for the kernels that
    /// keep one per slice.
    pub fn state_buffer_bytes(&self, rows: usize, k: usize) -> u64 {
        rows as u64
            * slice_state_bytes(self.kernel, k)
            * state_regions(self.kernel, self.ref_slices)
    }
}

/// The steps of [`TilePlan::new`]: one call's shapes against the limits.
struct Cut<'a> {
    kernel: KernelKind,
    n_query: usize,
    n_ref: usize,
    dim: usize,
    k: usize,
    bin_edges: usize,
    limits: &'a Limits,
    shape: ScanShape,
    /// The largest binding, bytes.
    binding: u64,
    /// Padded rows of `dim` columns per binding.
    rows_per_binding: usize,
}

impl Cut<'_> {
    /// Loop iterations of one invocation over `n` references.
    fn iterations(&self, n: usize) -> u64 {
        let (kernel, wg) = (self.kernel, self.limits.workgroup_size);
        loop_iterations(kernel, n, self.dim, self.k, self.bin_edges, wg, self.shape)
    }

    /// Invocations per workgroup × query rows per invocation.
    fn queries_per_group(&self) -> u64 {
        self.limits.workgroup_size as u64 * self.shape.queries as u64
    }

    /// Reference rows per block: the loop bound first, then the buffer size,
    /// then the time budget.
    fn ref_block(&self) -> Result<usize> {
        let (kernel, limits, dim) = (self.kernel, self.limits, self.dim);
        let bounded = limits.max_loop_iterations != u64::MAX;
        let bin = kernel == KernelKind::Bin;
        if bounded && self.iterations(usize::from(!bin)) > limits.max_loop_iterations {
            return Err(plan_error(kernel, format!(
                "one {} of {dim} columns needs {} loop iterations per invocation, over the bound of {}",
                if bin { "row" } else { "reference" },
                self.iterations(1),
                limits.max_loop_iterations
            )));
        }
        if bin {
            return Ok(self.n_ref.max(1));
        }
        let mut ref_block = self.n_ref.max(1);
        if bounded && self.iterations(ref_block) > limits.max_loop_iterations {
            // largest block within the bound (the cost is monotone in the block size)
            let (mut lo, mut hi) = (1usize, ref_block);
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if self.iterations(mid) <= limits.max_loop_iterations {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            ref_block = lo;
        }
        ref_block = ref_block.min(self.rows_per_binding);
        if kernel == KernelKind::Pairwise {
            // the output tile q_block × r_block floats must fit one binding too
            ref_block = ref_block.min(((self.binding / 4) as usize).max(1));
        }
        // Time budget, first on the reference side: a dispatch should still
        // hold enough queries to fill a GPU (FILL_WORKGROUPS workgroups), so
        // long reference sets are cut rather than the query block shrunk to a
        // handful of workgroups.
        let fill = (self.queries_per_group() * FILL_WORKGROUPS).min(self.n_query.max(1) as u64);
        let by_time = limits.max_coord_pairs_per_dispatch / (fill * dim as u64).max(1);
        Ok(ref_block
            .max(1)
            .min(by_time.clamp(1, usize::MAX as u64) as usize)
            .max(1))
    }

    /// Query rows per block: buffers, output, grid size, time budget.
    fn query_block(&self, ref_block: usize) -> usize {
        let (kernel, limits) = (self.kernel, self.limits);
        let per_query_out = match kernel {
            KernelKind::Knn => 8 * self.k.max(1) as u64,
            KernelKind::Bin => 4 * self.dim as u64 + 8,
            KernelKind::Pairwise => 4 * ref_block as u64,
            _ => 4,
        };
        let mut query_block = self.n_query.max(1).min(self.rows_per_binding);
        query_block = query_block.min(((self.binding / per_query_out) as usize).max(1));
        let max_groups =
            limits.max_workgroups_per_dim as u64 * limits.max_workgroups_per_dim as u64;
        let by_grid = self.queries_per_group().saturating_mul(max_groups);
        query_block = query_block.min(by_grid.min(usize::MAX as u64) as usize);
        if kernel != KernelKind::Bin {
            let pairs = (ref_block * self.dim) as u64;
            let by_time = (limits.max_coord_pairs_per_dispatch / pairs.max(1)).max(1);
            query_block = query_block.min(by_time.min(usize::MAX as u64) as usize);
        }
        query_block.max(1)
    }

    /// Reference slices: as many as it takes for the dispatch to hold
    /// `fill_invocations` invocations, within the slice-row minimum, the
    /// grid, the state buffers' binding and (for the merge) the loop bound.
    fn ref_slices(&self, query_block: usize, ref_block: usize) -> u32 {
        let (kernel, limits, k) = (self.kernel, self.limits, self.k);
        if kernel == KernelKind::Bin || limits.fill_invocations == 0 {
            return 1;
        }
        let invocations = (query_block.min(self.n_query.max(1)) as u64)
            .div_ceil(u64::from(self.shape.queries))
            .max(1);
        let by_rows = (ref_block / limits.min_slice_rows.max(1)).max(1) as u64;
        let mut s = limits
            .fill_invocations
            .div_ceil(invocations)
            .min(by_rows)
            .min(u64::from(MAX_REF_SLICES))
            .min(u64::from(limits.max_workgroups_per_dim.max(1))) as u32;
        let region = query_block as u64 * slice_state_bytes(kernel, k);
        while s > 1
            && (state_regions(kernel, s) * region > self.binding
                || merge_iterations(kernel, k, s) > limits.max_loop_iterations)
        {
            s -= 1;
        }
        s.max(1)
    }
}

/// A plan error naming the kernel.
fn plan_error(kernel: KernelKind, reason: String) -> Error {
    Error::Plan {
        kernel: kernel.name(),
        reason,
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
            queries_per_invocation: GPU_MAX_QUERIES_PER_INVOCATION,
            ..Limits::cpu()
        };
        // with and without reference slices (forced, as in the parity tests)
        let sliced = Limits {
            fill_invocations: 1 << 20,
            min_slice_rows: 1,
            max_workgroups_per_dim: 65_535,
            ..lim.clone()
        };
        for lim in [lim, sliced] {
            for kernel in [
                KernelKind::Knn,
                KernelKind::RadiusCount,
                KernelKind::KdeLse,
                KernelKind::Pairwise,
            ] {
                for dim in [1, 3, 64, 300, 4096] {
                    let p = TilePlan::new(kernel, 1000, 100_000, dim, MAX_K, 0, &lim).unwrap();
                    assert!(
                        p.loop_iterations <= LAVAPIPE_LOOP_LIMIT,
                        "{kernel:?} d={dim}: {}",
                        p.loop_iterations
                    );
                    assert!(merge_iterations(kernel, MAX_K, p.ref_slices) <= LAVAPIPE_LOOP_LIMIT);
                }
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
        let per_group = 8 * p.shape.queries as usize;
        assert!(x <= 4 && (x * y) as usize * per_group >= p.query_block);
    }

    #[test]
    fn cost_model_is_monotone_and_matches_the_tiles() {
        for kernel in [
            KernelKind::Knn,
            KernelKind::RadiusCount,
            KernelKind::Pairwise,
        ] {
            for dim in [1, 4, 17, 300, 2049, 4096] {
                for max_q in [1, GPU_MAX_QUERIES_PER_INVOCATION] {
                    let shape = ScanShape::new(kernel, dim, max_q);
                    let mut last = 0;
                    for n in 0..1200 {
                        let it = loop_iterations(kernel, n, dim, 10, 0, GPU_WORKGROUP_SIZE, shape);
                        assert!(it >= last, "{kernel:?} d={dim} n={n}");
                        last = it;
                    }
                    let per_ref = iterations_per_ref(kernel, dim, 10, shape);
                    assert!(per_ref >= dim.div_ceil(4) as u64, "{kernel:?} d={dim}");
                }
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
        let next = loop_iterations(KernelKind::Knn, p.ref_block + 1, 8, 5, 0, wg, p.shape);
        assert!(next > 10_000);
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
            queries_per_invocation: GPU_MAX_QUERIES_PER_INVOCATION,
            max_loop_iterations: u64::MAX,
            max_coord_pairs_per_dispatch: 1 << 30,
            fill_invocations: 0,
            min_slice_rows: 1,
        };
        let p = TilePlan::new(KernelKind::Knn, 100_000, 100_000, 64, 10, 0, &lim).unwrap();
        let fill = GPU_WORKGROUP_SIZE as u64 * p.shape.queries as u64 * FILL_WORKGROUPS;
        assert!(p.query_block as u64 >= fill.min(100_000));
        assert!((p.query_block * p.ref_block * 64) as u64 <= 1 << 30);
    }

    /// Limits of a large discrete GPU (`plan_limits` of an H100/H200).
    fn big_gpu() -> Limits {
        Limits {
            max_storage_binding_bytes: 256 << 20,
            max_buffer_bytes: 256 << 20,
            max_workgroups_per_dim: 65_535,
            workgroup_size: GPU_WORKGROUP_SIZE,
            queries_per_invocation: GPU_MAX_QUERIES_PER_INVOCATION,
            max_loop_iterations: u64::MAX,
            max_coord_pairs_per_dispatch: 1 << 32,
            fill_invocations: 8 * 1024 * 32,
            min_slice_rows: 64,
        }
    }

    /// Slices fill the device where the queries alone do not, and every
    /// slice, state buffer and merge stays within the limits.
    #[test]
    fn reference_slices_fill_a_large_gpu() {
        let lim = big_gpu();
        let cases = [
            // (n, d, slices, rows per slice)
            (65_536, 8, 16, 512),
            (65_536, 32, 8, 256),
            (16_384, 8, 64, 256),
            (4_096, 8, 64, 64),
        ];
        for (n, d, slices, rows) in cases {
            for kernel in [KernelKind::Knn, KernelKind::RadiusCount, KernelKind::KdeLse] {
                let p = TilePlan::new(kernel, n, n, d, 10, 0, &lim).unwrap();
                assert_eq!(
                    (p.ref_slices, p.slice_rows),
                    (slices, rows),
                    "{kernel:?} {n}x{d}"
                );
            }
        }
        for kernel in [KernelKind::Knn, KernelKind::KdeLse, KernelKind::RadiusCount] {
            for (n, d, k) in [
                (100_000, 8, 64),
                (1_000_000, 3, 64),
                (300, 4096, 5),
                (10, 1, 1),
            ] {
                let p = TilePlan::new(kernel, n, n, d, k, 0, &lim).unwrap();
                let s = p.ref_slices as usize;
                assert!(s >= 1 && s <= MAX_REF_SLICES as usize, "{p:?}");
                // slices cover the block and none is empty
                assert!(s * p.slice_rows >= p.ref_block && (s - 1) * p.slice_rows < p.ref_block);
                assert!(p.state_buffer_bytes(p.query_block, k) <= 256 << 20, "{p:?}");
                let qpi = p.shape.queries as u64;
                let inv = (p.query_block as u64).div_ceil(qpi) * s as u64;
                assert!(
                    inv >= lim.fill_invocations
                        || s == MAX_REF_SLICES as usize
                        || p.slice_rows < 2 * lim.min_slice_rows
                        || p.state_buffer_bytes(p.query_block, k) * 2 > 256 << 20,
                    "{p:?}"
                );
            }
        }
        // no slicing where the limits ask for none (software adapters, the CPU)
        let soft = Limits {
            fill_invocations: 0,
            ..lim
        };
        let p = TilePlan::new(KernelKind::Knn, 4096, 4096, 8, 10, 0, &soft).unwrap();
        assert_eq!((p.ref_slices, p.slice_rows), (1, p.ref_block));
        let p = TilePlan::new(KernelKind::Bin, 4096, 0, 8, 0, 10, &lim).unwrap();
        assert_eq!(p.ref_slices, 1);
    }

    /// The merge is held to the loop bound too: fewer slices, not a longer loop.
    #[test]
    fn merge_respects_the_loop_bound() {
        for (k, bound) in [(10, 600), (1, 60), (3, 120)] {
            let lim = Limits {
                max_loop_iterations: bound,
                min_slice_rows: 1,
                ..big_gpu()
            };
            let p = TilePlan::new(KernelKind::Knn, 256, 20_000, 4, k, 0, &lim).unwrap();
            assert!(p.ref_slices > 1, "{p:?}");
            let merge = merge_iterations(KernelKind::Knn, k, p.ref_slices);
            assert!(merge <= bound && p.loop_iterations >= merge, "{p:?}");
            let scan = loop_iterations(KernelKind::Knn, p.slice_rows, 4, k, 0, 64, p.shape);
            assert!(scan <= bound && p.loop_iterations >= scan, "{p:?}");
        }
        assert_eq!(merge_iterations(KernelKind::Knn, 10, 1), 0);
        assert_eq!(merge_iterations(KernelKind::RadiusCount, 10, 8), 0);
        assert_eq!(state_regions(KernelKind::Knn, 8), 9);
        assert_eq!(state_regions(KernelKind::KdeLse, 8), 8);
        assert_eq!(state_regions(KernelKind::Knn, 1), 1);
    }

    #[test]
    fn shapes_fit_the_register_budget() {
        let q = GPU_MAX_QUERIES_PER_INVOCATION;
        let reg = |queries, v4| ScanShape {
            queries,
            register_vec4s: v4,
        };
        assert_eq!(ScanShape::new(KernelKind::Knn, 8, q), reg(4, 2));
        assert_eq!(ScanShape::new(KernelKind::Knn, 32, q), reg(2, 8));
        assert_eq!(ScanShape::new(KernelKind::KdeLse, 64, q), reg(1, 16));
        assert_eq!(ScanShape::new(KernelKind::Knn, 68, q), reg(2, 0));
        assert_eq!(ScanShape::new(KernelKind::Knn, 8, 1), reg(1, 2));
        assert_eq!(ScanShape::new(KernelKind::Bin, 8, q), reg(1, 0));
        for dim in 1..=4 * GPU_QUERY_REGISTER_VEC4 {
            let s = ScanShape::new(KernelKind::RadiusCount, dim, q);
            assert!((s.queries * s.register_vec4s) as usize <= GPU_QUERY_REGISTER_VEC4);
            assert!(s.queries >= 1 && s.register_vec4s as usize == dim.div_ceil(4));
        }
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
