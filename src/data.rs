//! `Dataset`: a validated, owned, row-major f32 matrix, the one form every
//! estimator and kernel takes.
//!
//! Validation happens once, here: every value finite, at least one column.

use crate::error::{Error, Result};
use crate::kernels::Rows;

/// An owned `n × d` matrix of finite f32 values, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    name: String,
    data: Vec<f32>,
    n: usize,
    d: usize,
}

impl Dataset {
    /// Validates `data` as `n × d` (row-major); `name` appears in every error.
    pub fn new(name: impl Into<String>, data: Vec<f32>, n: usize, d: usize) -> Result<Self> {
        let name = name.into();
        if d == 0 {
            return Err(Error::shape(&name, "at least one column", "0 columns"));
        }
        if n.checked_mul(d) != Some(data.len()) {
            return Err(Error::shape(
                &name,
                format!("{n} × {d} = {} values", n.saturating_mul(d)),
                format!("{} values", data.len()),
            ));
        }
        if let Some(pos) = data.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                what: name,
                row: pos / d,
                col: pos % d,
                value: data[pos] as f64,
            });
        }
        Ok(Dataset { name, data, n, d })
    }

    /// From an ndarray view of any layout (converted to row-major f32).
    pub fn from_array(name: impl Into<String>, a: ndarray::ArrayView2<'_, f32>) -> Result<Self> {
        let (n, d) = a.dim();
        Dataset::new(name, a.iter().copied().collect(), n, d)
    }

    /// The name used in messages.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Rows.
    pub fn n(&self) -> usize {
        self.n
    }
    /// Columns.
    pub fn d(&self) -> usize {
        self.d
    }
    /// The values, row-major.
    pub fn values(&self) -> &[f32] {
        &self.data
    }
    /// A borrowed view for the kernels.
    pub fn rows(&self) -> Rows<'_> {
        Rows::new(&self.data, self.n, self.d).expect("validated at construction")
    }
}
