//! Writing results: CSV, JSON and the information-plane plot (SVG and PNG),
//! always atomically.
//!
//! The plot is the picture of Shwartz-Ziv & Tishby (2017), Fig. 3: I(X;T) on
//! the x-axis, I(T;Y) on the y-axis, both in bits, one trajectory per layer
//! over training, points coloured by epoch (a log-scaled colour bar). With
//! several estimators there is one panel per estimator, side by side.
//!
//! Atomic output: every file is first written to a hidden temporary file in
//! its destination folder and renamed into place only when all of them have
//! been written, so an error never leaves a partial `plane.csv` or half a
//! picture behind (a rename within one folder is atomic on POSIX file systems).
//!
//! Test hook: with the environment variable [`WRITE_FAULT_ENV`]
//! (`INFOPLANE_TEST_WRITE_FAULT`) set to a file name such as `plane.json`,
//! the writer writes the first half of that file's temporary, then fails as
//! an I/O error would mid-write (for the PNG: drawn, then cut to half). Only
//! the writer reads it; tests use it to prove that a failed write leaves the
//! earlier outputs byte-identical and no temporary behind.
//!
//! Text in the PNG is drawn with the DejaVu Sans font embedded in the binary
//! (the `dejavu` crate), so the plot needs no system fonts.

use crate::error::{Error, Result};
use crate::estimators::{Diagnostics, Units};
use crate::kernels::Backend;
use plotters::element::ComposedElement;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// The leading CSV columns, in this order (a contract of the `plane` command).
pub const CSV_COLUMNS: [&str; 11] = [
    "epoch",
    "layer",
    "estimator",
    "i_xt",
    "i_ty",
    "h_t",
    "units",
    "n",
    "d",
    "backend",
    "seconds",
];

/// The CSV columns after [`CSV_COLUMNS`].
pub const CSV_EXTRA_COLUMNS: [&str; 6] = [
    "i_xt_lower",
    "i_ty_lower",
    "h_t_lower",
    "h_y_given_t",
    "adapter",
    "notes",
];

/// One point of the information plane: one layer at one epoch under one estimator.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct PlaneRow {
    /// Training epoch (or the index of the run's snapshot).
    pub epoch: usize,
    /// Layer name.
    pub layer: String,
    /// `binned` (equal bins on `bin_range`), `binned_adaptive`, `kde`, `ksg` (the kNN row).
    pub estimator: String,
    /// I(X;T) (KDE: upper bound).
    pub i_xt: f64,
    /// I(T;Y) (KDE: upper bound).
    pub i_ty: f64,
    /// H(T) (KDE: upper bound).
    pub h_t: f64,
    /// Units of every value.
    pub units: Units,
    /// Samples.
    pub n: usize,
    /// Units (columns) of the layer.
    pub d: usize,
    /// Backend that ran the kernels.
    pub backend: Backend,
    /// Wall time of this row's estimate.
    pub seconds: f64,
    /// KDE lower bound on I(X;T).
    pub i_xt_lower: Option<f64>,
    /// KDE lower bound on I(T;Y).
    pub i_ty_lower: Option<f64>,
    /// KDE lower bound on H(T).
    pub h_t_lower: Option<f64>,
    /// H(Y|T) where the estimator gives it.
    pub h_y_given_t: Option<f64>,
    /// Adapter or CPU description.
    pub adapter: String,
    /// The run's seed (`--seed`), on every row; whether this row's estimator
    /// drew from it is `seed_used`.
    pub seed: u64,
    /// Whether the estimator used the seed (the kNN row's tie-breaking
    /// noise). The built-in experiment's training always uses it.
    pub seed_used: bool,
    /// The `[lo, hi]` of the equal bins (`binned` rows).
    pub bin_range: Option<[f32; 2]>,
    /// Values outside `bin_range`, clamped into the end bins (`binned` rows).
    pub clamped: Option<usize>,
    /// What the estimator saw and did.
    pub diagnostics: Diagnostics,
}

/// The built-in experiment's settings, for [`PlaneSettings`].
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ExperimentSettings {
    /// Hidden-unit non-linearity (`tanh`, `relu`).
    pub activation: String,
    /// Layer widths, input first.
    pub widths: Vec<usize>,
    /// Training epochs.
    pub epochs: usize,
    /// Epochs asked to be recorded (`--records`).
    pub records: usize,
    /// Seed of the split, the initial weights, the minibatch order (and the kNN noise).
    pub seed: u64,
    /// SGD step size.
    pub learning_rate: f64,
    /// Minibatch size.
    pub batch: usize,
    /// Held-out accuracy at each recorded epoch.
    pub test_accuracy: Vec<f64>,
}

/// One estimator of the plane, for [`PlaneSettings`].
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct EstimatorSettings {
    /// The `estimator` value of its rows.
    pub label: String,
    /// Its name in `--estimators` (and `--binning`).
    pub name: String,
}

/// The binning settings, for [`PlaneSettings`].
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct BinningSettings {
    /// Bins per unit (both binnings).
    pub bins: u32,
    /// `observed` (each layer's `[min(0, min), max]` over the run) or `fixed`
    /// (one range for every layer).
    pub rule: String,
    /// Where the rule came from, in words.
    pub reason: String,
    /// The fixed range, when `rule` is `fixed`.
    pub range: Option<[f32; 2]>,
    /// Each layer's range, observed extremes and clamped values.
    pub layers: Vec<crate::plane::LayerRange>,
}

