#!/usr/bin/python3
"""PyTorch reference trainer for clgm's presets: the same architectures (read from
src/models/presets/*.json through test/pytorch/clgm_spec.py), the same losses, batch,
optimizer settings and initialization, so images/s and sample quality compare directly.

Examples:
  /usr/bin/python3 bench/torch_ref.py --preset dcgan --steps 50 --threads 2
  python3 bench/torch_ref.py --preset dcgan --steps 200 --device cuda --data random
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


def read_png_dir(path, shape):
    """A folder of PNG/JPEG images in name order, converted to the model's
    channels and size as clgm's folder loader does (values in [0, 1])."""
    from PIL import Image
    c, h, w = shape
    names = sorted(f for f in os.listdir(path) if f.lower().endswith((".png", ".jpg", ".jpeg")))
    if not names:
        raise ValueError("%s: no PNG or JPEG images" % path)
    out = np.empty((len(names), c, h, w), np.float32)
    for i, name in enumerate(names):
        im = Image.open(os.path.join(path, name)).convert("L" if c == 1 else "RGB")
        if im.size != (w, h):
            im = im.resize((w, h), Image.BICUBIC)
        a = np.asarray(im, np.float32) / 255.0
        out[i] = a[None] if c == 1 else a.transpose(2, 0, 1)
    return out


def write_png_dir(path, images01):
    """One PNG per image, NNNNNN.png, as `clgm sample --png-dir` writes them."""
    from PIL import Image
    os.makedirs(path, exist_ok=True)
    u8 = (np.clip(images01, 0, 1) * 255 + 0.5).astype(np.uint8)
    for i, a in enumerate(u8):
        im = Image.fromarray(a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0))
        im.save(os.path.join(path, "%06d.png" % i))


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
        return {"loss_d": lossD.detach(), "loss_g": lossG.detach()}

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
        return {"loss": loss.detach(), "recon": recon.detach(), "kl": kl.detach()}

    @torch.no_grad()
    def neg_elbo(self, x):
        """Test-set negative ELBO in nats per image (one posterior sample), the
        quantity clgm eval reports for VAEs."""
        self.enc.eval()
        self.dec.eval()
        total = 0.0
        L = self.latent
        for i in range(0, x.shape[0], 500):
            xb = x[i:i + 500].reshape(-1, *self.p["image"])
            h = self.enc(xb)
            mu, logvar = h[:, :L], h[:, L:]
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
            rec = F.binary_cross_entropy_with_logits(self.dec(z), xb, reduction="sum")
            kl = -0.5 * torch.sum(1 + logvar - mu ** 2 - logvar.exp())
            total += float(rec + kl)
        self.enc.train()
        self.dec.train()
        return total / x.shape[0]

    @torch.no_grad()
    def sample(self, n):
        self.dec.eval()
        out = torch.cat([torch.sigmoid(self.dec(torch.randn(min(500, n - i), self.latent)))
                         for i in range(0, n, 500)])
        self.dec.train()
        return out


