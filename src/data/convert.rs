//! From source values to stored f32 values and the [`ValueMap`] between them.
//!
//! A float64 array (`.npy`/`.npz`/`.safetensors` `f8`, CSV text, a NumPy
//! float64 array handed over by a library caller) is cast to f32 only after
//! two exact-in-f64 steps that keep what the cast would lose:
//!
//! * **Centring.** Column c is stored relative to its f64 mean m_c when its
//!   values are not all f32 numbers already and the centring gains at least
//!   one bit (max |v| > 2 max |v − m_c|). N(0, 1) + 10^7 keeps its 24 bits
//!   of the spread instead of the 0 to 4 bits left after `10^7 + x` is
//!   rounded to f32; data that is already f32, integers, and data near 0 are
//!   stored exactly as before (origin 0).
//! * **Scaling.** When the array's largest centred magnitude M lies outside
//!   [2^-60, 2^60] (where squared differences of f32 values would underflow
//!   or overflow, or the values themselves leave f32), the whole array is
//!   scaled by one power of two 2^-e with M·2^-e in [1, 2). One exponent for
//!   all columns keeps the array's max-norm geometry exactly; a power of two
//!   is exact in f64.
//!
//! The record is `source = origin_c + 2^e · stored`. Stored values that would
//! be subnormal in f32 are stored as 0 (GPUs may flush subnormals; the CPU
//! twin must see what the shader sees), and a column whose whole spread is
//! lost that way is refused with its range in the message. Non-finite values
//! pass through unchanged, so that [`super::Dataset::new`] names their row and
//! column.

use super::ValueMap;
use crate::error::{Error, Result};

/// Lower end of the range the stored magnitudes are kept in: 2^-60 (the
/// square of a difference of this size is still a normal f32).
pub const COMFORT_MIN: f64 = 1.0 / (1u64 << 60) as f64;
/// Upper end of the range the stored magnitudes are kept in: 2^60 (the
/// square of a value of this size, summed over many columns, stays below
/// f32's largest value 2^128).
pub const COMFORT_MAX: f64 = (1u64 << 60) as f64;

/// Stored values with their map and what the conversion had to say.
#[derive(Clone, Debug, PartialEq)]
pub struct Converted {
    /// Stored f32 values, row-major.
    pub values: Vec<f32>,
    /// `source = origin_c + 2^exponent · stored`.
    pub map: ValueMap,
    /// Sentences for the diagnostics (centring, scaling, values set to 0).
    pub notes: Vec<String>,
}

/// x · 2^k, exact whenever the result is a normal f64 (the power is applied
/// in steps that are themselves normal).
pub(crate) fn mul_pow2(mut x: f64, mut k: i64) -> f64 {
    while k > 1000 {
        x *= 2f64.powi(1000);
        k -= 1000;
    }
    while k < -1000 {
        x *= 2f64.powi(-1000);
        k += 1000;
    }
    x * 2f64.powi(k as i32)
}

/// floor(log2 x) for a finite x > 0 (subnormals included), exactly.
fn floor_log2(x: f64) -> i32 {
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    if biased == 0 {
        // Subnormal: the value is mantissa · 2^-1074.
        let mant = bits & ((1u64 << 52) - 1);
        63 - mant.leading_zeros() as i32 - 1074
    } else {
        biased - 1023
    }
}

/// Whether `v` survives a cast to f32 unchanged.
fn is_f32(v: f64) -> bool {
    (v as f32) as f64 == v
}

/// f32 values as stored: a subnormal result is stored as 0.
fn to_stored(v: f64) -> f32 {
    let s = v as f32;
    if s != 0.0 && s.abs() < f32::MIN_POSITIVE {
        0.0
    } else {
        s
    }
}

