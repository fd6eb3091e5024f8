//! KDE upper and lower bounds (Kolchinsky & Tracey; Saxe et al. 2018) for the
//! layers of a small random tanh network: one information-plane point per layer.
//!
//! Run: `cargo run --example kde_plane`

use infoplane::estimators::{layer_info, Kde, LayerMethod, Symbols};
use infoplane::{BackendChoice, Dataset, Engine};
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

fn main() -> Result<(), infoplane::Error> {
    let engine = Engine::new(BackendChoice::Auto)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let (n, widths) = (1000, [12usize, 8, 4, 2]);
    let mut h: Vec<f32> = (0..n * widths[0])
        .map(|_| rng.random::<f32>() * 2.0 - 1.0)
        .collect();
    let labels: Vec<u32> = (0..n)
        .map(|i| (h[i * widths[0]] + h[i * widths[0] + 1] > 0.0) as u32)
        .collect();
    let x = Symbols::distinct(n);
    let y = Symbols::from_labels(&labels);
    let method = LayerMethod::Kde(Kde::params().variance(1e-3).check()?);
    for l in 1..widths.len() {
        let (a, b) = (widths[l - 1], widths[l]);
        let w: Vec<f32> = (0..a * b)
            .map(|_| (rng.sample::<f64, _>(StandardNormal) / (a as f64).sqrt()) as f32)
            .collect();
        h = (0..n)
            .flat_map(|i| {
                let row = &h[i * a..(i + 1) * a];
                (0..b)
                    .map(|o| (0..a).map(|c| row[c] * w[c * b + o]).sum::<f32>().tanh())
                    .collect::<Vec<_>>()
            })
            .collect();
        let t = Dataset::new(format!("layer{l}"), h.clone(), n, b)?;
        let info = layer_info(&t, &x, &y, &method, &engine)?;
        println!(
            "layer {l} ({b} units): I(X;T) in [{:.3}, {:.3}], I(T;Y) in [{:.3}, {:.3}] nats",
            info.i_xt_lower.unwrap_or(f64::NAN),
            info.i_xt,
            info.i_ty_lower.unwrap_or(f64::NAN),
            info.i_ty
        );
    }
    Ok(())
}
