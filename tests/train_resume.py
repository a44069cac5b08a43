"""A killed training run loses nothing: SIGKILL a 2-thread run mid-way, resume it (re-running the
same command with --resume), and every later loss and the final weights are bit-identical to an
uninterrupted run. Ctrl-C (SIGINT) saves and exits 130, --steps extends a finished run, a run
resumes from another folder and from its data's new path, and --max-time stops in time."""
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

TF = os.path.abspath(os.environ.get("TFORMER", "build/tformer"))  # some runs start in other folders


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
    # The same command again with --resume: flags equal to the saved ones are accepted.
    r = subprocess.run([TF, "train", "--out", b] + common + ["--resume", b], capture_output=True, text=True)
    check(r.returncode == 0, "resume with every flag equal to the saved run: " + r.stderr.strip())
    ma, mb = metrics(a), metrics(b)
    check([m["step"] for m in mb] == list(range(1, 61)), "resumed metrics have each step once")
    check([m["loss"] for m in ma] == [m["loss"] for m in mb], "every loss is bit-identical")
    check([m.get("val_loss") for m in ma] == [m.get("val_loss") for m in mb], "every val_loss is bit-identical")
    check(digest(os.path.join(a, "model.safetensors")) == digest(os.path.join(b, "model.safetensors")),
          "final weights are bit-identical")

    # Ctrl-C saves a checkpoint and exits 130; resuming continues.
    # Interrupted at several points (an early version aborted with heap corruption in about one
    # Ctrl-C in four when the signal landed on a thread inside the GEMM library): every one exits 130.
    import shutil
    for lines in (4, 7, 10, 13, 10):
        c = os.path.join(tmp, "c")
        shutil.rmtree(c, ignore_errors=True)
        p = subprocess.Popen([TF, "train", "--out", c] + common, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        wait_for_lines(os.path.join(c, "metrics.jsonl"), lines, timeout=120)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate()
        check(p.returncode == 130, f"Ctrl-C after {lines} steps exits 130 (rc {p.returncode}: {err.strip()[-200:]})")
    check(p.returncode == 130 and "interrupted" in out, f"Ctrl-C saves and exits 130 (rc {p.returncode})")
    check(json.load(open(os.path.join(c, "tformer_state", "state.json")))["step"] == len(metrics(c)),
          "the interrupted run's checkpoint is at its last step")
    subprocess.run([TF, "train", "--resume", c, "--threads", "2"], check=True, capture_output=True)
    check([m["loss"] for m in metrics(c)] == [m["loss"] for m in ma], "the interrupted run resumes to the same losses")

    # --steps extends a finished run.
    subprocess.run([TF, "train", "--resume", a, "--steps", "65", "--threads", "2"], check=True, capture_output=True)
    check(len(metrics(a)) == 65, "--steps 65 extends the finished run by 5 steps")
    r = subprocess.run([TF, "train", "--resume", a, "--steps", "66", "--lr", "1e-3"], capture_output=True, text=True)
    check(r.returncode == 2 and "--lr 0.001 differs from the run's 0.003" in r.stderr,
          "a differing flag on resume is refused naming both values: " + r.stderr.strip())

    # A run started with relative paths resumes from another folder, and from its data's new path.
    short = ["--config", "cfg.json", "--batch", "4", "--seq", "32", "--eval-every", "0", "--threads", "2"]
    subprocess.run([TF, "train", "--data", "data.txt", "--out", "rel", "--steps", "3"] + short, check=True,
                   capture_output=True, cwd=tmp)
    elsewhere = os.path.join(tmp, "elsewhere")
    os.makedirs(elsewhere)
    r = subprocess.run([TF, "train", "--resume", os.path.join("..", "rel"), "--steps", "4"], capture_output=True,
                       text=True, cwd=elsewhere)
    check(r.returncode == 0 and len(metrics(os.path.join(tmp, "rel"))) == 4,
          "a run started with a relative --data resumes from another folder: " + r.stderr.strip())
    os.rename(data, os.path.join(elsewhere, "moved.txt"))
    r = subprocess.run([TF, "train", "--resume", "../rel", "--steps", "5"], capture_output=True, text=True, cwd=elsewhere)
    check(r.returncode == 1 and "not there any more" in r.stderr, "a vanished data path is named: " + r.stderr.strip())
    r = subprocess.run([TF, "train", "--resume", "../rel", "--steps", "5", "--data", "moved.txt"], capture_output=True,
                       text=True, cwd=elsewhere)
    check(r.returncode == 0 and len(metrics(os.path.join(tmp, "rel"))) == 5,
          "--data may give the same bytes at a new path: " + r.stderr.strip())
    with open(os.path.join(elsewhere, "other.txt"), "w") as f:
        f.write(open(os.path.join(elsewhere, "moved.txt")).read().replace("God", "Gad"))
    r = subprocess.run([TF, "train", "--resume", "../rel", "--steps", "6", "--data", "other.txt"], capture_output=True,
                       text=True, cwd=elsewhere)
    check(r.returncode == 1 and "fingerprint" in r.stderr, "other bytes under --data are refused: " + r.stderr.strip())
    os.rename(os.path.join(elsewhere, "moved.txt"), data)

    # --max-time: the steps are planned from the first steps' speed and the run ends in time.
    t = os.path.join(tmp, "timed")
    t0 = time.time()
    r = subprocess.run([TF, "train", "--out", t, "--data", data, "--max-time", "3s", "--eval-every", "20", "--config", cfg,
                        "--batch", "4", "--seq", "32", "--threads", "2"], capture_output=True, text=True)
    took = time.time() - t0
    st = json.load(open(os.path.join(t, "tformer_state", "state.json")))
    m = metrics(t)
    # Generous on time (a loaded machine stalls processes); the plan covers the steps it ran (or,
    # when the budget ran out before the plan at 5%, there is none: steps 0).
    planned = st["options"]["steps"]
    check(r.returncode == 0 and took < 3 + 4 and st["options"]["max_time_s"] == 3 and len(m) >= 1 and
          (planned == 0 or planned >= len(m)),
          f"--max-time 3s stops in time ({took:.1f}s, {len(m)} of the planned {planned} steps)")
    check("val_bpb" in m[-1] and abs(m[-1]["val_bpb"] - m[-1]["val_loss"] / 0.6931471805599453) < 1e-9,
          "validation in bits per byte (byte-level: loss / ln 2) in metrics.jsonl")

    # A warm-up longer than the time-planned run is capped at half the plan (so lr reaches
    # --lr), and the cosine schedule ends at the plan's last step (the plan shrinks when the
    # machine slows, rather than the run stopping short of it).
    t = os.path.join(tmp, "timed_warmup")
    r = subprocess.run([TF, "train", "--out", t, "--data", data, "--max-time", "3s", "--config", cfg, "--batch", "4",
                        "--seq", "32", "--threads", "2", "--lr", "1e-3", "--min-lr", "1e-4", "--warmup", "100000"],
                       capture_output=True, text=True)
    st = json.load(open(os.path.join(t, "tformer_state", "state.json")))
    m = metrics(t)
    planned = st["options"]["steps"]
    if planned >= 4:  # else the budget ran out before a plan worth the name (a stalled machine)
        lrs = [x["lr"] for x in m]
        check(r.returncode == 0 and max(lrs) > 0.5e-3 and m[-1]["step"] == planned and lrs[-1] < 0.2e-3,
              f"--warmup above the planned {planned} steps: lr peaks at {max(lrs):.2e}, ends at step "
              f"{m[-1]['step']} with {lrs[-1]:.2e}")

finish()
