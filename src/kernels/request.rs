//! Kernel calls checked and planned once, above the backends.
//!
//! Why: both backends must reject the same inputs with the same words, and a
//! plan is the only thing that cuts work (STYLE.md rules 4 and 6). So every
//! call of [`Kernels`] becomes a *request* here, validated by its `check`
//! constructor (one rule, one message, named by field), and the request
//! makes its [`TilePlan`] from the limits of the backend about to run it.
//! A backend implements [`Compute`]: it receives a checked request and its
//! plan and only computes. [`Engine`](super::Engine) checks once and plans
//! again only when it falls back to the CPU twins (whose limits differ).
//! Both stand on one implementation of [`Kernels`], for every [`Execute`].

use super::plan::{KernelKind, Limits, TilePlan, MAX_K};
use super::{Backend, BinOut, Binning, CountSpec, Kernels, KnnOut, KnnSpec, Metric, Rows};
use crate::error::{Error, Result};

/// What a backend does: compute a checked request under a plan of its limits.
pub(crate) trait Compute: Send + Sync {
    /// Which backend this is.
    fn backend(&self) -> Backend;
    /// A name for the device that runs the kernels.
    fn device_name(&self) -> String;
    /// The limits the backend's plans honour.
    fn limits(&self) -> &Limits;
    /// The row width the backend's buffers hold for rows of `d` columns
    /// under `metric` (the GPU pads every column block to whole vec4s).
    fn row_width(&self, _metric: &Metric, d: usize) -> usize {
        d
    }
    /// [`Kernels::knn`] of a checked request.
    fn knn(&self, req: &KnnRequest<'_>, plan: &TilePlan) -> Result<KnnOut>;
    /// [`Kernels::radius_count`] of a checked request.
    fn radius_count(&self, req: &CountRequest<'_>, plan: &TilePlan) -> Result<Vec<u32>>;
    /// [`Kernels::kde_lse`] of a checked request.
    fn kde_lse(&self, req: &KdeRequest<'_>, plan: &TilePlan) -> Result<Vec<f32>>;
    /// [`Kernels::bin`] of a checked request.
    fn bin(&self, req: &BinRequest<'_>, plan: &TilePlan) -> Result<BinOut>;
    /// [`Kernels::pairwise`] of a checked request.
    fn pairwise(&self, req: &PairwiseRequest<'_>, plan: &TilePlan) -> Result<Vec<f32>>;
}

/// What a plan is made from: the kernel and its shapes.
pub(crate) struct Shape<'a> {
    kernel: KernelKind,
    n_query: usize,
    n_ref: usize,
    d: usize,
    /// The metric whose column blocks set the backend's row width (none: `d`).
    metric: Option<&'a Metric>,
    k: usize,
    bin_edges: usize,
}

/// A checked kernel call.
pub(crate) trait Request {
    /// What the kernel returns.
    type Out;
    /// Which kernel.
    const KERNEL: KernelKind;
    /// The shapes the plan is made from.
    fn shape(&self) -> Shape<'_>;
    /// Runs the request on `backend` under `plan`.
    fn compute(&self, backend: &dyn Compute, plan: &TilePlan) -> Result<Self::Out>;

    /// The plan of this request on `backend`.
    fn plan(&self, backend: &dyn Compute) -> Result<TilePlan> {
        let s = self.shape();
        let width = s.metric.map_or(s.d, |m| backend.row_width(m, s.d));
        let limits = backend.limits();
        TilePlan::new(
            s.kernel,
            s.n_query,
            s.n_ref,
            width,
            s.k,
            s.bin_edges,
            limits,
        )
    }

    /// Plans the request on `backend` and runs it there.
    fn run(&self, backend: &dyn Compute) -> Result<Self::Out> {
        let plan = self.plan(backend)?;
        self.compute(backend, &plan)
    }
}

/// What runs checked requests: every backend (plan, then compute), and the
/// [`Engine`](super::Engine) (the current backend, with its fallback).
pub(crate) trait Execute: Send + Sync {
    /// Which backend runs the next call.
    fn backend(&self) -> Backend;
    /// A name for the device that runs the kernels.
    fn device_name(&self) -> String;
    /// Runs a checked request.
    fn execute<R: Request>(&self, req: &R) -> Result<R::Out>;
}

impl<B: Compute> Execute for B {
    fn backend(&self) -> Backend {
        Compute::backend(self)
    }
    fn device_name(&self) -> String {
        Compute::device_name(self)
    }
    fn execute<R: Request>(&self, req: &R) -> Result<R::Out> {
        req.run(self)
    }
}

/// The one implementation of [`Kernels`]: every call is checked here, once,
/// and executed.
impl<E: Execute> Kernels for E {
    fn backend(&self) -> Backend {
        Execute::backend(self)
    }
    fn device_name(&self) -> String {
        Execute::device_name(self)
    }
    fn knn(&self, q: Rows<'_>, r: Rows<'_>, spec: &KnnSpec) -> Result<KnnOut> {
        self.execute(&KnnRequest::check(q, r, spec)?)
    }
    fn radius_count(
        &self,
        q: Rows<'_>,
        r: Rows<'_>,
        radii: &[f32],
        spec: &CountSpec,
    ) -> Result<Vec<u32>> {
        self.execute(&CountRequest::check(q, r, radii, spec)?)
    }
    fn kde_lse(
        &self,
        q: Rows<'_>,
        r: Rows<'_>,
        scale: f32,
        exclude_self: bool,
    ) -> Result<Vec<f32>> {
        self.execute(&KdeRequest::check(q, r, scale, exclude_self)?)
    }
    fn bin(&self, rows: Rows<'_>, binning: &Binning) -> Result<BinOut> {
        self.execute(&BinRequest::check(rows, binning)?)
    }
    fn pairwise(&self, q: Rows<'_>, r: Rows<'_>, metric: &Metric) -> Result<Vec<f32>> {
        self.execute(&PairwiseRequest::check(q, r, metric)?)
    }
}

/// The rule on k, for the kernels and the estimators' parameters alike:
/// `1 <= k <= MAX_K`.
pub fn check_k(k: usize) -> Result<()> {
    if k == 0 {
        return Err(Error::param("k", "must be at least 1, got 0"));
    }
    if k > MAX_K {
        return Err(Error::param(
            "k",
            format!("must be at most {MAX_K}, got {k}"),
        ));
    }
    Ok(())
}

/// A checked call of a query × reference kernel: its rows, and what else
/// the kernel takes (`A`).
pub(crate) struct Pair<'a, A> {
    q: Rows<'a>,
    r: Rows<'a>,
    args: A,
}

impl<'a, A> Pair<'a, A> {
    /// The rules of every pair kernel: query and reference rows of the same
    /// width; self-exclusion needs as many of each.
    fn check_rows(
        kernel: KernelKind,
        q: Rows<'a>,
        r: Rows<'a>,
        exclude_self: bool,
        args: A,
    ) -> Result<Self> {
        let kernel = kernel.name();
        if q.d() != r.d() {
            return Err(Error::shape(
                format!("{kernel}: reference rows"),
                format!("{} columns like the query rows", q.d()),
                format!("{} columns", r.d()),
            ));
        }
        if exclude_self && q.n() != r.n() {
            return Err(Error::shape(
                format!("{kernel}: exclude-self"),
                "as many query rows as reference rows",
                format!("{} queries and {} references", q.n(), r.n()),
            ));
        }
        Ok(Pair { q, r, args })
    }

    /// Query rows.
    pub fn q(&self) -> Rows<'a> {
        self.q
    }

    /// Reference rows.
    pub fn r(&self) -> Rows<'a> {
        self.r
    }

    /// The plan's shapes for these rows under `metric` (`k` for knn).
    fn shape_of<'s>(&self, kernel: KernelKind, metric: &'s Metric, k: usize) -> Shape<'s> {
        Shape {
            kernel,
            n_query: self.q.n(),
            n_ref: self.r.n(),
            d: self.q.d(),
            metric: Some(metric),
            k,
            bin_edges: 0,
        }
    }
}

