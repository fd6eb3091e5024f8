//! Breaking exact ties, and only those, at each value's own resolution.
//!
//! kNN estimators need distinct values: a k-th neighbour at distance 0 makes
//! ln 0, and equal counts at a zero radius make ψ of nothing. Values that are
//! equal within their column (ReLU zeros, a clipped bound, rounded data, a
//! constant column, two chance f32 collisions) are spread over distinct
//! nearby f32 values; every other value is left exactly as it is, so tie-free
//! data is not touched and the seed has no effect there.
//!
//! Per column, rows are grouped by value (−0 equals 0). A group of m copies
//! of v takes m distinct positions of a grid around v:
//!
//! * v ≠ 0: v's own f32 grid (the f32 values of v's sign, normal only),
//!   every t-th value;
//! * v = 0: multiples of a step s, never below f32's smallest normal value
//!   (GPUs may flush subnormals);
//! * a constant column is first moved to 0 (every kNN estimator is
//!   translation invariant; moving all values of a column by the same amount
//!   is exact), so an uninformative column adds a spread of 2^-60 steps to
//!   the joint distances instead of one of its own ulps (1e6: 0.06 each).
//!
//! Step and stride follow the f32 resolution of the column's distances: s
//! (and t ulps of v) is the ulp of the column's median nonzero magnitude.
//! Finer copies would tie again in f32 in every distance to the rest of the
//! column (|0.7 − 1e-14| is 0.7 in f32), so a point whose k-th neighbour
//! lies in the atom would see the whole atom at one distance: KSG-1 on
//! 8 ReLU units with half their values 0 (n = 5000) came out 0.50 with
//! zeros spread by 2^-60 steps against 0.42 for NPEET's 1e-10 noise in f64,
//! and 0.40 at the median's ulp against 0.40 (NumPy, f32 arithmetic,
//! n = 3000). A zero atom that is nearly the whole column (fewer than
//! max(16, n/64) nonzero values) is spread by 2^-60 steps (or the ulp of the
//! column's smallest nonzero magnitude when finer): only its few other rows
//! could see such ties, and one large value must not set the spread of all.
//!
//! The positions fill a window of [`SPREAD`] grid points per copy, at most
//! [`MAX_WINDOW`] points (so no copy moves by more than 2^-8 of the larger
//! of |v| and the column's median magnitude), one position drawn in each of
//! m equal cells. Copies on consecutive grid points would be equally far
//! from their left and right neighbours, and such distance ties bias Ross's
//! mixed estimator on atoms (measured with NumPy on clipped Gaussians and a
//! constant column at n = 4,000: +0.06 nats against scikit-learn's
//! infinitesimal Gaussian noise with consecutive points, +0.02 with 4 points
//! per copy, within the spread of 8 trials with 64). The window stays within
//! half the gap to v's neighbouring distinct values (a neighbour's own
//! spread takes the other half), so no new tie and no change of order with
//! other values can arise; when half the gap is too small, it takes the
//! whole gap towards an untied neighbour, then a finer grid (down to single
//! ulps, or the finest zero step), then packs the copies densely, and what
//! still does not fit stays tied (reported).
//!
//! Which copy takes which position is a Fisher–Yates shuffle from ChaCha8
//! seeded with (seed, the column's content hash, v): identical columns (Z =
//! X in a conditional MI, a column repeated in another array) get identical
//! tie-breaking, different columns independent orders, and the result is the
//! same on every machine, thread count and backend.

use super::Dataset;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

/// Grid points of the window per tied copy (see the module docs for the measurement).
pub const SPREAD: u64 = 64;
/// Largest window, in grid points: 2^16, so a copy moves by at most 2^15
/// grid steps, 2^-8 of the larger of |v| and the column's median magnitude.
pub const MAX_WINDOW: u64 = 1 << 16;
/// The zero step of a column that is nearly all zeros: 2^-60 (the square of
/// one step is still a normal f32).
pub const ZERO_STEP: f32 = 1.0 / (1u64 << 60) as f32;
/// Positions on one side of v are counted up to this many (keeps j·s exact).
const ROOM_CAP: u64 = 1 << 24;

