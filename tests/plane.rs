//! `infoplane plane`: a reduced built-in experiment, and saved runs in both
//! documented layouts (a folder per epoch; one archive per epoch).

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

/// Slack for comparing estimates with their exact bounds (rounding only).
const BOUND_EPS: f64 = 1e-9;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_infoplane"))
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .args(args)
        .output()
        .expect("the binary runs")
}

fn npy_bytes(descr: &str, shape: &str, payload: &[u8]) -> Vec<u8> {
    common::npy_bytes(descr, shape, false, payload)
}

fn f32_npy(data: &[f32], n: usize, d: usize) -> Vec<u8> {
    npy_bytes(
        "<f4",
        &format!("({n}, {d})"),
        &data
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<_>>(),
    )
}

/// CSV rows as maps from column name to text.
fn read_csv(p: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(p).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    assert!(header
        .join(",")
        .starts_with("epoch,layer,estimator,i_xt,i_ty,h_t,units,n,d,backend,seconds"));
    lines
        .map(|l| {
            // The last column (notes) may be quoted with commas; the numeric ones never are.
            header
                .iter()
                .cloned()
                .zip(l.split(',').map(String::from))
                .collect()
        })
        .collect()
}

fn f(row: &std::collections::HashMap<String, String>, col: &str) -> f64 {
    row[col]
        .parse()
        .unwrap_or_else(|_| panic!("{col} = `{}`", row[col]))
}

