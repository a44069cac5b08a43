"""A killed training run loses nothing: SIGKILL a 2-thread run mid-way, resume it, and every
later loss and the final weights are bit-identical to an uninterrupted run. Ctrl-C (SIGINT)
saves and exits cleanly, and --steps extends a finished run."""
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from check import check, finish, wait_for_lines

TF = os.environ.get("TFORMER", "build/tformer")


def metrics(d):
    return [json.loads(l) for l in open(os.path.join(d, "metrics.jsonl"))]


def digest(p):
    return hashlib.sha256(open(p, "rb").read()).hexdigest()


with tempfile.TemporaryDirectory() as tmp:
    data = os.path.join(tmp, "data.txt")
    with open(data, "w") as f:
        f.write(("In the beginning God created the heaven and the earth. " * 40 + "\n") * 20)
    cfg = os.path.join(tmp, "cfg.json")
    with open(cfg, "w") as f:
        json.dump(dict(vocab_size=256, n_positions=64, n_embd=64, n_layer=2, n_head=4), f)
    common = ["--data", data, "--config", cfg, "--steps", "60", "--batch", "8", "--seq", "64", "--lr", "3e-3",
              "--warmup", "5", "--data-order", "shuffle", "--eval-every", "10", "--save-every", "7",
              "--threads", "2", "--accum", "2"]
    a = os.path.join(tmp, "a")
    subprocess.run([TF, "train", "--out", a] + common, check=True, capture_output=True)

    b = os.path.join(tmp, "b")
    p = subprocess.Popen([TF, "train", "--out", b] + common, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_lines(os.path.join(b, "metrics.jsonl"), 24, timeout=120)
    p.send_signal(signal.SIGKILL)
    p.wait()
    killed_at = len(metrics(b))
    check(killed_at < 60, f"run killed mid-way (after step {killed_at})")
    # The model directory at the top stays loadable at every instant.
    r = subprocess.run([TF, "eval", "--model", b, "--tokens", "1,2,3"], capture_output=True, text=True)
    check(r.returncode == 0, "the killed run's model directory loads: " + r.stderr.strip())
    subprocess.run([TF, "train", "--resume", b, "--threads", "2"], check=True, capture_output=True)
    ma, mb = metrics(a), metrics(b)
    check([m["step"] for m in mb] == list(range(1, 61)), "resumed metrics have each step once")
    check([m["loss"] for m in ma] == [m["loss"] for m in mb], "every loss is bit-identical")
    check([m.get("val_loss") for m in ma] == [m.get("val_loss") for m in mb], "every val_loss is bit-identical")
    check(digest(os.path.join(a, "model.safetensors")) == digest(os.path.join(b, "model.safetensors")),
          "final weights are bit-identical")

    # Ctrl-C saves a checkpoint and exits 0; resuming continues.
    c = os.path.join(tmp, "c")
    p = subprocess.Popen([TF, "train", "--out", c] + common, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_lines(os.path.join(c, "metrics.jsonl"), 10, timeout=120)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate()
    check(p.returncode == 0 and "interrupted" in out, f"Ctrl-C saves and exits 0 (rc {p.returncode})")
    subprocess.run([TF, "train", "--resume", c, "--threads", "2"], check=True, capture_output=True)
    check([m["loss"] for m in metrics(c)] == [m["loss"] for m in ma], "the interrupted run resumes to the same losses")

    # --steps extends a finished run.
    subprocess.run([TF, "train", "--resume", a, "--steps", "65", "--threads", "2"], check=True, capture_output=True)
    check(len(metrics(a)) == 65, "--steps 65 extends the finished run by 5 steps")

finish()
