//! Memory a run will need, stated before it starts.
//!
//! A run that cannot fit must say so up front instead of being killed by the
//! operating system half-way (the robustness issue: "a run that cannot fit
//! says so before it starts"). The figures are upper bounds from the shapes
//! alone: the input matrices, the prepared (noised or standardised) copies the
//! kNN estimators make (Kraskov et al. 2004 add noise to break ties), the
//! working copy the CPU twins make of a kNN kernel's rows (the twins size it:
//! [`cpu::knn_working_bytes`]), the per-point outputs of the kernels
//! (neighbour distances and indices, counts, log-sums), and, for `pairwise`,
//! the full `n_q × n_r` output. Device buffers are bounded by the tile plan
//! ([`crate::kernels::plan::TilePlan`] checks each binding against the
//! adapter's limits before allocation), so the device figure is the inputs
//! plus one block of outputs, and the partial states of the reference slices
//! that a large GPU scans side by side (the GPU backend sizes them:
//! [`gpu::state_bytes`]).
//!
//! A command that runs many estimates (`plane`: every layer at every epoch
//! under several estimators) needs what it holds throughout (inputs, labels,
//! the activations loaded at once) plus the largest single estimate
//! ([`MemoryNeed::max`], [`MemoryNeed::plus_host`]).

use crate::error::{Error, Result};
use crate::kernels::plan::KernelKind;
use crate::kernels::{cpu, gpu};

/// Bytes a run needs on the host and on the device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct MemoryNeed {
    /// Host (CPU) bytes.
    pub host_bytes: u64,
    /// Device (GPU) bytes; 0 on the CPU backend.
    pub device_bytes: u64,
}

impl MemoryNeed {
    /// The larger of two needs, host and device separately: what runs one
    /// after the other needs the most of either, not their sum.
    pub fn max(self, other: MemoryNeed) -> MemoryNeed {
        MemoryNeed {
            host_bytes: self.host_bytes.max(other.host_bytes),
            device_bytes: self.device_bytes.max(other.device_bytes),
        }
    }

    /// This need plus `bytes` held on the host for the whole run.
    pub fn plus_host(self, bytes: u64) -> MemoryNeed {
        MemoryNeed {
            host_bytes: self.host_bytes.saturating_add(bytes),
            ..self
        }
    }
}

/// The work whose memory is stated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    /// A kNN estimator (KSG, KL, mixed, CMI) on `n` rows of `dims` columns in all.
    Knn {
        /// Rows.
        n: usize,
        /// Columns of all arrays together (the joint space).
        dims: usize,
        /// Neighbour rank.
        k: usize,
    },
    /// KDE (pairwise log-sum-exp) on `n` rows of `dims` columns.
    Kde {
        /// Rows.
        n: usize,
        /// Columns.
        dims: usize,
    },
    /// Binning or plug-in estimators on `n` rows of `dims` columns.
    Binned {
        /// Rows.
        n: usize,
        /// Columns.
        dims: usize,
    },
    /// The full pairwise-distance matrix of `n_q × n_r` rows of `dims` columns.
    Pairwise {
        /// Query rows.
        n_q: usize,
        /// Reference rows.
        n_r: usize,
        /// Columns.
        dims: usize,
    },
}

fn mul(a: usize, b: usize) -> u64 {
    (a as u64).saturating_mul(b as u64)
}

impl Work {
    /// Upper bound on the bytes this work needs (`gpu`: whether a device runs the kernels).
    pub fn need(&self, gpu: bool) -> MemoryNeed {
        let (host, device) = match *self {
            Work::Knn { n, dims, k } => {
                // inputs, prepared copy, joint copy; distances + indices per
                // neighbour; marginal counts per point.
                let data = mul(n, dims).saturating_mul(4);
                let out = mul(n, k.max(1)).saturating_mul(8);
                let counts = mul(n, 3).saturating_mul(8);
                let states = gpu::state_bytes(KernelKind::Knn, n, k);
                let twin = cpu::knn_working_bytes(n, dims, k);
                (
                    data.saturating_mul(3)
                        .saturating_add(out)
                        .saturating_add(counts)
                        .saturating_add(twin),
                    data.saturating_mul(2)
                        .saturating_add(states)
                        .saturating_add(counts),
                )
            }
            Work::Kde { n, dims } => {
                let data = mul(n, dims).saturating_mul(4);
                let states = gpu::state_bytes(KernelKind::KdeLse, n, 0);
                (
                    data.saturating_mul(2).saturating_add(mul(n, 16)),
                    data.saturating_add(states),
                )
            }
            Work::Binned { n, dims } => {
                let data = mul(n, dims).saturating_mul(4);
                (
                    data.saturating_mul(2).saturating_add(mul(n, 16)),
                    data.saturating_mul(2),
                )
            }
            Work::Pairwise { n_q, n_r, dims } => {
                let data = mul(n_q, dims)
                    .saturating_add(mul(n_r, dims))
                    .saturating_mul(4);
                let out = mul(n_q, n_r).saturating_mul(4);
                (data.saturating_add(out), data.saturating_add(out))
            }
        };
        MemoryNeed {
            host_bytes: host,
            device_bytes: if gpu { device } else { 0 },
        }
    }
}

