#!/usr/bin/python3
"""Regenerate the PyTorch reference fixtures in test/fixtures/.

    /usr/bin/python3 test/pytorch/make_fixtures.py [outdir]

Writes dcgan_step.safetensors, vae_step.safetensors, conv_stack.safetensors.
All inputs / noise / initial weights are drawn here and stored in the files,
so the C side needs no matching RNG. Each fixture is also re-run in float64
from the same (float32) starting point; the printed f32-vs-f64 differences
tell how loose the C tolerances must be.
"""
import copy
import json
import os
import sys

import torch
import torch.nn.functional as F
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import clgm_spec  # noqa: E402
import st_io  # noqa: E402

SEED = 1234
STEPS = 3


def js(spec):
    return json.dumps(spec, separators=(",", ":"))


def sd(prefix, model):
    """Full state_dict (params + BN buffers, num_batches_tracked too) as float32."""
    return {prefix + k: v.detach().float().clone() for k, v in model.state_dict().items()}


def grads(prefix, model):
    return {prefix + k: p.grad.detach().float().clone() for k, p in model.named_parameters()}


def scal(v):
    return v.detach().float().reshape(1).clone()


def dcgan_init(model):
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def compare(name, a, b):
    """max |a-b| / (max|b| + 1e-12) per tensor, worst reported."""
    worst, wk = 0.0, None
    for k in a:
        if k.startswith(("x.", "z.", "eps.", "init.", "target")) or k.endswith("num_batches_tracked"):
            continue
        d = (a[k].double() - b[k].double()).abs().max().item()
        r = d / (b[k].double().abs().max().item() + 1e-12)
        if r > worst:
            worst, wk = r, k
    print("  [%s] f32 vs f64: worst relative (to tensor max-abs) diff %.3g at %s" % (name, worst, wk))


# ---------------------------------------------------------------- (a) DCGAN
G_SPEC = {"input": [16], "layers": [
    {"type": "linear", "out": 1568, "bias": False},  # bias before BN: zero true grad -> Adam amplifies noise
    {"type": "batchnorm"},
    {"type": "relu"},
    {"type": "reshape", "shape": [32, 7, 7]},
    {"type": "convtranspose2d", "out": 16, "kernel": 4, "stride": 2, "padding": 1, "output_padding": 0, "bias": False},
    {"type": "batchnorm"},
    {"type": "relu"},
    {"type": "convtranspose2d", "out": 1, "kernel": 4, "stride": 2, "padding": 1, "output_padding": 0},
    {"type": "tanh"}]}
D_SPEC = {"input": [1, 28, 28], "layers": [
    {"type": "conv2d", "out": 16, "kernel": 4, "stride": 2, "padding": 1},
    {"type": "leakyrelu", "slope": 0.2},
    {"type": "conv2d", "out": 32, "kernel": 4, "stride": 2, "padding": 1, "bias": False},
    {"type": "batchnorm"},
    {"type": "leakyrelu", "slope": 0.2},
    {"type": "flatten"},
    {"type": "linear", "out": 1}]}
DC_B, DC_Z = 8, 16
DC_ADAM = dict(lr=1e-3, betas=(0.5, 0.999), eps=1e-8)


def dcgan_data():
    torch.manual_seed(SEED)
    G = clgm_spec.build(G_SPEC)
    D = clgm_spec.build(D_SPEC)
    dcgan_init(G)
    dcgan_init(D)
    data = {}
    for k in range(STEPS):
        data["x.%d" % k] = torch.rand(DC_B, 1, 28, 28) * 2 - 1
        data["z.%d" % k] = torch.randn(DC_B, DC_Z)
    return G, D, data


