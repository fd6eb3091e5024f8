//! Device faults: an explicit GPU engine reports them as errors; an `auto`
//! engine logs them, falls back to the CPU twins and returns the CPU's result.
//! Faults are injected through the GPU context's hook (`Fault`): on an open
//! device, at the next adapter request on this thread, or for the command
//! line through `INFOPLANE_TEST_FAULT`.

mod common;

use infoplane::kernels::gpu::{inject_at_open, Fault, GpuKernels};
use infoplane::kernels::{
    gpu_engine_for_tests, Backend, Boundary, CountSpec, Engine, Kernels, KnnSpec, Metric, Rows,
};
use infoplane::Error;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn data(n: usize, d: usize) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    (0..n * d).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

fn spec() -> KnnSpec {
    KnnSpec {
        k: 3,
        metric: Metric::chebyshev(),
        exclude_self: true,
        want_indices: true,
    }
}

#[test]
fn explicit_gpu_reports_faults_as_errors() {
    for fault in [Fault::OutOfMemory, Fault::DeviceLost] {
        let Some(gpu) = gpu_engine_for_tests("faults::explicit_gpu_reports_faults_as_errors")
        else {
            return;
        };
        let x = data(300, 4);
        let rows = Rows::new(&x, 300, 4).unwrap();
        gpu.inject_fault(fault);
        match gpu.knn(rows, rows, &spec()) {
            Err(Error::Device { kernel, reason }) => {
                assert_eq!(kernel, "knn");
                assert!(!reason.is_empty());
            }
            other => panic!("{fault:?}: expected a device error, got {other:?}"),
        }
    }
}

#[test]
fn auto_falls_back_to_the_cpu_with_the_same_result() {
    for fault in [Fault::OutOfMemory, Fault::DeviceLost] {
        if gpu_engine_for_tests("faults::auto_falls_back_to_the_cpu_with_the_same_result").is_none()
        {
            return;
        }
        let engine = Engine::with_cpu_fallback(GpuKernels::new(true).expect("adapter seen above"));
        let x = data(500, 5);
        let rows = Rows::new(&x, 500, 5).unwrap();
        let cpu = Engine::cpu();
        let want = cpu.knn(rows, rows, &spec()).unwrap();
        assert_eq!(engine.backend(), Backend::Gpu);
        engine.inject_fault(fault);
        let got = engine
            .knn(rows, rows, &spec())
            .expect("falls back instead of failing");
        assert_eq!(
            got, want,
            "{fault:?}: fallback result equals the CPU result"
        );
        assert_eq!(
            engine.backend(),
            Backend::Cpu,
            "the engine now reports the CPU"
        );
        // later calls stay on the CPU and still agree
        let cs = CountSpec {
            metric: Metric::chebyshev(),
            boundary: Boundary::Less,
            exclude_self: true,
        };
        assert_eq!(
            engine.radius_count(rows, rows, &want.kth, &cs).unwrap(),
            cpu.radius_count(rows, rows, &want.kth, &cs).unwrap()
        );
    }
}

/// No hardware adapter (this is the case on a machine with only lavapipe, or
/// none at all): `auto` opens the CPU twins, logged, and the job finishes with
/// the CPU result; an explicit GPU request without any adapter is a clear
/// `NoAdapter` error, never a panic.
#[test]
fn no_adapter_auto_runs_on_the_cpu_and_gpu_reports_it() {
    let auto = Engine::new(infoplane::BackendChoice::Auto).expect("auto always opens something");
    let x = data(400, 3);
    let rows = Rows::new(&x, 400, 3).unwrap();
    let want = Engine::cpu().knn(rows, rows, &spec()).unwrap();
    assert_eq!(auto.knn(rows, rows, &spec()).unwrap(), want);
    match Engine::new(infoplane::BackendChoice::Gpu) {
        Ok(g) => assert_eq!(g.knn(rows, rows, &spec()).unwrap(), want),
        Err(e) => {
            assert!(matches!(e, Error::NoAdapter(_)), "{e:?}");
            assert!(e.to_string().contains("no GPU adapter"));
        }
    }
}

