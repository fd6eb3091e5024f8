//! The `infoplane` command line: `mi`, `entropy`, `plane` and `devices`.
//!
//! Exit status: 0 on success, 2 when the input is at fault (a file, an array,
//! a flag value: [`infoplane::Error::is_input_error`]; clap's own usage errors
//! are 2 as well), 1 for anything else (a device failure).

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use infoplane::demo::{self, Activation, DemoConfig};
use infoplane::estimators::{
    BinScheme, Binned, BoundKind, Bounds, Cmi, Discrete, Estimate, Gaussian, Kde, KnnEntropy, Ksg,
    KsgVariant, Mixed, Symbols, Units,
};
use infoplane::io::{self, Array};
use infoplane::kernels::gpu::list_adapters;
use infoplane::memory::{self, MemoryNeed};
use infoplane::plane::{self, PlaneOptions, RunLayout};
use infoplane::report;
use infoplane::{Backend, BackendChoice, Dataset, Engine, Error};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "infoplane",
    version,
    about = "Mutual information, entropy and the information plane of neural networks, on GPU (WGSL) or CPU",
    after_help = "Examples:\n  infoplane plane                      # the built-in Shwartz-Ziv & Tishby experiment\n  infoplane mi --x acts.npy --y labels.npy --estimator mixed\n  infoplane entropy --x acts.npz:layer3 --estimator kl --bits\n  infoplane devices\n\nLogging: RUST_LOG=info (or debug) prints what the engine does."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Mutual information I(X;Y), or I(X;Y|Z) with --z.
    #[command(
        mut_arg("k", |a| a.help("Neighbour rank k of the kNN estimators (ksg1, ksg2, mixed; and of --z)")),
        mut_arg("discrete", |a| a.help("Arrays (x, y, z) whose float values are labels or bits: each row is one symbol")),
        after_help = "Examples:\n  infoplane mi --x x.npy --y y.npy                       # continuous: KSG-1, k = 3, nats\n  infoplane mi --x acts.npy --y labels.npy               # integer labels: mixed, chosen from the types\n  infoplane mi --x acts.npz:layer2 --y labels.npy --estimator mixed --bits\n  infoplane mi --x t.npy --y labels.npy --estimator kde --sigma2 0.001 --format json\n  infoplane mi --x t.npy --y labels.npy --estimator binned --bins 30 --range -1,1\n  infoplane mi --x x.csv --y y.csv --z z.csv               # conditional MI (Frenzel-Pompe)\n  infoplane mi --x bits.npy --y labels.npy --estimator discrete --discrete x\n  infoplane mi --x pixels.npy --y t.npy --estimator ksg1 --continuous x   # integers that are measurements"
    )]
    Mi(MiArgs),
    /// Entropy H(X).
    #[command(
        mut_arg("k", |a| a.help("Neighbour rank k of the kl estimator (Kozachenko-Leonenko)")),
        mut_arg("discrete", |a| a.help("x: X's float values are labels or bits, each row one symbol (--discrete x)")),
        after_help = "Examples:\n  infoplane entropy --x x.npy                             # Kozachenko-Leonenko, k = 3\n  infoplane entropy --x t.npy --estimator binned --bins 30 --bits\n  infoplane entropy --x t.npy --estimator kde --format json\n  infoplane entropy --x labels.npy --estimator discrete"
    )]
    Entropy(EntropyArgs),
    /// The information plane of a saved run, or of the built-in experiment when --run is not given.
    #[command(
        after_help = "Examples:\n  infoplane plane                                   # built-in: 12-bit task, tanh 12-10-7-5-4-3-2\n  infoplane plane --activation relu --out relu-out  # the ReLU case of Saxe et al.\n  infoplane plane --epochs 200                      # a shorter demo\n  infoplane plane --run runs/mnist --estimators binned,kde,mixed --out mnist-plane\n  infoplane plane --run runs/mnist --estimators binned --binning equal --range -1,1\n\nBinned ranges: without --range, each layer of a saved run is binned on [min(0, min), max] of its\nactivations over every epoch (a first pass reads the epochs once more to find it); with --range, on\nthat range, values outside clamped and counted (a warning says so). The record of the settings is\nplane.settings.json.\n\nRun folder layout (see docs/formats.md):\n  DIR/inputs.npy  DIR/labels.npy  and either\n  DIR/epoch_0010/layer1.npy ...   (a folder per epoch, one array per layer) or\n  DIR/epoch_0010.npz              (one archive per epoch, arrays named by layer)"
    )]
    Plane(PlaneArgs),
    /// The GPU adapters wgpu sees, and which one `--backend auto` picks.
    #[command(after_help = "Examples:\n  infoplane devices\n  infoplane devices --format json")]
    Devices(DevicesArgs),
    /// Cross-check the GPU against the CPU twins: every kernel and estimator, on your data or generated data.
    #[command(
        after_help = "Runs every kernel (knn, radius_count, kde_lse, bin, pairwise; each metric and boundary) and every\nestimator that applies on the GPU that `devices` would use (a software adapter when there is no\nhardware one) and on the CPU twins, and compares them against named tolerances: bit-exact for\nChebyshev distances, neighbour indices and all counts. Exit status: 0 when everything agrees, 1 when\nanything does not, 2 on usage or input errors.\n\nExamples:\n  infoplane check                                  # generated data, n = 2000, d = 4 (+4 for Y)\n  infoplane check --n 20000 --d 10 --seed 7\n  infoplane check --x acts.npy --y labels.npy --format json\n  infoplane check --estimators ksg1,kl"
    )]
    Check(CheckArgs),
    /// Throughput of every kernel and the main estimators on every available backend.
    #[command(
        after_help = "Each case runs once to warm up, then --repeats times; the table gives the median and the spread,\npairs/s (query x reference rows per second), coordinate-pairs/s and the speed-up over the CPU twins.\nThe header names the CPU model, its threads and vector instruction set, and the GPU adapters.\n\nExamples:\n  infoplane bench --quick                          # under a minute\n  infoplane bench --sizes 16384x32,65536x8 --cases knn_chebyshev,ksg1\n  infoplane bench --backends cpu --format json"
    )]
    Bench(BenchArgs),
}

