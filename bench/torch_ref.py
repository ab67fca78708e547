#!/usr/bin/python3
"""PyTorch reference trainer for clgm's presets: the same architectures (read from
src/models/presets/*.json through test/pytorch/clgm_spec.py), the same losses, batch,
optimizer settings and initialization, so images/s and sample quality compare directly.

Examples:
  /usr/bin/python3 bench/torch_ref.py --preset dcgan --steps 50 --threads 2
  /usr/bin/python3 bench/torch_ref.py --preset vae --epochs 5 --samples out/vae.idx.gz
Prints one JSON line with images/s (timed steps only, after --warmup steps).
"""
import argparse
import gzip
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "test", "pytorch"))
import clgm_spec  # noqa: E402

DATA_DIR = os.environ.get("CLGM_DATA_DIR", "/usr/share/datasets/fashion-mnist")


def load_preset(name, latent=None):
    with open(os.path.join(ROOT, "src", "models", "presets", name + ".json")) as f:
        p = json.load(f)
    if latent:
        set_latent(p, latent)
    return p


def set_latent(p, latent):
    """The same patch clgm applies for --latent: generator/decoder input and the
    encoder's last linear layer (mu and logvar)."""
    p["latent"] = latent
    nets = p["nets"]
    if "G" in nets:
        nets["G"]["input"] = [latent]
    if "dec" in nets:
        nets["dec"]["input"] = [latent]
    if "enc" in nets:
        nets["enc"]["layers"][-1]["out"] = 2 * latent


def read_idx(path):
    op = gzip.open if path.endswith(".gz") else open
    with op(path, "rb") as f:
        data = f.read()
    magic, n = struct.unpack(">II", data[:8])
    if magic != 0x803:
        raise ValueError("%s: not an idx3-ubyte file" % path)
    h, w = struct.unpack(">II", data[8:16])
    return np.frombuffer(data, np.uint8, offset=16).reshape(n, 1, h, w).astype(np.float32) / 255.0


def write_idx(path, images01):
    n, _, h, w = images01.shape
    raw = struct.pack(">IIII", 0x803, n, h, w) + (np.clip(images01, 0, 1) * 255 + 0.5).astype(np.uint8).tobytes()
    op = gzip.open if path.endswith(".gz") else open
    with op(path, "wb") as f:
        f.write(raw)


def init_weights(model, scheme):
    if scheme != "dcgan":
        return  # PyTorch defaults
    for m in model.modules():
        name = type(m).__name__
        if name.startswith("Conv") or name == "Linear":
            w = m.weight_orig if hasattr(m, "weight_orig") else m.weight
            torch.nn.init.normal_(w, 0.0, 0.02)
            if m.bias is not None:
                torch.nn.init.zeros_(m.bias)
        elif name.startswith("BatchNorm"):
            torch.nn.init.normal_(m.weight, 1.0, 0.02)
            torch.nn.init.zeros_(m.bias)


def adam(params, o):
    return torch.optim.Adam(params, lr=o["lr"], betas=(o["beta1"], o["beta2"]), eps=o["eps"],
                            weight_decay=o.get("weight_decay", 0))


