#!/usr/bin/env python3
"""Times infoplane against the Python peers on the same data files, in one run.

Cases (seeded, written as .npy by `gen`):
  ksg1  correlated Gaussians, X and Y of d columns each, per-pair correlation rho:
        true I = -(d/2) ln(1 - rho^2) nats; KSG-1 with k = 3, max-norm.
  kl    Gaussian entropy, d columns, unit variance: true H = (d/2) ln(2 pi e).
  mixed continuous X (1 column) with binary labels (mixture of two Gaussians).

Peers: NPEET (npeet-plus: mi, entropy), infomeasure (ksg, kl; max-norm),
ennemi (multidim entropy), scikit-learn (mutual_info_classif, 1-D X only).
Peer times cover loading the .npy files and the estimate, not the Python
interpreter's start; infoplane's time is its whole command (process start,
loading, estimate), so the ratios favour the peers.
"""
import argparse, json, math, os, subprocess, sys, time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")


def gen(cases):
    os.makedirs(DATA, exist_ok=True)
    for c in cases:
        rng = np.random.default_rng(c["seed"])
        n, d = c["n"], c["d"]
        stem = os.path.join(DATA, c["name"])
        if c["kind"] == "ksg1":
            rho = c["rho"]
            x = rng.standard_normal((n, d))
            y = rho * x + math.sqrt(1 - rho * rho) * rng.standard_normal((n, d))
            np.save(stem + "_x.npy", x.astype(np.float32))
            np.save(stem + "_y.npy", y.astype(np.float32))
            c["truth"] = -0.5 * d * math.log(1 - rho * rho)
        elif c["kind"] == "kl":
            np.save(stem + "_x.npy", rng.standard_normal((n, d)).astype(np.float32))
            c["truth"] = 0.5 * d * math.log(2 * math.pi * math.e)
        elif c["kind"] == "mixed":
            y = rng.integers(0, 2, n)
            x = rng.standard_normal((n, 1)) + 2.0 * y[:, None]
            np.save(stem + "_x.npy", x.astype(np.float32))
            np.save(stem + "_y.npy", y.astype(np.int64))
            c["truth"] = None


def timed(f):
    t = time.perf_counter()
    v = f()
    return float(v), time.perf_counter() - t


def run_peers(c, skip):
    stem = os.path.join(DATA, c["name"])
    load = lambda s: np.load(stem + s).astype(np.float64)
    out = {}
    if c["kind"] == "ksg1":
        if "npeet" not in skip:
            import npeet_plus.estimators as npeet
            out["npeet"] = timed(lambda: npeet.mi(load("_x.npy"), load("_y.npy"), k=3, base=math.e))
        if "infomeasure" not in skip:
            import infomeasure as im
            out["infomeasure"] = timed(lambda: im.mutual_information(
                load("_x.npy"), load("_y.npy"), approach="ksg", k=3))
    elif c["kind"] == "kl":
        if "npeet" not in skip:
            import npeet_plus.estimators as npeet
            out["npeet"] = timed(lambda: npeet.entropy(load("_x.npy"), k=3, base=math.e))
        if "infomeasure" not in skip:
            import infomeasure as im
            out["infomeasure"] = timed(lambda: im.entropy(load("_x.npy"), approach="kl", k=3))
        if "ennemi" not in skip:
            import ennemi
            out["ennemi"] = timed(lambda: ennemi.estimate_entropy(load("_x.npy"), k=3, multidim=True))
    elif c["kind"] == "mixed":
        if "sklearn" not in skip:
            from sklearn.feature_selection import mutual_info_classif
            out["sklearn"] = timed(lambda: mutual_info_classif(
                load("_x.npy"), np.load(stem + "_y.npy"), discrete_features=False,
                n_neighbors=3, random_state=0)[0])
    return out


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


SWEEPS = {
    "quick": [
        dict(kind="ksg1", n=2000, d=10, rho=0.6),
        dict(kind="ksg1", n=16000, d=10, rho=0.6),
        dict(kind="kl", n=20000, d=20),
        dict(kind="mixed", n=20000, d=1),
    ],
    "full": [
        dict(kind="ksg1", n=1000, d=1, rho=0.6),
        dict(kind="ksg1", n=4000, d=10, rho=0.6),
        dict(kind="ksg1", n=16000, d=10, rho=0.6),
        dict(kind="ksg1", n=16000, d=20, rho=0.6),
        dict(kind="ksg1", n=20000, d=20, rho=0.6),
        dict(kind="ksg1", n=64000, d=10, rho=0.6),
        dict(kind="kl", n=20000, d=20),
        dict(kind="mixed", n=20000, d=1),
    ],
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--sweep", choices=SWEEPS, default="quick")
    ap.add_argument("--skip", default="", help="comma-separated peers to leave out")
    ap.add_argument("--out", default=os.path.join(HERE, "results.md"))
    a = ap.parse_args()
    skip = set(filter(None, a.skip.split(",")))
    cases = [dict(c) for c in SWEEPS[a.sweep]]
    for i, c in enumerate(cases):
        dims = f"{c['d']}+{c['d']}" if c["kind"] == "ksg1" else str(c["d"])
        c["name"] = f"{c['kind']}_n{c['n']}_d{dims.replace('+', 'x')}"
        c["dims"] = dims
        c["seed"] = 100 + i
    gen(cases)
    lines = [
        "| case | n | d | truth (nats) | infoplane (nats) | infoplane s | peer | peer (nats) | peer s | speed-up |",
        "| --- | ---: | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    for c in cases:
        v, t = run_infoplane(a.binary, c)
        peers = run_peers(c, skip)
        truth = "" if c.get("truth") is None else f"{c['truth']:.4f}"
        for name, (pv, pt) in sorted(peers.items(), key=lambda kv: kv[1][1]):
            lines.append(f"| {c['kind']} | {c['n']} | {c['dims']} | {truth} | {v:.4f} | {t:.3f} | {name} | "
                         f"{pv:.4f} | {pt:.3f} | {pt / t:.1f}x |")
            print(lines[-1], flush=True)
        if not peers:
            lines.append(f"| {c['kind']} | {c['n']} | {c['dims']} | {truth} | {v:.4f} | {t:.3f} | - | - | - | - |")
    with open(a.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
