"""`tformer info` (src/cli/cmd_info.cc) against what the files say, read here independently: for a
GPT-2 and a Llama with grouped-query attention made by `tformer init --config`, the shapes equal
config.json's, the parameter count is the sum of the safetensors tensors' sizes (read from the
file's own header), the KV cache is 2 · layers · kv_heads · head_dim · 4 bytes a token; the
model's Q8_0 export lists the tensor types its GGUF header holds (parsed here); a missing path is
one error line and a non-zero exit."""
import json
import os
import struct
import subprocess
import sys
import tempfile
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check import check, finish
from ggml_quantize import TYPES, _skip_value

TF = os.path.abspath(os.environ.get("TFORMER", "build/tformer"))
TYPE_NAMES = {v: k for k, v in TYPES.items()}
CONFIGS = {
    "gpt2": dict(vocab_size=256, n_positions=64, n_embd=64, n_layer=2, n_head=4),
    "llama-gqa": dict(model_type="llama", vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=3,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128, rms_norm_eps=1e-5,
                      rope_theta=500000.0, tie_word_embeddings=False),
}


def run(*args):
    return subprocess.run([TF, *args], capture_output=True, text=True)


def safetensors_numel(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    total = 0
    for name, t in header.items():
        if name != "__metadata__":
            size = 1
            for d in t["shape"]:
                size *= d
            total += size
    return total


def gguf_tensor_types(path):
    buf = open(path, "rb").read()
    _, _, n_t, n_kv = struct.unpack_from("<4sIQQ", buf, 0)
    pos = 24
    for _ in range(n_kv):
        (klen,) = struct.unpack_from("<Q", buf, pos)
        (t,) = struct.unpack_from("<I", buf, pos + 8 + klen)
        pos = _skip_value(buf, pos + 12 + klen, t)
    types = Counter()
    for _ in range(n_t):
        (nlen,) = struct.unpack_from("<Q", buf, pos)
        pos += 8 + nlen
        (nd,) = struct.unpack_from("<I", buf, pos)
        (t,) = struct.unpack_from("<I", buf, pos + 4 + 8 * nd)
        pos += 4 + 8 * nd + 12
        types[TYPE_NAMES.get(t, str(t))] += 1
    return dict(types)


with tempfile.TemporaryDirectory() as tmp:
    for name, cfg in CONFIGS.items():
        d = os.path.join(tmp, name)
        cfg_path = os.path.join(tmp, name + ".json")
        json.dump(cfg, open(cfg_path, "w"))
        r = run("init", "--config", cfg_path, "--out", d, "--seed", "3", "--tokenizer", "byte")
        if not check(r.returncode == 0, f"{name}: init ({r.stderr.strip()})"):
            continue
        r = run("info", "--model", d, "--json")
        if not check(r.returncode == 0, f"{name}: info ({r.stderr.strip()})"):
            continue
        j = json.loads(r.stdout)
        c = json.load(open(os.path.join(d, "config.json")))
        llama = name != "gpt2"
        layers = c["num_hidden_layers"] if llama else c["n_layer"]
        heads = c["num_attention_heads"] if llama else c["n_head"]
        hidden = c["hidden_size"] if llama else c["n_embd"]
        kv_heads = c.get("num_key_value_heads", heads) if llama else heads
        want = dict(arch="llama" if llama else "gpt2", layers=layers, hidden=hidden, heads=heads, kv_heads=kv_heads,
                    head_dim=hidden // heads, vocab=c["vocab_size"],
                    context=c["max_position_embeddings"] if llama else c["n_positions"],
                    ffn=c["intermediate_size"] if llama else 4 * hidden)
        for k, v in want.items():
            check(j[k] == v, f"{name}: info's {k} {j[k]} is config.json's {v}")
        numel = safetensors_numel(os.path.join(d, "model.safetensors"))
        check(j["parameters"] == numel, f"{name}: {j['parameters']} parameters = the safetensors tensors' {numel}")
        check(j["fp32_bytes"] == 4 * numel, f"{name}: fp32 bytes = 4 x parameters")
        kv = 2 * layers * kv_heads * (hidden // heads) * 4
        check(j["kv_bytes_per_token"] == kv, f"{name}: KV cache {j['kv_bytes_per_token']} bytes a token = {kv}")
        check(j["tokenizer"] is not None and j["tokenizer"]["kind"] == "byte", f"{name}: the byte tokenizer")
        r = run("info", "--model", d)
        check(r.returncode == 0 and f"{numel} " in r.stdout and "parameters" in r.stdout,
              f"{name}: the text form names the parameter count")

        g = os.path.join(tmp, name + ".gguf")
        r = run("export", "--model", d, "--out", g, "--dtype", "q8_0")
        if not check(r.returncode == 0, f"{name}: export q8_0 ({r.stderr.strip()})"):
            continue
        r = run("info", "--model", g, "--json")
        if check(r.returncode == 0, f"{name}: info on the .gguf ({r.stderr.strip()})"):
            jg = json.loads(r.stdout)
            types = gguf_tensor_types(g)
            check(jg["tensor_types"] == types, f"{name}: tensor types {jg['tensor_types']} = the header's {types}")
            check("Q8_0" in types, f"{name}: the export holds Q8_0 tensors")
            for k in ("parameters", "layers", "kv_bytes_per_token", "vocab"):
                check(jg[k] == j[k], f"{name}: .gguf's {k} = the folder's")

    r = run("info", "--model", os.path.join(tmp, "no-such-model"))
    check(r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1 and "no-such-model" in r.stderr,
          f"a missing path is one error line naming it ({r.stderr.strip()!r})")

finish()