def dcgan_run(G0, D0, data, dtype):
    G = copy.deepcopy(G0).to(dtype).train()
    D = copy.deepcopy(D0).to(dtype).train()
    out = dict(data)
    out.update(sd("init.G.", G))
    out.update(sd("init.D.", D))
    optG = torch.optim.Adam(G.parameters(), **DC_ADAM)
    optD = torch.optim.Adam(D.parameters(), **DC_ADAM)
    bce = nn.BCEWithLogitsLoss()  # mean
    lD, lG = [], []
    for k in range(STEPS):
        x = data["x.%d" % k].to(dtype)
        z = data["z.%d" % k].to(dtype)
        # D step
        optD.zero_grad()
        out_r = D(x)
        l_r = bce(out_r, torch.ones_like(out_r))
        fake = G(z)
        out_f = D(fake.detach())
        l_f = bce(out_f, torch.zeros_like(out_f))
        lossD = l_r + l_f
        lossD.backward()
        if k == 0:
            out.update(grads("grad.D.", D))
        optD.step()
        # G step
        optG.zero_grad()
        out_g = D(fake)
        lossG = bce(out_g, torch.ones_like(out_g))
        lossG.backward()
        if k == 0:
            out.update(grads("grad.G.", G))
            out["step0.fake"] = fake.detach().float()
            out["step0.out_r"] = out_r.detach().float()
            out["step0.out_f"] = out_f.detach().float()
            out["step0.out_g"] = out_g.detach().float()
            out["step0.lossD_real"] = scal(l_r)
            out["step0.lossD_fake"] = scal(l_f)
            out["step0.lossD"] = scal(lossD)
            out["step0.lossG"] = scal(lossG)
        optG.step()
        lD.append(lossD.item())
        lG.append(lossG.item())
    out["loss.D"] = torch.tensor(lD, dtype=torch.float32)
    out["loss.G"] = torch.tensor(lG, dtype=torch.float32)
    out.update(sd("final.G.", G))
    out.update(sd("final.D.", D))
    return out


def make_dcgan(outdir):
    G, D, data = dcgan_data()
    print("DCGAN G shapes:", G.shapes)
    print("DCGAN D shapes:", D.shapes)
    t = dcgan_run(G, D, data, torch.float32)
    compare("dcgan", t, dcgan_run(G, D, data, torch.float64))
    meta = {
        "spec.G": js(G_SPEC), "spec.D": js(D_SPEC),
        "adam.lr": repr(DC_ADAM["lr"]), "adam.beta1": repr(DC_ADAM["betas"][0]),
        "adam.beta2": repr(DC_ADAM["betas"][1]), "adam.eps": repr(DC_ADAM["eps"]),
        "adam.weight_decay": "0.0",
        "steps": str(STEPS), "batch": str(DC_B), "latent": str(DC_Z), "seed": str(SEED),
        "init": "DCGAN: conv/convT/linear weight N(0,0.02), bias 0; BN weight N(1,0.02), BN bias 0",
        "description": (
            "DCGAN, G and D both in train mode throughout, separate Adam for G and D (bias-corrected, "
            "eps added to sqrt(v_hat)). For k=0,1,2: D step: zero D grads; out_r=D(x.k); "
            "l_r=BCEWithLogits(out_r,1); fake=G(z.k); out_f=D(fake.detach()); l_f=BCEWithLogits(out_f,0); "
            "lossD=l_r+l_f; backward; Adam step on D. G step: zero G grads; out_g=D(fake) with the "
            "UPDATED D and the same fake (no second G forward); lossG=BCEWithLogits(out_g,1); backward; "
            "Adam step on G. BCE is the mean over the batch. D's BN updates running stats on each of "
            "its 3 forwards per step (9 after 3 steps), G's once per step. grad.D.* = D grads of lossD "
            "before optD.step at k=0; grad.G.* = G grads of lossG at k=0. step0.* are k=0 activations/losses "
            "(scalars stored as shape [1]). loss.D/loss.G = per-step losses [3]. init.*/final.* = full "
            "state_dicts (num_batches_tracked as F32) before step 0 and after step 2."),
    }
    return t, meta


# ---------------------------------------------------------------- (b) VAE
ENC_SPEC = {"input": [784], "layers": [
    {"type": "linear", "out": 64}, {"type": "relu"},
    {"type": "linear", "out": 32}, {"type": "relu"},
    {"type": "linear", "out": 16}]}
DEC_SPEC = {"input": [8], "layers": [
    {"type": "linear", "out": 32}, {"type": "relu"},
    {"type": "linear", "out": 64}, {"type": "relu"},
    {"type": "linear", "out": 784}]}
VAE_B, VAE_Z, VAE_BETA = 8, 8, 1.0
VAE_ADAM = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8)


def vae_data():
    torch.manual_seed(SEED)
    enc = clgm_spec.build(ENC_SPEC)  # PyTorch default init
    dec = clgm_spec.build(DEC_SPEC)
    data = {}
    for k in range(STEPS):
        data["x.%d" % k] = torch.rand(VAE_B, 784)
        data["eps.%d" % k] = torch.randn(VAE_B, VAE_Z)
    return enc, dec, data