class VaeGanTrainer:
    """VAE-GAN (Larsen et al. 2016) with clgm's losses and order (src/models/gm_vaegan.c):
    D steps first on real x, reconstructions x_r and prior samples x_p; then the encoder
    (beta KL + recon) and decoder (gamma recon + non-saturating GAN) through the updated D.
    recon = per-image sum of squared differences of D's feature_layer outputs (or of
    pixels in [-1, 1]) averaged over the batch."""

    def __init__(self, p):
        self.p = p
        self.enc = clgm_spec.build(p["nets"]["enc"])
        self.dec = clgm_spec.build(p["nets"]["dec"])
        self.D = clgm_spec.build(p["nets"]["D"])
        for net in (self.enc, self.dec, self.D):
            init_weights(net, p["init"])
        self.oE = adam(self.enc.parameters(), p["optim"]["enc"])
        self.oG = adam(self.dec.parameters(), p["optim"]["dec"])
        self.oD = adam(self.D.parameters(), p["optim"]["D"])
        self.latent = p["latent"]
        self.pixel = p.get("recon", "feature") == "pixel"
        self.layer = p.get("feature_layer", -1)
        self.gamma = p.get("gamma", 1.0)
        self.beta = p.get("beta", 1.0)
        self.pretrain_epochs = p.get("pretrain_vae_epochs", 0)
        self.epoch = 0  # set by the caller, as clgm train sets m->epoch

    def d_and_features(self, x):
        """D's logit and the output of layer feature_layer from one forward pass."""
        feat = None
        for i, mod in enumerate(self.D.net):
            x = mod(x)
            if i == self.layer:
                feat = x
        return x, feat

    def step(self, x01):
        x = x01 * 2 - 1
        B, L = x.shape[0], self.latent
        bce = F.binary_cross_entropy_with_logits
        h = self.enc(x)
        mu, logvar = h[:, :L], h[:, L:]
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        kl = -0.5 * torch.sum(1 + logvar - mu ** 2 - logvar.exp()) / B
        if self.epoch < self.pretrain_epochs:
            recon = ((self.dec(z) - x) ** 2).sum() / B
            self.oE.zero_grad()
            self.oG.zero_grad()
            (recon + self.beta * kl).backward()
            self.oE.step()
            self.oG.step()
            return {"loss_d": 0.0, "loss_g": 0.0, "recon": recon.detach(), "kl": kl.detach()}
        out = self.dec(torch.cat([z, torch.randn(B, L)]))
        xr, xp = out[:B], out[B:]
        self.oD.zero_grad()
        dr = self.D(x)
        lossD = (bce(dr, torch.ones_like(dr)) + bce(self.D(xr.detach()), torch.zeros_like(dr)) +
                 bce(self.D(xp.detach()), torch.zeros_like(dr)))
        lossD.backward()
        self.oD.step()
        if self.pixel:
            yr, _ = self.d_and_features(xr)
            recon = ((xr - x) ** 2).sum() / B
        else:
            with torch.no_grad():
                _, fx = self.d_and_features(x)
            yr, fr = self.d_and_features(xr)
            recon = ((fr - fx) ** 2).sum() / B
        yp = self.D(xp)
        gan = bce(yr, torch.ones_like(yr)) + bce(yp, torch.ones_like(yp))
        encp, decp = list(self.enc.parameters()), list(self.dec.parameters())
        gE = torch.autograd.grad(recon + self.beta * kl, encp, retain_graph=True)
        gG = torch.autograd.grad(self.gamma * recon + gan, decp)
        for p_, g in zip(encp + decp, list(gE) + list(gG)):
            p_.grad = g
        self.oE.step()
        self.oG.step()
        return {"loss_d": lossD.detach(), "loss_g": gan.detach(), "recon": recon.detach(),
                "kl": kl.detach()}

    @torch.no_grad()
    def neg_elbo(self, x):
        """Test-set negative ELBO in nats per image (one posterior sample), the
        quantity clgm eval reports for VAEs."""
        self.enc.eval()
        self.dec.eval()
        total = 0.0
        L = self.latent
        for i in range(0, x.shape[0], 500):
            xb = x[i:i + 500].reshape(-1, *self.p["image"])
            h = self.enc(xb)
            mu, logvar = h[:, :L], h[:, L:]
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
            rec = F.binary_cross_entropy_with_logits(self.dec(z), xb, reduction="sum")
            kl = -0.5 * torch.sum(1 + logvar - mu ** 2 - logvar.exp())
            total += float(rec + kl)
        self.enc.train()
        self.dec.train()
        return total / x.shape[0]

    @torch.no_grad()
    def sample(self, n):
        self.dec.eval()
        out = torch.cat([(self.dec(torch.randn(min(500, n - i), self.latent)) + 1) / 2
                         for i in range(0, n, 500)])
        self.dec.train()
        return out