#[test]
fn reduced_demo_writes_a_sane_plane() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let out = run(&[
        "plane",
        "--epochs",
        "40",
        "--records",
        "5",
        "--backend",
        "cpu",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("plane.png"), "{stdout}");

    let (_, labels) = infoplane::demo::szt_data();
    let p1 = labels.iter().filter(|&&l| l == 1).count() as f64 / labels.len() as f64;
    let h_y = -(p1 * p1.log2() + (1.0 - p1) * (1.0 - p1).log2());
    let rows = read_csv(&out_dir.join("plane.csv"));
    let epochs = infoplane::demo::record_epochs(40, 5);
    // Default demo estimators: both binnings, six layers.
    assert_eq!(rows.len(), epochs.len() * 6 * 2);
    for r in &rows {
        assert_eq!(r["units"], "bits");
        assert_eq!(r["n"], "4096");
        assert_eq!(r["backend"], "cpu");
        assert!(epochs.contains(&r["epoch"].parse().unwrap()));
        let (ixt, ity, ht) = (f(r, "i_xt"), f(r, "i_ty"), f(r, "h_t"));
        assert!(
            (-BOUND_EPS..=h_y + BOUND_EPS).contains(&ity),
            "I(T;Y) = {ity} > H(Y) = {h_y}"
        );
        assert!(
            (-BOUND_EPS..=12.0 + BOUND_EPS).contains(&ixt),
            "I(X;T) = {ixt} > log2 4096"
        );
        // T is a function of X, so I(X;T) = H(T) for a binning.
        assert!((ixt - ht).abs() < 1e-9, "{ixt} vs {ht}");
        assert!(
            ity <= ixt + BOUND_EPS,
            "data processing: I(T;Y) {ity} > I(X;T) {ixt}"
        );
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("plane.json")).unwrap())
            .unwrap();
    assert_eq!(json.as_array().unwrap().len(), rows.len());
    let svg = std::fs::read_to_string(out_dir.join("plane.svg")).unwrap();
    assert!(svg.len() > 10_000 && svg.contains("I(X;T) [bits]"));
    let png = std::fs::read(out_dir.join("plane.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(png.len() > 20_000, "PNG of {} bytes", png.len());
    // No temporary files left behind: the four outputs and the settings record.
    assert_eq!(std::fs::read_dir(&out_dir).unwrap().count(), 5);
}

/// A small saved run: 3 epochs, 2 layers, 200 samples, 4 input bits.
fn write_run(dir: &Path, archives: bool) {
    let n = 200;
    let x: Vec<u8> = (0..n * 4)
        .map(|i| ((i / 4 * 7 + i % 4) % 3 == 0) as u8)
        .collect();
    let y: Vec<i64> = (0..n as i64).map(|i| i % 2).collect();
    std::fs::write(
        dir.join("inputs.npy"),
        npy_bytes("|u1", &format!("({n}, 4)"), &x),
    )
    .unwrap();
    std::fs::write(
        dir.join("labels.npy"),
        npy_bytes(
            "<i8",
            &format!("({n},)"),
            &y.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>(),
        ),
    )
    .unwrap();
    for epoch in [0usize, 5, 50] {
        let s = (epoch as f32 + 1.0).ln();
        let layer = |d: usize, shift: f32| -> Vec<f32> {
            (0..n * d)
                .map(|i| {
                    ((i as f32 * 0.37 + shift).sin() * 0.5
                        + if (i / d) % 2 == 1 { s * 0.1 } else { 0.0 })
                    .tanh()
                })
                .collect()
        };
        let l1 = f32_npy(&layer(3, 0.0), n, 3);
        let l2 = f32_npy(&layer(2, 1.0), n, 2);
        if archives {
            let p = dir.join(format!("epoch_{epoch:04}.npz"));
            let mut z = zip::ZipWriter::new(std::fs::File::create(p).unwrap());
            let o = zip::write::SimpleFileOptions::default();
            z.start_file("layer2.npy", o).unwrap();
            z.write_all(&l2).unwrap();
            z.start_file("layer1.npy", o).unwrap();
            z.write_all(&l1).unwrap();
            z.finish().unwrap();
        } else {
            let e = dir.join(format!("epoch_{epoch:04}"));
            std::fs::create_dir(&e).unwrap();
            std::fs::write(e.join("layer1.npy"), l1).unwrap();
            std::fs::write(e.join("layer2.npy"), l2).unwrap();
        }
    }
}

#[test]
fn saved_runs_in_both_layouts() {
    for archives in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let run_dir = dir.path().join("run");
        std::fs::create_dir(&run_dir).unwrap();
        write_run(&run_dir, archives);
        let out_dir = dir.path().join("out");
        let out = run(&[
            "plane",
            "--run",
            run_dir.to_str().unwrap(),
            "--estimators",
            "binned,kde,ksg",
            "--backend",
            "cpu",
            "--out",
            out_dir.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rows = read_csv(&out_dir.join("plane.csv"));
        // 3 epochs × 2 layers × (binned, binned_adaptive, kde, ksg).
        assert_eq!(rows.len(), 3 * 2 * 4, "archives = {archives}");
        assert_eq!(rows[0]["epoch"], "0");
        assert_eq!(rows[0]["layer"], "layer1");
        assert_eq!(rows.last().unwrap()["epoch"], "50");
        assert_eq!(rows.last().unwrap()["layer"], "layer2");
        for r in &rows {
            let ity = f(r, "i_ty");
            assert!(ity <= 1.0 + 0.2, "{r:?}");
            if r["estimator"] == "kde" {
                assert!(f(r, "i_xt_lower") <= f(r, "i_xt") + BOUND_EPS, "{r:?}");
                assert!(f(r, "i_ty_lower").is_finite());
            }
            if r["estimator"] == "binned" {
                assert!(f(r, "i_xt") <= 200f64.log2() + BOUND_EPS);
            }
        }
        let estimators: std::collections::BTreeSet<&str> =
            rows.iter().map(|r| r["estimator"].as_str()).collect();
        assert_eq!(
            estimators.into_iter().collect::<Vec<_>>(),
            ["binned", "binned_adaptive", "kde", "ksg"]
        );
    }
}

#[test]
fn a_bad_run_fails_with_status_2_and_leaves_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    std::fs::create_dir(&run_dir).unwrap();
    write_run(&run_dir, false);
    // One epoch's layer has the wrong number of rows.
    std::fs::write(
        run_dir.join("epoch_0050").join("layer2.npy"),
        f32_npy(&[0.5; 10], 5, 2),
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    let out = run(&[
        "plane",
        "--run",
        run_dir.to_str().unwrap(),
        "--backend",
        "cpu",
        "--estimators",
        "binned",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("layer2") && err.contains("50"), "{err}");
    assert!(!out_dir.join("plane.csv").exists());

    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = run(&[
        "plane",
        "--run",
        empty.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("inputs"));
}

#[test]
fn safetensors_epochs_with_3d_activations_are_flattened() {
    use safetensors::tensor::{Dtype, TensorView};
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    std::fs::create_dir(&run_dir).unwrap();
    write_run(&run_dir, false);
    // Replace the folder epochs by safetensors files holding an n × 2 × 2 "conv" layer.
    for e in ["epoch_0000", "epoch_0005", "epoch_0050"] {
        std::fs::remove_dir_all(run_dir.join(e)).unwrap();
    }
    let n = 200;
    for (i, epoch) in [1usize, 20].into_iter().enumerate() {
        let conv: Vec<u8> = (0..n * 4)
            .flat_map(|j| (((j * (i + 3)) % 7) as f32 / 7.0 - 0.5).to_le_bytes())
            .collect();
        let bytes = safetensors::serialize(
            vec![(
                "conv1",
                TensorView::new(Dtype::F32, vec![n, 2, 2], &conv).unwrap(),
            )],
            &None,
        )
        .unwrap();
        std::fs::write(run_dir.join(format!("step-{epoch}.safetensors")), bytes).unwrap();
    }
    let out_dir = dir.path().join("out");
    let out = run(&[
        "plane",
        "--run",
        run_dir.to_str().unwrap(),
        "--estimators",
        "szt",
        "--backend",
        "cpu",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = read_csv(&out_dir.join("plane.csv"));
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0]["epoch"].as_str(), rows[1]["epoch"].as_str()),
        ("1", "20")
    );
    for r in &rows {
        assert_eq!(r["layer"], "conv1");
        assert_eq!(r["d"], "4");
        assert_eq!(r["estimator"], "binned");
    }
}

/// The memory statement line of a `plane` run's stderr, and its position.
fn memory_statement(err: &str) -> (usize, &str) {
    let at = err
        .find("infoplane: memory: ")
        .unwrap_or_else(|| panic!("no memory statement: {err}"));
    let line = err[at..].lines().next().unwrap();
    assert!(
        line.contains(" on the host, ") && line.contains(" on the device ("),
        "{line}"
    );
    (at, line)
}

/// `plane` states the host and device memory of the chosen plan on stderr
/// before it starts: before training (built-in experiment) and before the
/// first estimate (saved run), without any logging switched on.
#[test]
fn memory_need_is_stated_before_the_work() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&[
        "plane",
        "--epochs",
        "20",
        "--records",
        "3",
        "--backend",
        "cpu",
        "--out",
        dir.path().join("demo").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let (at, line) = memory_statement(&err);
    assert!(at < err.find("trained;").unwrap(), "{err}");
    // 3 records × 31 units × 4096 rows × 4 bytes plus the inputs: a few MiB; no device.
    assert!(
        line.contains("MiB on the host, 0.0 MiB on the device") && line.contains("3 recorded"),
        "{line}"
    );

    let run_dir = dir.path().join("run");
    std::fs::create_dir(&run_dir).unwrap();
    write_run(&run_dir, false);
    let out = run(&[
        "plane",
        "--run",
        run_dir.to_str().unwrap(),
        "--estimators",
        "binned,kde,ksg",
        "--backend",
        "cpu",
        "--out",
        dir.path().join("out").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let (at, line) = memory_statement(&err);
    assert!(at < err.find("rows in").unwrap(), "{err}");
    assert!(
        line.contains("200 rows, 3 epochs of 2 layers ([3, 2] columns)")
            && line.contains("kde, ksg"),
        "{line}"
    );
}

/// `plane.json` rows as JSON values.
fn json_rows(out_dir: &Path) -> Vec<serde_json::Value> {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("plane.json")).unwrap())
            .unwrap();
    v.as_array()
        .expect("plane.json is an array of rows")
        .clone()
}

fn settings(out_dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out_dir.join("plane.settings.json")).unwrap())
        .unwrap()
}

/// The binned I(X;T) of a layer in bits, computed here: every value binned
/// as the `bin` kernel does (f32: floor((t − lo) · bins/(hi − lo)), clamped
/// into the end bins), a row's bin vector one symbol, and, with every input
/// distinct, I(X;T) = H(T), the plug-in entropy of the patterns.
fn binned_i_xt_bits(t: &[f32], d: usize, lo: f32, hi: f32, bins: u32) -> f64 {
    let scale = bins as f32 / (hi - lo);
    let mut counts = std::collections::HashMap::<Vec<i32>, usize>::new();
    for row in t.chunks(d) {
        let key: Vec<i32> = row
            .iter()
            .map(|&v| ((v - lo) * scale).floor().clamp(0.0, (bins - 1) as f32) as i32)
            .collect();
        *counts.entry(key).or_default() += 1;
    }
    let n = (t.len() / d) as f64;
    counts
        .values()
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// A saved ReLU run: 1024 distinct 10-bit inputs, labels, two epochs, and
/// one ReLU layer of 5 units saved three times, scaled by 1, 3 and 6
/// (largest values about 3.8, 11.4 and 22.7, as in issue #10). Returns each
/// layer's values per epoch.
fn write_relu_run(dir: &Path) -> Vec<(String, Vec<Vec<f32>>)> {
    use rand::{Rng, SeedableRng};
    let n = 1024;
    let (din, d) = (10, 5);
    let x: Vec<u8> = (0..n * din)
        .map(|i| ((i / din) >> (i % din) & 1) as u8)
        .collect();
    std::fs::write(
        dir.join("inputs.npy"),
        npy_bytes("|u1", &format!("({n}, {din})"), &x),
    )
    .unwrap();
    let y: Vec<i64> = (0..n).map(|i| ((i ^ (i >> 3)) & 1) as i64).collect();
    std::fs::write(
        dir.join("labels.npy"),
        npy_bytes(
            "<i8",
            &format!("({n},)"),
            &y.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>(),
        ),
    )
    .unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let w: Vec<f32> = (0..din * d)
        .map(|_| rng.random_range(-1.0f32..1.0))
        .collect();
    let relu = |gain: f32| -> Vec<f32> {
        let mut t = Vec::with_capacity(n * d);
        for i in 0..n {
            for u in 0..d {
                let z: f32 = (0..din)
                    .map(|j| gain * w[j * d + u] * x[i * din + j] as f32)
                    .sum::<f32>()
                    - 0.3;
                t.push(z.max(0.0));
            }
        }
        t
    };
    // Epoch 5 reaches further than epoch 0: the range is the run's, not an epoch's.
    let base = [relu(0.55), relu(1.0)];
    let top = base[1].iter().copied().fold(0.0f32, f32::max);
    let norm = 3.8 / top;
    let mut layers = Vec::new();
    for scale in [1.0f32, 3.0, 6.0] {
        let epochs: Vec<Vec<f32>> = base
            .iter()
            .map(|t| t.iter().map(|v| v * norm * scale).collect())
            .collect();
        layers.push((format!("relu_x{scale}"), epochs));
    }
    for (e, epoch) in [0usize, 5].into_iter().enumerate() {
        let folder = dir.join(format!("epoch_{epoch:04}"));
        std::fs::create_dir(&folder).unwrap();
        for (name, epochs) in &layers {
            std::fs::write(
                folder.join(format!("{name}.npy")),
                f32_npy(&epochs[e], n, d),
            )
            .unwrap();
        }
    }
    layers
}

/// Issue #10 item 1: a saved ReLU layer scaled by 1, 3 and 6 got binned
/// I(X;T) of 7.93, 6.31 and 5.62 bits (bins on [−1, 1], the rest clamped).
/// Each layer is now binned on its own range over the whole run, so the
/// value no longer falls with the scale; with `--range -1,1` the clamping
/// comes back, is counted on every row and warned about.
#[test]
fn regression_saved_relu_runs_are_binned_on_their_range_over_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    std::fs::create_dir(&run_dir).unwrap();
    let layers = write_relu_run(&run_dir);
    let out_dir = dir.path().join("out");
    let args = |extra: &[&str], out: &Path| -> Output {
        let mut a = vec![
            "plane",
            "--run",
            run_dir.to_str().unwrap(),
            "--estimators",
            "binned",
            "--binning",
            "equal",
            "--backend",
            "cpu",
            "--out",
            out.to_str().unwrap(),
        ];
        a.extend_from_slice(extra);
        run(&a)
    };
    let out = args(&[], &out_dir);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("warning"), "nothing is clamped: {err}");
    let rows = json_rows(&out_dir);
    assert_eq!(rows.len(), 2 * 3);
    let rec = settings(&out_dir);
    assert_eq!(rec["binning"]["rule"], "observed");
    for (name, epochs) in &layers {
        let all = epochs.iter().flatten().copied();
        let (lo, hi) = (
            all.clone().fold(0.0f32, f32::min),
            all.fold(f32::NEG_INFINITY, f32::max),
        );
        let r = rec["binning"]["layers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["layer"] == name.as_str())
            .unwrap_or_else(|| panic!("{name} recorded"));
        let f32_of = |v: &serde_json::Value| v.as_f64().map(|v| v as f32);
        assert_eq!((f32_of(&r["lo"]), f32_of(&r["hi"])), (Some(lo), Some(hi)));
        assert_eq!(r["clamped"], 0);
        for (e, epoch) in [0u64, 5].into_iter().enumerate() {
            let row = rows
                .iter()
                .find(|r| r["layer"] == name.as_str() && r["epoch"] == epoch)
                .unwrap();
            let want = binned_i_xt_bits(&epochs[e], 5, lo, hi, 30);
            let got = row["i_xt"].as_f64().unwrap();
            assert!(
                (got - want).abs() < 1e-9,
                "{name} epoch {epoch}: {got} vs {want}"
            );
            assert_eq!(row["clamped"], 0);
            assert_eq!(row["bin_range"][1].as_f64().map(|v| v as f32), Some(hi));
        }
    }
    // The same layer at three scales: the same binned I(X;T) (to f32 rounding at bin edges).
    let i_xt = |rows: &[serde_json::Value], layer: &str| -> f64 {
        rows.iter()
            .find(|r| r["layer"] == layer && r["epoch"] == 5)
            .unwrap()["i_xt"]
            .as_f64()
            .unwrap()
    };
    let base = i_xt(&rows, "relu_x1");
    for l in ["relu_x3", "relu_x6"] {
        assert!(
            (i_xt(&rows, l) - base).abs() < 0.02,
            "{l}: {} vs {base}",
            i_xt(&rows, l)
        );
    }

    // --range -1,1: the numbers fall with the scale again, and say why.
    let fixed_dir = dir.path().join("fixed");
    let out = args(&["--range", "-1,1"], &fixed_dir);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let rows = json_rows(&fixed_dir);
    let mut last = f64::INFINITY;
    for (name, epochs) in &layers {
        assert!(
            err.contains(&format!("warning: binned: layer {name}:")) && err.contains("clamped"),
            "{name} warned: {err}"
        );
        let want = binned_i_xt_bits(&epochs[1], 5, -1.0, 1.0, 30);
        let got = i_xt(&rows, name);
        assert!((got - want).abs() < 1e-9, "{name}: {got} vs {want}");
        assert!(got < last, "clamping lowers I(X;T) as the scale grows");
        last = got;
        let row = rows
            .iter()
            .find(|r| r["layer"] == name.as_str() && r["epoch"] == 5)
            .unwrap();
        let outside = epochs[1]
            .iter()
            .filter(|&&v| !(-1.0..=1.0).contains(&v))
            .count();
        assert_eq!(row["clamped"].as_u64(), Some(outside as u64));
        assert!(row["diagnostics"]["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("clamped")));
    }
    assert!(
        base > i_xt(&rows, "relu_x6") + 1.0,
        "the artefact the observed range removes"
    );
    assert_eq!(
        settings(&fixed_dir)["binning"]["range"][0].as_f64(),
        Some(-1.0)
    );
}

/// Issue #10 item 5: a layer with fewer rows than X was reported as X being
/// wrong ("expected 10 rows like …/layer3.npy, got 1024 rows").
#[test]
fn regression_a_short_layer_is_named_as_the_culprit() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    std::fs::create_dir(&run_dir).unwrap();
    write_run(&run_dir, false);
    let bad = run_dir.join("epoch_0005").join("layer3.npy");
    std::fs::write(&bad, f32_npy(&[0.5; 10], 10, 1)).unwrap();
    for estimators in ["binned", "kde", "mixed"] {
        let out = run(&[
            "plane",
            "--run",
            run_dir.to_str().unwrap(),
            "--estimators",
            estimators,
            "--backend",
            "cpu",
            "--out",
            dir.path().join("out").to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains("layer3.npy")
                && err.contains("epoch 5")
                && err.contains("expected 200 rows like the inputs X")
                && err.contains("got 10 rows"),
            "{estimators}: {err}"
        );
    }
    // Labels whose row count differs from the inputs: named with both files.
    let run2 = dir.path().join("run2");
    std::fs::create_dir(&run2).unwrap();
    write_run(&run2, false);
    std::fs::write(
        run2.join("labels.npy"),
        npy_bytes("<i8", "(150,)", &[0u8; 150 * 8]),
    )
    .unwrap();
    let out = run(&[
        "plane",
        "--run",
        run2.to_str().unwrap(),
        "--backend",
        "cpu",
        "--out",
        dir.path().join("out").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("labels.npy")
            && err.contains("expected 200 rows like the inputs X")
            && err.contains("inputs.npy")
            && err.contains("got 150 rows"),
        "{err}"
    );
}

/// Issue #10 item 9: `plane` speaks the vocabulary of `mi`: `mixed` for the
/// kNN row, `binned --binning …`, `--units`; the old names still work.
#[test]
fn plane_speaks_the_vocabulary_of_mi() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    std::fs::create_dir(&run_dir).unwrap();
    write_run(&run_dir, true);
    let go = |extra: &[&str], out: &str| -> Output {
        let out_dir = dir.path().join(out);
        let mut a = vec![
            "plane",
            "--run",
            run_dir.to_str().unwrap(),
            "--backend",
            "cpu",
            "--out",
            out_dir.to_str().unwrap(),
        ];
        a.extend_from_slice(extra);
        run(&a)
    };
    let ok = |o: &Output| assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let new = go(
        &[
            "--estimators",
            "mixed,binned",
            "--binning",
            "adaptive",
            "--units",
            "nats",
        ],
        "new",
    );
    ok(&new);
    let old = go(&["--estimators", "ksg,adaptive", "--nats"], "old");
    ok(&old);
    let a = std::fs::read_to_string(dir.path().join("new/plane.csv")).unwrap();
    let b = std::fs::read_to_string(dir.path().join("old/plane.csv")).unwrap();
    let values = |csv: &str| -> Vec<(String, String, String, String, String)> {
        read_csv_text(csv)
            .into_iter()
            .map(|r| {
                (
                    r["estimator"].clone(),
                    r["layer"].clone(),
                    r["i_xt"].clone(),
                    r["i_ty"].clone(),
                    r["units"].clone(),
                )
            })
            .collect()
    };
    assert_eq!(values(&a), values(&b));
    let labels: std::collections::BTreeSet<String> = values(&a).into_iter().map(|v| v.0).collect();
    assert_eq!(
        labels.into_iter().collect::<Vec<_>>(),
        ["binned_adaptive", "ksg"]
    );
    assert!(values(&a).iter().all(|v| v.4 == "nats"));
    // bits: the default, and --bits / --units bits say the same.
    ok(&go(&["--estimators", "szt", "--bits"], "bits1"));
    ok(&go(
        &[
            "--estimators",
            "binned",
            "--binning",
            "equal",
            "--units",
            "bits",
        ],
        "bits2",
    ));
    assert_eq!(
        values(&std::fs::read_to_string(dir.path().join("bits1/plane.csv")).unwrap()),
        values(&std::fs::read_to_string(dir.path().join("bits2/plane.csv")).unwrap())
    );
    // KSG-1 is refused with the name to use; disagreeing units are refused.
    let o = go(&["--estimators", "ksg1"], "x");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("`ksg1`") && err.contains("mixed"), "{err}");
    let o = go(&["--units", "bits", "--nats"], "x");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("disagree"));
    let o = go(&["--estimators", "kde", "--binning", "equal"], "x");
    assert_eq!(o.status.code(), Some(2));
    // A range that is not LO < HI is refused, naming the flag and the value.
    for bad in ["1,-1", "0,0", "a,b", "nan,1"] {
        let o = go(&["--range", bad], "x");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{bad}: {err}");
        assert!(err.contains("range") && err.contains(bad), "{bad}: {err}");
    }
}

fn read_csv_text(text: &str) -> Vec<std::collections::HashMap<String, String>> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.csv");
    std::fs::write(&p, text).unwrap();
    read_csv(&p)
}

