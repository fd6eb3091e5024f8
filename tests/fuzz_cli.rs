//! Property test of the CLI argument paths: `mi` and `entropy` with arbitrary
//! mixes of flags and values (valid, out of range, unparsable) on small good
//! and bad files. Whatever the arguments, the binary exits 0 (and prints only
//! finite numbers) or 2 (and prints an `error:` line and nothing on stdout);
//! it never panics. Status 1 is for device failures, which `--backend cpu`
//! rules out.
//!
//! Case count: `PROPTEST_CASES` (default 24: each case starts the binary).

mod common;

use proptest::prelude::*;
use std::process::Command;
use std::sync::OnceLock;

struct Files {
    _dir: tempfile::TempDir,
    paths: Vec<String>,
}

use common::npy_f32;

fn files() -> &'static Files {
    static F: OnceLock<Files> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let n = 40;
        let x: Vec<f32> = (0..n * 2)
            .map(|i| ((i * 37 % 101) as f32) / 50.0 - 1.0)
            .collect();
        let y: Vec<f32> = (0..n).map(|i| (i % 3) as f32).collect();
        let mut nan = x.clone();
        nan[5] = f32::NAN;
        let mut paths = vec![];
        for (name, bytes) in [
            ("x.npy", npy_f32(&x, &format!("({n}, 2)"))),
            ("y.npy", npy_f32(&y, &format!("({n},)"))),
            ("nan.npy", npy_f32(&nan, &format!("({n}, 2)"))),
            ("short.npy", npy_f32(&y[..5], "(5,)")),
            ("bad.npy", b"\x93NUMPY\x01\x00\x10\x00{'descr'".to_vec()),
            ("t.csv", b"a,b\n1,2\n3,4\n5,7\n2,2\n".to_vec()),
        ] {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            paths.push(p.to_string_lossy().into_owned());
        }
        paths.push(
            dir.path()
                .join("missing.npy")
                .to_string_lossy()
                .into_owned(),
        );
        Files { _dir: dir, paths }
    })
}

fn flag() -> impl Strategy<Value = Vec<String>> {
    let f = files();
    let file = prop::sample::select(f.paths.clone());
    let num = prop::sample::select(vec![
        "0",
        "1",
        "3",
        "-1",
        "1e9",
        "nan",
        "inf",
        "abc",
        "",
        "0.001",
        "18446744073709551616",
    ]);
    prop_oneof![
        (prop::sample::select(vec!["--x", "--y", "--z"]), file)
            .prop_map(|(a, b)| vec![a.into(), b]),
        (
            prop::sample::select(vec!["-k", "--sigma2", "--bins", "--seed"]),
            num.clone()
        )
            .prop_map(|(a, b)| vec![format!("{a}={b}")]),
        prop::sample::select(vec!["-1,1", "1,1", "2,-2", "a,b", "0,1", "nan,1"])
            .prop_map(|r| vec![format!("--range={r}")]),
        prop::sample::select(vec![
            "ksg1", "ksg2", "mixed", "kde", "binned", "discrete", "gaussian", "kl", "bogus"
        ])
        .prop_map(|e| vec!["--estimator".into(), e.into()]),
        prop::sample::select(vec![
            "--bits",
            "--standardize",
            "--discrete=x",
            "--discrete=y,q",
            "--binning=adaptive",
            "--format=json",
            "--format=csv"
        ])
        .prop_map(|s| vec![s.into()]),
    ]
}

/// A file, the good ones three times as likely as the broken ones.
fn file() -> impl Strategy<Value = String> {
    let p = &files().paths;
    prop_oneof![
        3 => prop::sample::select(vec![p[0].clone(), p[1].clone(), p[5].clone()]),
        1 => prop::sample::select(p.clone()),
    ]
}

fn check(cmd: &str, flags: &[Vec<String>]) {
    let args: Vec<String> = std::iter::once(cmd.to_string())
        .chain(flags.iter().flatten().cloned())
        .chain(["--backend".into(), "cpu".into()])
        .collect();
    let out = Command::new(env!("CARGO_BIN_EXE_infoplane"))
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .args(&args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    if std::env::var_os("FUZZ_CLI_TRACE").is_some() {
        eprintln!("exit {:?}: {args:?}", out.status.code());
    }
    match out.status.code() {
        Some(0) => {
            let low = stdout.to_lowercase();
            assert!(
                !low.contains("nan") && !low.contains("inf"),
                "{args:?}: {stdout}"
            );
        }
        Some(2) => assert!(stdout.is_empty(), "{args:?}: printed {stdout} and failed"),
        other => panic!("{args:?}: exit {other:?}: {stderr}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(24)))]

    #[test]
    fn mi_arguments(flags in prop::collection::vec(flag(), 0..7)) {
        check("mi", &flags);
    }

    /// With X and Y always given (mostly good files), so most cases get past
    /// the argument parser into loading and estimation.
    #[test]
    fn mi_with_files(x in file(), y in file(), flags in prop::collection::vec(flag(), 0..4)) {
        let mut all = vec![vec!["--x".to_string(), x], vec!["--y".to_string(), y]];
        all.extend(flags.into_iter().filter(|f| !matches!(f[0].as_str(), "--x" | "--y")));
        check("mi", &all);
    }

    #[test]
    fn entropy_arguments(flags in prop::collection::vec(flag(), 0..6)) {
        check("entropy", &flags);
    }

    #[test]
    fn entropy_with_file(x in file(), flags in prop::collection::vec(flag(), 0..4)) {
        let mut all = vec![vec!["--x".to_string(), x]];
        all.extend(flags.into_iter().filter(|f| !matches!(f[0].as_str(), "--x" | "--y" | "--z")));
        check("entropy", &all);
    }
}
