"""``auditor trace`` end to end: nova's periodic over N Ironic nodes in a child process, plain
vs started under ``auditor trace`` (bootstrap, sitecustomize, trace file: the real path).

Each measurement is a fresh child (``python -m benchmarks.trace_overhead '{...}'``), plain
and traced alternating; each child times ``passes`` steady-state periodics (wall and process
CPU). ``compare`` runs the pairs; ``python -m benchmarks --only trace`` prints them.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

from benchmarks.common import emit, run_child, summary, timed

__all__ = ["compare"]


def child(params: dict) -> dict:
    from scenarios import mode

    mode.apply(params.get("mode", "threading"))
    from scenarios.environment import Cluster, Environment

    env = Environment.get()
    cluster = Cluster(env, [f"bench-{os.getpid()}"])
    for _ in range(int(params["nodes"])):
        cluster.ironic.enroll(resource_class="baremetal-gold")
    compute = next(iter(cluster.computes.values()))
    compute.periodic(startup=True)          # creates records and providers: not timed
    wall, cpu = [], []
    for _ in range(int(params["passes"])):
        w, c = timed(compute.periodic)
        wall.append(w)
        cpu.append(c)
    return {"wall": wall, "cpu": cpu}


def compare(nodes: int, passes: int, reps: int, echo=print) -> dict:
    """``reps`` plain/traced pairs of children (order alternating); every pass's wall and CPU."""
    params = {"nodes": nodes, "passes": passes}
    rows: dict[str, dict[str, list[float]]] = {v: {"wall": [], "cpu": []}
                                              for v in ("plain", "traced")}
    with tempfile.TemporaryDirectory(prefix="trace-overhead-") as tmp:
        for rep in range(reps):
            for variant in (("plain", "traced") if rep % 2 == 0 else ("traced", "plain")):
                launcher = (sys.executable, "-m", "auditor.cli", "trace", "--output",
                            os.path.join(tmp, f"t{rep}.jsonl"), "--")
                got = run_child("benchmarks.trace_overhead", params,
                                launcher=launcher if variant == "traced" else ())
                for key in ("wall", "cpu"):
                    rows[variant][key] += got[key]
                echo(f"# rep {rep} {variant:<6} wall {summary(got['wall'])['median']:.3f}s "
                     f"cpu {summary(got['cpu'])['median']:.3f}s")
    return {"nodes": nodes, "passes": passes, "reps": reps,
            **{v: {k: summary(x) for k, x in r.items()} for v, r in rows.items()}, "raw": rows}


if __name__ == "__main__":
    emit(child(json.loads(sys.argv[1])))
