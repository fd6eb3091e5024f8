// common.wgsl — prepended by the host to every kernel shader.
//
// Constants and parameter structs shared with the Rust host
// (src/kernels/gpu/mod.rs); tests/shaders.rs checks that the struct layouts
// and the constants below match their `#[repr(C)]` twins.

// Invocations per workgroup (each owns QPI query rows, see ref_scan.wgsl).
const WG_SIZE: u32 = 64u;
// Reference tile in workgroup memory, in vec4<f32> (8 KiB).
const TILE_VEC4: u32 = 512u;
// Largest k of the knn kernel (private k-list length).
const MAX_K: u32 = 64u;
// Most query rows one invocation of a query × reference kernel owns.
const MAX_QPI: u32 = 4u;
// Query rows held in registers, in vec4 over all of an invocation's rows
// (the register path of ref_scan.wgsl needs QPI * vec4s <= QREG_VEC4).
const QREG_VEC4: u32 = 16u;
// Most reference slices of one dispatch (the grid's z; see ref_scan.wgsl).
const MAX_SLICES: u32 = 64u;

const NORM_CHEBYSHEV: u32 = 0u;
const NORM_SQ_EUCLIDEAN: u32 = 1u;
// Squared Euclidean per column block, the largest block wins.
const NORM_SQ_BLOCKS: u32 = 2u;
const BOUNDARY_LESS: u32 = 0u;

const BIN_EQUAL_RANGE: u32 = 0u;
const BIN_WIDTH: u32 = 1u;
const BIN_EDGES: u32 = 2u;

// One dispatch of a query-block × reference-block kernel
// (knn, radius_count, kde_lse, pairwise). Mirrors `PairParams`.
struct PairParams {
    n_q: u32,          // query rows in this block
    n_r: u32,          // reference rows in this block
    vec4s: u32,        // padded row width, in vec4
    q_offset: u32,     // global index of the block's first query
    r_offset: u32,     // global index of the block's first reference
    k: u32,            // knn: neighbour rank
    norm: u32,         // NORM_* (the pipeline is specialised on it too)
    n_blocks: u32,     // column blocks (entries of block_ends)
    exclude_self: u32, // 1: skip reference j == query i (global indices)
    boundary: u32,     // radius_count: BOUNDARY_LESS or <=
    scale: f32,        // kde_lse: exp(-scale * d)
    groups_x: u32,     // workgroups along x (the grid is 2-D when large)
    block_starts: u32, // register path: bit c set when a column block starts at vec4 c > 0
    slice_rows: u32,   // reference rows per slice (workgroup_id.z is the slice)
    slices: u32,       // slices, each with its own partial state (stride n_q queries)
    first_block: u32,  // 1: the query block's first reference block (knn starts empty lists)
}

// One dispatch of the bin kernel. Mirrors `BinParams`.
struct BinParams {
    n_rows: u32,
    dim: u32,
    mode: u32,      // BIN_*
    bins: u32,      // equal range: number of bins
    lo: f32,        // equal range: lower end
    scale: f32,     // equal range: bins / (hi - lo), rounded once on the host
    width: f32,     // width binning
    inv_width: f32, // 1 / width, rounded once on the host
    groups_x: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

// Linear invocation index of a 2-D grid of 1-D workgroups.
fn linear_index(wid: vec3<u32>, lid: u32, groups_x: u32) -> u32 {
    return (wid.y * groups_x + wid.x) * WG_SIZE + lid;
}

fn max4(v: vec4<f32>) -> f32 {
    return max(max(v.x, v.y), max(v.z, v.w));
}

fn rotl(x: u32, r: u32) -> u32 {
    return (x << r) | (x >> (32u - r));
}

// The murmur3 finaliser, as `mix32` in src/kernels/mod.rs.
fn mix32(h0: u32) -> u32 {
    var h = h0;
    h ^= h >> 16u;
    h *= 0x85ebca6bu;
    h ^= h >> 13u;
    h *= 0xc2b2ae35u;
    h ^= h >> 16u;
    return h;
}