#[derive(Args)]
struct CheckArgs {
    /// X: FILE.npy, FILE.csv, or FILE.npz:NAME / FILE.safetensors:NAME (default: generated).
    #[arg(long)]
    x: Option<String>,
    /// Y, for the joint-space (block metric) kernels and the MI estimators.
    #[arg(long)]
    y: Option<String>,
    /// Rows of generated data.
    #[arg(long, default_value_t = 2000)]
    n: usize,
    /// Columns of generated X (and of Y).
    #[arg(long, default_value_t = 4)]
    d: usize,
    /// Seed of the generated data and of the estimators' noise.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Neighbour rank.
    #[arg(short = 'k', long, default_value_t = 3)]
    k: usize,
    /// Estimators to check (default: all that apply): ksg1, ksg2, kl, kl_euclidean, mixed, cmi, kde, binned; `none` for kernels only.
    #[arg(long, value_delimiter = ',')]
    estimators: Vec<String>,
    /// Output format: text, json or csv (one line per case).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Args)]
struct BenchArgs {
    /// The short sweep (under a minute on a 2-core CPU).
    #[arg(long)]
    quick: bool,
    /// Sizes NxD to sweep, comma-separated (default: the full sweep, or the quick one).
    #[arg(long, value_delimiter = ',')]
    sizes: Vec<String>,
    /// Cases (default all): ksg1, kl, knn_chebyshev, knn_sq_euclidean, radius_count, kde_lse, bin, pairwise.
    #[arg(long, value_delimiter = ',')]
    cases: Vec<String>,
    /// Backends: cpu, gpu (the adapter `check` uses). Default: both where a GPU adapter exists.
    #[arg(long, value_delimiter = ',')]
    backends: Vec<String>,
    /// Timed repetitions after the warm-up.
    #[arg(long)]
    repeats: Option<usize>,
    /// Neighbour rank.
    #[arg(short = 'k', long, default_value_t = 3)]
    k: usize,
    /// Output format: text, json or csv (one line per case and backend).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
enum Format {
    Text,
    Json,
    Csv,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
enum BackendArg {
    Auto,
    Gpu,
    Cpu,
}

impl From<BackendArg> for BackendChoice {
    fn from(b: BackendArg) -> Self {
        match b {
            BackendArg::Auto => BackendChoice::Auto,
            BackendArg::Gpu => BackendChoice::Gpu,
            BackendArg::Cpu => BackendChoice::Cpu,
        }
    }
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
enum MiEstimator {
    Ksg1,
    Ksg2,
    Mixed,
    Kde,
    Binned,
    Discrete,
    Gaussian,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
enum EntropyEstimator {
    Kl,
    Kde,
    Binned,
    Gaussian,
    Discrete,
}

/// `--units`: the same values on mi, entropy and plane.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
enum UnitsArg {
    /// Base-2 logarithms.
    Bits,
    /// Natural logarithms.
    Nats,
}

/// The units asked for by `--units` and its short forms `--bits` / `--nats`,
/// `default` when none is given; forms that disagree are an error.
fn resolve_units(
    units: Option<UnitsArg>,
    bits: bool,
    nats: bool,
    default: Units,
) -> Result<Units, Error> {
    let mut said: Vec<(&str, Units)> = Vec::new();
    if let Some(u) = units {
        said.push((
            if u == UnitsArg::Bits {
                "--units bits"
            } else {
                "--units nats"
            },
            if u == UnitsArg::Bits {
                Units::Bits
            } else {
                Units::Nats
            },
        ));
    }
    if bits {
        said.push(("--bits", Units::Bits));
    }
    if nats {
        said.push(("--nats", Units::Nats));
    }
    match said.as_slice() {
        [] => Ok(default),
        [(_, u), rest @ ..] => match rest.iter().find(|r| r.1 != *u) {
            None => Ok(*u),
            Some((other, _)) => Err(Error::param(
                "units",
                format!("{} and {other} disagree: give one of them", said[0].0),
            )),
        },
    }
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
enum BinningArg {
    /// `--bins` equal bins on `--range`.
    Equal,
    /// `--bins` equal-mass bins per array (Chelombiev et al. 2019).
    Adaptive,
}

/// Flags shared by `mi` and `entropy`.
#[derive(Args, Clone)]
struct Common {
    /// Neighbour rank k of the kNN estimators.
    #[arg(short = 'k', long, default_value_t = 3)]
    k: usize,
    /// KDE noise variance σ² (default 1e-3, the value of Saxe et al. 2018).
    #[arg(long)]
    sigma2: Option<f64>,
    /// Number of bins for `binned`.
    #[arg(long, default_value_t = 30)]
    bins: u32,
    /// Range LO,HI of the equal bins (default -1,1: tanh units, as Shwartz-Ziv & Tishby).
    #[arg(long, allow_hyphen_values = true)]
    range: Option<String>,
    /// Equal bins on --range, or adaptive equal-mass bins.
    #[arg(long, value_enum, default_value_t = BinningArg::Equal)]
    binning: BinningArg,
    /// Adaptive bins: give a value holding more than one bin's mass (ReLU zeros, a clipped bound) its own bin.
    #[arg(long)]
    adaptive_atoms: bool,
    /// Arrays (x, y, z) whose float values are labels or bits: each row is one symbol.
    #[arg(long, value_delimiter = ',')]
    discrete: Vec<String>,
    /// Arrays (x, y, z) of integers that are measurements (e.g. pixel intensities), not labels: the continuous estimators accept them.
    #[arg(long, value_delimiter = ',')]
    continuous: Vec<String>,
    /// Which kernels run: a hardware GPU if present (auto), any GPU adapter, or the CPU twins.
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    backend: BackendArg,
    /// Seed of the tie-breaking noise of the kNN estimators.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Report in bits instead of nats (the same as --units bits).
    #[arg(long)]
    bits: bool,
    /// Units of the result: nats (the default of mi and entropy) or bits.
    #[arg(long, value_enum)]
    units: Option<UnitsArg>,
    /// Centre and scale every column to unit variance first (kNN estimators).
    #[arg(long)]
    standardize: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Args)]
struct MiArgs {
    /// X: FILE.npy, FILE.csv, or FILE.npz:NAME / FILE.safetensors:NAME.
    #[arg(long)]
    x: String,
    /// Y (the discrete side for `mixed`, `kde`).
    #[arg(long)]
    y: String,
    /// Z: condition on it (conditional MI: ksg1 = Frenzel-Pompe, ksg2 = KSG algorithm 2).
    #[arg(long)]
    z: Option<String>,
    /// Estimator. Default: chosen from the arrays' types: ksg1 for two continuous arrays, mixed for a
    /// continuous and a discrete one (integer or bool dtype, or --discrete), discrete for two discrete ones.
    #[arg(long, value_enum)]
    estimator: Option<MiEstimator>,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct EntropyArgs {
    /// X: FILE.npy, FILE.csv, or FILE.npz:NAME / FILE.safetensors:NAME.
    #[arg(long)]
    x: String,
    /// Estimator. Default: kl for a continuous array, discrete for a discrete one (integer or bool dtype, or --discrete).
    #[arg(long, value_enum)]
    estimator: Option<EntropyEstimator>,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct PlaneArgs {
    /// A saved run folder (see the layout below); without it, the built-in experiment runs.
    #[arg(long)]
    run: Option<PathBuf>,
    /// Inputs X (default: inputs.* or x.* in the run folder).
    #[arg(long)]
    x: Option<String>,
    /// Labels Y (default: labels.* or y.* in the run folder).
    #[arg(long)]
    y: Option<String>,
    /// Estimators, as in mi: binned (equal bins and adaptive equal-mass bins; one of them with
    /// --binning), kde, mixed (the kNN row: Ross's I(T;Y) as `mi --estimator mixed`,
    /// Kozachenko-Leonenko H(T) as `entropy --estimator kl`); szt, adaptive, ksg and knn are
    /// older names. Default: binned,kde,mixed for --run; for the built-in experiment binned on
    /// the CPU (KDE and kNN over 4096 points × 6 layers × 30 epochs take minutes on the CPU
    /// twins) and binned,kde,mixed on a GPU.
    #[arg(long)]
    estimators: Option<String>,
    /// Which binnings `binned` runs: equal (bins on a range, row `binned`), adaptive
    /// (equal-mass bins, row `binned_adaptive`). Default: both.
    #[arg(long, value_enum)]
    binning: Option<BinningArg>,
    /// Range LO,HI of the equal bins, for every layer; values outside are clamped into the end
    /// bins, counted and warned about. Default: each layer's [min(0, min), max] over every epoch
    /// (the built-in tanh experiment: -1,1, as Shwartz-Ziv & Tishby).
    #[arg(long, allow_hyphen_values = true)]
    range: Option<String>,
    /// Output folder for plane.csv, plane.json, plane.settings.json, plane.svg, plane.png.
    #[arg(long, default_value = "infoplane-out")]
    out: PathBuf,
    /// Number of bins for the binned estimators.
    #[arg(long, default_value_t = 30)]
    bins: u32,
    /// KDE noise variance σ² (default 1e-3, as Saxe et al. 2018).
    #[arg(long)]
    sigma2: Option<f64>,
    /// Neighbour rank k of the kNN row (mixed).
    #[arg(short = 'k', long, default_value_t = 3)]
    k: usize,
    /// Which kernels run.
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    backend: BackendArg,
    /// Seed (training of the built-in experiment, and the kNN row's tie-breaking noise).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Built-in experiment: training epochs.
    #[arg(long, default_value_t = DemoConfig::default().epochs)]
    epochs: usize,
    /// Built-in experiment: how many log-spaced epochs to record.
    #[arg(long, default_value_t = DemoConfig::default().records)]
    records: usize,
    /// Built-in experiment: hidden-unit non-linearity.
    #[arg(long, value_enum, default_value_t = ActivationArg::Tanh)]
    activation: ActivationArg,
    /// Units of every value: bits (the default of plane) or nats.
    #[arg(long, value_enum)]
    units: Option<UnitsArg>,
    /// Report in bits (the default; the same as --units bits).
    #[arg(long)]
    bits: bool,
    /// Report in nats instead of bits (the same as --units nats).
    #[arg(long)]
    nats: bool,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
enum ActivationArg {
    Tanh,
    Relu,
}

#[derive(Args)]
struct DevicesArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// Mesa's Vulkan drivers print an error on every adapter probe when
/// `XDG_RUNTIME_DIR` is unset (common under sudo, cron and containers); give
/// them a private folder instead. Runs first, before any thread exists.
/// Returns the folder to remove at exit.
fn quiet_mesa_runtime_dir() -> Option<PathBuf> {
    if std::env::var_os("XDG_RUNTIME_DIR").is_some() {
        return None;
    }
    let dir = std::env::temp_dir().join(format!("infoplane-xdg-{}", std::process::id()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        if std::fs::DirBuilder::new().mode(0o700).create(&dir).is_ok() {
            std::env::set_var("XDG_RUNTIME_DIR", &dir);
            return Some(dir);
        }
    }
    None
}

fn main() -> ExitCode {
    let runtime_dir = quiet_mesa_runtime_dir();
    let code = real_main();
    if let Some(dir) = runtime_dir {
        let _ = std::fs::remove_dir_all(dir);
    }
    code
}

fn real_main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    // try_parse, not parse: `--help` and usage errors return here instead of
    // exiting, so main can clean up (exit status 0 for help, 2 for usage).
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(e.exit_code().clamp(0, 255) as u8);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Each cause once: our errors already print their source in their message.
            let mut msg = String::new();
            for cause in e.chain() {
                let text = cause.to_string();
                if !msg.contains(&text) {
                    if !msg.is_empty() {
                        msg.push_str(": ");
                    }
                    msg.push_str(&text);
                }
            }
            eprintln!("error: {msg}");
            let input = e
                .chain()
                .find_map(|c| c.downcast_ref::<Error>())
                .is_some_and(Error::is_input_error);
            ExitCode::from(if input { 2 } else { 1 })
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Mi(mut a) => {
            a.common.bits =
                resolve_units(a.common.units, a.common.bits, false, Units::Nats)? == Units::Bits;
            mi(a)
        }
        Command::Entropy(mut a) => {
            a.common.bits =
                resolve_units(a.common.units, a.common.bits, false, Units::Nats)? == Units::Bits;
            entropy(a)
        }
        Command::Plane(a) => plane_cmd(a),
        Command::Devices(a) => devices(a),
        Command::Check(a) => check_cmd(a),
        Command::Bench(a) => bench_cmd(a),
    }
}

fn units(bits: bool) -> Units {
    if bits {
        Units::Bits
    } else {
        Units::Nats
    }
}

/// One input array of `mi` or `entropy` and how its type was decided.
struct Input {
    arr: Array,
    /// x, y or z.
    role: &'static str,
    /// The file keeps its values as CSV text (integer cells make it discrete).
    csv: bool,
    /// Named by `--discrete`.
    marked_discrete: bool,
    /// Named by `--continuous`.
    marked_continuous: bool,
}

impl Input {
    fn load(spec: &str, role: &'static str, c: &Common) -> Result<Input, Error> {
        let arr = io::load(spec)?;
        let csv = matches!(
            io::FileKind::of(&io::split_spec(spec).0),
            Ok(io::FileKind::Csv)
        );
        Ok(Input {
            arr,
            role,
            csv,
            marked_discrete: c.discrete.iter().any(|d| d == role),
            marked_continuous: c.continuous.iter().any(|d| d == role),
        })
    }

    fn name(&self) -> &str {
        &self.arr.name
    }

    /// Symbols (labels, bits, counts) rather than measurements: integer or
    /// bool storage unless `--continuous`, or marked `--discrete`.
    fn is_discrete(&self) -> bool {
        self.marked_discrete || (self.arr.discrete && !self.marked_continuous)
    }

    /// Why the array counts as discrete, for messages ("this array …").
    fn why_discrete(&self) -> String {
        if self.marked_discrete {
            format!("is marked --discrete {}", self.role)
        } else if self.csv {
            "holds integer cells only (an integer CSV column is discrete, like an integer .npy)"
                .into()
        } else {
            "has an integer or bool dtype".into()
        }
    }

    /// The type in words, for the note that says why an estimator was chosen.
    fn kind_words(&self) -> String {
        if self.is_discrete() {
            format!("discrete (it {})", self.why_discrete())
        } else if self.arr.discrete {
            format!("continuous (integers marked --continuous {})", self.role)
        } else {
            "continuous (float)".into()
        }
    }

    fn dataset(&self) -> Result<Dataset, Error> {
        self.arr.to_dataset()
    }

    /// The first value with a fraction, as (row, column, value).
    fn first_fraction(&self) -> Option<(usize, usize, f32)> {
        let d = self.arr.d().max(1);
        self.arr
            .data
            .iter()
            .position(|v| v.fract() != 0.0)
            .map(|i| (i / d, i % d, self.arr.data[i]))
    }

    /// Symbols of a discrete array: integer values by value, other floats
    /// (marked `--discrete`) by exact row.
    fn symbols(&self) -> Result<Symbols, Error> {
        let ds = self.dataset()?;
        Symbols::from_dataset(&ds).or_else(|_| Ok(Symbols::from_exact_rows(&ds)))
    }

    /// Symbols for an estimator that needs them on this side: a discrete
    /// array, or a float array whose values are all integers (labels saved as
    /// floats; a note says so). A float array with fractions is refused with
    /// `refusal`'s advice unless it is marked `--discrete`.
    fn symbols_for(
        &self,
        estimator: &str,
        refusal: &str,
        notes: &mut Vec<String>,
    ) -> Result<Symbols, Error> {
        if self.is_discrete() {
            return self.symbols();
        }
        match self.first_fraction() {
            None => {
                let s = self.symbols()?;
                notes.push(format!(
                    "{}: a float array whose values are all integers ({} distinct rows): \
                     used as symbols by {estimator}",
                    self.name(),
                    s.alphabet()
                ));
                Ok(s)
            }
            Some((row, col, v)) => {
                let distinct = Symbols::from_exact_rows(&self.dataset()?).alphabet();
                Err(Error::Data {
                    what: self.name().to_string(),
                    reason: format!(
                        "a float array with non-integer values (row {row}, column {col}: {v}; \
                         {distinct} distinct rows in {}): {refusal}",
                        self.arr.n()
                    ),
                })
            }
        }
    }

    /// Refuses a discrete array for an estimator that treats values as
    /// continuous measurements, naming the estimators to use instead.
    fn require_continuous(&self, estimator: &str, instead: &str) -> Result<(), Error> {
        if !self.is_discrete() {
            return Ok(());
        }
        Err(Error::Data {
            what: self.name().to_string(),
            reason: format!(
                "this array {}, so its values are discrete symbols (labels, counts, bits), and \
                 {estimator} treats them as continuous measurements: ties between equal symbols \
                 bias it without bound (it can exceed the entropy of the symbols). Use {instead}, \
                 or --continuous {} if these integers are measurements (e.g. pixel intensities)",
                self.why_discrete(),
                self.role
            ),
        })
    }

    /// The plug-in entropy of integer data run as continuous (`--continuous`):
    /// whatever the estimator, I(·;V) ≤ H(V) still holds for them.
    fn integer_entropy_bound(&self) -> Result<Option<(f64, String)>, Error> {
        if !(self.arr.discrete && self.marked_continuous) {
            return Ok(None);
        }
        let h = infoplane::estimators::discrete::entropy_nats(&self.symbols()?, false);
        Ok(Some((
            h,
            format!(
                "H({}) of the integer values of {}",
                self.role.to_uppercase(),
                self.name()
            ),
        )))
    }

    /// A warning when a float array of integers (labels saved as floats?) is binned.
    fn binned_integers_warning(&self) -> Option<String> {
        if self.is_discrete() || self.first_fraction().is_some() {
            return None;
        }
        let distinct = self
            .dataset()
            .ok()
            .map(|d| Symbols::from_exact_rows(&d).alphabet())?;
        Some(format!(
            "{}: a float array whose values are all integers ({distinct} distinct rows) was binned \
             as measurements; if these are labels, mark them --discrete {} (labels are never binned)",
            self.name(),
            self.role
        ))
    }
}

fn parse_range(r: Option<&str>) -> Result<(f32, f32), Error> {
    let Some(r) = r else {
        return Ok((-1.0, 1.0));
    };
    let bad = || Error::param("range", format!("expected LO,HI with LO < HI, got `{r}`"));
    let (lo, hi) = r.split_once(',').ok_or_else(bad)?;
    let lo: f32 = lo.trim().parse().map_err(|_| bad())?;
    let hi: f32 = hi.trim().parse().map_err(|_| bad())?;
    if !(lo.is_finite() && hi.is_finite() && lo < hi) {
        return Err(bad());
    }
    Ok((lo, hi))
}

fn binned(c: &Common) -> Result<infoplane::estimators::binning::ValidBinned, Error> {
    let scheme = match c.binning {
        BinningArg::Equal => {
            let (lo, hi) = parse_range(c.range.as_deref())?;
            BinScheme::EqualRange {
                lo,
                hi,
                bins: c.bins,
            }
        }
        BinningArg::Adaptive => BinScheme::Adaptive { bins: c.bins },
    };
    Binned::params()
        .scheme(scheme)
        .atoms(c.adaptive_atoms)
        .units(units(c.bits))
        .check()
        .map_err(|e| match e {
            Error::Param {
                name: "adaptive-atoms",
                reason,
            } => Error::param(
                "adaptive-atoms",
                format!("{reason}: use it with --binning adaptive"),
            ),
            e => e,
        })
}

fn kde(c: &Common) -> Result<infoplane::estimators::kde::ValidKde, Error> {
    let mut p = Kde::params().units(units(c.bits));
    if let Some(v) = c.sigma2 {
        p = p.variance(v);
    }
    // The library calls it `variance`; the user typed `--sigma2`.
    p.check().map_err(|e| match e {
        Error::Param {
            name: "variance",
            reason,
        } => Error::param("sigma2", reason),
        e => e,
    })
}

fn check_roles(c: &Common) -> Result<(), Error> {
    for (flag, list) in [("discrete", &c.discrete), ("continuous", &c.continuous)] {
        for d in list {
            if !matches!(d.as_str(), "x" | "y" | "z") {
                return Err(Error::param(
                    flag,
                    format!("expected a list of x, y, z, got `{d}`"),
                ));
            }
        }
    }
    if let Some(r) = c.discrete.iter().find(|r| c.continuous.contains(r)) {
        return Err(Error::param(
            "continuous",
            format!("`{r}` is named by both --discrete and --continuous"),
        ));
    }
    Ok(())
}

fn engine(b: BackendArg) -> Result<Engine> {
    let e = Engine::new(b.into()).context("opening the compute backend")?;
    log::info!(
        "backend {} on {}",
        infoplane::Kernels::backend(&e),
        e.device_name()
    );
    Ok(e)
}

/// The memory statement every command makes before it starts.
fn memory_line(need: &MemoryNeed, detail: &str) -> String {
    format!(
        "memory: {} on the host, {} on the device ({detail})",
        memory::human(need.host_bytes),
        memory::human(need.device_bytes)
    )
}

/// States the memory the run needs (logged at info level, on stderr with
/// RUST_LOG=info) and stops before starting when the host cannot hold it.
fn state_memory(work: memory::Work, backend: BackendArg) -> Result<(), Error> {
    let need = work.need(backend != BackendArg::Cpu);
    log::info!("{}", memory_line(&need, &format!("{work:?}")));
    memory::check_fits(
        "run",
        &need,
        memory::available_host_bytes(),
        "use fewer rows or columns",
    )
}

/// As [`state_memory`] for `plane`, which narrates its progress on stderr:
/// the statement is always printed there; the check is the same.
fn state_plane_memory(need: &MemoryNeed, detail: &str, hint: &str) -> Result<(), Error> {
    eprintln!("infoplane: {}", memory_line(need, detail));
    memory::check_fits("plane", need, memory::available_host_bytes(), hint)
}

/// Bytes of an array's values as loaded.
fn array_bytes(a: &Array) -> u64 {
    (a.data.len() as u64).saturating_mul(4)
}

/// What `mi` runs when `--estimator` is not given: from the arrays' types.
fn choose_mi(x: &Input, y: &Input, z: Option<&Input>) -> Result<(MiEstimator, String), Error> {
    if let Some(z) = z {
        for i in [x, y, z] {
            i.require_continuous(
                "conditional MI (--z, the kNN estimators ksg1 and ksg2)",
                "a continuous array here",
            )?;
        }
    }
    let chosen = match (x.is_discrete(), y.is_discrete()) {
        _ if z.is_some() => MiEstimator::Ksg1,
        (false, false) => MiEstimator::Ksg1,
        (true, true) => MiEstimator::Discrete,
        _ => MiEstimator::Mixed,
    };
    let what = match chosen {
        MiEstimator::Ksg1 if z.is_some() => "ksg1 (the Frenzel-Pompe conditional MI)",
        MiEstimator::Ksg1 => "ksg1 (Kraskov et al.)",
        MiEstimator::Discrete => "discrete (plug-in)",
        _ => "mixed (Ross 2014; the discrete array as labels)",
    };
    let note = format!(
        "estimator chosen from the arrays' types (no --estimator): {} is {}, {} is {}: {what}",
        x.name(),
        x.kind_words(),
        y.name(),
        y.kind_words()
    );
    Ok((chosen, note))
}

/// The continuous side and the label side for `mixed` and `kde`: Y holds the
/// labels unless only X is discrete, when the roles swap (I(X;Y) is symmetric).
fn label_sides<'a>(
    x: &'a Input,
    y: &'a Input,
    estimator: &str,
    notes: &mut Vec<String>,
) -> (&'a Input, &'a Input) {
    if x.is_discrete() && !y.is_discrete() {
        notes.push(format!(
            "I(X;Y) is symmetric: {} ({}) is the continuous side of {estimator}, {} the labels",
            y.name(),
            y.kind_words(),
            x.name()
        ));
        (y, x)
    } else {
        (x, y)
    }
}

/// Advice when `estimator` needs labels and got a continuous array.
fn labels_refusal(estimator: &str, role: &str) -> String {
    format!(
        "{estimator} needs labels on this side (a discrete variable: an integer or bool array), \
         and the estimate on a continuous one is not defined as a mutual information with labels; \
         use --estimator ksg1 for continuous data, or mark it --discrete {role} to make every \
         distinct row one label"
    )
}

fn mi(a: MiArgs) -> Result<()> {
    let c = &a.common;
    check_roles(c)?;
    let x = Input::load(&a.x, "x", c)?;
    let y = Input::load(&a.y, "y", c)?;
    let z = a.z.as_deref().map(|z| Input::load(z, "z", c)).transpose()?;
    let mut notes = Vec::new();
    let estimator = match a.estimator {
        Some(e) => e,
        None => {
            let (e, note) = choose_mi(&x, &y, z.as_ref())?;
            notes.push(note);
            e
        }
    };
    if z.is_some() && !matches!(estimator, MiEstimator::Ksg1 | MiEstimator::Ksg2) {
        return Err(Error::param(
            "z",
            "conditional MI (--z) is estimated with the kNN estimators: --estimator ksg1 \
             (Frenzel-Pompe) or ksg2 (KSG algorithm 2)",
        )
        .into());
    }
    let u = units(c.bits);
    {
        use infoplane::memory::Work;
        let n = x.arr.n();
        let dims = x.arr.d() + y.arr.d() + z.as_ref().map_or(0, |z| z.arr.d());
        let work = match estimator {
            MiEstimator::Ksg1 | MiEstimator::Ksg2 | MiEstimator::Mixed => {
                Work::Knn { n, dims, k: c.k }
            }
            MiEstimator::Kde => Work::Kde { n, dims },
            _ => Work::Binned { n, dims },
        };
        state_memory(work, c.backend)?;
    }
    let mut est: Estimate = match estimator {
        MiEstimator::Ksg1 | MiEstimator::Ksg2 => mi_knn(c, estimator, &x, &y, z.as_ref())?,
        MiEstimator::Mixed => {
            let (cont, lab) = label_sides(&x, &y, "mixed", &mut notes);
            cont.require_continuous(
                "mixed (continuous side)",
                "--estimator discrete (both arrays are discrete)",
            )?;
            let labels =
                lab.symbols_for("mixed", &labels_refusal("mixed", lab.role), &mut notes)?;
            let eng = engine(c.backend)?;
            Mixed::params()
                .k(c.k)
                .seed(c.seed)
                .standardize(c.standardize)
                .units(u)
                .check()?
                .estimate_dataset(&cont.dataset()?, &labels, &eng)?
        }
        MiEstimator::Kde => {
            let (cont, lab) = label_sides(&x, &y, "kde", &mut notes);
            let refusal = labels_refusal("KDE's I(T;Y) (Kolchinsky-Tracey bounds)", lab.role);
            let labels = lab.symbols_for("kde", &refusal, &mut notes)?;
            let eng = engine(c.backend)?;
            kde(c)?.mi_labels(&cont.dataset()?, &labels, &eng)?
        }
        MiEstimator::Binned => mi_binned(c, &x, &y, &mut notes)?,
        MiEstimator::Discrete => {
            let refusal = |i: &Input| {
                format!(
                    "the discrete estimator would make every distinct row one symbol; mark it \
                     --discrete {} if that is what you mean, or use a continuous estimator \
                     (ksg1, or mixed with labels)",
                    i.role
                )
            };
            let xs = x.symbols_for("discrete", &refusal(&x), &mut notes)?;
            let ys = y.symbols_for("discrete", &refusal(&y), &mut notes)?;
            Discrete::params().units(u).check()?.mutual_info(&xs, &ys)?
        }
        MiEstimator::Gaussian => Gaussian::params()
            .units(u)
            .check()?
            .mi_datasets(&x.dataset()?, &y.dataset()?)?,
    };
    // The estimators name their quantities for layers (T); here the user gave X and Y.
    if z.is_none() {
        est.quantity = "I(X;Y)".into();
        for w in &mut est.diagnostics.warnings {
            for q in ["I(T;Y)", "I(X;T)"] {
                if let Some(rest) = w.strip_prefix(q) {
                    *w = format!("I(X;Y){rest}");
                }
            }
        }
    }
    notes.append(&mut est.diagnostics.notes);
    est.diagnostics.notes = notes;
    print_estimates(&[est], c.format)
}

/// `mi` with ksg1 or ksg2, and I(X;Y|Z) with `--z`: continuous arrays only.
fn mi_knn(
    c: &Common,
    estimator: MiEstimator,
    x: &Input,
    y: &Input,
    z: Option<&Input>,
) -> Result<Estimate> {
    let u = units(c.bits);
    let (name, variant) = if estimator == MiEstimator::Ksg1 {
        ("ksg1", KsgVariant::Ksg1)
    } else {
        ("ksg2", KsgVariant::Ksg2)
    };
    let instead = "--estimator discrete (both arrays discrete) or --estimator mixed \
                   (one continuous, one discrete)";
    for i in [Some(x), Some(y), z].into_iter().flatten() {
        i.require_continuous(name, instead)?;
    }
    let eng = engine(c.backend)?;
    let (xd, yd) = (x.dataset()?, y.dataset()?);
    let mut e = if let Some(z) = z {
        Cmi::params()
            .k(c.k)
            .variant(variant)
            .seed(c.seed)
            .standardize(c.standardize)
            .units(u)
            .check()?
            .estimate_datasets(&xd, &yd, &z.dataset()?, &eng)?
    } else {
        Ksg::params()
            .k(c.k)
            .variant(variant)
            .seed(c.seed)
            .standardize(c.standardize)
            .units(u)
            .check()?
            .estimate_datasets(&xd, &yd, &eng)?
    };
    // Integers run as measurements (--continuous) still bound I(X;Y) by their entropy.
    if z.is_none() {
        let mut b = Bounds::nonnegative(BoundKind::Statistical);
        for i in [x, y] {
            if let Some((h, what)) = i.integer_entropy_bound()? {
                b = b.at_most(h, what);
            }
        }
        if !b.upper.is_empty() {
            // The quantity's name as printed, for the warning.
            e.quantity = "I(X;Y)".into();
            infoplane::estimators::bounds::check_estimate(&mut e, &b);
        }
    }
    Ok(e)
}

/// `mi --estimator binned`: discrete arrays are symbols, never binned;
/// continuous ones are binned as asked.
fn mi_binned(c: &Common, x: &Input, y: &Input, notes: &mut Vec<String>) -> Result<Estimate> {
    let eng = engine(c.backend)?;
    let b = binned(c)?;
    let mut warnings: Vec<String> = [x, y]
        .iter()
        .filter_map(|i| i.binned_integers_warning())
        .collect();
    let mut e = match (x.is_discrete(), y.is_discrete()) {
        (false, false) => b.mi_datasets(&x.dataset()?, &y.dataset()?, &eng)?,
        (false, true) => b.mi_labels(&x.dataset()?, &y.symbols()?, &eng)?,
        (true, false) => {
            notes.push(format!(
                "{} is discrete: used as symbols, never binned; {} is binned",
                x.name(),
                y.name()
            ));
            b.mi_input(&y.dataset()?, &x.symbols()?, &eng)?
        }
        (true, true) => {
            notes.push("both arrays are discrete: used as symbols, never binned".into());
            let mut e = Discrete::params()
                .units(units(c.bits))
                .check()?
                .mutual_info(&x.symbols()?, &y.symbols()?)?;
            e.estimator = "binned".into();
            e.backend = infoplane::Kernels::backend(&eng);
            e.adapter = eng.device_name();
            e
        }
    };
    if y.is_discrete() && !x.is_discrete() {
        notes.push(format!(
            "{} is discrete: used as symbols, never binned",
            y.name()
        ));
    }
    warnings.append(&mut e.diagnostics.warnings);
    e.diagnostics.warnings = warnings;
    Ok(e)
}

fn entropy(a: EntropyArgs) -> Result<()> {
    let c = &a.common;
    check_roles(c)?;
    let x = Input::load(&a.x, "x", c)?;
    let u = units(c.bits);
    let mut notes = Vec::new();
    let estimator = match a.estimator {
        Some(e) => e,
        None => {
            let e = if x.is_discrete() {
                EntropyEstimator::Discrete
            } else {
                EntropyEstimator::Kl
            };
            notes.push(format!(
                "estimator chosen from the array's type (no --estimator): {} is {}: {}",
                x.name(),
                x.kind_words(),
                if x.is_discrete() {
                    "discrete (plug-in)"
                } else {
                    "kl (Kozachenko-Leonenko)"
                }
            ));
            e
        }
    };
    {
        use infoplane::memory::Work;
        let (n, dims) = (x.arr.n(), x.arr.d());
        let work = match estimator {
            EntropyEstimator::Kl => Work::Knn { n, dims, k: c.k },
            EntropyEstimator::Kde => Work::Kde { n, dims },
            _ => Work::Binned { n, dims },
        };
        state_memory(work, c.backend)?;
    }
    let mut est = match estimator {
        EntropyEstimator::Kl => {
            x.require_continuous("kl (Kozachenko-Leonenko)", "--estimator discrete")?;
            let eng = engine(c.backend)?;
            KnnEntropy::params()
                .k(c.k)
                .seed(c.seed)
                .standardize(c.standardize)
                .units(u)
                .check()?
                .estimate_dataset(&x.dataset()?, &eng)?
        }
        EntropyEstimator::Kde => {
            let eng = engine(c.backend)?;
            kde(c)?.entropy(&x.dataset()?, &eng)?
        }
        EntropyEstimator::Binned => {
            let eng = engine(c.backend)?;
            let b = binned(c)?;
            if x.is_discrete() {
                notes.push(format!(
                    "{} is discrete: used as symbols, never binned",
                    x.name()
                ));
                let mut e = Discrete::params()
                    .units(u)
                    .check()?
                    .entropy(&x.symbols()?)?;
                e.estimator = "binned".into();
                e
            } else {
                let mut e = b.entropy(&x.dataset()?, &eng)?;
                if let Some(w) = x.binned_integers_warning() {
                    e.diagnostics.warnings.insert(0, w);
                }
                e
            }
        }
        EntropyEstimator::Gaussian => Gaussian::params()
            .units(u)
            .check()?
            .entropy_dataset(&x.dataset()?)?,
        EntropyEstimator::Discrete => {
            let refusal = "the discrete estimator would make every distinct row one symbol \
                           (H would be about ln n and say nothing); mark it --discrete x if \
                           that is what you mean, or use --estimator kl or binned";
            let s = x.symbols_for("discrete", refusal, &mut notes)?;
            Discrete::params().units(u).check()?.entropy(&s)?
        }
    };
    est.quantity = "H(X)".into();
    notes.append(&mut est.diagnostics.notes);
    est.diagnostics.notes = notes;
    print_estimates(&[est], c.format)
}

const ESTIMATE_CSV_HEADER: &str =
    "quantity,estimator,value,lower,units,n,dims,k,backend,adapter,seconds,seed";

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn print_estimates(ests: &[Estimate], format: Format) -> Result<()> {
    // Warnings go to stderr in every format, so that a pipe of JSON or CSV
    // still shows them on the terminal.
    for e in ests {
        for w in &e.diagnostics.warnings {
            eprintln!("warning: {w}");
        }
    }
    let unit = |e: &Estimate| match e.units {
        Units::Nats => "nats",
        Units::Bits => "bits",
    };
    match format {
        Format::Json => {
            for e in ests {
                println!("{}", serde_json::to_string(e)?);
            }
        }
        Format::Csv => {
            println!("{ESTIMATE_CSV_HEADER}");
            for e in ests {
                let dims: Vec<String> = e.dims.iter().map(|d| d.to_string()).collect();
                println!(
                    "{},{},{},{},{},{},{},{},{},{},{},{}",
                    csv_field(&e.quantity),
                    e.estimator,
                    e.value,
                    e.lower.map(|v| v.to_string()).unwrap_or_default(),
                    unit(e),
                    e.n,
                    dims.join("x"),
                    e.k.map(|v| v.to_string()).unwrap_or_default(),
                    e.backend,
                    csv_field(&e.adapter),
                    e.seconds,
                    e.seed.map(|v| v.to_string()).unwrap_or_default()
                );
            }
        }
        Format::Text => {
            for e in ests {
                let bound = match e.lower {
                    Some(l) => format!(" (upper bound; lower bound {l:.6})"),
                    None => String::new(),
                };
                let k = e.k.map(|k| format!(", k = {k}")).unwrap_or_default();
                let dims: Vec<String> = e.dims.iter().map(|d| d.to_string()).collect();
                println!("{} = {:.6} {}{bound}", e.quantity, e.value, unit(e));
                println!(
                    "  estimator {}{k}, n = {}, dims {}, backend {} ({}), {:.3} s",
                    e.estimator,
                    e.n,
                    dims.join("x"),
                    e.backend,
                    e.adapter,
                    e.seconds
                );
                for (name, dup) in e.diagnostics.duplicates.iter().filter(|d| d.1 > 0) {
                    println!("  {name}: {dup} duplicate rows");
                }
                if let Some(noise) = e.diagnostics.noise {
                    println!(
                        "  tie-breaking moved tied values by at most {noise:e} of their column's range, seed {}",
                        e.seed.unwrap_or(0)
                    );
                }
                for n in &e.diagnostics.notes {
                    println!("  note: {n}");
                }
            }
        }
    }
    Ok(())
}

/// A progress bar on a terminal; hidden when stderr is piped.
fn progress_bar(len: u64, what: &str) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::with_draw_target(
        Some(len),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} ({eta})")
    {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(what.to_string());
    pb
}

/// `binned, binned_adaptive, kde` for the memory statement.
fn method_names(opts: &PlaneOptions) -> String {
    opts.methods
        .iter()
        .map(|m| m.label())
        .collect::<Vec<_>>()
        .join(", ")
}

/// One progress bar for both passes of `plane::compute_plane`.
fn plane_progress(pb: &indicatif::ProgressBar) -> impl FnMut(plane::Progress) + '_ {
    move |p| match p {
        plane::Progress::Ranging { done, total } => {
            pb.set_message("ranging");
            pb.set_length(total as u64);
            pb.set_position(done as u64);
        }
        plane::Progress::Estimating { done, total } => {
            pb.set_message("estimating");
            pb.set_length(total as u64);
            pb.set_position(done as u64);
        }
    }
}

/// `layer1 [0, 3.81], layer2 [...]` for stderr.
fn ranges_line(ranges: &[plane::LayerRange]) -> String {
    ranges
        .iter()
        .map(|r| format!("{} [{}, {}]", r.layer, r.lo, r.hi))
        .collect::<Vec<_>>()
        .join(", ")
}

fn plane_cmd(a: PlaneArgs) -> Result<()> {
    if a.bins == 0 {
        return Err(Error::param("bins", "must be at least 1, got 0").into());
    }
    let units = resolve_units(a.units, a.bits, a.nats, Units::Bits)?;
    let binning = match a.binning {
        None => plane::BinningChoice::Both,
        Some(BinningArg::Equal) => plane::BinningChoice::Equal,
        Some(BinningArg::Adaptive) => plane::BinningChoice::Adaptive,
    };
    let given_range = match a.range.as_deref() {
        Some(r) => Some(parse_range(Some(r))?),
        None => None,
    };
    let mut opts = PlaneOptions {
        methods: plane::parse_methods_with(
            a.estimators.as_deref().unwrap_or(if a.run.is_some() {
                "binned,kde,mixed"
            } else {
                "binned"
            }),
            binning,
        )?,
        bins: a.bins,
        range: match given_range {
            Some((lo, hi)) => plane::BinRange::Fixed { lo, hi },
            None => plane::BinRange::Observed,
        },
        sigma2: a.sigma2,
        k: a.k,
        seed: a.seed,
        units,
    };
    let binned_in = |opts: &PlaneOptions| {
        opts.methods
            .iter()
            .any(|m| matches!(m, plane::PlaneMethod::Binned | plane::PlaneMethod::Adaptive))
    };
    if a.binning.is_some() && a.estimators.is_some() && !binned_in(&opts) {
        return Err(Error::param(
            "binning",
            "--binning chooses the binnings of the `binned` estimator, which --estimators does not include",
        )
        .into());
    }
    // Checked before any work, so a bad flag fails at once.
    opts.layer_methods()?;
    let started = std::time::Instant::now();
    let mut settings = report::PlaneSettings {
        infoplane_version: env!("CARGO_PKG_VERSION").to_string(),
        command: std::env::args().collect(),
        title: String::new(),
        source: String::new(),
        run: None,
        inputs: None,
        labels: None,
        experiment: None,
        n: 0,
        epochs: Vec::new(),
        layers: Vec::new(),
        estimators: Vec::new(),
        binning: report::BinningSettings {
            bins: a.bins,
            rule: String::new(),
            reason: String::new(),
            range: None,
            layers: Vec::new(),
        },
        kde_sigma2: opts.kde_variance()?,
        k: a.k,
        seed: a.seed,
        units,
        h_x: 0.0,
        h_y: 0.0,
        backend: Backend::Cpu,
        adapter: String::new(),
    };
    let (out, xs, ys, eng) = match &a.run {
        Some(dir) => {
            let layout = RunLayout::discover(dir, a.x.as_deref(), a.y.as_deref())?;
            let xa = io::load(&layout.x.to_string_lossy())?;
            let ya = io::load(&layout.y.to_string_lossy())?;
            if ya.n() != xa.n() {
                return Err(Error::shape(
                    format!("labels Y ({})", layout.y.display()),
                    format!("{} rows like the inputs X ({})", xa.n(), layout.x.display()),
                    format!("{} rows", ya.n()),
                )
                .into());
            }
            let xs = plane::input_symbols(&xa)?;
            let ys = plane::label_symbols(&ya)?;
            // The first epoch gives the layer shapes (later epochs stream
            // through one at a time); it is kept for the computation.
            let mut first = Some(layout.load_epoch(0)?);
            let layers = first.as_deref().unwrap_or_default();
            let dims: Vec<usize> = layers.iter().map(|(_, t)| t.d()).collect();
            let n = xa.n();
            let held: u64 = layers
                .iter()
                .map(|(_, t)| (t.values().len() as u64).saturating_mul(4))
                .sum();
            let resident = array_bytes(&xa)
                .saturating_add(array_bytes(&ya))
                .saturating_add(n as u64 * 8)
                .saturating_add(held);
            let eng = engine(a.backend)?;
            let gpu = infoplane::Kernels::backend(&eng) == Backend::Gpu;
            let need = plane::memory_need(&opts, n, &dims, resident, gpu);
            state_plane_memory(
                &need,
                &format!(
                    "{n} rows, {} epochs of {} layers ({:?} columns), estimators {}",
                    layout.epochs.len(),
                    dims.len(),
                    dims,
                    method_names(&opts)
                ),
                "use fewer rows or columns per layer",
            )?;
            if opts.needs_range_pass() {
                eprintln!(
                    "infoplane: binned: each layer is binned on [min(0, min), max] of its \
                     activations over all {} epochs; a first pass reads every epoch once more \
                     to find them (--range LO,HI skips it)",
                    layout.epochs.len()
                );
            }
            let epochs: Vec<usize> = layout.epochs.iter().map(|e| e.0).collect();
            let pb = progress_bar(epochs.len() as u64, "estimating");
            let out = plane::compute_plane(
                &epochs,
                |i| match first.take() {
                    Some(layers) if i == 0 => Ok(layers),
                    _ => layout.load_epoch(i),
                },
                &xs,
                &ys,
                &opts,
                &eng,
                plane_progress(&pb),
            )?;
            pb.finish_and_clear();
            settings.title = format!("Information plane of {}", dir.display());
            settings.source = "run".into();
            settings.run = Some(dir.display().to_string());
            settings.inputs = Some(layout.x.display().to_string());
            settings.labels = Some(layout.y.display().to_string());
            settings.binning.reason = match given_range {
                Some(_) => "--range: one range for every layer".into(),
                None => "each layer's [min(0, min), max] over every epoch of the run \
                         (Saxe et al. 2018), found by a first pass over the epochs"
                    .into(),
            };
            (out, xs, ys, eng)
        }
        None => {
            if a.x.is_some() || a.y.is_some() {
                return Err(Error::param(
                    "x",
                    "--x and --y go with --run DIR (the built-in experiment makes its own)",
                )
                .into());
            }
            let activation = match a.activation {
                ActivationArg::Tanh => Activation::Tanh,
                ActivationArg::Relu => Activation::Relu,
            };
            let cfg = DemoConfig {
                epochs: a.epochs,
                activation,
                seed: a.seed,
                records: a.records,
                ..DemoConfig::default()
            };
            cfg.check()?;
            if given_range.is_none() && activation == Activation::Tanh {
                // tanh units lie in [-1, 1]: Shwartz-Ziv & Tishby's bins.
                opts.range = plane::BinRange::Fixed { lo: -1.0, hi: 1.0 };
            }
            eprintln!(
                "infoplane: built-in experiment (Shwartz-Ziv & Tishby 2017): 4096 12-bit inputs, \
                 {activation} network 12-10-7-5-4-3-2, SGD for {} epochs",
                cfg.epochs
            );
            // The device is opened before training, so that a failing one is
            // reported (or, under auto, replaced) before minutes of work.
            let eng = engine(a.backend)?;
            let gpu = infoplane::Kernels::backend(&eng) == Backend::Gpu;
            if a.estimators.is_none() && gpu {
                // On a GPU the KDE and kNN sums over 4096 points take seconds, not minutes.
                opts.methods = plane::parse_methods_with("binned,kde,mixed", binning)?;
            }
            {
                let n = 1usize << demo::BITS;
                let records = cfg.records.min(cfg.epochs.saturating_add(1));
                let resident = cfg.host_bytes().saturating_add(n as u64 * 8);
                let need = plane::memory_need(&opts, n, &demo::WIDTHS[1..], resident, gpu);
                state_plane_memory(
                    &need,
                    &format!(
                        "up to {records} recorded epochs of 6 layers, {n} rows, estimators {}",
                        method_names(&opts)
                    ),
                    "record fewer epochs (--records)",
                )?;
            }
            let pb = progress_bar(cfg.epochs as u64, "training");
            let run = demo::run(&cfg, |e| {
                if e % 16 == 0 {
                    pb.set_position(e as u64);
                }
            })?;
            pb.finish_and_clear();
            eprintln!(
                "infoplane: trained; held-out accuracy {:.1}% at epoch {}",
                100.0 * run.test_accuracy.last().copied().unwrap_or(0.0),
                cfg.epochs
            );
            let xs = Symbols::from_dataset(&run.x)?;
            let ys = Symbols::from_labels(&run.y);
            let pb = progress_bar(run.epochs.len() as u64, "estimating");
            let out = plane::compute_plane(
                &run.epochs,
                |i| {
                    Ok(run
                        .layers
                        .iter()
                        .cloned()
                        .zip(run.activations[i].iter().cloned())
                        .collect::<Vec<(String, Dataset)>>())
                },
                &xs,
                &ys,
                &opts,
                &eng,
                plane_progress(&pb),
            )?;
            pb.finish_and_clear();
            settings.title =
                format!("Information plane: 12-bit task, {activation} 12-10-7-5-4-3-2, SGD");
            settings.source = "built-in".into();
            settings.experiment = Some(report::ExperimentSettings {
                activation: activation.to_string(),
                widths: demo::WIDTHS.to_vec(),
                epochs: cfg.epochs,
                records: cfg.records,
                seed: cfg.seed,
                learning_rate: cfg.learning_rate,
                batch: cfg.batch,
                test_accuracy: run.test_accuracy.clone(),
            });
            settings.binning.reason = match (given_range, activation) {
                (Some(_), _) => "--range: one range for every layer".into(),
                (None, Activation::Tanh) => {
                    "tanh units lie in [-1, 1]: Shwartz-Ziv & Tishby's 30 bins on [-1, 1]".into()
                }
                (None, Activation::Relu) => "ReLU units are unbounded above: each layer's \
                     [min(0, min), max] over every recorded epoch (Saxe et al. 2018)"
                    .into(),
            };
            (out, xs, ys, eng)
        }
    };
    let rows = out.rows;
    if opts.methods.contains(&plane::PlaneMethod::Binned) {
        eprintln!(
            "infoplane: binned ranges ({}): {}",
            opts.range.rule(),
            ranges_line(&out.ranges)
        );
    }
    for r in out.ranges.iter().filter(|r| r.clamped > 0) {
        eprintln!(
            "warning: binned: layer {}: {} of {} values ({:.3} %) over the epochs lie outside the \
             binning range [{}, {}] (the layer spans [{}, {}]) and were clamped into the end bins, \
             which lowers its binned H(T), I(X;T) and I(T;Y){}",
            r.layer,
            r.clamped,
            r.values,
            100.0 * r.clamped as f64 / r.values.max(1) as f64,
            r.lo,
            r.hi,
            r.min,
            r.max,
            if given_range.is_some() {
                "; without --range each layer is binned on its own range"
            } else {
                ""
            }
        );
    }
    settings.n = xs.n();
    settings.epochs = rows.iter().map(|r| r.epoch).collect();
    settings.epochs.dedup();
    for r in &rows {
        if !settings.layers.contains(&r.layer) {
            settings.layers.push(r.layer.clone());
        }
    }
    settings.estimators = opts
        .methods
        .iter()
        .map(|m| report::EstimatorSettings {
            label: m.label().to_string(),
            name: m.name().to_string(),
        })
        .collect();
    settings.binning.rule = opts.range.rule().to_string();
    settings.binning.range = match opts.range {
        plane::BinRange::Fixed { lo, hi } => Some([lo, hi]),
        plane::BinRange::Observed => None,
    };
    settings.binning.layers = out.ranges;
    let plugin = infoplane::estimators::discrete::entropy_nats;
    settings.h_x = units.from_nats(plugin(&xs, false));
    settings.h_y = units.from_nats(plugin(&ys, false));
    settings.backend = infoplane::Kernels::backend(&eng);
    settings.adapter = eng.device_name();
    let bounds = report::PlotBounds {
        h_x_bits: Some(Units::Bits.from_nats(plugin(&xs, false))),
        h_y_bits: Some(Units::Bits.from_nats(plugin(&ys, false))),
    };
    for (est, c) in report::clipped_for_drawing(&rows, &bounds) {
        if c > 0 {
            eprintln!(
                "infoplane: plot: {c} {est} points lie outside [0, H(X)] x [0, H(Y)] (estimator \
                 excursions) and are drawn on the bound, ringed; plane.csv keeps the raw values"
            );
        }
    }
    let written = report::write_plane_record(&a.out, &rows, &settings)?;
    eprintln!(
        "infoplane: {} rows in {:.1} s; wrote:",
        rows.len(),
        started.elapsed().as_secs_f64()
    );
    for p in written {
        println!("{}", p.display());
    }
    Ok(())
}

fn devices(a: DevicesArgs) -> Result<()> {
    let adapters = list_adapters();
    match a.format {
        Format::Json => {
            let auto = adapters
                .iter()
                .find(|d| d.auto_pick)
                .map(|d| d.name.clone());
            let v = serde_json::json!({
                "adapters": adapters,
                "auto": auto.unwrap_or_else(|| "cpu".into()),
            });
            println!("{}", serde_json::to_string(&v)?);
        }
        Format::Csv => {
            println!("name,backend,device_type,driver,driver_info,is_software,auto_pick,max_storage_binding_bytes,max_buffer_bytes,max_workgroups_per_dim,max_workgroup_storage_bytes,max_invocations_per_workgroup");
            for d in &adapters {
                println!(
                    "{},{},{},{},{},{},{},{},{},{},{},{}",
                    csv_field(&d.name),
                    d.backend,
                    d.device_type,
                    csv_field(&d.driver),
                    csv_field(&d.driver_info),
                    d.is_software,
                    d.auto_pick,
                    d.max_storage_binding_bytes,
                    d.max_buffer_bytes,
                    d.max_workgroups_per_dim,
                    d.max_workgroup_storage_bytes,
                    d.max_invocations_per_workgroup
                );
            }
        }
        Format::Text => {
            if adapters.is_empty() {
                println!("no GPU adapter found on Vulkan, Metal or DX12");
            }
            for d in &adapters {
                println!(
                    "{}{}",
                    d.name,
                    if d.auto_pick {
                        "   <- picked by --backend auto"
                    } else {
                        ""
                    }
                );
                println!(
                    "  backend {}, type {}{}, driver {} {}",
                    d.backend,
                    d.device_type,
                    if d.is_software { " (software)" } else { "" },
                    d.driver,
                    d.driver_info
                );
                println!(
                    "  max storage binding {} MiB, max buffer {} MiB, {} workgroups per dimension, {} KiB workgroup memory, {} invocations per workgroup",
                    d.max_storage_binding_bytes >> 20,
                    d.max_buffer_bytes >> 20,
                    d.max_workgroups_per_dim,
                    d.max_workgroup_storage_bytes >> 10,
                    d.max_invocations_per_workgroup
                );
            }
            if !adapters.iter().any(|d| d.auto_pick) {
                println!("--backend auto uses the CPU twins (no hardware adapter); --backend gpu takes a software adapter when there is one");
            }
        }
    }
    Ok(())
}

/// The GPU engine `check` and `bench` compare: the hardware adapter `auto` picks,
/// else any adapter (a software one such as lavapipe).
fn gpu_engine() -> Result<Option<Engine>> {
    match Engine::new(BackendChoice::Auto) {
        Ok(e) if infoplane::Kernels::backend(&e) == Backend::Gpu => return Ok(Some(e)),
        Ok(_) => {}
        Err(e) => return Err(e.into()),
    }
    match Engine::new(BackendChoice::Gpu) {
        Ok(e) => Ok(Some(e)),
        Err(e) => {
            log::warn!("no GPU adapter: {e}");
            Ok(None)
        }
    }
}

/// Gaussian rows: Y = 0.6 X + 0.8 noise, so the MI estimators see real dependence.
fn generated(n: usize, d: usize, seed: u64) -> Result<(Dataset, Dataset), Error> {
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};
    if n < 4 || d == 0 {
        return Err(Error::param(
            "n/d",
            format!("generated data needs n >= 4 and d >= 1, got n = {n}, d = {d}"),
        ));
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let x: Vec<f32> = (0..n * d)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    let y: Vec<f32> = x
        .iter()
        .map(|&v| {
            let e: f32 = StandardNormal.sample(&mut rng);
            0.6 * v + 0.8 * e
        })
        .collect();
    Ok((
        Dataset::new("generated X", x, n, d)?,
        Dataset::new("generated Y", y, n, d)?,
    ))
}

fn check_cmd(a: CheckArgs) -> Result<()> {
    use infoplane::check::{
        check_estimators, check_inputs, check_kernels, render_csv, render_text,
    };
    let (x, y) = match &a.x {
        Some(xs) => {
            let x = io::load(xs)?.to_dataset()?;
            let y =
                a.y.as_deref()
                    .map(|s| io::load(s).and_then(|v| v.to_dataset()))
                    .transpose()?;
            (x, y)
        }
        None => {
            if a.y.is_some() {
                return Err(
                    Error::param("y", "--y needs --x (without --x, check generates both)").into(),
                );
            }
            let (x, y) = generated(a.n, a.d, a.seed)?;
            (x, Some(y))
        }
    };
    check_inputs(&x, y.as_ref())?;
    let Some(gpu) = gpu_engine()? else {
        anyhow::bail!("no GPU adapter on Vulkan, Metal or DX12: nothing to cross-check against the CPU (install mesa-vulkan-drivers for a software adapter)");
    };
    let cpu = Engine::cpu();
    eprintln!(
        "infoplane check: CPU twins vs {} on {} rows",
        gpu.device_name(),
        x.n()
    );
    let mut report = check_kernels(
        &cpu,
        &gpu,
        &gpu.device_name(),
        x.rows(),
        y.as_ref().map(|y| y.rows()),
        a.k,
    )?;
    let none = a.estimators.iter().any(|e| e == "none");
    if !none {
        report.cases.extend(check_estimators(
            &cpu,
            &gpu,
            &x,
            y.as_ref(),
            a.k,
            a.seed,
            &a.estimators,
        )?);
    }
    match a.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string(&serde_json::json!({
                "pass": report.pass(),
                "report": report,
            }))?
        ),
        Format::Csv => print!("{}", render_csv(&report)),
        Format::Text => print!("{}", render_text(&report)),
    }
    if !report.pass() {
        let failed = report.cases.iter().filter(|c| !c.pass).count();
        anyhow::bail!(
            "{failed} of {} cases disagree between the CPU twins and the GPU",
            report.cases.len()
        );
    }
    Ok(())
}

fn bench_cmd(a: BenchArgs) -> Result<()> {
    use infoplane::bench::{render_csv, render_text, run_bench, system_info, BenchOptions};
    let mut opts = if a.quick {
        BenchOptions::quick()
    } else {
        BenchOptions::full()
    };
    if !a.sizes.is_empty() {
        opts.sizes = a
            .sizes
            .iter()
            .map(|s| {
                let bad = || {
                    Error::param(
                        "sizes",
                        format!("expected NxD with N >= 2 and D >= 1, got `{s}`"),
                    )
                };
                let (n, d) = s.split_once('x').ok_or_else(bad)?;
                let (n, d): (usize, usize) =
                    (n.parse().map_err(|_| bad())?, d.parse().map_err(|_| bad())?);
                if n < 2 || d == 0 {
                    return Err(bad());
                }
                Ok((n, d))
            })
            .collect::<Result<_, Error>>()?;
    }
    if let Some(r) = a.repeats {
        if r == 0 {
            return Err(Error::param("repeats", "must be at least 1, got 0").into());
        }
        opts.repeats = r;
    }
    opts.k = a.k;
    opts.only = a.cases.clone();
    for b in &a.backends {
        if b != "cpu" && b != "gpu" {
            return Err(
                Error::param("backends", format!("expected cpu and/or gpu, got `{b}`")).into(),
            );
        }
    }
    let want = |b: &str| a.backends.is_empty() || a.backends.iter().any(|x| x == b);
    let mut engines = Vec::new();
    if want("cpu") {
        engines.push(Engine::cpu());
    }
    if want("gpu") {
        match gpu_engine()? {
            Some(g) => engines.push(g),
            None if !a.backends.is_empty() => anyhow::bail!("--backends gpu: no GPU adapter"),
            None => eprintln!("infoplane bench: no GPU adapter; CPU only"),
        }
    }
    let refs: Vec<&Engine> = engines.iter().collect();
    let info = system_info();
    let n_cases = if opts.only.is_empty() {
        infoplane::bench::CASES.len()
    } else {
        opts.only.len()
    };
    let pb = progress_bar((opts.sizes.len() * n_cases * refs.len()) as u64, "bench");
    let rows = run_bench(&refs, &opts, |case| {
        pb.set_message(case.to_string());
        pb.inc(1);
    })?;
    pb.finish_and_clear();
    match a.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string(&serde_json::json!({ "system": info, "rows": rows }))?
        ),
        Format::Csv => print!("{}", render_csv(&info, &rows)),
        Format::Text => print!("{}", render_text(&info, &rows)),
    }
    Ok(())
}
