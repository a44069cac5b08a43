"""PyTorch parity of training mode: from the same initial checkpoint and the same batches
(the documented sequential order), one SGD step and five AdamW steps with accumulation, warm-up
and clipping give the weights torch gives, per tensor max|a-b|/max|b| <= 1e-4; the losses in the
metrics file match too. One config has GPT-2's vocabulary of 50257."""
import json
import math
import os
import sys
import tempfile

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from torch_gpt import Gpt2, read_safetensors, run, save_model_dir

TOL = 1e-4


def batch(tokens, s, m, accum, B, T, n_train):
    xs, ys = [], []
    for r in range(B):
        o = (((s * accum + m) * B + r) * T) % (n_train - T)
        xs.append(tokens[o:o + T])
        ys.append(tokens[o + 1:o + T + 1])
    return torch.tensor(xs), torch.tensor(ys)


def torch_train(model, tokens, opt, steps, B, T, accum, lr, warmup, clip, eps, wd, betas):
    params = dict(model.named())
    decay = [p for n, p in params.items() if n.endswith(".weight") and "ln_" not in n]
    no_decay = [p for n, p in params.items() if not (n.endswith(".weight") and "ln_" not in n)]
    if opt == "sgd":
        o = torch.optim.SGD(list(params.values()), lr=lr, momentum=0, weight_decay=0)
    else:
        o = torch.optim.AdamW([{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}],
                              lr=lr, betas=betas, eps=eps)
    losses = []
    for s in range(steps):
        o.zero_grad()
        total = 0.0
        for m in range(accum):
            x, y = batch(tokens, s, m, accum, B, T, len(tokens))
            logits = model(x)
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1)) / accum
            loss.backward()
            total += loss.item()
        if clip > 0:
            norm = math.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in params.values()))
            if norm > clip:
                for p in params.values():
                    p.grad.mul_(clip / norm)
        for g in o.param_groups:
            g["lr"] = lr * (s + 1) / warmup if s < warmup else lr
        o.step()
        losses.append(total)
    return losses


CASES = [
    dict(name="sgd", cfg=dict(vocab_size=300, n_positions=32, n_embd=32, n_layer=2, n_head=4, seed=11),
         opt="sgd", steps=1, B=4, T=16, accum=1, lr=0.1, warmup=0, clip=0.0, eps=1e-8, wd=0.0),
    dict(name="adamw", cfg=dict(vocab_size=300, n_positions=32, n_embd=32, n_layer=2, n_head=4, seed=12),
         opt="adamw", steps=5, B=3, T=16, accum=2, lr=1e-3, warmup=2, clip=0.5, eps=1e-5, wd=0.1),
    dict(name="sgd-50257", cfg=dict(vocab_size=50257, n_positions=64, n_embd=32, n_layer=1, n_head=2, seed=13),
         opt="sgd", steps=1, B=2, T=24, accum=1, lr=0.1, warmup=0, clip=0.0, eps=1e-8, wd=0.0),
    dict(name="adamw-50257", cfg=dict(vocab_size=50257, n_positions=64, n_embd=32, n_layer=1, n_head=2, seed=14),
         opt="adamw", steps=5, B=2, T=24, accum=2, lr=1e-3, warmup=2, clip=0.5, eps=1e-5, wd=0.1),
]

failures = 0
with tempfile.TemporaryDirectory() as tmp:
    g = torch.Generator().manual_seed(5)
    data = bytes(torch.randint(32, 127, (4000,), generator=g).tolist())
    datafile = os.path.join(tmp, "data.txt")
    with open(datafile, "wb") as f:
        f.write(data)
    tokens = list(data)
    for c in CASES:
        model = Gpt2(c["cfg"])
        init = os.path.join(tmp, c["name"] + "-init")
        save_model_dir(model, init, byte_tokenizer=True)
        out = os.path.join(tmp, c["name"] + "-out")
        run(["train", "--init", init, "--data", datafile, "--out", out, "--steps", str(c["steps"]),
             "--batch", str(c["B"]), "--seq", str(c["T"]), "--accum", str(c["accum"]), "--lr", str(c["lr"]),
             "--warmup", str(c["warmup"]), "--lr-schedule", "constant", "--optimizer", c["opt"],
             "--beta1", "0.9", "--beta2", "0.95", "--eps", str(c["eps"]), "--weight-decay", str(c["wd"]),
             "--grad-clip", str(c["clip"]), "--val-fraction", "0", "--save-every", "0"])
        losses = torch_train(model, tokens, c["opt"], c["steps"], c["B"], c["T"], c["accum"], c["lr"], c["warmup"],
                             c["clip"], c["eps"], c["wd"], (0.9, 0.95))
        got = read_safetensors(os.path.join(out, "model.safetensors"))
        worst, worst_name = 0.0, ""
        for n, p in model.named():
            a = got["transformer." + n] if n != "lm_head.weight" else got[n]
            e = (a - p.detach()).abs().max().item() / p.detach().abs().max().item()
            if e > worst:
                worst, worst_name = e, n
        metrics = [json.loads(l) for l in open(os.path.join(out, "metrics.jsonl"))]
        loss_err = max(abs(m["loss"] - l) / abs(l) for m, l in zip(metrics, losses))
        clipped = c["clip"] == 0 or any(m["grad_norm"] > c["clip"] for m in metrics)
        ok = worst <= TOL and loss_err <= 1e-5 and len(metrics) == c["steps"] and clipped
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {c['name']}: worst weight rel diff {worst:.2e} ({worst_name}), "
              f"loss rel diff {loss_err:.2e}, steps {len(metrics)}, clipping exercised {clipped}")
print(f"{len(CASES) - failures} passed, {failures} failed")
sys.exit(1 if failures else 0)
