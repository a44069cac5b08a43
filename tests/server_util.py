"""Start and stop `tformer serve` on a free loopback port for the server tests."""
import os
import socket
import subprocess
import time

TF = os.environ.get("TFORMER", "build/tformer")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, *args):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.p = subprocess.Popen([TF, "serve", "--port", str(self.port), *args], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self.p.poll() is not None:
                    raise RuntimeError("tformer serve exited: " + self.p.stdout.read())
                time.sleep(0.05)
        raise RuntimeError("tformer serve did not start")

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
