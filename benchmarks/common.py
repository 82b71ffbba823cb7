"""Shared helpers: machine description, statistics, child processes, and the nova workload."""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Iterable

MARK = "@@BENCH-RESULT@@ "
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# -- the machine -----------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """nproc, CPU model, Python, nova version and the load average right now."""
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        from importlib import metadata

        nova = metadata.version("nova")
    except Exception:  # noqa: BLE001
        nova = "not installed"
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "nova": nova, "loadavg": loadavg()}


def loadavg() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def maxrss_mb() -> float:
    """Peak resident set size of this process (Linux: KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    """Current resident set size of this process."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return float("nan")


# -- statistics ------------------------------------------------------------------------


def summary(values: Iterable[float]) -> dict[str, float]:
    vals = sorted(values)
    if not vals:
        return {"n": 0, "median": float("nan"), "min": float("nan"), "max": float("nan")}
    return {"n": len(vals), "median": statistics.median(vals), "min": vals[0], "max": vals[-1]}


def ratio(a: dict, b: dict) -> float:
    return a["median"] / b["median"] if b["median"] else float("nan")


def fmt_s(summ: dict, unit: str = "s", scale: float = 1.0, digits: int = 2) -> str:
    if not summ.get("n"):
        return "-"
    m, lo, hi = (summ[k] * scale for k in ("median", "min", "max"))
    return f"{m:.{digits}f} {unit} [{lo:.{digits}f}-{hi:.{digits}f}]"


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """Wall and process CPU seconds (all threads) of ``fn()``."""
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


class FullCollections:
    """While ``on``: how many full (generation 2) garbage collections ran and their CPU
    seconds, and the CPU of every collection of any generation (``all_cpu_s``), as a
    ``gc.callbacks`` entry (thread time of the collecting thread)."""

    def __init__(self):
        self.on = False
        self.count = 0
        self.cpu_s = self.all_cpu_s = 0.0
        self._t0 = 0.0

    def reset(self) -> None:
        """Zero the counts and start counting."""
        self.count, self.cpu_s, self.all_cpu_s, self.on = 0, 0.0, 0.0, True

    def __call__(self, phase: str, info: dict) -> None:
        if not self.on:
            return
        if phase == "start":
            self._t0 = time.thread_time()
            return
        spent = time.thread_time() - self._t0
        self.all_cpu_s += spent
        if info["generation"] == 2:
            self.count += 1
            self.cpu_s += spent


# -- child processes -------------------------------------------------------------------


