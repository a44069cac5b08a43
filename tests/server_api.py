"""API tests of `tformer serve`: every endpoint, bad requests (400), an oversized body refused
before it is read (413), path traversal, many concurrent requests each checked, and a served
model directory."""
import concurrent.futures
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from check import check, finish, wait_for_lines
from server_util import TF, Server



def call(url, path, body=None, raw=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url + path, data=data, headers={"Content-Type": "application/json"},
                                 method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def jcall(url, path, body=None, raw=None):
    code, b = call(url, path, body, raw)
    return code, json.loads(b) if b and not b.startswith(b"data:") else b


def raw_request(port, head, body=b"", read_timeout=5):
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(read_timeout)
    s.sendall(head + body)
    out = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
            if b"\r\n\r\n" in out and (b"Content-Length" not in out or out.endswith(b"}")):
                break
    except socket.timeout:
        pass
    s.close()
    return out


srv = Server()
try:
    u = srv.url
    code, info = jcall(u, "/api/info")
    check(code == 200 and info["model"] == "toy" and info["n_embd"] == 4, "GET /api/info describes the toy")
    code, page = call(u, "/")
    check(code == 200 and b"Try it yourself" in page, "GET / serves the embedded page")
    check(call(u, "/app.js")[0] == 200 and call(u, "/style.css")[0] == 200, "the page's script and style are served")

    code, ex = jcall(u, "/api/explain", {})
    tr = ex["training"]
    check(code == 200 and ex["inference"]["generated"] == ["deep", "learning", "and"],
          "the trained toy generates 'deep learning and' from 'I love'")
    check(ex["check"]["ok"] and ex["check"]["max_abs_diff"] <= 1e-6, f"h_t check {ex['check']['max_abs_diff']:.2e} <= 1e-6")
    att = tr["attention"][0][0]
    check(all(abs(sum(r) - 1) < 1e-5 for r in att) and all(att[t][s] == 0 for t in range(8) for s in range(t + 1, 8)),
          "attention rows sum to 1 with zeros above the diagonal")
    pp = ex["comparison"]["positions_processed"]
    check(pp["cached"] == [2, 1, 1] and pp["uncached"] == [2, 3, 4], "positions: 2+1+1 cached, 2+3+4 uncached")
    check(ex["embeddings"]["token"][0] == [0.2, 0.5, -0.1, 0.3] or
          max(abs(a - b) for a, b in zip(ex["embeddings"]["token"][0], [0.2, 0.5, -0.1, 0.3])) < 1e-7,
          "the token embeddings are the page's table, frozen")
    code, ex2 = jcall(u, "/api/explain", {"sentence": "the cat sat on the mat", "prompt": "the cat", "new": 2, "steps": 300})
    check(code == 200 and ex2["vocab"] == ["the", "cat", "sat", "on", "mat"] and ex2["inference"]["generated"] == ["sat", "on"],
          "another sentence: its own vocabulary, learned and generated")
    code, ex3 = jcall(u, "/api/explain", {"strategy": "sample", "temperature": 1.5, "top_k": 3, "seed": 4})
    check(code == 200 and [s["after"] for s in ex3["inference"]["steps"][0]["sampler"]] == ["temperature", "top-k", "top-p", "min-p"]
          and len(ex3["inference"]["steps"][0]["sampler"][1]["candidates"]) == 3, "the sampler inspector lists each processor")

    code, body = call(u, "/api/train", {"steps": 50})
    ev = [json.loads(l[6:]) for l in body.decode().split("\n") if l.startswith("data: ")]
    check(code == 200 and [e["step"] for e in ev[:-1]] == list(range(1, 51)) and ev[-1]["done"]
          and ev[-1]["loss_curve"] == [e["loss"] for e in ev[:-1]], "/api/train streams one loss per step")
    code, ex50 = jcall(u, "/api/explain", {"steps": 50})
    check(ex50["training"]["loss_curve"] == ev[-1]["loss_curve"], "the live training is the walkthrough's training")
    code, ge = jcall(u, "/api/generate", {"strategy": "beam", "beams": 3, "max_new": 3, "num_return": 3})
    scores = [s["score"] for s in ge["sequences"]]
    ids = {0} | {n["id"] for n in ge["beam_tree"]}
    check(code == 200 and scores == sorted(scores, reverse=True) and all(n["parent"] in ids for n in ge["beam_tree"])
          and ge["sequences"][0]["text"] == " deep learning and", "beam search: sorted results and a consistent tree")
    code, g1 = jcall(u, "/api/generate", {"max_new": 3, "kv_cache": False})
    code2, g2 = jcall(u, "/api/generate", {"max_new": 3})
    check(g1["sequences"][0]["tokens"] == g2["sequences"][0]["tokens"] and
          g1["stats"]["positions_processed"] == 9 and g2["stats"]["positions_processed"] == 4,
          "the same tokens with and without the cache; 9 vs 4 positions")

    bad = [({"top_p": 3}, "top_p"), ({"top_k": -1}, "top_k"), ({"temperature": -1}, "temperature"),
           ({"new": 0}, "new"), ({"steps": 10 ** 6}, "steps"), ({"prompt": "I hate"}, "hate"),
           ({"sentence": " ".join(["w"] * 40)}, "more than 32 words"), ({"strategy": "nucleus"}, "strategy"),
           ({"sentence": 5}, "must be a string"), ({"new": 2.5}, "integer")]
    for body, needle in bad:
        code, r = jcall(u, "/api/explain", body)
        check(code == 400 and needle in r["error"]["message"], f"400 for {body}: {r['error']['message'][:60]}")
    code, r = jcall(u, "/api/explain", raw=b"{not json")
    check(code == 400 and "not valid JSON" in r["error"]["message"], "400 for invalid JSON")
    code, r = jcall(u, "/api/explain", raw=b"[1,2]")
    check(code == 400 and "JSON object" in r["error"]["message"], "400 for a non-object body")
    code, r = jcall(u, "/api/generate", {"model": True})
    check(code == 400 and "no model loaded" in r["error"]["message"], "400 for model:true without --model")
    code, r = jcall(u, "/api/nothing")
    check(code == 404, "404 for an unknown path")

    # 413 before the body is read: announce 50 MB, send 10 bytes, get the answer at once.
    t0 = time.time()
    resp = raw_request(srv.port, b"POST /api/explain HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: 50000000\r\n\r\n", b"{\"a\":12345")
    check(resp.startswith(b"HTTP/1.1 413") and time.time() - t0 < 5, "413 for an oversized body, refused before reading it")
    resp = raw_request(srv.port, b"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n")
    check(resp.startswith(b"HTTP/1.1 400") and b"root:" not in resp, "path traversal refused")
    resp = raw_request(srv.port, b"GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n")
    check(b"root:" not in resp and (resp.startswith(b"HTTP/1.1 400") or resp.startswith(b"HTTP/1.1 404")),
          "encoded path traversal refused")

    # OpenAI-compatible completions.
    code, c = jcall(u, "/v1/completions", {"prompt": "I love", "max_tokens": 3, "temperature": 0, "logprobs": 1})
    check(code == 200 and c["choices"][0]["text"] == " deep learning and" and c["usage"]["completion_tokens"] == 3
          and len(c["choices"][0]["logprobs"]["token_logprobs"]) == 3, "/v1/completions greedy with logprobs")
    code, c = jcall(u, "/v1/completions", {"prompt": "I love", "max_tokens": 5, "temperature": 0, "stop": " and"})
    check(code == 200 and c["choices"][0]["text"] == " deep learning" and c["choices"][0]["finish_reason"] == "stop",
          "/v1/completions stops before the stop string")
    code, body = call(u, "/v1/completions", {"prompt": "I love", "max_tokens": 3, "temperature": 0.7, "n": 2, "seed": 1, "stream": True})
    events = [l[6:] for l in body.decode().split("\n") if l.startswith("data: ")]
    check(code == 200 and events[-1] == "[DONE]" and len(events) >= 7, f"/v1/completions streams {len(events)} server-sent events")
    for body, needle in [({"prompt": 5}, "prompt"), ({"prompt": "I love", "max_tokens": 10 ** 6}, "max_tokens"),
                         ({"prompt": "I love", "n": 3, "temperature": 0}, "n > 1"), ({"prompt": "I love", "stop": 7}, "stop")]:
        code, r = jcall(u, "/v1/completions", body)
        check(code == 400 and needle in r["error"]["message"], f"/v1/completions 400 for {body}")

    # Many requests at once: each answer is checked.
    def one(i):
        if i % 2:
            code, r = jcall(u, "/v1/completions", {"prompt": "I love", "max_tokens": 3, "temperature": 0})
            return code == 200 and r["choices"][0]["text"] == " deep learning and"
        code, r = jcall(u, "/api/explain", {"steps": 100 + i})
        return code == 200 and r["check"]["ok"] and r["training"]["steps"] == 100 + i
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        results = list(ex.map(one, range(48)))
    check(all(results), f"48 concurrent requests, {sum(results)} correct answers")
    check(srv.p.poll() is None, "the server is still up")
finally:
    srv.stop()

# A served model directory (byte tokenizer): completions and the model walkthrough.
with tempfile.TemporaryDirectory() as tmp:
    d = os.path.join(tmp, "m")
    subprocess.run([TF, "init", "--preset", "tiny", "--out", d], check=True, capture_output=True)
    srv = Server("--model", d)
    try:
        code, c = jcall(srv.url, "/v1/completions", {"prompt": "Hello", "max_tokens": 5, "temperature": 0})
        want = json.loads(subprocess.run([TF, "generate", "--model", d, "--prompt", "Hello", "--max-new", "5", "--json"],
                                         capture_output=True, text=True, check=True).stdout)
        check(code == 200 and c["choices"][0]["text"] == want["sequences"][0]["text"],
              "a served model answers as tformer generate does")
        code, ex = jcall(srv.url, "/api/explain", {"model": True, "prompt": "Hi there", "new": 4})
        check(code == 200 and ex["check"]["ok"] and len(ex["training"]["attention"]) == 4
              and len(ex["training"]["attention"][0]) == 4, "the model walkthrough: 4 layers x 4 heads, h_t check passes")
    finally:
        srv.stop()

finish()
