"""Smoke test of the per-event micro benchmark: it runs and produces numbers (never a timing check)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

from benchmarks.common import ROOT


def test_micro_benchmark_quick_produces_numbers():
    from benchmarks import micro

    result = micro.main({"quick": True, "repeats": 1, "number": 50})
    assert set(result["cases"]) >= {"log-debug", "log-scan", "lock", "state"}
    for row in result["cases"].values():
        for key in ("plain_ns", "audited_ns"):
            assert row[key]["n"] == 1
            assert math.isfinite(row[key]["median"]) and row[key]["median"] > 0


def test_paired_ratio_pairs_sliced_passes_by_slot_and_repetitions_by_geometric_mean():
    from benchmarks.run import paired_ratio

    def row(rep, slot, cpu):
        return {"rep": rep, "slot": slot, "cpu_s": cpu}

    # repetition 0: worker bias 2x in one slot, 1/2x in the other: its ratio is 1.0
    plain = [row(0, 0, 10.0), row(0, 1, 20.0), row(1, 2, 10.0), row(1, 3, 10.0)]
    other = [row(0, 0, 20.0), row(0, 1, 10.0), row(1, 2, 11.0), row(1, 3, 11.0)]
    assert math.isclose(paired_ratio(other, plain), (1.0 + 1.1) / 2)
    # unsliced rows (no slot) pair by repetition alone
    assert paired_ratio([{"rep": 0, "cpu_s": 3.0}], [{"rep": 0, "cpu_s": 2.0}]) == 1.5


def test_sliced_workers_take_every_variant_once_per_repetition():
    """Two time-sliced workers, two nodes: in each slot every variant runs once, on
    different workers, and over the repetition each worker runs each variant."""
    from benchmarks import sliced

    lines: list[str] = []
    rows, notes, first_s = sliced.run(
        {"mode": "threading", "nodes": 2, "claimers": 2, "cycles": 1, "reps": 1,
         "warmup": 0, "variants": ["plain", "plain#2"]}, lines.append)
    assert set(notes) == {"plain", "plain#2"} and first_s > 0
    assert sorted((r["slot"], r["variant"]) for r in rows) == [
        (0, "plain"), (0, "plain#2"), (1, "plain"), (1, "plain#2")]
    assert {(r["worker"], r["variant"]) for r in rows} == {
        (0, "plain"), (0, "plain#2"), (1, "plain"), (1, "plain#2")}
    assert all(r["cpu_s"] > 0 and r["claims"] == 2 and not r["errors"] for r in rows)
    assert any("pinned to CPU" in line for line in lines)


def test_steps_times_every_guarded_hook_step_in_a_pass():
    """``benchmarks.steps`` finds the hooks' guarded steps and times them in a real pass:
    a traced pass takes lock, entry-point and report-client steps, each called and timed."""
    from auditor.hooks import locks
    from benchmarks import steps

    before = locks._acquired
    result = steps.main({"nodes": 2, "claimers": 1, "cycles": 1, "variants": ["trace"],
                         "top": 100})
    assert result["guarded_steps"] >= 10
    pieces = result["variants"]["trace"]["pieces"]
    for where in ("locks.acquire", "locks.release", "tracker.entry", "external_calls.emit",
                  "hand-over (Recorder.emit)"):
        assert pieces[where]["calls"] > 0 and pieces[where]["s"] > 0, where
    assert 0 < result["variants"]["trace"]["steps_s"] < result["variants"]["trace"]["pass_cpu_s"]
    assert locks._acquired is before   # the timed steps are taken out again


def test_the_hooks_variant_builds_events_and_hands_none_over():
    """``hooks`` runs tracing's hooks in a real pass: they build events (its ``Recorder.emit``
    gets them) and none reaches the session, where ``trace`` hands every one over. In a
    child: a workload's instances are the same in every process that builds one."""
    script = """if True:
        import json
        from benchmarks import scenario
        discarded = []
        scenario._discard = discarded.append
        result = scenario.main({"nodes": 2, "claimers": 1, "cycles": 1, "reps": 1,
                                "warmup": 0, "variants": ["plain", "trace", "hooks"]})
        print(json.dumps({"discarded": len(discarded), **{
            name: v["raw"][0]["events"] for name, v in result["variants"].items()}}))
    """
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300, check=True, cwd=ROOT).stdout
    events = json.loads(out.splitlines()[-1])
    assert events["plain"] == 0 and events["trace"] > 20 and events["hooks"] < 5
    assert events["discarded"] > 20
