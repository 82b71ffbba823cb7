"""Declaring scenarios and running their workloads with N concurrent workers."""

from __future__ import annotations

import dataclasses
import random
import secrets
import threading
import time
import traceback
from typing import TYPE_CHECKING, Any, Callable

from auditor.events import Sink

if TYPE_CHECKING:  # imported lazily: listing scenarios must not import nova
    from scenarios.environment import Cluster, Environment

__all__ = ["Scenario", "Run", "RunResult", "scenario", "REGISTRY", "run_scenario",
           "PerThreadRandom"]


@dataclasses.dataclass(frozen=True)
class Scenario:
    """A workload script and the deployment it runs on (defaults; the CLI may override)."""

    name: str
    summary: str
    script: Callable[["Run"], None]
    hosts: int = 1
    nodes: int = 20
    workers: int = 8
    #: the Ironic backends it runs on (real Ironic refuses what some scenarios feed)
    ironic: tuple[str, ...] = ("sim", "real")


REGISTRY: dict[str, Scenario] = {}


def scenario(name: str, summary: str, *, hosts: int = 1, nodes: int = 20, workers: int = 8,
             ironic: tuple[str, ...] = ("sim", "real")):
    """Register the decorated ``script(run)`` as a built-in scenario."""

    def register(script: Callable[["Run"], None]) -> Callable[["Run"], None]:
        REGISTRY[name] = Scenario(name, summary, script, hosts, nodes, workers, ironic)
        return script

    return register


@dataclasses.dataclass
class RunResult:
    """How a scenario run ended."""

    id: str
    outcome: str  # passed | failed | error
    duration_s: float
    errors: list[str]
    stats: dict[str, int]


class PerThreadRandom:
    """A ``random.Random`` per thread, seeded from ``seed`` and the thread's name: draws
    from one shared source (the conductor's scheduler) depend on the seed, not on how
    the workers (named ``<label>-<i>``) interleave."""

    def __init__(self, seed: str):
        self._seed = seed
        self._local = threading.local()

    def __getattr__(self, name: str) -> Any:
        rng = getattr(self._local, "rng", None)
        if rng is None:
            rng = self._local.rng = random.Random(
                f"{self._seed}:{threading.current_thread().name}")
        return getattr(rng, name)


