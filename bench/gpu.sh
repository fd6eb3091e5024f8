#!/usr/bin/env bash
# The GPU check on a real machine: builds the release binary, lists the adapters,
# cross-checks the WGSL kernels against the CPU twins, runs the quick bench on both
# backends, and prints a short table last.
#
# Needs Linux, an NVIDIA (or other hardware) GPU with a Vulkan driver, and cargo.
# It stops with exit status 3 when wgpu sees no hardware adapter: figures from a
# software rasteriser are not GPU figures. INFOPLANE_GPU_SH_ALLOW_SOFTWARE=1 lets a
# software adapter (Mesa lavapipe/llvmpipe) through, to test this script on a
# machine without a GPU; the table then says "software adapter".
#
# Usage: bench/gpu.sh [OUTDIR]   (default target/gpu-bench; logs and JSON go there)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/.."
out="${1:-target/gpu-bench}"
mkdir -p "$out"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/xdg-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
bin="$PWD/target/release/infoplane"

echo "== system"
uname -srm
grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs echo "cpu:" || true
echo "threads: $(nproc)"
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | sed 's/^/gpu: /'
else
  echo "nvidia-smi: not found"
fi
command -v vulkaninfo >/dev/null && vulkaninfo --summary 2>/dev/null | grep -E 'deviceName|driverName|apiVersion' | sed 's/^ */vulkan: /' || true

echo "== build"
cargo build --release --locked 2>&1 | tail -n 3
"$bin" --version

echo "== devices"
"$bin" devices | tee "$out/devices.txt"
"$bin" devices --format json > "$out/devices.json"
# The adapter `check` and `bench` use: the hardware one when there is one.
read -r hw sw name < <(python3 - "$out/devices.json" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))["adapters"]
hw = [x for x in a if not x["is_software"]]
sw = [x for x in a if x["is_software"]]
pick = (hw or sw or [{"name": "none"}])[0]
print(len(hw), len(sw), pick["name"].replace(" ", "_"))
PY
)
kind="hardware adapter"
if [ "$hw" -eq 0 ]; then
  if [ "$sw" -gt 0 ] && [ "${INFOPLANE_GPU_SH_ALLOW_SOFTWARE:-0}" = 1 ]; then
    kind="software adapter"
    echo "no hardware adapter; INFOPLANE_GPU_SH_ALLOW_SOFTWARE=1: going on with ${name//_/ }" >&2
  else
    echo "error: wgpu sees no hardware GPU adapter (software adapters: $sw)." >&2
    echo "Check the NVIDIA driver and its Vulkan ICD (vulkaninfo --summary, /usr/share/vulkan/icd.d/nvidia_icd.json)." >&2
    exit 3
  fi
fi

echo "== check (GPU vs CPU twins)"
set +e
"$bin" check | tee "$out/check.txt"
check_rc=${PIPESTATUS[0]}
"$bin" check --format json > "$out/check.json" 2>/dev/null
set -e

echo "== bench --quick"
"$bin" bench --quick | tee "$out/bench.txt"
"$bin" bench --quick --format json > "$out/bench.json"

echo "== summary (${name//_/ }, $kind)"
python3 - "$out/check.json" "$out/bench.json" "$check_rc" <<'PY'
import json, sys
check = json.load(open(sys.argv[1])) if open(sys.argv[1]).read().strip() else {}
bench = json.load(open(sys.argv[2]))
rows = bench["rows"] if isinstance(bench, dict) and "rows" in bench else bench
cases = check.get("report", {}).get("cases", [])
bad = sum(not c.get("pass", False) for c in cases)
print(f"check: {len(cases) - bad}/{len(cases)} cases agree, exit status {sys.argv[3]}")
for c in cases:
    if not c.get("pass", False):
        print(f"  disagrees: {c.get('kernel')} {c.get('case')} (max_rel {c.get('max_rel_diff')}, tolerance {c.get('tolerance')})")
by = {}
for r in rows:
    by.setdefault((r["case"], r.get("n"), r.get("d")), {})[r["backend"]] = r
print(f"| {'case':<18} | {'n':>6} | {'d':>3} | {'cpu s':>9} | {'gpu s':>9} | {'gpu/cpu':>7} |")
print(f"| {'-'*18} | {'-'*6} | {'-'*3} | {'-'*9} | {'-'*9} | {'-'*7} |")
for (case, n, d), b in by.items():
    c, g = b.get("cpu"), b.get("gpu")
    cs = c["median_s"] if c else None
    gs = g["median_s"] if g else None
    sp = f"{cs / gs:.2f}x" if cs and gs else "-"
    f = lambda v: f"{v:.4f}" if v is not None else "-"
    print(f"| {case:<18} | {n!s:>6} | {d!s:>3} | {f(cs):>9} | {f(gs):>9} | {sp:>7} |")
PY
exit "$check_rc"
