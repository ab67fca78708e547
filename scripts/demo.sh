#!/bin/sh
# `make demo`: show the devices, then train the default model briefly on the
# default device (falls back to the kernel self-test until training exists).
set -eu
build=${1:-build}
clgm="$build/clgm"
"$clgm" devices
if "$clgm" train --help >/dev/null 2>&1; then
  out=${CLGM_DEMO_OUT:-runs/demo}
  "$clgm" train dcgan --epochs 1 --out "$out"
  echo "demo: samples in $out/samples, report at $out/report.html"
else
  "$clgm" devices --build
  "$clgm" selftest
fi
