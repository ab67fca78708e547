#!/bin/sh
# clgm train from the command line: bad data, exact resume, Ctrl-C, divergence.
# usage: cli_train.sh CLGM WORK_DIR
set -u
clgm=$1; w=$2
rm -rf "$w"; mkdir -p "$w"
"$clgm" devices >/dev/null 2>&1; [ $? -eq 3 ] && { echo "SKIP: no OpenCL platform"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
one_line_error() { # cmd... : must fail with exactly one line on stderr
  err=$("$@" 2>&1 >/dev/null); rc=$?
  [ $rc -ne 0 ] || fail "exit 0: $*"
  [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "not one line: $err"
  echo "$err"
}
data=/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz

e=$(one_line_error "$clgm" train vae --data /nonexistent/x-images-idx3-ubyte -q --out "$w/bad")
echo "$e" | grep -q "/nonexistent" || fail "missing file not named: $e"
if [ -f "$data" ]; then
  gzip -dc "$data" | head -c 5000 > "$w/trunc-images-idx3-ubyte"
  e=$(one_line_error "$clgm" train vae --data "$w/trunc-images-idx3-ubyte" -q --out "$w/bad")
  echo "$e" | grep -qi "truncated" || fail "truncated file: $e"
fi
e=$(one_line_error "$clgm" train nosuchmodel -q)
echo "$e" | grep -q "dcgan" || fail "unknown model should list presets: $e"
e=$(one_line_error "$clgm" train vae --batch 0)
e=$(one_line_error "$clgm" train vae --resume "$w/none.safetensors" -q)

[ -f "$data" ] || { echo "SKIP rest: dataset-fashion-mnist not installed"; exit 77; }
# Exact resume: 24 steps in one go == 12 steps, then --resume to 24.
"$clgm" train vae --data fashion-mnist:test --max-steps 24 --log-every 4 -q --out "$w/full" || fail "full run"
"$clgm" train vae --data fashion-mnist:test --max-steps 12 --log-every 4 -q --out "$w/part" || fail "part run"
"$clgm" train --resume "$w/part/checkpoint.safetensors" --max-steps 24 --log-every 4 -q || fail "resume"
cut -d, -f1-5 "$w/full/metrics.csv" > "$w/a"; cut -d, -f1-5 "$w/part/metrics.csv" > "$w/b"
cmp -s "$w/a" "$w/b" || { diff "$w/a" "$w/b"; fail "resumed losses differ from the uninterrupted run"; }
[ "$(wc -l < "$w/a")" -eq 7 ] || fail "expected 6 metric rows"
for f in checkpoint.safetensors report.html samples/epoch_001.png; do
  [ -s "$w/full/$f" ] || fail "missing $f"
done
grep -q "<svg" "$w/full/report.html" || fail "report has no chart"

# Ctrl-C: finishes the step, writes the checkpoint, exits 130.
"$clgm" train vae --data fashion-mnist:test --epochs 50 --log-every 5 -q --out "$w/int" &
pid=$!
# Interrupt once training runs (a cold kernel compile can take a while).
i=0
while [ $i -lt 600 ] && [ "$(cat "$w/int/metrics.csv" 2>/dev/null | wc -l)" -lt 2 ]; do
  sleep 0.2; i=$((i + 1))
done
kill -INT $pid; wait $pid; rc=$?
[ $rc -eq 130 ] || fail "Ctrl-C exit code $rc, want 130"
[ -s "$w/int/checkpoint.safetensors" ] || fail "no checkpoint after Ctrl-C"

# Divergence stops training with a clear message.
e=$(one_line_error "$clgm" train vae --data fashion-mnist:test --lr 1e9 --max-steps 60 --log-every 1 -q --out "$w/nan")
echo "$e" | grep -q "diverged" || fail "divergence message: $e"
echo "cli_train: ok"
