//! Device faults: an explicit GPU engine reports them as errors; an `auto`
//! engine logs them, falls back to the CPU twins and returns the CPU's result.

use infoplane::kernels::gpu::{Fault, GpuKernels};
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
