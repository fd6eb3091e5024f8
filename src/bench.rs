//! `infoplane bench`: throughput of every kernel (and the main estimators) on
//! every available backend, measured in one run on the same data.
//!
//! Each case runs once to warm up (pipelines compiled, buffers sized, caches
//! filled), then `repeats` times; the report gives the median and the spread
//! (min, max) of the wall time, pairs/s (query × reference rows per second),
//! coordinate-pairs/s (pairs × columns) and, per case, the speed-up of each
//! backend over the CPU twin. Speed is a measurement, never an assertion.

use crate::error::Result;
use crate::kernels::{Binning, Boundary, CountSpec, Engine, Kernels, KnnSpec, Metric, Rows};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Instant;

/// What to measure.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// `(n, d)` sizes swept.
    pub sizes: Vec<(usize, usize)>,
    /// Timed repetitions after the warm-up.
    pub repeats: usize,
    /// Neighbour rank for knn and the estimators.
    pub k: usize,
    /// Kernel or estimator names to run (empty: all).
    pub only: Vec<String>,
    /// Data seed.
    pub seed: u64,
}

impl BenchOptions {
    /// A sweep that finishes in under a minute on a 2-core CPU.
    pub fn quick() -> Self {
        BenchOptions {
            sizes: vec![(2048, 4), (4096, 16)],
            repeats: 3,
            k: 3,
            only: Vec::new(),
            seed: 1,
        }
    }
    /// The full sweep.
    pub fn full() -> Self {
        BenchOptions {
            sizes: vec![(4096, 4), (16384, 8), (16384, 32), (32768, 16), (65536, 8)],
            repeats: 5,
            k: 3,
            only: Vec::new(),
            seed: 1,
        }
    }
}

/// One measured case on one backend.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct BenchRow {
    /// Kernel or estimator.
    pub case: String,
    /// Backend (`cpu`, `gpu`).
    pub backend: String,
    /// Device name.
    pub device: String,
    /// Rows.
    pub n: usize,
    /// Columns.
    pub d: usize,
    /// Median seconds.
    pub median_s: f64,
    /// Fastest repetition.
    pub min_s: f64,
    /// Slowest repetition.
    pub max_s: f64,
    /// Timed repetitions.
    pub repeats: usize,
    /// Pairs (query × reference rows) per second at the median.
    pub pairs_per_s: f64,
    /// Coordinate-pairs per second at the median.
    pub coord_pairs_per_s: f64,
    /// CPU median / this median (None for the CPU row itself or when the CPU did not run).
    pub speedup_vs_cpu: Option<f64>,
}

/// What makes figures comparable between machines.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SystemInfo {
    /// CPU model (`/proc/cpuinfo`).
    pub cpu_model: String,
    /// Worker threads of the CPU twins.
    pub threads: usize,
    /// Widest vector instruction set this CPU offers the twins.
    pub cpu_vector_isa: String,
    /// GPU adapters found (name, backend, type, driver).
    pub adapters: Vec<String>,
    /// infoplane version.
    pub version: String,
}

/// Reads the CPU model and features and lists the adapters.
pub fn system_info() -> SystemInfo {
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let adapters = crate::kernels::gpu::list_adapters()
        .into_iter()
        .map(|a| {
            format!(
                "{} ({}, {}, {} {})",
                a.name, a.backend, a.device_type, a.driver, a.driver_info
            )
        })
        .collect();
    SystemInfo {
        cpu_model,
        threads: rayon::current_num_threads(),
        cpu_vector_isa: vector_isa().to_string(),
        adapters,
        version: env!("CARGO_PKG_VERSION").to_string(),
    }
}

/// The widest SIMD extension detected at run time.
pub fn vector_isa() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return "avx512f";
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            return "avx2";
        }
        "sse2"
    }
    #[cfg(target_arch = "aarch64")]
    {
        "neon"
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        "scalar"
    }
}

/// Names of the cases `bench` knows.
pub const CASES: [&str; 8] = [
    "ksg1",
    "kl",
    "knn_chebyshev",
    "knn_sq_euclidean",
    "radius_count",
    "kde_lse",
    "bin",
    "pairwise",
];

