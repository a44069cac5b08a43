"""The PyTorch side of bench/run.py: the same measurements as bench_tformer, on GPT-2 written the
straightforward way (tests/torch_gpt.py), fp32, torch.set_num_threads = tformer's threads.
Prints one JSON line."""
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
    cfg = dict(PRESETS[a.preset], seed=1)
    m = Gpt2(cfg)
    V = cfg["vocab_size"]
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
                prefill_cache(m, x)
                if r:
                    times.append(time.perf_counter() - t0)
        out["tokens_per_second"] = a.seq / statistics.median(times)
    elif a.what == "decode":
        x = torch.randint(0, V, (1, a.prompt))
        rates = []
        with torch.no_grad():
            for r in range(a.reps):
                cache, logits = prefill_cache(m, x)
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
                        logits = step_cached(m, tok, cache, a.prompt + k)
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
                        lp = step_cached(m, tok, cache, a.prompt + k).log_softmax(-1)
                rates.append((a.new - 1) / (time.perf_counter() - t0))
        out["tokens_per_second"] = statistics.median(rates)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
