//! The built-in experiment of Shwartz-Ziv & Tishby (2017), "Opening the black
//! box of deep neural networks via information", section 3: every 12-bit
//! binary input (4096 of them) with a binary, rotation-invariant label, a
//! fully connected network 12-10-7-5-4-3-2 with tanh hidden units and a
//! softmax output, trained by plain SGD on cross-entropy; the activations of
//! every layer are recorded at epochs spaced on a log scale so that
//! [`crate::plane`] can draw the information plane.
//!
//! The labels. Shwartz-Ziv & Tishby place the 12 bits on the vertices of an
//! icosahedron (12 points evenly spread on the sphere) and label a pattern by
//! thresholding a spherically symmetric function of it, with the threshold set
//! so that p(y = 1) ≈ ½. Their exact function is not published in closed form,
//! so infoplane uses this documented rule: with spins s_i = 2x_i − 1 on the
//! unit vertices v_i,
//!
//!   g(x) = |Σ_i s_i v_i|² − 0.6 Σ_{i,j} s_i s_j P₂(v_i·v_j) + 0.9 Σ_i s_i,
//!
//! (dipole power, quadrupole power, net magnetisation: all invariant under
//! rotations of the sphere), and y = 1 when g(x) exceeds the threshold among
//! g's distinct values that leaves the split closest to balanced (2061 of
//! 4096 patterns, 50.3 %, get y = 1). Patterns related by a rotation of the
//! icosahedron always share a label, as in the original.
//!
//! Training follows the original set-up where it is cheap enough to finish in
//! seconds: 85 % of the patterns train (a seeded shuffle), weights start as
//! N(0, 1/fan_in) (He's N(0, 2/fan_in) for ReLU), biases at zero, minibatch
//! SGD without momentum. `--activation relu` swaps the hidden units for
//! ReLUs, the case of Saxe et al. (2018), "On the information bottleneck
//! theory of deep learning", where the compression phase disappears.

use crate::data::Dataset;
use crate::error::{Error, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// Layer widths of the network, input first.
pub const WIDTHS: [usize; 7] = [12, 10, 7, 5, 4, 3, 2];

/// Number of input bits.
pub const BITS: usize = 12;

/// Hidden-unit non-linearity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Activation {
    /// tanh (Shwartz-Ziv & Tishby).
    #[default]
    Tanh,
    /// max(0, t) (Saxe et al.).
    Relu,
}

impl std::str::FromStr for Activation {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "tanh" => Ok(Activation::Tanh),
            "relu" => Ok(Activation::Relu),
            other => Err(Error::param(
                "activation",
                format!("expected tanh or relu, got `{other}`"),
            )),
        }
    }
}

impl std::fmt::Display for Activation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
        })
    }
}

/// How to run the demo.
#[derive(Clone, Debug)]
pub struct DemoConfig {
    /// Training epochs (passes over the training set).
    pub epochs: usize,
    /// Hidden-unit non-linearity.
    pub activation: Activation,
    /// Seed of the split, the initial weights and the minibatch order.
    pub seed: u64,
    /// SGD step size.
    pub learning_rate: f64,
    /// Minibatch size.
    pub batch: usize,
    /// How many epochs (log-spaced, epoch 0 included) to record activations at.
    pub records: usize,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            epochs: 2000,
            activation: Activation::Tanh,
            seed: 0,
            learning_rate: 0.05,
            batch: 32,
            records: 30,
        }
    }
}

impl DemoConfig {
    /// Checks the rules each field obeys.
    pub fn check(&self) -> Result<()> {
        if self.epochs == 0 {
            return Err(Error::param("epochs", "must be at least 1, got 0"));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(Error::param(
                "learning_rate",
                format!("must be finite and > 0, got {}", self.learning_rate),
            ));
        }
        if self.batch == 0 {
            return Err(Error::param("batch", "must be at least 1, got 0"));
        }
        if self.records < 2 {
            return Err(Error::param(
                "records",
                format!("must be at least 2, got {}", self.records),
            ));
        }
        Ok(())
    }