/// Everything needed to reproduce a plane: written next to `plane.json` as
/// `plane.settings.json` (plane.json stays an array of rows).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct PlaneSettings {
    /// infoplane's version.
    pub infoplane_version: String,
    /// The command line, as given.
    pub command: Vec<String>,
    /// The plot's title.
    pub title: String,
    /// `built-in` or `run`.
    pub source: String,
    /// The run folder (`run`).
    pub run: Option<String>,
    /// Inputs file (`run`).
    pub inputs: Option<String>,
    /// Labels file (`run`).
    pub labels: Option<String>,
    /// The built-in experiment (`built-in`).
    pub experiment: Option<ExperimentSettings>,
    /// Rows (samples) of X, Y and every layer.
    pub n: usize,
    /// Epochs computed, ascending.
    pub epochs: Vec<usize>,
    /// Layers, in order.
    pub layers: Vec<String>,
    /// Estimators, in row order.
    pub estimators: Vec<EstimatorSettings>,
    /// Equal and adaptive bins.
    pub binning: BinningSettings,
    /// KDE noise variance σ² (`kde` row).
    pub kde_sigma2: f64,
    /// Neighbour rank (kNN row).
    pub k: usize,
    /// The run's seed (kNN noise; built-in experiment: training too).
    pub seed: u64,
    /// Units of every value.
    pub units: Units,
    /// Plug-in entropy H(X) of the input symbols, in `units`: the bound of I(X;T).
    pub h_x: f64,
    /// Plug-in entropy H(Y) of the labels, in `units`: the bound of I(T;Y).
    pub h_y: f64,
    /// Backend that ran the kernels.
    pub backend: Backend,
    /// Adapter or CPU description.
    pub adapter: String,
}

