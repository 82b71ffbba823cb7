"""Run the benchmarks and print ratios and absolute figures (see docs/benchmarks.md).

    .venv/bin/python -m benchmarks            # full run (~2 h on 2 cores; scale at 5,000 nodes ~35 min)
    .venv/bin/python -m benchmarks --quick    # small sizes, a few minutes
    .venv/bin/python -m benchmarks --only micro,unit --json out.json

Sections: ``micro`` (per-event ns), ``scenario`` (N-node periodic + 16
claimers, plain vs audit vs tracing, one child process per concurrency mode),
``attribution`` (the same workload with one hook surface at a time, traced and
audited: each surface's share of the overhead),
``trace`` (``auditor trace`` end to end: plain vs traced child processes),
``scale`` (first and steady periodic at several node counts, plain vs audit,
time and peak RSS), ``memory`` (many passes under a long-lived tracing
session), ``unit`` (nova's tracker unit tests, plain vs ``--audit``).
Every comparison is made in the same run, interleaved, with medians and
min-max spread. Benchmarks are never tests: nothing fails on a time.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from benchmarks.common import ROOT, fmt_s, loadavg, machine, run_child, summary
from benchmarks.scenario import KINDS, VARIANTS

SECTIONS = ("micro", "scenario", "attribution", "trace", "scale", "memory", "unit")
BUDGETS = {"unit": 1.05, "audit": 1.10, "trace": 1.03}
#: The hook surfaces the attribution installs one at a time (``auditor.hooks.SURFACES``).
ATTRIBUTED = ("logging", "locks", "external", "wire", "tracker-entry", "tracker-state")


def _echo(line: str) -> None:
    print(f"    {line}", flush=True)


def wait_quiet(max_load: float, max_wait_s: float) -> str:
    """Wait until the 1-minute load is below ``max_load`` and no other pytest/auditor runs."""
    deadline = time.monotonic() + max_wait_s
    mine = {os.getpid(), os.getppid()}
    while True:
        load = float(loadavg().split()[0])
        others = []
        try:
            out = subprocess.run(["pgrep", "-af", "pytest|auditor"], capture_output=True,
                                 text=True).stdout
            others = [ln for ln in out.splitlines()
                      if ln and int(ln.split()[0]) not in mine and "pgrep" not in ln]
        except (OSError, ValueError):
            pass
        if load < max_load and not others:
            return loadavg()
        if time.monotonic() > deadline:
            print(f"  ! machine not quiet after {max_wait_s:.0f}s (load {loadavg()}, "
                  f"{len(others)} other pytest/auditor processes): measuring anyway", flush=True)
            return loadavg() + " (NOT QUIET)"
        time.sleep(15)


# -- sections ----------------------------------------------------------------------------


def micro(args) -> dict:
    res = run_child("benchmarks.micro", {"quick": args.quick}, echo=_echo)
    print(f"\n  {'event':<14} {'plain ns':>9} {'traced ns':>10} {'ratio':>7} {'audited ns':>11} "
          f"{'ratio':>7}  (median of {res['repeats']} x {res['number']})")
    for name, row in res["cases"].items():
        p = row["plain_ns"]["median"]
        cells = ""
        for kind in ("traced", "audited"):
            v = row.get(f"{kind}_ns", {}).get("median")
            cells += (f" {'-':>10} {'':>7}" if v is None else
                      f" {v:>{10 if kind == 'traced' else 11}.0f} {v / p:>7.2f}")
        print(f"  {name:<14} {p:>9.0f}{cells}")
    return res


def paired_ratio(rows: list[dict], plain: list[dict], less: str | None = None) -> float:
    """Median over repetitions of this variant's CPU time / plain's in the same repetition.

    Variants of one repetition run back to back, so they share whatever state the workload
    and the machine are in; the ratio of medians does not pair them. Sliced runs pair by
    slot (the passes that ran at the same time) and take a repetition's ratio as the
    geometric mean of its slots' ratios. ``less``: without this figure's CPU, e.g.
    ``gc_full_cpu_s``, the full garbage collections' (each lands on whichever pass crosses
    the threshold), or ``gc_cpu_s``, every collection's.
    """
    def cpu(r: dict) -> float:
        return r["cpu_s"] - (r.get(less, 0.0) if less else 0.0)

    def key(r: dict) -> tuple:
        return r["rep"], r.get("slot")

    by_key = {key(r): cpu(r) for r in plain}
    logs: dict[int, list[float]] = {}
    for r in rows:
        if key(r) in by_key:
            logs.setdefault(r["rep"], []).append(math.log(cpu(r) / by_key[key(r)]))
    return summary(math.exp(statistics.fmean(v)) for v in logs.values())["median"]


def mode_children(args, params: dict, shown: dict | None = None) -> dict[str, dict]:
    """``benchmarks.scenario`` once per concurrency mode: one after the other, or all at
    once with ``--parallel-modes`` (one child per core; each child's variants stay paired).
    ``--sliced``: one worker per variant instead, time-sliced on one CPU per mode
    (``benchmarks.sliced``)."""
    def one(mode: str) -> dict:
        print(f"  [{mode}] {dict(params, mode=mode, **(shown or {}))}", flush=True)
        echo = (lambda line: _echo(f"[{mode}] {line}")) if args.parallel_modes else _echo
        if not args.sliced:
            return run_child("benchmarks.scenario", dict(params, mode=mode), echo=echo)
        from benchmarks import scenario as child, sliced

        mine = dict(params, mode=mode, sliced=True)
        cpu = (args.cpu if args.cpu is not None else os.cpu_count() - 1
               - args.modes.index(mode)) % os.cpu_count()
        rows, notes, first_s = sliced.run(mine, echo, cpu=cpu)
        return child.shaped(mine, rows, notes, first_s)

    if not args.parallel_modes:
        return {mode: one(mode) for mode in args.modes}
    with concurrent.futures.ThreadPoolExecutor(len(args.modes)) as pool:
        return dict(zip(args.modes, pool.map(one, args.modes)))


def scenario(args) -> dict:
    out = mode_children(args, {"nodes": args.nodes, "reps": args.reps, "warmup": args.warmup,
                               "claimers": 16, "cycles": 3, "db": args.db,
                               "serial": args.serial, "gc": args.gc,
                               "variants": args.variants})
    for mode, res in out.items():
        v = res["variants"]
        print(f"\n  {mode}: {res['nodes']} nodes, first periodic (plain, once) "
              f"{res['first_periodic_plain_s']:.1f}s; steady pass + {res['claimers']} "
              f"claimers x {res['cycles']} claim+abort"
              f"{' one after another (serial)' if res['serial'] else ''}"
              f"{', time-sliced workers (only CPU is comparable)' if res.get('sliced') else ''}, "
              f"median [min-max] of {res['reps']}")
        for name, row in v.items():
            r = row["wall"]["median"] / v["plain"]["wall"]["median"]
            cpu = row.get("cpu")
            rc = cpu["median"] / v["plain"]["cpu"]["median"] if cpu else float("nan")
            budget = BUDGETS.get(name)
            paired = paired_ratio(row["raw"], v["plain"]["raw"])
            print(f"    {name:<6} wall {fmt_s(row['wall'])}  cpu {fmt_s(cpu) if cpu else '-'}"
                  f"  claim {fmt_s(row['claim'], 'ms', 1e3, 0)}"
                  f"  ratio wall {r:.3f} cpu {rc:.3f} paired cpu {paired:.3f}"
                  f"  full GCs {row['gc_full']} ({row['gc_full_cpu_s']:.2f}s cpu; paired cpu "
                  f"without them {paired_ratio(row['raw'], v['plain']['raw'], 'gc_full_cpu_s'):.3f}"
                  f"; without any collection's {paired_ratio(row['raw'], v['plain']['raw'], 'gc_cpu_s'):.3f})"
                  + (f" (budget {budget})" if budget else "")
                  + (f"  [{row['note']}]" if row.get("note") else ""))
    return out


def attribution(args) -> dict:
    """One hook surface at a time, traced and audited, interleaved with plain in one child."""
    kinds = ("trace", "audit")
    variants = ["plain"] + [f"{k}{s}" for k in kinds for s in ("", *(":" + a for a in ATTRIBUTED))]
    out = mode_children(args, {"nodes": args.attr_nodes, "reps": args.reps,
                               "warmup": args.warmup, "claimers": 16, "cycles": 3,
                               "db": args.db, "variants": variants},
                        shown={"variants": len(variants)})
    for mode, res in out.items():
        v = res["variants"]
        plain = v["plain"]["raw"]
        paired = {name: paired_ratio(row["raw"], plain) for name, row in v.items()}
        print(f"\n  {mode}: {res['nodes']} nodes, {res['reps']} reps; paired CPU ratio to plain "
              f"(median over reps), share of all surfaces' overhead; plain CPU "
              f"{fmt_s(v['plain']['cpu'])}")
        print(f"    {'surface':<15}" + "".join(f" {k + ' ratio':>12} {'share':>6} {'events':>8}"
                                               for k in kinds))
        for surface in ("all", *ATTRIBUTED):
            cells = ""
            for k in kinds:
                name = k if surface == "all" else f"{k}:{surface}"
                share = (paired[name] - 1) / (paired[k] - 1) if paired[k] != 1 else float("nan")
                cells += (f" {paired[name]:>12.3f} {share:>6.0%} "
                          f"{v[name]['events_per_pass']:>8.0f}")
            print(f"    {surface:<15}{cells}")
        res["paired"] = paired
    return out


def trace(args) -> dict:
    """``auditor trace`` itself (bootstrap and all): fresh child processes, plain vs traced."""
    from benchmarks.trace_overhead import compare

    print(f"  [trace] {args.trace_nodes} nodes, {args.trace_passes} steady periodics per child, "
          f"{args.trace_reps} pairs", flush=True)
    res = compare(args.trace_nodes, args.trace_passes, args.trace_reps, echo=_echo)
    for key in ("wall", "cpu"):
        p, t = res["plain"][key], res["traced"][key]
        print(f"    {key:<4} plain {fmt_s(p)}  traced {fmt_s(t)}  ratio "
              f"{t['median'] / p['median']:.3f} (budget {BUDGETS['trace']})")
    return res


def scale(args) -> dict:
    out = []
    for n in args.scale_nodes:
        variants = ("plain", "audit") if n not in args.audit_only else ("audit",)
        for variant in variants:
            params = {"nodes": n, "variant": variant, "passes": 1 if n >= 1000 else 2}
            print(f"  [scale] {params}", flush=True)
            out.append(run_child("benchmarks.scale", params, echo=_echo))
    print(f"\n  {'nodes':>6} {'variant':<6} {'first s':>8} {'cpu s':>7} {'steady s':>9} "
          f"{'cpu s':>7} {'maxrss MB':>10} {'events':>8}")
    for row in out:
        print(f"  {row['nodes']:>6} {row['variant']:<6} {row['first_s']:>8.1f} "
              f"{row['first_cpu_s']:>7.1f} {row['steady']['median']:>9.2f} "
              f"{row['steady_cpu']['median']:>7.2f} {row['maxrss_mb']:>10.0f} {row['events']:>8}")
    return {"rows": out}


def memory(args) -> dict:
    params = {"nodes": args.memory_nodes, "passes": args.memory_passes,
              "warm": min(5, args.memory_passes // 3)}
    print(f"  [memory] {params}", flush=True)
    res = run_child("benchmarks.memory", params, echo=_echo)
    print(f"\n  {res['how']}: RSS {res['rss_first_mb']:.1f} -> {res['rss_last_mb']:.1f} MB "
          f"(max {res['rss_max_mb']:.1f}) over {res['events_last'] - res['events_first']} events "
          f"after warm-up: {res['bytes_per_event']:.2f} bytes/event")
    last = res["samples"][-1]["sizes"]
    first = res["samples"][res["warm"]]["sizes"]
    grown = {k: (first.get(k), v) for k, v in last.items() if v != first.get(k)}
    print(f"  structures that changed size after warm-up: {grown or 'none'}")
    return res


def unit(args) -> dict:
    """nova's tracker unit tests: plain pytest vs ``--audit`` (pytest plugin), interleaved."""
    pytest = os.path.join(os.path.dirname(sys.executable), "pytest")
    base = [pytest, "-q", "-p", "no:cacheprovider", "--pyargs",
            "nova.tests.unit.compute.test_resource_tracker"]
    tmp = tempfile.mkdtemp(prefix="bench-unit-")
    times: dict[str, list[float]] = {"plain": [], "audit": []}
    outcomes: dict[str, str] = {}
    try:
        for rep in range(args.unit_reps):
            order = ("plain", "audit") if rep % 2 == 0 else ("audit", "plain")
            for variant in order:
                cmd = base + (["--audit"] if variant == "audit" else [])
                t0 = time.perf_counter()
                proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
                times[variant].append(time.perf_counter() - t0)
                tail = [ln for ln in proc.stdout.splitlines() if " passed" in ln or " failed" in ln]
                outcomes[variant] = tail[-1] if tail else f"exit {proc.returncode}"
                _echo(f"# rep {rep} {variant:<5} {times[variant][-1]:.2f}s  {outcomes[variant]}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res = {"plain": summary(times["plain"]), "audit": summary(times["audit"]),
           "raw": times, "outcomes": outcomes, "command": " ".join(base[1:]) + " [--audit]"}
    r = res["audit"]["median"] / res["plain"]["median"]
    print(f"\n  plain {fmt_s(res['plain'])}  audit {fmt_s(res['audit'])}  ratio {r:.3f} "
          f"(budget {BUDGETS['unit']})")
    return res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes for development")
    p.add_argument("--only", default=",".join(SECTIONS),
                   help=f"comma-separated sections ({','.join(SECTIONS)})")
    p.add_argument("--modes", default="threading,eventlet")
    p.add_argument("--parallel-modes", action="store_true",
                   help="scenario/attribution: run the modes' children at once (one per core)")
    p.add_argument("--nodes", type=int, help="scenario nodes (1000; quick 100)")
    p.add_argument("--reps", type=int, help="scenario repetitions per variant (3; quick 2)")
    p.add_argument("--warmup", type=int, default=1, help="unmeasured repetitions first")
    p.add_argument("--serial", action="store_true",
                   help="scenario: the pass's periodic, then each claimer's cycles, on one "
                        "thread: the same work every repetition (no interleaving to vary it)")
    p.add_argument("--sliced", action="store_true",
                   help="scenario/attribution: one worker per variant, time-sliced on one CPU "
                        "(benchmarks.sliced): the variants see the same machine drift")
    p.add_argument("--cpu", type=int, help="--sliced: the CPU the first mode's workers share "
                                           "(default the last; the next mode the one before)")
    p.add_argument("--variants", help="scenario: comma-separated variants (plain,audit,trace; "
                                      "hooks: tracing's hooks, every event discarded; "
                                      "NAME#K repeats NAME: plain#2 is an A/A control)")
    p.add_argument("--gc", choices=("on", "off"), default="on",
                   help="scenario: off = an experiment, the collector off during each pass "
                        "(what a variant costs beside the collections it causes)")
    p.add_argument("--db", default="sqlite",
                   help="scenario: nova's and placement's database (sqlite, postgresql, mysql, URL)")
    p.add_argument("--attr-nodes", type=int, help="attribution nodes (200; quick 20)")
    p.add_argument("--scale-nodes", help="node counts for scale (100,1000,5000; quick 20,100)")
    p.add_argument("--audit-only", default="", help="scale node counts measured audited only")
    p.add_argument("--trace-nodes", type=int, help="nodes for the trace section (100; quick 20)")
    p.add_argument("--trace-passes", type=int, default=5, help="periodics per trace child")
    p.add_argument("--trace-reps", type=int, help="plain/traced child pairs (3; quick 1)")
    p.add_argument("--memory-nodes", type=int, help="nodes for the memory run (100; quick 20)")
    p.add_argument("--memory-passes", type=int, help="periodic passes (50; quick 8)")
    p.add_argument("--unit-reps", type=int, help="unit test repetitions each (3; quick 1)")
    p.add_argument("--quiet-load", type=float, default=0.0,
                   help="before each section wait (up to --quiet-wait s) for 1-min load below "
                        "this and no other pytest/auditor process; 0: do not wait")
    p.add_argument("--quiet-wait", type=float, default=1200.0)
    p.add_argument("--json", help="write all results to this file")
    args = p.parse_args(argv)
    q = args.quick
    args.modes = [m for m in args.modes.split(",") if m]
    args.nodes = args.nodes or (100 if q else 1000)
    args.reps = args.reps or (2 if q else 3)
    args.attr_nodes = args.attr_nodes or (20 if q else 200)
    args.scale_nodes = [int(n) for n in (args.scale_nodes or ("20,100" if q else "100,1000,5000"))
                        .split(",") if n]
    args.audit_only = {int(n) for n in args.audit_only.split(",") if n}
    args.trace_nodes = args.trace_nodes or (20 if q else 100)
    args.trace_reps = args.trace_reps or (1 if q else 3)
    args.memory_nodes = args.memory_nodes or (20 if q else 100)
    args.memory_passes = args.memory_passes or (8 if q else 50)
    args.unit_reps = args.unit_reps or (1 if q else 3)
    given = args.variants
    args.variants = given.split(",") if given else list(VARIANTS)
    kinds = {v.partition("#")[0].partition(":")[0] for v in args.variants}
    if kinds - set(KINDS) or "plain" not in args.variants:
        p.error(f"--variants {given}: plain, audit, trace, hooks (NAME:SURFACE, NAME#K), "
                "with plain among them")
    sections = [s for s in args.only.split(",") if s]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        p.error(f"unknown section(s) {', '.join(sorted(unknown))}: use {', '.join(SECTIONS)}")

    info = machine()
    print(f"machine: {info['nproc']} CPUs, {info['cpu']}, Python {info['python']}, "
          f"nova {info['nova']}; load {info['loadavg']}")
    print(f"command: {' '.join([os.path.basename(sys.executable), '-m', 'benchmarks'] + (argv if argv is not None else sys.argv[1:]))}")
    results: dict = {"machine": info, "argv": sys.argv[1:] if argv is None else argv,
                     "sections": {}}
    for name in sections:
        load = wait_quiet(args.quiet_load, args.quiet_wait) if args.quiet_load else loadavg()
        print(f"\n== {name} (load before: {load})", flush=True)
        t0 = time.perf_counter()
        res = globals()[name](args)
        res = {"result": res, "load_before": load, "load_after": loadavg(),
               "elapsed_s": time.perf_counter() - t0}
        results["sections"][name] = res
        print(f"  ({res['elapsed_s']:.0f}s; load after: {res['load_after']})", flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
