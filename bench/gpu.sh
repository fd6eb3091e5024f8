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
# After the quick bench it runs a sweep sized for a GPU (GPU_SH_SIZES, default
# 65536x8,65536x32; GPU_SH_REPEATS, default 5) and, where nvidia-smi and PyTorch are
# present, reads the card's SM count and clock to give each kernel's fraction of the
# card's f32 issue rate, and times a float32 matrix product (TF32 off) as a measured
# ceiling.
#
# Usage: bench/gpu.sh [OUTDIR]   (default target/gpu-bench; logs and JSON go there)
# INFOPLANE_BIN=path uses a binary built elsewhere (same architecture) instead of
# building one here, for machines without a Rust toolchain.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/.."
out="${1:-target/gpu-bench}"
mkdir -p "$out"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/xdg-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
bin="${INFOPLANE_BIN:-$PWD/target/release/infoplane}"

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
if [ -n "${INFOPLANE_BIN:-}" ]; then
  echo "using the prebuilt $INFOPLANE_BIN"
elif command -v cargo >/dev/null; then
  cargo build --release --locked 2>&1 | tail -n 3
else
  echo "error: no cargo here; build elsewhere and pass INFOPLANE_BIN=path" >&2
  exit 2
fi
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

echo "== bench, GPU-sized (${GPU_SH_SIZES:=65536x8,65536x32}, ${GPU_SH_REPEATS:=5} repeats)"
# JSON only (the summary prints its table): one sweep, not two. A sweep that runs past
# GPU_SH_LARGE_TIMEOUT seconds (default 300) is stopped and the summary goes on without it.
if ! timeout "${GPU_SH_LARGE_TIMEOUT:-300}" "$bin" bench --sizes "$GPU_SH_SIZES" \
  --repeats "$GPU_SH_REPEATS" --format json > "$out/bench-large.json"; then
  echo "the GPU-sized sweep did not finish; summary without it" >&2
  echo '{"rows": []}' > "$out/bench-large.json"
fi

echo "== card"
# SM count, FP32 lanes per SM and the SM clock give the f32 issue rate; a float32
# matrix product with TF32 off is the measured ceiling next to it.
python3 - > "$out/card.json" <<'PY' || echo '{}' > "$out/card.json"
import json, subprocess, time
card = {}
try:
    q = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,clocks.max.sm,clocks.sm",
                        "--format=csv,noheader,nounits"], capture_output=True, text=True, check=True)
    name, driver, max_mhz, cur_mhz = [x.strip() for x in q.stdout.splitlines()[0].split(",")]
    card.update(name=name, driver=driver, max_sm_mhz=float(max_mhz), sm_mhz_now=float(cur_mhz))
except Exception as e:  # no NVIDIA tools: no rate
    card["error"] = f"nvidia-smi: {e}"
try:
    import torch
    p = torch.cuda.get_device_properties(0)
    cc = (p.major, p.minor)
    # FP32 lanes per SM (CUDA programming guide, arithmetic instruction throughput)
    lanes = 64 if cc in [(6, 0), (7, 0), (7, 2), (7, 5), (8, 0)] else 128
    card.update(sms=p.multi_processor_count, cc=f"{p.major}.{p.minor}", fp32_lanes_per_sm=lanes)
    if "max_sm_mhz" in card:
        card["f32_instr_per_s"] = p.multi_processor_count * lanes * card["max_sm_mhz"] * 1e6
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    n = 8192
    a = torch.randn(n, n, device="cuda")
    b = torch.randn(n, n, device="cuda")
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    ts = []
    for _ in range(10):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record(); a @ b; e.record(); torch.cuda.synchronize()
        ts.append(s.elapsed_time(e) / 1e3)
    ts.sort()
    card["sgemm_flop_per_s"] = 2 * n**3 / ts[len(ts) // 2]
except Exception as e:
    card.setdefault("error", f"torch: {e}")
print(json.dumps(card))
PY
cat "$out/card.json"

echo "== summary (${name//_/ }, $kind)"
python3 - "$out/check.json" "$out/bench.json" "$check_rc" "$out/bench-large.json" "$out/card.json" <<'PY'
import json, sys
check = json.load(open(sys.argv[1])) if open(sys.argv[1]).read().strip() else {}
rows = []
for path in (sys.argv[2], sys.argv[4]):
    bench = json.load(open(path))
    rows += bench["rows"] if isinstance(bench, dict) and "rows" in bench else bench
card = json.load(open(sys.argv[5]))
rate = card.get("f32_instr_per_s")
if rate:
    print(f"card: {card['name']}, driver {card['driver']}, {card['sms']} SMs x {card['fp32_lanes_per_sm']} "
          f"f32 lanes x {card['max_sm_mhz']:.0f} MHz = {rate / 1e12:.1f} T f32 instr/s; "
          f"sgemm (TF32 off) {card.get('sgemm_flop_per_s', 0) / 1e12:.1f} TFLOP/s")
cases = check.get("report", {}).get("cases", [])
bad = sum(not c.get("pass", False) for c in cases)
print(f"check: {len(cases) - bad}/{len(cases)} cases agree, exit status {sys.argv[3]}")
for c in cases:
    if not c.get("pass", False):
        print(f"  disagrees: {c.get('kernel')} {c.get('case')} (max_rel {c.get('max_rel_diff')}, tolerance {c.get('tolerance')})")
by = {}
for r in rows:
    by.setdefault((r["case"], r.get("n"), r.get("d")), {})[r["backend"]] = r
# f32 share: two f32 instructions per coordinate-pair (a subtraction, then a max or an
# FMA), the least any of the distance kernels issues, over the card's issue rate.
print(f"| {'case':<18} | {'n':>6} | {'d':>3} | {'cpu s':>9} | {'gpu s':>9} | {'gpu/cpu':>7} | {'gpu pairs/s':>11} | {'f32 share':>9} |")
print(f"| {'-'*18} | {'-'*6} | {'-'*3} | {'-'*9} | {'-'*9} | {'-'*7} | {'-'*11} | {'-'*9} |")
for (case, n, d), b in by.items():
    c, g = b.get("cpu"), b.get("gpu")
    cs = c["median_s"] if c else None
    gs = g["median_s"] if g else None
    sp = f"{cs / gs:.2f}x" if cs and gs else "-"
    f = lambda v: f"{v:.4f}" if v is not None else "-"
    pps = f"{g['pairs_per_s']:.3g}" if g else "-"
    share = "-"
    if g and rate and case not in ("bin", "ksg1", "kl"):
        share = f"{100 * 2 * g['coord_pairs_per_s'] / rate:.1f}%"
    print(f"| {case:<18} | {n!s:>6} | {d!s:>3} | {f(cs):>9} | {f(gs):>9} | {sp:>7} | {pps:>11} | {share:>9} |")
PY
exit "$check_rc"