/// The adapter request fails (a driver or loader error, injected at the next
/// open on this thread), which is not the same as finding no adapter: an
/// explicit GPU request reports `AdapterRequest`, naming the failure; `auto`
/// falls back to the CPU twins with the CPU's result. The fault strikes once:
/// where an adapter exists, the next request opens it.
#[test]
fn adapter_request_fails_gpu_reports_it_and_auto_falls_back() {
    inject_at_open(Fault::AdapterRequest);
    match Engine::new(infoplane::BackendChoice::Gpu) {
        Err(e @ Error::AdapterRequest(_)) => {
            let m = e.to_string();
            assert!(
                m.contains("adapter request failed") && m.contains("injected"),
                "{m}"
            );
            assert!(!e.is_input_error());
        }
        Err(e) => panic!("expected AdapterRequest, got {e:?}"),
        Ok(_) => panic!("the injected adapter request failure was ignored"),
    }
    let x = data(400, 3);
    let rows = Rows::new(&x, 400, 3).unwrap();
    let want = Engine::cpu().knn(rows, rows, &spec()).unwrap();
    // Through an engine's hook as well: it arms the next open on this thread.
    Engine::cpu().inject_fault(Fault::AdapterRequest);
    let auto = Engine::new(infoplane::BackendChoice::Auto).expect("auto falls back");
    assert_eq!(auto.backend(), Backend::Cpu);
    assert_eq!(auto.knn(rows, rows, &spec()).unwrap(), want);
    if let Some(gpu) =
        gpu_engine_for_tests("faults::adapter_request_fails_gpu_reports_it_and_auto_falls_back")
    {
        assert_eq!(gpu.knn(rows, rows, &spec()).unwrap(), want);
    }
}

fn cli(args: &[&str], fault: bool) -> std::process::Output {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_infoplane"));
    c.env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .env_remove("RUST_LOG")
        .args(args);
    if fault {
        c.env(infoplane::kernels::gpu::FAULT_ENV, "adapter_request");
    }
    c.output().expect("the binary runs")
}

fn write_npy(path: &std::path::Path, v: &[f32], n: usize, d: usize) {
    common::write_npy_f32(path, v, n, d);
}

/// The same fault on the command line (`INFOPLANE_TEST_FAULT=adapter_request`,
/// set on the child only): `--backend gpu` exits 1 with an error naming the
/// failed adapter request and prints no result (`plane`: before training, no
/// output); `--backend auto` warns that it falls back and prints the CPU
/// backend's result, to the bit.
#[test]
fn adapter_request_fails_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let (xp, yp) = (dir.path().join("x.npy"), dir.path().join("y.npy"));
    let x = data(300, 2);
    write_npy(&xp, &x, 300, 2);
    let y: Vec<f32> = x.chunks(2).map(|r| r[0] + 0.3 * r[1]).collect();
    write_npy(&yp, &y, 300, 1);
    let (xs, ys) = (xp.to_str().unwrap(), yp.to_str().unwrap());
    let mi = |backend: &'static str| {
        [
            "mi",
            "--x",
            xs,
            "--y",
            ys,
            "--format",
            "json",
            "--backend",
            backend,
        ]
    };

    let o = cli(&mi("gpu"), true);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("error: opening the compute backend: GPU adapter request failed"),
        "{err}"
    );
    assert!(o.stdout.is_empty() && !err.contains("panicked"), "{err}");

    let cpu = cli(&mi("cpu"), false);
    assert!(cpu.status.success());
    let o = cli(&mi("auto"), true);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("adapter request failed") && err.contains("falling back to the CPU twins"),
        "{err}"
    );
    let value = |out: &[u8]| -> serde_json::Value { serde_json::from_slice(out).unwrap() };
    let (got, want) = (value(&o.stdout), value(&cpu.stdout));
    assert_eq!(got["backend"], "cpu");
    assert_eq!(
        got["value"].as_f64().unwrap().to_bits(),
        want["value"].as_f64().unwrap().to_bits(),
        "auto after the fault: {got}, cpu: {want}"
    );

    let out = dir.path().join("out");
    let plane = |backend: &str| {
        [
            "plane",
            "--epochs",
            "20",
            "--records",
            "3",
            "--backend",
            backend,
            "--out",
        ]
        .into_iter()
        .map(String::from)
        .chain([out.to_str().unwrap().to_string()])
        .collect::<Vec<_>>()
    };
    let args = plane("gpu");
    let o = cli(&args.iter().map(String::as_str).collect::<Vec<_>>(), true);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("GPU adapter request failed") && !err.contains("trained"),
        "{err}"
    );
    assert!(!out.exists(), "plane wrote output after the device failed");
    let args = plane("auto");
    let o = cli(&args.iter().map(String::as_str).collect::<Vec<_>>(), true);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("falling back to the CPU twins"), "{err}");
    let csv = std::fs::read_to_string(out.join("plane.csv")).unwrap();
    assert!(
        csv.lines()
            .skip(1)
            .all(|l| l.split(',').nth(9) == Some("cpu")),
        "{csv}"
    );
}