/// Converts `src` (`n × d`, row-major) to stored f32 values. `name` appears
/// in every message. Non-finite values are passed through for
/// [`super::Dataset::new`] to report.
pub fn convert_f64(name: &str, src: &[f64], n: usize, d: usize) -> Result<Converted> {
    if d == 0 || n.checked_mul(d) != Some(src.len()) {
        return Err(Error::shape(
            name,
            format!("{n} × {d} = {} values", n.saturating_mul(d)),
            format!("{} values", src.len()),
        ));
    }
    // Pass 1: magnitudes and whether every value is an f32 already.
    let mut max_abs = vec![0f64; d];
    let mut exact = vec![true; d];
    let mut count = vec![0usize; d];
    for row in src.chunks_exact(d) {
        for (c, &v) in row.iter().enumerate() {
            if v.is_finite() {
                max_abs[c] = max_abs[c].max(v.abs());
                exact[c] &= is_f32(v);
                count[c] += 1;
            }
        }
    }
    // Pass 2: means of the columns that are not f32 already, summed with the
    // values scaled to at most 1 so that no sum overflows.
    let mut origin = vec![0f64; d];
    let mut shift = vec![0i64; d];
    let mut sum = vec![0f64; d];
    for c in 0..d {
        if !exact[c] && count[c] > 0 && max_abs[c] > 0.0 {
            shift[c] = floor_log2(max_abs[c]) as i64 + 1;
        }
    }
    if exact.iter().any(|e| !e) {
        for row in src.chunks_exact(d) {
            for (c, &v) in row.iter().enumerate() {
                if !exact[c] && v.is_finite() {
                    sum[c] += mul_pow2(v, -shift[c]);
                }
            }
        }
    }
    let mut mean: Vec<f64> = (0..d)
        .map(|c| {
            if count[c] == 0 {
                0.0
            } else {
                mul_pow2(sum[c] / count[c] as f64, shift[c])
            }
        })
        .collect();
    // Pass 3: one correction of the mean (the mean of the residuals, so that
    // a constant column's mean is its value), then the spread about it,
    // which decides the centring.
    let mut max_dev = vec![0f64; d];
    if exact.iter().any(|e| !e) {
        let mut resid = vec![0f64; d];
        for row in src.chunks_exact(d) {
            for (c, &v) in row.iter().enumerate() {
                if !exact[c] && v.is_finite() {
                    resid[c] += v - mean[c];
                }
            }
        }
        for c in 0..d {
            if count[c] > 0 && resid[c].is_finite() {
                mean[c] += resid[c] / count[c] as f64;
            }
        }
        for row in src.chunks_exact(d) {
            for (c, &v) in row.iter().enumerate() {
                if !exact[c] && v.is_finite() {
                    max_dev[c] = max_dev[c].max((v - mean[c]).abs());
                }
            }
        }
    }
    // A constant column is centred too (stored as 0, its value the origin),
    // but only columns with a spread are worth a note.
    let mut centred = 0usize;
    let mut widest = (0f64, 0f64);
    for c in 0..d {
        if !exact[c] && count[c] > 0 && max_abs[c] > 2.0 * max_dev[c] {
            origin[c] = mean[c];
            if max_dev[c] > 0.0 {
                centred += 1;
                if mean[c].abs() > widest.0.abs() {
                    widest = (mean[c], max_dev[c]);
                }
            }
        }
    }
    // The largest centred magnitude sets the array's exponent.
    let big = (0..d)
        .map(|c| {
            if origin[c] != 0.0 {
                max_dev[c]
            } else {
                max_abs[c]
            }
        })
        .fold(0f64, f64::max);
    let exponent = if big == 0.0 || (COMFORT_MIN..=COMFORT_MAX).contains(&big) {
        0
    } else {
        floor_log2(big)
    };
    // Pass 4: the stored values, with each column's source and stored range.
    let mut values = Vec::with_capacity(src.len());
    let mut lost = vec![0usize; d];
    let mut src_lo = vec![f64::INFINITY; d];
    let mut src_hi = vec![f64::NEG_INFINITY; d];
    let mut st_lo = vec![f32::INFINITY; d];
    let mut st_hi = vec![f32::NEG_INFINITY; d];
    for row in src.chunks_exact(d) {
        for (c, &v) in row.iter().enumerate() {
            if !v.is_finite() {
                values.push(v as f32);
                continue;
            }
            let a = v - origin[c];
            let s = to_stored(mul_pow2(a, -(exponent as i64)));
            if s == 0.0 && a != 0.0 {
                lost[c] += 1;
            }
            src_lo[c] = src_lo[c].min(v);
            src_hi[c] = src_hi[c].max(v);
            st_lo[c] = st_lo[c].min(s);
            st_hi[c] = st_hi[c].max(s);
            values.push(s);
        }
    }
    let mut notes = Vec::new();
    for c in 0..d {
        if count[c] > 0 && src_lo[c] < src_hi[c] && st_lo[c] == st_hi[c] {
            return Err(Error::Data {
                what: name.to_string(),
                reason: format!(
                    "column {c} spans {:e} .. {:e}: below f32's range even after centring and \
                     scaling (the array's largest magnitude, {big:e}, sets its scale 2^{exponent}, \
                     and f32 keeps no more than about 2^-126 of that); save this column in an \
                     array of its own or rescale it",
                    src_lo[c], src_hi[c]
                ),
            });
        }
        if lost[c] > 0 {
            notes.push(format!(
                "{name}: {} value(s) of column {c} are below f32's normal range at the array's \
                 scale and were stored as 0",
                lost[c]
            ));
        }
    }
    if centred > 0 {
        notes.push(format!(
            "{name}: {centred} column(s) were centred at their f64 mean before the conversion to \
             f32 (offset up to {:.6e} against a spread of {:.3e}), which keeps the precision the \
             offset would take; kNN and KDE estimates do not depend on an offset, binning and \
             symbols use the source values",
            widest.0, widest.1
        ));
    }
    if exponent != 0 {
        notes.push(format!(
            "{name}: stored as 2^{} × the source values (their largest magnitude, {big:.3e}, is \
             outside f32's comfortable range 2^-60 .. 2^60); entropies add d·{exponent}·ln 2 back",
            -exponent
        ));
    }
    Ok(Converted {
        values,
        map: ValueMap { origin, exponent },
        notes,
    })
}

