"""What both llama.cpp judge tests (tests/llamacpp_judge.py, tests/llamacpp_quant_judge.py) run on
one .gguf: tformer's greedy continuation of each prompt (`generate --json`, 2 threads), and
llama.cpp's (node-llama-cpp through tests/node/llamacpp_judge.mjs) with its top log-probs. Each
raises RuntimeError with the failing command's error text."""
import json
import os
import subprocess

NODE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "node")


def tformer_greedy(tf, gguf, prompts, new):
    """tformer's sequences[0] (tokens, token_logprobs, ...) for each prompt."""
    out = []
    for p in prompts:
        r = subprocess.run([tf, "generate", "--model", gguf, "--tokens", ",".join(map(str, p)), "--max-new", str(new),
                            "--strategy", "greedy", "--eos", "-1", "--json", "--threads", "2"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(r.stderr.strip())
        out.append(json.loads(r.stdout)["sequences"][0])
    return out


def llamacpp_greedy(gguf, prompts, new):
    """llama.cpp's {tokens, logprobs} for each prompt."""
    r = subprocess.run(["node", os.path.join(NODE, "llamacpp_judge.mjs"), gguf, str(new),
                        *[",".join(map(str, p)) for p in prompts]], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"llamacpp_judge.mjs failed: {r.stderr.strip()[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])
