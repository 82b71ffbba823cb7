"""Schedule exploration's costs: schedules a minute, decisions per schedule, cost per decision.

First the scheduler's own cost per decision (``handoff``): 8 threads (greenthreads
under eventlet) that do nothing but reach hook points, ``points`` each, under a
controller; wall and process CPU over the decisions. Then, one after the other
and each as its own ``auditor run`` (audited, the same
scenario, seed and size): the scenario uncontrolled (``uncontrolled_reps`` times,
3), then ``--explore N --jobs J`` for each J. Prints per run the wall of the whole command (start-up
included), schedules a minute, decisions per schedule, the script's and the
set-up's seconds per schedule. (A controlled script is not the uncontrolled one
plus a cost per decision: the interleaving changes the work itself, e.g. how
many passes the periodic loop makes while the claimers run.)

Usage: python -m benchmarks.explore '{"schedules": 20, "jobs": [1, 2], "mode": "threading"}'
(other keys: ``scenario`` (concurrent-claims), ``nodes`` (8), ``seed`` (11),
``uncontrolled_reps`` (3), ``points`` (2,000)).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time

from benchmarks.common import ROOT, emit, loadavg, say, summary


def _auditor(args: list[str], report: str) -> tuple[float, dict]:
    """Wall seconds of ``auditor run ARGS -o REPORT`` and its report's one run entry."""
    cmd = [sys.executable, "-m", "auditor.cli", "run", *args, "--fail-on", "never",
           "-o", report]
    began = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - began
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: exit {proc.returncode}: {proc.stderr[-2000:]}")
    with open(report) as f:
        return wall, json.load(f)["runs"][0]


def _handoff(threads: int, points: int) -> dict:
    """Wall and CPU microseconds per decision with nothing between hook points."""
    from auditor.explore import Controller, ScheduleId

    controller = Controller(ScheduleId(1, 1).strategy())   # a random walk

    def body() -> None:
        for _ in range(points):
            controller.point()

    workers = [threading.Thread(target=body, name=f"bench-{i}") for i in range(threads)]
    controller.start()
    controller.point()      # the main thread enrolled: the threads it starts are, at once
    began, cpu = time.perf_counter(), time.process_time()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    decisions = len(controller.stop().decisions)
    return {"threads": threads, "decisions": decisions,
            "us_wall": 1e6 * wall / decisions, "us_cpu": 1e6 * cpu / decisions}


def main(params: dict) -> dict:
    from scenarios import mode as modes

    modes.apply(params.get("mode", "threading"))
    handoff = _handoff(8, int(params.get("points", 2000)))
    say(f"handoff: {handoff['decisions']} decisions, {handoff['us_wall']:.0f} us wall and "
        f"{handoff['us_cpu']:.0f} us CPU per decision (load {loadavg()})")
    scenario = params.get("scenario", "concurrent-claims")
    mode = params.get("mode", "threading")
    nodes, seed = int(params.get("nodes", 8)), int(params.get("seed", 11))
    schedules = int(params.get("schedules", 20))
    base = [scenario, "--mode", mode, "--nodes", str(nodes), "--seed", str(seed)]
    tmp = tempfile.mkdtemp(prefix="bench-explore-")
    say(f"{scenario} at {nodes} nodes, {mode}, seed {seed}: uncontrolled (load {loadavg()})")
    scripts = [_auditor(base, os.path.join(tmp, f"plain{rep}.json"))[1]["duration_s"]
               for rep in range(int(params.get("uncontrolled_reps", 3)))]
    uncontrolled = summary(scripts)["median"]
    say(f"uncontrolled: script {uncontrolled:.1f}s (median of {scripts})")
    rows = []
    for jobs in params.get("jobs", [1, 2]):
        load = loadavg()
        wall, run = _auditor([*base, "--explore", str(schedules), "--jobs", str(jobs)],
                             os.path.join(tmp, f"jobs{jobs}.json"))
        ex = run["explore"]
        per = ex["decisions"] / ex["schedules"]
        script = run["duration_s"] / ex["schedules"]
        row = {"jobs": jobs, "load_before": load, "load_after": loadavg(), "wall_s": wall,
               "schedules_per_min": 60 * ex["schedules"] / wall,
               "decisions_per_schedule": per, "controlled": ex["controlled"],
               "distinct": ex["distinct_decision_lists"], "stalls": ex["stalls"],
               "script_s_per_schedule": script, "setup_s_per_schedule": ex["setup_s"] / ex[
                   "schedules"],
   }
        rows.append(row)
        say(f"--jobs {jobs}: {row['schedules_per_min']:.1f} schedules/min ({wall:.0f}s), "
            f"{per:.0f} decisions/schedule, {100 * ex['controlled']:.2f}% controlled, "
            f"{ex['distinct_decision_lists']}/{ex['schedules']} distinct, script "
            f"{script:.1f}s + setup {row['setup_s_per_schedule']:.2f}s per schedule")
    return {"scenario": scenario, "mode": mode, "nodes": nodes, "seed": seed,
            "schedules": schedules, "handoff": handoff, "uncontrolled_script_s": scripts,
            "runs": rows}


if __name__ == "__main__":
    emit(main(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}))
