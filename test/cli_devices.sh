#!/bin/sh
# clgm devices: the list, an unknown selector, and a cached second build.
# usage: cli_devices.sh CLGM CACHE_DIR
clgm=$1; cache=$2
rm -rf "$cache"
out=$("$clgm" devices 2>&1); rc=$?
if [ $rc -eq 3 ]; then echo "SKIP: $out"; exit 77; fi
[ $rc -eq 0 ] || { echo "FAIL: clgm devices: $out"; exit 1; }
echo "$out" | grep -q '^\*\[' || { echo "FAIL: no default marked: $out"; exit 1; }
err=$(CLGM_DEVICE=nonexistent "$clgm" devices --build 2>&1 >/dev/null); rc=$?
[ $rc -ne 0 ] || { echo "FAIL: unknown device exited 0"; exit 1; }
[ "$(echo "$err" | wc -l)" -eq 1 ] || { echo "FAIL: not one line: $err"; exit 1; }
echo "$err" | grep -q "nonexistent.*available: \[0\]" || { echo "FAIL: message: $err"; exit 1; }
cold=$(CLGM_CACHE_DIR="$cache" "$clgm" devices --build) || { echo "FAIL: cold build"; exit 1; }
warm=$(CLGM_CACHE_DIR="$cache" "$clgm" devices --build) || { echo "FAIL: warm build"; exit 1; }
echo "$cold" | grep -q "built" || { echo "FAIL: cold build did not build: $cold"; exit 1; }
n=$(echo "$warm" | grep -c "ms  cache$")
total=$(echo "$warm" | sed -n 's/.*, [0-9]* of \([0-9]*\) from the cache/\1/p')
[ "$n" -eq "$total" ] && [ "$n" -gt 0 ] || { echo "FAIL: warm build not all cached: $warm"; exit 1; }
"$clgm" devices --bogus >/dev/null 2>&1 && { echo "FAIL: bad option accepted"; exit 1; }
echo "cli_devices: ok"; echo "$cold"; echo "$warm"
