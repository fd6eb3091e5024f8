# Sourced by the other scripts: installs system packages and checks the toolchain.
# Mesa's software Vulkan driver (lavapipe) and the Vulkan loader let the WGSL
# kernels run on a machine without a GPU.
need_pkgs=()
# A fresh Debian image lacks the C linker that cargo needs, and curl for rustup.
command -v cc >/dev/null 2>&1 || need_pkgs+=(build-essential)
command -v curl >/dev/null 2>&1 || need_pkgs+=(curl ca-certificates)
[ -e /usr/share/vulkan/icd.d/lvp_icd.x86_64.json ] || [ -n "$(ls /usr/share/vulkan/icd.d/lvp_icd.*.json 2>/dev/null)" ] || need_pkgs+=(mesa-vulkan-drivers)
ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1' || need_pkgs+=(libvulkan1)
# As root, tests/bad_input.rs::no_permission runs the CLI as uid 65534 with
# setpriv or runuser (both util-linux, in Debian's base system).
if [ "$(id -u)" = 0 ] && ! command -v setpriv >/dev/null 2>&1 && ! command -v runuser >/dev/null 2>&1; then
  need_pkgs+=(util-linux)
fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "setup: installing ${need_pkgs[*]}" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >&2
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found; installing the Rust toolchain with rustup" >&2
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal >&2
  . "$HOME/.cargo/env"
fi
# Mesa warns when XDG_RUNTIME_DIR is unset; give it a private folder.
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  export XDG_RUNTIME_DIR="${TMPDIR:-/tmp}/infoplane-xdg-$(id -u)"
  mkdir -p "$XDG_RUNTIME_DIR" && chmod 0700 "$XDG_RUNTIME_DIR"
fi
