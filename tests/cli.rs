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