/// Quotes a CSV field when it needs it (RFC 4180).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn opt(v: Option<f64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// The rows as CSV text: header, then one line per row. Floats print as the
/// shortest text that reads back to the same f64.
pub fn plane_csv(rows: &[PlaneRow]) -> String {
    let mut out = String::new();
    let header: Vec<&str> = CSV_COLUMNS
        .iter()
        .chain(&CSV_EXTRA_COLUMNS)
        .copied()
        .collect();
    out.push_str(&header.join(","));
    out.push('\n');
    for r in rows {
        let units = match r.units {
            Units::Nats => "nats",
            Units::Bits => "bits",
        };
        let fields = [
            r.epoch.to_string(),
            csv_field(&r.layer),
            csv_field(&r.estimator),
            r.i_xt.to_string(),
            r.i_ty.to_string(),
            r.h_t.to_string(),
            units.to_string(),
            r.n.to_string(),
            r.d.to_string(),
            r.backend.to_string(),
            r.seconds.to_string(),
            opt(r.i_xt_lower),
            opt(r.i_ty_lower),
            opt(r.h_t_lower),
            opt(r.h_y_given_t),
            csv_field(&r.adapter),
            csv_field(&r.diagnostics.notes.join("; ")),
        ];
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}

/// The rows as a JSON array of objects (full f64 precision).
pub fn plane_json(rows: &[PlaneRow]) -> Result<String> {
    serde_json::to_string_pretty(rows).map_err(|e| Error::Data {
        what: "plane rows".into(),
        reason: format!("cannot serialise to JSON: {e}"),
    })
}

/// Draws a picture into the file at the given path.
pub type DrawToFile = Box<dyn FnOnce(&Path) -> Result<()>>;

/// A file to be written by [`write_all_atomic`].
pub enum Output {
    /// Bytes to write as they are.
    Bytes(Vec<u8>),
    /// A plot drawn straight into a file (plotters' bitmap backend encodes by path).
    Png(DrawToFile),
}

fn io_err(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn temp_path(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    // A hidden sibling with our pid, so concurrent runs never share a temporary.
    let ext = dest
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_default();
    dest.with_file_name(format!(".{name}.{}.tmp.{ext}", std::process::id()))
}

/// Removes the temporaries of `dest` left by runs that were killed before
/// their rename (their pid no longer exists). Only where `/proc` shows the
/// live processes; elsewhere they stay, harmless and never read.
fn remove_stale_temps(dest: &Path) {
    let (Some(dir), Some(name)) = (dest.parent(), dest.file_name()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    if !Path::new("/proc/self").exists() {
        return;
    }
    let prefix = format!(".{}.", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let file = file.to_string_lossy();
        let Some(rest) = file.strip_prefix(&prefix) else {
            continue;
        };
        let Some((pid, _)) = rest.split_once(".tmp.") else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The write-failure test hook (see the module docs): the file name whose
/// write fails half-way.
pub const WRITE_FAULT_ENV: &str = "INFOPLANE_TEST_WRITE_FAULT";

/// Writes every file to a temporary sibling, then renames them all into place.
/// On any error the temporaries are removed and no destination is touched.
pub fn write_all_atomic(files: Vec<(PathBuf, Output)>) -> Result<Vec<PathBuf>> {
    let fail = std::env::var_os(WRITE_FAULT_ENV).filter(|v| !v.is_empty());
    write_all_atomic_failing(files, fail.as_deref())
}

/// [`write_all_atomic`], failing half-way through the file named `fail`.
fn write_all_atomic_failing(
    files: Vec<(PathBuf, Output)>,
    fail: Option<&std::ffi::OsStr>,
) -> Result<Vec<PathBuf>> {
    let mut temps: Vec<(PathBuf, PathBuf)> = Vec::new();
    let cleanup = |temps: &[(PathBuf, PathBuf)]| {
        for (t, _) in temps {
            let _ = std::fs::remove_file(t);
        }
    };
    for (dest, out) in files {
        if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Err(e) = std::fs::create_dir_all(dir) {
                cleanup(&temps);
                return Err(io_err(dir, e));
            }
        }
        remove_stale_temps(&dest);
        let tmp = temp_path(&dest);
        temps.push((tmp.clone(), dest.clone()));
        let injected = fail.is_some() && dest.file_name() == fail;
        let written = match out {
            Output::Bytes(b) if injected => write_half_then_fail(&tmp, &b),
            Output::Bytes(b) => write_synced(&tmp, &b),
            Output::Png(draw) => draw(&tmp).and_then(|()| {
                if injected {
                    let b = std::fs::read(&tmp).map_err(|e| io_err(&tmp, e))?;
                    write_half_then_fail(&tmp, &b)
                } else {
                    Ok(())
                }
            }),
        };
        if let Err(e) = written {
            cleanup(&temps);
            // The user knows the destination, not our hidden temporary.
            return Err(match e {
                Error::Io { path, source } if path == tmp => Error::Io { path: dest, source },
                e => e,
            });
        }
    }
    for (i, (tmp, dest)) in temps.iter().enumerate() {
        if let Err(e) = std::fs::rename(tmp, dest) {
            cleanup(&temps[i..]);
            return Err(io_err(dest, e));
        }
    }
    Ok(temps.into_iter().map(|(_, d)| d).collect())
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::File::create(path).map_err(|e| io_err(path, e))?;
    f.write_all(bytes).map_err(|e| io_err(path, e))?;
    f.sync_all().map_err(|e| io_err(path, e))
}

/// The test hook's failure: the first half of `bytes` reaches the file, then
/// the write fails with an I/O error naming the file.
fn write_half_then_fail(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let half = bytes.len() / 2;
    let mut f = std::fs::File::create(path).map_err(|e| io_err(path, e))?;
    f.write_all(&bytes[..half]).map_err(|e| io_err(path, e))?;
    f.sync_all().map_err(|e| io_err(path, e))?;
    Err(io_err(
        path,
        std::io::Error::other(format!(
            "write failed after {half} of {} bytes (injected by {WRITE_FAULT_ENV})",
            bytes.len()
        )),
    ))
}

/// Writes one file atomically (temporary sibling, then rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_all_atomic(vec![(path.to_path_buf(), Output::Bytes(bytes.to_vec()))]).map(|_| ())
}

static FONT: std::sync::Once = std::sync::Once::new();

/// Registers the embedded DejaVu Sans as plotters' "sans-serif" (once).
fn register_font() {
    FONT.call_once(|| {
        // The embedded font is a valid TrueType file; failure would only lose text in the PNG.
        if plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
            .is_err()
        {
            log::warn!("could not register the embedded font; plot text may be missing");
        }
    });
}

/// What the plot knows beyond the rows: the bounds it clips to when drawing.
///
/// I(X;T) lies in [0, H(X)] and I(T;Y) in [0, H(Y)]; an estimate outside
/// (a kNN estimate slightly above H(Y) or below 0: estimator excursions) is
/// drawn on the bound and ringed, and the caption says how many were. The
/// data (`plane.csv`, `plane.json`) keep the raw values.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PlotBounds {
    /// H(X) in bits (None: no upper bound on the x-axis, only 0 below).
    pub h_x_bits: Option<f64>,
    /// H(Y) in bits (None: no upper bound on the y-axis, only 0 below).
    pub h_y_bits: Option<f64>,
}

/// Width of the column right of the panels (legend and epoch colour bar).
const SIDE: u32 = 190;
/// Height of the caption under the panels.
const FOOTER: u32 = 46;

/// Plot size in pixels for `panels` side-by-side panels.
fn plot_size(panels: usize) -> (u32, u32) {
    (40 + 520 * panels.max(1) as u32 + SIDE, 600)
}

/// Viridis-like colour map on t ∈ [0, 1] (dark purple → green → yellow).
fn epoch_colour(t: f64) -> RGBColor {
    const STOPS: [(f64, [f64; 3]); 5] = [
        (0.0, [68.0, 1.0, 84.0]),
        (0.25, [59.0, 82.0, 139.0]),
        (0.5, [33.0, 145.0, 140.0]),
        (0.75, [94.0, 201.0, 98.0]),
        (1.0, [253.0, 231.0, 37.0]),
    ];
    let t = t.clamp(0.0, 1.0);
    let i = STOPS
        .iter()
        .rposition(|(s, _)| *s <= t)
        .unwrap_or(0)
        .min(STOPS.len() - 2);
    let (s0, c0) = STOPS[i];
    let (s1, c1) = STOPS[i + 1];
    let f = (t - s0) / (s1 - s0);
    let mix = |k: usize| (c0[k] + f * (c1[k] - c0[k])).round() as u8;
    RGBColor(mix(0), mix(1), mix(2))
}

/// Distinct line colours for layers.
const LAYER_COLOURS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// Marker shapes, one per layer (with the colour, a distinct pair for up to 64 layers).
const SHAPES: usize = 8;

/// The layer's line colour.
fn layer_colour(li: usize) -> RGBColor {
    LAYER_COLOURS[li % LAYER_COLOURS.len()]
}

/// The outline of layer `li`'s marker, in pixels around its centre (radius about `r`):
/// circle, square, triangle, diamond, inverted triangle, hexagon, star, plus.
fn marker_outline(li: usize, r: i32) -> Vec<(i32, i32)> {
    let shape = (li + li / LAYER_COLOURS.len()) % SHAPES;
    let polar = |k: usize, m: usize, rad: f64, turn: f64| -> (i32, i32) {
        let a = turn + std::f64::consts::TAU * k as f64 / m as f64;
        (
            (rad * a.cos()).round() as i32,
            (rad * a.sin()).round() as i32,
        )
    };
    let rf = r as f64;
    let up = -std::f64::consts::FRAC_PI_2;
    match shape {
        0 => (0..16).map(|k| polar(k, 16, rf, 0.0)).collect(),
        1 => vec![(-r, -r), (r, -r), (r, r), (-r, r)],
        2 => (0..3).map(|k| polar(k, 3, rf * 1.35, up)).collect(),
        3 => (0..4).map(|k| polar(k, 4, rf * 1.35, up)).collect(),
        4 => (0..3).map(|k| polar(k, 3, rf * 1.35, -up)).collect(),
        5 => (0..6).map(|k| polar(k, 6, rf * 1.15, 0.0)).collect(),
        6 => (0..10)
            .map(|k| polar(k, 10, if k % 2 == 0 { rf * 1.5 } else { rf * 0.7 }, up))
            .collect(),
        _ => {
            let (a, b) = (r / 2 + 1, r + 1);
            vec![
                (-a, -b),
                (a, -b),
                (a, -a),
                (b, -a),
                (b, a),
                (a, a),
                (a, b),
                (-a, b),
                (-a, a),
                (-b, a),
                (-b, -a),
                (-a, -a),
            ]
        }
    }
}

/// A marker: a filled outline and its edge, at a point given in any coordinates.
type Marker<C, DB> = ComposedElement<C, DB, Polygon<(i32, i32)>, PathElement<(i32, i32)>>;

/// A marker of layer `li` at `at`, filled with `fill`, outlined in `edge`.
fn marker<C, DB: DrawingBackend>(
    at: C,
    li: usize,
    r: i32,
    fill: RGBColor,
    edge: RGBColor,
) -> Marker<C, DB> {
    let outline = marker_outline(li, r);
    let mut closed = outline.clone();
    closed.push(outline[0]);
    EmptyElement::at(at)
        + Polygon::new(outline, fill.filled())
        + PathElement::new(closed, edge.stroke_width(1))
}

fn to_bits(v: f64, units: Units) -> f64 {
    match units {
        Units::Bits => v,
        Units::Nats => v / std::f64::consts::LN_2,
    }
}

fn plot_err(e: impl std::fmt::Display) -> Error {
    Error::Data {
        what: "information-plane plot".into(),
        reason: e.to_string(),
    }
}

/// How far past a bound a value may lie and still count as on it: rounding
/// in the sums (a KDE I(X;T) of exactly log2 n against a plug-in H(X) summed
/// to 1e-12 below it), not an estimator excursion.
const ROUNDING: f64 = 1e-9;

/// A row's point as drawn: in bits, inside [0, H(X)] × [0, H(Y)]; and
/// whether it lay outside by more than rounding (an estimator excursion,
/// ringed and counted).
fn drawn_point(r: &PlaneRow, bounds: &PlotBounds) -> (f64, f64, bool) {
    let (x, y) = (to_bits(r.i_xt, r.units), to_bits(r.i_ty, r.units));
    let clip = |v: f64, hi: Option<f64>| -> (f64, bool) {
        let hi = hi.unwrap_or(f64::INFINITY).max(0.0);
        let c = v.clamp(0.0, hi);
        (c, (v - c).abs() > ROUNDING * hi.clamp(1.0, 1e300))
    };
    let (dx, mx) = clip(x, bounds.h_x_bits);
    let (dy, my) = clip(y, bounds.h_y_bits);
    (dx, dy, mx || my)
}

/// Points clipped for drawing, per estimator, in first-seen order.
pub fn clipped_for_drawing(rows: &[PlaneRow], bounds: &PlotBounds) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = Vec::new();
    for r in rows {
        let clipped = usize::from(drawn_point(r, bounds).2);
        match out.iter_mut().find(|(e, _)| *e == r.estimator) {
            Some((_, c)) => *c += clipped,
            None => out.push((r.estimator.clone(), clipped)),
        }
    }
    out
}

/// Draws the information plane of `rows` on any plotters backend.
///
/// One panel per estimator, all on the same axes (the largest drawn I(X;T)
/// and I(T;Y) over every panel, and H(Y) when known). In each panel, every
/// point is a marker whose shape names its layer and whose fill gives its
/// epoch; each layer's trajectory is a line in the layer's colour drawn over
/// all markers; the last epoch of each layer is labelled with its name
/// (layers that end on the same spot share one stacked label). The legend
/// and the epoch colour bar sit in a column right of the panels, outside the
/// data; a caption under the panels says what was clipped for drawing.
fn draw<DB: DrawingBackend>(
    area: DrawingArea<DB, plotters::coord::Shift>,
    rows: &[PlaneRow],
    title: &str,
    bounds: &PlotBounds,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    register_font();
    area.fill(&WHITE).map_err(plot_err)?;
    let mut estimators: Vec<&str> = Vec::new();
    let mut layers: Vec<&str> = Vec::new();
    for r in rows {
        if !estimators.contains(&r.estimator.as_str()) {
            estimators.push(&r.estimator);
        }
        if !layers.contains(&r.layer.as_str()) {
            layers.push(&r.layer);
        }
    }
    let max_epoch = rows.iter().map(|r| r.epoch).max().unwrap_or(0);
    let epoch_t = |e: usize| ((e as f64) + 1.0).ln() / ((max_epoch as f64) + 1.0).ln().max(1e-12);
    // Shared axes: every panel spans the same ranges.
    let drawn: Vec<(f64, f64, bool)> = rows.iter().map(|r| drawn_point(r, bounds)).collect();
    let x_top = drawn.iter().map(|p| p.0).fold(0.0f64, f64::max).max(1e-3) * 1.05;
    let y_top = drawn
        .iter()
        .map(|p| p.1)
        .fold(bounds.h_y_bits.unwrap_or(0.0), f64::max)
        .max(1e-3)
        * 1.05;
    let (w, h) = area.dim_in_pixel();
    let titled = area
        .titled(title, ("sans-serif", 22).into_font())
        .map_err(plot_err)?;
    let (plots, side) = titled.split_horizontally(w.saturating_sub(SIDE));
    let (plots, footer) = plots.split_vertically(h.saturating_sub(FOOTER + 30));
    let panels = plots.split_evenly((1, estimators.len().max(1)));
    let label_font: TextStyle = ("sans-serif", 13).into_font().into();
    for (panel, est) in panels.iter().zip(&estimators) {
        let mine: Vec<(&PlaneRow, (f64, f64, bool))> = rows
            .iter()
            .zip(drawn.iter().copied())
            .filter(|(r, _)| r.estimator == *est)
            .collect();
        let mut chart = ChartBuilder::on(panel)
            .caption(format!("estimator: {est}"), ("sans-serif", 18).into_font())
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..x_top, 0.0..y_top)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("I(X;T) [bits]")
            .y_desc("I(T;Y) [bits]")
            .label_style(("sans-serif", 13).into_font())
            .axis_desc_style(("sans-serif", 15).into_font())
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(plot_err)?;
        // The bounds: I(T;Y) <= H(Y), I(X;T) <= H(X).
        let grey = RGBColor(120, 120, 120);
        if let Some(hy) = bounds.h_y_bits.filter(|&v| v > 0.0 && v <= y_top) {
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(0.0, hy), (x_top, hy)],
                    6,
                    4,
                    grey.stroke_width(1),
                ))
                .map_err(plot_err)?;
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((0.0, hy))
                        + Text::new(
                            format!("H(Y) = {hy:.3}"),
                            (4, 3),
                            ("sans-serif", 12).into_font().color(&grey),
                        ),
                ))
                .map_err(plot_err)?;
        }
        if let Some(hx) = bounds.h_x_bits.filter(|&v| v > 0.0 && v <= x_top) {
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(hx, 0.0), (hx, y_top)],
                    6,
                    4,
                    grey.stroke_width(1),
                ))
                .map_err(plot_err)?;
        }
        // Per layer, its points in epoch order.
        let per_layer: Vec<Vec<(usize, f64, f64, bool)>> = layers
            .iter()
            .map(|layer| {
                let mut pts: Vec<(usize, f64, f64, bool)> = mine
                    .iter()
                    .filter(|(r, _)| r.layer == *layer)
                    .map(|(r, p)| (r.epoch, p.0, p.1, p.2))
                    .collect();
                pts.sort_by_key(|p| p.0);
                pts
            })
            .collect();
        // Markers first (shape = layer, fill = epoch) ...
        let edge = edge_colour();
        for (li, pts) in per_layer.iter().enumerate() {
            chart
                .draw_series(
                    pts.iter()
                        .map(|p| marker((p.1, p.2), li, 4, epoch_colour(epoch_t(p.0)), edge)),
                )
                .map_err(plot_err)?;
        }
        // ... points moved onto a bound ringed ...
        chart
            .draw_series(
                per_layer
                    .iter()
                    .flatten()
                    .filter(|p| p.3)
                    .map(|p| Circle::new((p.1, p.2), 8, BLACK.stroke_width(1))),
            )
            .map_err(plot_err)?;
        // ... then every trajectory's line above all markers.
        for (li, pts) in per_layer.iter().enumerate() {
            // plotters joins the segments of a thick polyline with mitres, which
            // spike across the picture where a trajectory turns back on itself;
            // separate two-point segments have no joins. Zero-length ones are
            // dropped (their normal is undefined).
            let mut line: Vec<(f64, f64)> = Vec::with_capacity(pts.len());
            for p in pts {
                let far = |q: &(f64, f64)| {
                    (q.0 - p.1).abs() > 1e-6 * x_top.max(1.0)
                        || (q.1 - p.2).abs() > 1e-6 * y_top.max(1.0)
                };
                if line.last().is_none_or(far) {
                    line.push((p.1, p.2));
                }
            }
            let style = layer_colour(li).stroke_width(2);
            chart
                .draw_series(line.windows(2).map(|s| PathElement::new(s.to_vec(), style)))
                .map_err(plot_err)?;
        }
        // The last epoch of each layer, labelled; layers ending within a few
        // pixels of each other share one stacked label.
        // (pixel, point, layers ending there)
        type End = ((i32, i32), (f64, f64), Vec<usize>);
        let mut ends: Vec<End> = Vec::new();
        for (li, pts) in per_layer.iter().enumerate() {
            let Some(last) = pts.last() else { continue };
            let px = chart.backend_coord(&(last.1, last.2));
            match ends
                .iter_mut()
                .find(|e| (e.0 .0 - px.0).abs() <= 10 && (e.0 .1 - px.1).abs() <= 10)
            {
                Some(e) => e.2.push(li),
                None => ends.push((px, (last.1, last.2), vec![li])),
            }
        }
        let (xr, yr) = chart.plotting_area().get_pixel_range();
        for (px, at, members) in ends {
            let sizes: Vec<(u32, u32)> = members
                .iter()
                .map(|&li| {
                    panel
                        .estimate_text_size(layers[li], &label_font)
                        .unwrap_or((8 * layers[li].len() as u32, 13))
                })
                .collect();
            let wide = sizes.iter().map(|s| s.0 as i32).max().unwrap_or(0);
            let line_h = 15;
            let tall = line_h * members.len() as i32;
            // Left of the point in the right half, right of it otherwise;
            // above it unless that leaves the plotting area.
            let dx = if px.0 > (xr.start + xr.end) / 2 {
                -wide - 12
            } else {
                12
            };
            let dy = if px.1 - tall - 6 > yr.start {
                -tall - 6
            } else {
                8
            };
            // A leader from the point to the label's nearest corner.
            let corner = (
                if dx < 0 { dx + wide + 3 } else { dx - 3 },
                if dy < 0 { dy + tall + 1 } else { dy - 2 },
            );
            let leader =
                EmptyElement::at(at) + PathElement::new(vec![(0, 0), corner], grey.stroke_width(1));
            chart
                .draw_series(std::iter::once(leader))
                .map_err(plot_err)?;
            let background = EmptyElement::at(at)
                + Rectangle::new(
                    [(dx - 3, dy - 2), (dx + wide + 3, dy + tall + 1)],
                    WHITE.mix(0.85).filled(),
                );
            chart
                .draw_series(std::iter::once(background))
                .map_err(plot_err)?;
            for (j, &li) in members.iter().enumerate() {
                let colour = layer_colour(li);
                let text = EmptyElement::at(at)
                    + Text::new(
                        layers[li].to_string(),
                        (dx, dy + line_h * j as i32),
                        label_font.color(&colour),
                    );
                chart.draw_series(std::iter::once(text)).map_err(plot_err)?;
            }
        }
    }
    // The caption: what the picture shows and what was moved for drawing.
    let clipped = clipped_for_drawing(rows, bounds);
    let moved: Vec<String> = clipped
        .iter()
        .filter(|c| c.1 > 0)
        .map(|(e, c)| format!("{e}: {c}"))
        .collect();
    let line1 = "Marker shape and line colour: layer (legend, right; last epoch labelled). \
                 Marker fill: epoch. Panels share their axes.";
    let line2 = if moved.is_empty() {
        "Every point is drawn where it lies.".to_string()
    } else {
        format!(
            "Ringed points lie outside [0, H(X)] x [0, H(Y)] (estimator excursions) and are drawn \
             on the bound ({}); plane.csv and plane.json keep the raw values.",
            moved.join(", ")
        )
    };
    let small = ("sans-serif", 13).into_font();
    footer
        .draw(&Text::new(line1, (60, 8), small.clone()))
        .map_err(plot_err)?;
    footer
        .draw(&Text::new(line2, (60, 26), small.clone()))
        .map_err(plot_err)?;
    // The legend, outside the data: line colour, marker shape and name per layer.
    side.draw(&Text::new(
        "layer",
        (14, 40),
        ("sans-serif", 15).into_font(),
    ))
    .map_err(plot_err)?;
    let mut y = 68;
    for (li, layer) in layers.iter().enumerate() {
        let colour = layer_colour(li);
        side.draw(&PathElement::new(
            vec![(14, y), (46, y)],
            colour.stroke_width(2),
        ))
        .map_err(plot_err)?;
        side.draw(&marker((30, y), li, 5, WHITE, edge_colour()))
            .map_err(plot_err)?;
        let mut name = layer.to_string();
        if name.chars().count() > 17 {
            name = name.chars().take(16).collect::<String>() + "…";
        }
        side.draw(&Text::new(
            name,
            (54, y - 8),
            ("sans-serif", 13).into_font().color(&colour),
        ))
        .map_err(plot_err)?;
        y += 20;
    }
    // The epoch colour bar, log-scaled like the recording schedule.
    let bar_top = y + 40;
    let bar_h = (h as i32 - bar_top - 60).max(60);
    let steps = 64;
    for s in 0..steps {
        let t0 = s as f64 / steps as f64;
        let y0 = bar_top + ((1.0 - t0) * bar_h as f64) as i32;
        let y1 = bar_top + ((1.0 - (s + 1) as f64 / steps as f64) * bar_h as f64) as i32;
        side.draw(&Rectangle::new(
            [(20, y1), (44, y0)],
            epoch_colour(t0).filled(),
        ))
        .map_err(plot_err)?;
    }
    side.draw(&Rectangle::new(
        [(20, bar_top), (44, bar_top + bar_h)],
        BLACK,
    ))
    .map_err(plot_err)?;
    side.draw(&Text::new(
        "epoch (marker fill)",
        (14, bar_top - 24),
        ("sans-serif", 15).into_font(),
    ))
    .map_err(plot_err)?;
    let ticks = [0usize, max_epoch / 100, max_epoch / 10, max_epoch];
    let mut last_y: Option<i32> = None;
    for &e in ticks.iter() {
        let y = bar_top + ((1.0 - epoch_t(e)) * bar_h as f64) as i32;
        if last_y.is_some_and(|l| (y - l).abs() < 16) {
            continue;
        }
        last_y = Some(y);
        side.draw(&Text::new(
            e.to_string(),
            (50, y - 7),
            ("sans-serif", 13).into_font(),
        ))
        .map_err(plot_err)?;
    }
    area_present(side)
}

