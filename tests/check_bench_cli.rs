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
