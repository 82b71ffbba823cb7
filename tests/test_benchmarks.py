"""Smoke test of the per-event micro benchmark: it runs and produces numbers (never a timing check)."""

from __future__ import annotations

import math


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
