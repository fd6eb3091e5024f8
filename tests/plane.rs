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
    // No temporary files left behind.
    assert_eq!(std::fs::read_dir(&out_dir).unwrap().count(), 4);
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
