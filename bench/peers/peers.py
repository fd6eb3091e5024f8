#!/usr/bin/env python3
"""Times infoplane against the Python peers on the same data files, in one run,
and checks that the estimates agree where the conventions are the same.

Cases (seeded, written as .npy by `gen`):
  ksg1  correlated Gaussians, X and Y of d columns each, per-pair correlation rho:
        true I = -(d/2) ln(1 - rho^2) nats; KSG-1 (Kraskov et al. 2004, eq. 8), k = 3, max-norm.
  kl    Gaussian entropy, d columns, unit variance: true H = (d/2) ln(2 pi e);
        Kozachenko-Leonenko, k = 3, max-norm.
  mixed continuous X (1 column) with binary labels (mixture of two Gaussians; Ross 2014).

Peers and conventions:
  npeet        npeet-plus `mi` / `entropy`: KSG-1 and KL with max-norm (same as infoplane).
  infomeasure  approach "ksg" / "kl", minkowski_p = inf (same as infoplane).
  ennemi       `estimate_entropy(multidim=True)` (KL, max-norm; same) and `estimate_mi` for
               d = 1 per side with preprocess=False (KSG-1, max-norm; same).
  sklearn      `mutual_info_classif` (Ross 2014, the same estimator as `--estimator mixed`;
               it rescales X, which leaves the counts unchanged, and clips at 0).
Every peer adds its own tiny noise to break ties, and infoplane adds seeded noise scaled to the
column spread, so same-convention estimates agree up to that noise, not bit for bit:
AGREE_ABS / AGREE_REL below is the allowed gap; a larger one is flagged DISAGREE.

Each peer runs in its own child process (its time covers loading the .npy files and the
estimate, not the interpreter's start or imports); infoplane's time is its whole command
(process start, loading, noise, estimate), so the ratios favour the peers. A peer is skipped at
a case where its time, extrapolated as n^2 * d from each earlier case of the same kind (the largest), would exceed --cap seconds,
and killed after 2 * cap; the table says so.
"""
import argparse, datetime, json, math, os, platform, subprocess, sys, time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
# Allowed |infoplane - peer| where the conventions are the same (noise-level differences).
AGREE_ABS = 0.02
AGREE_REL = 0.01
BEGIN = "<!-- peers:begin -->"
END = "<!-- peers:end -->"


def gen(cases):
    os.makedirs(DATA, exist_ok=True)
    for c in cases:
        rng = np.random.default_rng(c["seed"])
        n, d = c["n"], c["d"]
        stem = os.path.join(DATA, c["name"])
        if c["kind"] == "ksg1":
            rho = c["rho"]
            c["truth"] = -0.5 * d * math.log(1 - rho * rho)
            if os.path.exists(stem + "_y.npy"):
                continue
            x = rng.standard_normal((n, d))
            y = rho * x + math.sqrt(1 - rho * rho) * rng.standard_normal((n, d))
            np.save(stem + "_x.npy", x.astype(np.float32))
            np.save(stem + "_y.npy", y.astype(np.float32))
        elif c["kind"] == "kl":
            c["truth"] = 0.5 * d * math.log(2 * math.pi * math.e)
            if not os.path.exists(stem + "_x.npy"):
                np.save(stem + "_x.npy", rng.standard_normal((n, d)).astype(np.float32))
        elif c["kind"] == "mixed":
            c["truth"] = None
            if os.path.exists(stem + "_y.npy"):
                continue
            y = rng.integers(0, 2, n)
            x = rng.standard_normal((n, 1)) + 2.0 * y[:, None]
            np.save(stem + "_x.npy", x.astype(np.float32))
            np.save(stem + "_y.npy", y.astype(np.int64))


def peers_for(c):
    """The peers that implement case `c` (name -> same convention as infoplane?)."""
    if c["kind"] == "ksg1":
        p = ["npeet", "infomeasure"]
        if c["d"] == 1:
            p.append("ennemi")
        return p
    if c["kind"] == "kl":
        return ["npeet", "infomeasure", "ennemi"]
    return ["sklearn"]


