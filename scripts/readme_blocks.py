"""The README's example blocks, for scripts/readme_examples.sh.

  readme_blocks.py fill BLOCKS_DIR README OUT   README with each <!-- example:NAME --> block
                                                replaced by the file BLOCKS_DIR/NAME
  readme_blocks.py compare README NEW           exit 1, naming the lines, when NEW's text differs
                                                from README's beyond float rounding

Why a tolerance: builds for different CPUs (-march=native; AVX2 or AVX-512) add the same
products in different orders, so a full-precision float moves in its 5th to 7th digit from one
machine to the next (an x86-64-v3 build against an AVX-512 one: the token log-probs of the
--json example by 1.2e-5 of their size) while every word, token id and printed loss stays the
same. A number with a decimal point may differ by 1e-4 of its size or by one unit of its last
shown digit (values under 1e-6 count as equal); integers (token ids, counts, sizes) and all
other text must be equal.
"""
import difflib
import os
import re
import sys

BLOCK = re.compile(r"<!-- example:([\w-]+) -->\n.*?<!-- /example -->", re.S)
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
OPTIONAL = {"mpi"}  # left as they are where the tool is missing (mpirun)


def fill(blocks_dir, src, dst):
    text = open(src, encoding="utf-8").read()
    blocks = {n: open(os.path.join(blocks_dir, n), encoding="utf-8").read() for n in os.listdir(blocks_dir)}
    seen = set()

    def one(m):
        name = m.group(1)
        if name not in blocks:
            if name in OPTIONAL:
                return m.group(0)
            sys.exit(f"{src}: <!-- example:{name} --> names no example of scripts/readme_examples.sh")
        seen.add(name)
        return f"<!-- example:{name} -->\n```\n{blocks[name]}```\n<!-- /example -->"

    out = BLOCK.sub(one, text)
    missing = sorted(set(blocks) - seen)
    if missing:
        sys.exit(f"{src}: no <!-- example:NAME --> block for " + ", ".join(missing))
    open(dst, "w", encoding="utf-8").write(out)


def close(a, b):
    if a == b:
        return True
    if not ("." in a and "." in b):
        return False  # integers are exact
    x, y = float(a), float(b)
    mantissa = min(len(re.split(r"[eE]", s)[0].split(".")[1]) for s in (a, b))
    unit = 0.0 if "e" in (a + b).lower() else 10.0**-mantissa
    # 1e-6: below it a difference is rounding noise itself (the explainer's max|diff| 3e-08 or 0)
    return abs(x - y) <= max(1e-4 * max(abs(x), abs(y)), 1.01 * unit, 1e-6)


def same_line(a, b):
    if a == b:
        return True
    na, nb = NUMBER.findall(a), NUMBER.findall(b)
    return NUMBER.split(a) == NUMBER.split(b) and len(na) == len(nb) and all(map(close, na, nb))


def compare(old_path, new_path):
    old = open(old_path, encoding="utf-8").read().splitlines()
    new = open(new_path, encoding="utf-8").read().splitlines()
    if len(old) == len(new):
        bad = [i for i, (a, b) in enumerate(zip(old, new)) if not same_line(a, b)]
        for i in bad:
            print(f"{old_path}:{i + 1}:\n- {old[i]}\n+ {new[i]}")
        if not bad:
            return 0
    else:
        sys.stdout.writelines(l + "\n" for l in difflib.unified_diff(old, new, old_path, "now", lineterm=""))
    return 1


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "fill":
        fill(*sys.argv[2:])
    elif len(sys.argv) == 4 and sys.argv[1] == "compare":
        sys.exit(compare(*sys.argv[2:]))
    else:
        sys.exit(__doc__)
