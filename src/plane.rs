//! The information plane: I(X;T), I(T;Y) and H(T) for every layer T at
//! every recorded epoch, under several estimators (Shwartz-Ziv & Tishby 2017,
//! §2.3–3; Saxe et al. 2018, §2).
//!
//! A saved run is read from a directory in one of two layouts (documented in
//! `docs/formats.md`):
//!
//! ```text
//! run/                         run/
//!   inputs.npy   (X)             inputs.npy
//!   labels.npy   (Y)             labels.npy
//!   epoch_0000/                  epoch_0000.npz      (arrays named by layer)
//!     layer1.npy                 epoch_0010.npz
//!     layer2.npy                 epoch_0100.safetensors
//!   epoch_0010/ …
//! ```
//!
//! The epoch is the last run of digits in the folder or file name; layers
//! are ordered by name with numbers compared as numbers (`layer2` before
//! `layer10`). X and Y may be any supported file (`inputs.*`/`x.*` and
//! `labels.*`/`y.*` are found by name, or given with `--x`/`--y`). Epochs
//! are loaded one at a time, so a run larger than memory streams through.
//!
//! Every (epoch, layer, estimator) goes through ONE [`Engine`]: the device is
//! opened once for the whole plane.

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::estimators::{layer_info, BinScheme, Binned, Kde, LayerMethod, Mixed, Symbols, Units};
use crate::io::{self, Array, FileKind};
use crate::kernels::Engine;
use crate::memory::{MemoryNeed, Work};
use crate::report::PlaneRow;
use std::path::{Path, PathBuf};

/// The estimators `plane --estimators` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlaneMethod {
    /// Shwartz-Ziv & Tishby: `bins` equal bins on [lo, hi] (default 30 on [−1, 1]); row `binned`.
    Binned,
    /// Equal-mass bins per layer (Chelombiev et al. 2019); row `binned_adaptive`.
    Adaptive,
    /// Kolchinsky–Tracey KDE bounds (upper in `i_xt`…, lower in `*_lower`); row `kde`.
    Kde,
    /// Kozachenko–Leonenko H(T) and Ross's mixed kNN I(T;Y) (KSG family); row `ksg`.
    Ksg,
}

impl PlaneMethod {
    /// The `estimator` column of its rows.
    pub fn label(self) -> &'static str {
        match self {
            PlaneMethod::Binned => "binned",
            PlaneMethod::Adaptive => "binned_adaptive",
            PlaneMethod::Kde => "kde",
            PlaneMethod::Ksg => "ksg",
        }
    }
}

/// Parses `binned,kde,ksg`. `binned` means both binnings (SZT and adaptive);
/// `szt` and `adaptive` pick one; `knn` is a synonym of `ksg`.
pub fn parse_methods(s: &str) -> Result<Vec<PlaneMethod>> {
    let mut out = Vec::new();
    for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let add: &[PlaneMethod] = match name {
            "binned" => &[PlaneMethod::Binned, PlaneMethod::Adaptive],
            "szt" => &[PlaneMethod::Binned],
            "adaptive" | "binned_adaptive" => &[PlaneMethod::Adaptive],
            "kde" => &[PlaneMethod::Kde],
            "ksg" | "knn" => &[PlaneMethod::Ksg],
            other => {
                return Err(Error::param(
                    "estimators",
                    format!(
                        "unknown estimator `{other}`: expected binned, szt, adaptive, kde or ksg"
                    ),
                ))
            }
        };
        for m in add {
            if !out.contains(m) {
                out.push(*m);
            }
        }
    }
    if out.is_empty() {
        return Err(Error::param("estimators", "no estimator given"));
    }
    Ok(out)
}

/// Settings of a plane computation.
#[derive(Clone, Debug)]
pub struct PlaneOptions {
    /// Estimators, in output order.
    pub methods: Vec<PlaneMethod>,
    /// Bins for `binned` and `binned_adaptive`.
    pub bins: u32,
    /// Range of the `binned` bins.
    pub range: (f32, f32),
    /// KDE noise variance σ² (None: the estimator's documented default).
    pub sigma2: Option<f64>,
    /// Neighbour rank for `ksg`.
    pub k: usize,
    /// Seed of the tie-breaking noise for `ksg`.
    pub seed: u64,
    /// Units of every value.
    pub units: Units,
}