fn edge_colour() -> RGBColor {
    RGBColor(60, 60, 60)
}

fn area_present<DB: DrawingBackend>(area: DrawingArea<DB, plotters::coord::Shift>) -> Result<()>
where
    DB::ErrorType: 'static,
{
    area.present().map_err(plot_err)
}

/// The information plane as SVG text (no bounds known: only 0 clips).
pub fn plane_svg(rows: &[PlaneRow], title: &str) -> Result<String> {
    plane_svg_bounded(rows, title, &PlotBounds::default())
}

/// The information plane as SVG text, drawn within `bounds`.
pub fn plane_svg_bounded(rows: &[PlaneRow], title: &str, bounds: &PlotBounds) -> Result<String> {
    let mut s = String::new();
    let size = plot_size(count_estimators(rows));
    {
        let area = SVGBackend::with_string(&mut s, size).into_drawing_area();
        draw(area, rows, title, bounds)?;
    }
    Ok(s)
}

/// Draws the information plane as a PNG file at `path` (no bounds known: only 0 clips).
pub fn plane_png(rows: &[PlaneRow], title: &str, path: &Path) -> Result<()> {
    plane_png_bounded(rows, title, &PlotBounds::default(), path)
}

/// Draws the information plane as a PNG file at `path`, within `bounds`.
pub fn plane_png_bounded(
    rows: &[PlaneRow],
    title: &str,
    bounds: &PlotBounds,
    path: &Path,
) -> Result<()> {
    let size = plot_size(count_estimators(rows));
    let area = BitMapBackend::new(path, size).into_drawing_area();
    draw(area, rows, title, bounds)
}

