#!/usr/bin/env bash
# clgm's benchmark on a borrowed machine with an NVIDIA GPU that has the driver
# but no clgm, no OpenCL ICD loader and no network (a bare cloud image).
#
#   scripts/device-bench.sh pack [DIR]
#       Here (Debian): builds Release and writes DIR/clgm-bundle.tar.xz (default
#       DIR: .device, ignored by git): clgm, bench_train and bench_gemm with every
#       shared library they need beyond glibc and libstdc++, the OpenCL ICD loader
#       among them.
#   scripts/device-bench.sh run BUNDLE OUT
#       There, from a checkout of this repository: unpacks BUNDLE, points the ICD
#       loader at the driver's libnvidia-opencl.so.1 (OCL_ICD_VENDORS), and runs
#       `clgm devices`, `clgm tune --only gemm`, bench_train (--json/--md),
#       bench_gemm (own kernels and CLBlast) and bench/compare.py against
#       PyTorch CUDA on the same GPU (python3 with PyTorch >= 2.0). Each step has
#       a time limit and the next one runs anyway; DEVICE_BENCH_BUDGET (seconds,
#       default 540) skips what would start later. OUT gets results.tar.gz (every
#       output, packed again after each step, so a cut-off run keeps what it
#       finished) and copies of steps.txt, env.txt, bench_train.md, compare.md:
#       few files, since a device tool may return only a handful.
#
# Environment for `run`: CLGM_BENCH_DEVICE (clgm --device, default nvidia),
# TORCH_DEVICE (default cuda), PYTHON (one with PyTorch, default python3),
# OPENCL_ICD_LIB (the OpenCL driver library, found
# by search when unset), BENCH_TRAIN_ARGS and COMPARE_ARGS (appended to those
# commands). A rehearsal on a machine without a GPU, through PoCL:
#   OPENCL_ICD_LIB=libpocl.so.2 CLGM_BENCH_DEVICE=cpu TORCH_DEVICE=cpu PYTHON=/usr/bin/python3 \
#   BENCH_TRAIN_ARGS="--presets vae --batches 64" COMPARE_ARGS="--presets vae --rounds 1" \
#   scripts/device-bench.sh run .device/clgm-bundle.tar.xz /tmp/rehearsal
set -euo pipefail

die() { echo "device-bench.sh: $*" >&2; exit 1; }

