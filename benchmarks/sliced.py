"""Paired by time slices: the variants' passes run at the same time, on the same CPU.

This machine's speed drifts: a fixed pure-Python loop takes 0.17-0.28 s CPU from one
second to the next, so passes measured one after another differ by ±10-17 % whatever
they run. Here each variant has its own ``benchmarks.scenario`` worker process; after
setup every worker is pinned to one CPU and the workers take turns in short slices
(SIGSTOP/SIGCONT from this parent), so the passes of one slot see the same machine.
In slot ``s`` worker ``w`` runs variant ``(w + s) mod W``: after W slots (one
repetition) every worker has run every variant once, and a worker's own bias (its
memory layout, its database files) cancels in the repetition's ratio, the geometric
mean of its slots' ratios. Workers share ``PYTHONHASHSEED`` so they do the same work.

Only CPU time means anything here: a pass's wall time includes the other workers'
slices. The tracer's flush interval is stretched by W for the same reason.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
from typing import Callable

from auditor.tracing.environment import DEFAULT_INTERVAL_S
from benchmarks.common import dispatch, spawn

SLICE_S = 0.01


class Worker:
    """One ``benchmarks.scenario`` serve process and the lines it writes."""

    def __init__(self, index: int, params: dict, echo: Callable[[str], None]):
        self.index = index
        self.proc = spawn("benchmarks.scenario", dict(params, serve=True),
                          stdin=subprocess.PIPE, PYTHONHASHSEED="0")
        self.results: queue.Queue = queue.Queue()
        self.err: list[str] = []
        threading.Thread(target=self._read, args=(echo,), daemon=True).start()
        threading.Thread(target=self.err.extend, args=(self.proc.stderr,), daemon=True).start()

    def _read(self, echo: Callable[[str], None]) -> None:
        for line in self.proc.stdout:
            dispatch(line, self.results.put, lambda text: echo(f"[w{self.index}] {text}"))
        self.results.put(None)

    def result(self, wait: bool = False) -> dict | None:
        """The next result line (None: none yet, unless ``wait``); raises if the worker died."""
        try:
            res = self.results.get(block=wait)
        except queue.Empty:
            return None
        if res is None:
            self.proc.wait()
            raise RuntimeError(f"worker {self.index} exited {self.proc.returncode}:\n"
                               + "".join(self.err[-30:]))
        return res

    def pin(self, cpu: int) -> None:
        """Every thread of the worker onto ``cpu`` (threads it starts later inherit it)."""
        for tid in os.listdir(f"/proc/{self.proc.pid}/task"):
            try:
                os.sched_setaffinity(int(tid), {cpu})
            except ProcessLookupError:
                pass

    def signal(self, sig: int) -> None:
        try:
            os.kill(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def send(self, variant: str) -> None:
        self.proc.stdin.write(variant + "\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        self.signal(signal.SIGCONT)
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


def run(params: dict, echo: Callable[[str], None], cpu: int | None = None,
        slice_s: float = SLICE_S) -> tuple[list[dict], dict, float]:
    """Measured passes of ``params["variants"]`` (each with ``rep``, ``slot``, ``worker``),
    the variants' notes and the first periodic's wall (worker 0)."""
    variants = list(params["variants"])
    width = len(variants)
    reps, warmup = int(params.get("reps", 3)), int(params.get("warmup", 1))
    cpu = os.cpu_count() - 1 if cpu is None else cpu
    interval = float(params.get("interval_s", 0) or DEFAULT_INTERVAL_S) * width
    workers = [Worker(i, dict(params, interval_s=interval), echo) for i in range(width)]
    try:
        ready = [w.result(wait=True) for w in workers]
        for w in workers:
            w.signal(signal.SIGSTOP)
            w.pin(cpu)
        echo(f"# {width} workers ready, pinned to CPU {cpu}; slices of {slice_s * 1e3:.0f} ms")
        rows: list[dict] = []
        for slot in range((warmup + reps) * width):
            rep = slot // width - warmup
            pending = {}
            for w in workers:
                pending[w] = variants[(w.index + slot) % width]
                w.send(pending[w])
            t0 = time.perf_counter()
            while pending:
                for w in list(pending):
                    w.signal(signal.SIGCONT)
                    time.sleep(slice_s)
                    w.signal(signal.SIGSTOP)
                    res = w.result()
                    if res is not None:
                        res.update(rep=rep, slot=slot, worker=w.index)
                        if rep >= 0:
                            rows.append(res)
                        echo(f"# rep {rep:>2} slot {slot:>2} w{w.index} {res['variant']:<19} "
                             f"cpu {res['cpu_s']:.2f}s claims {res['claims']} "
                             f"full GCs {res['gc_full']} all GCs {res['gc_cpu_s']:.2f}s"
                             + (f" errors {res['errors']}" if res["errors"] else ""))
                        del pending[w]
            echo(f"# slot {slot} done in {time.perf_counter() - t0:.1f}s wall")
        return rows, ready[0]["notes"], ready[0]["first_periodic_plain_s"]
    finally:
        for w in workers:
            w.close()
