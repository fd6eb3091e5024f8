//! KSG-1 and KSG-2 mutual information on correlated Gaussians, against the
//! closed form I = −(d/2) ln(1 − ρ²), plus the conditional (Frenzel–Pompe)
//! and Gaussian-baseline variants.
//!
//! Run: `cargo run --example ksg`

use infoplane::estimators::{Cmi, Gaussian, Ksg, KsgVariant};
use infoplane::{BackendChoice, Engine};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

fn main() -> Result<(), infoplane::Error> {
    let engine = Engine::new(BackendChoice::Auto)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let (n, rho) = (2000, 0.8f64);
    let x = Array2::from_shape_fn((n, 1), |_| rng.sample::<f64, _>(StandardNormal) as f32);
    let y = Array2::from_shape_fn((n, 1), |(i, _)| {
        (rho * x[[i, 0]] as f64 + (1.0 - rho * rho).sqrt() * rng.sample::<f64, _>(StandardNormal))
            as f32
    });
    let z = Array2::from_shape_fn((n, 1), |_| rng.random::<f32>());
    println!(
        "closed form I(X;Y) = {:.4} nats",
        -0.5 * (1.0 - rho * rho).ln()
    );
    for v in [KsgVariant::Ksg1, KsgVariant::Ksg2] {
        let est = Ksg::params().k(3).variant(v).check()?;
        let e = est.estimate(x.view(), y.view(), &engine)?;
        println!(
            "{} I(X;Y) = {:.4} nats on {} ({:.3} s)",
            e.estimator, e.value, e.adapter, e.seconds
        );
    }
    let cmi = Cmi::params()
        .check()?
        .estimate(x.view(), y.view(), z.view(), &engine)?;
    println!(
        "cmi I(X;Y|Z) = {:.4} nats (Z independent: same as I(X;Y))",
        cmi.value
    );
    let g = Gaussian::params().check()?.mi(x.view(), y.view())?;
    println!("gaussian I(X;Y) = {:.4} nats", g.value);
    println!(
        "{}",
        serde_json::to_string_pretty(&cmi).expect("serialisable")
    );
    Ok(())
}
