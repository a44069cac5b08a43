"""A run's loss curve as a standalone SVG (no plotting library: Debian's python3 alone).

  python3 scripts/plot_loss.py OUT/metrics.jsonl FILE.svg [--title TEXT]

Draws the training loss of every step (thin), its 10-step moving mean, and the validation loss
at each evaluation (dots), in nats per token, against the step; the last validation point is
given in the legend with its bits per byte. The README's demo curve is made with it (docs/demo_loss.svg).
"""
import argparse
import json
import math
import sys

W, H = 640, 360
LEFT, RIGHT, TOP, BOTTOM = 56, 24, 34, 40


def nice_ticks(lo, hi, n=5):
    step = 10 ** math.floor(math.log10((hi - lo) / n))
    for m in (1, 2, 5, 10):
        if (hi - lo) / (step * m) <= n:
            step *= m
            break
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("metrics")
    ap.add_argument("svg")
    ap.add_argument("--title", default="")
    a = ap.parse_args()
    rows = []
    for i, line in enumerate(open(a.metrics, encoding="utf-8")):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            sys.exit(f"{a.metrics}:{i + 1}: not a JSON line")
    train = [(r["step"], r["loss"]) for r in rows if "loss" in r]
    val = [(r["step"], r["val_loss"], r.get("val_bpb")) for r in rows if "val_loss" in r]
    if len(train) < 2:
        sys.exit(f"{a.metrics}: fewer than 2 steps to draw")
    smooth = []
    for i in range(len(train)):
        window = train[max(0, i - 9) : i + 1]
        smooth.append((train[i][0], sum(l for _, l in window) / len(window)))
    x0, x1 = 0, max(s for s, _ in train)
    ys = [l for _, l in train] + [v for _, v, _ in val]
    y0, y1 = math.floor(min(ys)), math.ceil(max(ys))
    px = lambda s: LEFT + (W - LEFT - RIGHT) * (s - x0) / (x1 - x0)
    py = lambda l: TOP + (H - TOP - BOTTOM) * (y1 - l) / (y1 - y0)
    path = lambda pts: " ".join(f"{'M' if i == 0 else 'L'}{px(s):.1f},{py(l):.1f}" for i, (s, l) in enumerate(pts))

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{W}" height="{H}" fill="white"/>',
        f'<text x="{W / 2}" y="20" text-anchor="middle" font-size="14">{a.title}</text>',
    ]
    for t in nice_ticks(y0, y1):
        out.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{py(t):.1f}" y2="{py(t):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{LEFT - 6}" y="{py(t) + 4:.1f}" text-anchor="end">{t:g}</text>')
    for t in nice_ticks(x0, x1):
        out.append(f'<text x="{px(t):.1f}" y="{H - BOTTOM + 16}" text-anchor="middle">{t:g}</text>')
    out.append(f'<text x="{(LEFT + W - RIGHT) / 2}" y="{H - 6}" text-anchor="middle">step</text>')
    out.append(
        f'<text transform="translate(14,{(TOP + H - BOTTOM) / 2}) rotate(-90)" text-anchor="middle">'
        "loss (nats per token)</text>"
    )
    out.append(f'<path d="{path(train)}" fill="none" stroke="#9ecae1" stroke-width="1"/>')
    out.append(f'<path d="{path(smooth)}" fill="none" stroke="#08519c" stroke-width="2"/>')
    for s, v, _ in val:
        out.append(f'<circle cx="{px(s):.1f}" cy="{py(v):.1f}" r="4" fill="#e6550d"/>')
    label = "validation"
    if val and val[-1][2] is not None:
        label += f" (last: {val[-1][1]:.2f} nats/token = {val[-1][2]:.2f} bits/byte)"
    lx = W - RIGHT - 330
    out += [
        f'<line x1="{lx}" x2="{lx + 20}" y1="{TOP + 10}" y2="{TOP + 10}" stroke="#08519c" stroke-width="2"/>',
        f'<text x="{lx + 26}" y="{TOP + 14}">train (10-step mean; thin: each step)</text>',
        f'<circle cx="{lx + 10}" cy="{TOP + 28}" r="4" fill="#e6550d"/>',
        f'<text x="{lx + 26}" y="{TOP + 32}">{label}</text>',
        "</svg>",
    ]
    open(a.svg, "w", encoding="utf-8").write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
