"""PyTorch parity of the parallel pass: logits, every hidden state, the final LayerNorm output
and every attention map, for several configs and checkpoint layouts (tformer eval --dump)."""
import os
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(__file__))
from torch_gpt import Gpt2, bf16_round, read_safetensors, rel_err, run, save_model_dir

TOL = 1e-4
CASES = [
    # (config, T, checkpoint variant)
    (dict(vocab_size=300, n_positions=64, n_embd=48, n_layer=2, n_head=4, seed=1), 37, "prefix"),
    (dict(vocab_size=97, n_positions=32, n_embd=32, n_layer=3, n_head=2, seed=2,
          tie_word_embeddings=False), 32, "no-prefix+lm_head"),
    (dict(vocab_size=50257, n_positions=1024, n_embd=64, n_layer=2, n_head=2, seed=3), 70, "prefix"),
    (dict(vocab_size=128, n_positions=40, n_embd=32, n_layer=2, n_head=4, seed=4,
          layer_norm_epsilon=1e-3), 25, "bf16"),
    (dict(vocab_size=128, n_positions=40, n_embd=32, n_layer=1, n_head=1, seed=5), 9, "f16"),
]

failures = 0
with tempfile.TemporaryDirectory() as tmp:
    for i, (cfg, T, variant) in enumerate(CASES):
        torch.manual_seed(100 + i)
        m = Gpt2(cfg)
        d = os.path.join(tmp, f"m{i}")
        extra = {}
        if variant == "prefix":  # HF's causal-mask buffers, which the loader must ignore
            for l in range(cfg["n_layer"]):
                extra[f"transformer.h.{l}.attn.bias"] = torch.ones(1, 1, cfg["n_positions"], cfg["n_positions"])
        dtype = {"bf16": "BF16", "f16": "F16"}.get(variant, "F32")
        if dtype == "BF16":
            with torch.no_grad():
                for _, p in m.named():
                    p.copy_(bf16_round(p).reshape(p.shape))
        if dtype == "F16":
            with torch.no_grad():
                for _, p in m.named():
                    p.copy_(p.half().float())
        save_model_dir(m, d, prefix="" if variant.startswith("no-prefix") else "transformer.",
                       dtype=dtype, extra=extra)
        idx = torch.randint(0, cfg["vocab_size"], (1, T))
        cap = {}
        with torch.no_grad():
            logits = m(idx, cap)[0]
        dump = os.path.join(tmp, f"d{i}.safetensors")
        run(["eval", "--model", d, "--tokens", ",".join(map(str, idx[0].tolist())), "--dump", dump])
        got = read_safetensors(dump)
        checks = [("logits", logits)]
        checks += [(f"hidden.{l}", h[0]) for l, h in enumerate(cap["hidden"])]
        checks += [("final", cap["final"][0])]
        checks += [(f"attn.{l + 1}", a[0]) for l, a in enumerate(cap["att"])]
        worst = 0.0
        for name, ref in checks:
            e = rel_err(got[name], ref)
            worst = max(worst, e)
            if e > TOL or got[name].shape != ref.shape:
                print(f"FAIL case {i} ({variant}) {name}: rel err {e:.3g} shape {tuple(got[name].shape)} vs {tuple(ref.shape)}")
                failures += 1
        print(f"case {i} V={cfg['vocab_size']} C={cfg['n_embd']} L={cfg['n_layer']} NH={cfg['n_head']} T={T} {variant}: "
              f"worst rel err {worst:.2e} over {len(checks)} tensors")

print(f"{len(CASES) if not failures else 0} passed, {failures} failed")
sys.exit(1 if failures else 0)
