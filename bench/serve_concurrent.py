"""Two concurrent /v1/completions against one alone on `tformer serve` (issue #11: no request waits
for another). Usage: /usr/bin/python3 bench/serve_concurrent.py TFORMER MODEL_DIR THREADS NEW_TOKENS
The model must generate ids its tokenizer knows (e.g. a vocab-256 config with the byte tokenizer)."""
import json, subprocess, sys, threading, time, urllib.request
tf, model, threads, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
port = 18777
srv = subprocess.Popen([tf, "serve", "--model", model, "--port", str(port), "--threads", threads, "--max-running", "2"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
url = f"http://127.0.0.1:{port}/v1/completions"
def ask(out, i):
    body = json.dumps({"prompt": list(range(1 + i, 17 + i)), "max_tokens": n, "temperature": 0}).encode()
    t0 = time.time()
    r = urllib.request.urlopen(urllib.request.Request(url, body, {"Content-Type": "application/json"}), timeout=600)
    j = json.loads(r.read())
    out[i] = (time.time() - t0, j["usage"]["completion_tokens"])
try:
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2); break
        except Exception: time.sleep(0.3)
    ask({}, 0)  # warm-up
    for rep in range(3):
        one = {}; ask(one, 0)
        two = {}
        ts = [threading.Thread(target=ask, args=(two, i)) for i in range(2)]
        t0 = time.time(); [t.start() for t in ts]; [t.join() for t in ts]; wall = time.time() - t0
        print(f"rep {rep}: one alone {one[0][0]:.2f}s ({one[0][1]} tokens); two concurrent: wall {wall:.2f}s, "
              f"each {two[0][0]:.2f}s / {two[1][0]:.2f}s ({two[0][1]}+{two[1][1]} tokens); wall ratio {wall / one[0][0]:.2f}", flush=True)
finally:
    srv.terminate(); srv.wait()