class GanTrainer:
    def __init__(self, p):
        self.p = p
        self.G = clgm_spec.build(p["nets"]["G"])
        self.D = clgm_spec.build(p["nets"]["D"])
        init_weights(self.G, p["init"])
        init_weights(self.D, p["init"])
        self.oG = adam(self.G.parameters(), p["optim"]["G"])
        self.oD = adam(self.D.parameters(), p["optim"]["D"])
        self.latent = p["latent"]

    def d_loss(self, real, fake):
        loss = self.p["loss"]
        if loss == "bce":
            return (F.binary_cross_entropy_with_logits(real, torch.ones_like(real)) +
                    F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))
        if loss == "ls":
            return 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake ** 2).mean()
        if loss == "hinge":
            return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
        raise ValueError(loss)

    def g_loss(self, fake):
        loss = self.p["loss"]
        if loss == "bce":
            return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
        if loss == "ls":
            return 0.5 * ((fake - 1) ** 2).mean()
        return -fake.mean()

    def step(self, x01):
        x = x01 * 2 - 1
        z = torch.randn(x.shape[0], self.latent)
        self.oD.zero_grad()
        fake = self.G(z)
        lossD = self.d_loss(self.D(x), self.D(fake.detach()))
        lossD.backward()
        self.oD.step()
        self.oG.zero_grad()
        lossG = self.g_loss(self.D(fake))
        lossG.backward()
        self.oG.step()
        return {"loss_d": lossD.item(), "loss_g": lossG.item()}

    @torch.no_grad()
    def sample(self, n):
        self.G.eval()
        out = torch.cat([(self.G(torch.randn(min(500, n - i), self.latent)) + 1) / 2
                         for i in range(0, n, 500)])
        self.G.train()
        return out


class VaeTrainer:
    def __init__(self, p):
        self.p = p
        self.enc = clgm_spec.build(p["nets"]["enc"])
        self.dec = clgm_spec.build(p["nets"]["dec"])
        init_weights(self.enc, p["init"])
        init_weights(self.dec, p["init"])
        self.opt = adam(list(self.enc.parameters()) + list(self.dec.parameters()), p["optim"]["vae"])
        self.latent = p["latent"]

    def step(self, x):
        B, L = x.shape[0], self.latent
        self.opt.zero_grad()
        h = self.enc(x)
        mu, logvar = h[:, :L], h[:, L:]
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        logits = self.dec(z)
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / B
        kl = -0.5 * torch.sum(1 + logvar - mu ** 2 - logvar.exp()) / B
        loss = recon + self.p.get("beta", 1.0) * kl
        loss.backward()
        self.opt.step()
        return {"loss": loss.item(), "recon": recon.item(), "kl": kl.item()}

    @torch.no_grad()
    def sample(self, n):
        self.dec.eval()
        out = torch.cat([torch.sigmoid(self.dec(torch.randn(min(500, n - i), self.latent)))
                         for i in range(0, n, 500)])
        self.dec.train()
        return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="dcgan")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=0, help="timed steps (benchmark mode)")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=0, help="full epochs (quality mode)")
    ap.add_argument("--latent", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--samples", default="", help="write N generated images as IDX (.gz) here")
    ap.add_argument("--n-samples", type=int, default=10000)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    p = load_preset(a.preset, a.latent or None)
    if p["family"] == "gan":
        tr = GanTrainer(p)
    elif p["family"] == "vae":
        tr = VaeTrainer(p)
    else:
        sys.exit("torch_ref.py: preset %s (family %s) is not supported here" % (a.preset, p["family"]))
    data = torch.from_numpy(read_idx(os.path.join(DATA_DIR, "train-images-idx3-ubyte.gz")))
    n = data.shape[0]
    if a.steps:
        for i in range(a.warmup):
            tr.step(data[i * a.batch:(i + 1) * a.batch])
        t0 = time.perf_counter()
        for i in range(a.steps):
            j = (i * a.batch) % (n - a.batch)
            last = tr.step(data[j:j + a.batch])
        dt = time.perf_counter() - t0
        print(json.dumps({"framework": "pytorch", "version": torch.__version__, "preset": a.preset,
                          "batch": a.batch, "threads": a.threads, "steps": a.steps,
                          "images_per_s": a.steps * a.batch / dt, "last": last}))
    for epoch in range(a.epochs):
        perm = torch.randperm(n)
        t0 = time.perf_counter()
        for i in range(n // a.batch):
            last = tr.step(data[perm[i * a.batch:(i + 1) * a.batch]])
        print(json.dumps({"epoch": epoch + 1, "seconds": round(time.perf_counter() - t0, 1), **last}),
              flush=True)
    if a.samples:
        write_idx(a.samples, tr.sample(a.n_samples).numpy())
        print("wrote %d samples to %s" % (a.n_samples, a.samples))


if __name__ == "__main__":
    main()
