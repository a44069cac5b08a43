"""Two builds of tformer side by side in one run: each measurement of bench_tformer alternates
between build A and build B, and each B/A ratio is taken pair by pair (the machine's speed drifts
between pairs, rarely within one). For a refactor: is any row slower by more than the noise?

The noise is measured, not assumed: each pair runs three times, A B A in even pairs and B A B in
odd ones, so every pair also gives one same-binary ratio (A'/A or B'/B) of two runs a minute
apart. With n the widest of a row's same-binary drifts (max of s and 1/s), the row is slower
than the noise when every pair has B/A < 1 and its median B/A is below 1/n (faster: every B/A > 1
and the median above n).
Usage: /usr/bin/python3 bench/ab.py A/bench_tformer B/bench_tformer [--pairs 3] [--quick]
       [--threads 2] [--only TEXT] [--json out.json]"""
import argparse
import json
import statistics
import subprocess

ROWS = [  # (label, bench_tformer arguments); each reports tokens_per_second. bench/run.py's rows
    # that both builds can run (the baseline may lack newer presets), fewer repetitions.
    ("train tiny B8xT128", ["train", "--preset", "tiny", "--batch", "8", "--seq", "128", "--reps", "5"]),
    ("train small B4xT256", ["train", "--preset", "small", "--batch", "4", "--seq", "256", "--reps", "3"]),
    ("train gpt2 B4xT256", ["train", "--preset", "gpt2", "--batch", "4", "--seq", "256", "--reps", "1"]),
    ("prefill gpt2 T128", ["prefill", "--preset", "gpt2", "--seq", "128", "--reps", "3"]),
    ("prefill gpt2 T512", ["prefill", "--preset", "gpt2", "--seq", "512", "--reps", "2"]),
    ("decode small 128 new", ["decode", "--preset", "small", "--prompt", "16", "--new", "128", "--reps", "3"]),
    ("decode small 128 new, no cache",
     ["decode", "--preset", "small", "--prompt", "16", "--new", "128", "--reps", "1", "--no-cache"]),
    ("decode gpt2 greedy", ["decode", "--preset", "gpt2", "--prompt", "16", "--new", "32", "--reps", "2"]),
    ("decode gpt2 bf16", ["decode", "--preset", "gpt2", "--prompt", "16", "--new", "32", "--reps", "2",
                          "--dtype", "bf16"]),
    ("decode gpt2 beam-4", ["decode", "--preset", "gpt2", "--prompt", "16", "--new", "32", "--reps", "2",
                            "--beams", "4"]),
    ("decode gpt2 no cache", ["decode", "--preset", "gpt2", "--prompt", "16", "--new", "32", "--reps", "1",
                              "--no-cache"]),
]


def rate(binary, args):
    out = subprocess.run([binary] + args, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])["tokens_per_second"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="the tiny and small rows only")
    ap.add_argument("--only", action="append", default=[], help="rows whose label contains TEXT (repeatable)")
    ap.add_argument("--json", help="also write every measurement to this file")
    o = ap.parse_args()
    rows = [r for r in ROWS if "tiny" in r[0] or "small" in r[0]] if o.quick else ROWS
    if o.only:
        rows = [r for r in rows if any(t in r[0] for t in o.only)]
    print(f"| measurement | A tok/s | B tok/s | B/A per pair | B/A median | same binary, per pair | verdict |")
    print("|---|---:|---:|---|---:|---|---|")
    doc = []
    for label, args in rows:
        args = args + ["--threads", str(o.threads)]
        ra, rb, ratios, same = [], [], [], []
        for i in range(o.pairs):  # A B A in even pairs, B A B in odd ones
            x, y = (o.a, o.b) if i % 2 == 0 else (o.b, o.a)
            r1, r2, r3 = rate(x, args), rate(y, args), rate(x, args)
            first = (r1 + r3) / 2  # the twice-measured build, averaged around the other
            a, b = (first, r2) if i % 2 == 0 else (r2, first)
            ra.append(a)
            rb.append(b)
            ratios.append(b / a)
            same.append(r3 / r1)
        med = statistics.median(ratios)
        noise = max(max(same), 1 / min(same))  # the widest same-binary drift, either way
        if all(r < 1 for r in ratios) and med < 1 / noise:
            verdict = "slower than noise"
        elif all(r > 1 for r in ratios) and med > noise:
            verdict = "faster than noise"
        else:
            verdict = "within noise"
        print(f"| {label} | {statistics.median(ra):.1f} | {statistics.median(rb):.1f} | "
              f"{', '.join(f'{r:.2f}' for r in ratios)} | {med:.2f} | "
              f"{', '.join(f'{s:.2f}' for s in same)} | {verdict} |", flush=True)
        doc.append({"row": label, "args": args, "a": ra, "b": rb, "b_over_a": ratios, "same_binary": same,
                    "verdict": verdict})
    if o.json:
        with open(o.json, "w") as f:
            json.dump({"a": o.a, "b": o.b, "threads": o.threads, "rows": doc}, f, indent=2)


if __name__ == "__main__":
    main()