fn count_estimators(rows: &[PlaneRow]) -> usize {
    let mut seen: Vec<&str> = Vec::new();
    for r in rows {
        if !seen.contains(&r.estimator.as_str()) {
            seen.push(&r.estimator);
        }
    }
    seen.len()
}

/// The settings record as JSON text.
pub fn settings_json(settings: &PlaneSettings) -> Result<String> {
    serde_json::to_string_pretty(settings).map_err(|e| Error::Data {
        what: "plane settings".into(),
        reason: format!("cannot serialise to JSON: {e}"),
    })
}

/// Writes `plane.csv`, `plane.json`, `plane.svg` and `plane.png` into `dir`, all or nothing.
pub fn write_plane(dir: &Path, rows: &[PlaneRow], title: &str) -> Result<Vec<PathBuf>> {
    write_plane_files(dir, rows, title, &PlotBounds::default(), None)
}

/// Writes `plane.csv`, `plane.json`, `plane.settings.json`, `plane.svg` and
/// `plane.png` into `dir`, all or nothing. The plot is titled with
/// `settings.title` and drawn within [0, H(X)] × [0, H(Y)] from the settings.
pub fn write_plane_record(
    dir: &Path,
    rows: &[PlaneRow],
    settings: &PlaneSettings,
) -> Result<Vec<PathBuf>> {
    let bounds = PlotBounds {
        h_x_bits: Some(to_bits(settings.h_x, settings.units)),
        h_y_bits: Some(to_bits(settings.h_y, settings.units)),
    };
    write_plane_files(dir, rows, &settings.title, &bounds, Some(settings))
}