/// A checked [`Kernels::knn`] call.
pub(crate) type KnnRequest<'a> = Pair<'a, &'a KnnSpec>;

impl<'a> KnnRequest<'a> {
    /// The pair rules, the metric's blocks, [`check_k`] and k within the
    /// available references.
    pub fn check(q: Rows<'a>, r: Rows<'a>, spec: &'a KnnSpec) -> Result<Self> {
        let req = Pair::check_rows(KernelKind::Knn, q, r, spec.exclude_self, spec)?;
        spec.metric.check_dim(q.d())?;
        check_k(spec.k)?;
        let available = r.n() - usize::from(spec.exclude_self && r.n() > 0);
        if spec.k > available {
            let ex = spec.exclude_self;
            return Err(Error::param(
                "k",
                format!(
                    "k = {} needs at least {} reference rows{}, got {}",
                    spec.k,
                    spec.k + usize::from(ex),
                    if ex {
                        " (the point itself excluded)"
                    } else {
                        ""
                    },
                    r.n()
                ),
            ));
        }
        Ok(req)
    }

    /// k, metric, self-exclusion, indices.
    pub fn spec(&self) -> &'a KnnSpec {
        self.args
    }
}

impl Request for KnnRequest<'_> {
    type Out = KnnOut;
    const KERNEL: KernelKind = KernelKind::Knn;
    fn shape(&self) -> Shape<'_> {
        self.shape_of(Self::KERNEL, &self.args.metric, self.args.k)
    }
    fn compute(&self, backend: &dyn Compute, plan: &TilePlan) -> Result<KnnOut> {
        backend.knn(self, plan)
    }
}

