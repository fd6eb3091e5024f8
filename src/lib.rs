//! # infoplane
//!
//! Measures information in neural networks: mutual information, entropy and
//! conditional entropy between inputs X, labels Y and layer activations T,
//! across layers and training epochs (the information plane of the
//! Information Bottleneck view of deep learning).
//!
//! The heavy work is five kernels ([`kernels`]), each a WGSL compute shader
//! run through `wgpu` and a CPU twin in Rust that computes the same thing.
//! Estimators ([`estimators`]) ask an [`Engine`] for kernel results and
//! never know which backend ran.

pub mod bench;
pub mod check;
pub mod data;
pub mod demo;
pub mod error;
pub mod estimators;
pub mod io;
pub mod kernels;
pub mod memory;
pub mod plane;
pub mod report;
pub mod special;

pub use data::Dataset;
pub use error::{Error, Result};
pub use kernels::{Backend, BackendChoice, Engine, Kernels};
