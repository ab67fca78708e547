#!/bin/sh
# With no OpenCL platform at all, the tool fails with one clear line and the
# tests skip (exit 77). usage: no_platform.sh CLGM TEST_BINARY EMPTY_DIR
clgm=$1; test_bin=$2; empty=$3
export OCL_ICD_VENDORS="$empty" OCL_ICD_FILENAMES=""
out=$("$clgm" devices 2>&1); rc=$?
[ $rc -ne 0 ] || { echo "FAIL: clgm devices exited 0 without a platform"; exit 1; }
echo "$out" | grep -q "no OpenCL platform" || { echo "FAIL: message: $out"; exit 1; }
[ "$(echo "$out" | wc -l)" -eq 1 ] || { echo "FAIL: not one line: $out"; exit 1; }
"$test_bin" >/dev/null 2>&1; rc=$?
[ $rc -eq 77 ] || { echo "FAIL: test binary exited $rc, want 77 (skip)"; exit 1; }
echo "no_platform: ok ($out)"