/// A problem whose one dispatch would run too long is cut into many smaller
/// dispatches under the loop and time bounds; one that cannot be cut (a single
/// reference row over the bound) is a `Plan` error up front, and under `auto`
/// a logged fallback to the CPU with the CPU's result.
#[test]
fn dispatch_too_long_is_split_or_refused_and_auto_falls_back() {
    use infoplane::kernels::plan::{KernelKind, Limits, TilePlan};
    let tiny = Limits::tiny();
    let p = TilePlan::new(KernelKind::Knn, 5000, 5000, 4, 3, 0, &tiny).unwrap();
    assert!(p.dispatches() > 100, "{} dispatches", p.dispatches());
    assert!(p.loop_iterations <= tiny.max_loop_iterations);
    // A loop bound below the cost of one reference row cannot be planned.
    let strict = Limits {
        max_loop_iterations: 2,
        ..Limits::tiny()
    };
    let wide = TilePlan::new(KernelKind::Knn, 10, 10, 4, 3, 0, &strict);
    assert!(
        matches!(wide, Err(Error::Plan { kernel: "knn", .. })),
        "{wide:?}"
    );

    let Some(_) =
        gpu_engine_for_tests("faults::dispatch_too_long_is_split_or_refused_and_auto_falls_back")
    else {
        return;
    };
    // Split: tiny limits on the real adapter, same result as the CPU.
    let x = data(300, 4);
    let rows = Rows::new(&x, 300, 4).unwrap();
    let cpu = Engine::cpu();
    let split = GpuKernels::with_limits(true, Limits::tiny()).unwrap();
    assert_eq!(
        split.knn(rows, rows, &spec()).unwrap(),
        cpu.knn(rows, rows, &spec()).unwrap()
    );
    // Refused: one reference row is over the loop bound; auto falls back.
    let w = data(50, 4);
    let wrows = Rows::new(&w, 50, 4).unwrap();
    let explicit = GpuKernels::with_limits(true, strict.clone()).unwrap();
    assert!(matches!(
        explicit.knn(wrows, wrows, &spec()),
        Err(Error::Plan { .. })
    ));
    let auto = Engine::with_cpu_fallback(GpuKernels::with_limits(true, strict).unwrap());
    assert_eq!(
        auto.knn(wrows, wrows, &spec()).unwrap(),
        cpu.knn(wrows, wrows, &spec()).unwrap()
    );
    assert_eq!(auto.backend(), Backend::Cpu);
}