impl Default for PlaneOptions {
    fn default() -> Self {
        PlaneOptions {
            methods: vec![PlaneMethod::Binned, PlaneMethod::Adaptive, PlaneMethod::Kde],
            bins: 30,
            range: (-1.0, 1.0),
            sigma2: None,
            k: 3,
            seed: 0,
            units: Units::Bits,
        }
    }
}

impl PlaneOptions {
    /// The checked estimator of each method.
    pub fn layer_methods(&self) -> Result<Vec<(PlaneMethod, LayerMethod)>> {
        self.methods
            .iter()
            .map(|&m| {
                let lm = match m {
                    PlaneMethod::Binned => LayerMethod::Binned(
                        Binned::params()
                            .scheme(BinScheme::EqualRange {
                                lo: self.range.0,
                                hi: self.range.1,
                                bins: self.bins,
                            })
                            .units(self.units)
                            .check()?,
                    ),
                    PlaneMethod::Adaptive => LayerMethod::Binned(
                        Binned::params()
                            .scheme(BinScheme::Adaptive { bins: self.bins })
                            .units(self.units)
                            .check()?,
                    ),
                    PlaneMethod::Kde => {
                        let mut p = Kde::params().units(self.units);
                        if let Some(v) = self.sigma2 {
                            p = p.variance(v);
                        }
                        LayerMethod::Kde(p.check()?)
                    }
                    PlaneMethod::Ksg => LayerMethod::Knn(
                        Mixed::params()
                            .k(self.k)
                            .seed(self.seed)
                            .units(self.units)
                            .check()?,
                    ),
                };
                Ok((m, lm))
            })
            .collect()
    }
}

/// Memory a plane needs (`gpu`: whether a device runs the kernels), an upper
/// bound from the shapes: `resident` host bytes held for the whole run (X, Y,
/// their symbols, the activations loaded at once), plus the largest single
/// estimate over the layers (`layer_dims`: columns of each layer, `n` rows
/// each) and the chosen estimators. Estimates run one after the other, so
/// their needs do not add up.
pub fn memory_need(
    opts: &PlaneOptions,
    n: usize,
    layer_dims: &[usize],
    resident: u64,
    gpu: bool,
) -> MemoryNeed {
    let mut need = MemoryNeed::default();
    for &d in layer_dims {
        for m in &opts.methods {
            let work = match m {
                PlaneMethod::Binned | PlaneMethod::Adaptive => Work::Binned { n, dims: d },
                PlaneMethod::Kde => Work::Kde { n, dims: d },
                PlaneMethod::Ksg => Work::Knn {
                    n,
                    dims: d,
                    k: opts.k,
                },
            };
            need = need.max(work.need(gpu));
        }
    }
    need.plus_host(resident)
}

/// Input symbols: integer/bool (discrete) arrays by value, float arrays by exact row.
pub fn input_symbols(a: &Array) -> Result<Symbols> {
    let ds = a.to_dataset()?;
    if a.discrete {
        Symbols::from_dataset(&ds)
    } else {
        Ok(Symbols::from_exact_rows(&ds))
    }
}

/// Label symbols: every row one class; float labels must hold integers (one-hot rows work too).
pub fn label_symbols(a: &Array) -> Result<Symbols> {
    Symbols::from_dataset(&a.to_dataset()?)
}

/// Where one epoch's activations are.
#[derive(Clone, Debug, PartialEq)]
pub enum EpochSource {
    /// A folder with one array file per layer.
    Folder(PathBuf),
    /// One `.npz`/`.safetensors` with one array per layer.
    Archive(PathBuf),
}

/// A saved run found on disk.
#[derive(Clone, Debug)]
pub struct RunLayout {
    /// The run folder.
    pub dir: PathBuf,
    /// Inputs file (X).
    pub x: PathBuf,
    /// Labels file (Y).
    pub y: PathBuf,
    /// Epochs, ascending, with their sources.
    pub epochs: Vec<(usize, EpochSource)>,
}

/// The last run of ASCII digits in `name`, as a number.
fn trailing_number(name: &str) -> Option<usize> {
    let bytes = name.as_bytes();
    let end = bytes.iter().rposition(|b| b.is_ascii_digit())? + 1;
    let start = bytes[..end]
        .iter()
        .rposition(|b| !b.is_ascii_digit())
        .map_or(0, |p| p + 1);
    name[start..end].parse().ok()
}

