"""GPT-2 written the straightforward way in PyTorch: the independent reference that tformer's
logits, hidden states, attention, gradients and optimizer steps are checked against. Weights use
Hugging Face's names and Conv1D layout ([in, out]), so state_dict() is a GPT-2 checkpoint."""
import json
import math
import os
import struct
import subprocess

import numpy as np
import torch
import torch.nn.functional as F


class Gpt2(torch.nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        V, P, C, L = cfg["vocab_size"], cfg["n_positions"], cfg["n_embd"], cfg["n_layer"]
        p = {}
        g = torch.Generator().manual_seed(cfg.get("seed", 0))
        def normal(*shape, std=0.02):
            return torch.randn(*shape, generator=g) * std
        p["wte.weight"] = normal(V, C)
        p["wpe.weight"] = normal(P, C, std=0.01)
        for l in range(L):
            h = f"h.{l}."
            # Random LayerNorm and bias values too, so that a wrong use of them shows.
            p[h + "ln_1.weight"] = 1 + normal(C, std=0.1)
            p[h + "ln_1.bias"] = normal(C)
            p[h + "attn.c_attn.weight"] = normal(C, 3 * C)
            p[h + "attn.c_attn.bias"] = normal(3 * C)
            p[h + "attn.c_proj.weight"] = normal(C, C)
            p[h + "attn.c_proj.bias"] = normal(C)
            p[h + "ln_2.weight"] = 1 + normal(C, std=0.1)
            p[h + "ln_2.bias"] = normal(C)
            p[h + "mlp.c_fc.weight"] = normal(C, 4 * C)
            p[h + "mlp.c_fc.bias"] = normal(4 * C)
            p[h + "mlp.c_proj.weight"] = normal(4 * C, C)
            p[h + "mlp.c_proj.bias"] = normal(C)
        p["ln_f.weight"] = 1 + normal(C, std=0.1)
        p["ln_f.bias"] = normal(C)
        if not cfg.get("tie_word_embeddings", True):
            p["lm_head.weight"] = normal(V, C)
        self.names = list(p)
        self.p = torch.nn.ParameterDict({k.replace(".", "__"): torch.nn.Parameter(v) for k, v in p.items()})

    def param(self, name):
        return self.p[name.replace(".", "__")]

    def named(self):
        return [(n, self.param(n)) for n in self.names]

    def forward(self, idx, capture=None):
        cfg = self.cfg
        B, T = idx.shape
        C, NH = cfg["n_embd"], cfg["n_head"]
        eps = cfg.get("layer_norm_epsilon", 1e-5)
        P = self.param
        x = P("wte.weight")[idx] + P("wpe.weight")[:T]
        hiddens, atts = [x], []
        mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
        for l in range(cfg["n_layer"]):
            h = f"h.{l}."
            a = F.layer_norm(x, (C,), P(h + "ln_1.weight"), P(h + "ln_1.bias"), eps)
            qkv = a @ P(h + "attn.c_attn.weight") + P(h + "attn.c_attn.bias")
            q, k, v = qkv.split(C, dim=2)
            q = q.view(B, T, NH, C // NH).transpose(1, 2)
            k = k.view(B, T, NH, C // NH).transpose(1, 2)
            v = v.view(B, T, NH, C // NH).transpose(1, 2)
            att = (q @ k.transpose(-2, -1)) / math.sqrt(C // NH)
            att = att.masked_fill(~mask, float("-inf")).softmax(-1)
            atts.append(att)
            y = (att @ v).transpose(1, 2).reshape(B, T, C)
            x = x + y @ P(h + "attn.c_proj.weight") + P(h + "attn.c_proj.bias")
            m = F.layer_norm(x, (C,), P(h + "ln_2.weight"), P(h + "ln_2.bias"), eps)
            m = F.gelu(m @ P(h + "mlp.c_fc.weight") + P(h + "mlp.c_fc.bias"), approximate="tanh")
            x = x + m @ P(h + "mlp.c_proj.weight") + P(h + "mlp.c_proj.bias")
            hiddens.append(x)
        xf = F.layer_norm(x, (C,), P("ln_f.weight"), P("ln_f.bias"), eps)
        head = P("wte.weight") if cfg.get("tie_word_embeddings", True) else P("lm_head.weight")
        logits = xf @ head.t()
        if capture is not None:
            capture.update(hidden=hiddens, att=atts, final=xf)
        return logits


# ---- safetensors, written and read by hand (the format is 8 bytes + JSON + data)
_DT = {"F32": (np.float32, 4), "F16": (np.float16, 2), "BF16": (None, 2)}


def write_safetensors(path, tensors, dtype="F32", extra_header=None):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        a = t.detach().to(torch.float32).contiguous().numpy()
        if dtype == "F32":
            b = a.astype("<f4").tobytes()
        elif dtype == "F16":
            b = a.astype("<f2").tobytes()
        else:  # BF16: round to nearest even, keep the high 16 bits
            u = a.view(np.uint32).astype(np.uint64)
            u = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
            b = u.astype("<u2").tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if extra_header:
        header.update(extra_header)
    hs = json.dumps(header).encode()
    hs += b" " * ((8 - len(hs) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hs)))
        f.write(hs)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        assert info["dtype"] == "F32"
        out[name] = torch.from_numpy(np.frombuffer(data[8 + n + b:8 + n + e], dtype="<f4").copy()).reshape(info["shape"])
    return out


def bf16_round(t):
    a = t.detach().to(torch.float32).contiguous().numpy()
    u = a.view(np.uint32).astype(np.uint64)
    u = (((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16).astype(np.uint32)
    return torch.from_numpy(u.view(np.float32).copy())


def save_model_dir(model, d, prefix="transformer.", dtype="F32", byte_tokenizer=False, extra=None):
    os.makedirs(d, exist_ok=True)
    cfg = {k: v for k, v in model.cfg.items() if k != "seed"}
    cfg.update(model_type="gpt2", activation_function="gelu_new")
    if byte_tokenizer:
        cfg["tformer_tokenizer"] = "byte"
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f)
    tensors = {}
    for n, p in model.named():
        tensors[n if n == "lm_head.weight" else prefix + n] = p
    if extra:
        tensors.update(extra)
    write_safetensors(os.path.join(d, "model.safetensors"), tensors, dtype)


def tformer():
    return os.environ.get("TFORMER", "build/tformer")


def run(args, check=True):
    r = subprocess.run([tformer()] + args, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"tformer {' '.join(args)} failed ({r.returncode}): {r.stderr}")
    return r


def rel_err(a, b):
    return (a - b).abs().max().item() / max(1.0, b.abs().max().item())
