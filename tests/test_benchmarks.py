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