/// Host memory the operating system says is available (`MemAvailable` in
/// `/proc/meminfo`); `None` where it cannot be read.
pub fn available_host_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.saturating_mul(1024))
}

/// Human-readable bytes (MiB/GiB with one decimal).
pub fn human(bytes: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    let b = bytes as f64;
    if b >= 1024.0 * MIB {
        format!("{:.1} GiB", b / (1024.0 * MIB))
    } else {
        format!("{:.1} MiB", b / MIB)
    }
}

/// An up-front [`Error::TooLarge`] when `need` exceeds `available` host bytes
/// (no check when the figure is unknown). `what` names the run, `hint` says
/// what to change (for example "use fewer rows or columns").
pub fn check_fits(what: &str, need: &MemoryNeed, available: Option<u64>, hint: &str) -> Result<()> {
    match available {
        Some(avail) if need.host_bytes > avail => Err(Error::TooLarge {
            what: what.to_string(),
            reason: format!(
                "the run needs {} of host memory, but only {} is available; {hint}",
                human(need.host_bytes),
                human(avail)
            ),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::plan::MAX_REF_SLICES;

    #[test]
    fn pairwise_output_dominates_and_a_huge_one_does_not_fit() {
        let w = Work::Pairwise {
            n_q: 1_000_000,
            n_r: 1_000_000,
            dims: 2,
        };
        let need = w.need(true);
        assert!(need.host_bytes >= 4_000_000_000_000);
        let e = check_fits("pairwise", &need, Some(24 << 30), "use fewer rows").unwrap_err();
        assert!(e.is_input_error(), "{e:?}");
        let m = e.to_string();
        assert!(
            m.contains("pairwise") && m.contains("GiB") && m.contains("use fewer rows"),
            "{m}"
        );
        assert!(check_fits("pairwise", &need, None, "").is_ok());
    }

    #[test]
    fn device_figure_counts_the_reference_slices() {
        let (n, k) = (65_536usize, 10usize);
        let out = (n * k * 8) as u64;
        let knn = Work::Knn { n, dims: 8, k }.need(true);
        assert!(knn.device_bytes >= out * (u64::from(MAX_REF_SLICES) + 1));
        let kde = Work::Kde { n, dims: 8 }.need(true);
        assert!(kde.device_bytes >= (n * 8) as u64 * u64::from(MAX_REF_SLICES));
        // capped at one binding per state buffer, never below one region
        let huge = Work::Knn {
            n: 100_000_000,
            dims: 1,
            k: 64,
        }
        .need(true);
        assert!(huge.device_bytes >= 100_000_000 * 64 * 8);
    }

    #[test]
    fn small_runs_fit_and_cpu_needs_no_device_memory() {
        let w = Work::Knn {
            n: 1000,
            dims: 4,
            k: 3,
        };
        let need = w.need(false);
        assert_eq!(need.device_bytes, 0);
        assert!(need.host_bytes > 0 && need.host_bytes < 1 << 20);
        assert!(check_fits("knn", &need, Some(1 << 30), "").is_ok());
        // the CPU twin's copy of the rows is in: sorted f32 rows and codes
        let bigger = Work::Knn {
            n: 64_000,
            dims: 20,
            k: 3,
        }
        .need(false);
        assert!(bigger.host_bytes >= 64_000 * 20 * 4 * 3 + 64_000 * 20 * 6);
        // saturating, never overflowing, on absurd shapes
        let big = Work::Knn {
            n: usize::MAX,
            dims: usize::MAX,
            k: usize::MAX,
        }
        .need(true);
        assert_eq!(big.host_bytes, u64::MAX);
    }
}