/// What [`Kernels::radius_count`] takes besides the rows.
pub(crate) struct Radii<'a> {
    radii: &'a [f32],
    spec: &'a CountSpec,
}

/// A checked [`Kernels::radius_count`] call.
pub(crate) type CountRequest<'a> = Pair<'a, Radii<'a>>;

impl<'a> CountRequest<'a> {
    /// The pair rules, the metric's blocks and one radius per query.
    pub fn check(q: Rows<'a>, r: Rows<'a>, radii: &'a [f32], spec: &'a CountSpec) -> Result<Self> {
        let req = Pair::check_rows(
            KernelKind::RadiusCount,
            q,
            r,
            spec.exclude_self,
            Radii { radii, spec },
        )?;
        spec.metric.check_dim(q.d())?;
        if radii.len() != q.n() {
            return Err(Error::shape(
                "radius_count: radii",
                format!("one radius per query ({})", q.n()),
                format!("{} radii", radii.len()),
            ));
        }
        Ok(req)
    }

    /// One radius per query.
    pub fn radii(&self) -> &'a [f32] {
        self.args.radii
    }

    /// Metric, boundary, self-exclusion.
    pub fn spec(&self) -> &'a CountSpec {
        self.args.spec
    }
}

impl Request for CountRequest<'_> {
    type Out = Vec<u32>;
    const KERNEL: KernelKind = KernelKind::RadiusCount;
    fn shape(&self) -> Shape<'_> {
        self.shape_of(Self::KERNEL, &self.args.spec.metric, 0)
    }
    fn compute(&self, backend: &dyn Compute, plan: &TilePlan) -> Result<Vec<u32>> {
        backend.radius_count(self, plan)
    }
}

/// What [`Kernels::kde_lse`] takes besides the rows.
pub(crate) struct Kde {
    scale: f32,
    exclude_self: bool,
    /// The kernel's distance: squared Euclidean over the whole row.
    metric: Metric,
}

/// A checked [`Kernels::kde_lse`] call.
pub(crate) type KdeRequest<'a> = Pair<'a, Kde>;

impl<'a> KdeRequest<'a> {
    /// The pair rules and a finite positive scale.
    pub fn check(q: Rows<'a>, r: Rows<'a>, scale: f32, exclude_self: bool) -> Result<Self> {
        let metric = Metric::sq_euclidean();
        let args = Kde {
            scale,
            exclude_self,
            metric,
        };
        let req = Pair::check_rows(KernelKind::KdeLse, q, r, exclude_self, args)?;
        if !(scale.is_finite() && scale > 0.0) {
            return Err(Error::param(
                "scale",
                format!("must be finite and > 0, got {scale}"),
            ));
        }
        Ok(req)
    }

    /// The factor of the squared distances, finite and positive.
    pub fn scale(&self) -> f32 {
        self.args.scale
    }

    /// Whether query i skips reference i.
    pub fn exclude_self(&self) -> bool {
        self.args.exclude_self
    }

