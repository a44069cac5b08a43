"""What the script tests share: one tally of checks, printed as the closing `N passed, M failed`
line that CI reads, and a wait for a file to grow (a training run's metrics)."""
import sys
import time

_tally = {"checks": 0, "failures": 0}


def check(cond, what):
    _tally["checks"] += 1
    _tally["failures"] += not cond
    print(("ok   " if cond else "FAIL ") + what)
    return cond


def finish():
    print(f"{_tally['checks'] - _tally['failures']} passed, {_tally['failures']} failed")
    sys.exit(1 if _tally["failures"] else 0)


def wait_for_lines(path, n, timeout, poll=0.01):
    """Waits until the file at path has at least n lines, or timeout seconds pass."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with open(path) as f:
                if len(f.readlines()) >= n:
                    return True
        except FileNotFoundError:
            pass
        time.sleep(poll)
    return False