fn write_plane_files(
    dir: &Path,
    rows: &[PlaneRow],
    title: &str,
    bounds: &PlotBounds,
    settings: Option<&PlaneSettings>,
) -> Result<Vec<PathBuf>> {
    if rows.is_empty() {
        return Err(Error::Data {
            what: "information plane".into(),
            reason: "no rows to write".into(),
        });
    }
    let csv = plane_csv(rows);
    let json = plane_json(rows)?;
    let svg = plane_svg_bounded(rows, title, bounds)?;
    let owned = rows.to_vec();
    let title = title.to_string();
    let bounds = *bounds;
    let mut files = vec![
        (dir.join("plane.csv"), Output::Bytes(csv.into_bytes())),
        (dir.join("plane.json"), Output::Bytes(json.into_bytes())),
    ];
    if let Some(s) = settings {
        files.push((
            dir.join("plane.settings.json"),
            Output::Bytes(settings_json(s)?.into_bytes()),
        ));
    }
    files.push((dir.join("plane.svg"), Output::Bytes(svg.into_bytes())));
    files.push((
        dir.join("plane.png"),
        Output::Png(Box::new(move |p| {
            plane_png_bounded(&owned, &title, &bounds, p)
        })),
    ));
    write_all_atomic(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(epoch: usize, layer: &str, est: &str, x: f64, y: f64) -> PlaneRow {
        PlaneRow {
            epoch,
            layer: layer.into(),
            estimator: est.into(),
            i_xt: x,
            i_ty: y,
            h_t: x,
            units: Units::Bits,
            n: 10,
            d: 3,
            backend: Backend::Cpu,
            seconds: 0.5,
            i_xt_lower: None,
            i_ty_lower: None,
            h_t_lower: None,
            h_y_given_t: None,
            adapter: "cpu, x".into(),
            seed: 0,
            seed_used: false,
            bin_range: None,
            clamped: None,
            diagnostics: Diagnostics::default(),
        }
    }

    #[test]
    fn csv_has_the_contract_columns_and_round_trips_floats() {
        let v = 0.1f64 + 0.2;
        let csv = plane_csv(&[row(3, "l1", "binned", v, 1.0 / 3.0)]);
        let mut lines = csv.lines();
        assert!(lines
            .next()
            .unwrap()
            .starts_with("epoch,layer,estimator,i_xt,i_ty,h_t,units,n,d,backend,seconds"));
        let line = lines.next().unwrap();
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields[0], "3");
        assert_eq!(fields[3].parse::<f64>().unwrap(), v);
        assert_eq!(fields[9], "cpu");
        assert!(line.ends_with(",\"cpu, x\","), "{line}");
    }

    #[test]
    fn atomic_write_leaves_nothing_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("a.txt");
        let res = write_all_atomic(vec![
            (good.clone(), Output::Bytes(b"x".to_vec())),
            (
                dir.path().join("b.png"),
                Output::Png(Box::new(|_| {
                    Err(Error::Data {
                        what: "t".into(),
                        reason: "boom".into(),
                    })
                })),
            ),
        ]);
        assert!(res.is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    /// The write hook fails half-way through a file: the old CSV and JSON stay
    /// byte for byte, the temporaries are gone, and the error names the file.
    #[test]
    fn a_write_failing_midway_keeps_the_old_files() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("out.csv");
        let json = dir.path().join("out.json");
        std::fs::write(&csv, b"old,csv\n").unwrap();
        std::fs::write(&json, b"[\"old\"]").unwrap();
        for victim in ["out.csv", "out.json"] {
            let files = vec![
                (csv.clone(), Output::Bytes(vec![b'c'; 4096])),
                (json.clone(), Output::Bytes(vec![b'j'; 4096])),
            ];
            let e = write_all_atomic_failing(files, Some(std::ffi::OsStr::new(victim)))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(victim) && e.contains("after 2048 of 4096 bytes"),
                "{e}"
            );
            assert!(
                !e.contains(".tmp."),
                "names the temporary, not the file: {e}"
            );
            assert_eq!(std::fs::read(&csv).unwrap(), b"old,csv\n");
            assert_eq!(std::fs::read(&json).unwrap(), b"[\"old\"]");
            assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
        }
        // Without the hook the same call replaces both.
        let files = vec![
            (csv.clone(), Output::Bytes(b"new".to_vec())),
            (json.clone(), Output::Bytes(b"[]".to_vec())),
        ];
        write_all_atomic_failing(files, None).unwrap();
        assert_eq!(std::fs::read(&csv).unwrap(), b"new");
    }

    /// Temporaries of a killed run (dead pid) go at the next write; those of
    /// a live process (pid 1) and unrelated hidden files stay.
    #[test]
    fn stale_temporaries_of_dead_runs_are_removed() {
        if !Path::new("/proc/self").exists() {
            eprintln!("SKIPPED: stale_temporaries_of_dead_runs_are_removed needs /proc");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("plane.csv");
        let dead = dir.path().join(".plane.csv.4000000000.tmp.csv");
        let live = dir.path().join(".plane.csv.1.tmp.csv");
        let other = dir.path().join(".plane.json.4000000000.tmp.json");
        for f in [&dead, &live, &other] {
            std::fs::write(f, b"half").unwrap();
        }
        write_atomic(&dest, b"new").unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"new");
        assert!(!dead.exists());
        assert!(live.exists());
        assert!(
            other.exists(),
            "another destination's temporary is not ours to remove"
        );
    }

    #[test]
    fn plots_render() {
        let rows: Vec<PlaneRow> = (0..5)
            .flat_map(|e| {
                [
                    row(e * 10, "layer1", "binned", 1.0 + e as f64, 0.1 * e as f64),
                    row(e * 10, "layer2", "binned", 0.5 + e as f64, 0.05 * e as f64),
                    row(e * 10, "layer1", "kde", 2.0 + e as f64, 0.2 * e as f64),
                ]
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let written = write_plane(dir.path(), &rows, "test").unwrap();
        assert_eq!(written.len(), 4);
        let svg = std::fs::read_to_string(dir.path().join("plane.svg")).unwrap();
        assert!(svg.contains("<svg") && svg.contains("I(X;T)"));
        let png = std::fs::read(dir.path().join("plane.png")).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        assert!(png.len() > 5000);
    }

    fn settings_for(h_x: f64, h_y: f64) -> PlaneSettings {
        PlaneSettings {
            infoplane_version: "test".into(),
            command: vec!["infoplane".into(), "plane".into()],
            title: "test".into(),
            source: "run".into(),
            run: None,
            inputs: None,
            labels: None,
            experiment: None,
            n: 10,
            epochs: vec![0, 1],
            layers: vec!["layer1".into(), "layer2".into(), "layer3".into()],
            estimators: Vec::new(),
            binning: BinningSettings {
                bins: 30,
                rule: "observed".into(),
                reason: "test".into(),
                range: None,
                layers: Vec::new(),
            },
            kde_sigma2: 1e-3,
            k: 3,
            seed: 0,
            units: Units::Bits,
            h_x,
            h_y,
            backend: Backend::Cpu,
            adapter: "cpu".into(),
        }
    }

    /// Issue #10 item 13 (the plot's side): a kNN I(T;Y) above H(Y) (1.014
    /// bits for a 1-bit label) or below 0 (−6.6e-5) is drawn on the bound,
    /// ringed and counted in the caption; the data keep the raw values. A
    /// value past a bound by rounding only (a KDE I(X;T) of log2 n against a
    /// plug-in H(X) a few ulps lower) is not an excursion.
    #[test]
    fn excursions_are_clipped_for_drawing_only() {
        let h_x = 10f64 - 1e-12;
        let rows = vec![
            row(0, "layer1", "ksg", 9.0, 1.014),
            row(1, "layer1", "ksg", 9.5, -6.6e-5),
            row(0, "layer2", "ksg", 8.0, 0.5),
            row(0, "layer1", "kde", 10.0, 0.9),
            row(1, "layer1", "kde", 10.0, 0.95),
        ];
        let bounds = PlotBounds {
            h_x_bits: Some(h_x),
            h_y_bits: Some(1.0),
        };
        assert_eq!(
            clipped_for_drawing(&rows, &bounds),
            [("ksg".to_string(), 2), ("kde".to_string(), 0)]
        );
        assert_eq!(drawn_point(&rows[0], &bounds), (9.0, 1.0, true));
        assert_eq!(drawn_point(&rows[1], &bounds), (9.5, 0.0, true));
        assert_eq!(drawn_point(&rows[3], &bounds), (h_x, 0.9, false));
        let dir = tempfile::tempdir().unwrap();
        let written = write_plane_record(dir.path(), &rows, &settings_for(h_x, 1.0)).unwrap();
        assert_eq!(written.len(), 5);
        let svg = std::fs::read_to_string(dir.path().join("plane.svg")).unwrap();
        assert!(
            svg.contains("Ringed points") && svg.contains("ksg: 2"),
            "caption"
        );
        assert!(!svg.contains("kde: 0"));
        let csv = plane_csv(&rows);
        let back = std::fs::read_to_string(dir.path().join("plane.csv")).unwrap();
        assert_eq!(back, csv, "the data are written as estimated");
        assert!(
            csv.contains(",1.014,") && csv.contains(",-0.000066,"),
            "{csv}"
        );
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("plane.json")).unwrap())
                .unwrap();
        assert_eq!(json[0]["i_ty"].as_f64(), Some(1.014));
        // Without an excursion the caption says every point is where it lies.
        let svg = plane_svg_bounded(&rows[2..], "t", &bounds).unwrap();
        assert!(svg.contains("Every point is drawn where it lies"));
    }

    /// Issue #10 item 11: three layers ending on the same spot are each
    /// findable: one marker per point, the legend outside the data, and one
    /// stacked label naming all three at the spot.
    #[test]
    fn every_layer_is_findable() {
        let rows: Vec<PlaneRow> = (0..4)
            .flat_map(|e| {
                ["layer1", "layer2", "layer3"]
                    .into_iter()
                    .enumerate()
                    .map(move |(l, name)| {
                        let (x, y) = if e == 3 {
                            (12.0, 1.0)
                        } else {
                            (3.0 * e as f64 + l as f64, 0.2 * e as f64)
                        };
                        row(e, name, "binned", x, y)
                    })
            })
            .collect();
        let svg = plane_svg_bounded(
            &rows,
            "t",
            &PlotBounds {
                h_x_bits: Some(12.0),
                h_y_bits: Some(1.0),
            },
        )
        .unwrap();
        // A marker per point and one per legend entry.
        assert_eq!(svg.matches("<polygon").count(), rows.len() + 3);
        // Each name twice: in the legend and in the label at the shared end point.
        for name in ["layer1", "layer2", "layer3"] {
            assert_eq!(
                svg.matches(&format!("\n{name}\n</text>")).count(),
                2,
                "{name}"
            );
        }
        // Distinct shapes: layer 1 a circle (16 corners), 2 a square, 3 a triangle.
        assert_eq!(marker_outline(0, 4).len(), 16);
        assert_eq!(marker_outline(1, 4).len(), 4);
        assert_eq!(marker_outline(2, 4).len(), 3);
        let shapes: std::collections::BTreeSet<Vec<(i32, i32)>> =
            (0..64).map(|li| marker_outline(li, 4)).collect();
        assert_eq!(shapes.len(), SHAPES);
        let pairs: std::collections::BTreeSet<String> = (0..64)
            .map(|li| {
                let c = layer_colour(li);
                format!("{:?} {:?}", marker_outline(li, 4), (c.0, c.1, c.2))
            })
            .collect();
        assert_eq!(pairs.len(), 64, "colour and shape tell 64 layers apart");
    }
}
