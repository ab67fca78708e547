#!/usr/bin/python3
"""PyTorch interop: load a clgm checkpoint into the same architecture built by
PyTorch and check that the generator's (GAN) or decoder's (VAE) output for the
same latent batch matches clgm's. usage: check_interop.py DIR
DIR holds gan.safetensors / gan_io.safetensors (and vae.*) written by
`test_train DIR`. Exits 77 when PyTorch is not installed.
Tolerance: max |torch - clgm| <= 1e-5 on images in [0,1] (fp32 both sides)."""
import json
import os
import sys

try:
    import torch
except ImportError:
    print("SKIP: PyTorch (python3-torch) is not installed")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clgm_spec  # noqa: E402
import st_io  # noqa: E402


def check(d, tag, role, prefix):
    tensors, meta = st_io.load(os.path.join(d, tag + ".safetensors"))
    cfg = json.loads(meta["clgm.config"])
    net = clgm_spec.build(cfg["nets"][role])
    state = {k[len(prefix):]: torch.from_numpy(v) for k, v in tensors.items() if k.startswith(prefix)}
    # Counters are stored as F32 by clgm; torch keeps them as int64.
    for k, v in list(state.items()):
        if k.endswith("num_batches_tracked"):
            state[k] = v.reshape(()).long()
    net.load_state_dict(state, strict=True)
    net.eval()
    io, _ = st_io.load(os.path.join(d, tag + "_io.safetensors"))
    with torch.no_grad():
        y = net(torch.from_numpy(io["z"]))
    y = (y + 1) / 2 if cfg["family"] == "gan" else torch.sigmoid(y)
    err = float((y - torch.from_numpy(io["images01"])).abs().max())
    print("%s: %s loaded into PyTorch (strict), max |diff| %.2e over %d values" %
          (tag, role, err, y.numel()))
    return err <= 1e-5


def main():
    d = sys.argv[1]
    ok = check(d, "gan", "G", "G.") & check(d, "vae", "dec", "dec.")
    print("interop: " + ("ok" if ok else "FAILED"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
