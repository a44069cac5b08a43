"""tformer tokenizer train: a byte-level BPE learned from a slice of the King James Bible.
- its tokenizer.json, loaded by the npm package @lenml/tokenizers (a port of transformers.js),
  encodes exactly as `tformer tokenize --tokenizer OUT` does, on KJV text seen and unseen in
  training and on text KJV never shows (non-ASCII bytes, emoji, digits, whitespace runs), and
  decodes back to the text;
- vocab.json + merges.txt and tokenizer.json hold the same vocabulary and merges, the run is
  deterministic, and --data DIR reads every file under the folder;
- `tformer train --tokenizer OUT` trains a few steps with it;
- bad input is one error line naming the path or value, a non-zero exit, and nothing written."""
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from check import check, finish

TF = os.environ.get("TFORMER", "build/tformer")
LENML = os.path.abspath(os.path.join(os.path.dirname(__file__), "node", "node_modules", "@lenml", "tokenizers"))
KJV = os.path.join(os.path.dirname(__file__), "..", "data", "kjv.txt")
VOCAB = 1000
for need, hint in ((LENML, "run scripts/setup.sh"), (KJV, "run scripts/setup.sh (it fetches data/kjv.txt)")):
    if not os.path.exists(need):
        print(f"{need} is missing: {hint}")
        sys.exit(1)

NODE_ENCODE = r"""
const {TokenizerLoader} = require(process.argv[2]);
const fs = require('fs');
const tok = TokenizerLoader.fromPreTrained({
  tokenizerJSON: JSON.parse(fs.readFileSync(process.argv[3], 'utf8')),
  tokenizerConfig: {clean_up_tokenization_spaces: false},
});
const texts = JSON.parse(fs.readFileSync(process.argv[4], 'utf8'));
console.log(JSON.stringify(texts.map(t => {
  const ids = tok.encode(t, {add_special_tokens: false});
  return {ids, back: tok.decode(ids)};
})));
"""


def tf(args):
    return subprocess.run([TF] + args, capture_output=True)


def cut_at_line(data, n):
    """The first ~n bytes, ending after a newline that follows and precedes a non-space, so that
    cutting there splits no GPT-2 piece."""
    i = n
    while not (data[i:i + 1] == b"\n" and not data[i - 1:i].isspace() and not data[i + 1:i + 2].isspace()):
        i += 1
    return i + 1


def train(data, out, vocab=VOCAB):
    return tf(["tokenizer", "train", "--data", data, "--vocab", str(vocab), "--out", out])


def read(p):
    with open(p, "rb") as f:
        return f.read()


def write(p, b):
    with open(p, "wb") as f:
        f.write(b)


TEXTS = [
    "Ünïcödé lëttérs: naïve café, Ελληνικά, русский, 中文字符, 日本語のテキスト, العربية",
    "Emoji: 🙂🚀👩‍👩‍👧 ✓ ★ — “quotes” … and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "numbers 1234567890 3.14159 1e-5 0xFF 2026-12-01 and $100,000.00!!!",
    "runs of   spaces     and\n\n\n\nnewlines \n \n  trailing   ",
    "\ttabs\t\tand\r\nCRLF\rendings\u00a0nbsp   ",
    "   leading spaces; It's, they've, I'd, we'll, you're, I'm, 'tis",
    "control \x01\x02\x7f bytes and ~`^|<>{}[]\\ symbols",
    "def f(x):\n    return x**2  # square\n",
    "x",
    " ",
]

