"""Bad input gets one clear line naming the file, tensor or value, exit 1 (bad input) or 2 (bad
usage), never a crash, and nothing already on disk is overwritten or lost."""
import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from check import check, finish

TF = os.environ.get("TFORMER", "build/tformer")


def expect(args, code, needle, what):
    r = subprocess.run([TF] + args, capture_output=True, text=True)
    err = r.stderr.strip()
    ok = r.returncode == code and needle in err and (code == 2 or len(err.splitlines()) == 1)
    check(ok, f"{what}: rc {r.returncode} | {err.splitlines()[-1] if err else ''}")


def digest_tree(d):
    h = hashlib.sha256()
    for root, _, files in sorted(os.walk(d)):
        for f in sorted(files):
            h.update(f.encode())
            h.update(open(os.path.join(root, f), "rb").read())
    return h.hexdigest()


with tempfile.TemporaryDirectory() as tmp:
    good = os.path.join(tmp, "good")
    subprocess.run([TF, "init", "--preset", "tiny", "--out", good], check=True, capture_output=True)
    st = open(os.path.join(good, "model.safetensors"), "rb").read()
    n = struct.unpack("<Q", st[:8])[0]
    header = json.loads(st[8:8 + n])

    def variant(name, data=None, config=None):
        d = os.path.join(tmp, name)
        os.makedirs(d)
        with open(os.path.join(d, "model.safetensors"), "wb") as f:
            f.write(st if data is None else data)
        with open(os.path.join(d, "config.json"), "w") as f:
            f.write(open(os.path.join(good, "config.json")).read() if config is None else config)
        return d

    def with_header(h):
        hs = json.dumps(h).encode()
        return struct.pack("<Q", len(hs)) + hs + st[8 + n:]

    ev = ["eval", "--tokens", "1,2,3", "--model"]
    expect(ev + [variant("trunc", st[:5])], 1, "truncated", "truncated file")
    expect(ev + [variant("trunc2", st[:len(st) // 2])], 1, "outside the data region", "file cut in the data")
    expect(ev + [variant("hdr", struct.pack("<Q", 10**9) + st[8:])], 1, "runs past the end", "header length past the end")
    h = dict(header); k = "transformer.h.0.ln_1.weight"; h[k] = dict(h[k], data_offsets=[0, 10**12])
    expect(ev + [variant("off", with_header(h))], 1, "outside the data region", "offset out of range")
    h = dict(header); h[k] = dict(h[k], data_offsets=header["transformer.wte.weight"]["data_offsets"][:1] +
                                  [header["transformer.wte.weight"]["data_offsets"][0] + 512])
    expect(ev + [variant("overlap", with_header(h))], 1, "overlap", "overlapping tensors")
    h = dict(header); h[k] = dict(h[k], dtype="Q7")
    expect(ev + [variant("dtype", with_header(h))], 1, "unknown dtype Q7", "unknown dtype")
    h = dict(header); del h["transformer.h.1.mlp.c_fc.bias"]
    expect(ev + [variant("missing", with_header(h))], 1, "missing tensor h.1.mlp.c_fc.bias", "missing tensor")
    cfg = json.load(open(os.path.join(good, "config.json"))); cfg["n_embd"] = 64; cfg["n_head"] = 4
    expect(ev + [variant("shape", config=json.dumps(cfg))], 1, "has shape", "shape that disagrees with the config")
    expect(ev + [variant("badjson", config="{\"vocab_size\": ")], 1, "config.json: invalid JSON", "invalid config JSON")
    expect(["eval", "--model", good, "--tokens", "1,256"], 1, "token id 256", "token id >= vocab_size")
    expect(["eval", "--model", good, "--tokens", ",".join(["1"] * 257)], 1, "n_positions 256", "longer than n_positions")
    expect(["eval", "--model", os.path.join(tmp, "nope"), "--tokens", "1"], 1, "not a model directory", "missing dir")
    expect(["eval", "--model", good, "--tokens", "1,x"], 2, "'x'", "malformed --tokens")
    expect(["eval", "--model", good], 2, "--prompt or --tokens", "no prompt")
    expect(["explain", "--truth", " unto"], 2, "--truth needs --model", "explain --truth without --model")
    expect(["init", "--preset", "huge", "--out", os.path.join(tmp, "x")], 2, "unknown preset", "unknown preset")
    before = digest_tree(good)
    expect(["init", "--preset", "tiny", "--out", good], 1, "refusing to overwrite", "init over a model")

    # Training.
    empty = os.path.join(tmp, "empty.txt"); open(empty, "w").close()
    short = os.path.join(tmp, "short.txt"); open(short, "w").write("too short")
    text = os.path.join(tmp, "text.txt"); open(text, "w").write("hello world, " * 200)
    tr = ["train", "--preset", "tiny", "--steps", "2", "--batch", "2", "--seq", "32", "--val-fraction", "0"]
    expect(tr + ["--data", empty, "--out", os.path.join(tmp, "o1")], 1, "empty", "empty corpus")
    expect(tr + ["--data", short, "--out", os.path.join(tmp, "o2")], 1, "needs at least 33", "corpus shorter than T+1")
    expect(tr[:-4] + ["--seq", "300", "--data", text, "--out", os.path.join(tmp, "o3")], 2, "n_positions",
           "--seq larger than n_positions")
    expect(tr + ["--data", os.path.join(tmp, "nofile"), "--out", os.path.join(tmp, "o4")], 1, "no such file",
           "unreadable data path")
    expect(tr + ["--data", text, "--out", good], 1, "holds something else", "output folder holding a model")
    run1 = os.path.join(tmp, "run1")
    subprocess.run([TF] + tr + ["--data", text, "--out", run1], check=True, capture_output=True)
    r1 = digest_tree(run1)
    expect(tr + ["--data", text, "--out", run1], 1, "--resume", "output folder holding a run")
    expect(["train", "--resume", run1, "--batch", "4"], 2, "--batch 4 differs from the run's 2",
           "a differing flag on resume names both values")
    expect(["train", "--resume", good], 1, "no tformer training run", "resume from a non-run")
    state = json.load(open(os.path.join(run1, "tformer_state", "state.json")))
    bad_run = os.path.join(tmp, "run_sgd")
    subprocess.run(["cp", "-r", run1, bad_run], check=True)
    state["options"]["optimizer"] = "sgd"
    json.dump(state, open(os.path.join(bad_run, "tformer_state", "state.json"), "w"))
    expect(["train", "--resume", bad_run, "--steps", "3"], 1, "AdamW moments", "resume with another optimizer")
    cfg = json.load(open(os.path.join(run1, "tformer_state", "config.json")))
    bad_run2 = os.path.join(tmp, "run_shape")
    subprocess.run(["cp", "-r", run1, bad_run2], check=True)
    state = json.load(open(os.path.join(run1, "tformer_state", "state.json")))
    state["options"]["preset"] = "small"
    json.dump(state, open(os.path.join(bad_run2, "tformer_state", "state.json"), "w"))
    expect(["train", "--resume", bad_run2, "--steps", "3"], 1, "shapes differ", "resume with other shapes")
    expect(tr + ["--data", text, "--out", os.path.join(tmp, "o5"), "--lr-schedule", "linear"], 2, "--lr-schedule",
           "bad schedule")

    big = os.path.join(tmp, "big")
    expect(tr[:-6] + ["--batch", "100000", "--seq", "256", "--data", text, "--out", big], 1, "MemAvailable",
           "--batch 100000 is refused with its memory estimate")
    check(not os.path.exists(big), "the refused run leaves no --out behind")
    expect(tr + ["--data", text, "--out", os.path.join(text, "sub")], 1, "text.txt/sub: cannot create directories",
           "an unwritable --out names the path and the reason")
    expect(["init", "--preset", "gpt2", "--out", os.path.join(tmp, "g2")], 2, "--tokenizer DIR",
           "init --preset gpt2 without a tokenizer")
    check(not os.path.exists(os.path.join(tmp, "g2")), "the refused init writes nothing")
    expect(["train", "--preset", "gpt2", "--steps", "1", "--data", text, "--out", os.path.join(tmp, "g3")], 2,
           "--tokenizer DIR",
           "train --preset gpt2 without a tokenizer")

    # CLI11's messages in plain words.
    expect([], 2, "give a command: init, eval, export, info, train", "no command")
    expect(["tokenizer"], 2, "give a command: train", "tokenizer without its command")
    expect(["train", "--steps", "1", "--steps", "2"], 2, "--steps was given 2 values; it takes one", "a flag twice")
    expect(["train", "--steps", "abc"], 2, "'abc' is not a whole number", "a non-number")
    expect(["train", "--bogus", "1"], 2, "unknown flag --bogus", "an unknown flag")
    expect(["train", "--max-time", "5x", "--data", text, "--preset", "tiny", "--out", os.path.join(tmp, "o6")], 2,
           "not a duration", "a bad --max-time")
    expect(["train", "--steps", "10", "--warmup", "10", "--data", text, "--preset", "tiny", "--out",
            os.path.join(tmp, "o7")], 2, "--warmup 10 must be below --steps 10", "a warm-up as long as the run")
    r = subprocess.run([TF, "eval", "--model", good, "--tokens", "1,2", "--threads", "1000"], capture_output=True,
                       text=True)
    check(r.returncode == 0 and "--threads 1000 is more than the" in r.stderr, "--threads 1000 is clamped with a warning")

    nan = os.path.join(tmp, "nan")
    expect(tr + ["--data", text, "--out", nan, "--optimizer", "sgd", "--lr", "1e30", "--grad-clip", "0",
                 "--save-every", "0"], 1, "not finite; stopping", "a NaN/Inf loss or weight stops the run")
    r = subprocess.run([TF, "eval", "--model", nan, "--tokens", "1,2"], capture_output=True, text=True)
    state = json.load(open(os.path.join(nan, "tformer_state", "state.json")))
    check(r.returncode == 0 and "nan" not in r.stdout.lower() and state["step"] == 0,
          f"the last good checkpoint (step {state['step']}) stays loadable")
    r = subprocess.run([TF] + tr + ["--data", text, "--out", nan], capture_output=True, text=True)
    check(r.returncode == 0, "a run that died before its first step does not block a re-run: " + r.stderr.strip())

    # Generation.
    gen = ["generate", "--model", good, "--tokens", "1,2", "--max-new", "4"]
    expect(gen + ["--strategy", "sample", "--temperature", "-1"], 2, "--temperature", "temperature < 0")
    expect(gen + ["--strategy", "sample", "--top-p", "1.5"], 2, "--top-p", "top-p > 1")
    expect(gen + ["--strategy", "sample", "--top-p", "0"], 2, "--top-p", "top-p = 0")
    expect(gen + ["--strategy", "sample", "--top-k", "-2"], 2, "--top-k", "top-k < 0")
    expect(gen + ["--strategy", "sample", "--min-p", "2"], 2, "--min-p", "min-p > 1")
    expect(gen + ["--strategy", "beam", "--beams", "0"], 2, "--beams", "beams < 1")
    expect(gen + ["--strategy", "beam", "--beams", "2", "--num-return", "3"], 2, "--num-return", "num-return > beams")
    expect(gen + ["--num-return", "2"], 2, "--num-return", "num-return > 1 with greedy")
    expect(["generate", "--model", good, "--tokens", "1,999", "--max-new", "4"], 1, "token id 999", "token id >= vocab")
    expect(["generate", "--model", good, "--prompt", "", "--max-new", "4"], 2, "the prompt is empty", "empty prompt")
    expect(["generate", "--model", good, "--tokens", "1,2", "--max-new", "300"], 1, "exceeds the model's n_positions",
           "prompt + max-new past n_positions")
    expect(gen + ["--strategy", "nucleus"], 2, "--strategy", "unknown strategy")
    expect(gen + ["--dtype", "f16"], 2, "--dtype", "unknown weight dtype")
    r = subprocess.run([TF] + gen + ["--dtype", "bf16", "--json", "--strategy", "beam", "--beams", "2"],
                       capture_output=True, text=True)
    check(r.returncode == 0 and len(json.loads(r.stdout)["sequences"][0]["tokens"]) == 4,
          f"--dtype bf16 generates: rc {r.returncode}")
    r = subprocess.run([TF] + gen + ["--dtype", "q8_0", "--json"], capture_output=True, text=True)
    check(r.returncode == 0 and len(json.loads(r.stdout)["sequences"][0]["tokens"]) == 4,
          f"--dtype q8_0 generates: rc {r.returncode}")
    odd = os.path.join(tmp, "odd48")
    json.dump(dict(vocab_size=256, n_positions=32, n_embd=48, n_layer=1, n_head=2), open(odd + ".json", "w"))
    subprocess.run([TF, "init", "--config", odd + ".json", "--out", odd], check=True, capture_output=True)
    expect(["generate", "--model", odd, "--tokens", "1,2", "--max-new", "4", "--dtype", "q8_0"], 1,
           "wte.weight has rows of 48", "--dtype q8_0 with rows not a multiple of 32")

    check(digest_tree(good) == before, "the model directory is unchanged after the failed commands")
    check(digest_tree(run1) == r1, "the training run is unchanged after the failed commands")

finish()
