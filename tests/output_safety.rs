//! Output safety (docs/robustness.md, "Determinism and output safety"): a
//! write that fails half-way and a process killed at any moment leave every
//! output either as it was or complete, never half-written; and no command
//! ever modifies its input files.
//!
//! The failing write uses the writer's test hook `INFOPLANE_TEST_WRITE_FAULT`
//! (`src/report.rs`), set on the child process only. The kills are
//! `std::process::Child::kill` (SIGKILL on Unix), some at fixed fractions of a
//! full run and some timed from the moment the output folder first changes,
//! so that they land while the outputs are being written.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The files `plane` writes.
const OUTPUTS: [&str; 5] = [
    "plane.csv",
    "plane.json",
    "plane.settings.json",
    "plane.svg",
    "plane.png",
];

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_infoplane"));
    c.env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .env_remove("INFOPLANE_TEST_WRITE_FAULT");
    c
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("the binary runs")
}

/// A short built-in experiment (all 31 epochs recorded, 372 rows) into `out`.
fn demo_args(out: &Path, seed: u64) -> Vec<String> {
    [
        "plane",
        "--epochs",
        "30",
        "--records",
        "31",
        "--backend",
        "cpu",
        "--seed",
        &seed.to_string(),
        "--out",
        out.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The bytes of every output present in `out`.
fn snapshot(out: &Path) -> BTreeMap<&'static str, Vec<u8>> {
    OUTPUTS
        .iter()
        .filter_map(|name| std::fs::read(out.join(name)).ok().map(|b| (*name, b)))
        .collect()
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

/// The writer's temporaries: `.plane.csv.<pid>.tmp.csv` and so on.
fn temporaries(dir: &Path) -> Vec<String> {
    listing(dir)
        .into_iter()
        .filter(|n| n.starts_with(".plane.") && n.contains(".tmp."))
        .collect()
}

/// Names, sizes and modification times of the entries in `dir`.
fn dir_state(dir: &Path) -> BTreeMap<String, (u64, std::time::SystemTime)> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return BTreeMap::new();
    };
    rd.filter_map(|e| {
        let e = e.ok()?;
        let m = e.metadata().ok()?;
        Some((
            e.file_name().to_string_lossy().into_owned(),
            (m.len(), m.modified().ok()?),
        ))
    })
    .collect()
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut c = 0xffff_ffffu32;
    for &b in bytes {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 == 1 {
                (c >> 1) ^ 0xedb8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// A PNG is complete when its chunks, each with a correct CRC, run from the
/// signature to an `IEND` chunk that ends exactly at the end of the file.
fn png_is_complete(b: &[u8]) -> Result<(), String> {
    if b.len() < 8 || &b[..8] != b"\x89PNG\r\n\x1a\n" {
        return Err("no PNG signature".into());
    }
    let mut at = 8;
    loop {
        if at + 12 > b.len() {
            return Err(format!("chunk header cut at byte {at} of {}", b.len()));
        }
        let len = u32::from_be_bytes(b[at..at + 4].try_into().unwrap()) as usize;
        let end = at + 8 + len;
        if end + 4 > b.len() {
            return Err(format!("chunk at byte {at} cut ({} bytes)", b.len()));
        }
        let crc = u32::from_be_bytes(b[end..end + 4].try_into().unwrap());
        if crc32(&b[at + 4..end]) != crc {
            return Err(format!("bad CRC in the chunk at byte {at}"));
        }
        if &b[at + 4..at + 8] == b"IEND" {
            return if end + 4 == b.len() {
                Ok(())
            } else {
                Err("bytes after IEND".into())
            };
        }
        at = end + 4;
    }
}

/// Whether `bytes` is a complete, parseable `name` of a plane with `rows` rows.
fn complete(name: &str, bytes: &[u8], rows: usize) -> Result<(), String> {
    let text = || std::str::from_utf8(bytes).map_err(|e| e.to_string());
    match name {
        "plane.csv" => {
            let t = text()?;
            if !t.ends_with('\n') {
                return Err("no final newline".into());
            }
            let lines: Vec<&str> = t.lines().collect();
            if !lines[0].starts_with("epoch,layer,estimator,i_xt") {
                return Err(format!("header `{}`", lines[0]));
            }
            if lines.len() != rows + 1 {
                return Err(format!("{} lines for {rows} rows", lines.len()));
            }
            for l in &lines[1..] {
                let f: Vec<&str> = l.split(',').collect();
                for v in &f[3..6] {
                    v.parse::<f64>()
                        .map_err(|e| format!("`{v}` in `{l}`: {e}"))?;
                }
            }
            Ok(())
        }
        "plane.json" => {
            let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
            match v.as_array() {
                Some(a) if a.len() == rows => Ok(()),
                _ => Err(format!("not an array of {rows} rows")),
            }
        }
        "plane.settings.json" => {
            let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
            match v["epochs"].as_array() {
                Some(e) if !e.is_empty() && v["layers"].as_array().is_some() => Ok(()),
                _ => Err("no epochs and layers in the settings".into()),
            }
        }
        "plane.svg" => {
            let t = text()?;
            // one marker (polygon) per row and one per layer in the legend
            // (the demo has 6 layers), and the closing tag
            let markers = t.matches("<polygon").count();
            if t.starts_with("<svg") && t.trim_end().ends_with("</svg>") && markers == rows + 6 {
                Ok(())
            } else {
                Err(format!(
                    "{markers} markers for {rows} rows + 6 layers, or cut short"
                ))
            }
        }
        "plane.png" => png_is_complete(bytes),
        other => Err(format!("unexpected output {other}")),
    }
}

/// For each output in turn, a write that fails half-way through it leaves all
/// five earlier outputs byte-identical and no temporary file behind; with no
/// earlier outputs, none appears.
#[test]
fn a_write_failing_midway_leaves_the_old_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = bin().args(demo_args(&out, 1)).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let before = snapshot(&out);
    assert_eq!(before.len(), 5);
    for victim in OUTPUTS {
        let o = bin()
            .args(demo_args(&out, 2))
            .env("INFOPLANE_TEST_WRITE_FAULT", victim)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{victim}: {err}");
        assert!(
            err.contains(victim) && err.contains("injected") && !err.contains("panicked"),
            "{victim}: {err}"
        );
        assert!(o.stdout.is_empty(), "{victim}: listed outputs");
        let now = snapshot(&out);
        let changed: Vec<&str> = OUTPUTS
            .into_iter()
            .filter(|n| now.get(n) != before.get(n))
            .collect();
        assert!(
            changed.is_empty(),
            "{victim}: earlier outputs changed: {changed:?}"
        );
        assert_eq!(
            listing(&out),
            OUTPUTS_SORTED,
            "{victim}: a temporary is left"
        );
    }
    // No earlier outputs: none appears, and no temporary.
    let fresh = dir.path().join("fresh");
    let o = bin()
        .args(demo_args(&fresh, 2))
        .env("INFOPLANE_TEST_WRITE_FAULT", "plane.svg")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(listing(&fresh).is_empty(), "{:?}", listing(&fresh));
    // Without the hook the same run replaces all five.
    let o = bin().args(demo_args(&out, 2)).output().unwrap();
    assert!(o.status.success());
    let after = snapshot(&out);
    for name in OUTPUTS {
        assert_ne!(after[name], before[name], "{name} was not rewritten");
    }
}

const OUTPUTS_SORTED: [&str; 5] = [
    "plane.csv",
    "plane.json",
    "plane.png",
    "plane.settings.json",
    "plane.svg",
];

/// When the kill comes.
#[derive(Clone, Copy, Debug)]
enum Kill {
    /// This fraction of a full run after the start.
    Fraction(f64),
    /// This many milliseconds after the output folder first changes (a file
    /// appears, or one changes size or modification time).
    AfterWritingStarts(u64),
}

/// `plane` killed at several points (while training, while estimating, and
/// from 0 to 16 ms after it starts writing its outputs): every output is, each time,
/// either the earlier run's, byte for byte, or complete and parseable (CSV and
/// JSON with every row, an SVG with every point, a PNG whose chunks and CRCs
/// run to `IEND`). At least one kill must land mid-write (it leaves a
/// temporary behind), or the test proves nothing and fails.
#[test]
fn sigkill_at_any_point_leaves_old_or_complete_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let started = Instant::now();
    let o = bin().args(demo_args(&out, 1)).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let full = started.elapsed();
    let old = snapshot(&out);
    let rows = std::str::from_utf8(&old["plane.csv"])
        .unwrap()
        .lines()
        .count()
        - 1;
    for (name, bytes) in &old {
        complete(name, bytes, rows).unwrap_or_else(|e| panic!("first run's {name}: {e}"));
    }

    let mut plan: Vec<Kill> = [0.1, 0.5, 0.9]
        .into_iter()
        .map(Kill::Fraction)
        .chain(
            [0, 0, 1, 2, 4, 8, 16]
                .into_iter()
                .map(Kill::AfterWritingStarts),
        )
        .collect();
    let (mut mid_write, mut replaced, mut kept) = (0, 0, 0);
    let mut seed = 10;
    // Up to three extra immediate kills if none of the planned ones landed mid-write.
    let mut extra = 3;
    let mut next = 0;
    while next < plan.len() {
        let kill = plan[next];
        next += 1;
        seed += 1;
        let before = snapshot(&out);
        let start = dir_state(&out);
        let mut child = bin()
            .args(demo_args(&out, seed))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        match kill {
            Kill::Fraction(f) => std::thread::sleep(full.mul_f64(f)),
            Kill::AfterWritingStarts(ms) => {
                let deadline = Instant::now() + full * 20 + Duration::from_secs(30);
                while dir_state(&out) == start
                    && child.try_wait().unwrap().is_none()
                    && Instant::now() < deadline
                {
                    std::thread::sleep(Duration::from_micros(200));
                }
                std::thread::sleep(Duration::from_millis(ms));
            }
        }
        let _ = child.kill();
        child.wait().unwrap();

        let left = temporaries(&out);
        if !left.is_empty() {
            mid_write += 1;
        }
        for name in OUTPUTS {
            let now = std::fs::read(out.join(name)).expect("an earlier output vanished");
            if before.get(name) == Some(&now) {
                kept += 1;
            } else {
                complete(name, &now, rows).unwrap_or_else(|e| {
                    panic!("{kill:?}: {name} is neither the old file nor complete: {e}")
                });
                replaced += 1;
            }
        }
        // A killed run cannot clean up: its hidden temporaries stay (never read).
        for t in left {
            std::fs::remove_file(out.join(t)).unwrap();
        }
        if next == plan.len() && mid_write == 0 && extra > 0 {
            extra -= 1;
            plan.push(Kill::AfterWritingStarts(0));
        }
    }
    eprintln!(
        "kills: {mid_write} mid-write; outputs kept {kept}, replaced by complete ones {replaced}"
    );
    assert!(
        mid_write >= 1,
        "no kill landed while the outputs were written"
    );
}

use common::write_npy_f32;

/// Every file under `dir`: bytes, modification time and permissions.
fn fingerprint(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, std::time::SystemTime, String)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::metadata(&p).unwrap();
            if m.is_dir() {
                stack.push(p.clone());
            }
            let bytes = if m.is_file() {
                std::fs::read(&p).unwrap()
            } else {
                Vec::new()
            };
            out.insert(
                p,
                (
                    bytes,
                    m.modified().unwrap(),
                    format!("{:?}", m.permissions()),
                ),
            );
        }
    }
    out
}

