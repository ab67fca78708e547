#!/bin/sh
# The checkpoint tools: sample, interpolate, reconstruct, manifold, encode,
# decode, inpaint, info, and tune's kernel stage. Trains two tiny runs (a 2-D VAE, an MLP GAN) on a
# small generated IDX set, runs every command's main path, checks the files
# (PNG sizes from IHDR, IDX sizes, safetensors header, inpaint keeping the
# known pixels) and one error path per command (non-zero exit, one line).
# usage: cli_commands.sh CLGM WORK_DIR
clgm=$1; work=$2
case $clgm in /*) ;; *) clgm=$(pwd)/$clgm ;; esac
out=$("$clgm" devices 2>&1); rc=$?
if [ $rc -eq 3 ]; then echo "SKIP: $out"; exit 77; fi
[ $rc -eq 0 ] || { echo "FAIL: clgm devices: $out"; exit 1; }
rm -rf "$work" && mkdir -p "$work" || exit 1
cd "$work" || exit 1
fail() { echo "FAIL: $*"; exit 1; }

# Stdlib-only helpers: a data set, PNG size and pixels, safetensors header.
cat > tool.py <<'EOF'
import gzip, json, struct, sys, zlib

def write_data(path):
    # 128 labelled 28x28 images: a bright box whose place depends on the label.
    n, labels, px = 128, [], bytearray()
    for i in range(n):
        lab = i % 4
        labels.append(lab)
        y0, x0 = 4 + 10 * (lab // 2), 4 + 10 * (lab % 2)
        for y in range(28):
            for x in range(28):
                inside = y0 <= y < y0 + 10 and x0 <= x < x0 + 10
                px.append(200 + (i * 7 + x) % 56 if inside else (x * y + i) % 40)
    with gzip.open(path + '-images-idx3-ubyte.gz', 'wb') as f:
        f.write(struct.pack('>IIII', 0x803, n, 28, 28) + bytes(px))
    with gzip.open(path + '-labels-idx1-ubyte.gz', 'wb') as f:
        f.write(struct.pack('>II', 0x801, n) + bytes(labels))

def read_png(path):
    data = open(path, 'rb').read()
    assert data[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
    pos, idat, ihdr = 8, b'', None
    while pos < len(data):
        ln, typ = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + ln]
        if typ == b'IHDR': ihdr = struct.unpack('>IIBBBBB', body)
        if typ == b'IDAT': idat += body
        pos += 12 + ln
    w, h, depth, ctype = ihdr[:4]
    ch = {0: 1, 2: 3, 4: 2, 6: 4}[ctype]
    raw, stride, rows, prev = zlib.decompress(idat), w * ch, [], bytearray(w * ch)
    for y in range(h):
        ft, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - ch] if i >= ch else 0
            b, c = prev[i], prev[i - ch] if i >= ch else 0
            if ft == 1: line[i] = (line[i] + a) & 255
            elif ft == 2: line[i] = (line[i] + b) & 255
            elif ft == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif ft == 4:
                p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line); prev = line
    return w, h, ch, rows

cmd = sys.argv[1]
if cmd == 'data':
    write_data(sys.argv[2])
elif cmd == 'size':
    w, h, ch, _ = read_png(sys.argv[2]); print('%dx%d' % (w, h))
elif cmd == 'inpaint':
    # Grid of n 28x28 tiles per row, pad 2, rows: original, masked, filled.
    # Outside the centre square the filled tile must equal the original; inside,
    # the masked tile must be grey 128 (0.5).
    w, h, ch, rows = read_png(sys.argv[2]); n = int(sys.argv[3])
    tile = lambda r, j, y, x: rows[2 + r * 30 + y][2 + j * 30 + x]
    for j in range(n):
        for y in range(28):
            for x in range(28):
                hidden = 7 <= y < 21 and 7 <= x < 21
                o, m, f = tile(0, j, y, x), tile(1, j, y, x), tile(2, j, y, x)
                if hidden: assert m == 128, 'masked pixel %d at %d,%d of %d' % (m, y, x, j)
                else: assert o == m == f, 'known pixel changed at %d,%d of %d: %d %d %d' % (y, x, j, o, m, f)
elif cmd == 'st':
    data = open(sys.argv[2], 'rb').read()
    hl = struct.unpack('<Q', data[:8])[0]
    hdr = json.loads(data[8:8 + hl])
    meta = hdr.pop('__metadata__', {})
    print(json.dumps({k: v['shape'] for k, v in sorted(hdr.items())}), meta.get('clgm.checkpoint'))
EOF
py() { python3 tool.py "$@" || fail "python check: $*"; }
size() { s=$(python3 tool.py size "$1") || fail "$1 is not a PNG"; [ "$s" = "$2" ] || fail "$1 is $s, want $2"; }
# An error: exit status $1 (or any non-zero with 'x'), one line on stderr matching $2.
err() {
    want=$1; pat=$2; shift 2
    e=$("$clgm" "$@" 2>&1 >/dev/null); rc=$?
    [ $rc -ne 0 ] || fail "clgm $* exited 0"
    [ "$want" = x ] || [ $rc -eq "$want" ] || fail "clgm $* exited $rc, want $want: $e"
    [ "$(printf '%s\n' "$e" | wc -l)" -eq 1 ] || fail "clgm $*: not one line: $e"
    printf '%s\n' "$e" | grep -q -- "$pat" || fail "clgm $*: message '$e' lacks '$pat'"
}

py data tiny
data=tiny-images-idx3-ubyte.gz
"$clgm" train vae --latent 2 --batch 16 --max-steps 12 --data $data --out vae2 -q || fail "train vae"
"$clgm" train vae --latent 3 --batch 16 --max-steps 1 --data $data --out vae3 -q || fail "train vae 3"
"$clgm" train mlp-gan --batch 16 --max-steps 2 --data $data --out gan -q || fail "train mlp-gan"
vae=vae2/checkpoint.safetensors; gan=gan/checkpoint.safetensors

# sample: grid size, IDX size, same seed -> same file, other seed -> other file.
"$clgm" sample $gan --n 10 --cols 5 --seed 3 --out s1.png --idx s.idx 2>/dev/null || fail "sample"
size s1.png 152x62
[ "$(wc -c < s.idx)" -eq $((16 + 10 * 784)) ] || fail "s.idx has $(wc -c < s.idx) bytes"
"$clgm" sample $gan --n 10 --cols 5 --seed 3 --out s2.png 2>/dev/null || fail "sample again"
cmp -s s1.png s2.png || fail "same seed gave different images"
"$clgm" sample $vae -n 10 --cols 5 --seed 4 --out s3.png 2>/dev/null || fail "sample vae"
cmp -s s1.png s3.png && fail "other seed and model gave the same images"
"$clgm" sample --help | grep -q "examples:" || fail "sample --help"
# --png-dir: one 28x28 PNG per image, which the folder loader reads back
"$clgm" sample $gan --n 20 --seed 3 --out s4.png --png-dir pngs 2>/dev/null || fail "sample --png-dir"
[ "$(ls pngs | wc -l)" -eq 20 ] || fail "pngs holds $(ls pngs | wc -l) files, want 20"
size pngs/000019.png 28x28
"$clgm" train mlp-gan --batch 16 --max-steps 1 --data pngs --out gan-png -q || fail "train on the sampled PNG folder"
err 1 "cannot create folder" sample $gan --n 2 --out s5.png --png-dir missing-dir/sub
err 1 "cannot open" sample missing.safetensors

# interpolate: rows x steps, linear and slerp.
"$clgm" interpolate $gan --rows 3 --steps 4 --out i.png 2>/dev/null || fail "interpolate"
size i.png 122x92
"$clgm" interpolate $vae --rows 2 --steps 5 --slerp --out i2.png 2>/dev/null || fail "interpolate --slerp"
size i2.png 152x62
err 2 "steps" interpolate $gan --steps 1

# reconstruct: bands of originals over reconstructions.
"$clgm" reconstruct $vae --data $data --n 10 --cols 5 --out r.png 2>/dev/null || fail "reconstruct"
size r.png 152x122
err 1 "GAN checkpoint" reconstruct $gan --data $data

# manifold: size x size; latent 3 and a GAN refused.
"$clgm" manifold $vae --size 5 --range 2 --out m.png 2>/dev/null || fail "manifold"
size m.png 152x152
"$clgm" manifold $vae --size 4 --normal --out m2.png 2>/dev/null || fail "manifold --normal"
size m2.png 122x122
err 1 "latent 2" manifold vae3/checkpoint.safetensors
err 1 "GAN checkpoint" manifold $gan

# encode / decode: codes (N,2) with labels and metadata; without labels for
# the sampled IDX; decode back to a grid and an IDX.
"$clgm" encode $vae --data $data --n 12 --out codes.safetensors 2>/dev/null || fail "encode"
st=$(py st codes.safetensors)
[ "$st" = '{"codes": [12, 2], "labels": [12]} vae2/checkpoint.safetensors' ] || fail "codes file: $st"
"$clgm" encode $vae --data s.idx --out codes2.safetensors 2>/dev/null || fail "encode unlabelled"
st=$(py st codes2.safetensors)
[ "$st" = '{"codes": [10, 2]} vae2/checkpoint.safetensors' ] || fail "unlabelled codes file: $st"
"$clgm" decode $vae codes.safetensors --out d.png --idx d.idx.gz 2>/dev/null || fail "decode"
size d.png 122x92
[ -s d.idx.gz ] || fail "decode --idx wrote nothing"
err 2 "data" encode $vae --out x.safetensors
err 1 "no such file" encode $vae --data nothing-here --out x.safetensors
err 1 "latent of 3" decode vae3/checkpoint.safetensors codes.safetensors --out x.png
err 1 "cannot open" decode $vae missing.safetensors --out x.png

# inpaint: known pixels kept exactly, hidden ones shown grey in the middle row.
"$clgm" inpaint $vae --data $data --mask center --n 6 --iters 3 --out p.png 2>/dev/null || fail "inpaint"
size p.png 182x92
py inpaint p.png 6
"$clgm" inpaint $vae --data $data --mask left --n 3 --out p2.png 2>/dev/null || fail "inpaint left"
size p2.png 92x92
err 1 "center, left, top" inpaint $vae --data $data --mask diagonal --out x.png
err 1 "GAN checkpoint" inpaint $gan --data $data --mask top --out x.png

# info: summary and config JSON.
o=$("$clgm" info $vae) || fail "info"
for want in "model      vae" "family     VAE" "latent     2" "encoder enc" "decoder dec" \
            "total .* trainable parameters" "clgm.step  *12"; do
    printf '%s\n' "$o" | grep -q "$want" || fail "info lacks '$want': $o"
done
"$clgm" info $gan | grep -q "discriminator D" || fail "info gan"
"$clgm" info $vae --json | python3 -c 'import json,sys; c=json.load(sys.stdin); assert c["latent"] == 2' \
    || fail "info --json"
err 1 "cannot open" info missing.safetensors
err 1 "cannot open" info missing.safetensors --json

# tune, kernel stage only (the GEMM stage has test_gemm_tune): a tiny run in
# its own cache stores a profile with the kernels line; bad options refused.
o=$(CLGM_CACHE_DIR=$work/tune-cache "$clgm" tune --tiny --only kernels) || fail "tune: $o"
printf '%s\n' "$o" | grep -q "ew=256,rw=[0-9]*,rp=[01] .* ms per step  (current)" || fail "tune: no current row: $o"
printf '%s\n' "$o" | grep -q "^best: ew=[0-9]*,rw=[0-9]*,rp=[01]" || fail "tune: no best line: $o"
grep -q "^kernels: ew=[0-9]*,rw=[0-9]*,rp=[01]$" "$work"/tune-cache/gemm-profile-*.txt \
    || fail "tune: the stored profile has no kernels line"
err 2 "gemm or kernels" tune --only everything
e=$(CLGM_KERNEL_PARAMS=ew=100 "$clgm" sample $vae --n 4 --out k.png 2>&1 >/dev/null) \
    && fail "sample with CLGM_KERNEL_PARAMS=ew=100 exited 0"
printf '%s\n' "$e" | grep -q "CLGM_KERNEL_PARAMS: ew=100 must be a power of 2" \
    || fail "bad CLGM_KERNEL_PARAMS: message '$e'"
[ ! -e k.png ] || fail "sample wrote an image despite a bad CLGM_KERNEL_PARAMS"

# The commands are listed.
for c in sample interpolate reconstruct manifold encode decode inpaint info; do
    "$clgm" --help | grep -q "^  $c " || fail "clgm --help lacks $c"
    "$clgm" $c --help | grep -q "examples:" || fail "clgm $c --help has no examples"
done
echo "cli_commands: ok"