/// The largest group of equal values in one array.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TieGroup {
    /// Column index.
    pub column: usize,
    /// First row holding the value.
    pub row: usize,
    /// The value in source units.
    pub value: f64,
    /// Rows holding it.
    pub copies: usize,
    /// copies / n.
    pub share: f64,
}

/// What one array's ties were, and what the tie-breaking did.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct TieReport {
    /// The array.
    pub array: String,
    /// Values equal to at least one other value of their column (all copies counted).
    pub tied: usize,
    /// Values the tie-breaking changed.
    pub moved: usize,
    /// Values still equal to another value of their column afterwards.
    pub residual: usize,
    /// The largest group (None when no value repeats).
    pub largest: Option<TieGroup>,
    /// Largest displacement relative to its column's range (a constant
    /// column: relative to 1); None when nothing moved.
    pub displacement: Option<f64>,
}

/// Order key of an f32: increasing with the value, consecutive f32 values
/// (of one sign) have consecutive keys, −0 maps to +0's key.
fn okey(v: f32) -> u32 {
    let b = if v == 0.0 { 0 } else { v.to_bits() };
    if b & 0x8000_0000 != 0 {
        !b
    } else {
        b | 0x8000_0000
    }
}

fn from_okey(k: u32) -> f32 {
    f32::from_bits(if k & 0x8000_0000 != 0 {
        k & 0x7fff_ffff
    } else {
        !k
    })
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Content hash of a column (−0 and 0 alike), in row order.
fn column_hash(col: &[f32]) -> u64 {
    col.iter()
        .fold(0x6a09_e667_f3bc_c908, |h, &v| splitmix(h ^ okey(v) as u64))
}

/// Row indices sorted by (value, row).
fn sorted_rows(col: &[f32]) -> Vec<u32> {
    let mut keys: Vec<u64> = col
        .iter()
        .enumerate()
        .map(|(i, &v)| ((okey(v) as u64) << 32) | i as u64)
        .collect();
    keys.sort_unstable();
    keys.into_iter().map(|k| k as u32).collect()
}

/// Groups of equal values as ranges of `order`.
fn groups(col: &[f32], order: &[u32]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for w in 1..=order.len() {
        if w == order.len() || okey(col[order[w] as usize]) != okey(col[order[start] as usize]) {
            out.push((start, w));
            start = w;
        }
    }
    out
}

/// One column's result.
#[derive(Default)]
struct ColumnOutcome {
    tied: usize,
    moved: usize,
    residual: usize,
    /// (copies, first row)
    largest: (usize, usize),
    displacement: Option<f64>,
    values: Option<Vec<f32>>,
}

fn column_stats(col: &[f32]) -> ColumnOutcome {
    let order = sorted_rows(col);
    let mut out = ColumnOutcome::default();
    for (a, b) in groups(col, &order) {
        let m = b - a;
        if m >= 2 {
            out.tied += m;
            if m > out.largest.0 {
                out.largest = (m, order[a] as usize);
            }
        }
    }
    out.residual = out.tied;
    out
}

/// Positions strictly between a neighbour and v, on one side.
struct Rooms {
    left: u64,
    right: u64,
}

/// The grid a tied value is spread on; position j is `value(j)`.
#[derive(Clone, Copy, Debug)]
enum Grid {
    /// v = 0: j · step.
    Zero { step: f32, floor: f32 },
    /// v ≠ 0: the f32 value j · stride order keys away from v.
    Keys { v: f32, stride: i64 },
}

impl Grid {
    fn value(self, j: i64) -> f32 {
        match self {
            Grid::Zero { step, .. } => j as f32 * step,
            Grid::Keys { v, stride } => from_okey((okey(v) as i64 + j * stride) as u32),
        }
    }

    /// The next finer grid (half the step), None at the finest.
    fn finer(self) -> Option<Grid> {
        match self {
            Grid::Zero { step, floor } if step / 2.0 >= floor => Some(Grid::Zero {
                step: step / 2.0,
                floor,
            }),
            Grid::Keys { v, stride } if stride > 1 => Some(Grid::Keys {
                v,
                stride: stride / 2,
            }),
            _ => None,
        }
    }

    /// Positions strictly between the neighbours p < v < q (and, for v ≠ 0,
    /// within normal values of v's sign and beyond |v|/2 towards 0, where a
    /// spread of zeros, which stays below half of its gap, cannot reach).
    fn rooms(self, p: Option<f32>, q: Option<f32>) -> Rooms {
        match self {
            Grid::Zero { step, .. } => {
                let side = |x: Option<f32>| {
                    x.map_or(ROOM_CAP, |x| {
                        let r = (x.abs() as f64 / step as f64).ceil() as u64;
                        r.saturating_sub(1).min(ROOM_CAP)
                    })
                };
                Rooms {
                    left: side(p),
                    right: side(q),
                }
            }
            Grid::Keys { v, stride } => {
                let (lo, hi) = if v > 0.0 {
                    (
                        okey((v / 2.0).max(f32::MIN_POSITIVE)) as i64,
                        okey(f32::MAX) as i64,
                    )
                } else {
                    (
                        okey(-f32::MAX) as i64,
                        okey((v / 2.0).min(-f32::MIN_POSITIVE)) as i64,
                    )
                };
                let kv = okey(v) as i64;
                if kv < lo || kv > hi {
                    // A subnormal v has no normal grid of its own sign around it.
                    return Rooms { left: 0, right: 0 };
                }
                let left_end = p.map_or(lo, |p| (okey(p) as i64 + 1).max(lo));
                let right_end = q.map_or(hi, |q| (okey(q) as i64 - 1).min(hi));
                Rooms {
                    left: (((kv - left_end).max(0) / stride) as u64).min(ROOM_CAP),
                    right: (((right_end - kv).max(0) / stride) as u64).min(ROOM_CAP),
                }
            }
        }
    }
}

/// The window [−a, b] of at most `w` points inside rooms `a_max` (left) and
/// `b_max` (right), centred on v where the rooms allow.
fn place(w: u64, a_max: u64, b_max: u64) -> (u64, u64) {
    let w = w.min(a_max + b_max + 1).max(1);
    let mut a = ((w - 1) / 2).min(a_max);
    let b = (w - 1 - a).min(b_max);
    a = (w - 1 - b).min(a_max);
    (a, b)
}

/// The f32 distance resolution a column's spreads are made at: the ulp of
/// its median nonzero magnitude, so that a spread copy's distance to a
/// typical value of the column differs from its neighbour copies' in f32
/// (|0.7 − 1e-14| is 0.7 in f32: copies spread finer than this tie again in
/// every distance to the rest of the column). None when fewer than
/// max(16, n/64) values are nonzero: then a zero atom is nearly the whole
/// column and its spread is kept as small as f32 allows.
fn resolution(col: &[f32]) -> Option<f32> {
    let mut mags: Vec<f32> = col.iter().filter(|v| **v != 0.0).map(|v| v.abs()).collect();
    if mags.len() < (col.len() / 64).max(16) {
        return None;
    }
    let mid = mags.len() / 2;
    let med = *mags.select_nth_unstable_by(mid, f32::total_cmp).1;
    (med >= f32::MIN_POSITIVE).then(|| f32::from_bits(med.to_bits() + 1) - med)
}

/// The finest zero step of a column: 2^-60, or the ulp of its smallest
/// nonzero magnitude when that is finer, never below f32's smallest normal
/// value.
fn finest_zero_step(col: &[f32]) -> f32 {
    let smallest = col
        .iter()
        .filter(|v| **v != 0.0)
        .fold(f32::INFINITY, |m, v| m.min(v.abs()));
    if smallest.is_finite() {
        let ulp = f32::from_bits(smallest.to_bits() + 1) - smallest;
        ZERO_STEP.min(ulp).max(f32::MIN_POSITIVE)
    } else {
        ZERO_STEP
    }
}

fn break_column(col: &[f32], seed: u64) -> ColumnOutcome {
    let n = col.len();
    let order = sorted_rows(col);
    let gs = groups(col, &order);
    let mut out = ColumnOutcome::default();
    for &(a, b) in &gs {
        let m = b - a;
        if m >= 2 {
            out.tied += m;
            if m > out.largest.0 {
                out.largest = (m, order[a] as usize);
            }
        }
    }
    if out.tied == 0 {
        return out;
    }
    let hash = column_hash(col);
    let lo = col[order[0] as usize] as f64;
    let hi = col[order[n - 1] as usize] as f64;
    let constant = gs.len() == 1;
    // A constant column is moved to 0 first (exact for every value).
    let zeros;
    let base: &[f32] = if constant {
        zeros = vec![0f32; n];
        &zeros
    } else {
        col
    };
    let mut new = base.to_vec();
    let range = if hi > lo { hi - lo } else { 1.0 };
    let res = resolution(base);
    let floor = finest_zero_step(base);
    let mut packed = false;
    let mut disp = 0f64;
    for (g, &(a, b)) in gs.iter().enumerate() {
        let m = (b - a) as u64;
        if m < 2 {
            continue;
        }
        let v = base[order[a] as usize];
        let neighbour = |h: usize| {
            let (s, e) = gs[h];
            (base[order[s] as usize], e - s >= 2)
        };
        let p = (g > 0).then(|| neighbour(g - 1));
        let q = (g + 1 < gs.len()).then(|| neighbour(g + 1));
        let mut grid = if v == 0.0 {
            Grid::Zero {
                step: res.map_or(floor, |r| r.max(floor)),
                floor,
            }
        } else {
            let ulp = (f32::from_bits(v.abs().to_bits() + 1) - v.abs()).max(f32::MIN_POSITIVE);
            let stride = res.map_or(1, |r| ((r / ulp) as i64).max(1));
            Grid::Keys { v, stride }
        };
        // A zero atom that is nearly the whole column spreads over 64 points
        // per copy of the finest step; any other spread over at most 2^16.
        let target = if v == 0.0 && res.is_none() {
            (SPREAD * m).min(2 * ROOM_CAP)
        } else {
            (SPREAD * m).min(MAX_WINDOW.max(m))
        };
        // Half the gap towards each neighbour first; the whole gap towards an
        // untied neighbour (which does not move) when half is too small; then
        // a finer grid; then the copies are packed.
        let half = |room: u64, nb: Option<(f32, bool)>| if nb.is_some() { room / 2 } else { room };
        let safe = |room: u64, nb: Option<(f32, bool)>| match nb {
            Some((_, true)) => room / 2,
            _ => room,
        };
        let (lw, rw) = loop {
            let full = grid.rooms(p.map(|x| x.0), q.map(|x| x.0));
            let (lw, rw) = place(target, half(full.left, p), half(full.right, q));
            if lw + rw + 1 >= m {
                break (lw, rw);
            }
            let (lw, rw) = place(target, safe(full.left, p), safe(full.right, q));
            if lw + rw + 1 >= m {
                break (lw, rw);
            }
            match grid.finer() {
                Some(f) => grid = f,
                None => break (lw, rw),
            }
        };
        let width = lw + rw + 1;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(splitmix(
            splitmix(seed ^ 0x7469_6573) ^ hash.rotate_left(17) ^ okey(v) as u64,
        ));
        let mut pos: Vec<i64> = if width >= m {
            let cell = width / m;
            let start = -(lw as i64) + ((width - cell * m) / 2) as i64;
            (0..m)
                .map(|j| {
                    let jitter = if cell > 1 {
                        rng.random_range(0..cell)
                    } else {
                        0
                    };
                    start + (j * cell + jitter) as i64
                })
                .collect()
        } else {
            // Not enough grid points: every one is used, some copies stay tied.
            packed = true;
            (0..m).map(|j| -(lw as i64) + (j % width) as i64).collect()
        };
        for i in (1..pos.len()).rev() {
            let j = rng.random_range(0..=i);
            pos.swap(i, j);
        }
        for (&row, &off) in order[a..b].iter().zip(&pos) {
            let nv = grid.value(off);
            new[row as usize] = nv;
            disp = disp.max((nv as f64 - v as f64).abs());
        }
    }
    out.moved = new
        .iter()
        .zip(col)
        .filter(|(a, b)| okey(**a) != okey(**b))
        .count();
    out.displacement = (out.moved > 0).then_some(disp / range);
    out.residual = if packed { column_stats(&new).tied } else { 0 };
    out.values = Some(new);
    out
}

/// A source value for a message: the shortest text of its f32 value (what
/// f32 data was saved as, 0.2 rather than 0.20000000298023224), or six
/// digits where f32 cannot hold it.
pub fn show_value(v: f64) -> String {
    let f = v as f32;
    if v == 0.0 || (f.is_finite() && f.abs() >= f32::MIN_POSITIVE) {
        format!("{f}")
    } else {
        format!("{v:.6e}")
    }
}

impl Dataset {
    fn column(&self, c: usize) -> Vec<f32> {
        self.data.iter().skip(c).step_by(self.d).copied().collect()
    }

    fn report(&self, outcomes: &[ColumnOutcome]) -> TieReport {
        let mut rep = TieReport {
            array: self.name.clone(),
            ..TieReport::default()
        };
        let mut best: Option<(usize, usize, usize)> = None;
        for (c, o) in outcomes.iter().enumerate() {
            rep.tied += o.tied;
            rep.moved += o.moved;
            rep.residual += o.residual;
            if o.largest.0 >= 2 && best.is_none_or(|b| o.largest.0 > b.0) {
                best = Some((o.largest.0, c, o.largest.1));
            }
            if let Some(dp) = o.displacement {
                rep.displacement = Some(rep.displacement.map_or(dp, |r: f64| r.max(dp)));
            }
        }
        rep.largest = best.map(|(copies, column, row)| TieGroup {
            column,
            row,
            value: self.source_value(row, column),
            copies,
            share: copies as f64 / self.n as f64,
        });
        rep
    }

    /// What the ties of this dataset are, without changing anything.
    pub fn tie_report(&self) -> TieReport {
        let outcomes: Vec<ColumnOutcome> = (0..self.d)
            .into_par_iter()
            .map(|c| column_stats(&self.column(c)))
            .collect();
        self.report(&outcomes)
    }

    /// A copy in which values equal within their column are spread over
    /// distinct nearby f32 values (see the module docs); every other value is
    /// unchanged. The same seed gives the same bits everywhere.
    pub fn break_ties(&self, seed: u64) -> (Dataset, TieReport) {
        let outcomes: Vec<ColumnOutcome> = (0..self.d)
            .into_par_iter()
            .map(|c| break_column(&self.column(c), seed))
            .collect();
        let rep = self.report(&outcomes);
        let mut out = self.clone();
        for (c, o) in outcomes.iter().enumerate() {
            if let Some(v) = &o.values {
                for (i, &x) in v.iter().enumerate() {
                    out.data[i * self.d + c] = x;
                }
            }
        }
        (out, rep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ds(v: &[f32], n: usize, d: usize) -> Dataset {
        Dataset::new("t", v.to_vec(), n, d).unwrap()
    }

    fn distinct(v: &[f32]) -> usize {
        let mut k: Vec<u32> = v.iter().map(|&x| okey(x)).collect();
        k.sort_unstable();
        k.dedup();
        k.len()
    }

    #[test]
    fn order_keys_step_through_consecutive_floats() {
        for v in [1.0f32, -1.0, 3.5e-20, -7e30, f32::MIN_POSITIVE] {
            assert_eq!(from_okey(okey(v) + 1), v.next_up(), "{v}");
            assert_eq!(from_okey(okey(v) - 1), v.next_down(), "{v}");
            assert_eq!(from_okey(okey(v)), v);
        }
        assert_eq!(okey(-0.0), okey(0.0));
        assert!(okey(-1.0) < okey(0.0) && okey(0.0) < okey(1e-30));
    }

    #[test]
    fn tie_free_data_is_untouched_whatever_the_seed() {
        let v: Vec<f32> = (0..50).map(|i| (i as f32 * 0.37).sin()).collect();
        let a = ds(&v, 25, 2);
        for seed in [0, 1, 99] {
            let (b, rep) = a.break_ties(seed);
            assert_eq!(b, a);
            assert_eq!((rep.tied, rep.moved, rep.residual), (0, 0, 0));
            assert_eq!(rep.displacement, None);
        }
    }

    #[test]
    fn ties_are_broken_within_the_gap_and_nothing_else_moves() {
        // Column: 300 copies of 1.0 between 0.5 and 1.5, two copies of 0 and 2.
        let mut v = vec![1.0f32; 300];
        v.extend([0.5, 1.5, 0.0, -0.0, 2.0]);
        let a = ds(&v, v.len(), 1);
        let (b, rep) = a.break_ties(3);
        let nv = b.values();
        assert_eq!(distinct(nv), nv.len());
        assert_eq!(rep.tied, 302);
        assert_eq!(rep.residual, 0);
        assert_eq!(rep.largest.as_ref().unwrap().copies, 300);
        assert_eq!(rep.largest.as_ref().unwrap().value, 1.0);
        for (&x, &y) in nv.iter().zip(&v).skip(300) {
            if y == 0.5 || y == 1.5 || y == 2.0 {
                assert_eq!(x, y);
            }
        }
        // The copies of 1 stay within half the gap to 0.5 and 1.5.
        assert!(nv[..300].iter().all(|&x| x > 0.75 && x < 1.25));
        // At most MAX_WINDOW / 2 ulps from 1.
        assert!(nv[..300]
            .iter()
            .all(|&x| (x as f64 - 1.0).abs() <= (MAX_WINDOW as f64) * f32::EPSILON as f64));
        // The zeros use the resolution of the column's median magnitude (1):
        // multiples of its ulp, 2^-23, within a window of 64 per copy.
        let ulp = f32::EPSILON;
        for &x in &nv[302..304] {
            assert!((x / ulp).fract() == 0.0 && x.abs() <= 64.0 * ulp, "{x}");
        }
        // A column that is nearly all zeros spreads them by 2^-60 steps.
        let mut z = vec![0f32; 100];
        z[0] = 1e6;
        let (zb, _) = ds(&z, 100, 1).break_ties(0);
        assert_eq!(zb.values()[0], 1e6);
        assert!(
            zb.values()[1..].iter().all(|x| x.abs() < 1e-14),
            "{:?}",
            zb.values()
        );
    }

    #[test]
    fn identical_columns_are_broken_identically() {
        let col: Vec<f32> = (0..200).map(|i| ((i * 7) % 5) as f32).collect();
        let two: Vec<f32> = col.iter().flat_map(|&v| [v, v]).collect();
        let (b, _) = ds(&two, 200, 2).break_ties(11);
        for r in 0..200 {
            assert_eq!(b.get(r, 0).to_bits(), b.get(r, 1).to_bits());
        }
        let (c, _) = ds(&col, 200, 1).break_ties(11);
        assert_eq!(c.values(), b.column(0).as_slice());
        // Another seed, another order.
        let (e, _) = ds(&col, 200, 1).break_ties(12);
        assert_ne!(e.values(), c.values());
    }

    #[test]
    fn constant_columns_go_to_zero_with_the_zero_step() {
        let a = ds(&[1e6; 100], 100, 1);
        let (b, rep) = a.break_ties(0);
        assert_eq!(distinct(b.values()), 100);
        assert!(b.values().iter().all(|v| v.abs() < 1e-13));
        assert_eq!(rep.moved, 100);
        assert_eq!(rep.largest.unwrap().value, 1e6);
    }

    #[test]
    fn too_many_copies_for_the_gap_are_reported() {
        // 1.0 and its next f32 up, 10 copies each: no grid point in between.
        let next = 1.0f32.next_up();
        let mut v = vec![1.0f32; 10];
        v.extend([next; 10]);
        v.push(1.0f32.next_down().next_down());
        let (b, rep) = ds(&v, v.len(), 1).break_ties(0);
        assert!(rep.residual > 0, "{rep:?}");
        assert_eq!(column_stats(b.values()).tied, rep.residual);
        // Nothing crossed a neighbour: the order of distinct values is kept.
        assert!(b.values()[..10].iter().all(|&x| x <= 1.0));
        assert!(b.values()[10..20].iter().all(|&x| x >= next));
    }

    #[test]
    fn the_same_bits_on_one_thread() {
        let v: Vec<f32> = (0..3000).map(|i| ((i * 13) % 7) as f32 * 0.5).collect();
        let a = ds(&v, 1000, 3);
        let (b, _) = a.break_ties(5);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let (c, _) = pool.install(|| a.break_ties(5));
        assert_eq!(b, c);
    }
}
