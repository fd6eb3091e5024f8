//! `infoplane check` and `infoplane bench` as a user runs them.

use std::process::Command;

fn infoplane(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_infoplane"))
        .args(args)
        .output()
        .expect("runs the binary")
}

#[test]
fn check_passes_on_healthy_kernels_and_reports_json() {
    if infoplane::kernels::gpu_engine_for_tests("check_bench_cli::check_passes").is_none() {
        return;
    }
    let out = infoplane(&[
        "check", "--n", "400", "--d", "3", "--seed", "5", "--format", "json",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    assert_eq!(v["pass"], true);
    let cases = v["report"]["cases"].as_array().unwrap();
    for kernel in [
        "knn",
        "radius_count",
        "kde_lse",
        "bin",
        "pairwise",
        "estimator",
    ] {
        assert!(
            cases.iter().any(|c| c["kernel"] == kernel),
            "{kernel} checked"
        );
    }
    assert!(cases
        .iter()
        .all(|c| c["reference_seconds"].as_f64().is_some()));
}

#[test]
fn check_input_errors_exit_2() {
    let out = infoplane(&["check", "--x", "/nonexistent/x.npy"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/x.npy"));
    let out = infoplane(&["check", "--estimators", "nonsense", "--n", "50"]);
    // an unknown estimator is a usage error (when an adapter exists; else the missing adapter is reported)
    assert_ne!(out.status.code(), Some(0));
}

#[test]
fn bench_reports_medians_and_rates() {
    let out = infoplane(&[
        "bench",
        "--backends",
        "cpu",
        "--sizes",
        "300x3,500x4",
        "--repeats",
        "2",
        "--format",
        "json",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert!(v["system"]["cpu_model"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    assert!(v["system"]["threads"].as_u64().unwrap() >= 1);
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2 * infoplane::bench::CASES.len());
    for r in rows {
        let (lo, med, hi) = (
            r["min_s"].as_f64().unwrap(),
            r["median_s"].as_f64().unwrap(),
            r["max_s"].as_f64().unwrap(),
        );
        assert!(lo <= med && med <= hi && lo > 0.0);
        assert!(r["pairs_per_s"].as_f64().unwrap() > 0.0);
        assert_eq!(r["repeats"], 2);
    }
    let bad = infoplane(&["bench", "--sizes", "12by3"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("12by3"));
}

#[test]
fn bench_compares_backends_when_a_gpu_exists() {
    if infoplane::kernels::gpu_engine_for_tests("check_bench_cli::bench_compares_backends")
        .is_none()
    {
        return;
    }
    let out = infoplane(&[
        "bench",
        "--sizes",
        "256x4",
        "--repeats",
        "1",
        "--cases",
        "knn_chebyshev,bin",
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert!(rows
        .iter()
        .any(|r| r["backend"] == "gpu" && r["speedup_vs_cpu"].as_f64().is_some()));
}

/// The fields of one CSV line (RFC 4180 quotes).
fn split_csv(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                out.last_mut().unwrap().push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(String::new()),
            c => out.last_mut().unwrap().push(c),
        }
    }
    out
}

/// Issue #10 item 6: `bench` listed `csv` in `--format` and then refused it.
#[test]
fn regression_bench_prints_csv() {
    let out = infoplane(&[
        "bench",
        "--backends",
        "cpu",
        "--sizes",
        "300x3",
        "--repeats",
        "1",
        "--cases",
        "knn_chebyshev,bin",
        "--format",
        "csv",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines = stdout.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header.join(","), infoplane::bench::CSV_HEADER);
    let rows: Vec<Vec<String>> = lines.map(split_csv).collect();
    assert_eq!(rows.len(), 2);
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    for r in &rows {
        assert_eq!(r.len(), header.len(), "{r:?}");
        assert_eq!(r[col("backend")], "cpu");
        assert!(r[col("device")].starts_with("cpu"), "{r:?}");
        assert_eq!((r[col("n")].as_str(), r[col("d")].as_str()), ("300", "3"));
        let (lo, med) = (
            r[col("min_s")].parse::<f64>().unwrap(),
            r[col("median_s")].parse::<f64>().unwrap(),
        );
        assert!(lo > 0.0 && lo <= med);
        assert!(r[col("pairs_per_s")].parse::<f64>().unwrap() > 0.0);
        assert_eq!(r[col("speedup_vs_cpu")], "");
    }
}

/// Issue #10 items 6, 7: `check --format csv` works; every case's judged
/// difference is the figure its verdict holds against its tolerance.
#[test]
fn regression_check_prints_csv_and_judges_in_the_stated_measure() {
    if infoplane::kernels::gpu_engine_for_tests("check_bench_cli::check_csv").is_none() {
        return;
    }
    let out = infoplane(&["check", "--n", "300", "--d", "3", "--format", "csv"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines = stdout.lines();
    let header = lines.next().unwrap();
    assert_eq!(header, infoplane::check::CSV_HEADER);
    let pass = header.split(',').position(|h| h == "pass").unwrap();
    let rows: Vec<Vec<String>> = lines.map(split_csv).collect();
    assert!(rows.len() >= 20, "{stdout}");
    assert!(rows.iter().any(|r| r[0] == "kde_lse"));
    assert!(rows.iter().all(|r| r[pass] == "true"), "{stdout}");
    let json = infoplane(&["check", "--n", "300", "--d", "3", "--format", "json"]);
    let v: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&json.stdout).trim()).unwrap();
    for c in v["report"]["cases"].as_array().unwrap() {
        let judged = c["max_judged_diff"].as_f64().unwrap();
        let tol = &c["tolerance"];
        let bound = if tol == "exact" {
            0.0
        } else {
            tol.as_object()
                .and_then(|o| o.values().next())
                .and_then(|b| b.as_f64())
                .unwrap_or_else(|| panic!("tolerance {tol}"))
        };
        if c["borderline"] == 0 {
            assert!(judged <= bound, "{c}");
        }
    }
    let text = infoplane(&["check", "--n", "300", "--d", "3"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains(infoplane::check::tolerance_legend().trim_end()),
        "{text}"
    );
}

/// Issue #10 item 10: `check: Y: expected 5000 rows like X` named no file.
#[test]
fn regression_check_shape_errors_name_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = (dir.path().join("acts.npy"), dir.path().join("labels.npy"));
    let npy = |n: usize| {
        let mut h =
            format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({n}, 2), }}").into_bytes();
        while (10 + h.len() + 1) % 64 != 0 {
            h.push(b' ');
        }
        h.push(b'\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(h.len() as u16).to_le_bytes());
        out.extend_from_slice(&h);
        for i in 0..n * 2 {
            out.extend_from_slice(&(i as f32 * 0.37).sin().to_le_bytes());
        }
        out
    };
    std::fs::write(&x, npy(50)).unwrap();
    std::fs::write(&y, npy(40)).unwrap();
    let out = infoplane(&[
        "check",
        "--x",
        x.to_str().unwrap(),
        "--y",
        y.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("labels.npy")
            && err.contains("acts.npy")
            && err.contains("50 rows")
            && err.contains("40 rows"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}
