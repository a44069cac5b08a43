"""tformer against PyTorch, side by side in one run: training, prefill and decode tokens/s, peak
memory of each run, the machine's peak FLOP/s and bandwidth. Measurements alternate between the
engines and each ratio is taken pair by pair; the table shows medians.
Then tformer against llama.cpp (node-llama-cpp's prebuilt CPU build, bench/llamacpp_bench.mjs) on
the same weights exported to GGUF: prefill 128/512 at F32, decode at F32, F16, BF16 and Q8_0,
for the gpt2 and smollm2-135m presets. Both engines run with 1 and with 2 threads and each one's
faster counts (llama.cpp's per-step overhead can make 1 thread faster on small models, and on a
loaded machine a 2-thread run of either can collapse).
Usage: /usr/bin/python3 bench/run.py [--quick] [--pairs N] [--only TEXT] [--out bench/results.json]
       [--no-llamacpp] [--llamacpp-threads 1,2] [--gguf-dir DIR]
       (--only "vs llama.cpp": the llama.cpp rows alone)"""
import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TF = os.path.join(ROOT, "build", "bench_tformer")
PY = "/usr/bin/python3"
TORCH = os.path.join(ROOT, "bench", "torch_bench.py")
BLIS = "/usr/lib/x86_64-linux-gnu/blis-openmp"  # PyTorch at its best here (issue #6)

# (L, C, V) for the MFU column; C is also NH·HS, the width of attention's QKᵀ and PV.
PRESET_N = {"tiny": (4, 128, 256), "small": (6, 384, 256), "gpt2": (12, 768, 50257), "smollm2-135m": (30, 576, 49152)}
BIG = ("gpt2", "smollm2")  # ~130M-parameter presets: fewer pairs per row in a full run
LLAMACPP = os.path.join(ROOT, "bench", "llamacpp_bench.mjs")
NODE_LLAMA = os.path.join(ROOT, "tests", "node", "node_modules", "node-llama-cpp")
TFORMER_CLI = os.path.join(ROOT, "build", "tformer")


def measure(cmd, env=None):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.dup2(w, 1)
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, 2)
        os.close(r)
        os.execvpe(cmd[0], cmd, env or os.environ)
    os.close(w)
    data = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        data += chunk
    os.close(r)
    _, status, ru = os.wait4(pid, 0)
    if status != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed with status {status}")
    return json.loads(data.decode().strip().splitlines()[-1]), ru.ru_maxrss / 1024.0


def llamacpp_rows():
    """(name, bench_tformer args or None, preset, GGUF dtype, llamacpp_bench args). tformer's bf16
    decode meets llama.cpp's F16 and BF16; its q8_0 row runs if bench_tformer has --dtype q8_0."""
    rows = []
    for preset in ("gpt2", "smollm2-135m"):
        for seq in (128, 512):
            rows.append((f"prefill {preset}, {seq} tokens, F32 vs llama.cpp",
                         ["prefill", "--preset", preset, "--seq", str(seq), "--reps", "3"], preset, "f32",
                         ["prefill", "--seq", str(seq), "--reps", "3"]))
        for ours, theirs in (("f32", "f32"), ("bf16", "f16"), ("bf16", "bf16"), ("q8_0", "q8_0")):
            rows.append((f"decode {preset}, 64 new, {ours} vs llama.cpp {theirs.upper()}",
                         ["decode", "--preset", preset, "--prompt", "16", "--new", "64", "--reps", "2", "--dtype", ours],
                         preset, theirs, ["decode", "--prompt", "16", "--new", "64", "--reps", "2"]))
    return rows