fn gaussian(n: usize, d: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    // Box–Muller; the data only needs a realistic spread of distances.
    (0..n * d)
        .map(|_| {
            let u: f32 = rng.random_range(f32::EPSILON..1.0);
            let v: f32 = rng.random_range(0.0..1.0);
            (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
        })
        .collect()
}

/// Runs one case once; returns the number of pairs it covered.
fn run_case(engine: &Engine, case: &str, x: Rows<'_>, radii: &[f32], k: usize) -> Result<f64> {
    let n = x.n() as f64;
    match case {
        "knn_chebyshev" | "knn_sq_euclidean" => {
            let metric = if case == "knn_chebyshev" {
                Metric::chebyshev()
            } else {
                Metric::sq_euclidean()
            };
            let spec = KnnSpec {
                k,
                metric,
                exclude_self: true,
                want_indices: false,
            };
            engine.knn(x, x, &spec)?;
            Ok(n * n)
        }
        "radius_count" => {
            let spec = CountSpec {
                metric: Metric::chebyshev(),
                boundary: Boundary::Less,
                exclude_self: true,
            };
            engine.radius_count(x, x, radii, &spec)?;
            Ok(n * n)
        }
        "kde_lse" => {
            engine.kde_lse(x, x, 0.5, false)?;
            Ok(n * n)
        }
        "bin" => {
            engine.bin(
                x,
                &Binning::EqualRange {
                    lo: -1.0,
                    hi: 1.0,
                    bins: 30,
                },
            )?;
            Ok(n)
        }
        "pairwise" => {
            // a bounded tile: the full n × n matrix of a large n does not fit memory
            let m = x.n().min(2048);
            let head = x.slice(0, m);
            engine.pairwise(head, head, &Metric::chebyshev())?;
            Ok((m * m) as f64)
        }
        "ksg1" => {
            // X = the first half of the columns, Y = the rest (Y = X for d = 1).
            let dx = (x.d() / 2).max(1);
            let (xs, ys) = split_columns(x, dx)?;
            let p = crate::estimators::Ksg::params().k(k).check()?;
            p.estimate_datasets(&xs, &ys, engine)?;
            Ok(n * n)
        }
        "kl" => {
            let ds = crate::Dataset::new("bench", x.data().to_vec(), x.n(), x.d())?;
            crate::estimators::KnnEntropy::params()
                .k(k)
                .check()?
                .estimate_dataset(&ds, engine)?;
            Ok(n * n)
        }
        other => Err(crate::Error::param(
            "bench case",
            format!("unknown case `{other}`; known: {}", CASES.join(", ")),
        )),
    }
}

/// Runs the sweep on every engine given (the CPU twin first, so ratios can be
/// taken). `progress` is told each case as it starts.
pub fn run_bench(
    engines: &[&Engine],
    opts: &BenchOptions,
    mut progress: impl FnMut(&str),
) -> Result<Vec<BenchRow>> {
    for name in &opts.only {
        if !CASES.contains(&name.as_str()) {
            return Err(crate::Error::param(
                "bench case",
                format!("unknown case `{name}`; known: {}", CASES.join(", ")),
            ));
        }
    }
    let mut rows = Vec::new();
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    for &(n, d) in &opts.sizes {
        let data = gaussian(n, d, &mut rng);
        let x = Rows::new(&data, n, d)?;
        let k = opts.k.clamp(1, n.saturating_sub(1).max(1));
        // realistic radii for the count: the CPU's own k-th distances
        let radii = engines[0]
            .knn(
                x,
                x,
                &KnnSpec {
                    k,
                    metric: Metric::chebyshev(),
                    exclude_self: true,
                    want_indices: false,
                },
            )?
            .kth;
        for case in CASES
            .iter()
            .filter(|c| opts.only.is_empty() || opts.only.iter().any(|o| o == *c))
        {
            let mut cpu_median = None;
            for engine in engines {
                progress(&format!("{} {case} {n}x{d}", engine.backend()));
                let pairs = run_case(engine, case, x, &radii, k)?; // warm-up
                let mut times = Vec::with_capacity(opts.repeats);
                for _ in 0..opts.repeats.max(1) {
                    let t = Instant::now();
                    run_case(engine, case, x, &radii, k)?;
                    times.push(t.elapsed().as_secs_f64());
                }
                times.sort_by(f64::total_cmp);
                let median = times[times.len() / 2];
                let backend = engine.backend().to_string();
                let speedup = if backend == "cpu" {
                    cpu_median = Some(median);
                    None
                } else {
                    cpu_median.map(|c| c / median)
                };
                let cols = if *case == "bin" { 1.0 } else { d as f64 };
                rows.push(BenchRow {
                    case: case.to_string(),
                    backend,
                    device: engine.device_name(),
                    n,
                    d,
                    median_s: median,
                    min_s: times[0],
                    max_s: *times.last().expect("at least one repeat"),
                    repeats: times.len(),
                    pairs_per_s: pairs / median,
                    coord_pairs_per_s: pairs * cols / median,
                    speedup_vs_cpu: speedup,
                });
            }
        }
    }
    Ok(rows)
}

/// The rows as a readable table.
pub fn render_text(info: &SystemInfo, rows: &[BenchRow]) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "infoplane {} bench — CPU: {} ({} threads, {})",
        info.version, info.cpu_model, info.threads, info.cpu_vector_isa
    );
    if info.adapters.is_empty() {
        let _ = writeln!(s, "GPU adapters: none");
    }
    for a in &info.adapters {
        let _ = writeln!(s, "GPU adapter: {a}");
    }
    let _ = writeln!(
        s,
        "{:<17} {:<4} {:>7} {:>5} {:>10} {:>10} {:>10} {:>11} {:>12} {:>8}",
        "case", "bk", "n", "d", "median_s", "min_s", "max_s", "Gpairs/s", "Gcoord/s", "vs_cpu"
    );
    for r in rows {
        let _ = writeln!(
            s,
            "{:<17} {:<4} {:>7} {:>5} {:>10.5} {:>10.5} {:>10.5} {:>11.4} {:>12.3} {:>8}",
            r.case,
            r.backend,
            r.n,
            r.d,
            r.median_s,
            r.min_s,
            r.max_s,
            r.pairs_per_s / 1e9,
            r.coord_pairs_per_s / 1e9,
            r.speedup_vs_cpu
                .map(|v| format!("{v:.2}x"))
                .unwrap_or_else(|| "-".into())
        );
    }
    s
}

