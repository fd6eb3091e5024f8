#!/usr/bin/env bash
# Times infoplane against NPEET, infomeasure, ennemi and scikit-learn on the same
# data files in one run. Usage: bench/peers/run.sh [quick|full] [--skip peer,...]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/../.."
sweep="${1:-quick}"; shift || true
if [ ! -x "$here/.venv/bin/python" ]; then
  python3 -m venv "$here/.venv"
  "$here/.venv/bin/pip" install -q numpy scipy scikit-learn ennemi infomeasure npeet-plus
fi
cargo build --release --quiet
"$here/.venv/bin/python" "$here/peers.py" --binary "$PWD/target/release/infoplane" --sweep "$sweep" "$@"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) threads"
