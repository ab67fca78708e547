#!/bin/sh
# Installs the Debian packages clgm needs that are missing. Runs apt-get as root,
# through sudo when that works without a password, else prints the exact command.
set -eu
need="build-essential cmake pkg-config ocl-icd-opencl-dev opencl-headers pocl-opencl-icd
clinfo libclblast-dev libcjson-dev libstb-dev zlib1g-dev liblapacke-dev
dataset-fashion-mnist"
# Test-only extras: the oclgrind simulator and PyTorch for the interop checks.
if [ "${1:-}" = "--test" ]; then
  need="$need oclgrind python3-torch python3-numpy"
fi
# Benchmark extras: PyTorch as the peer, on OpenBLAS (Debian's default
# libblas3 is the reference BLAS, ~30x slower, which would flatter clgm);
# PIL for image folders in bench/torch_ref.py and scripts/fashion-mnist-64.py.
if [ "${1:-}" = "--bench" ]; then
  need="$need python3-torch python3-numpy libopenblas0-pthread python3-pil"
fi
missing=""
for p in $need; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "clgm: installing missing Debian packages:$missing" >&2
if [ "$(id -u)" = 0 ]; then SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo"
else
  echo "clgm: cannot install packages (not root, no password-less sudo). Run:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y$missing" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
