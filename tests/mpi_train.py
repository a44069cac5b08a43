"""Data-parallel training on MPI: 2 ranks with global batch B give the losses and weights of one
process with batch B (<= 1e-5 relative after 10 AdamW steps); a checkpoint written by 2 ranks
resumes on 1 process and one written by 1 process on 2 ranks, continuing the same data order; a
rank killed with SIGKILL stops the run within a bounded time and leaves the checkpoint loadable."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from check import check, finish, wait_for_lines
from torch_gpt import read_safetensors

TF = os.environ.get("TFORMER", "build/tformer")
MPI = ["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", "2"]


def metrics(d):
    return [json.loads(l) for l in open(os.path.join(d, "metrics.jsonl"))]


def max_rel(a, b):
    wa, wb = read_safetensors(os.path.join(a, "model.safetensors")), read_safetensors(os.path.join(b, "model.safetensors"))
    errs = {k: ((wa[k] - wb[k]).abs().max() / wb[k].abs().max().clamp(min=1e-30)).item() for k in wb}
    return max(errs.values())


def loss_rel(ma, mb):
    return max(abs(x["loss"] - y["loss"]) / abs(y["loss"]) for x, y in zip(ma, mb))


with tempfile.TemporaryDirectory() as tmp:
    data = os.path.join(tmp, "data.txt")
    with open(data, "w") as f:
        for i in range(400):
            f.write(f"Verse {i}: and the earth was without form, and void; and darkness was upon the deep. ")
    cfg = os.path.join(tmp, "cfg.json")
    with open(cfg, "w") as f:
        json.dump(dict(vocab_size=256, n_positions=64, n_embd=64, n_layer=2, n_head=4), f)
    # eps 1e-5: the key bias's gradient is zero in exact arithmetic and float32 noise (~1e-9) in
    # practice; with eps 1e-8 Adam turns that noise, which differs with the summation order of
    # the all-reduce, into visible steps (the same holds for one process against PyTorch).
    args = ["--eps", "1e-5", "--data", data, "--config", cfg, "--batch", "8", "--seq", "64", "--accum", "2", "--lr", "3e-3",
            "--warmup", "2", "--data-order", "shuffle", "--val-fraction", "0.05", "--eval-every", "5",
            "--save-every", "5", "--threads", "1"]
    one = os.path.join(tmp, "one")
    subprocess.run([TF, "train", "--out", one, "--steps", "10"] + args, check=True, capture_output=True)
    two = os.path.join(tmp, "two")
    r = subprocess.run(MPI + [TF, "train", "--out", two, "--steps", "10"] + args, capture_output=True, text=True)
    check(r.returncode == 0, "2 ranks train: " + r.stderr.strip()[-200:])
    m1, m2 = metrics(one), metrics(two)
    check(len(m2) == 10 and loss_rel(m2, m1) <= 1e-5, f"2 ranks = 1 process: losses within {loss_rel(m2, m1):.1e}")
    check(max_rel(two, one) <= 1e-5, f"2 ranks = 1 process: weights within {max_rel(two, one):.1e} after 10 AdamW steps")
    check("data-parallel over 2 ranks" in r.stdout and r.stdout.count("done in ") == 1, "rank 0 alone prints")

    # Resume across shapes: 2 ranks to step 6, then one process to 10; one process to 6, then 2
    # ranks. A constant schedule, since a cosine one is laid over --steps, which extending changes.
    const = args + ["--lr-schedule", "constant"]
    ref = os.path.join(tmp, "ref")
    subprocess.run([TF, "train", "--out", ref, "--steps", "10"] + const, check=True, capture_output=True)
    a = os.path.join(tmp, "a")
    subprocess.run(MPI + [TF, "train", "--out", a, "--steps", "6"] + const, check=True, capture_output=True)
    subprocess.run([TF, "train", "--resume", a, "--steps", "10", "--threads", "1"], check=True, capture_output=True)
    check(loss_rel(metrics(a), metrics(ref)) <= 1e-5 and max_rel(a, ref) <= 1e-5, "written by 2 ranks, resumed by 1 process")
    b = os.path.join(tmp, "b")
    subprocess.run([TF, "train", "--out", b, "--steps", "6"] + const, check=True, capture_output=True)
    subprocess.run(MPI + [TF, "train", "--resume", b, "--steps", "10", "--threads", "1"], check=True, capture_output=True)
    check(loss_rel(metrics(b), metrics(ref)) <= 1e-5 and max_rel(b, ref) <= 1e-5, "written by 1 process, resumed by 2 ranks")

    # A rank dies: the run stops within a bounded time; the checkpoint stays loadable.
    c = os.path.join(tmp, "c")
    p = subprocess.Popen(MPI + [TF, "train", "--out", c, "--steps", "100000"] + args, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    wait_for_lines(os.path.join(c, "metrics.jsonl"), 12, timeout=60)
    victim = None
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
            cmd = open(f"/proc/{pid}/cmdline", "rb").read()
        except OSError:
            continue
        if b"OMPI_COMM_WORLD_RANK=1" in env and c.encode() in cmd:
            victim = int(pid)
    check(victim is not None, "found rank 1")
    t0 = time.time()
    if victim:
        os.kill(victim, signal.SIGKILL)
    try:
        out, err = p.communicate(timeout=60)
        stopped = True
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        stopped = False
    check(stopped and p.returncode != 0, f"the other rank stops (rc {p.returncode}) within {time.time() - t0:.1f}s")
    msg = (err + out).lower()
    check("rank 1" in msg or "signal 9" in msg or "killed" in msg, "mpirun says which rank died")
    r = subprocess.run([TF, "eval", "--model", c, "--tokens", "1,2,3"], capture_output=True, text=True)
    check(r.returncode == 0, "the last checkpoint stays loadable")
    r = subprocess.run([TF, "train", "--resume", c, "--steps", "20", "--threads", "1"], capture_output=True, text=True)
    check(r.returncode == 0, "and resumes")

finish()
