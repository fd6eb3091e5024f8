#!/usr/bin/env bash
# Times infoplane against NPEET, infomeasure, ennemi and scikit-learn on the same
# data files in one run, checks agreement, and (full sweep) writes the table into
# BENCHMARKS.md between the peers markers.
#
# Usage: bench/peers/run.sh [quick|full] [--skip peer,...] [--cap SECONDS]
#        bench/peers/run.sh full --only ksg1_n64000_d10x10[,CASE...]   (part of the full sweep;
#        the table goes to bench/peers/results.md only, BENCHMARKS.md is left as it is)
# PEERS_VENV=DIR uses (or creates) the virtual environment there instead of bench/peers/.venv.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/../.."
sweep="${1:-quick}"; shift || true
venv="${PEERS_VENV:-$here/.venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q numpy scipy scikit-learn ennemi infomeasure npeet-plus
fi
"$venv/bin/python" -c 'import numpy, scipy, sklearn, ennemi, infomeasure, npeet_plus' \
  || { echo "peers venv $venv lacks a peer; remove it to rebuild" >&2; exit 2; }
cargo build --release --quiet
extra=()
if [ "$sweep" = full ] && [[ " $* " != *" --only "* ]]; then
  extra=(--benchmarks "$PWD/BENCHMARKS.md")
fi
"$venv/bin/python" "$here/peers.py" --binary "$PWD/target/release/infoplane" --sweep "$sweep" \
  --command "bench/peers/run.sh $sweep${*:+ $*}" "${extra[@]}" "$@"