/// Issue #10 item 12: `plane.json` had `"seed": null` on binned rows and no
/// settings. Every row now carries the run's seed (and whether it was used),
/// and `plane.settings.json` holds what reproduces the figure: running its
/// command again gives the same values.
#[test]
fn regression_the_record_reproduces_the_plane() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("a");
    let out = run(&[
        "plane",
        "--epochs",
        "40",
        "--records",
        "5",
        "--seed",
        "3",
        "--estimators",
        "binned,mixed",
        "--backend",
        "cpu",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = json_rows(&out_dir);
    for r in &rows {
        assert_eq!(r["seed"], 3, "{r}");
        assert_eq!(r["seed_used"], r["estimator"] == "ksg", "{r}");
    }
    let rec = settings(&out_dir);
    let exp = &rec["experiment"];
    assert_eq!(exp["activation"], "tanh");
    assert_eq!(exp["epochs"], 40);
    assert_eq!(exp["records"], 5);
    assert_eq!(exp["seed"], 3);
    assert_eq!(exp["test_accuracy"].as_array().unwrap().len(), 5);
    assert_eq!(rec["binning"]["bins"], 30);
    assert_eq!(rec["binning"]["rule"], "fixed");
    assert_eq!(rec["binning"]["range"], serde_json::json!([-1.0, 1.0]));
    assert_eq!(rec["binning"]["layers"].as_array().unwrap().len(), 6);
    assert_eq!(rec["k"], 3);
    assert_eq!(rec["kde_sigma2"], 1e-3);
    assert_eq!(rec["units"], "bits");
    assert_eq!(
        rec["epochs"].as_array().unwrap().len(),
        infoplane::demo::record_epochs(40, 5).len()
    );
    let names: Vec<&str> = rec["estimators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["label"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["binned", "binned_adaptive", "ksg"]);
    // H(Y) of the demo's labels, computed here.
    let (_, labels) = infoplane::demo::szt_data();
    let p1 = labels.iter().filter(|&&l| l == 1).count() as f64 / labels.len() as f64;
    let h_y = -(p1 * p1.log2() + (1.0 - p1) * (1.0 - p1).log2());
    assert!((rec["h_y"].as_f64().unwrap() - h_y).abs() < 1e-12);
    assert!((rec["h_x"].as_f64().unwrap() - 12.0).abs() < 1e-12);
    // The recorded command, run again into another folder, gives the same values.
    let mut cmd: Vec<String> = rec["command"]
        .as_array()
        .unwrap()
        .iter()
        .skip(1)
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let at = cmd.iter().position(|a| a == "--out").unwrap();
    let again = dir.path().join("b");
    cmd[at + 1] = again.to_str().unwrap().to_string();
    let refs: Vec<&str> = cmd.iter().map(String::as_str).collect();
    let out = run(&refs);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let strip = |rows: Vec<serde_json::Value>| -> Vec<(f64, f64, f64)> {
        rows.iter()
            .map(|r| {
                (
                    r["i_xt"].as_f64().unwrap(),
                    r["i_ty"].as_f64().unwrap(),
                    r["h_t"].as_f64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(strip(json_rows(&again)), strip(rows));
}

/// Issue #10 item 14: the demo script shows its build (it printed nothing
/// for 7 minutes under `cargo build --quiet`), the README says the first run
/// builds for minutes and promises the records the demo makes, and the
/// default output folder is ignored by git.
#[test]
fn regression_the_first_minutes_are_explained() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = std::fs::read_to_string(root.join("scripts/demo.sh")).unwrap();
    let build = script
        .lines()
        .find(|l| l.trim_start().starts_with("cargo build"))
        .expect("the script builds");
    assert!(
        !build.contains("--quiet") && !build.contains(" -q"),
        "{build}"
    );
    let before = &script[..script.find(build).unwrap()];
    assert!(
        before.contains("several minutes"),
        "a line says what is coming"
    );
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(readme.contains("first\nrun compiles infoplane, which takes several minutes"));
    let d = infoplane::demo::DemoConfig::default();
    let promised = format!("recorded at {} epochs", d.records);
    assert!(readme.contains(&promised), "README: {promised}");
    assert_eq!(
        infoplane::demo::record_epochs(d.epochs, d.records).len(),
        d.records
    );
    let ignore = std::fs::read_to_string(root.join(".gitignore")).unwrap();
    assert!(ignore
        .lines()
        .any(|l| l.trim() == "/infoplane-out/" || l.trim() == "infoplane-out/"));
}
