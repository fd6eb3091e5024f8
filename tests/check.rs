//! `check` must pass on healthy kernels and catch a broken one.

use infoplane::check::{check_kernels, render_text};
use infoplane::kernels::cpu::CpuKernels;
use infoplane::kernels::plan::Limits;
use infoplane::kernels::{
    gpu_engine_for_tests, Backend, BinOut, Binning, CountSpec, Kernels, KnnOut, KnnSpec, Metric,
    Rows,
};
use infoplane::Result;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn data(n: usize, d: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // quantised values make ties, the hard case for index order and counts
    (0..n * d)
        .map(|_| (rng.random_range(-1.0f32..1.0) * 64.0).round() / 64.0)
        .collect()
}

/// The CPU twin with one deliberate fault in one kernel.
struct Broken {
    inner: CpuKernels,
    fault: &'static str,
}

impl Kernels for Broken {
    fn backend(&self) -> Backend {
        Backend::Gpu
    }
    fn knn(&self, q: Rows<'_>, r: Rows<'_>, spec: &KnnSpec) -> Result<KnnOut> {
        let mut out = self.inner.knn(q, r, spec)?;
        if self.fault == "knn" {
            out.kth[q.n() / 2] = f32::from_bits(out.kth[q.n() / 2].to_bits() + 1);
        }
        Ok(out)
    }
    fn radius_count(
        &self,
        q: Rows<'_>,
        r: Rows<'_>,
        radii: &[f32],
        spec: &CountSpec,
    ) -> Result<Vec<u32>> {
        let mut out = self.inner.radius_count(q, r, radii, spec)?;
        if self.fault == "radius_count" {
            out[3] += 1;
        }
        Ok(out)
    }
    fn kde_lse(
        &self,
        q: Rows<'_>,
        r: Rows<'_>,
        scale: f32,
        exclude_self: bool,
    ) -> Result<Vec<f32>> {
        let mut out = self.inner.kde_lse(q, r, scale, exclude_self)?;
        if self.fault == "kde_lse" {
            out[0] *= 1.001;
        }
        Ok(out)
    }
    fn bin(&self, rows: Rows<'_>, binning: &Binning) -> Result<BinOut> {
        let mut out = self.inner.bin(rows, binning)?;
        if self.fault == "bin" {
            out.keys[1] ^= 1;
        }
        Ok(out)
    }
    fn pairwise(&self, q: Rows<'_>, r: Rows<'_>, metric: &Metric) -> Result<Vec<f32>> {
        let mut out = self.inner.pairwise(q, r, metric)?;
        if self.fault == "pairwise" {
            out[7] += 0.5;
        }
        Ok(out)
    }
}

#[test]
fn healthy_cpu_twins_agree_with_themselves_under_tiling() {
    let (x, y) = (data(300, 5, 1), data(300, 3, 2));
    let (xr, yr) = (
        Rows::new(&x, 300, 5).unwrap(),
        Rows::new(&y, 300, 3).unwrap(),
    );
    let reference = CpuKernels::new();
    let tiled = CpuKernels::with_limits(Limits::tiny());
    let report = check_kernels(&reference, &tiled, "cpu tiled", xr, Some(yr), 3).unwrap();
    assert!(report.pass(), "{}", render_text(&report));
    assert!(
        report.cases.len() >= 20,
        "every kernel and metric is covered"
    );
}

#[test]
fn a_broken_kernel_is_caught_and_named() {
    let (x, y) = (data(200, 4, 3), data(200, 2, 4));
    let (xr, yr) = (
        Rows::new(&x, 200, 4).unwrap(),
        Rows::new(&y, 200, 2).unwrap(),
    );
    for fault in ["knn", "radius_count", "kde_lse", "bin", "pairwise"] {
        let broken = Broken {
            inner: CpuKernels::new(),
            fault,
        };
        let report = check_kernels(&CpuKernels::new(), &broken, "broken", xr, Some(yr), 3).unwrap();
        assert!(!report.pass(), "fault in {fault} not caught");
        let failing: Vec<_> = report.cases.iter().filter(|c| !c.pass).collect();
        assert!(
            failing.iter().all(|c| c.kernel == fault),
            "only {fault} fails: {}",
            render_text(&report)
        );
        assert!(failing
            .iter()
            .all(|c| !c.examples.is_empty() && c.differing > 0));
        assert!(render_text(&report).contains("MISMATCH"));
    }
}

#[test]
fn gpu_agrees_with_cpu() {
    let Some(gpu) = gpu_engine_for_tests("check::gpu_agrees_with_cpu") else {
        return;
    };
    let (x, y) = (data(517, 6, 5), data(517, 3, 6));
    let (xr, yr) = (
        Rows::new(&x, 517, 6).unwrap(),
        Rows::new(&y, 517, 3).unwrap(),
    );
    let report = check_kernels(
        &CpuKernels::new(),
        &gpu,
        &gpu.device_name(),
        xr,
        Some(yr),
        3,
    )
    .unwrap();
    assert!(report.pass(), "{}", render_text(&report));
}