def vae_run(enc0, dec0, data, dtype):
    enc = copy.deepcopy(enc0).to(dtype).train()
    dec = copy.deepcopy(dec0).to(dtype).train()
    out = dict(data)
    out.update(sd("init.enc.", enc))
    out.update(sd("init.dec.", dec))
    opt = torch.optim.Adam(list(enc.parameters()) + list(dec.parameters()), **VAE_ADAM)
    L, R, K = [], [], []
    for k in range(STEPS):
        x = data["x.%d" % k].to(dtype)
        e = data["eps.%d" % k].to(dtype)
        opt.zero_grad()
        h = enc(x)
        mu, logvar = h[:, :VAE_Z], h[:, VAE_Z:]
        z = mu + e * torch.exp(0.5 * logvar)
        logits = dec(z)
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum() / VAE_B
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / VAE_B
        loss = recon + VAE_BETA * kl
        loss.backward()
        if k == 0:
            out.update(grads("grad.enc.", enc))
            out.update(grads("grad.dec.", dec))
            out["step0.mu"] = mu.detach().float()
            out["step0.logvar"] = logvar.detach().float()
            out["step0.z"] = z.detach().float()
            out["step0.logits"] = logits.detach().float()
            out["step0.recon"] = scal(recon)
            out["step0.kl"] = scal(kl)
            out["step0.loss"] = scal(loss)
        opt.step()
        L.append(loss.item())
        R.append(recon.item())
        K.append(kl.item())
    out["loss.total"] = torch.tensor(L, dtype=torch.float32)
    out["loss.recon"] = torch.tensor(R, dtype=torch.float32)
    out["loss.kl"] = torch.tensor(K, dtype=torch.float32)
    out.update(sd("final.enc.", enc))
    out.update(sd("final.dec.", dec))
    return out


def make_vae(outdir):
    enc, dec, data = vae_data()
    t = vae_run(enc, dec, data, torch.float32)
    compare("vae", t, vae_run(enc, dec, data, torch.float64))
    meta = {
        "spec.enc": js(ENC_SPEC), "spec.dec": js(DEC_SPEC),
        "adam.lr": repr(VAE_ADAM["lr"]), "adam.beta1": repr(VAE_ADAM["betas"][0]),
        "adam.beta2": repr(VAE_ADAM["betas"][1]), "adam.eps": repr(VAE_ADAM["eps"]),
        "adam.weight_decay": "0.0",
        "steps": str(STEPS), "batch": str(VAE_B), "latent": str(VAE_Z), "beta": repr(VAE_BETA),
        "seed": str(SEED), "init": "PyTorch default (kaiming_uniform a=sqrt(5); bias U(-1/sqrt(fan_in),1/sqrt(fan_in)))",
        "description": (
            "MLP VAE, one Adam over enc+dec params (bias-corrected). For k=0,1,2: zero grads; h=enc(x.k) "
            "[B,16]; mu=h[:,0:8]; logvar=h[:,8:16]; z=mu+eps.k*exp(0.5*logvar); logits=dec(z) [B,784]; "
            "recon=sum over all B*784 elements of BCEWithLogits(logits,x,reduction=none) / B; "
            "kl=-0.5*sum(1+logvar-mu^2-exp(logvar)) / B; loss=recon+beta*kl; backward; Adam step. "
            "grad.* = grads at k=0 before the Adam step; step0.* = k=0 values (scalars shape [1]); "
            "loss.total/loss.recon/loss.kl = per-step [3]; init.*/final.* = state before step 0 / after step 2."),
    }
    return t, meta


# ---------------------------------------------------------------- (c) conv stack
NET_SPEC = {"input": [3, 9, 9], "layers": [
    {"type": "conv2d", "out": 5, "kernel": 3, "stride": 1, "padding": "same", "bias": False},
    {"type": "batchnorm"},
    {"type": "leakyrelu", "slope": 0.2},
    {"type": "maxpool2d", "kernel": 2},
    {"type": "convtranspose2d", "out": 4, "kernel": 3, "stride": 2, "padding": 1, "output_padding": 1, "bias": False},
    {"type": "batchnorm"},
    {"type": "relu"},
    {"type": "upsample", "scale": 2},
    {"type": "conv2d", "out": 2, "kernel": 3, "stride": 1, "padding": 1},
    {"type": "sigmoid"}]}
