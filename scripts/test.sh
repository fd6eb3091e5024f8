#!/usr/bin/env bash
# Runs the whole test suite, GPU kernels included (on Mesa's software Vulkan
# driver, lavapipe, when the machine has no GPU). Installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
# The GPU parity tests must run, not skip: a missing adapter is a failure here.
export INFOPLANE_REQUIRE_GPU=1
cargo test --all-targets "$@" 2>&1
cargo test --doc 2>&1
