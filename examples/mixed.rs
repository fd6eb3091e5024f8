//! Ross's mixed estimator (scikit-learn's `mutual_info_classif`) of I(X;Y) for
//! continuous X and class labels Y: two Gaussian classes at ±1.
//!
//! Run: `cargo run --example mixed`

use infoplane::estimators::{Mixed, Symbols};
use infoplane::{BackendChoice, Engine};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

fn main() -> Result<(), infoplane::Error> {
    let engine = Engine::new(BackendChoice::Auto)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    let n = 3000;
    let labels: Vec<u32> = (0..n).map(|i| (i % 2) as u32).collect();
    let x = Array2::from_shape_fn((n, 1), |(i, _)| {
        (2.0 * labels[i] as f64 - 1.0 + rng.sample::<f64, _>(StandardNormal)) as f32
    });
    let est = Mixed::params().k(3).check()?;
    let e = est.estimate(x.view(), &Symbols::from_labels(&labels), &engine)?;
    println!("I(X;Y) = {:.4} nats", e.value);
    Ok(())
}
