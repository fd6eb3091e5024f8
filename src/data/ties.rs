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
//! * v ≠ 0: v's own f32 grid (consecutive f32 values, one ulp apart), normal
//!   values of v's sign only;
//! * v = 0: multiples of a step s, the smaller of 2^-60 and the ulp of the
//!   column's smallest nonzero magnitude, never below f32's smallest normal
//!   value (GPUs may flush subnormals); 2^-60 keeps the square of one step a
//!   normal f32;
//! * a constant column is first moved to 0 (every kNN estimator is
//!   translation invariant; moving all values of a column by the same amount
//!   is exact), so an uninformative column adds a spread of 2^-60 steps to
//!   the joint distances instead of one of its own ulps (1e6: 0.06 each).
//!
//! The positions fill a window of [`SPREAD`] grid points per copy (at most
//! [`MAX_WINDOW`] around a nonzero v, so no copy moves by more than 2^-8 of
//! |v|), one position drawn in each of m equal cells. Copies on consecutive
//! grid points would be equally far from their left and right neighbours, and
//! such distance ties bias Ross's mixed estimator on atoms (measured with
//! NumPy on clipped Gaussians and a constant column at n = 4,000: +0.06 nats
//! against scikit-learn's infinitesimal Gaussian noise with consecutive
//! points, +0.02 with 4 points per copy, within the spread of 8 trials with
//! 64). The window stays within half the gap to v's neighbouring distinct
//! values (a neighbour's own spread takes the other half), so no new tie and
//! no change of order with other values can arise; when half the gap is too
//! small, it takes the whole gap towards an untied neighbour, then packs the
//! copies densely, and what still does not fit stays tied (reported).
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
/// Largest window around a nonzero value, in ulps: 2^16, so a copy moves by
/// at most 2^15 ulps, 2^-8 of |v|.
pub const MAX_WINDOW: u64 = 1 << 16;
/// The zero step when the column leaves room for it: 2^-60.
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

/// The window [−a, b] of at most `w` points inside rooms `a_max` (left) and
/// `b_max` (right), centred on v where the rooms allow.
fn place(w: u64, a_max: u64, b_max: u64) -> (u64, u64) {
    let w = w.min(a_max + b_max + 1).max(1);
    let mut a = ((w - 1) / 2).min(a_max);
    let b = (w - 1 - a).min(b_max);
    a = (w - 1 - b).min(a_max);
    (a, b)
}

/// Grid points strictly between a neighbour and v, on one side.
struct Rooms {
    left: u64,
    right: u64,
}

fn rooms_nonzero(v: f32, p: Option<f32>, q: Option<f32>) -> Rooms {
    // Towards 0 the copies stay above |v|/2, where a spread of zeros (linear
    // steps, below half of |v|) cannot reach; away from 0, up to f32's end.
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
        left: ((kv - left_end).max(0) as u64).min(ROOM_CAP),
        right: ((right_end - kv).max(0) as u64).min(ROOM_CAP),
    }
}

fn rooms_zero(step: f32, p: Option<f32>, q: Option<f32>) -> Rooms {
    // Multiples j·step strictly inside (p, 0) and (0, q).
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

/// The zero step of a column: 2^-60, or the ulp of its smallest nonzero
/// magnitude when that is finer, never below f32's smallest normal value.
fn zero_step(col: &[f32]) -> f32 {
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
    let step = zero_step(base);
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
        let full = if v == 0.0 {
            rooms_zero(step, p.map(|x| x.0), q.map(|x| x.0))
        } else {
            rooms_nonzero(v, p.map(|x| x.0), q.map(|x| x.0))
        };
        let target = if v == 0.0 {
            (SPREAD * m).min(2 * ROOM_CAP)
        } else {
            (SPREAD * m).min(MAX_WINDOW.max(m))
        };
        // Half the gap towards each neighbour first; the whole gap towards an
        // untied neighbour (which does not move) when half is too small.
        let half = |room: u64, nb: Option<(f32, bool)>| if nb.is_some() { room / 2 } else { room };
        let safe = |room: u64, nb: Option<(f32, bool)>| match nb {
            Some((_, true)) => room / 2,
            _ => room,
        };
        let (mut lw, mut rw) = place(target, half(full.left, p), half(full.right, q));
        if lw + rw + 1 < m {
            (lw, rw) = place(target, safe(full.left, p), safe(full.right, q));
        }
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
            let nv = if v == 0.0 {
                off as f32 * step
            } else {
                from_okey((okey(v) as i64 + off) as u32)
            };
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
        // The zeros use the zero step.
        for &x in &nv[302..304] {
            assert!(x.abs() < 1e-10 && x.abs() >= f32::MIN_POSITIVE || x == 0.0);
        }
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