CS_B = 4
CS_ADAM = dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)


def conv_data():
    torch.manual_seed(SEED)
    net = clgm_spec.build(NET_SPEC)  # PyTorch default init
    data = {"x": torch.rand(CS_B, *NET_SPEC["input"]) * 2 - 1,
            "target": torch.rand(CS_B, *net.shapes[-1])}
    return net, data


def conv_run(net0, data, dtype):
    net = copy.deepcopy(net0).to(dtype).train()
    out = dict(data)
    out.update(sd("init.net.", net))
    opt = torch.optim.Adam(net.parameters(), **CS_ADAM)
    tgt = data["target"].to(dtype)
    L = []
    for k in range(STEPS):
        x = data["x"].to(dtype).clone().requires_grad_(k == 0)
        opt.zero_grad()
        h = x
        acts = []
        for m in net.net:  # same as net(x); keeps per-layer activations
            h = m(h)
            acts.append(h)
        y = h
        loss = F.mse_loss(y, tgt)
        loss.backward()
        if k == 0:
            out.update(grads("grad.net.", net))
            out["grad.input"] = x.grad.detach().float()
            out["step0.output"] = y.detach().float()
            out["step0.loss"] = scal(loss)
            for i, a in enumerate(acts):
                out["step0.act.%d" % i] = a.detach().float()
        opt.step()
        L.append(loss.item())
    out["loss"] = torch.tensor(L, dtype=torch.float32)
    out.update(sd("final.net.", net))
    net.eval()
    with torch.no_grad():
        out["eval_output"] = net(data["x"].to(dtype)).float()
    return out


def make_conv(outdir):
    net, data = conv_data()
    print("conv_stack module:", net.net)
    for i, s in enumerate(net.shapes):
        print("  shape %s %s" % ("input" if i == 0 else "after layer %d (%s)" % (i - 1, NET_SPEC["layers"][i - 1]["type"]), s))
    t = conv_run(net, data, torch.float32)
    compare("conv_stack", t, conv_run(net, data, torch.float64))
    meta = {
        "spec.net": js(NET_SPEC),
        "adam.lr": repr(CS_ADAM["lr"]), "adam.beta1": repr(CS_ADAM["betas"][0]),
        "adam.beta2": repr(CS_ADAM["betas"][1]), "adam.eps": repr(CS_ADAM["eps"]),
        "adam.weight_decay": repr(CS_ADAM["weight_decay"]),
        "steps": str(STEPS), "batch": str(CS_B), "seed": str(SEED),
        "init": "PyTorch default",
        "description": (
            "Conv stack in train mode, Adam (bias-corrected, no weight decay). x uniform[-1,1] [4,3,9,9], "
            "target uniform[0,1] [4,2,16,16], same x/target every step. For k=0,1,2: zero grads; y=net(x); "
            "loss=mean((y-target)^2) over all elements; backward; Adam step. grad.net.* = param grads at k=0; "
            "grad.input = dloss/dx at k=0; step0.act.i = output of layer i at k=0 (step0.output = last); "
            "loss = per-step [3]; final.net.* = state after step 2 (BN running stats updated once per step); "
            "eval_output = final model in eval mode (BN uses running stats) on x."),
    }
    return t, meta


def main():
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float32)
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "fixtures")
    os.makedirs(outdir, exist_ok=True)
    for fname, fn in (("dcgan_step.safetensors", make_dcgan),
                      ("vae_step.safetensors", make_vae),
                      ("conv_stack.safetensors", make_conv)):
        t, meta = fn(outdir)
        meta["generator"] = "test/pytorch/make_fixtures.py (torch %s)" % torch.__version__
        path = os.path.join(outdir, fname)
        st_io.save(path, t, meta)
        # round-trip check
        back, bmeta = st_io.load(path)
        assert bmeta == meta, "metadata mismatch"
        assert set(back) == set(t), "name mismatch"
        for k, v in t.items():
            a = v.detach().float().numpy()
            assert list(back[k].shape) == list(a.shape), k
            assert (back[k] == a).all(), k
        print("wrote %s: %d tensors, %d bytes (round-trip OK)\n" % (path, len(t), os.path.getsize(path)))


if __name__ == "__main__":
    main()
