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