/// `mi`, `entropy` and `plane` (every estimator, text and JSON output) over
/// `.npy`, `.csv` and `.npz` inputs and a saved run: afterwards every input
/// file has the same bytes, modification time and permissions, and the input
/// folders hold no new file.
#[test]
fn input_files_are_never_modified() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("inputs");
    let run_dir = inputs.join("run");
    std::fs::create_dir_all(run_dir.join("epoch_0001")).unwrap();
    std::fs::create_dir_all(run_dir.join("epoch_0002")).unwrap();
    let n = 120;
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let x: Vec<f32> = (0..n * 2).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let labels: Vec<f32> = (0..n).map(|i| (i % 3) as f32).collect();
    let xp = inputs.join("x.npy");
    write_npy_f32(&xp, &x, n, 2);
    let mut csv = String::from("a,b\n");
    for r in x.chunks(2) {
        let (e1, e2): (f32, f32) = (rng.random_range(-0.5..0.5), rng.random_range(-0.5..0.5));
        csv.push_str(&format!("{},{}\n", r[0] + e1, r[1] * 0.5 + e2));
    }
    let cp = inputs.join("y.csv");
    std::fs::write(&cp, csv).unwrap();
    let lp = inputs.join("labels.npy");
    write_npy_f32(&lp, &labels, n, 1);
    let zp = inputs.join("acts.npz");
    {
        use std::io::Write;
        let mut zw = zip::ZipWriter::new(std::fs::File::create(&zp).unwrap());
        zw.start_file("t.npy", zip::write::SimpleFileOptions::default())
            .unwrap();
        zw.write_all(&std::fs::read(&xp).unwrap()).unwrap();
        zw.finish().unwrap();
    }
    std::fs::copy(&xp, run_dir.join("inputs.npy")).unwrap();
    std::fs::copy(&lp, run_dir.join("labels.npy")).unwrap();
    for (e, shift) in [("epoch_0001", 0.1f32), ("epoch_0002", 0.3)] {
        let t: Vec<f32> = x.iter().map(|v| (v + shift).tanh()).collect();
        write_npy_f32(&run_dir.join(e).join("layer1.npy"), &t, n, 2);
    }
    // Modification times with a coarse clock would hide a rewrite made in the
    // same tick: let the clock move on before anything runs.
    std::thread::sleep(Duration::from_millis(20));
    let before = fingerprint(&inputs);
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let npz_t = format!("{}:t", s(&zp));
    let csv_a = format!("{}:a", s(&cp));
    let out = dir.path().join("out");
    let mut runs: Vec<Vec<String>> = Vec::new();
    for est in [
        "ksg1", "ksg2", "mixed", "kde", "binned", "discrete", "gaussian",
    ] {
        let y = if matches!(est, "mixed" | "kde" | "discrete") {
            s(&lp)
        } else {
            s(&cp)
        };
        for fmt in ["text", "json", "csv"] {
            let mut args: Vec<String> = [
                "mi",
                "--x",
                &s(&xp),
                "--y",
                &y,
                "--estimator",
                est,
                "--format",
                fmt,
            ]
            .map(String::from)
            .to_vec();
            if est == "discrete" {
                // Float measurements are symbols only when marked.
                args.extend(["--discrete".into(), "x".into()]);
            }
            runs.push(args);
        }
    }
    runs.push(
        ["mi", "--x", &npz_t, "--y", &csv_a, "--z", &s(&lp)]
            .map(String::from)
            .to_vec(),
    );
    for est in ["kl", "kde", "binned", "gaussian", "discrete"] {
        for x in [s(&xp), npz_t.clone(), csv_a.clone()] {
            let mut args: Vec<String> =
                ["entropy", "--x", &x, "--estimator", est, "--format", "json"]
                    .map(String::from)
                    .to_vec();
            if est == "discrete" {
                args.extend(["--discrete".into(), "x".into()]);
            }
            runs.push(args);
        }
    }
    runs.push(
        [
            "plane",
            "--run",
            &s(&run_dir),
            "--estimators",
            "binned,kde,ksg",
            "--out",
            &s(&out),
        ]
        .map(String::from)
        .to_vec(),
    );
    for args in &runs {
        let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
        all.extend(["--backend", "cpu"]);
        let o = run(&all);
        assert!(
            o.status.success(),
            "{all:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    assert!(out.join("plane.csv").exists());
    let after = fingerprint(&inputs);
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>(),
        "files appeared in or vanished from the input folders"
    );
    for (p, b) in &before {
        let a = &after[p];
        assert!(a.0 == b.0, "{}: contents changed", p.display());
        assert_eq!(a.1, b.1, "{}: modification time changed", p.display());
        assert_eq!(a.2, b.2, "{}: permissions changed", p.display());
    }
}