/// Checks f32 source values: kept as they are, unless their largest
/// magnitude is outside [2^-60, 2^60] or some are subnormal, in which case
/// they go through [`convert_f64`] (exact: no f32 value is centred).
pub fn fit_f32(name: &str, values: Vec<f32>, n: usize, d: usize) -> Result<Converted> {
    let mut big = 0f32;
    let mut subnormal = false;
    for &v in values.iter().filter(|v| v.is_finite()) {
        big = big.max(v.abs());
        subnormal |= v != 0.0 && v.abs() < f32::MIN_POSITIVE;
    }
    let big = big as f64;
    if !subnormal && (big == 0.0 || (COMFORT_MIN..=COMFORT_MAX).contains(&big)) {
        return Ok(Converted {
            values,
            map: ValueMap::identity(d),
            notes: Vec::new(),
        });
    }
    let wide: Vec<f64> = values.iter().map(|&v| v as f64).collect();
    convert_f64(name, &wide, n, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_log2_is_exact() {
        assert_eq!(floor_log2(1.0), 0);
        assert_eq!(floor_log2(1.5), 0);
        assert_eq!(floor_log2(2.0), 1);
        assert_eq!(floor_log2(0.75), -1);
        assert_eq!(floor_log2(f64::MAX), 1023);
        assert_eq!(floor_log2(f64::MIN_POSITIVE), -1022);
        assert_eq!(floor_log2(5e-324), -1074);
        assert_eq!(floor_log2(1e-310), (1e-310f64).log2().floor() as i32);
    }

    #[test]
    fn mul_pow2_is_exact_across_the_range() {
        assert_eq!(mul_pow2(1.5, 2000), 1.5 * 2f64.powi(1000) * 2f64.powi(1000));
        assert_eq!(mul_pow2(mul_pow2(3.0, -1060), 1060), 3.0);
        assert_eq!(
            mul_pow2(1e-310, 1030),
            1e-310 * 2f64.powi(1000) * 2f64.powi(30)
        );
    }

    #[test]
    fn f32_data_near_one_is_stored_as_is() {
        let v: Vec<f64> = vec![0.5, -1.25, 3.0, 1e6, 2.0, 7.0];
        let c = convert_f64("a", &v, 3, 2).unwrap();
        assert!(c.map.is_identity());
        assert_eq!(c.values, vec![0.5, -1.25, 3.0, 1e6, 2.0, 7.0]);
        assert!(c.notes.is_empty());
        let f = fit_f32("a", vec![1.0, -2.0], 2, 1).unwrap();
        assert!(f.map.is_identity() && f.values == vec![1.0, -2.0]);
    }

    #[test]
    fn offsets_are_centred_in_f64() {
        // 1e7 + k/1000: f32 cannot tell these apart (its step at 1e7 is 1).
        let v: Vec<f64> = (0..8).map(|k| 1e7 + k as f64 / 1000.0).collect();
        let c = convert_f64("x", &v, 8, 1).unwrap();
        let m = c.map.origin()[0];
        assert!((m - (1e7 + 0.0035)).abs() < 1e-8, "{m}");
        assert_eq!(c.map.exponent(), 0);
        for (k, s) in c.values.iter().enumerate() {
            assert_eq!(*s, (v[k] - m) as f32);
            assert!((c.map.source(0, *s) - v[k]).abs() < 1e-9);
        }
        assert!(c.notes[0].contains("centred"), "{:?}", c.notes);
    }

    #[test]
    fn tiny_and_huge_arrays_are_scaled_by_one_power_of_two() {
        // Neither column gains from centring (max |v| ≤ 2 max |v − mean|).
        let v = [1e-300, -3e-300, -2e-300, 0.0];
        let c = convert_f64("x", &v, 2, 2).unwrap();
        let e = c.map.exponent();
        assert_eq!(e, floor_log2(3e-300));
        for (k, s) in c.values.iter().enumerate() {
            assert_eq!(*s, mul_pow2(v[k], -(e as i64)) as f32);
        }
        let h = convert_f64("x", &[1e300, -2e300], 2, 1).unwrap();
        assert!(h.values.iter().all(|v| v.is_finite() && v.abs() < 2.0));
        assert!(
            h.notes.iter().any(|n| n.contains("2^-997")),
            "{:?}",
            h.notes
        );
    }

    #[test]
    fn a_column_lost_below_f32_is_refused_by_range() {
        // Column 1 is 1e-60 of column 0: nothing of it is left in f32.
        let v = [1.0, 1e-60, 2.0, 3e-60, 1.5, 2e-60];
        let e = convert_f64("x.npy", &v, 3, 2).unwrap_err().to_string();
        assert!(
            e.contains("x.npy") && e.contains("column 1") && e.contains("1e-60"),
            "{e}"
        );
        // One tiny value among normal ones is only noted.
        let c = convert_f64("x.npy", &[1.0, 1e-60, 2.0], 3, 1).unwrap();
        assert_eq!(c.values[1], 0.0);
        assert!(c.notes.iter().any(|n| n.contains("stored as 0")));
    }

    #[test]
    fn non_finite_values_pass_through() {
        let c = convert_f64("x", &[1.0, f64::NAN, f64::INFINITY], 3, 1).unwrap();
        assert!(c.values[1].is_nan() && c.values[2] == f32::INFINITY);
    }

    #[test]
    fn f32_subnormals_are_scaled() {
        let v = vec![1e-40f32, 3e-40, 2e-40];
        let c = fit_f32("x", v.clone(), 3, 1).unwrap();
        assert_ne!(c.map.exponent(), 0);
        for (k, s) in c.values.iter().enumerate() {
            assert_eq!(c.map.source(0, *s), v[k] as f64);
        }
    }
}
