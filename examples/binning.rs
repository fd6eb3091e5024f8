//! Binning estimators of one tanh layer: Shwartz-Ziv & Tishby (30 bins on
//! [−1, 1]), Saxe's fixed width and Chelombiev's adaptive equal-mass bins,
//! plug-in and Miller–Madow; then the discrete estimators directly.
//!
//! Run: `cargo run --example binning`

use infoplane::estimators::{layer_info, BinScheme, Binned, Discrete, LayerMethod, Symbols};
use infoplane::{BackendChoice, Dataset, Engine};
use rand::{Rng, SeedableRng};

fn main() -> Result<(), infoplane::Error> {
    let engine = Engine::new(BackendChoice::Auto)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let (n, d) = (2000, 3);
    let t: Vec<f32> = (0..n * d)
        .map(|_| (rng.random::<f32>() * 4.0 - 2.0).tanh())
        .collect();
    let labels: Vec<u32> = (0..n).map(|i| (t[i * d] > 0.0) as u32).collect();
    let t = Dataset::new("layer", t, n, d)?;
    let (x, y) = (Symbols::distinct(n), Symbols::from_labels(&labels));
    let schemes = [
        ("SZT 30 bins", BinScheme::default()),
        ("width 0.1", BinScheme::Width(0.1)),
        ("adaptive 30", BinScheme::Adaptive { bins: 30 }),
    ];
    for (name, scheme) in schemes {
        for mm in [false, true] {
            let b = Binned::params()
                .scheme(scheme.clone())
                .miller_madow(mm)
                .check()?;
            let i = layer_info(&t, &x, &y, &LayerMethod::Binned(b), &engine)?;
            println!(
                "{name:12} MM={mm:5}: H(T) {:.3}  I(X;T) {:.3}  I(T;Y) {:.3}  H(Y|T) {:.3} nats",
                i.h_t,
                i.i_xt,
                i.i_ty,
                i.h_y_given_t.unwrap_or(f64::NAN)
            );
        }
    }
    let parity = Symbols::from_labels(&(0..n).map(|i| i % 2).collect::<Vec<_>>());
    let e = Discrete::params().check()?.mutual_info(&y, &parity)?;
    println!(
        "discrete I(Y; parity of index) = {:.4} nats (independent: ~0)",
        e.value
    );
    Ok(())
}