with tempfile.TemporaryDirectory() as tmp:
    kjv = read(KJV)
    n_train = cut_at_line(kjv, 300_000)
    corpus = os.path.join(tmp, "slice.txt")
    write(corpus, kjv[:n_train])
    tok = os.path.join(tmp, "tok")
    r = train(corpus, tok)
    out = r.stdout.decode()
    check(r.returncode == 0, f"tokenizer train on {n_train} bytes of KJV: rc {r.returncode} {r.stderr.decode().strip()}")
    summary = re.search(r"vocab (\d+), (\d+) merges, ([\d.]+) s; ([\d.]+) bytes/token on the corpus \((\d+) bytes, (\d+) tokens\)", out)
    check(bool(summary), "one summary line: vocab, merges, seconds, bytes/token | " + out.strip().splitlines()[-1])
    if not summary:
        finish()
    check(int(summary[1]) == VOCAB and int(summary[2]) == VOCAB - 256, f"vocab {summary[1]}, {summary[2]} merges")
    check("\r" not in out, "no live progress line when stdout is not a terminal")
    names = sorted(os.listdir(tok))
    check(names == ["merges.txt", "tokenizer.json", "vocab.json"], f"files: {names}")
    check(not [n for n in os.listdir(tmp) if ".tmp." in n], "no temp folder left behind")

    # The summary's compression is what `tformer tokenize` gives on the corpus.
    ids = tf(["tokenize", "--tokenizer", tok, "--file", corpus]).stdout.decode().strip().split(",")
    check(len(ids) == int(summary[6]) and int(summary[5]) == n_train,
          f"summary counts {summary[6]} tokens for {summary[5]} bytes; tformer tokenize gives {len(ids)}")

    # The two formats agree.
    tj = json.loads(read(os.path.join(tok, "tokenizer.json")))
    vocab = json.loads(read(os.path.join(tok, "vocab.json")))
    merges = read(os.path.join(tok, "merges.txt")).decode().splitlines()
    check(tj["model"]["type"] == "BPE" and tj["pre_tokenizer"]["type"] == "ByteLevel" and
          tj["decoder"]["type"] == "ByteLevel", "tokenizer.json: BPE, ByteLevel pre-tokenizer and decoder")
    check(tj["model"]["vocab"] == vocab and len(vocab) == VOCAB, "tokenizer.json vocab == vocab.json")
    check(merges[0].startswith("#version") and tj["model"]["merges"] == merges[1:],
          "tokenizer.json merges == merges.txt")
    check(sorted(vocab.values()) == list(range(VOCAB)) and vocab["Ġ"] == 32 and vocab["A"] == 65,
          "ids 0-255 are the bytes (Ġ = 32), the rest dense")

    # Deterministic: a second run writes the same bytes.
    tok2 = os.path.join(tmp, "tok2")
    train(corpus, tok2)
    check(all(read(os.path.join(tok, f)) == read(os.path.join(tok2, f)) for f in names), "a second run writes identical files")

    # --data DIR: every regular file under it, nested ones too, in sorted order.
    d = os.path.join(tmp, "dir")
    os.makedirs(os.path.join(d, "sub"))
    half = cut_at_line(kjv, n_train // 2)
    write(os.path.join(d, "a.txt"), kjv[:half])
    write(os.path.join(d, "sub", "b.txt"), kjv[half:n_train])
    tok3 = os.path.join(tmp, "tok3")
    r = train(d, tok3)
    check(r.returncode == 0 and b"2 files" in r.stdout and
          read(os.path.join(tok3, "merges.txt")) == read(os.path.join(tok, "merges.txt")),
          "--data DIR with a nested file learns the same merges as the one file")

    # Parity with @lenml/tokenizers: KJV seen in training, KJV never seen, and text KJV lacks.
    texts = [kjv[:20_000].decode(), kjv[-20_000:].decode()] + TEXTS + ["\n".join(TEXTS)]
    tj_path = os.path.join(tmp, "texts.json")
    with open(tj_path, "w") as f:
        json.dump(texts, f)
    js = os.path.join(tmp, "enc.js")
    with open(js, "w") as f:
        f.write(NODE_ENCODE)
    r = subprocess.run(["node", js, LENML, os.path.join(tok, "tokenizer.json"), tj_path], capture_output=True, text=True)
    check(r.returncode == 0, f"@lenml/tokenizers loads tokenizer.json {r.stderr.strip()[-300:]}")
    ref = json.loads(r.stdout) if r.returncode == 0 else [{"ids": None, "back": None}] * len(texts)
    for i, (text, want) in enumerate(zip(texts, ref)):
        p = os.path.join(tmp, f"t{i}.txt")
        write(p, text.encode())
        got = tf(["tokenize", "--tokenizer", tok, "--file", p]).stdout.decode().strip()
        got = [int(x) for x in got.split(",")] if got else []
        label = f"text {i} ({len(text.encode())} bytes, {len(got)} tokens): {text[:24]!r}"
        check(got == want["ids"], f"{label}: tformer == @lenml/tokenizers" +
              ("" if got == want["ids"] else f" | {got[:12]} vs {(want['ids'] or [])[:12]}"))
        check(want["back"] == text, f"{label}: @lenml/tokenizers decodes it back")
        back = tf(["tokenize", "--tokenizer", tok, "--decode", ",".join(map(str, got))]).stdout if got else b""
        check(back == text.encode(), f"{label}: tformer decodes it back")

    # `tformer train --tokenizer OUT` uses it unchanged.
    cfg = os.path.join(tmp, "config.json")
    with open(cfg, "w") as f:
        json.dump({"vocab_size": VOCAB, "n_positions": 64, "n_embd": 32, "n_layer": 1, "n_head": 2}, f)
    model = os.path.join(tmp, "model")
    r = tf(["train", "--data", corpus, "--tokenizer", tok, "--config", cfg, "--out", model,
            "--steps", "3", "--batch", "2", "--seq", "32", "--threads", "1"])
    check(r.returncode == 0 and read(os.path.join(model, "merges.txt")) == read(os.path.join(tok, "merges.txt")),
          f"tformer train --tokenizer OUT: 3 steps, the model folder carries the merges {r.stderr.decode().strip()[-200:]}")

    # Bad input: one line naming the path or value, non-zero exit, nothing written.
    empty = os.path.join(tmp, "empty.txt")
    write(empty, b"")
    os.makedirs(os.path.join(tmp, "emptydir"))
    busy = os.path.join(tmp, "busy")
    os.makedirs(busy)
    write(os.path.join(busy, "keep.txt"), b"mine")
    nothing = os.path.join(tmp, "nothing")
    for args, code, needle, what in [
        (["--data", os.path.join(tmp, "missing.txt"), "--out", nothing], 1, "missing.txt", "missing corpus"),
        (["--data", empty, "--out", nothing], 1, "empty", "empty corpus file"),
        (["--data", os.path.join(tmp, "emptydir"), "--out", nothing], 1, "emptydir", "folder without files"),
        (["--data", corpus, "--vocab", "100", "--out", nothing], 2, "100", "--vocab below 256"),
        (["--data", corpus, "--vocab", "99999999", "--out", nothing], 2, "99999999", "--vocab absurdly large"),
        (["--data", corpus, "--out", os.path.join(empty, "sub")], 1, "empty.txt/sub", "--out under a file"),
        (["--data", corpus, "--out", busy], 1, "busy", "--out folder that holds something"),
    ]:
        r = tf(["tokenizer", "train"] + args)
        err = r.stderr.decode().strip()
        check(r.returncode == code and needle in err and len(err.splitlines()) == 1,
              f"{what}: rc {r.returncode} | {err}")
    check(not os.path.exists(nothing), "no output folder after a failed run")
    check(os.listdir(busy) == ["keep.txt"] and read(os.path.join(busy, "keep.txt")) == b"mine",
          "the folder that held something is untouched")
    check(not [n for n in os.listdir(tmp) if ".tmp." in n], "no temp folder left behind after failures")
finish()