def run_one(peer, kind, stem):
    """Runs one peer on one case in this process; returns (value, seconds)."""
    load = lambda s: np.load(stem + s).astype(np.float64)
    # imports happen before the clock starts: the peers are timed warm
    import ennemi
    import infomeasure as im
    import npeet_plus.estimators as npeet
    from sklearn.feature_selection import mutual_info_classif
    t = time.perf_counter()
    if kind == "ksg1":
        if peer == "npeet":
            v = npeet.mi(load("_x.npy"), load("_y.npy"), k=3, base=math.e)
        elif peer == "infomeasure":
            v = im.mutual_information(load("_x.npy"), load("_y.npy"), approach="ksg", k=3,
                                      minkowski_p=math.inf)
        elif peer == "ennemi":
            v = ennemi.estimate_mi(load("_y.npy")[:, 0], load("_x.npy")[:, 0], k=3,
                                   preprocess=False)
    elif kind == "kl":
        if peer == "npeet":
            v = npeet.entropy(load("_x.npy"), k=3, base=math.e)
        elif peer == "infomeasure":
            v = im.entropy(load("_x.npy"), approach="kl", k=3, minkowski_p=math.inf)
        elif peer == "ennemi":
            v = ennemi.estimate_entropy(load("_x.npy"), k=3, multidim=True)
    elif kind == "mixed":
        v = mutual_info_classif(load("_x.npy"), np.load(stem + "_y.npy"),
                                discrete_features=False, n_neighbors=3, random_state=0)[0]
    dt = time.perf_counter() - t
    return float(np.asarray(v).ravel()[0]), dt


def run_peer(peer, c, cap):
    """(value, seconds) or (None, reason): the peer in a child process, killed after 2 * cap."""
    stem = os.path.join(DATA, c["name"])
    try:
        p = subprocess.run([sys.executable, __file__, "--one", peer, c["kind"], stem],
                           capture_output=True, text=True, timeout=2 * cap)
    except subprocess.TimeoutExpired:
        return None, f"killed after {2 * cap:.0f} s"
    if p.returncode != 0:
        return None, "failed: " + (p.stderr.strip().splitlines() or ["?"])[-1][:80]
    v, dt = json.loads(p.stdout.strip().splitlines()[-1])
    return v, dt


def run_infoplane(binary, c):
    stem = os.path.join(DATA, c["name"])
    if c["kind"] == "ksg1":
        args = ["mi", "--x", stem + "_x.npy", "--y", stem + "_y.npy", "--estimator", "ksg1"]
    elif c["kind"] == "kl":
        args = ["entropy", "--x", stem + "_x.npy", "--estimator", "kl"]
    else:
        args = ["mi", "--x", stem + "_x.npy", "--y", stem + "_y.npy", "--estimator", "mixed"]
    args += ["-k", "3", "--backend", "cpu", "--format", "json", "--seed", "1"]
    t = time.perf_counter()
    p = subprocess.run([binary] + args, capture_output=True, text=True)
    dt = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"infoplane failed on {c['name']}: {p.stderr}")
    return float(json.loads(p.stdout.strip().splitlines()[-1])["value"]), dt


def ksg(n, d):
    return dict(kind="ksg1", n=n, d=d, rho=0.6)


SWEEPS = {
    "quick": [ksg(2000, 10), ksg(16000, 10), dict(kind="kl", n=20000, d=20),
              dict(kind="mixed", n=20000, d=1)],
    # The sweep: n = 1k..64k, d = 1..50 per side, the target shapes
    # (10+10 and 20+20 at 16k and 20k, 10+10 at 64k), KL n = 20k d = 20, mixed.
    "full": [ksg(1000, 1), ksg(1000, 50), ksg(4000, 1), ksg(4000, 5), ksg(4000, 50),
             ksg(16000, 1), ksg(16000, 10), ksg(16000, 20), ksg(20000, 10), ksg(20000, 20),
             ksg(64000, 1), ksg(64000, 10),
             dict(kind="kl", n=4000, d=50), dict(kind="kl", n=20000, d=20),
             dict(kind="mixed", n=20000, d=1)],
}
# Targets of the issue: (kind, n, d) -> least speed-up over the fastest peer.
TARGETS = {("ksg1", 16000, 10): 20, ("ksg1", 16000, 20): 20, ("ksg1", 20000, 10): 20,
           ("ksg1", 20000, 20): 20, ("ksg1", 64000, 10): 20, ("kl", 20000, 20): 10}


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return f"{cpu}, {os.cpu_count()} threads, {platform.system()} {platform.release()}; load average at the end {load}"