    /// Host bytes the run holds, an upper bound from the shapes: the inputs
    /// (an f32 and an f64 copy), one forward pass over every input while
    /// recording, and every layer's f32 activations at each recorded epoch
    /// (min(records, epochs + 1) of them).
    pub fn host_bytes(&self) -> u64 {
        let n = 1u64 << BITS;
        let units: u64 = WIDTHS[1..].iter().sum::<usize>() as u64;
        let inputs = n * BITS as u64 * (4 + 8);
        // per input: every layer's f64 outputs and a vector header per layer
        let pass = n * (WIDTHS.iter().sum::<usize>() as u64 * 8 + WIDTHS.len() as u64 * 24);
        let records = (self.records as u64).min((self.epochs as u64).saturating_add(1));
        records
            .saturating_mul(n * units * 4)
            .saturating_add(inputs + pass)
    }
}

/// The recorded run: inputs, labels, and every layer's activations at each recorded epoch.
#[derive(Clone, Debug)]
pub struct DemoRun {
    /// The 4096 × 12 binary inputs (bit k of pattern p is column k of row p).
    pub x: Dataset,
    /// Labels (0 or 1), one per input row.
    pub y: Vec<u32>,
    /// Recorded epochs, ascending (0 is the untrained network).
    pub epochs: Vec<usize>,
    /// Layer names: `layer1` … `layer6` (the last is the softmax output).
    pub layers: Vec<String>,
    /// `activations[e][l]`: layer l on all 4096 inputs at `epochs[e]`.
    pub activations: Vec<Vec<Dataset>>,
    /// Accuracy on the held-out 15 % at each recorded epoch.
    pub test_accuracy: Vec<f64>,
}

/// The 12 unit vertices of an icosahedron: cyclic permutations of (0, ±1, ±φ), normalised.
fn icosahedron() -> [[f64; 3]; BITS] {
    let phi = (1.0 + 5f64.sqrt()) / 2.0;
    let norm = (1.0 + phi * phi).sqrt();
    let mut v = [[0.0; 3]; BITS];
    let mut i = 0;
    for a in [-1.0, 1.0] {
        for b in [-phi, phi] {
            for p in [[0.0, a, b], [a, b, 0.0], [b, 0.0, a]] {
                v[i] = [p[0] / norm, p[1] / norm, p[2] / norm];
                i += 1;
            }
        }
    }
    v
}

/// The rotation-invariant score g(x) of the module docs.
fn score(bits: &[f32], v: &[[f64; 3]; BITS]) -> f64 {
    let s: Vec<f64> = bits.iter().map(|&b| 2.0 * b as f64 - 1.0).collect();
    let mut m = [0.0f64; 3];
    for (si, vi) in s.iter().zip(v) {
        for c in 0..3 {
            m[c] += si * vi[c];
        }
    }
    let dipole: f64 = m.iter().map(|c| c * c).sum();
    let mut quad = 0.0;
    for (i, vi) in v.iter().enumerate() {
        for (j, vj) in v.iter().enumerate() {
            let c: f64 = (0..3).map(|k| vi[k] * vj[k]).sum();
            quad += s[i] * s[j] * (1.5 * c * c - 0.5);
        }
    }
    dipole - 0.6 * quad + 0.9 * s.iter().sum::<f64>()
}

/// All 4096 12-bit patterns (row p holds the bits of p, least significant first)
/// and their labels under the rule of the module docs.
pub fn szt_data() -> (Vec<f32>, Vec<u32>) {
    let n = 1usize << BITS;
    let x: Vec<f32> = (0..n)
        .flat_map(|p| (0..BITS).map(move |k| ((p >> k) & 1) as f32))
        .collect();
    let v = icosahedron();
    // Scores are sums of a few irrational terms; rounding merges values equal up to float error.
    let g: Vec<f64> = x
        .chunks_exact(BITS)
        .map(|r| (score(r, &v) * 1e9).round() / 1e9)
        .collect();
    let mut distinct = g.clone();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    // Threshold: the distinct value whose "greater than" split is closest to half.
    let threshold = distinct
        .iter()
        .copied()
        .min_by_key(|&t| {
            let above = g.iter().filter(|&&s| s > t).count();
            above.abs_diff(n / 2)
        })
        .expect("4096 scores");
    let y = g.iter().map(|&s| u32::from(s > threshold)).collect();
    (x, y)
}

