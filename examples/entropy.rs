//! Kozachenko–Leonenko entropy (max-norm and Euclidean) of a standard normal
//! sample against ½ ln(2πe) per dimension, and what the tie-breaking noise
//! does to a ReLU-like column full of zeros.
//!
//! Run: `cargo run --example entropy`

use infoplane::estimators::{Gaussian, KnnEntropy};
use infoplane::kernels::Norm;
use infoplane::{BackendChoice, Engine};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

fn main() -> Result<(), infoplane::Error> {
    let engine = Engine::new(BackendChoice::Auto)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let d = 2;
    let x = Array2::from_shape_fn((3000, d), |_| rng.sample::<f64, _>(StandardNormal) as f32);
    let truth = d as f64 / 2.0 * (2.0 * std::f64::consts::PI * std::f64::consts::E).ln();
    println!("closed form H(X) = {truth:.4} nats");
    for norm in [Norm::Chebyshev, Norm::SqEuclidean] {
        let h = KnnEntropy::params()
            .norm(norm)
            .check()?
            .estimate(x.view(), &engine)?;
        println!("kl ({norm:?}) H(X) = {:.4} nats", h.value);
    }
    let g = Gaussian::params().check()?.entropy(x.view())?;
    println!("gaussian H(X) = {:.4} nats", g.value);
    // ReLU: half the values are exactly zero.
    let relu = x.mapv(|v| v.max(0.0));
    let h = KnnEntropy::params()
        .check()?
        .estimate(relu.view(), &engine)?;
    println!(
        "ReLU(X): H = {:.4} nats, duplicates {:?}, noise {:?} of each column's scale",
        h.value, h.diagnostics.duplicates, h.diagnostics.noise
    );
    Ok(())
}
