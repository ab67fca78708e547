#!/usr/bin/python3
"""Check that each fixture is self-contained: rebuild the nets from the spec JSON in
__metadata__, load init.* weights and the saved inputs from the file only, re-run
the step procedure and compare against every stored tensor.

    /usr/bin/python3 test/pytorch/check_fixtures.py [fixtures_dir]
"""
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import clgm_spec  # noqa: E402
import make_fixtures as M  # noqa: E402
import st_io  # noqa: E402


def net_from(t, meta, role):
    m = clgm_spec.build(json.loads(meta["spec." + role]))
    pre = "init.%s." % role
    sdict = {}
    for k, v in m.state_dict().items():
        a = torch.from_numpy(t[pre + k])
        sdict[k] = a.to(v.dtype)
        assert tuple(a.shape) == tuple(v.shape), (pre + k, a.shape, v.shape)
    extra = [k for k in t if k.startswith(pre) and k[len(pre):] not in sdict]
    assert not extra, extra
    m.load_state_dict(sdict)
    return m


def cmp(name, t, ref):
    assert set(t) == set(ref), (name, set(t) ^ set(ref))
    worst = 0.0
    for k in ref:
        a = ref[k]
        b = t[k].detach().float().numpy()
        assert a.shape == b.shape, (k, a.shape, b.shape)
        worst = max(worst, float(np.abs(a - b).max()) if a.size else 0.0)
    print("%-24s %d tensors re-derived from file only; max abs diff %.3g" % (name, len(ref), worst))
    assert worst == 0.0, "not bit-identical"


def main():
    torch.set_num_threads(1)
    d = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "fixtures")
    data_keys = lambda t, pfx: {k: torch.from_numpy(v) for k, v in t.items() if k.startswith(pfx)}

    t, meta = st_io.load(os.path.join(d, "dcgan_step.safetensors"))
    G, D = net_from(t, meta, "G"), net_from(t, meta, "D")
    data = data_keys(t, ("x.", "z."))
    cmp("dcgan_step", M.dcgan_run(G, D, data, torch.float32), t)
    assert t["final.D.net.3.num_batches_tracked"] == 9 and t["final.G.net.1.num_batches_tracked"] == 3

    t, meta = st_io.load(os.path.join(d, "vae_step.safetensors"))
    enc, dec = net_from(t, meta, "enc"), net_from(t, meta, "dec")
    cmp("vae_step", M.vae_run(enc, dec, data_keys(t, ("x.", "eps.")), torch.float32), t)

    t, meta = st_io.load(os.path.join(d, "conv_stack.safetensors"))
    net = net_from(t, meta, "net")
    cmp("conv_stack", M.conv_run(net, data_keys(t, ("x", "target")), torch.float32), t)
    assert t["final.net.net.1.num_batches_tracked"] == 3
    print("all fixtures OK")


if __name__ == "__main__":
    main()