def write_benchmarks(path, body):
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    block = f"{BEGIN}\n{body}{END}"
    if BEGIN in text and END in text:
        a, b = text.index(BEGIN), text.index(END) + len(END)
        text = text[:a] + block + text[b:]
    else:
        text = text.rstrip("\n") + "\n\n## Against the peers\n\n" + block + "\n"
    with open(path, "w") as f:
        f.write(text)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--one":
        print(json.dumps(run_one(*sys.argv[2:5])))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--sweep", choices=SWEEPS, default="quick")
    ap.add_argument("--skip", default="", help="comma-separated peers to leave out")
    ap.add_argument("--cap", type=float, default=200.0,
                    help="seconds a peer may take per case (extrapolated; killed after 2x)")
    ap.add_argument("--only", default="",
                    help="comma-separated case names to run (e.g. ksg1_n64000_d10x10); default all")
    ap.add_argument("--out", default=os.path.join(HERE, "results.md"))
    ap.add_argument("--benchmarks", default=None,
                    help="BENCHMARKS.md to update between the peers markers")
    ap.add_argument("--command", default=" ".join(sys.argv), help="command shown in the table")
    a = ap.parse_args()
    skip = set(filter(None, a.skip.split(",")))
    cases = [dict(c) for c in SWEEPS[a.sweep]]
    for c in cases:
        dims = f"{c['d']}+{c['d']}" if c["kind"] == "ksg1" else str(c["d"])
        c["name"] = f"{c['kind']}_n{c['n']}_d{dims.replace('+', 'x')}"
        c["dims"] = dims
        c["seed"] = 100 + c["n"] + 7 * c["d"] + {"ksg1": 0, "kl": 1, "mixed": 2}[c["kind"]]
    only = set(filter(None, a.only.split(",")))
    if only:
        cases = [c for c in cases if c["name"] in only]
        if not cases:
            sys.exit(f"--only matched no case of the {a.sweep} sweep")
        if a.benchmarks:
            sys.exit("--only runs part of a sweep: it does not rewrite the BENCHMARKS.md table")
    gen(cases)
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "| case | n | d | truth | infoplane | infoplane s | peer | peer value | abs diff | agree | peer s | speed-up |",
        "| --- | ---: | --- | ---: | ---: | ---: | --- | ---: | ---: | --- | ---: | ---: |",
    ]
    summary = []
    last = {}  # (peer, kind) -> [(n, d, seconds)] of its timed cases
    bad = 0
    for c in cases:
        v, t = run_infoplane(a.binary, c)
        truth = "" if c.get("truth") is None else f"{c['truth']:.4f}"
        head = f"| {c['kind']} | {c['n']} | {c['dims']} | {truth} | {v:.4f} | {t:.3f} |"
        fastest = None
        for peer in peers_for(c):
            if peer in skip:
                continue
            scale = c["n"] ** 2 * c["d"]
            # the largest extrapolation from every earlier case of this peer and kind
            # (one from a d = 1 case alone underestimates the higher d)
            guesses = [t0 * scale / (n0 ** 2 * d0) for n0, d0, t0 in last.get((peer, c["kind"]), [])]
            if guesses:
                guess = max(guesses)
                if guess > a.cap:
                    row = f"{head} {peer} | - | - | - | skipped (about {guess:.0f} s expected > cap {a.cap:.0f} s) | - |"
                    lines.append(row)
                    print(row, flush=True)
                    continue
            pv, pt = run_peer(peer, c, a.cap)
            if pv is None:
                row = f"{head} {peer} | - | - | - | {pt} | - |"
                last.setdefault((peer, c["kind"]), []).append((1, 1, float("inf")))
            else:
                last.setdefault((peer, c["kind"]), []).append((c["n"], c["d"], pt))
                diff = abs(v - pv)
                tol = max(AGREE_ABS, AGREE_REL * abs(pv))
                ok = diff <= tol
                bad += not ok
                row = (f"{head} {peer} | {pv:.4f} | {diff:.4f} | {'yes' if ok else '**DISAGREE**'} | "
                       f"{pt:.3f} | {pt / t:.1f}x |")
                if fastest is None or pt < fastest[1]:
                    fastest = (peer, pt)
            lines.append(row)
            print(row, flush=True)
        target = TARGETS.get((c["kind"], c["n"], c["d"]))
        if target and fastest:
            ratio = fastest[1] / t
            summary.append(f"| {c['kind']} | {c['n']} | {c['dims']} | {t:.3f} | {fastest[0]} {fastest[1]:.2f} s | "
                           f"{ratio:.1f}x | {target}x | {'met' if ratio >= target else 'not met'} |")
    body = [
        f"Run {started}, `{a.command}`.",
        f"Machine: {machine()}.",
        "The machine was shared: other builds and tests ran on the same cores during the run,",
        "so single timings can be off by tens of per cent; every ratio compares two runs of the same minute.",
        "infoplane: release build, `--backend cpu`, whole command (process start, loading, noise, estimate);",
        "peer: loading the .npy files and the estimate, in a warm Python process. Agreement: same",
        f"convention (max-norm KSG-1 / KL, Ross mixed), allowed gap max({AGREE_ABS}, {AGREE_REL} x |peer|) nats.",
        "",
    ] + lines + [""]
    if summary:
        body += ["Targets of the issue (speed-up over the fastest peer, whole command):", "",
                 "| case | n | d | infoplane s | fastest peer | speed-up | target | |",
                 "| --- | ---: | --- | ---: | --- | ---: | ---: | --- |"] + summary + [""]
    body = "\n".join(body) + "\n"
    with open(a.out, "w") as f:
        f.write(body)
    print(body)
    if a.benchmarks:
        write_benchmarks(a.benchmarks, body)
        print(f"updated {a.benchmarks}")
    if bad:
        print(f"{bad} same-convention estimate(s) disagree beyond the allowed gap", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
