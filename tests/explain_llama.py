"""`tformer explain --model` on Llama-family models: the rotary angles equal an independent float64
computation from the config's rope_theta and rope_scaling (none, linear, llama3 with every regime of
its ramp), the GQA grouping is h // (NH/NKV), the KV cache counts NKV heads; a GPT-2 model's
walkthrough carries none of the new keys."""
import json
import math
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from check import check, finish

TF = os.environ.get("TFORMER", "build/tformer")
BASE = dict(model_type="llama", vocab_size=260, hidden_size=96, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=6, num_key_value_heads=2, max_position_embeddings=128, rms_norm_eps=1e-5,
            rope_theta=10000.0, tie_word_embeddings=True)
CASES = [  # (name, config changes)
    # HS 16: wavelengths 2π·10000^(i/8) = 6.3, 20, 63, 199, ...: with original 64 the first is kept
    # (< 64/4), the next two are on the ramp, the rest divided by the factor.
    ("gqa 6/2, llama3", dict(rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                           "high_freq_factor": 4.0, "original_max_position_embeddings": 64})),
    ("mqa 4/1, linear, head_dim 12", dict(num_attention_heads=4, num_key_value_heads=1, head_dim=12,
                                         rope_theta=500000.0, rope_scaling={"type": "linear", "factor": 2.0})),
    ("mha 3/3, no scaling", dict(num_attention_heads=3, num_key_value_heads=3, hidden_size=48)),
]


def run(*args):
    r = subprocess.run([TF, *args], capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"tformer {' '.join(args)} failed: {r.stderr}")
    return r.stdout


def reference_inv_freq(cfg):
    """HF's modeling_rope_utils in float64, written from its description, not from tformer's code."""
    hs = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    f = [cfg["rope_theta"] ** (-(2 * i) / hs) for i in range(hs // 2)]
    s = cfg.get("rope_scaling") or {}
    kind = s.get("rope_type", s.get("type", "default"))
    if kind == "linear":
        return [x / s["factor"] for x in f]
    if kind == "llama3":
        orig, lo, hi, factor = (s["original_max_position_embeddings"], s["low_freq_factor"], s["high_freq_factor"],
                                s["factor"])
        out = []
        for x in f:
            wavelen = 2 * math.pi / x
            if wavelen < orig / hi:
                out.append(x)
            elif wavelen > orig / lo:
                out.append(x / factor)
            else:
                smooth = (orig / wavelen - lo) / (hi - lo)
                out.append((1 - smooth) * x / factor + smooth * x)
        return out
    return f


def close(a, b):
    return abs(a - b) <= 1e-12 * max(1.0, abs(b))


with tempfile.TemporaryDirectory() as tmp:
    prompt, new = "In the beginning", 4
    for n, (name, changes) in enumerate(CASES):
        cfg = dict(BASE, **changes)
        path, d = f"{tmp}/c{n}.json", f"{tmp}/m{n}"
        with open(path, "w") as f:
            json.dump(cfg, f)
        run("init", "--config", path, "--out", d, "--tokenizer", "byte", "--seed", str(n + 1))
        j = json.loads(run("explain", "--model", d, "--prompt", prompt, "--new", str(new), "--json", "--threads", "2"))
        H, HKV = cfg["num_attention_heads"], cfg["num_key_value_heads"]
        hs = cfg.get("head_dim") or cfg["hidden_size"] // H
        T = len(j["training"]["ids"])
        check(j["check"]["ok"], f"{name}: the h_t check passes ({j['check']['summary']})")
        m = j["model"]
        check(m["arch"] == "llama" and m["n_kv_head"] == HKV and m["head_dim"] == hs, f"{name}: model arch, NKV, HS")

        rope, ref = j["rope"], reference_inv_freq(cfg)
        check(rope["pairs"] == hs // 2 and len(rope["inv_freq"]) == hs // 2, f"{name}: {hs // 2} frequency pairs")
        check(all(close(a, b) for a, b in zip(rope["inv_freq"], ref)), f"{name}: inv_freq = float64 reference")
        check(rope["positions"] == list(range(T)) and len(rope["angles"]) == T, f"{name}: angles for positions 0..{T - 1}")
        worst = max(abs(rope["angles"][t][i] - t * ref[i]) / max(1.0, t * ref[i]) for t in range(T) for i in range(hs // 2))
        check(worst <= 1e-12, f"{name}: every angle = t * inv_freq[i] of the reference (worst rel {worst:.1e})")
        kind = (cfg.get("rope_scaling") or {}).get("rope_type", (cfg.get("rope_scaling") or {}).get("type", "none"))
        check(rope["scaling"]["type"] == kind and rope["theta"] == cfg["rope_theta"], f"{name}: scaling {kind} named")
        if kind == "llama3":  # every regime of the ramp occurs, so the comparison covers all three
            ratios = [a / b for a, b in zip(rope["inv_freq"], rope["inv_freq_unscaled"])]
            check(close(ratios[0], 1.0) and any(1 / 8 < r < 1 for r in ratios) and close(ratios[-1], 1 / 8),
                  f"{name}: kept, ramped and divided frequencies ({', '.join(f'{r:.3f}' for r in ratios)})")

        g = j["gqa"]
        check(g["kv_head_of"] == [h // (H // HKV) for h in range(H)], f"{name}: query head h reads K/V head h // {H // HKV}")
        check([x["query_heads"] for x in g["groups"]] == [[h for h in range(H) if h // (H // HKV) == k] for k in range(HKV)],
              f"{name}: groups {g['summary']}")
        row = 2 * cfg["num_hidden_layers"] * HKV * hs * 4
        check(g["kv_cache_row_bytes"] == row and g["kv_cache_row_bytes_mha"] == row * H // HKV,
              f"{name}: KV cache row {row} bytes (MHA {row * H // HKV})")
        P = len(j["inference"]["prompt"])
        check(j["inference"]["kv_cache_bytes"] == (P + new - 1) * row, f"{name}: kv_cache_bytes counts NKV heads")
        fp, C, L = m["flops_per_position"], cfg["hidden_size"], cfg["num_hidden_layers"]
        layer = 2 * (C * (H + 2 * HKV) * hs + H * hs * C + 3 * C * cfg["intermediate_size"])
        check(fp["fixed"] == L * layer + 2 * cfg["vocab_size"] * C and fp["per_context_position"] == L * 4 * H * hs,
              f"{name}: FLOPs per position of the Llama block (the page's counter)")
        text = run("explain", "--model", d, "--prompt", prompt, "--new", "2", "--threads", "2")
        check(g["summary"] in text and "Rotary positions" in text, f"{name}: the terminal prints both views")
    six_two = json.loads(run("explain", "--model", f"{tmp}/m0", "--prompt", prompt, "--new", "1", "--json"))["gqa"]
    check("heads 0–2 share K/V head 0; heads 3–5 share K/V head 1" in six_two["summary"] and
          six_two["kv_head_of"][4] == 1, "GQA 6/2 in words: heads 0–2 share K/V head 0; heads 3–5 share K/V head 1")

    # GPT-2: the walkthrough is as it was.
    run("init", "--preset", "tiny", "--out", f"{tmp}/g", "--tokenizer", "byte")
    g2 = json.loads(run("explain", "--model", f"{tmp}/g", "--prompt", prompt, "--new", "2", "--json"))
    check("rope" not in g2 and "gqa" not in g2 and sorted(g2["model"]) ==
          ["n_embd", "n_head", "n_layer", "n_positions", "parameters", "vocab_size"], "GPT-2: no Llama keys")
finish()
