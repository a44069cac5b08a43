"""Two builds of tformer side by side in one run: each measurement of bench_tformer alternates
between build A and build B, and each B/A ratio is taken pair by pair (the machine's speed drifts
between pairs, rarely within one). For a refactor: is any row slower by more than the noise?
Usage: /usr/bin/python3 bench/ab.py A/bench_tformer B/bench_tformer [--pairs 3] [--quick]"""
import argparse
import json
import statistics
import subprocess

ROWS = [  # (label, bench_tformer arguments); each reports tokens_per_second
    ("train tiny B8xT128", ["train", "--preset", "tiny", "--batch", "8", "--seq", "128", "--reps", "5"]),
    ("train small B4xT256", ["train", "--preset", "small", "--batch", "4", "--seq", "256", "--reps", "3"]),
    ("prefill gpt2 T128", ["prefill", "--preset", "gpt2", "--seq", "128", "--reps", "3"]),
    ("decode gpt2 greedy", ["decode", "--preset", "gpt2", "--prompt", "16", "--new", "32", "--reps", "2"]),
    ("decode gpt2 bf16", ["decode", "--preset", "gpt2", "--prompt", "16", "--new", "32", "--reps", "2",
                          "--dtype", "bf16"]),
    ("decode gpt2 beam-4", ["decode", "--preset", "gpt2", "--prompt", "16", "--new", "32", "--reps", "2",
                            "--beams", "4"]),
]


def rate(binary, args):
    out = subprocess.run([binary] + args, capture_output=True, text=True, check=True).stdout
    return json.loads(out)["tokens_per_second"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="the tiny and small rows only")
    o = ap.parse_args()
    rows = ROWS[:2] if o.quick else ROWS
    print(f"| measurement | A tok/s | B tok/s | B/A per pair | B/A median |")
    print("|---|---|---|---|---|")
    for label, args in rows:
        ra, rb, ratios = [], [], []
        for i in range(o.pairs):  # A first in even pairs, B first in odd ones
            first, second = (o.a, o.b) if i % 2 == 0 else (o.b, o.a)
            x, y = rate(first, args), rate(second, args)
            a, b = (x, y) if i % 2 == 0 else (y, x)
            ra.append(a)
            rb.append(b)
            ratios.append(b / a)
        print(f"| {label} | {statistics.median(ra):.1f} | {statistics.median(rb):.1f} | "
              f"{', '.join(f'{r:.2f}' for r in ratios)} | {statistics.median(ratios):.2f} |", flush=True)


if __name__ == "__main__":
    main()
