//! The `infoplane` binary on files written by the test: `mi` and `entropy`
//! with every estimator and output format, array specs inside archives,
//! exit statuses, `devices`, and `--help`.

mod common;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Tolerance on a kNN or plug-in estimate against its closed form at n = 2000.
const EST_TOL: f64 = 0.08;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_infoplane"));
    c.env("XDG_RUNTIME_DIR", std::env::temp_dir());
    c
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("the binary runs")
}

fn ok_json(args: &[&str]) -> Value {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text.lines().next().expect("one JSON line");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// A `.npy` of f32 values, little-endian, C order.
fn npy_f32(path: &Path, data: &[f32], shape: &[usize]) {
    let shape_txt = match shape {
        [n] => format!("({n},)"),
        s => format!(
            "({})",
            s.iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    npy_raw(
        path,
        "<f4",
        &shape_txt,
        &data
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<_>>(),
    );
}

fn npy_raw(path: &Path, descr: &str, shape: &str, payload: &[u8]) {
    std::fs::write(path, common::npy_bytes(descr, shape, false, payload)).unwrap();
}

struct Fixture {
    _dir: tempfile::TempDir,
    x: PathBuf,
    y: PathBuf,
    z: PathBuf,
    labels: PathBuf,
    npz: PathBuf,
    st: PathBuf,
    rho: f64,
}

/// Correlated Gaussians x, y (ρ = 0.8), independent z, labels = (x > 0).
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let n = 2000;
    let rho: f64 = 0.8;
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let g = Normal::new(0.0, 1.0).unwrap();
    let (mut xs, mut ys, mut zs, mut ls) = (vec![], vec![], vec![], vec![]);
    for _ in 0..n {
        let a: f64 = g.sample(&mut rng);
        let b: f64 = g.sample(&mut rng);
        xs.push(a as f32);
        ys.push((rho * a + (1.0 - rho * rho).sqrt() * b) as f32);
        zs.push(g.sample(&mut rng) as f32);
        ls.push(u8::from(a > 0.0));
    }
    let x = dir.path().join("x.npy");
    let y = dir.path().join("y.npy");
    let z = dir.path().join("z.npy");
    let labels = dir.path().join("labels.npy");
    npy_f32(&x, &xs, &[n]);
    npy_f32(&y, &ys, &[n, 1]);
    npy_f32(&z, &zs, &[n]);
    npy_raw(&labels, "|u1", &format!("({n},)"), &ls);

    let npz = dir.path().join("acts.npz");
    let mut zw = zip::ZipWriter::new(std::fs::File::create(&npz).unwrap());
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, p) in [("x", &x), ("y", &y)] {
        zw.start_file(format!("{name}.npy"), opts).unwrap();
        zw.write_all(&std::fs::read(p).unwrap()).unwrap();
    }
    zw.finish().unwrap();

    use safetensors::tensor::{Dtype, TensorView};
    let xb: Vec<u8> = xs.iter().flat_map(|v| v.to_le_bytes()).collect();
    let yb: Vec<u8> = ys.iter().flat_map(|v| v.to_le_bytes()).collect();
    let st_bytes = safetensors::serialize(
        vec![
            ("x", TensorView::new(Dtype::F32, vec![n], &xb).unwrap()),
            ("y", TensorView::new(Dtype::F32, vec![n], &yb).unwrap()),
        ],
        &None,
    )
    .unwrap();
    let st = dir.path().join("acts.safetensors");
    std::fs::write(&st, st_bytes).unwrap();
    Fixture {
        _dir: dir,
        x,
        y,
        z,
        labels,
        npz,
        st,
        rho,
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn num(v: &Value, field: &str) -> f64 {
    v[field]
        .as_f64()
        .unwrap_or_else(|| panic!("no number `{field}` in {v}"))
}

const FIELDS: [&str; 12] = [
    "quantity",
    "estimator",
    "value",
    "units",
    "n",
    "dims",
    "k",
    "backend",
    "adapter",
    "seconds",
    "seed",
    "diagnostics",
];

#[test]
fn mi_ksg_json_matches_the_gaussian_closed_form() {
    let f = fixture();
    let truth = -0.5 * (1.0 - f.rho * f.rho).ln();
    for est in ["ksg1", "ksg2"] {
        let v = ok_json(&[
            "mi",
            "--x",
            s(&f.x),
            "--y",
            s(&f.y),
            "--estimator",
            est,
            "--backend",
            "cpu",
            "--format",
            "json",
        ]);
        for field in FIELDS {
            assert!(v.get(field).is_some(), "{est}: no `{field}` in {v}");
        }
        assert_eq!(v["estimator"], est);
        assert_eq!(v["units"], "nats");
        assert_eq!(v["n"], 2000);
        assert_eq!(v["k"], 3);
        assert_eq!(v["backend"], "cpu");
        assert_eq!(v["dims"], serde_json::json!([1, 1]));
        assert!((num(&v, "value") - truth).abs() < EST_TOL, "{est}: {v}");
    }
    // Same result in bits, and the same through archive specs.
    let nats = num(
        &ok_json(&[
            "mi",
            "--x",
            s(&f.x),
            "--y",
            s(&f.y),
            "--backend",
            "cpu",
            "--format",
            "json",
        ]),
        "value",
    );
    let bits = num(
        &ok_json(&[
            "mi",
            "--x",
            s(&f.x),
            "--y",
            s(&f.y),
            "--backend",
            "cpu",
            "--bits",
            "--format",
            "json",
        ]),
        "value",
    );
    assert!((bits - nats / std::f64::consts::LN_2).abs() < 1e-12);
    let npz = ok_json(&[
        "mi",
        "--x",
        &format!("{}:x", s(&f.npz)),
        "--y",
        &format!("{}:y", s(&f.npz)),
        "--backend",
        "cpu",
        "--format",
        "json",
    ]);
    assert_eq!(num(&npz, "value"), nats);
    let st = ok_json(&[
        "mi",
        "--x",
        &format!("{}:x", s(&f.st)),
        "--y",
        &format!("{}:y", s(&f.st)),
        "--backend",
        "cpu",
        "--format",
        "json",
    ]);
    assert_eq!(num(&st, "value"), nats);
}

#[test]
fn mi_other_estimators() {
    let f = fixture();
    let truth = -0.5 * (1.0 - f.rho * f.rho).ln();
    let g = ok_json(&[
        "mi",
        "--x",
        s(&f.x),
        "--y",
        s(&f.y),
        "--estimator",
        "gaussian",
        "--format",
        "json",
    ]);
    assert!((num(&g, "value") - truth).abs() < EST_TOL, "{g}");

    // Labels are sign(x): I(X;Y) = H(Y) ≈ ln 2 for every estimator that sees them.
    let ln2 = std::f64::consts::LN_2;
    let mixed = ok_json(&[
        "mi",
        "--x",
        s(&f.x),
        "--y",
        s(&f.labels),
        "--estimator",
        "mixed",
        "--backend",
        "cpu",
        "--format",
        "json",
    ]);
    assert!((num(&mixed, "value") - ln2).abs() < EST_TOL, "{mixed}");
    let kde = ok_json(&[
        "mi",
        "--x",
        s(&f.x),
        "--y",
        s(&f.labels),
        "--estimator",
        "kde",
        "--sigma2",
        "0.01",
        "--backend",
        "cpu",
        "--format",
        "json",
    ]);
    let (up, low) = (num(&kde, "value"), num(&kde, "lower"));
    assert!(low <= up + 1e-12 && up <= ln2 + 1e-9 && low > 0.5, "{kde}");
    let binned = ok_json(&[
        "mi",
        "--x",
        s(&f.x),
        "--y",
        s(&f.labels),
        "--estimator",
        "binned",
        "--bins",
        "2",
        "--range=-4,4",
        "--backend",
        "cpu",
        "--format",
        "json",
    ]);
    // Two bins split at 0: the binned X is exactly the label.
    assert!(
        (num(&binned, "value")
            - num(
                &ok_json(&[
                    "entropy",
                    "--x",
                    s(&f.labels),
                    "--estimator",
                    "discrete",
                    "--format",
                    "json"
                ]),
                "value"
            ))
        .abs()
            < 1e-12,
        "{binned}"
    );
    let disc = ok_json(&[
        "mi",
        "--x",
        s(&f.labels),
        "--y",
        s(&f.labels),
        "--estimator",
        "discrete",
        "--format",
        "json",
    ]);
    assert!((num(&disc, "value") - ln2).abs() < 0.01, "{disc}");

    // Conditioning on independent noise leaves I(X;Y) unchanged.
    let cmi = ok_json(&[
        "mi",
        "--x",
        s(&f.x),
        "--y",
        s(&f.y),
        "--z",
        s(&f.z),
        "--backend",
        "cpu",
        "--format",
        "json",
    ]);
    assert!((num(&cmi, "value") - truth).abs() < 2.0 * EST_TOL, "{cmi}");
    assert_eq!(cmi["dims"], serde_json::json!([1, 1, 1]));
}

#[test]
fn entropy_estimators() {
    let f = fixture();
    // H of a standard normal: ½ ln(2πe).
    let truth = 0.5 * (2.0 * std::f64::consts::PI * std::f64::consts::E).ln();
    for est in ["kl", "gaussian"] {
        let v = ok_json(&[
            "entropy",
            "--x",
            s(&f.x),
            "--estimator",
            est,
            "--backend",
            "cpu",
            "--format",
            "json",
        ]);
        assert!((num(&v, "value") - truth).abs() < EST_TOL, "{est}: {v}");
        assert_eq!(v["quantity"], "H(X)");
    }
    let b = ok_json(&[
        "entropy",
        "--x",
        s(&f.x),
        "--estimator",
        "binned",
        "--bins",
        "30",
        "--range=-1,1",
        "--format",
        "json",
        "--bits",
    ]);
    assert!(
        num(&b, "value") > 0.0 && num(&b, "value") <= 30f64.log2() + 1e-9,
        "{b}"
    );
    let k = ok_json(&[
        "entropy",
        "--x",
        s(&f.x),
        "--estimator",
        "kde",
        "--backend",
        "cpu",
        "--format",
        "json",
    ]);
    assert!(num(&k, "lower") <= num(&k, "value"), "{k}");
}

#[test]
fn text_and_csv_formats() {
    let f = fixture();
    let out = run(&["mi", "--x", s(&f.x), "--y", s(&f.y), "--backend", "cpu"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success() && text.starts_with("I(X;Y) = ") && text.contains("nats"),
        "{text}"
    );
    let out = run(&[
        "mi",
        "--x",
        s(&f.x),
        "--y",
        s(&f.y),
        "--backend",
        "cpu",
        "--format",
        "csv",
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert!(lines
        .next()
        .unwrap()
        .starts_with("quantity,estimator,value"));
    let row = lines.next().unwrap();
    assert!(row.starts_with("I(X;Y),ksg1,"), "{row}");
}

#[test]
fn input_errors_exit_2_and_name_what_is_wrong() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.npy");
    std::fs::write(&bad, b"\x93NUMPY\x01\x00\xff\x00{'descr'").unwrap();
    let short = dir.path().join("short.npy");
    npy_f32(&short, &[1.0, 2.0, 3.0], &[3]);
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "mi".into(),
                "--x".into(),
                "/no/such/file.npy".into(),
                "--y".into(),
                s(&f.y).into(),
            ],
            "/no/such/file.npy",
        ),
        (
            vec![
                "mi".into(),
                "--x".into(),
                s(&bad).into(),
                "--y".into(),
                s(&f.y).into(),
            ],
            "broken.npy",
        ),
        (
            vec![
                "mi".into(),
                "--x".into(),
                s(&short).into(),
                "--y".into(),
                s(&f.y).into(),
                "--backend".into(),
                "cpu".into(),
            ],
            "rows",
        ),
        (
            vec![
                "mi".into(),
                "--x".into(),
                format!("{}:nope", s(&f.npz)),
                "--y".into(),
                s(&f.y).into(),
            ],
            "acts.npz:nope",
        ),
        (
            vec![
                "mi".into(),
                "--x".into(),
                s(&f.x).into(),
                "--y".into(),
                s(&f.y).into(),
                "--estimator".into(),
                "binned".into(),
                "--range=1,-1".into(),
            ],
            "range",
        ),
        (
            vec![
                "mi".into(),
                "--x".into(),
                s(&f.x).into(),
                "--y".into(),
                s(&f.y).into(),
                "-k".into(),
                "0".into(),
                "--backend".into(),
                "cpu".into(),
            ],
            "k",
        ),
        (
            vec![
                "entropy".into(),
                "--x".into(),
                s(&f.x).into(),
                "--estimator".into(),
                "kde".into(),
                "--sigma2=-1".into(),
            ],
            "sigma2",
        ),
        (
            vec![
                "mi".into(),
                "--x".into(),
                s(&f.x).into(),
                "--y".into(),
                s(&f.y).into(),
                "--discrete".into(),
                "w".into(),
            ],
            "discrete",
        ),
    ];
    for (args, needle) in cases {
        let out = bin().args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: `{err}` lacks `{needle}`");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    // A clap usage error (unknown estimator) is also status 2.
    let out = run(&["mi", "--x", s(&f.x), "--y", s(&f.y), "--estimator", "magic"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn discrete_flag_turns_float_labels_into_symbols() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    // The labels again, saved as floats 0.0 / 1.0 in a CSV with a header.
    let labels = std::fs::read(&f.labels).unwrap();
    let payload = &labels[labels.len() - 2000..];
    let mut csv = String::from("label\n");
    for b in payload {
        csv.push_str(&format!("{}.0\n", b));
    }
    let p = dir.path().join("labels.csv");
    std::fs::write(&p, csv).unwrap();
    let as_int = ok_json(&[
        "mi",
        "--x",
        s(&f.x),
        "--y",
        s(&f.labels),
        "--estimator",
        "binned",
        "--bins",
        "8",
        "--range=-3,3",
        "--backend",
        "cpu",
        "--format",
        "json",
    ]);
    let marked = ok_json(&[
        "mi",
        "--x",
        s(&f.x),
        "--y",
        &format!("{}:label", s(&p)),
        "--estimator",
        "binned",
        "--bins",
        "8",
        "--range=-3,3",
        "--discrete",
        "y",
        "--backend",
        "cpu",
        "--format",
        "json",
    ]);
    assert_eq!(num(&as_int, "value"), num(&marked, "value"));
    // Unmarked, the float labels are binned like X: 0.0 and 1.0 fall in two bins
    // of [-3, 3], so the value is the same here, but the path differs.
    let unmarked = ok_json(&[
        "mi",
        "--x",
        s(&f.x),
        "--y",
        s(&p),
        "--estimator",
        "binned",
        "--bins",
        "8",
        "--range=-3,3",
        "--backend",
        "cpu",
        "--format",
        "json",
    ]);
    assert!((num(&unmarked, "value") - num(&marked, "value")).abs() < 1e-12);
}

// ---- the estimator for the data given; bounds; binning ---------------------

/// A `.npy` of i64 values, one column.
fn npy_i64(path: &Path, data: &[i64]) {
    let payload: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    npy_raw(path, "<i8", &format!("({},)", data.len()), &payload);
}

/// Plug-in entropy in nats of the rows' symbols.
fn plugin_h<T: std::hash::Hash + Eq + Clone>(v: &[T]) -> f64 {
    let mut counts = std::collections::HashMap::new();
    for a in v {
        *counts.entry(a.clone()).or_insert(0usize) += 1;
    }
    let n = v.len() as f64;
    counts
        .values()
        .map(|&c| -(c as f64 / n) * (c as f64 / n).ln())
        .sum()
}

/// Plug-in I(A;B) = H(A) + H(B) − H(A,B) in nats.
fn plugin_mi<A: std::hash::Hash + Eq + Clone, B: std::hash::Hash + Eq + Clone>(
    a: &[A],
    b: &[B],
) -> f64 {
    let ab: Vec<(A, B)> = a.iter().cloned().zip(b.iter().cloned()).collect();
    plugin_h(a) + plugin_h(b) - plugin_h(&ab)
}

/// `--bins` equal bins on [lo, hi] exactly as the `bin` kernel documents
/// (the scale rounded once to f32, then clamp(floor((t − lo)·scale))).
fn equal_bins(t: &[f32], lo: f32, hi: f32, bins: u32) -> Vec<i32> {
    let scale = bins as f32 / (hi - lo);
    t.iter()
        .map(|&v| ((v - lo) * scale).floor().clamp(0.0, (bins - 1) as f32) as i32)
        .collect()
}

/// Chelombiev et al.'s equal-mass bins as documented: cut points at the
/// quantiles v[j·n/bins] of the sorted values, equal cuts merged, index =
/// number of cuts <= t.
fn adaptive_bins(t: &[f32], bins: usize) -> Vec<i32> {
    let mut v = t.to_vec();
    v.sort_by(f32::total_cmp);
    let mut cuts: Vec<f32> = (1..bins).map(|j| v[j * v.len() / bins]).collect();
    cuts.dedup();
    t.iter()
        .map(|&x| cuts.iter().filter(|&&c| c <= x).count() as i32)
        .collect()
}

/// Runs `args` (with `--backend cpu --format json`): exit status, stderr, the JSON line.
fn json_and_stderr(args: &[&str]) -> (Option<i32>, String, Option<Value>) {
    let mut all = args.to_vec();
    all.extend(["--backend", "cpu", "--format", "json"]);
    let out = run(&all);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let v = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .next()
        .map(|l| serde_json::from_str(l).unwrap());
    (out.status.code(), err, v)
}

#[test]
fn the_estimator_is_chosen_from_the_data_types() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    // Four symbols, dependent (issue #10 item 2): both discrete → plug-in.
    let a: Vec<i64> = (0..2000).map(|i| (i * 7 % 13) % 4).collect();
    let b: Vec<i64> = a
        .iter()
        .enumerate()
        .map(|(i, &v)| if i % 3 == 0 { (v + i as i64) % 4 } else { v })
        .collect();
    let (pa, pb) = (dir.path().join("bx.npy"), dir.path().join("by.npy"));
    npy_i64(&pa, &a);
    npy_i64(&pb, &b);
    let (code, _, v) = json_and_stderr(&["mi", "--x", s(&pa), "--y", s(&pb)]);
    let v = v.unwrap();
    assert_eq!(code, Some(0));
    assert_eq!(v["estimator"], "discrete");
    let want = plugin_mi(&a, &b);
    assert!((num(&v, "value") - want).abs() < 1e-12, "{v} vs {want}");
    assert!(
        v["diagnostics"]["notes"][0]
            .as_str()
            .unwrap()
            .contains("chosen"),
        "{v}"
    );
    let (_, _, h) = json_and_stderr(&["entropy", "--x", s(&pa)]);
    let h = h.unwrap();
    assert_eq!(h["estimator"], "discrete");
    assert!((num(&h, "value") - plugin_h(&a)).abs() < 1e-12, "{h}");
    // Continuous X and integer labels: mixed, whichever side the labels are on.
    let (_, _, m) = json_and_stderr(&["mi", "--x", s(&f.x), "--y", s(&f.labels)]);
    let m = m.unwrap();
    assert_eq!(m["estimator"], "mixed");
    let (_, _, swapped) = json_and_stderr(&["mi", "--x", s(&f.labels), "--y", s(&f.x)]);
    let swapped = swapped.unwrap();
    assert_eq!(swapped["estimator"], "mixed");
    assert_eq!(num(&swapped, "value").to_bits(), num(&m, "value").to_bits());
    assert!(
        swapped["diagnostics"]["notes"]
            .to_string()
            .contains("symmetric"),
        "{swapped}"
    );
    let explicit = ok_json(&[
        "mi",
        "--x",
        s(&f.x),
        "--y",
        s(&f.labels),
        "--estimator",
        "mixed",
        "--backend",
        "cpu",
        "--format",
        "json",
    ]);
    assert_eq!(
        num(&explicit, "value").to_bits(),
        num(&m, "value").to_bits()
    );
    // Two continuous arrays: KSG-1 as before, bit for bit.
    let (_, _, k) = json_and_stderr(&["mi", "--x", s(&f.x), "--y", s(&f.y)]);
    let k = k.unwrap();
    let ksg1 = ok_json(&[
        "mi",
        "--x",
        s(&f.x),
        "--y",
        s(&f.y),
        "--estimator",
        "ksg1",
        "--backend",
        "cpu",
        "--format",
        "json",
    ]);
    assert_eq!(k["estimator"], "ksg1");
    assert_eq!(num(&k, "value").to_bits(), num(&ksg1, "value").to_bits());
    let (_, _, kl) = json_and_stderr(&["entropy", "--x", s(&f.x)]);
    assert_eq!(kl.unwrap()["estimator"], "kl");
}

#[test]
fn integers_run_as_measurements_keep_their_entropy_bound() {
    // X = Y, four integer symbols, marked as measurements: KSG-1 runs as asked,
    // and a value above H(X) = H(Y) is a warning, never silent (issue #10 item 2).
    let dir = tempfile::tempdir().unwrap();
    let a: Vec<i64> = (0..2000).map(|i| (i * 7 % 13) % 4).collect();
    let p = dir.path().join("q.npy");
    npy_i64(&p, &a);
    let (code, err, v) = json_and_stderr(&[
        "mi",
        "--x",
        s(&p),
        "--y",
        s(&p),
        "--estimator",
        "ksg1",
        "--continuous",
        "x,y",
    ]);
    assert_eq!(code, Some(0), "{err}");
    let v = v.unwrap();
    assert_eq!(v["estimator"], "ksg1");
    let h = plugin_h(&a);
    let value = num(&v, "value");
    assert!(value > h, "ties make KSG exceed H here: {value} vs {h}");
    assert!(
        err.contains("warning: I(X;Y) =") && err.contains("exceeds its upper bound H(X)"),
        "{err}"
    );
    assert!(
        v["diagnostics"]["warnings"].as_array().unwrap().len() == 2,
        "{v}"
    );
    let (code, err, _) = json_and_stderr(&[
        "mi",
        "--x",
        s(&p),
        "--y",
        s(&p),
        "--continuous",
        "x",
        "--discrete",
        "x",
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--discrete and --continuous"), "{err}");
}

#[test]
fn kde_and_mixed_need_labels() {
    let f = fixture();
    for est in ["kde", "mixed"] {
        let (code, err, v) =
            json_and_stderr(&["mi", "--x", s(&f.x), "--y", s(&f.y), "--estimator", est]);
        assert_eq!(code, Some(2), "{est}: {err}");
        assert!(v.is_none());
        for needle in ["y.npy", "needs labels", "--estimator ksg1", "--discrete y"] {
            assert!(err.contains(needle), "{est}: `{needle}` missing: {err}");
        }
    }
    // Labels saved as floats (0.0, 1.0) are labels: used, with a note.
    let dir = tempfile::tempdir().unwrap();
    let labels = std::fs::read(&f.labels).unwrap();
    let lf: Vec<f32> = labels[labels.len() - 2000..]
        .iter()
        .map(|&b| b as f32)
        .collect();
    let p = dir.path().join("labels_f32.npy");
    npy_f32(&p, &lf, &[2000]);
    let (code, err, v) =
        json_and_stderr(&["mi", "--x", s(&f.x), "--y", s(&p), "--estimator", "kde"]);
    assert_eq!(code, Some(0), "{err}");
    let as_int = ok_json(&[
        "mi",
        "--x",
        s(&f.x),
        "--y",
        s(&f.labels),
        "--estimator",
        "kde",
        "--backend",
        "cpu",
        "--format",
        "json",
    ]);
    let v = v.unwrap();
    assert_eq!(num(&v, "value").to_bits(), num(&as_int, "value").to_bits());
    assert!(
        v["diagnostics"]["notes"]
            .to_string()
            .contains("used as symbols by kde"),
        "{v}"
    );
}

#[test]
fn binned_never_bins_labels() {
    // Issue #17 item 2: ten classes with the help's own `--range -1,1`, and a rare class.
    let dir = tempfile::tempdir().unwrap();
    let n = 3000;
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    let g = Normal::new(0.0, 1.0).unwrap();
    let cls: Vec<i64> = (0..n).map(|i| (i * 7919 % 10) as i64).collect();
    let t: Vec<f32> = cls
        .iter()
        .map(|&c| (c as f64 / 10.0 - 0.45 + 0.03 * g.sample(&mut rng)) as f32)
        .collect();
    let (pt, pc, pf) = (
        dir.path().join("t.npy"),
        dir.path().join("cls.npy"),
        dir.path().join("cls_f32.npy"),
    );
    npy_f32(&pt, &t, &[n]);
    npy_i64(&pc, &cls);
    npy_f32(
        &pf,
        &cls.iter().map(|&c| c as f32).collect::<Vec<_>>(),
        &[n],
    );
    let want = plugin_mi(&equal_bins(&t, -1.0, 1.0, 30), &cls);
    let args = |y: &str, extra: &[&'static str]| -> Vec<String> {
        let mut a: Vec<String> = [
            "mi",
            "--x",
            s(&pt),
            "--y",
            y,
            "--estimator",
            "binned",
            "--range=-1,1",
        ]
        .map(String::from)
        .to_vec();
        a.extend(extra.iter().map(|e| e.to_string()));
        a
    };
    let call = |a: Vec<String>| json_and_stderr(&a.iter().map(String::as_str).collect::<Vec<_>>());
    for (y, extra) in [(s(&pc), &[][..]), (s(&pf), &["--discrete", "y"][..])] {
        let (code, err, v) = call(args(y, extra));
        assert_eq!(code, Some(0), "{err}");
        let got = num(&v.unwrap(), "value");
        assert!((got - want).abs() < 1e-12, "{y}: {got} vs plug-in {want}");
    }
    // Unmarked float labels are binned as asked, and say so loudly.
    let (_, err, v) = call(args(s(&pf), &[]));
    assert!(num(&v.unwrap(), "value") < want - 1.0);
    assert!(
        err.contains("warning: ") && err.contains("--discrete y"),
        "{err}"
    );
    assert!(err.contains("clamped"), "{err}");

    // A 5 % class under adaptive binning (10 bins).
    let rare: Vec<i64> = (0..n).map(|i| i64::from(i % 20 == 0)).collect();
    let tr: Vec<f32> = rare
        .iter()
        .map(|&c| (c as f64 + 0.8 * g.sample(&mut rng)) as f32)
        .collect();
    let (ptr, pr, prf) = (
        dir.path().join("tr.npy"),
        dir.path().join("rare.npy"),
        dir.path().join("rare_f32.npy"),
    );
    npy_f32(&ptr, &tr, &[n]);
    npy_i64(&pr, &rare);
    npy_f32(
        &prf,
        &rare.iter().map(|&c| c as f32).collect::<Vec<_>>(),
        &[n],
    );
    let want = plugin_mi(&adaptive_bins(&tr, 10), &rare);
    assert!(want > 0.01);
    let adaptive = |y: &str, extra: &[&str]| {
        let mut a = vec![
            "mi",
            "--x",
            s(&ptr),
            "--y",
            y,
            "--estimator",
            "binned",
            "--binning",
            "adaptive",
            "--bins",
            "10",
        ];
        a.extend(extra);
        json_and_stderr(&a)
    };
    for (y, extra) in [
        (s(&pr), &[][..]),
        (s(&prf), &["--discrete", "y"][..]),
        // With atoms the 95 % value 0 gets its own bin and the class survives.
        (s(&prf), &["--adaptive-atoms"][..]),
    ] {
        let (code, err, v) = adaptive(y, extra);
        assert_eq!(code, Some(0), "{err}");
        let got = num(&v.unwrap(), "value");
        assert!(
            (got - want).abs() < 1e-12,
            "{y} {extra:?}: {got} vs plug-in {want}"
        );
    }
    let (_, err, v) = adaptive(s(&prf), &[]);
    let v = v.unwrap();
    assert_eq!(num(&v, "value"), 0.0);
    assert!(err.contains("--discrete y"), "{err}");
    assert!(
        v["diagnostics"]["notes"]
            .to_string()
            .contains("filled 1 of the 10 bins"),
        "{v}"
    );
}

#[test]
fn adaptive_atoms_and_clamping_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    // Issue #17 item 7: a ReLU unit with 85.5 % zeros at 5 bins.
    let n = 2000;
    let mut rng = ChaCha8Rng::seed_from_u64(19);
    let g = Normal::new(0.0, 1.0).unwrap();
    let relu: Vec<f32> = (0..n)
        .map(|i| {
            if i % 200 < 171 {
                0.0
            } else {
                (g.sample(&mut rng) as f32).abs() + 0.01
            }
        })
        .collect();
    let p0 = relu.iter().filter(|&&v| v == 0.0).count() as f64 / n as f64;
    let split = -p0 * p0.ln() - (1.0 - p0) * (1.0 - p0).ln();
    let p = dir.path().join("relu.npy");
    npy_f32(&p, &relu, &[n]);
    let base = [
        "entropy",
        "--x",
        s(&p),
        "--estimator",
        "binned",
        "--binning",
        "adaptive",
        "--bins",
        "5",
    ];
    let (_, _, plain) = json_and_stderr(&base);
    let plain = plain.unwrap();
    assert_eq!(num(&plain, "value"), 0.0);
    assert!(
        plain["diagnostics"]["notes"]
            .to_string()
            .contains("--adaptive-atoms"),
        "{plain}"
    );
    let (code, err, atoms) = json_and_stderr(&[&base[..], &["--adaptive-atoms"]].concat());
    assert_eq!(code, Some(0), "{err}");
    let h = num(&atoms.unwrap(), "value");
    assert!(h >= split - 1e-12, "{h} < split {split}");
    let (code, err, _) = json_and_stderr(&[
        "entropy",
        "--x",
        s(&p),
        "--estimator",
        "binned",
        "--adaptive-atoms",
    ]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("adaptive-atoms") && err.contains("--binning adaptive"),
        "{err}"
    );

    // Values outside --range are counted and warned about (share, observed range).
    let wide: Vec<f32> = (0..n).map(|_| 3.0 * g.sample(&mut rng) as f32).collect();
    let outside = wide.iter().filter(|&&v| !(-1.0..=1.0).contains(&v)).count();
    let pw = dir.path().join("wide.npy");
    npy_f32(&pw, &wide, &[n]);
    let (code, err, v) = json_and_stderr(&["entropy", "--x", s(&pw), "--estimator", "binned"]);
    assert_eq!(code, Some(0));
    let v = v.unwrap();
    assert_eq!(v["diagnostics"]["clamped"], outside);
    assert!(
        err.contains(&format!("warning: {}: {outside} of {n} values", s(&pw)))
            && err.contains("observed range"),
        "{err}"
    );
    let (_, err, v) = json_and_stderr(&[
        "entropy",
        "--x",
        s(&pw),
        "--estimator",
        "binned",
        "--range=-20,20",
    ]);
    assert_eq!(v.unwrap()["diagnostics"]["clamped"], 0);
    assert!(!err.contains("warning"), "{err}");
}

#[test]
fn ksg2_with_z_runs_the_ksg2_conditional_form() {
    // Issue #17 item 8: `--estimator ksg2 --z` ran KSG-1 and said `cmi`.
    let f = fixture();
    let load = |p: &Path| infoplane::io::load(s(p)).unwrap().into_dataset().unwrap();
    let (x, y, z) = (load(&f.x), load(&f.y), load(&f.z));
    let cpu = infoplane::Engine::cpu();
    for (est, name, variant) in [
        ("ksg1", "cmi", infoplane::estimators::KsgVariant::Ksg1),
        ("ksg2", "cmi_ksg2", infoplane::estimators::KsgVariant::Ksg2),
    ] {
        let v = ok_json(&[
            "mi",
            "--x",
            s(&f.x),
            "--y",
            s(&f.y),
            "--z",
            s(&f.z),
            "--estimator",
            est,
            "--backend",
            "cpu",
            "--format",
            "json",
        ]);
        assert_eq!(v["estimator"], name);
        assert_eq!(v["quantity"], "I(X;Y|Z)");
        let lib = infoplane::estimators::Cmi::params()
            .variant(variant)
            .check()
            .unwrap()
            .estimate_datasets(&x, &y, &z, &cpu)
            .unwrap();
        assert_eq!(num(&v, "value").to_bits(), lib.value.to_bits(), "{est}");
    }
}

#[test]
fn bound_excursions_are_warned_on_stderr() {
    // Well-separated classes: Ross's estimate exceeds H(Y) on a finite sample
    // (issue #10 item 13's I(T;Y) above H(Y)); the CLI says so on stderr and in JSON.
    let dir = tempfile::tempdir().unwrap();
    let n = 600;
    let labels: Vec<i64> = (0..n).map(|i| (i % 3) as i64).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(23);
    let g = Normal::new(0.0, 1.0).unwrap();
    let t: Vec<f32> = labels
        .iter()
        .map(|&l| (10.0 * l as f64 + 0.1 * g.sample(&mut rng)) as f32)
        .collect();
    let (pt, pl) = (dir.path().join("t.npy"), dir.path().join("l.npy"));
    npy_f32(&pt, &t, &[n]);
    npy_i64(&pl, &labels);
    let (code, err, v) =
        json_and_stderr(&["mi", "--x", s(&pt), "--y", s(&pl), "--estimator", "mixed"]);
    assert_eq!(code, Some(0));
    let v = v.unwrap();
    let h = plugin_h(&labels);
    assert!(num(&v, "value") > h, "{v}");
    let w = v["diagnostics"]["warnings"][0].as_str().unwrap();
    assert!(
        w.starts_with("I(X;Y) = ") && w.contains("H(Y)") && w.contains("unclipped"),
        "{w}"
    );
    assert!(err.contains(&format!("warning: {w}")), "{err}");
    let text = run(&["mi", "--x", s(&pt), "--y", s(&pl), "--backend", "cpu"]);
    assert!(String::from_utf8_lossy(&text.stderr).contains("warning: I(X;Y) ="));
}

#[test]
fn devices_lists_adapters() {
    let out = run(&["devices", "--format", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["adapters"].is_array() && v["auto"].is_string(), "{v}");
    let out = run(&["devices"]);
    assert!(out.status.success());
    assert!(!out.stdout.is_empty());
}

#[test]
fn every_command_has_help_with_examples() {
    for cmd in [
        vec!["--help"],
        vec!["mi", "--help"],
        vec!["entropy", "--help"],
        vec!["plane", "--help"],
        vec!["devices", "--help"],
    ] {
        let out = run(&cmd);
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            out.status.success() && text.contains("Examples:"),
            "{cmd:?}: {text}"
        );
    }
}

/// Issue #10 item 9: `entropy --help` described `-k` and `--discrete` with
/// `mi`'s words (y, z, ksg1/ksg2/mixed); and `--units` is one word for the
/// units on mi, entropy and plane, `--bits` its short form on mi/entropy.
#[test]
fn regression_one_vocabulary_across_commands() {
    let help = |cmd: &str| String::from_utf8(run(&[cmd, "--help"]).stdout).unwrap();
    let flag_text = |text: &str, flag: &str| -> String {
        // the flag's line and its wrapped continuation lines
        let mut out = String::new();
        let mut on = false;
        for l in text.lines() {
            let t = l.trim_start();
            if t.starts_with('-') {
                on = t.contains(flag);
            }
            if on {
                out.push_str(t);
                out.push('\n');
            }
        }
        assert!(!out.is_empty(), "{flag} in\n{text}");
        out
    };
    let entropy = help("entropy");
    for flag in ["--k", "--discrete"] {
        let t = flag_text(&entropy, flag);
        for foreign in ["ksg1", "ksg2", "mixed", "y,", "z)"] {
            assert!(!t.contains(foreign), "entropy {flag}: `{foreign}` in {t}");
        }
    }
    assert!(flag_text(&entropy, "--k").contains("kl"));
    assert!(flag_text(&help("mi"), "--k").contains("ksg1"));
    for cmd in ["mi", "entropy", "plane"] {
        let t = flag_text(&help(cmd), "--units");
        assert!(t.contains("bits") && t.contains("nats"), "{cmd}: {t}");
    }
    assert!(help("plane").contains("--bits"));
    // --units bits is --bits; --units nats the default; disagreeing forms are refused.
    let f = fixture();
    let base = [
        "entropy",
        "--x",
        s(&f.x),
        "--backend",
        "cpu",
        "--format",
        "json",
    ];
    let with = |extra: &[&str]| {
        let mut a = base.to_vec();
        a.extend_from_slice(extra);
        ok_json(&a)
    };
    let nats = with(&[]);
    let bits = with(&["--bits"]);
    assert_eq!(with(&["--units", "bits"])["value"], bits["value"]);
    assert_eq!(bits["units"], "bits");
    assert_eq!(with(&["--units", "nats"])["value"], nats["value"]);
    let mi_bits = ok_json(&[
        "mi",
        "--x",
        s(&f.x),
        "--y",
        s(&f.y),
        "--units",
        "bits",
        "--backend",
        "cpu",
        "--format",
        "json",
    ]);
    let mi_nats = ok_json(&[
        "mi",
        "--x",
        s(&f.x),
        "--y",
        s(&f.y),
        "--backend",
        "cpu",
        "--format",
        "json",
    ]);
    let ratio = mi_nats["value"].as_f64().unwrap() / mi_bits["value"].as_f64().unwrap();
    assert!((ratio - std::f64::consts::LN_2).abs() < 1e-12, "{ratio}");
    let out = run(&["entropy", "--x", s(&f.x), "--bits", "--units", "nats"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("disagree"));
}
