#!/usr/bin/python3
"""Writes the first N Fashion-MNIST training images, upscaled to 64x64 RGB
(bicubic), as a PNG folder: a stand-in data set for the `dcgan64` preset on
a machine without a 64x64 image collection, and the data of the README's
dcgan64 quality rows. Needs python3-pil and python3-numpy.

Example:
  /usr/bin/python3 scripts/fashion-mnist-64.py /tmp/fm64 --n 10000
  clgm train dcgan64 --data /tmp/fm64 --epochs 5
"""
import argparse
import gzip
import os

import numpy as np
from PIL import Image


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", help="output folder (created)")
    ap.add_argument("--n", type=int, default=10000, help="images (default 10000)")
    ap.add_argument("--idx", default="/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz",
                    help="IDX images (default: Debian's dataset-fashion-mnist training set)")
    a = ap.parse_args()
    with gzip.open(a.idx) if a.idx.endswith(".gz") else open(a.idx, "rb") as f:
        data = f.read()
    if int.from_bytes(data[:4], "big") != 0x803:
        raise SystemExit("fashion-mnist-64.py: %s is not an IDX image file" % a.idx)
    n, h, w = (int.from_bytes(data[4 * i:4 * i + 4], "big") for i in (1, 2, 3))
    x = np.frombuffer(data, np.uint8, offset=16).reshape(n, h, w)
    os.makedirs(a.out, exist_ok=True)
    for i in range(min(a.n, n)):
        Image.fromarray(x[i]).resize((64, 64), Image.BICUBIC).convert("RGB").save(
            os.path.join(a.out, "%05d.png" % i))
    print("wrote %d images to %s" % (min(a.n, n), a.out))


if __name__ == "__main__":
    main()
