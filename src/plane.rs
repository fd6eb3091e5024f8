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
///
/// Names follow `mi`/`entropy` where the estimator is the same: `binned`
/// (with `--binning equal|adaptive`), `kde`, `mixed`. The CSV `estimator`
/// value of each row ([`PlaneMethod::label`]) is a contract and keeps its
/// old spelling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlaneMethod {
    /// Shwartz-Ziv & Tishby: `bins` equal bins on a range (see [`BinRange`]); row `binned`.
    Binned,
    /// Equal-mass bins per layer (Chelombiev et al. 2019); row `binned_adaptive`.
    Adaptive,
    /// Kolchinsky–Tracey KDE bounds (upper in `i_xt`…, lower in `*_lower`); row `kde`.
    Kde,
    /// Ross's mixed kNN I(T;Y) (`mi --estimator mixed`), Kozachenko–Leonenko
    /// H(T) (`entropy --estimator kl`) and the plug-in I(X;T) of the exact
    /// activation patterns; canonical name `mixed`, row `ksg`.
    Ksg,
}

impl PlaneMethod {
    /// The `estimator` column of its rows (a contract: unchanged).
    pub fn label(self) -> &'static str {
        match self {
            PlaneMethod::Binned => "binned",
            PlaneMethod::Adaptive => "binned_adaptive",
            PlaneMethod::Kde => "kde",
            PlaneMethod::Ksg => "ksg",
        }
    }

    /// The name `--estimators` documents for it (the `mi`/`entropy` vocabulary;
    /// with `--binning` for the two binnings).
    pub fn name(self) -> &'static str {
        match self {
            PlaneMethod::Binned => "binned --binning equal",
            PlaneMethod::Adaptive => "binned --binning adaptive",
            PlaneMethod::Kde => "kde",
            PlaneMethod::Ksg => "mixed",
        }
    }
}

/// Which binnings `binned` stands for (`plane --binning`; `mi --binning` has
/// the same values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BinningChoice {
    /// Both rows, `binned` and `binned_adaptive` (the default of `plane`).
    #[default]
    Both,
    /// Equal bins on a range only (row `binned`).
    Equal,
    /// Equal-mass bins only (row `binned_adaptive`).
    Adaptive,
}

/// The names `plane --estimators` accepts, canonical first, for messages.
pub const METHOD_NAMES: &str =
    "binned, kde, mixed (aliases: szt, adaptive, binned_adaptive, ksg, knn)";

/// Parses `binned,kde,mixed`: `binned` is both binnings (SZT's equal bins and
/// the adaptive ones); `mixed` is the kNN row. The older names stay: `szt`
/// (equal bins only), `adaptive`/`binned_adaptive` (adaptive only), `ksg` and
/// `knn` (the kNN row).
pub fn parse_methods(s: &str) -> Result<Vec<PlaneMethod>> {
    parse_methods_with(s, BinningChoice::Both)
}