def spawn(module: str, params: dict, launcher: tuple[str, ...] = (), stdin=None,
          **env: str) -> subprocess.Popen:
    """``python -m module 'json-params'`` in the project root (``env`` added to this
    process's environment), stdout and stderr piped as text."""
    env = dict(os.environ, **env,
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([*launcher, sys.executable, "-m", module, json.dumps(params)],
                            cwd=ROOT, env=env, stdin=stdin, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def dispatch(line: str, result: Callable[[dict], None],
             echo: Callable[[str], None] | None) -> None:
    """A child's stdout line: its result (the JSON on a ``MARK`` line) to ``result``, a
    ``#`` progress line to ``echo``; anything else is dropped."""
    if line.startswith(MARK):
        result(json.loads(line[len(MARK):]))
    elif line.startswith("#") and echo:
        echo(line.rstrip())


def run_child(module: str, params: dict, timeout: float | None = None,
              echo: Callable[[str], None] | None = None, launcher: tuple[str, ...] = ()) -> dict:
    """Run ``python -m module 'json-params'``; its result is the JSON on the ``MARK`` line.

    Lines starting with ``#`` are progress and are passed to ``echo``. ``launcher``:
    a command that runs the child (``auditor trace -o PATH --``).
    """
    proc = spawn(module, params, launcher)
    results: list[dict] = []
    err_lines: list[str] = []
    t = threading.Thread(target=err_lines.extend, args=(proc.stderr,), daemon=True)
    t.start()
    deadline = None if timeout is None else time.monotonic() + timeout
    for line in proc.stdout:
        dispatch(line, results.append, echo)
        if deadline and time.monotonic() > deadline:
            proc.kill()
            break
    proc.wait()
    t.join(timeout=5)
    if not results:
        tail = "".join(err_lines[-30:])
        raise RuntimeError(f"{module} {params} failed (exit {proc.returncode}):\n{tail}")
    return results[-1]


def emit(result: dict) -> None:
    """Hand the child's result to the parent."""
    sys.stdout.write(MARK + json.dumps(result) + "\n")
    sys.stdout.flush()


def say(text: str) -> None:
    sys.stdout.write(f"# {text}\n")
    sys.stdout.flush()


# -- the nova workload (children only: imports nova) -------------------------------------


class Workload:
    """One Environment and one Cluster of ``nodes`` Ironic nodes, built once per process."""

    def __init__(self, nodes: int, claimers: int = 16, host: str = "bench",
                 plant: Callable[[str], str] | None = None, cycles: int = 3,
                 db: str = "sqlite"):
        from scenarios.environment import Cluster, Environment
        from scenarios.operations import Operations

        self.env = Environment.get(plant=plant, db=db)
        # The report client re-reads every provider's associations once they are 300 s old
        # (nova's default): a burst that doubles the pass it lands in, whichever variant runs
        # it. Off, so that every measured pass does the same work.
        self.env.conf.set_override("resource_provider_association_refresh", 0, "compute")
        self.nodes = nodes
        self.claimers = claimers
        self.cycles = cycles
        self.cluster = Cluster(self.env, [f"{host}-{os.getpid()}"], seed=nodes)
        self.compute = next(iter(self.cluster.computes.values()))
        self.rt = self.compute.rt
        self._plant = plant or (lambda source: "s" + os.urandom(8).hex())
        self.uuids = [self.cluster.ironic.enroll(
            resource_class="baremetal-gold",
            driver_info={"ipmi_address": f"10.0.{i // 250}.{i % 250 + 1}",
                         "ipmi_username": "admin",
                         "ipmi_password": self._plant("ironic.driver_info.ipmi_password")})
            for i in range(nodes)]
        self.ops = Operations(self.cluster, auth_token=self._plant("context.auth_token"))
        self.flavor = None
        self.instances: list = []
        self.first_s = float("nan")

    def first_periodic(self) -> tuple[float, float]:
        """Wall and CPU seconds of the first periodic (creates records and providers); the
        wall is kept as ``first_s``."""
        wall, cpu = timed(lambda: self.compute.periodic(startup=True))
        self.first_s = wall
        return wall, cpu

    def periodic(self) -> tuple[float, float]:
        """Wall and CPU seconds of one steady-state periodic."""
        return timed(self.compute.periodic)

    def prepare_claims(self) -> None:
        """One instance per claimer (DB records), created once, outside the measurements."""
        self.flavor = self.ops.flavor("baremetal-gold")
        self.instances = [self.ops.create_instance(self.flavor) for _ in range(self.claimers)]

    @classmethod
    def counted(cls, params: dict, nodes: int, plant: Callable[[str], str]) -> "Workload":
        """The counted benchmarks' workload (``calls``, ``promotions``): ``params``' nodes
        (default ``nodes``), claimers (4) and cycles (2); claims prepared, first periodic done."""
        work = cls(int(params.get("nodes", nodes)), claimers=int(params.get("claimers", 4)),
                   plant=plant, cycles=int(params.get("cycles", 2)))
        work.prepare_claims()
        work.first_periodic()
        return work

    def serial_pass(self) -> dict:
        """One steady periodic, then every claimer's cycles in turn, on this thread: the
        contended pass's work without its interleaving, so the same work every time."""
        lat: list[float] = []
        t0, c0 = time.perf_counter(), time.process_time()
        periodic_s = self.periodic()[0]
        for i in range(self.claimers):
            self.claimer(i, lat)
        return _pass_figures(t0, c0, periodic_s, lat, [])

    def counted_pass(self, contended: bool) -> Callable[[], Any]:
        """The counted benchmarks' pass: ``serial_pass``, or with ``contended`` (eventlet
        only: every greenthread runs on this OS thread, where cProfile and the collector's
        callbacks count) the scenario's ``contended_pass``, as the budgets time it."""
        if not contended:
            return self.serial_pass
        from scenarios import mode

        if mode.current() != "eventlet":
            raise SystemExit("contended: eventlet mode only (the counters see one OS thread)")
        return self.contended_pass

    def claimer(self, index: int, lat: list) -> None:
        """``cycles`` instance_claim + abort_instance_claim on this claimer's own nodes."""
        rt, ctx, inst = self.rt, self.ops.ctx, self.instances[index]
        for c in range(self.cycles):
            node = self.uuids[(index + c * self.claimers) % len(self.uuids)]
            t0 = time.perf_counter()
            rt.instance_claim(ctx, inst, node, {}, limits=None)
            rt.abort_instance_claim(ctx, inst, node)
            lat.append(time.perf_counter() - t0)

    def contended_pass(self) -> dict:
        """A steady-state periodic pass with ``claimers`` threads claiming and aborting."""
        lat: list[float] = []
        errors: list[str] = []

        def body(i: int) -> None:
            try:
                self.claimer(i, lat)
            except Exception as exc:  # noqa: BLE001
                errors.append(f"{type(exc).__name__}: {exc}"[:200])

        periodic_s = [0.0]

        def tick() -> None:
            periodic_s[0] = self.periodic()[0]

        threads = [threading.Thread(target=body, args=(i,), name=f"claimer-{i}", daemon=True)
                   for i in range(self.claimers)]
        ticker = threading.Thread(target=tick, name="periodic", daemon=True)
        t0, c0 = time.perf_counter(), time.process_time()
        ticker.start()
        for t in threads:
            t.start()
        for t in threads + [ticker]:
            t.join()
        return _pass_figures(t0, c0, periodic_s[0], lat, errors)


def _pass_figures(t0: float, c0: float, periodic_s: float, lat: list[float],
                  errors: list[str]) -> dict:
    """A pass's figures: wall and process CPU since ``t0``/``c0`` (all threads of the
    process, placement's included), its periodic's wall, its claims and their median."""
    return {"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
            "periodic_s": periodic_s, "claims": len(lat),
            "claim_median_s": summary(lat)["median"] if lat else None, "errors": errors[:3]}