/// Recorded epochs: exactly min(`records`, `epochs` + 1) distinct epochs,
/// spaced evenly in log(1 + epoch) from 0 to `epochs`.
///
/// Point i sits at t_i = log(1 + epochs) · i / (m − 1) and takes the epoch
/// nearest to e^{t_i} − 1; where rounding would give an epoch already taken
/// (the first few points are closer than one epoch apart), it takes the next
/// free one, never so far that the later points run out of epochs. So the
/// early epochs are recorded one by one, the later ones on the log scale, and
/// `--records 30` records 30 epochs. When `records` ≥ `epochs` + 1, every
/// epoch is recorded (answered without generating points, so a huge
/// `records` costs nothing).
pub fn record_epochs(epochs: usize, records: usize) -> Vec<usize> {
    if records > epochs || epochs == 0 {
        return (0..=epochs).collect();
    }
    let m = records.max(2);
    let top = (epochs as f64 + 1.0).ln();
    let mut out: Vec<usize> = Vec::with_capacity(m);
    for i in 0..m {
        let t = top * i as f64 / (m - 1) as f64;
        let near = (t.exp() - 1.0).round() as usize;
        let lowest = out.last().map_or(0, |&e| e + 1);
        let highest = epochs - (m - 1 - i);
        out.push(near.clamp(lowest, highest));
    }
    out
}

/// A fully connected network, weights row-major `out × in`, with its
/// gradient and activation buffers allocated once (training is millions of
/// tiny steps; allocation would dominate them).
struct Net {
    act: Activation,
    w: Vec<Vec<f64>>,
    b: Vec<Vec<f64>>,
    gw: Vec<Vec<f64>>,
    gb: Vec<Vec<f64>>,
    outs: Vec<Vec<f64>>,
    delta: Vec<f64>,
    back: Vec<f64>,
}

impl Net {
    fn new(act: Activation, rng: &mut ChaCha8Rng) -> Net {
        let mut w = Vec::new();
        let mut b = Vec::new();
        for pair in WIDTHS.windows(2) {
            let (fan_in, fan_out) = (pair[0], pair[1]);
            let gain = match act {
                Activation::Tanh => 1.0,
                Activation::Relu => 2.0,
            };
            let normal = Normal::new(0.0, (gain / fan_in as f64).sqrt()).expect("positive std");
            w.push(
                (0..fan_in * fan_out)
                    .map(|_| normal.sample(rng))
                    .collect::<Vec<f64>>(),
            );
            b.push(vec![0.0; fan_out]);
        }
        let gw = w.iter().map(|w| vec![0.0; w.len()]).collect();
        let gb = b.iter().map(|b| vec![0.0; b.len()]).collect();
        let outs = WIDTHS[1..].iter().map(|&n| vec![0.0; n]).collect();
        let widest = WIDTHS.iter().copied().max().unwrap_or(1);
        Net {
            act,
            w,
            b,
            gw,
            gb,
            outs,
            delta: Vec::with_capacity(widest),
            back: Vec::with_capacity(widest),
        }
    }

    /// Fills `self.outs` with every layer's activations for one input
    /// (hidden non-linearity, softmax last).
    fn forward(&mut self, x: &[f64]) {
        let last = self.w.len() - 1;
        for l in 0..=last {
            let (done, rest) = self.outs.split_at_mut(l);
            let input: &[f64] = if l == 0 { x } else { &done[l - 1] };
            let z = &mut rest[0];
            let fan_in = input.len();
            let w = &self.w[l];
            for (o, zo) in z.iter_mut().enumerate() {
                let row = &w[o * fan_in..(o + 1) * fan_in];
                *zo = self.b[l][o] + row.iter().zip(input).map(|(a, b)| a * b).sum::<f64>();
            }
            if l == last {
                let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let s: f64 = z.iter().map(|v| (v - m).exp()).sum();
                z.iter_mut().for_each(|v| *v = (*v - m).exp() / s);
            } else {
                match self.act {
                    Activation::Tanh => z.iter_mut().for_each(|v| *v = v.tanh()),
                    Activation::Relu => z.iter_mut().for_each(|v| *v = v.max(0.0)),
                }
            }
        }
    }