/// [`parse_methods`], with `binned` restricted to one binning by `binning`
/// (`plane --estimators binned --binning adaptive`, as `mi --estimator
/// binned --binning adaptive`).
pub fn parse_methods_with(s: &str, binning: BinningChoice) -> Result<Vec<PlaneMethod>> {
    let mut out = Vec::new();
    let binned: &[PlaneMethod] = match binning {
        BinningChoice::Both => &[PlaneMethod::Binned, PlaneMethod::Adaptive],
        BinningChoice::Equal => &[PlaneMethod::Binned],
        BinningChoice::Adaptive => &[PlaneMethod::Adaptive],
    };
    for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let add: &[PlaneMethod] = match name {
            "binned" => binned,
            "szt" => &[PlaneMethod::Binned],
            "adaptive" | "binned_adaptive" => &[PlaneMethod::Adaptive],
            "kde" => &[PlaneMethod::Kde],
            "mixed" | "ksg" | "knn" => &[PlaneMethod::Ksg],
            "ksg1" | "ksg2" | "kl" => {
                return Err(Error::param(
                    "estimators",
                    format!(
                        "`{name}` is not a plane estimator: the plane's kNN row is `mixed` \
                         (Ross's I(T;Y) with the labels as the discrete side, as `mi --estimator \
                         mixed`; Kozachenko-Leonenko H(T), as `entropy --estimator kl`; I(X;T) \
                         over the exact activation patterns, since a layer is a function of \
                         its input). Expected {METHOD_NAMES}"
                    ),
                ))
            }
            other => {
                return Err(Error::param(
                    "estimators",
                    format!("unknown estimator `{other}`: expected {METHOD_NAMES}"),
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

/// The range the `binned` row's equal bins span, per layer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BinRange {
    /// One `[lo, hi]` for every layer (`--range LO,HI`; the tanh experiment's
    /// [−1, 1], Shwartz-Ziv & Tishby's). Values outside are clamped into the
    /// end bins, counted per row (`clamped`) and warned about.
    Fixed {
        /// Lower end.
        lo: f32,
        /// Upper end.
        hi: f32,
    },
    /// Each layer's own range over the whole run, `[min(0, min), max]` of its
    /// activations over every epoch (Saxe et al. 2018: per layer, over the
    /// run), found by a first pass over the epochs. Nothing is clamped, the
    /// bins are the same at every epoch of a layer, and scaling a layer
    /// scales its bins with it.
    Observed,
}

impl BinRange {
    /// `fixed` or `observed`, for the settings record.
    pub fn rule(&self) -> &'static str {
        match self {
            BinRange::Fixed { .. } => "fixed",
            BinRange::Observed => "observed",
        }
    }
}

/// A layer's binning range and what it covered, for the record.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LayerRange {
    /// Layer name.
    pub layer: String,
    /// Lower end of the equal bins.
    pub lo: f32,
    /// Upper end of the equal bins.
    pub hi: f32,
    /// Smallest activation of the layer over every epoch computed.
    pub min: f32,
    /// Largest activation of the layer over every epoch computed.
    pub max: f32,
    /// Values outside `[lo, hi]`, clamped into the end bins, summed over the epochs.
    pub clamped: usize,
    /// Values binned, summed over the epochs (n × d per epoch).
    pub values: usize,
}

impl LayerRange {
    fn observed(layer: &str) -> LayerRange {
        LayerRange {
            layer: layer.to_string(),
            lo: 0.0,
            hi: 0.0,
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
            clamped: 0,
            values: 0,
        }
    }

    fn include(&mut self, t: &Dataset) {
        for &v in t.values() {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
    }

    /// `[min(0, min), max]`; a layer with one value everywhere gets a width of
    /// 1 above it (every row then falls in one bin, whatever the width).
    fn settle_observed(&mut self) {
        self.lo = self.min.min(0.0);
        self.hi = self.max;
        if self.hi <= self.lo {
            self.hi = self.lo + 1.0;
        }
    }
}

/// Settings of a plane computation.
#[derive(Clone, Debug)]
pub struct PlaneOptions {
    /// Estimators, in output order.
    pub methods: Vec<PlaneMethod>,
    /// Bins for `binned` and `binned_adaptive`.
    pub bins: u32,
    /// Range of the `binned` bins (default: each layer's observed range).
    pub range: BinRange,
    /// KDE noise variance σ² (None: the estimator's documented default).
    pub sigma2: Option<f64>,
    /// Neighbour rank for the kNN row.
    pub k: usize,
    /// Seed of the tie-breaking noise of the kNN row.
    pub seed: u64,
    /// Units of every value.
    pub units: Units,
}

impl Default for PlaneOptions {
    fn default() -> Self {
        PlaneOptions {
            methods: vec![PlaneMethod::Binned, PlaneMethod::Adaptive, PlaneMethod::Kde],
            bins: 30,
            range: BinRange::Observed,
            sigma2: None,
            k: 3,
            seed: 0,
            units: Units::Bits,
        }
    }
}

impl PlaneOptions {
    /// The checked estimator of each method (`binned` on the fixed range, or
    /// on [−1, 1] as a stand-in until a layer's observed range is known).
    pub fn layer_methods(&self) -> Result<Vec<(PlaneMethod, LayerMethod)>> {
        let range = match self.range {
            BinRange::Fixed { lo, hi } => (lo, hi),
            BinRange::Observed => (-1.0, 1.0),
        };
        self.methods
            .iter()
            .map(|&m| Ok((m, self.layer_method(m, range)?)))
            .collect()
    }

    /// The checked estimator of `m`, with `range` for the equal bins.
    fn layer_method(&self, m: PlaneMethod, range: (f32, f32)) -> Result<LayerMethod> {
        Ok(match m {
            PlaneMethod::Binned => LayerMethod::Binned(
                Binned::params()
                    .scheme(BinScheme::EqualRange {
                        lo: range.0,
                        hi: range.1,
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
        })
    }

    /// The KDE noise variance the `kde` row uses (the default when not set).
    pub fn kde_variance(&self) -> Result<f64> {
        let mut p = Kde::params();
        if let Some(v) = self.sigma2 {
            p = p.variance(v);
        }
        Ok(p.check()?.variance())
    }

    /// Whether a first pass over the epochs is needed (observed ranges for `binned`).
    pub fn needs_range_pass(&self) -> bool {
        self.range == BinRange::Observed && self.methods.contains(&PlaneMethod::Binned)
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

/// Where [`compute_plane`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// The first pass: `done` of `total` epochs scanned for the layers' ranges.
    Ranging {
        /// Epochs scanned.
        done: usize,
        /// Epochs in all.
        total: usize,
    },
    /// Rows estimated (`total` is known once the first epoch is loaded).
    Estimating {
        /// Rows done.
        done: usize,
        /// Rows in all.
        total: usize,
    },
}

/// What [`compute_plane`] returns: the rows and each layer's binning range.
#[derive(Clone, Debug, PartialEq)]
pub struct PlaneOutput {
    /// One row per epoch × layer × estimator.
    pub rows: Vec<PlaneRow>,
    /// Each layer's range for the `binned` row (empty without that row), in layer order.
    pub ranges: Vec<LayerRange>,
}

/// Checks that a layer pairs row by row with the inputs and labels.
fn check_layer_rows(epoch: usize, name: &str, t: &Dataset, n: usize) -> Result<()> {
    if t.n() != n {
        return Err(Error::shape(
            format!("epoch {epoch}, layer {name} ({})", t.name()),
            format!("{n} rows like the inputs X and labels Y"),
            format!("{} rows", t.n()),
        ));
    }
    Ok(())
}

/// Computes every row. `epochs[i]` is the epoch number of snapshot i, whose
/// layers `load(i)` returns; `progress(done, total)` is called after each
/// row (total is known after the first snapshot is loaded). See
/// [`compute_plane`], which also returns the binning ranges.
pub fn compute(
    epochs: &[usize],
    load: impl FnMut(usize) -> Result<Vec<(String, Dataset)>>,
    x: &Symbols,
    y: &Symbols,
    opts: &PlaneOptions,
    engine: &Engine,
    mut progress: impl FnMut(usize, usize),
) -> Result<Vec<PlaneRow>> {
    let out = compute_plane(epochs, load, x, y, opts, engine, |p| {
        if let Progress::Estimating { done, total } = p {
            progress(done, total)
        }
    })?;
    Ok(out.rows)
}

/// Computes every row, and each layer's binning range. `epochs[i]` is the
/// epoch number of snapshot i, whose layers `load(i)` returns.
///
/// With [`BinRange::Observed`] and the `binned` row, a first pass loads every
/// snapshot once to find each layer's smallest and largest activation over
/// the whole run, then the second pass estimates: a saved run is read twice
/// (epochs stream through one at a time, so memory stays at one epoch).
/// Every layer must have as many rows as X and Y; a layer that does not is an
/// error naming the epoch, the layer and its file, found in the first pass
/// when there is one.
pub fn compute_plane(
    epochs: &[usize],
    mut load: impl FnMut(usize) -> Result<Vec<(String, Dataset)>>,
    x: &Symbols,
    y: &Symbols,
    opts: &PlaneOptions,
    engine: &Engine,
    mut progress: impl FnMut(Progress),
) -> Result<PlaneOutput> {
    if x.n() != y.n() {
        return Err(Error::shape(
            "labels Y",
            format!("{} rows like the inputs X", x.n()),
            format!("{} rows", y.n()),
        ));
    }
    let methods = opts.layer_methods()?;
    let binned = opts.methods.contains(&PlaneMethod::Binned);
    // Layer ranges in first-seen order.
    let mut ranges: Vec<LayerRange> = Vec::new();
    fn slot<'a>(ranges: &'a mut Vec<LayerRange>, name: &str) -> &'a mut LayerRange {
        match ranges.iter().position(|r| r.layer == name) {
            Some(i) => &mut ranges[i],
            None => {
                ranges.push(LayerRange::observed(name));
                ranges.last_mut().expect("just pushed")
            }
        }
    }
    if opts.needs_range_pass() {
        for (i, &epoch) in epochs.iter().enumerate() {
            for (name, t) in &load(i)? {
                check_layer_rows(epoch, name, t, x.n())?;
                slot(&mut ranges, name).include(t);
            }
            progress(Progress::Ranging {
                done: i + 1,
                total: epochs.len(),
            });
        }
        for r in &mut ranges {
            r.settle_observed();
        }
    }
    let mut rows = Vec::new();
    let mut total = 0;
    for (i, &epoch) in epochs.iter().enumerate() {
        let layers = load(i)?;
        if i == 0 {
            total = epochs.len() * layers.len() * methods.len();
        }
        for (name, t) in &layers {
            check_layer_rows(epoch, name, t, x.n())?;
            let range = if binned {
                let r = slot(&mut ranges, name);
                match opts.range {
                    BinRange::Fixed { lo, hi } => {
                        r.lo = lo;
                        r.hi = hi;
                        r.include(t);
                    }
                    BinRange::Observed if r.values == 0 && r.hi <= r.lo => {
                        // A layer that appeared only now (not in the first pass): cannot happen
                        // with a deterministic `load`; refuse rather than bin on a guess.
                        return Err(Error::Data {
                            what: format!("epoch {epoch}, layer {name}"),
                            reason: "the layer was not seen by the first pass over the epochs \
                                     that finds each layer's binning range"
                                .into(),
                        });
                    }
                    BinRange::Observed => {}
                }
                Some((r.lo, r.hi))
            } else {
                None
            };
            for (m, lm) in &methods {
                let (lm, bin_range) = match (m, range) {
                    (PlaneMethod::Binned, Some((lo, hi))) => {
                        (opts.layer_method(*m, (lo, hi))?, Some([lo, hi]))
                    }
                    _ => (lm.clone(), None),
                };
                // The binning estimator counts (and warns about) what it clamps.
                let info =
                    layer_info(t, x, y, &lm, engine).map_err(|e| with_context(e, epoch, name))?;
                let clamped = bin_range.map(|_| info.diagnostics.clamped.unwrap_or(0));
                if let Some(c) = clamped {
                    let r = slot(&mut ranges, name);
                    r.clamped += c;
                    r.values += t.values().len();
                }
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
                    seed: opts.seed,
                    seed_used: info.seed.is_some(),
                    bin_range,
                    clamped,
                    diagnostics: info.diagnostics,
                });
                progress(Progress::Estimating {
                    done: rows.len(),
                    total: total.max(rows.len()),
                });
            }
        }
    }
    if !binned {
        ranges.clear();
    }
    Ok(PlaneOutput { rows, ranges })
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