class Run:
    """What a scenario script works with: the cluster, operations, workers and a seeded RNG."""

    def __init__(self, sc: Scenario, cluster: "Cluster", *, seed: int, nodes: int, workers: int,
                 progress: Callable[[str, int, int], None] | None = None,
                 sink: Sink | None = None, plant: Callable[[str], str] | None = None):
        self.scenario = sc
        self.cluster = cluster
        self.rng = random.Random(seed)
        self.seed = seed
        self.nodes = nodes
        self.workers = workers
        from scenarios.operations import Operations

        self._plant = plant or (lambda source: "s" + secrets.token_hex(8))
        self.ops = Operations(cluster, auth_token=self.secret("context.auth_token"))
        self.errors: list[str] = []
        self.stats: dict[str, int] = {}
        self._progress = progress or (lambda label, done, total: None)
        self._sink = sink or (lambda event: None)
        self._stats_lock = threading.Lock()

    def secret(self, source: str) -> str:
        """A secret value for an input named ``source`` (a canary when auditing)."""
        return self._plant(source)

    def checkpoint(self, label: str, settled: bool = True) -> None:
        """Record the cloud's state (and the trackers' usage) for the accounting invariants."""
        from scenarios.snapshot import take_snapshot, take_usage_snapshot

        self._sink(take_snapshot(self.cluster, label, settled=settled))
        self._sink(take_usage_snapshot(self.cluster, label, settled=settled))

    def bad_input(self, node: str, field: str, description: str) -> None:
        """Tell the auditor that ``node``'s ``field`` now holds malformed data."""
        from auditor.events import BadInput, stamp

        self._sink(BadInput(*stamp(), node, field, description))

    def tolerant_periodic(self, startup: bool = False) -> list[str]:
        """The periodic as oslo.service's periodic task runner calls it: errors are logged, not raised.

        Returns ``"host: ExceptionType: message"`` for each compute whose periodic raised.
        """
        failures = []
        for compute in self.computes:
            if compute.service.forced_down:
                continue
            try:
                compute.periodic(startup=startup)
            except Exception as exc:  # noqa: BLE001 - oslo's runner catches everything too
                failures.append(f"{compute.host}: {type(exc).__module__}."
                                f"{type(exc).__name__}: {exc}"[:300])
                self.count("periodic-failed")
        self.count("periodic")
        return failures

    @property
    def computes(self):
        return list(self.cluster.computes.values())

    def count(self, what: str, n: int = 1) -> None:
        with self._stats_lock:
            self.stats[what] = self.stats.get(what, 0) + n

    def progress(self, label: str, done: int, total: int) -> None:
        self._progress(label, done, total)

    def periodic(self, startup: bool = False) -> None:
        """nova's ``update_available_resource`` on every compute service that is up."""
        for compute in self.computes:
            if compute.service.forced_down:
                continue  # a failed host runs no periodic
            compute.periodic(startup=startup)
        self.count("periodic")

    def converge(self) -> None:
        """Two periodic rounds: what nova needs to settle after the hash ring changed.

        The host that gains a node takes its DB record in one round; the host
        that lost it drops the node from its cache (``clean_compute_node_cache``)
        only in its next round.
        """
        self.periodic()
        self.periodic()

    def parallel(self, work: Callable[[int, random.Random], None], workers: int | None = None,
                 label: str = "workers") -> None:
        """Run ``work(index, rng)`` in ``workers`` threads (greenthreads in eventlet mode).

        Each worker gets its own RNG derived from the run's seed, so a run is
        reproducible up to thread interleaving. A worker's exception is
        recorded as a run error, not raised.
        """
        n = workers or self.workers
        done = [0]

        def body(i: int) -> None:
            try:
                work(i, random.Random(self.seed * 1000 + i))
            except BaseException:  # noqa: BLE001 - reported as the run's error
                self.errors.append(f"worker {i}: {traceback.format_exc(limit=8)}")
            finally:
                with self._stats_lock:
                    done[0] += 1
                self.progress(label, done[0], n)

        threads = [threading.Thread(target=body, args=(i,), name=f"{label}-{i}", daemon=True)
                   for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


def run_scenario(sc: Scenario, env: "Environment", *, seed: int = 0, nodes: int | None = None,
                 workers: int | None = None, hosts: int | None = None,
                 progress: Callable[[str, int, int], None] | None = None,
                 sink: Sink | None = None, plant: Callable[[str], str] | None = None,
                 before: Callable[[Run], None] | None = None,
                 tag: str = "") -> tuple[RunResult, Run]:
    """Build a fresh cluster, run the scenario's script on it, tear the cluster down.

    ``tag`` goes into the host names (and so the node uuids): runs in one process
    with the same seed and different tags do not see each other's records.
    """
    from scenarios.environment import Cluster

    host_names = [f"{sc.name}-{seed}{tag}-cmp{i}" for i in range(hosts or sc.hosts)]
    cluster = Cluster(env, host_names, seed=seed)
    run = Run(sc, cluster, seed=seed, nodes=nodes or sc.nodes, workers=workers or sc.workers,
              progress=progress, sink=sink, plant=plant)
    if before is not None:
        before(run)
    start = time.monotonic()
    outcome = "passed"
    try:
        sc.script(run)
    except BaseException:  # noqa: BLE001 - a scenario that crashes is an error result
        run.errors.append(traceback.format_exc(limit=12))
    finally:
        cluster.close()
    if run.errors:
        outcome = "error"
    result = RunResult(f"{sc.name}[{seed}]", outcome, round(time.monotonic() - start, 3),
                       run.errors, dict(run.stats))
    return result, run
