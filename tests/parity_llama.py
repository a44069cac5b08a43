"""PyTorch parity of the Llama family (tests/torch_llama.py, float64): the reference checked once
against Meta's interleaved complex rotary; then tformer's `eval --dump` (logits, every hidden
state, the final norm, every attention map) for GQA, MQA, llama3 scaling past the original
context, qwen2 biases with an explicit head_dim, untied heads, all biases, F16/BF16 and sharded
checkpoints; greedy generation cached = uncached = reference; loading errors; one SGD step and
five AdamW steps of `tformer train` against torch."""
import json
import math
import os
import subprocess
import sys
import tempfile

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from check import check, finish
from torch_gpt import bf16_round, read_safetensors, rel_err, run, tformer
from torch_llama import Llama, save_llama_dir

TOL = 1e-4
BASE = dict(model_type="llama", vocab_size=300, hidden_size=48, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=6, num_key_value_heads=2, max_position_embeddings=64, rms_norm_eps=1e-5,
            rope_theta=10000.0, tie_word_embeddings=True)
CASES = [  # (name, config changes, T, dtype, shards)
    ("gqa", {}, 37, "F32", 1),
    ("mqa+untied+linear+shards", dict(num_key_value_heads=1, num_attention_heads=4, hidden_size=32,
                                      tie_word_embeddings=False, rope_scaling={"type": "linear", "factor": 2.0}),
     30, "F32", 3),
    ("llama3-past-original", dict(max_position_embeddings=160, rope_theta=500000.0, hidden_size=32,
                                  num_attention_heads=2, num_key_value_heads=1,
                                  rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                                "high_freq_factor": 4.0, "original_max_position_embeddings": 24}),
     150, "F32", 1),
    ("qwen2+head_dim+bf16", dict(model_type="qwen2", head_dim=12, hidden_size=32, num_attention_heads=4,
                                 num_key_value_heads=2, tie_word_embeddings=False, use_sliding_window=False,
                                 sliding_window=4096), 25, "BF16", 1),
    ("mistral+all-biases+f16+rope_parameters", dict(model_type="mistral", attention_bias=True, mlp_bias=True,
                                                    num_key_value_heads=3, sliding_window=None, rope_theta=None,
                                                    rope_parameters={"rope_type": "default", "rope_theta": 1e6}),
     20, "F16", 2),
]


def make(name, changes, seed):
    cfg = dict(BASE)
    cfg.update(changes)
    if cfg.get("rope_theta", 0) is None:  # given in rope_parameters instead
        del cfg["rope_theta"]
    return Llama(cfg, seed)


def ref_forward(m, idx, cap=None, rope="hf"):
    return m(idx, cap, rope=rope)


def greedy_ref(m, prompt, n):
    ids = list(prompt)
    for _ in range(n):
        with torch.no_grad():
            logits = ref_forward(m, torch.tensor([ids]))[0, -1]
        top = logits.topk(2).values
        if (top[0] - top[1]).item() < 1e-3:  # a near tie: float32 may rightly pick the other
            break
        ids.append(int(logits.argmax()))
    return ids[len(prompt):]


def generate(d, prompt, n, cached):
    args = ["generate", "--model", d, "--tokens", ",".join(map(str, prompt)), "--max-new", str(n),
            "--strategy", "greedy", "--json"] + ([] if cached else ["--no-kv-cache"])
    return json.loads(run(args).stdout)["sequences"][0]["tokens"]