def scalars(d):
    """A step's losses as floats. Steps return them as tensors so that a timed
    run does not wait for the device after every step (clgm reads its losses
    back every --log-every steps)."""
    return {k: float(v) for k, v in d.items()}


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


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
    ap.add_argument("--data", default="",
                    help="training images: an IDX file, a folder of PNG/JPEG images, or 'random' "
                         "(4096 uniform images, for speed runs; default: Fashion-MNIST's training set)")
    ap.add_argument("--device", default="cpu",
                    help="torch device: cpu (default) or cuda[:N] (PyTorch 2.0 or newer)")
    ap.add_argument("--samples", default="",
                    help="write N generated images here: IDX (.gz) for a file name, one PNG per "
                         "image for a name ending in /")
    ap.add_argument("--n-samples", type=int, default=10000)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    if a.device != "cpu":
        if not hasattr(torch, "set_default_device"):
            sys.exit("torch_ref.py: --device %s needs PyTorch 2.0 or newer (this is %s)"
                     % (a.device, torch.__version__))
        torch.set_default_device(a.device)  # models, noise and targets alike
    p = load_preset(a.preset, a.latent or None)
    if p["family"] == "gan":
        tr = GanTrainer(p)
    elif p["family"] == "vae":
        tr = VaeTrainer(p)
    elif p["family"] == "vaegan":
        tr = VaeGanTrainer(p)
    else:
        sys.exit("torch_ref.py: preset %s (family %s) is not supported here" % (a.preset, p["family"]))
    if a.data == "random":
        data = torch.rand(4096, *p["image"], device="cpu")
    elif a.data and os.path.isdir(a.data):
        data = torch.from_numpy(read_png_dir(a.data, p["image"]))
    else:
        data = torch.from_numpy(read_idx(a.data or os.path.join(DATA_DIR, "train-images-idx3-ubyte.gz")))
    data = data.to(a.device)
    n = data.shape[0]
    if a.steps:
        # time the steady state, as bench_train does: past vae-gan's pretraining
        tr.epoch = getattr(tr, "pretrain_epochs", 0)
        for i in range(a.warmup):
            tr.step(data[i * a.batch:(i + 1) * a.batch])
        sync(a.device)
        t0 = time.perf_counter()
        for i in range(a.steps):
            j = (i * a.batch) % (n - a.batch)
            last = tr.step(data[j:j + a.batch])
        sync(a.device)
        dt = time.perf_counter() - t0
        dev = torch.cuda.get_device_name(a.device) if a.device.startswith("cuda") else "cpu"
        print(json.dumps({"framework": "pytorch", "version": torch.__version__, "preset": a.preset,
                          "batch": a.batch, "threads": a.threads, "device": dev, "steps": a.steps,
                          "images_per_s": a.steps * a.batch / dt, "last": scalars(last)}))
    for epoch in range(a.epochs):
        tr.epoch = epoch
        perm = torch.randperm(n, device=a.device)
        t0 = time.perf_counter()
        for i in range(n // a.batch):
            last = tr.step(data[perm[i * a.batch:(i + 1) * a.batch]])
        print(json.dumps({"epoch": epoch + 1, "seconds": round(time.perf_counter() - t0, 1),
                          **scalars(last)}),
              flush=True)
    if a.epochs and hasattr(tr, "neg_elbo"):
        test = torch.from_numpy(read_idx(os.path.join(DATA_DIR, "t10k-images-idx3-ubyte.gz"))).to(a.device)
        print(json.dumps({"test_neg_elbo_nats": tr.neg_elbo(test)}), flush=True)
    if a.samples:
        imgs = tr.sample(a.n_samples).cpu().numpy()
        if a.samples.endswith("/"):
            write_png_dir(a.samples, imgs)
        else:
            write_idx(a.samples, imgs)
        print("wrote %d samples to %s" % (a.n_samples, a.samples))


if __name__ == "__main__":
    main()
