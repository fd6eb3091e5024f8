//! Special functions (digamma and friends), in f64.