with tempfile.TemporaryDirectory() as tmp:
    # ---- the reference against an independent formulation (Meta's rotary), biases included
    for i in (0, 3):
        name, changes, T, _, _ = CASES[i]
        m = make(name, changes, 100 + i)
        idx = torch.randint(0, BASE["vocab_size"], (2, T), generator=torch.Generator().manual_seed(i))
        with torch.no_grad():
            e = rel_err(ref_forward(m, idx), ref_forward(m, idx, rope="meta"))
        check(e < 1e-12, f"reference = Meta's interleaved complex rotary on un-permuted q/k ({name}): rel err {e:.1e}")

    # ---- eval --dump against the reference
    for i, (name, changes, T, dtype, shards) in enumerate(CASES):
        m = make(name, changes, 100 + i)
        with torch.no_grad():
            for _, p in m.named():
                if dtype == "BF16":
                    p.copy_(bf16_round(p.float()).double().reshape(p.shape))
                if dtype == "F16":
                    p.copy_(p.half().double())
        d = os.path.join(tmp, f"m{i}")
        extra = {"model.layers.0.self_attn.rotary_emb.inv_freq": torch.ones(4)}  # HF's buffer: ignored
        save_llama_dir(m, d, dtype=dtype, shards=shards, extra=extra)
        idx = torch.randint(0, m.cfg["vocab_size"], (1, T), generator=torch.Generator().manual_seed(50 + i))
        cap = {}
        with torch.no_grad():
            logits = ref_forward(m, idx, cap)[0]
        dump = os.path.join(tmp, f"d{i}.safetensors")
        run(["eval", "--model", d, "--tokens", ",".join(map(str, idx[0].tolist())), "--dump", dump])
        got = read_safetensors(dump)
        checks = [("logits", logits)] + [(f"hidden.{l}", h[0]) for l, h in enumerate(cap["hidden"])]
        checks += [("final", cap["final"][0])] + [(f"attn.{l + 1}", a[0]) for l, a in enumerate(cap["att"])]
        worst, bad = 0.0, []
        for n, ref in checks:
            e = rel_err(got[n].double(), ref)
            worst = max(worst, e)
            if e > TOL or tuple(got[n].shape) != tuple(ref.shape):
                bad.append(f"{n} {e:.2g}")
        check(not bad, f"eval --dump {name} ({dtype}, {shards} shard(s), T={T}): worst rel err {worst:.2e} over "
                       f"{len(checks)} tensors {' '.join(bad)}")
        # ---- greedy generation: cached steps = recomputation = the reference
        if i in (0, 1, 2, 3):
            prompt = idx[0, :5].tolist()
            n = 12 if i != 2 else 140  # case 2: decode far past original_max_position_embeddings
            want = greedy_ref(m, prompt, n)
            a, b = generate(d, prompt, n, True), generate(d, prompt, n, False)
            check(a == b and a[:len(want)] == want and len(want) > 0,
                  f"greedy {name}: cached = uncached = reference over {len(want)} tokens")

    # ---- loading errors: one line naming the file and the tensor, exit 1
    d = os.path.join(tmp, "m1")  # the sharded one
    def err(dirname):
        r = run(["eval", "--model", dirname, "--tokens", "1,2"], check=False)
        return r.returncode, r.stderr.strip()
    idxf = os.path.join(d, "model.safetensors.index.json")
    index = json.load(open(idxf))
    shard = sorted(set(index["weight_map"].values()))[1]
    os.rename(os.path.join(d, shard), os.path.join(d, "moved"))
    rc, e = err(d)
    check(rc == 1 and shard in e and "missing" in e and len(e.splitlines()) == 1, f"missing shard: {e}")
    os.rename(os.path.join(d, "moved"), os.path.join(d, shard))
    index["weight_map"]["model.layers.0.mlp.extra.weight"] = shard
    json.dump(index, open(idxf, "w"))
    rc, e = err(d)
    check(rc == 1 and "model.layers.0.mlp.extra.weight" in e and shard in e, f"index names a tensor no shard has: {e}")
    del index["weight_map"]["model.layers.0.mlp.extra.weight"]
    del index["weight_map"]["model.norm.weight"]
    json.dump(index, open(idxf, "w"))
    rc, e = err(d)
    check(rc == 1 and "missing tensor model.norm.weight" in e, f"tensor absent from the index: {e}")
    d0 = os.path.join(tmp, "m0")
    cfg = json.load(open(os.path.join(d0, "config.json")))
    cfg["intermediate_size"] = 65
    json.dump(cfg, open(os.path.join(d0, "config.json"), "w"))
    rc, e = err(d0)
    check(rc == 1 and "model.safetensors" in e and "gate_proj.weight" in e and "[64,48]" in e.replace(" ", ""),
          f"shape against the config: {e}")
    cfg["intermediate_size"] = 64
    good = dict(cfg)
    for key, val in (("rope_scaling", {"rope_type": "yarn", "factor": 4.0}), ("hidden_act", "gelu"),
                     ("model_type", "gemma")):
        cfg = dict(good)
        cfg[key] = val
        json.dump(cfg, open(os.path.join(d0, "config.json"), "w"))
        rc, e = err(d0)
        check(rc == 1 and ("yarn" if key == "rope_scaling" else str(val)) in e, f"refused {key}: {e}")

    # ---- training mode: one SGD step, five AdamW steps with accumulation, warm-up and clipping
    g = torch.Generator().manual_seed(5)
    data = bytes(torch.randint(32, 127, (4000,), generator=g).tolist())
    datafile = os.path.join(tmp, "data.txt")
    open(datafile, "wb").write(data)
    tokens = list(data)
    TRAIN = [
        dict(name="sgd", changes=dict(vocab_size=256, hidden_size=32, num_attention_heads=4, num_key_value_heads=2,
                                      intermediate_size=48, max_position_embeddings=32),
             opt="sgd", steps=1, B=4, T=16, accum=1, lr=0.1, warmup=0, clip=0.0, eps=1e-8, wd=0.0),
        dict(name="adamw-qwen2-mqa", changes=dict(model_type="qwen2", vocab_size=256, hidden_size=32,
                                                  num_attention_heads=4, num_key_value_heads=1, intermediate_size=48,
                                                  max_position_embeddings=32, tie_word_embeddings=False),
             opt="adamw", steps=5, B=3, T=16, accum=2, lr=1e-3, warmup=2, clip=0.5, eps=1e-5, wd=0.1),
    ]
    for c in TRAIN:
        m = make(c["name"], c["changes"], 7)
        init = os.path.join(tmp, c["name"] + "-init")
        save_llama_dir(m, init, byte_tokenizer=True)
        out = os.path.join(tmp, c["name"] + "-out")
        run(["train", "--init", init, "--data", datafile, "--out", out, "--steps", str(c["steps"]),
             "--batch", str(c["B"]), "--seq", str(c["T"]), "--accum", str(c["accum"]), "--lr", str(c["lr"]),
             "--warmup", str(c["warmup"]), "--lr-schedule", "constant", "--optimizer", c["opt"],
             "--beta1", "0.9", "--beta2", "0.95", "--eps", str(c["eps"]), "--weight-decay", str(c["wd"]),
             "--grad-clip", str(c["clip"]), "--val-fraction", "0", "--save-every", "0"])
        params = dict(m.named())
        decay = [p for n, p in params.items() if p.dim() == 2]
        no_decay = [p for n, p in params.items() if p.dim() != 2]
        if c["opt"] == "sgd":
            o = torch.optim.SGD(list(params.values()), lr=c["lr"])
        else:
            o = torch.optim.AdamW([{"params": decay, "weight_decay": c["wd"]}, {"params": no_decay, "weight_decay": 0}],
                                  lr=c["lr"], betas=(0.9, 0.95), eps=c["eps"])
        losses = []
        B, T, A = c["B"], c["T"], c["accum"]
        for s in range(c["steps"]):
            o.zero_grad()
            total = 0.0
            for mb in range(A):
                xs, ys = [], []
                for r in range(B):
                    off = (((s * A + mb) * B + r) * T) % (len(tokens) - T)
                    xs.append(tokens[off:off + T])
                    ys.append(tokens[off + 1:off + T + 1])
                logits = ref_forward(m, torch.tensor(xs))
                loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), torch.tensor(ys).reshape(-1)) / A
                loss.backward()
                total += loss.item()
            if c["clip"] > 0:
                norm = math.sqrt(sum(float((p.grad ** 2).sum()) for p in params.values()))
                if norm > c["clip"]:
                    for p in params.values():
                        p.grad.mul_(c["clip"] / norm)
            for grp in o.param_groups:
                grp["lr"] = c["lr"] * (s + 1) / c["warmup"] if s < c["warmup"] else c["lr"]
            o.step()
            losses.append(total)
        got = read_safetensors(os.path.join(out, "model.safetensors"))
        worst, worst_name = 0.0, ""
        for n, p in m.named():
            e = (got[n].double() - p.detach()).abs().max().item() / p.detach().abs().max().item()
            if e > worst:
                worst, worst_name = e, n
        metrics = [json.loads(l) for l in open(os.path.join(out, "metrics.jsonl"))]
        loss_err = max(abs(mt["loss"] - l) / abs(l) for mt, l in zip(metrics, losses))
        check(worst <= TOL and loss_err <= 1e-5 and len(metrics) == c["steps"],
              f"train {c['name']}: worst weight rel diff {worst:.2e} ({worst_name}), loss rel diff {loss_err:.2e}")

finish()