/// Orders names with digit runs compared as numbers (`layer2` < `layer10`).
fn natural_key(name: &str) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut digits = String::new();
    for c in name.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            if !digits.is_empty() {
                out.push((
                    std::mem::take(&mut text),
                    digits.parse().unwrap_or(u64::MAX),
                ));
                digits.clear();
            }
            text.push(c);
        }
    }
    out.push((text, digits.parse().unwrap_or(0)));
    out
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn is_data_file(p: &Path) -> bool {
    p.is_file() && FileKind::of(p).is_ok()
}

fn find_named(names: &[&str], entries: &[PathBuf]) -> Option<PathBuf> {
    names.iter().find_map(|n| {
        entries
            .iter()
            .find(|p| is_data_file(p) && stem(p) == *n)
            .cloned()
    })
}

impl RunLayout {
    /// Finds X, Y and the epochs in `dir`; `x`/`y` override the inputs and labels files.
    pub fn discover(dir: &Path, x: Option<&str>, y: Option<&str>) -> Result<RunLayout> {
        let io_err = |source| Error::Io {
            path: dir.to_path_buf(),
            source,
        };
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io_err)?
            .map(|e| e.map(|e| e.path()).map_err(io_err))
            .collect::<Result<_>>()?;
        entries.sort();
        let x_path = match x {
            Some(s) => PathBuf::from(s),
            None => find_named(&["inputs", "x", "X"], &entries).ok_or_else(|| Error::Format {
                path: dir.to_path_buf(),
                reason:
                    "no inputs file (inputs.npy, x.npy, …) in the run folder; give one with --x"
                        .into(),
            })?,
        };
        let y_path = match y {
            Some(s) => PathBuf::from(s),
            None => find_named(&["labels", "y", "Y"], &entries).ok_or_else(|| Error::Format {
                path: dir.to_path_buf(),
                reason:
                    "no labels file (labels.npy, y.npy, …) in the run folder; give one with --y"
                        .into(),
            })?,
        };
        let mut epochs = Vec::new();
        for p in &entries {
            if *p == x_path || *p == y_path {
                continue;
            }
            let name = p
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            if name.starts_with('.') {
                continue;
            }
            let source = if p.is_dir() {
                EpochSource::Folder(p.clone())
            } else if matches!(FileKind::of(p), Ok(FileKind::Npz | FileKind::Safetensors)) {
                EpochSource::Archive(p.clone())
            } else {
                continue;
            };
            let key = if p.is_dir() { name.clone() } else { stem(p) };
            let Some(epoch) = trailing_number(&key) else {
                continue;
            };
            epochs.push((epoch, source));
        }
        epochs.sort_by_key(|e| e.0);
        if let Some(w) = epochs.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(Error::Format {
                path: dir.to_path_buf(),
                reason: format!(
                    "two entries for epoch {}: {:?} and {:?}",
                    w[0].0, w[0].1, w[1].1
                ),
            });
        }
        if epochs.is_empty() {
            return Err(Error::Format {
                path: dir.to_path_buf(),
                reason:
                    "no epochs found: expected folders like epoch_0010/ (one array file per layer) \
                         or archives like epoch_0010.npz (one array per layer)"
                        .into(),
            });
        }
        Ok(RunLayout {
            dir: dir.to_path_buf(),
            x: x_path,
            y: y_path,
            epochs,
        })
    }

    /// The layers of epoch `i` (index into `epochs`), ordered by name.
    pub fn load_epoch(&self, i: usize) -> Result<Vec<(String, Dataset)>> {
        let (_, source) = &self.epochs[i];
        let mut layers: Vec<(String, Array)> = match source {
            EpochSource::Archive(p) => io::load_all(p)?,
            EpochSource::Folder(d) => {
                let io_err = |source| Error::Io {
                    path: d.clone(),
                    source,
                };
                let mut files: Vec<PathBuf> = std::fs::read_dir(d)
                    .map_err(io_err)?
                    .map(|e| e.map(|e| e.path()).map_err(io_err))
                    .collect::<Result<_>>()?;
                files.retain(|p| is_data_file(p));
                let mut out = Vec::new();
                for f in files {
                    // An archive inside an epoch folder contributes all its arrays.
                    for (name, a) in io::load_all(&f)? {
                        let name = match FileKind::of(&f)? {
                            FileKind::Npy | FileKind::Csv => stem(&f),
                            _ => name,
                        };
                        out.push((name, a));
                    }
                }
                out
            }
        };
        if layers.is_empty() {
            return Err(Error::Format {
                path: match source {
                    EpochSource::Archive(p) | EpochSource::Folder(p) => p.clone(),
                },
                reason: "no layer arrays".into(),
            });
        }
        layers.sort_by_key(|a| natural_key(&a.0));
        layers
            .into_iter()
            .map(|(n, a)| a.into_dataset().map(|d| (n, d)))
            .collect()
    }
}

