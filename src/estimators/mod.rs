//! The estimators: each asks the kernels for work and sums in f64 on the host.