/// The CSV header of [`render_csv`].
pub const CSV_HEADER: &str = "case,backend,device,n,d,median_s,min_s,max_s,repeats,pairs_per_s,\
coord_pairs_per_s,speedup_vs_cpu,cpu_model,threads,cpu_vector_isa,version";

/// The rows as CSV: a header, then one line per case and backend, each with
/// the CPU model, threads, vector ISA and version (so a line stands alone;
/// the adapter is the `device` column). Floats print as the shortest text
/// that reads back to the same f64; `speedup_vs_cpu` is empty for the CPU.
pub fn render_csv(info: &SystemInfo, rows: &[BenchRow]) -> String {
    let field = |s: &str| {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let mut s = String::from(CSV_HEADER);
    s.push('\n');
    for r in rows {
        let line = [
            field(&r.case),
            field(&r.backend),
            field(&r.device),
            r.n.to_string(),
            r.d.to_string(),
            r.median_s.to_string(),
            r.min_s.to_string(),
            r.max_s.to_string(),
            r.repeats.to_string(),
            r.pairs_per_s.to_string(),
            r.coord_pairs_per_s.to_string(),
            r.speedup_vs_cpu.map(|v| v.to_string()).unwrap_or_default(),
            field(&info.cpu_model),
            info.threads.to_string(),
            field(&info.cpu_vector_isa),
            field(&info.version),
        ];
        s.push_str(&line.join(","));
        s.push('\n');
    }
    s
}

/// Columns `..dx` and `dx..` of `x` (both all columns when `x` has one).
fn split_columns(x: Rows<'_>, dx: usize) -> Result<(crate::Dataset, crate::Dataset)> {
    let d = x.d();
    let (a, b) = if d == 1 { (0..1, 0..1) } else { (0..dx, dx..d) };
    let take = |r: std::ops::Range<usize>| {
        let mut v = Vec::with_capacity(x.n() * r.len());
        for i in 0..x.n() {
            v.extend_from_slice(&x.row(i)[r.clone()]);
        }
        crate::Dataset::new("bench", v, x.n(), r.len())
    };
    Ok((take(a)?, take(b)?))
}
