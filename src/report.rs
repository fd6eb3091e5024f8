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
    /// `binned` (30 equal bins on [−1, 1]), `binned_adaptive`, `kde`, `knn`.
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
    /// Noise seed where noise was used.
    pub seed: Option<u64>,
    /// What the estimator saw and did.
    pub diagnostics: Diagnostics,
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

/// Plot size in pixels for `panels` side-by-side panels.
fn plot_size(panels: usize) -> (u32, u32) {
    (60 + 520 * panels.max(1) as u32 + 110, 560)
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

/// Draws the information plane of `rows` on any plotters backend.
fn draw<DB: DrawingBackend>(
    area: DrawingArea<DB, plotters::coord::Shift>,
    rows: &[PlaneRow],
    title: &str,
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
    let (w, h) = area.dim_in_pixel();
    let titled = area
        .titled(title, ("sans-serif", 22).into_font())
        .map_err(plot_err)?;
    let (plots, bar) = titled.split_horizontally(w.saturating_sub(110));
    let panels = plots.split_evenly((1, estimators.len().max(1)));
    for (panel, est) in panels.iter().zip(&estimators) {
        let mine: Vec<&PlaneRow> = rows.iter().filter(|r| r.estimator == *est).collect();
        let xs = mine.iter().map(|r| to_bits(r.i_xt, r.units));
        let ys = mine.iter().map(|r| to_bits(r.i_ty, r.units));
        let x_max = xs.fold(0.0f64, f64::max).max(1e-3) * 1.05;
        let y_max = ys.fold(0.0f64, f64::max).max(1e-3) * 1.05;
        let x_min = mine
            .iter()
            .map(|r| to_bits(r.i_xt, r.units))
            .fold(0.0f64, f64::min);
        let y_min = mine
            .iter()
            .map(|r| to_bits(r.i_ty, r.units))
            .fold(0.0f64, f64::min);
        let mut chart = ChartBuilder::on(panel)
            .caption(format!("estimator: {est}"), ("sans-serif", 18).into_font())
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(x_min..x_max, y_min..y_max)
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
        for (li, layer) in layers.iter().enumerate() {
            let mut pts: Vec<(usize, f64, f64)> = mine
                .iter()
                .filter(|r| r.layer == *layer)
                .map(|r| (r.epoch, to_bits(r.i_xt, r.units), to_bits(r.i_ty, r.units)))
                .collect();
            pts.sort_by_key(|p| p.0);
            // plotters joins the segments of a thick polyline with mitres, which
            // spike across the picture where a trajectory turns back on itself;
            // separate two-point segments have no joins. Zero-length ones are
            // dropped (their normal is undefined).
            let mut line: Vec<(f64, f64)> = Vec::with_capacity(pts.len());
            for p in &pts {
                let far = |q: &(f64, f64)| {
                    (q.0 - p.1).abs() > 1e-6 * x_max.max(1.0)
                        || (q.1 - p.2).abs() > 1e-6 * y_max.max(1.0)
                };
                if line.last().is_none_or(far) {
                    line.push((p.1, p.2));
                }
            }
            let colour = LAYER_COLOURS[li % LAYER_COLOURS.len()];
            let style = colour.stroke_width(2);
            // A layer that never moves still gets its legend entry (a one-point path).
            let segments: Vec<Vec<(f64, f64)>> = if line.len() < 2 {
                vec![line.clone()]
            } else {
                line.windows(2).map(|w| w.to_vec()).collect()
            };
            chart
                .draw_series(segments.into_iter().map(|s| PathElement::new(s, style)))
                .map_err(plot_err)?
                .label(*layer)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(3))
                });
            chart
                .draw_series(
                    pts.iter()
                        .map(|p| Circle::new((p.1, p.2), 4, epoch_colour(epoch_t(p.0)).filled())),
                )
                .map_err(plot_err)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 13).into_font())
            .draw()
            .map_err(plot_err)?;
    }
    // The epoch colour bar, log-scaled like the recording schedule.
    let bar_top = 70i32;
    let bar_h = (h as i32 - 160).max(40);
    let steps = 64;
    for s in 0..steps {
        let t0 = s as f64 / steps as f64;
        let y0 = bar_top + ((1.0 - t0) * bar_h as f64) as i32;
        let y1 = bar_top + ((1.0 - (s + 1) as f64 / steps as f64) * bar_h as f64) as i32;
        bar.draw(&Rectangle::new(
            [(20, y1), (44, y0)],
            epoch_colour(t0).filled(),
        ))
        .map_err(plot_err)?;
    }
    bar.draw(&Rectangle::new(
        [(20, bar_top), (44, bar_top + bar_h)],
        BLACK,
    ))
    .map_err(plot_err)?;
    bar.draw(&Text::new(
        "epoch",
        (14, bar_top - 26),
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
        bar.draw(&Text::new(
            e.to_string(),
            (50, y - 7),
            ("sans-serif", 13).into_font(),
        ))
        .map_err(plot_err)?;
    }
    area_present(bar)
}

fn area_present<DB: DrawingBackend>(area: DrawingArea<DB, plotters::coord::Shift>) -> Result<()>
where
    DB::ErrorType: 'static,
{
    area.present().map_err(plot_err)
}

/// The information plane as SVG text.
pub fn plane_svg(rows: &[PlaneRow], title: &str) -> Result<String> {
    let mut s = String::new();
    let size = plot_size(count_estimators(rows));
    {
        let area = SVGBackend::with_string(&mut s, size).into_drawing_area();
        draw(area, rows, title)?;
    }
    Ok(s)
}

/// Draws the information plane as a PNG file at `path`.
pub fn plane_png(rows: &[PlaneRow], title: &str, path: &Path) -> Result<()> {
    let size = plot_size(count_estimators(rows));
    let area = BitMapBackend::new(path, size).into_drawing_area();
    draw(area, rows, title)
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

/// Writes `plane.csv`, `plane.json`, `plane.svg` and `plane.png` into `dir`, all or nothing.
pub fn write_plane(dir: &Path, rows: &[PlaneRow], title: &str) -> Result<Vec<PathBuf>> {
    if rows.is_empty() {
        return Err(Error::Data {
            what: "information plane".into(),
            reason: "no rows to write".into(),
        });
    }
    let csv = plane_csv(rows);
    let json = plane_json(rows)?;
    let svg = plane_svg(rows, title)?;
    let owned = rows.to_vec();
    let title = title.to_string();
    write_all_atomic(vec![
        (dir.join("plane.csv"), Output::Bytes(csv.into_bytes())),
        (dir.join("plane.json"), Output::Bytes(json.into_bytes())),
        (dir.join("plane.svg"), Output::Bytes(svg.into_bytes())),
        (
            dir.join("plane.png"),
            Output::Png(Box::new(move |p| plane_png(&owned, &title, p))),
        ),
    ])
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
            seed: None,
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
}
