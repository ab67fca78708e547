#!/bin/sh
# clgm classifier train/eval and clgm eval on a tiny generated labelled set:
# a classifier trained for a few steps, a VAE trained for a few steps, then
# eval of the checkpoint (JSON keys, IW NLL <= negative ELBO), of an IDX file
# of its samples (--samples), of the test set itself (FCD ~ 0, precision and
# recall 1), and the error paths (no input, missing file: non-zero exit).
# usage: cli_eval.sh CLGM WORK_DIR
clgm=$1; work=$2
case $clgm in /*) ;; *) clgm=$(pwd)/$clgm ;; esac
out=$("$clgm" devices 2>&1); rc=$?
if [ $rc -eq 3 ]; then echo "SKIP: $out"; exit 77; fi
[ $rc -eq 0 ] || { echo "FAIL: clgm devices: $out"; exit 1; }
rm -rf "$work" && mkdir -p "$work/data" || exit 1
cd "$work" || exit 1
fail() { echo "FAIL: $*"; exit 1; }

cat > tool.py <<'PY'
import gzip, json, struct, sys

def write_set(prefix, n, seed):
    # n labelled 28x28 images: a bright box whose place depends on the label.
    labels, px = [], bytearray()
    for i in range(n):
        lab = (i * 5 + seed) % 4
        labels.append(lab)
        y0, x0 = 4 + 10 * (lab // 2), 4 + 10 * (lab % 2)
        for y in range(28):
            for x in range(28):
                inside = y0 <= y < y0 + 10 and x0 <= x < x0 + 10
                px.append(200 + (i * 7 + x + seed) % 56 if inside else (x * y + i + seed) % 40)
    with gzip.open(prefix + '-images-idx3-ubyte.gz', 'wb') as f:
        f.write(struct.pack('>IIII', 0x803, n, 28, 28) + bytes(px))
    with gzip.open(prefix + '-labels-idx1-ubyte.gz', 'wb') as f:
        f.write(struct.pack('>II', 0x801, n) + bytes(labels))

cmd = sys.argv[1]
if cmd == 'data':
    write_set('data/train', 256, 0)
    write_set('data/t10k', 128, 1)
elif cmd == 'json':  # json FILE KEY...: prints the values, fails on a missing key
    d = json.load(open(sys.argv[2]))
    print(' '.join(str(d[k]) for k in sys.argv[3:]))
PY
python3 tool.py data || fail "cannot write the data set"

"$clgm" classifier train --data data --epochs 5 --batch 32 --width 4 --hidden 16 --seed 3 --no-flip \
    --out clf.safetensors -q > clf.log 2>&1 || fail "classifier train: $(cat clf.log)"
grep -q "^epoch 5 loss .* test_accuracy" clf.log || fail "no per-epoch accuracy: $(cat clf.log)"
"$clgm" classifier eval clf.safetensors --data data:test --json > acc.json 2>&1 ||
    fail "classifier eval: $(cat acc.json)"
acc=$(python3 tool.py json acc.json accuracy) || fail "classifier eval JSON: $(cat acc.json)"
python3 -c "import sys; sys.exit(0 if $acc > 0.5 else 1)" || fail "accuracy $acc on 4 easy classes"
"$clgm" classifier train --data data --max-steps 2 --batch 32 --width 4 --hidden 16 \
    --out max.safetensors -q > max.log 2>&1 || fail "--max-steps: $(cat max.log)"

"$clgm" train vae --data data --max-steps 16 --batch 32 --out vae -q > vae.log 2>&1 ||
    fail "train vae: $(cat vae.log)"
common="--classifier clf.safetensors --test data:test --train data --n 100"
"$clgm" eval vae/checkpoint.safetensors $common --iw-k 8 --iw-n 6 --json > vae.json 2>eval.err ||
    fail "eval vae: $(cat eval.err)"
vals=$(python3 tool.py json vae.json fcd floor_fcd inception_score precision recall neg_elbo iw_nll) ||
    fail "eval JSON lacks keys: $(cat vae.json)"
set -- $vals
python3 -c "import sys; sys.exit(0 if $7 <= $6 + 1 and $1 >= 0 and $2 >= 0 else 1)" ||
    fail "eval values implausible (fcd floor is prec rec -elbo iw): $vals"

"$clgm" sample vae/checkpoint.safetensors --n 100 --out s.png --idx s-images-idx3-ubyte.gz \
    > /dev/null 2>&1 || fail "sample --idx"
"$clgm" eval --samples s-images-idx3-ubyte.gz $common > table.txt 2>eval.err ||
    fail "eval --samples: $(cat eval.err)"
grep -q "^FCD" table.txt && grep -q "train (floor)" table.txt && grep -q "^recall (k=3)" table.txt ||
    fail "eval table: $(cat table.txt)"

# An RGB 64x64 generator: its checkpoint is refused with the way round, and
# its samples as a PNG folder are resized to the classifier's 28x28 grey.
"$clgm" sample vae/checkpoint.safetensors --n 40 --out s40.png --png-dir vae-png > /dev/null 2>&1 ||
    fail "sample --png-dir"
"$clgm" train dcgan64 --data vae-png --batch 4 --max-steps 1 --out g64 -q > g64.log 2>&1 ||
    fail "train dcgan64 on a PNG folder: $(cat g64.log)"
"$clgm" eval g64/checkpoint.safetensors $common > err.txt 2>&1 && fail "eval of a 64x64 RGB checkpoint succeeded"
grep -q "png-dir" err.txt || fail "no way round in: $(cat err.txt)"
"$clgm" sample g64/checkpoint.safetensors --n 40 --out g64.png --png-dir g64-png > /dev/null 2>&1 ||
    fail "sample --png-dir from dcgan64"
"$clgm" eval --samples g64-png $common --n 40 --json > g64.json 2>eval.err ||
    fail "eval --samples of a 64x64 RGB folder: $(cat eval.err)"
python3 tool.py json g64.json fcd n_samples > /dev/null || fail "eval JSON: $(cat g64.json)"

# The test set scored against itself: FCD 0, precision and recall 1.
"$clgm" eval --samples data/t10k-images-idx3-ubyte.gz $common --json > self.json 2>eval.err ||
    fail "eval self: $(cat eval.err)"
set -- $(python3 tool.py json self.json fcd precision recall)
python3 -c "import sys; sys.exit(0 if $1 < 1e-6 and $2 == 1 and $3 == 1 else 1)" ||
    fail "test set vs itself: fcd $1 precision $2 recall $3"

"$clgm" eval > err.txt 2>&1; [ $? -eq 2 ] || fail "eval without input should exit 2"
"$clgm" eval --samples nothing-here.gz $common > err.txt 2>&1 && fail "eval of a missing file succeeded"
[ "$(wc -l < err.txt)" -eq 1 ] || fail "error message not one line: $(cat err.txt)"
echo "cli_eval: all checks passed"
