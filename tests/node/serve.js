// Starts `tformer serve` on a free loopback port for the node tests; resolves to {url, port, proc,
// log() (its output so far), stop}.
const { spawn } = require("child_process");
const net = require("net");

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

async function startServer(args = [], port = null) {
  port = port || (await freePort());
  const bin = process.env.TFORMER || "build/tformer";
  const proc = spawn(bin, ["serve", "--port", String(port), ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  proc.stdout.on("data", (d) => (log += d));
  proc.stderr.on("data", (d) => (log += d));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; ++i) {
    try {
      await fetch(url + "/api/info");
      return { url, port, proc, log: () => log, stop: () => proc.kill("SIGTERM") };
    } catch (e) {
      if (proc.exitCode !== null) throw new Error("tformer serve exited: " + log);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error("tformer serve did not start: " + log);
}

let failures = 0, checks = 0;
function check(cond, what) { checks++; if (!cond) failures++; console.log((cond ? "ok   " : "FAIL ") + what); }
function finish() { console.log(`${checks - failures} passed, ${failures} failed`); process.exit(failures ? 1 : 0); }

module.exports = { startServer, check, finish };