    /// One SGD step on the minibatch `batch` (indices into `inputs`), mean cross-entropy gradient.
    fn step(&mut self, inputs: &[Vec<f64>], labels: &[u32], batch: &[usize], lr: f64) {
        self.gw.iter_mut().for_each(|g| g.fill(0.0));
        self.gb.iter_mut().for_each(|g| g.fill(0.0));
        let last = self.w.len() - 1;
        for &i in batch {
            let x = &inputs[i];
            self.forward(x);
            // Softmax with cross-entropy: dL/dz = p − onehot(y).
            self.delta.clear();
            self.delta.extend_from_slice(&self.outs[last]);
            self.delta[labels[i] as usize] -= 1.0;
            for l in (0..=last).rev() {
                let input: &[f64] = if l == 0 { x } else { &self.outs[l - 1] };
                let fan_in = input.len();
                for (o, d) in self.delta.iter().enumerate() {
                    self.gb[l][o] += d;
                    let g = &mut self.gw[l][o * fan_in..(o + 1) * fan_in];
                    g.iter_mut().zip(input).for_each(|(g, v)| *g += d * v);
                }
                if l > 0 {
                    self.back.clear();
                    for (i, h) in input.iter().enumerate() {
                        let back: f64 = self
                            .delta
                            .iter()
                            .enumerate()
                            .map(|(o, d)| d * self.w[l][o * fan_in + i])
                            .sum();
                        let deriv = match self.act {
                            Activation::Tanh => 1.0 - h * h,
                            Activation::Relu => f64::from(u8::from(*h > 0.0)),
                        };
                        self.back.push(back * deriv);
                    }
                    std::mem::swap(&mut self.delta, &mut self.back);
                }
            }
        }
        let scale = lr / batch.len() as f64;
        for l in 0..=last {
            self.w[l]
                .iter_mut()
                .zip(&self.gw[l])
                .for_each(|(w, g)| *w -= scale * g);
            self.b[l]
                .iter_mut()
                .zip(&self.gb[l])
                .for_each(|(b, g)| *b -= scale * g);
        }
    }
}

/// Trains the network and records every layer at the log-spaced epochs.
/// `on_epoch` is called after each epoch (for a progress bar).
pub fn run(cfg: &DemoConfig, mut on_epoch: impl FnMut(usize)) -> Result<DemoRun> {
    cfg.check()?;
    let (xv, y) = szt_data();
    let n = y.len();
    let inputs: Vec<Vec<f64>> = xv
        .chunks_exact(BITS)
        .map(|r| r.iter().map(|&b| b as f64).collect())
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng);
    // 85 % train, 15 % test, as in Shwartz-Ziv & Tishby.
    let n_train = n * 85 / 100;
    let (train, test) = order.split_at(n_train);
    let mut train = train.to_vec();
    let mut net = Net::new(cfg.activation, &mut rng);
    let epochs = record_epochs(cfg.epochs, cfg.records);
    let layers: Vec<String> = (1..WIDTHS.len()).map(|l| format!("layer{l}")).collect();
    let mut activations = Vec::with_capacity(epochs.len());
    let mut test_accuracy = Vec::with_capacity(epochs.len());
    let mut next = 0;
    for epoch in 0..=cfg.epochs {
        if next < epochs.len() && epochs[next] == epoch {
            let (acts, acc) = record(&mut net, &inputs, &y, test)?;
            activations.push(acts);
            test_accuracy.push(acc);
            next += 1;
        }
        if epoch == cfg.epochs {
            break;
        }
        train.shuffle(&mut rng);
        for chunk in train.chunks(cfg.batch) {
            net.step(&inputs, &y, chunk, cfg.learning_rate);
        }
        on_epoch(epoch + 1);
    }
    Ok(DemoRun {
        x: Dataset::new("demo inputs", xv, n, BITS)?,
        y,
        epochs,
        layers,
        activations,
        test_accuracy,
    })
}

