"""Minimal safetensors writer/reader (F32 only) -- no safetensors package needed.

Layout: u64 little-endian header length N, N bytes of JSON header (padded with
spaces to a multiple of 8), then raw little-endian data. data_offsets are
relative to the start of the data area; tensors are stored contiguously in
sorted-name order. __metadata__ maps string -> string.
"""
import json
import struct

import numpy as np


def save(path, tensors, metadata=None):
    """tensors: dict name -> array-like (torch tensor or numpy); stored as F32."""
    header = {}
    blobs = []
    off = 0
    for name in sorted(tensors):
        t = tensors[name]
        if hasattr(t, "detach"):
            t = t.detach().cpu().double().numpy()
        a = np.array(t, dtype="<f4", order="C", copy=True)  # keeps 0-d shape
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise TypeError("metadata must be str -> str (%r)" % (k,))
        header["__metadata__"] = dict(metadata)
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * ((-len(hb)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for b in blobs:
            f.write(b)


def load(path):
    """-> (dict name -> np.ndarray float32, metadata dict)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    if n % 8 != 0 or 8 + n > len(raw):
        raise ValueError("bad header length %d" % n)
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    out = {}
    spans = []
    for name, info in header.items():
        if info["dtype"] != "F32":
            raise ValueError("%s: only F32 supported" % name)
        b, e = info["data_offsets"]
        shape = info["shape"]
        cnt = int(np.prod(shape)) if shape else 1
        if e - b != 4 * cnt or e > len(data):
            raise ValueError("%s: bad offsets" % name)
        out[name] = np.frombuffer(data[b:e], dtype="<f4").copy().reshape(tuple(shape))
        spans.append((b, e))
    spans.sort()
    pos = 0
    for b, e in spans:  # contiguous, no holes/overlap (as the safetensors spec requires)
        if b != pos:
            raise ValueError("non-contiguous data")
        pos = e
    if pos != len(data):
        raise ValueError("trailing bytes in data area")
    return out, meta


if __name__ == "__main__":
    import sys
    for p in sys.argv[1:]:
        t, m = load(p)
        print("==", p)
        for k in sorted(m):
            v = m[k]
            print("  meta %s = %s" % (k, v if len(v) < 100 else v[:97] + "..."))
        for k in sorted(t):
            print("  %-40s %s" % (k, list(t[k].shape)))
