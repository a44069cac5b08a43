"""The PyTorch side of bench/run.py: the same measurements as bench_tformer, on GPT-2 written the
straightforward way (tests/torch_gpt.py) or, for the smollm2-135m preset, on Llama written the
same way (Llama32 below: tests/torch_llama.py's math in float32), fp32, torch.set_num_threads =
tformer's threads. Prints one JSON line."""
import argparse
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from torch_gpt import Gpt2

PRESETS = {
    "tiny": dict(vocab_size=256, n_positions=256, n_embd=128, n_layer=4, n_head=4),
    "small": dict(vocab_size=256, n_positions=256, n_embd=384, n_layer=6, n_head=6),
    "gpt2": dict(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12),
}
# The Llama presets (HF config.json keys), src/model/config.cc's shapes.
LLAMA_PRESETS = {
    "smollm2-135m": dict(vocab_size=49152, hidden_size=576, num_hidden_layers=30, num_attention_heads=9,
                         num_key_value_heads=3, intermediate_size=1536, rms_norm_eps=1e-5, rope_theta=100000.0,
                         tie_word_embeddings=True),
}


class Llama32:
    """tests/torch_llama.py's Llama (RMSNorm, HF's rotate_half rope, grouped-query attention,
    SwiGLU) in float32, without the options the presets leave off (biases, rope scaling, untied
    head), plus a KV cache: a call over positions pos..pos+T-1 appends each layer's K/V (NKV
    heads, before the repeat, as HF's cache keeps them) to cache when one is given. Each KV head
    is repeated for its NH/NKV query heads the way HF's repeat_kv does it (expand + reshape), the
    same tensor as the reference's repeat_interleave(dim=1): torch 1.13's repeat_interleave takes
    ~10-20 ms per call on this machine, 30 layers × 2 per token, which would time that op and
    not the model. Weights as tests/torch_gpt.py draws GPT-2's: N(0, 0.02) matrices, norm
    weights 1 + N(0, 0.1)."""

    def __init__(self, cfg, seed=1):
        self.cfg = cfg
        V, C, I = cfg["vocab_size"], cfg["hidden_size"], cfg["intermediate_size"]
        NH, NKV = cfg["num_attention_heads"], cfg["num_key_value_heads"]
        HS = C // NH
        g = torch.Generator().manual_seed(seed)

        def normal(*shape, std=0.02):
            return torch.nn.Parameter(torch.randn(*shape, generator=g) * std)

        p = {"model.embed_tokens.weight": normal(V, C)}
        for l in range(cfg["num_hidden_layers"]):
            h = f"model.layers.{l}."
            p[h + "input_layernorm.weight"] = torch.nn.Parameter(1 + torch.randn(C, generator=g) * 0.1)
            p[h + "self_attn.q_proj.weight"] = normal(NH * HS, C)
            p[h + "self_attn.k_proj.weight"] = normal(NKV * HS, C)
            p[h + "self_attn.v_proj.weight"] = normal(NKV * HS, C)
            p[h + "self_attn.o_proj.weight"] = normal(C, NH * HS)
            p[h + "post_attention_layernorm.weight"] = torch.nn.Parameter(1 + torch.randn(C, generator=g) * 0.1)
            p[h + "mlp.gate_proj.weight"] = normal(I, C)
            p[h + "mlp.up_proj.weight"] = normal(I, C)
            p[h + "mlp.down_proj.weight"] = normal(C, I)
        p["model.norm.weight"] = torch.nn.Parameter(1 + torch.randn(C, generator=g) * 0.1)
        self.p = p
        self.inv_freq = 1.0 / cfg["rope_theta"] ** (torch.arange(0, HS, 2, dtype=torch.float32) / HS)

    def named(self):
        return list(self.p.items())

    def rmsnorm(self, x, name):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.cfg["rms_norm_eps"]) * self.p[name]

    def __call__(self, idx, cache=None, pos=0, last_only=False):
        cfg, P = self.cfg, self.p
        B, T = idx.shape
        NH, NKV = cfg["num_attention_heads"], cfg["num_key_value_heads"]
        HS = cfg["hidden_size"] // NH
        x = P["model.embed_tokens.weight"][idx]
        freqs = torch.arange(pos, pos + T, dtype=torch.float32)[:, None] * self.inv_freq[None, :]  # (T, HS/2)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos(), emb.sin()

        def rotate_half(v):
            return torch.cat((-v[..., HS // 2:], v[..., : HS // 2]), dim=-1)

        mask = torch.ones(T, pos + T, dtype=torch.bool).tril(pos) if T > 1 else None
        for l in range(cfg["num_hidden_layers"]):
            h = f"model.layers.{l}."
            a = self.rmsnorm(x, h + "input_layernorm.weight")
            q = (a @ P[h + "self_attn.q_proj.weight"].t()).view(B, T, NH, HS).transpose(1, 2)
            k = (a @ P[h + "self_attn.k_proj.weight"].t()).view(B, T, NKV, HS).transpose(1, 2)
            v = (a @ P[h + "self_attn.v_proj.weight"].t()).view(B, T, NKV, HS).transpose(1, 2)
            q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
            if cache is not None:
                if l < len(cache):
                    k = torch.cat([cache[l][0], k], dim=2)
                    v = torch.cat([cache[l][1], v], dim=2)
                    cache[l] = (k, v)
                else:
                    cache.append((k, v))
            k, v = (t[:, :, None].expand(B, NKV, NH // NKV, *t.shape[2:]).reshape(B, NH, -1, HS) for t in (k, v))
            att = (q @ k.transpose(-2, -1)) / math.sqrt(HS)
            if mask is not None:
                att = att.masked_fill(~mask, float("-inf"))
            y = (att.softmax(-1) @ v).transpose(1, 2).reshape(B, T, NH * HS)
            x = x + y @ P[h + "self_attn.o_proj.weight"].t()
            m = self.rmsnorm(x, h + "post_attention_layernorm.weight")
            m = F.silu(m @ P[h + "mlp.gate_proj.weight"].t()) * (m @ P[h + "mlp.up_proj.weight"].t())
            x = x + m @ P[h + "mlp.down_proj.weight"].t()
        if last_only:
            x = x[:, -1]
        return self.rmsnorm(x, "model.norm.weight") @ P["model.embed_tokens.weight"].t()


def step_cached(m, idx, cache, pos):
    """One cached step for a batch of sequences: idx (M,), cache = list of (k, v) per layer."""
    cfg, P = m.cfg, m.param
    C, NH = cfg["n_embd"], cfg["n_head"]
    x = P("wte.weight")[idx] + P("wpe.weight")[pos]
    M = idx.shape[0]
    for l in range(cfg["n_layer"]):
        h = f"h.{l}."
        a = F.layer_norm(x, (C,), P(h + "ln_1.weight"), P(h + "ln_1.bias"))
        q, k, v = (a @ P(h + "attn.c_attn.weight") + P(h + "attn.c_attn.bias")).split(C, dim=1)
        q = q.view(M, NH, 1, C // NH)
        k = k.view(M, NH, 1, C // NH)
        v = v.view(M, NH, 1, C // NH)
        if cache[l] is not None:
            k = torch.cat([cache[l][0], k], dim=2)
            v = torch.cat([cache[l][1], v], dim=2)
        cache[l] = (k, v)
        att = ((q @ k.transpose(-2, -1)) / math.sqrt(C // NH)).softmax(-1)
        y = (att @ v).reshape(M, C)
        x = x + y @ P(h + "attn.c_proj.weight") + P(h + "attn.c_proj.bias")
        mm = F.layer_norm(x, (C,), P(h + "ln_2.weight"), P(h + "ln_2.bias"))
        mm = F.gelu(mm @ P(h + "mlp.c_fc.weight") + P(h + "mlp.c_fc.bias"), approximate="tanh")
        x = x + mm @ P(h + "mlp.c_proj.weight") + P(h + "mlp.c_proj.bias")
    x = F.layer_norm(x, (C,), P("ln_f.weight"), P("ln_f.bias"))
    return x @ P("wte.weight").t()


def prefill_cache(m, idx):
    """The prompt in one parallel pass, returning its K/V per layer and the last logits."""
    cap, cache = {}, []
    cfg, P = m.cfg, m.param
    C, NH, T = cfg["n_embd"], cfg["n_head"], idx.shape[1]
    x = P("wte.weight")[idx] + P("wpe.weight")[:T]
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for l in range(cfg["n_layer"]):
        h = f"h.{l}."
        a = F.layer_norm(x, (C,), P(h + "ln_1.weight"), P(h + "ln_1.bias"))
        q, k, v = (a @ P(h + "attn.c_attn.weight") + P(h + "attn.c_attn.bias")).split(C, dim=2)
        q, k, v = (t.view(1, T, NH, C // NH).transpose(1, 2) for t in (q, k, v))
        cache.append((k, v))
        att = ((q @ k.transpose(-2, -1)) / math.sqrt(C // NH)).masked_fill(~mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(1, T, C)
        x = x + y @ P(h + "attn.c_proj.weight") + P(h + "attn.c_proj.bias")
        mm = F.layer_norm(x, (C,), P(h + "ln_2.weight"), P(h + "ln_2.bias"))
        mm = F.gelu(mm @ P(h + "mlp.c_fc.weight") + P(h + "mlp.c_fc.bias"), approximate="tanh")
        x = x + mm @ P(h + "mlp.c_proj.weight") + P(h + "mlp.c_proj.bias")
    x = F.layer_norm(x[:, -1], (C,), P("ln_f.weight"), P("ln_f.bias"))
    return cache, x @ P("wte.weight").t()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what")
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--prompt", type=int, default=16)
    ap.add_argument("--new", type=int, default=128)
    ap.add_argument("--beams", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-cache", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    llama = a.preset in LLAMA_PRESETS
    if llama:
        cfg = LLAMA_PRESETS[a.preset]
        m = Llama32(cfg, seed=1)
    else:
        cfg = dict(PRESETS[a.preset], seed=1)
        m = Gpt2(cfg)
    V = cfg["vocab_size"]

    def prefill(idx):  # the prompt's K/V per layer and its last logits
        if not llama:
            return prefill_cache(m, idx)
        cache = []
        logits = m(idx, cache, 0, last_only=True)
        return cache, logits

    def step(tok, cache, pos):  # one cached step for a batch of sequences: tok (M,)
        if not llama:
            return step_cached(m, tok, cache, pos)
        return m(tok[:, None], cache, pos)[:, -1]
    out = {"engine": "pytorch", "what": a.what, "preset": a.preset, "threads": torch.get_num_threads(),
           "torch": torch.__version__}
    if a.what == "train":
        opt = torch.optim.AdamW([p for _, p in m.named()], lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1)
        x = torch.randint(0, V, (a.batch, a.seq))
        y = torch.randint(0, V, (a.batch, a.seq))
        times = []
        for r in range(a.reps + 1):
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            logits = m(x)
            loss = F.cross_entropy(logits.view(-1, V), y.view(-1))
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for _, p in m.named()], 1.0)
            opt.step()
            if r:
                times.append(time.perf_counter() - t0)
        out["tokens_per_second"] = a.batch * a.seq / statistics.median(times)
    elif a.what == "prefill":
        x = torch.randint(0, V, (1, a.seq))
        times = []
        with torch.no_grad():
            for r in range(a.reps + 1):
                t0 = time.perf_counter()
                prefill(x)
                if r:
                    times.append(time.perf_counter() - t0)
        out["tokens_per_second"] = a.seq / statistics.median(times)
    elif a.what == "decode":
        x = torch.randint(0, V, (1, a.prompt))
        rates = []
        with torch.no_grad():
            for r in range(a.reps):
                cache, logits = prefill(x)
                t0 = time.perf_counter()
                if a.no_cache:
                    seq = x
                    for k in range(a.new - 1):
                        seq = torch.cat([seq, logits.argmax(-1).view(1, 1)], dim=1)
                        logits = m(seq)[:, -1]
                elif a.beams == 1:
                    cache = [c for c in cache]
                    tok = logits.argmax(-1)
                    for k in range(a.new - 1):
                        logits = step(tok, cache, a.prompt + k)
                        tok = logits.argmax(-1)
                else:  # beam search as HF runs it: K beams as one batch, caches reordered by index_select
                    K = a.beams
                    cache = [(k.expand(K, -1, -1, -1).contiguous(), v.expand(K, -1, -1, -1).contiguous()) for k, v in cache]
                    scores = torch.zeros(K)
                    scores[1:] = -1e9
                    lp = logits.log_softmax(-1).expand(K, -1)
                    for k in range(a.new - 1):
                        cand = (scores[:, None] + lp).view(-1)
                        best, idx = cand.topk(K)
                        beam, tok = idx // V, idx % V
                        cache = [(kk.index_select(0, beam), vv.index_select(0, beam)) for kk, vv in cache]
                        scores = best
                        lp = step(tok, cache, a.prompt + k).log_softmax(-1)
                rates.append((a.new - 1) / (time.perf_counter() - t0))
        out["tokens_per_second"] = statistics.median(rates)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