pack() {
    local dir=${1:-.device} root
    root=$(cd "$(dirname "$0")/.." && pwd)
    local build=$root/build-bundle stage
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$build" -j"$(nproc)" --target clgm_cli bench_train bench_gemm >/dev/null
    stage=$(mktemp -d)
    mkdir -p "$stage/bin" "$stage/lib"
    cp "$build/clgm" "$build/bench/bench_train" "$build/bench/bench_gemm" "$stage/bin/"
    # Everything ldd resolves except the C and C++ runtimes, which any
    # x86-64 Linux with a newer glibc has.
    ldd "$stage"/bin/* | awk '/=> \//{print $3}' | sort -u | while read -r lib; do
        case $(basename "$lib") in
            libc.so.*|libm.so.*|libstdc++.so.*|libgcc_s.so.*|libpthread.so.*|libdl.so.*|librt.so.*|ld-linux*) ;;
            *) cp -L "$lib" "$stage/lib/" ;;
        esac
    done
    git -C "$root" rev-parse --short HEAD >"$stage/COMMIT" 2>/dev/null || echo unknown >"$stage/COMMIT"
    mkdir -p "$dir"
    tar -C "$stage" -cJf "$dir/clgm-bundle.tar.xz" .
    rm -rf "$stage"
    echo "wrote $dir/clgm-bundle.tar.xz ($(du -h "$dir/clgm-bundle.tar.xz" | cut -f1), commit $(tar -xOJf "$dir/clgm-bundle.tar.xz" ./COMMIT))"
}

find_nvidia_opencl() {
    local p
    p=$(ldconfig -p 2>/dev/null | awk '/libnvidia-opencl\.so\.1 /{print $NF; exit}')
    if [ -z "$p" ]; then
        p=$(find /usr/local/nvidia /usr/lib /usr/lib64 /usr/local/lib /lib -name 'libnvidia-opencl.so.1' \
            2>/dev/null | head -1)
    fi
    echo "$p"
}

run() {
    local bundle=${1:-} out=${2:-}
    if [ -z "$bundle" ] || [ -z "$out" ]; then die "usage: $0 run BUNDLE OUT"; fi
    [ -f "$bundle" ] || die "$bundle: no such bundle (make one with: $0 pack)"
    local root start budget dev tdev b
    root=$(cd "$(dirname "$0")/.." && pwd)
    start=$(date +%s)
    budget=${DEVICE_BENCH_BUDGET:-540}
    dev=${CLGM_BENCH_DEVICE:-nvidia}
    tdev=${TORCH_DEVICE:-cuda}
    b=$(mktemp -d)
    trap 'rm -rf "$b"' EXIT
    mkdir -p "$out"
    local res=$b/results
    mkdir -p "$res"
    tar -C "$b" -xJf "$bundle"
    export LD_LIBRARY_PATH="$b/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export CLGM_CACHE_DIR="$b/cache"
    export CLGM_DEVICE="$dev"  # bench_gemm takes its device from here
    local icd=${OPENCL_ICD_LIB:-}
    if [ -z "$icd" ] && [ "$dev" = nvidia ]; then
        icd=$(find_nvidia_opencl)
        [ -n "$icd" ] || die "no libnvidia-opencl.so.1 on this machine: the NVIDIA driver's OpenCL part is missing (set OPENCL_ICD_LIB if it lies elsewhere)"
    fi
    if [ -n "$icd" ]; then
        # the bundled loader reads only this folder's .icd files
        mkdir -p "$b/icd"
        echo "$icd" >"$b/icd/driver.icd"
        export OCL_ICD_VENDORS="$b/icd"
        echo "OpenCL driver: $icd" | tee "$res/env.txt"
    fi
    {
        echo "clgm commit $(cat "$b/COMMIT"), $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -srm)"
        nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || true
        nproc
    } >>"$res/env.txt"

    # step NAME LIMIT CMD...: runs CMD with a time limit, output to NAME.txt
    step() {
        local name=$1 limit=$2 now
        shift 2
        now=$(date +%s)
        if [ $((now - start + 30)) -gt "$budget" ]; then
            echo "== $name: skipped (budget of ${budget} s reached)" | tee -a "$res/steps.txt"
            return 0
        fi
        echo "== $name (limit ${limit} s)" | tee -a "$res/steps.txt"
        local rc=0
        timeout "$limit" "$@" >"$res/$name.txt" 2>&1 || rc=$?
        echo "   exit $rc after $(($(date +%s) - now)) s" | tee -a "$res/steps.txt"
        tail -n 25 "$res/$name.txt"
        tar -C "$res" -czf "$out/results.tar.gz" .
        for f in steps.txt env.txt bench_train.md compare.md; do
            if [ -f "$res/$f" ]; then cp "$res/$f" "$out/"; fi
        done
    }

    step devices 60 "$b/bin/clgm" devices
    step tune 150 "$b/bin/clgm" tune --device "$dev" --only gemm
    # shellcheck disable=SC2086  # the *_ARGS are word lists
    step bench_train 240 "$b/bin/bench_train" --device "$dev" --json "$res/bench_train.json" \
        --md "$res/bench_train.md" ${BENCH_TRAIN_ARGS:-}
    step bench_gemm 90 "$b/bin/bench_gemm" --backends own,clblast --json "$res/gemm.json"
    # shellcheck disable=SC2086
    step compare 200 "${PYTHON:-python3}" "$root/bench/compare.py" --bench "$b/bin/bench_train" --device "$dev" \
        --torch-device "$tdev" --rounds 3 --seconds 2 --md "$res/compare.md" ${COMPARE_ARGS:-}
    echo "results in $out"
}

case ${1:-} in
    pack) shift; pack "$@" ;;
    run) shift; run "$@" ;;
    *) die "usage: $0 pack [DIR] | $0 run BUNDLE OUT" ;;
esac