def gguf_for(preset, dtype, gguf_dir):
    """tformer init --preset (bench_tformer's seed 1) exported at dtype, made once and kept."""
    os.makedirs(gguf_dir, exist_ok=True)
    d, f = os.path.join(gguf_dir, preset), os.path.join(gguf_dir, f"{preset}-{dtype}.gguf")
    if not os.path.exists(os.path.join(d, "config.json")):
        # a byte tokenizer (padded to the vocabulary) so that llama.cpp has a vocabulary to load
        subprocess.run([TFORMER_CLI, "init", "--preset", preset, "--seed", "1", "--tokenizer", "byte", "--out", d],
                       check=True, capture_output=True)
    if not os.path.exists(f):
        subprocess.run([TFORMER_CLI, "export", "--model", d, "--out", f, "--dtype", dtype], check=True,
                       capture_output=True)
    return f


def run_llamacpp(a, env_tf):
    """Each row: bench_tformer and llama.cpp, each at every thread count of --llamacpp-threads,
    `pairs` times; medians. Each engine's faster thread count counts for the ratio: on a shared
    2-core machine a 2-thread run of either can collapse (its threads wait on each other at every
    barrier while a third process holds a core)."""
    help_text = subprocess.run([TF, "--help"], capture_output=True, text=True).stdout
    has_q8 = "q8_0" in help_text
    threads = [int(x) for x in a.llamacpp_threads.split(",")]
    rows = llamacpp_rows()
    if a.only:
        rows = [r for r in rows if any(o in r[0] for o in a.only)]
    out = []
    for name, tf_args, preset, dtype, lc_args in rows:
        gguf = gguf_for(preset, dtype, a.gguf_dir)
        run_tf = "q8_0" not in tf_args or has_q8
        tf_by, lc_by = {}, {}
        for _ in range(a.pairs if a.only else 1):
            for n in threads:
                if run_tf:
                    try:
                        t, _ = measure([TF] + tf_args + ["--threads", str(n)], dict(env_tf, OMP_NUM_THREADS=str(n)))
                        tf_by.setdefault(n, []).append(t["tokens_per_second"])
                    except RuntimeError as e:  # a q8_0 mode spelled otherwise: the cells stay blank
                        print(f"  {name}: {e}", file=sys.stderr)
                        run_tf = False
                r, _ = measure(["node", LLAMACPP] + lc_args + ["--model", gguf, "--threads", str(n)])
                lc_by.setdefault(n, []).append(r["tokens_per_second"])
            print(f"  {name}: " + ", ".join(
                f"{n} thread(s): tformer {tf_by[n][-1] if n in tf_by else float('nan'):.1f}, llama.cpp {lc_by[n][-1]:.1f}"
                for n in threads) + " tok/s", file=sys.stderr)
        row = {"name": name, "gguf": os.path.basename(gguf),
               "tformer_by_threads": {str(k): statistics.median(v) for k, v in tf_by.items()},
               "llamacpp_by_threads": {str(k): statistics.median(v) for k, v in lc_by.items()}}
        row["tformer"] = max(row["tformer_by_threads"].values()) if tf_by else None
        row["llamacpp"] = max(row["llamacpp_by_threads"].values())
        row["ratio"] = row["tformer"] / row["llamacpp"] if row["tformer"] else None
        out.append(row)
    return out