/// Computes every row. `epochs[i]` is the epoch number of snapshot i, whose
/// layers `load(i)` returns; `progress(done, total)` is called after each
/// row (total is known after the first snapshot is loaded).
pub fn compute(
    epochs: &[usize],
    mut load: impl FnMut(usize) -> Result<Vec<(String, Dataset)>>,
    x: &Symbols,
    y: &Symbols,
    opts: &PlaneOptions,
    engine: &Engine,
    mut progress: impl FnMut(usize, usize),
) -> Result<Vec<PlaneRow>> {
    let methods = opts.layer_methods()?;
    let mut rows = Vec::new();
    let mut total = 0;
    for (i, &epoch) in epochs.iter().enumerate() {
        let layers = load(i)?;
        if i == 0 {
            total = epochs.len() * layers.len() * methods.len();
        }
        for (name, t) in &layers {
            for (m, lm) in &methods {
                let info =
                    layer_info(t, x, y, lm, engine).map_err(|e| with_context(e, epoch, name))?;
                rows.push(PlaneRow {
                    epoch,
                    layer: name.clone(),
                    estimator: m.label().to_string(),
                    i_xt: info.i_xt,
                    i_ty: info.i_ty,
                    h_t: info.h_t,
                    units: info.units,
                    n: info.n,
                    d: info.d,
                    backend: info.backend,
                    seconds: info.seconds,
                    i_xt_lower: info.i_xt_lower,
                    i_ty_lower: info.i_ty_lower,
                    h_t_lower: info.h_t_lower,
                    h_y_given_t: info.h_y_given_t,
                    adapter: info.adapter,
                    seed: info.seed,
                    diagnostics: info.diagnostics,
                });
                progress(rows.len(), total.max(rows.len()));
            }
        }
    }
    Ok(rows)
}

/// Prefixes the epoch and layer to data errors, so a user knows which array failed.
fn with_context(e: Error, epoch: usize, layer: &str) -> Error {
    match e {
        Error::Data { what, reason } => Error::Data {
            what: format!("epoch {epoch}, layer {layer} ({what})"),
            reason,
        },
        Error::Shape {
            what,
            expected,
            got,
        } => Error::Shape {
            what: format!("epoch {epoch}, layer {layer} ({what})"),
            expected,
            got,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(trailing_number("epoch_0010"), Some(10));
        assert_eq!(trailing_number("e3_step200"), Some(200));
        assert_eq!(trailing_number("final"), None);
        let mut v = vec!["layer10", "layer2", "layer1"];
        v.sort_by_key(|n| natural_key(n));
        assert_eq!(v, ["layer1", "layer2", "layer10"]);
    }

    #[test]
    fn memory_need_is_the_largest_estimate_plus_what_is_held() {
        let opts = PlaneOptions {
            methods: parse_methods("binned,kde,ksg").unwrap(),
            ..PlaneOptions::default()
        };
        let need = memory_need(&opts, 1000, &[3, 50, 7], 12345, true);
        let widest = Work::Knn {
            n: 1000,
            dims: 50,
            k: 3,
        }
        .need(true);
        assert_eq!(need.host_bytes, widest.host_bytes + 12345);
        assert_eq!(need.device_bytes, widest.device_bytes);
        let cpu = memory_need(&opts, 1000, &[3, 50, 7], 0, false);
        assert_eq!(cpu.device_bytes, 0);
    }

    #[test]
    fn method_names() {
        assert_eq!(
            parse_methods("binned,kde,ksg").unwrap(),
            [
                PlaneMethod::Binned,
                PlaneMethod::Adaptive,
                PlaneMethod::Kde,
                PlaneMethod::Ksg
            ]
        );
        assert!(parse_methods("foo").is_err());
        assert!(parse_methods("").is_err());
    }
}