/// Every layer's activations on all inputs, and the held-out accuracy.
fn record(
    net: &mut Net,
    inputs: &[Vec<f64>],
    y: &[u32],
    test: &[usize],
) -> Result<(Vec<Dataset>, f64)> {
    let outs: Vec<Vec<Vec<f64>>> = inputs
        .iter()
        .map(|x| {
            net.forward(x);
            net.outs.clone()
        })
        .collect();
    let mut layers = Vec::with_capacity(WIDTHS.len() - 1);
    for (l, &w) in WIDTHS[1..].iter().enumerate() {
        let data: Vec<f32> = outs
            .iter()
            .flat_map(|o| o[l].iter().map(|&v| v as f32))
            .collect();
        layers.push(Dataset::new(
            format!("layer{}", l + 1),
            data,
            inputs.len(),
            w,
        )?);
    }
    let last = WIDTHS.len() - 2;
    let correct = test
        .iter()
        .filter(|&&i| u32::from(outs[i][last][1] > outs[i][last][0]) == y[i])
        .count();
    Ok((layers, correct as f64 / test.len().max(1) as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_balanced_and_rotation_invariant() {
        let (x, y) = szt_data();
        assert_eq!(x.len(), 4096 * BITS);
        let ones = y.iter().filter(|&&v| v == 1).count();
        assert!(ones.abs_diff(2048) < 64, "{ones} positives");
        // The antipodal map v -> -v is a symmetry of the icosahedron that flips the
        // dipole's sign only, so |dipole|², the quadrupole and the magnetisation, hence
        // the label, are unchanged when spins are permuted by it.
        let v = icosahedron();
        let anti: Vec<usize> = (0..BITS)
            .map(|i| {
                (0..BITS)
                    .find(|&j| (0..3).all(|c| (v[j][c] + v[i][c]).abs() < 1e-9))
                    .expect("antipode")
            })
            .collect();
        for p in 0..4096usize {
            let q: usize = (0..BITS).map(|i| ((p >> i) & 1) << anti[i]).sum();
            assert_eq!(y[p], y[q], "pattern {p} and its antipodal image {q}");
        }
    }

    #[test]
    fn record_epochs_are_log_spaced() {
        let e = record_epochs(1000, 20);
        assert_eq!(e[0], 0);
        assert_eq!(*e.last().unwrap(), 1000);
        assert!(e.windows(2).all(|w| w[0] < w[1]));
    }

    /// `--records N` records N epochs (the default run recorded 28 of its 30:
    /// the first log-spaced points rounded to the same epochs and were merged).
    #[test]
    fn regression_records_asked_are_records_made() {
        let d = DemoConfig::default();
        assert_eq!(record_epochs(d.epochs, d.records).len(), 30);
        for (epochs, records) in [(2000, 30), (2000, 2), (300, 30), (40, 5), (40, 41), (5, 6)] {
            let e = record_epochs(epochs, records);
            assert_eq!(
                e.len(),
                records.min(epochs + 1),
                "{epochs} epochs, {records}"
            );
            assert_eq!((e[0], *e.last().unwrap()), (0, epochs));
            assert!(e.windows(2).all(|w| w[0] < w[1]), "{e:?}");
        }
        // Past the crowded start the points are the log-spaced ones.
        let top = 2001f64.ln();
        let e = record_epochs(2000, 30);
        for (i, &ep) in e.iter().enumerate().skip(15) {
            let want = ((top * i as f64 / 29.0).exp() - 1.0).round() as usize;
            assert_eq!(ep, want, "point {i}");
        }
    }

    /// A huge `--records` used to allocate one entry per point first (a
    /// capacity-overflow panic at 2^64 − 1); points denser than the epochs
    /// record every epoch, as generating them would.
    #[test]
    fn regression_huge_record_counts_record_every_epoch() {
        let all: Vec<usize> = (0..=40).collect();
        assert_eq!(record_epochs(40, usize::MAX), all);
        assert_eq!(record_epochs(40, 1000), all);
        // just below the shortcut: generated, and already every epoch
        assert_eq!(record_epochs(40, 300), all);
        assert_eq!(record_epochs(40, 5), [0, 2, 5, 15, 40]);
    }

    #[test]
    fn host_bytes_grow_with_the_recorded_epochs_only() {
        let small = DemoConfig::default();
        let per_record = 4096 * 31 * 4;
        assert!(small.host_bytes() > 30 * per_record && small.host_bytes() < 40 * per_record);
        let many = DemoConfig {
            epochs: 10,
            records: usize::MAX,
            ..Default::default()
        };
        // at most epochs + 1 distinct records
        assert!(many.host_bytes() < 12 * per_record + (4 << 20));
    }

    #[test]
    fn training_learns_the_rule() {
        let cfg = DemoConfig {
            epochs: 300,
            records: 4,
            ..Default::default()
        };
        let run = run(&cfg, |_| {}).unwrap();
        assert_eq!(run.activations.len(), run.epochs.len());
        assert_eq!(run.activations[0].len(), 6);
        let acc = *run.test_accuracy.last().unwrap();
        assert!(acc > 0.6, "held-out accuracy {acc}");
    }
}