def print_llamacpp(rows, threads):
    label = " / ".join(threads.split(","))
    print(f"| measurement | tformer tok/s ({label} threads) | llama.cpp tok/s ({label} threads) | "
          "tformer / llama.cpp (each at its faster) |")
    print("|---|---:|---:|---:|")
    for r in rows:
        cells = []
        for engine in ("tformer_by_threads", "llamacpp_by_threads"):
            cells.append(" / ".join(f"{r[engine][n]:.1f}" if n in r[engine] else "" for n in threads.split(",")))
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] else ""
        print(f"| {r['name']} | {cells[0]} | {cells[1]} | {ratio} |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="skip the gpt2 and smollm2 training and 1024-token decode rows")
    ap.add_argument("--only", action="append", default=[],
                    help="run only the rows whose name contains TEXT (repeatable), each with --pairs pairs")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results.json"))
    ap.add_argument("--no-llamacpp", action="store_true", help="skip the llama.cpp rows")
    ap.add_argument("--llamacpp-threads", default="1,2",
                    help="thread counts at which the llama.cpp rows run both engines (comma-separated)")
    ap.add_argument("--gguf-dir", default="/tmp/tformer-bench-gguf",
                    help="where the presets' GGUF exports are made once and kept (about 2 GB)")
    a = ap.parse_args()
    th = str(a.threads)
    env_tf = dict(os.environ, OMP_NUM_THREADS=th)
    env_pt = dict(os.environ, OMP_NUM_THREADS=th)
    if os.path.isdir(BLIS):
        env_pt["LD_LIBRARY_PATH"] = BLIS + ":" + env_pt.get("LD_LIBRARY_PATH", "")
    rows = [
        ("train tiny (B16 x T128)", ["train", "--preset", "tiny", "--batch", "16", "--seq", "128", "--reps", "3"], ("tiny", 128)),
        ("train small (B8 x T256)", ["train", "--preset", "small", "--batch", "8", "--seq", "256", "--reps", "2"], ("small", 256)),
        ("train gpt2 (B4 x T256)", ["train", "--preset", "gpt2", "--batch", "4", "--seq", "256", "--reps", "1"], ("gpt2", 256)),
        ("prefill gpt2, 128 tokens", ["prefill", "--preset", "gpt2", "--seq", "128", "--reps", "3"], None),
        ("prefill gpt2, 512 tokens", ["prefill", "--preset", "gpt2", "--seq", "512", "--reps", "3"], None),
        ("decode small, 128 new, KV cache", ["decode", "--preset", "small", "--prompt", "16", "--new", "128", "--reps", "3"], None),
        ("decode small, 128 new, no cache", ["decode", "--preset", "small", "--prompt", "16", "--new", "128", "--reps", "1", "--no-cache"], None),
        ("decode gpt2, 128 new, KV cache", ["decode", "--preset", "gpt2", "--prompt", "16", "--new", "128", "--reps", "2"], None),
        ("decode gpt2, 128 new, no cache", ["decode", "--preset", "gpt2", "--prompt", "16", "--new", "128", "--reps", "1", "--no-cache"], None),
        ("decode gpt2, 1023 new, KV cache", ["decode", "--preset", "gpt2", "--prompt", "1", "--new", "1023", "--reps", "1"], None),
        ("beam-4 gpt2, 128 new, KV cache", ["decode", "--preset", "gpt2", "--prompt", "16", "--new", "128", "--reps", "1", "--beams", "4"], None),
        # tformer with bf16 weights (--dtype bf16) against PyTorch's fp32, the reference
        ("decode small, 128 new, KV cache, bf16 weights", ["decode", "--preset", "small", "--prompt", "16", "--new", "128", "--reps", "3", "--dtype", "bf16"], None),
        ("decode gpt2, 128 new, KV cache, bf16 weights", ["decode", "--preset", "gpt2", "--prompt", "16", "--new", "128", "--reps", "2", "--dtype", "bf16"], None),
        # ... and with Q8_0 weights (--dtype q8_0: int8 blocks of 32 and an fp16 scale, 8.5 bits a weight)
        ("decode gpt2, 128 new, KV cache, q8_0 weights", ["decode", "--preset", "gpt2", "--prompt", "16", "--new", "128", "--reps", "2", "--dtype", "q8_0"], None),
        # SmolLM2-135M's shapes (Llama: 30 layers, C 576, 9 heads / 3 KV heads, I 1536, V 49152, tied)
        ("train smollm2-135m (B4 x T256)", ["train", "--preset", "smollm2-135m", "--batch", "4", "--seq", "256", "--reps", "1"], ("smollm2-135m", 256)),
        ("prefill smollm2-135m, 512 tokens", ["prefill", "--preset", "smollm2-135m", "--seq", "512", "--reps", "3"], None),
        ("decode smollm2-135m, 128 new, KV cache", ["decode", "--preset", "smollm2-135m", "--prompt", "16", "--new", "128", "--reps", "2"], None),
        ("decode smollm2-135m, 128 new, KV cache, bf16 weights", ["decode", "--preset", "smollm2-135m", "--prompt", "16", "--new", "128", "--reps", "2", "--dtype", "bf16"], None),
        ("decode smollm2-135m, 128 new, KV cache, q8_0 weights", ["decode", "--preset", "smollm2-135m", "--prompt", "16", "--new", "128", "--reps", "2", "--dtype", "q8_0"], None),
    ]
    if a.quick:
        rows = [r for r in rows if not r[0].startswith(("train gpt2", "train smollm2")) and "1023" not in r[0]]
    if a.only:
        rows = [r for r in rows if any(o in r[0] for o in a.only)]
    peak, _ = measure([TF, "peak", "--threads", th], env_tf)
    bw, _ = measure([TF, "bandwidth", "--threads", th], env_tf)
    results = []
    n_params = {}
    for name, args, mfu in rows:
        big = any(b in name for b in BIG)
        pairs = a.pairs if a.only or not big or "prefill" in name else 2 if "train" in name else 1
        tf_r, pt_r, ratios, tf_mem, pt_mem = [], [], [], [], []
        for _ in range(pairs):
            t, tm = measure([TF] + args + ["--threads", th], env_tf)
            pt_args = [x for i, x in enumerate(args) if x != "--dtype" and (i == 0 or args[i - 1] != "--dtype")]
            p, pm = measure([PY, TORCH] + pt_args + ["--threads", th], env_pt)
            n_params[args[args.index("--preset") + 1]] = t["parameters"]
            tf_r.append(t["tokens_per_second"])
            pt_r.append(p["tokens_per_second"])
            ratios.append(t["tokens_per_second"] / p["tokens_per_second"])
            tf_mem.append(tm)
            pt_mem.append(pm)
            print(f"  {name}: tformer {t['tokens_per_second']:.1f} tok/s, pytorch {p['tokens_per_second']:.1f}", file=sys.stderr)
        row = {"name": name, "tformer": statistics.median(tf_r), "pytorch": statistics.median(pt_r),
               "ratio": statistics.median(ratios), "tformer_rss_mb": max(tf_mem), "pytorch_rss_mb": max(pt_mem),
               "pairs": pairs}
        if mfu:
            L, C, V = PRESET_N[mfu[0]]
            n = t["parameters"]
            flops_token = 6 * n + 12 * L * C * mfu[1]
            row["mfu_tformer"] = row["tformer"] * flops_token / peak["flops"]
            row["mfu_pytorch"] = row["pytorch"] * flops_token / peak["flops"]
        results.append(row)
    by = {r["name"]: r for r in results}
    derived = {}
    # What one beam-4 step costs against a batch-1 step: both run back to back, pair by pair,
    # for each engine (the rows above are minutes apart on a machine whose speed drifts).
    step = ["decode", "--preset", "gpt2", "--prompt", "16", "--new", "64", "--reps", "1", "--threads", th]
    for engine, cmd, env in (("tformer", [TF], env_tf), ("pytorch", [PY, TORCH], env_pt)) if not a.only else ():
        costs = []
        for _ in range(a.pairs):
            one, _ = measure(cmd + step, env)
            beam, _ = measure(cmd + step + ["--beams", "4"], env)
            costs.append(one["tokens_per_second"] / beam["tokens_per_second"])
        derived[f"beam4_step_cost_{engine}"] = statistics.median(costs)
        print(f"  beam-4 step cost, {engine}: {' '.join(f'{c:.2f}' for c in costs)}", file=sys.stderr)
    for preset in ("small", "gpt2", "smollm2-135m"):
        cached, uncached = by.get(f"decode {preset}, 128 new, KV cache"), by.get(f"decode {preset}, 128 new, no cache")
        if cached and uncached:
            derived[f"kv_cache_speedup_{preset}_128_tformer"] = cached["tformer"] / uncached["tformer"]
        params = n_params.get(preset)
        for suffix, tag, width in (("", "", 4), (", bf16 weights", "_bf16", 2), (", q8_0 weights", "_q8_0", 34 / 32)):
            r = by.get(f"decode {preset}, 128 new, KV cache{suffix}")
            if r and params:  # every weight read once per token: the bandwidth bound (read-only
                # streaming where bench_tformer measures it; older builds report the triad only)
                bound = bw.get("read_bytes_per_second", bw["bytes_per_second"]) / (params * width)
                derived[f"decode_{preset}{tag}_bound_tok_s"] = bound
                derived[f"decode_{preset}{tag}_of_bound"] = r["tformer"] / bound
    lc_rows = []
    if not a.no_llamacpp and os.path.isdir(NODE_LLAMA):
        lc_rows = run_llamacpp(a, env_tf)
    doc = {"date": datetime.date.today().isoformat(), "threads": a.threads, "peak_flops": peak["flops"],
           "load_average_at_end": os.getloadavg(),  # a shared machine: how busy it was
           "bandwidth_bytes_per_s": bw["bytes_per_second"],
           "read_bandwidth_bytes_per_s": bw.get("read_bytes_per_second"), "rows": results, "derived": derived,
           "llamacpp_rows": lc_rows}
    with open(a.out, "w") as f:
        json.dump(doc, f, indent=2)
    read = f", read-only {bw['read_bytes_per_second'] / 1e9:.1f} GB/s" if "read_bytes_per_second" in bw else ""
    print(f"Machine: fp32 FMA peak {peak['flops'] / 1e9:.1f} GFLOP/s, triad bandwidth {bw['bytes_per_second'] / 1e9:.1f} GB/s{read}, "
          f"{a.threads} threads, {doc['date']}.\n")
    if results:
        print("| measurement | tformer tok/s | PyTorch tok/s | tformer / PyTorch | MFU tformer / PyTorch | "
              "peak RSS tformer / PyTorch (MB) |")
        print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        mfu = f"{100 * r['mfu_tformer']:.0f}% / {100 * r['mfu_pytorch']:.0f}%" if "mfu_tformer" in r else ""
        print(f"| {r['name']} | {r['tformer']:.1f} | {r['pytorch']:.1f} | {r['ratio']:.2f}x | {mfu} | "
              f"{r['tformer_rss_mb']:.0f} / {r['pytorch_rss_mb']:.0f} |")
    if results:
        print()
    if "beam4_step_cost_tformer" in derived:
        print(f"- beam-4 step / batch-1 step (gpt2, 64 new, {a.pairs} back-to-back pairs each, median): "
              f"tformer {derived['beam4_step_cost_tformer']:.2f}x, PyTorch {derived['beam4_step_cost_pytorch']:.2f}x")
    for preset in ("small", "gpt2", "smollm2-135m"):
        if f"kv_cache_speedup_{preset}_128_tformer" in derived:
            print(f"- KV cache vs recompute, {preset}, 128 new: {derived[f'kv_cache_speedup_{preset}_128_tformer']:.1f}x")
        for tag in ("", "_bf16", "_q8_0"):
            k = f"decode_{preset}{tag}_bound_tok_s"
            if k in derived:
                print(f"- decode {preset}{tag.replace('_', ' ', 1)}: bandwidth bound {derived[k]:.0f} tok/s "
                      f"(weights once per token), tformer at {100 * derived[f'decode_{preset}{tag}_of_bound']:.0f}% of it")

    if lc_rows:
        if results:
            print()
        print_llamacpp(lc_rows, a.llamacpp_threads)


if __name__ == "__main__":
    main()
