"""Fuzz seeds for tests/fuzz/fuzz_gguf_vocab.cc: two GGUF files with no tensors and a small
vocabulary each, written from ggml's docs/gguf.md: a byte-level BPE ("gpt2", pre "llama-bpe":
the 256 byte symbols, a few merges) and a SentencePiece one ("llama": scores, token types,
<0xXX> byte tokens). Usage: gguf_vocab_seeds.py OUT_DIR"""
import os
import struct
import sys

STRING, ARRAY, U32, F32, I32, BOOL = 8, 9, 4, 6, 5, 7


def s(x):
    b = x.encode()
    return struct.pack("<Q", len(b)) + b


def kv(key, typ, value):
    out = s(key) + struct.pack("<I", typ)
    if typ == STRING:
        return out + s(value)
    if typ == U32:
        return out + struct.pack("<I", value)
    if typ == BOOL:
        return out + struct.pack("<?", value)
    elem, items = value
    body = b"".join(s(v) if elem == STRING else struct.pack({F32: "<f", I32: "<i"}[elem], v) for v in items)
    return out + struct.pack("<IQ", elem, len(items)) + body


def write(path, pairs):
    with open(path, "wb") as f:
        f.write(struct.pack("<4sIQQ", b"GGUF", 3, 0, len(pairs)) + b"".join(kv(*p) for p in pairs))


def byte_symbols():  # GPT-2's printable stand-ins for the 256 bytes
    keep = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    extra = [b for b in range(256) if b not in keep]
    return [chr(b) if b in keep else chr(256 + extra.index(b)) for b in range(256)]


out = sys.argv[1]
os.makedirs(out, exist_ok=True)
sym = byte_symbols()
merges = ["Ġ w", "o r", "l d", "Ġw or", "Ġwor ld", "H e", "l l", "He ll"]
tokens = sym + [m.replace(" ", "") for m in merges] + ["<|begin_of_text|>", "<|end_of_text|>"]
write(os.path.join(out, "bpe.gguf"), [
    ("tokenizer.ggml.model", STRING, "gpt2"), ("tokenizer.ggml.pre", STRING, "llama-bpe"),
    ("tokenizer.ggml.tokens", ARRAY, (STRING, tokens)),
    ("tokenizer.ggml.token_type", ARRAY, (I32, [1] * (len(tokens) - 2) + [3, 3])),
    ("tokenizer.ggml.merges", ARRAY, (STRING, merges)),
    ("tokenizer.ggml.bos_token_id", U32, len(tokens) - 2), ("tokenizer.ggml.eos_token_id", U32, len(tokens) - 1)])
pieces = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + \
         ["▁", "e", "l", "o", "H", "ll", "He", "Hell", "Hello", "▁w", "or", "ld", "▁wor", "▁world"]
types = [2, 3, 3] + [6] * 256 + [1] * 14
scores = [0.0, 0.0, 0.0] + [0.0] * 256 + [-float(i) for i in range(14)]
write(os.path.join(out, "spm.gguf"), [
    ("tokenizer.ggml.model", STRING, "llama"), ("tokenizer.ggml.tokens", ARRAY, (STRING, pieces)),
    ("tokenizer.ggml.scores", ARRAY, (F32, scores)), ("tokenizer.ggml.token_type", ARRAY, (I32, types)),
    ("tokenizer.ggml.bos_token_id", U32, 1), ("tokenizer.ggml.eos_token_id", U32, 2),
    ("tokenizer.ggml.add_space_prefix", BOOL, True)])