    /// Squared Euclidean over the whole row.
    pub fn metric(&self) -> &Metric {
        &self.args.metric
    }
}

impl Request for KdeRequest<'_> {
    type Out = Vec<f32>;
    const KERNEL: KernelKind = KernelKind::KdeLse;
    fn shape(&self) -> Shape<'_> {
        self.shape_of(Self::KERNEL, &self.args.metric, 0)
    }
    fn compute(&self, backend: &dyn Compute, plan: &TilePlan) -> Result<Vec<f32>> {
        backend.kde_lse(self, plan)
    }
}

/// A checked [`Kernels::pairwise`] call.
pub(crate) type PairwiseRequest<'a> = Pair<'a, &'a Metric>;

impl<'a> PairwiseRequest<'a> {
    /// The pair rules and the metric's blocks.
    pub fn check(q: Rows<'a>, r: Rows<'a>, metric: &'a Metric) -> Result<Self> {
        let req = Pair::check_rows(KernelKind::Pairwise, q, r, false, metric)?;
        metric.check_dim(q.d())?;
        Ok(req)
    }

    /// The distance.
    pub fn metric(&self) -> &'a Metric {
        self.args
    }
}

impl Request for PairwiseRequest<'_> {
    type Out = Vec<f32>;
    const KERNEL: KernelKind = KernelKind::Pairwise;
    fn shape(&self) -> Shape<'_> {
        self.shape_of(Self::KERNEL, self.args, 0)
    }
    fn compute(&self, backend: &dyn Compute, plan: &TilePlan) -> Result<Vec<f32>> {
        backend.pairwise(self, plan)
    }
}

/// A checked [`Kernels::bin`] call.
pub(crate) struct BinRequest<'a> {
    rows: Rows<'a>,
    binning: &'a Binning,
}

impl<'a> BinRequest<'a> {
    /// A valid binning for rows of this width.
    pub fn check(rows: Rows<'a>, binning: &'a Binning) -> Result<Self> {
        match binning {
            Binning::EqualRange { lo, hi, bins } => {
                if *bins == 0 {
                    return Err(Error::param("bins", "must be at least 1, got 0"));
                }
                if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                    return Err(Error::param(
                        "range",
                        format!("needs finite lo < hi, got [{lo}, {hi}]"),
                    ));
                }
            }
            Binning::Width { width } => {
                if !(width.is_finite() && *width > 0.0) {
                    return Err(Error::param(
                        "width",
                        format!("must be finite and > 0, got {width}"),
                    ));
                }
            }
            Binning::Edges { edges } => check_edges(edges, rows.d())?,
        }
        Ok(BinRequest { rows, binning })
    }
    /// The rows.
    pub fn rows(&self) -> Rows<'a> {
        self.rows
    }
    /// The binning.
    pub fn binning(&self) -> &'a Binning {
        self.binning
    }
}

/// One ascending list of finite cut points per column.
fn check_edges(edges: &[Vec<f32>], d: usize) -> Result<()> {
    if edges.len() != d {
        return Err(Error::shape(
            "bin edges",
            format!("one edge list per column ({d})"),
            format!("{} edge lists", edges.len()),
        ));
    }
    for (c, e) in edges.iter().enumerate() {
        if e.windows(2).any(|w| w[0] > w[1] || w[0].is_nan()) || e.iter().any(|v| !v.is_finite()) {
            return Err(Error::param(
                "edges",
                format!("cut points of column {c} must be finite and ascending"),
            ));
        }
    }
    Ok(())
}

impl Request for BinRequest<'_> {
    type Out = BinOut;
    const KERNEL: KernelKind = KernelKind::Bin;
    fn shape(&self) -> Shape<'_> {
        let bin_edges = match self.binning {
            Binning::Edges { edges } => edges.iter().map(Vec::len).max().unwrap_or(0),
            _ => 0,
        };
        Shape {
            kernel: Self::KERNEL,
            n_query: self.rows.n(),
            n_ref: 0,
            d: self.rows.d(),
            metric: None,
            k: 0,
            bin_edges,
        }
    }
    fn compute(&self, backend: &dyn Compute, plan: &TilePlan) -> Result<BinOut> {
        backend.bin(self, plan)
    }
}
