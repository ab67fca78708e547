#!/bin/sh
# A clgm checkpoint loads into PyTorch and gives the same outputs.
# usage: interop.sh TEST_TRAIN_BINARY WORK_DIR SOURCE_DIR
set -u
bin=$1; dir=$2; src=$3
/usr/bin/python3 -c "import torch" 2>/dev/null || { echo "SKIP: python3-torch not installed"; exit 77; }
rm -rf "$dir"; mkdir -p "$dir"
"$bin" "$dir"; rc=$?
[ $rc -eq 0 ] || exit $rc
exec /usr/bin/python3 "$src/test/pytorch/check_interop.py" "$dir"
