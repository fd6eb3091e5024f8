#!/usr/bin/env bash
# The main job on the built-in default: trains the 12-10-7-5-4-3-2 tanh
# network of Shwartz-Ziv & Tishby on the 4096 12-bit inputs, records every
# layer over training, and writes the information plane (plane.csv,
# plane.json, plane.svg, plane.png) to ./infoplane-out (in the folder it is
# started from).
# Installs what it needs on a fresh Debian machine. Extra arguments go to
# `infoplane plane`, e.g. `./scripts/demo.sh --activation relu --out relu-out`.
set -euo pipefail
here="$(pwd)"
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
. scripts/setup.sh
if [ ! -x target/release/infoplane ]; then
  echo "demo: building infoplane in release mode; the first build takes several minutes (cargo shows its progress)" >&2
fi
cargo build --release
cd "$here"
exec "$repo/target/release/infoplane" plane "$@"
