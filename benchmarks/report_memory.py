"""Peak memory of ``auditor report`` on a large synthetic trace (issue 12: 100 MB took 844 MB).

``python -m benchmarks.report_memory [MB]`` writes an ``auditor.trace/1`` file of about MB
megabytes (lock, call and entry spans with a finding every 10,000 lines, as a long-lived
service writes them) to a temporary directory, renders it as JSON in a child process and
prints the file size and the child's peak RSS (``ru_maxrss``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

__all__ = ["write_trace", "measure"]


def write_trace(path: str, megabytes: int) -> int:
    head = {"event": "trace-start", "pid": 4242, "schema": "auditor.trace/1",
            "program": "nova-compute", "ppid": 1, "run": "nova-compute[pid=4242]",
            "wall": 1.7e9, "t": 100.0, "nova": "34.0.0", "auditor": "0", "python": "3.11"}
    site = {"path": "nova/compute/resource_tracker.py", "line": 120, "function": "_update"}
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(head) + "\n")
        n = 0
        while f.tell() < megabytes * 2**20:
            n += 1
            t = 100.0 + n * 0.001
            if n % 10_000 == 0:
                line = {"event": "finding", "pid": 4242, "rule": "lock-io/under-semaphore",
                        "category": "lock-io", "severity": "medium", "title": "t", "help": "h",
                        "message": "I/O under the semaphore", "location": site,
                        "evidence": {"lock": "compute_resources"},
                        "fingerprint": f"{n % 7:016x}", "run": head["run"]}
            elif n % 3 == 0:
                line = {"event": "call", "pid": 4242, "surface": "placement",
                        "name": "GET /resource_providers", "t": t, "dur_s": 0.002, "exc": None,
                        "owner": n % 16, "thread": "ThreadPool-1", "held": [], "site": site}
            elif n % 3 == 1:
                line = {"event": "entry", "pid": 4242, "name": "update_available_resource",
                        "t": t, "dur_s": 0.01, "exc": None, "owner": n % 16,
                        "thread": "ThreadPool-1"}
            else:
                line = {"event": "lock", "pid": 4242, "name": "compute_resources", "t": t,
                        "wait_s": 0.0001, "hold_s": 0.0005, "owner": n % 16,
                        "thread": "ThreadPool-1", "site": site}
            f.write(json.dumps(line, separators=(",", ":")) + "\n")
    return os.path.getsize(path)


def measure(path: str, fmt: str = "json") -> int:
    """Peak RSS in bytes of ``auditor report --format fmt path`` (a fresh child)."""
    code = ("import resource, sys; from auditor.cli import main; rc = main(sys.argv[1:]); "
            "sys.stderr.write('maxrss_kb=%d\\n' % resource.getrusage("
            "resource.RUSAGE_SELF).ru_maxrss); sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code, "report", "--format", fmt,
                           "-o", os.devnull, path], capture_output=True, text=True)
    line = [x for x in proc.stderr.splitlines() if x.startswith("maxrss_kb=")]
    if proc.returncode not in (0, 1) or not line:
        raise RuntimeError(proc.stderr[-500:])
    return int(line[0].split("=")[1]) * 1024


if __name__ == "__main__":
    size_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    with tempfile.TemporaryDirectory() as tmp:
        trace = os.path.join(tmp, "big.jsonl.4242")
        size = write_trace(trace, size_mb)
        for fmt in ("json", "text"):
            peak = measure(trace, fmt)
            print(f"{fmt}: trace {size / 2**20:.0f} MiB, peak RSS {peak / 2**20:.0f} MiB "
                  f"({peak / size:.2f}x the file)")
