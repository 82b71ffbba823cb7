"""Every built-in scenario runs to completion against the real tracker (small sizes, threading)."""

from __future__ import annotations

import pytest

from scenarios import library  # noqa: F401 - registers the scenarios
from scenarios.framework import REGISTRY, run_scenario

SMALL = {"concurrent-claims": dict(nodes=6, workers=3)}

#: per scenario, a count its workload must reach (it did what it is meant to)
DID = {"concurrent-claims": "boot-active", "instance-lifecycle": "rebuild-rebuilt",
       "node-lifecycle": "boot-active", "rebalance": "boot-active",
       "placement-faults": "deleted-again", "ironic-faults": "boot-active",
       "malformed-nodes": "leaky-boot-failed", "sustained-outages": "boot-active",
       "shard-isolation": "moved"}


def test_every_scenario_has_an_expectation():
    assert set(DID) == set(REGISTRY)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_scenario_completes(env, name):
    """The scenario's script runs without error, does its work and emits accounting snapshots;
    no node is handled outside its shard or conductor group (shard-isolation: on unmodified
    nova, every planned move between shards and into the group is followed)."""
    from auditor.checks.accounting import AccountingCheck

    events: list = []
    result, _ = run_scenario(REGISTRY[name], env, seed=11, sink=events.append,
                             **SMALL.get(name, {}))
    assert result.outcome == "passed", result.errors
    assert result.stats.get(DID[name], 0) >= 1, result.stats
    assert "move-skipped" not in result.stats, result.stats
    assert any(type(e).__name__ == "AccountingSnapshot" for e in events)
    assert any(type(e).__name__ == "UsageSnapshot" for e in events)
    check = AccountingCheck()
    for event in events:
        check.observe(event)
    isolation = [f.message for f in check.finish() if f.rule.id == "accounting/isolation"]
    assert isolation == []


def test_malformed_nodes_announce_their_bad_input(env):
    """The malformed-nodes scenario emits one BadInput per planted node (and one claim)."""
    from scenarios.malformed import BAD_NODES

    events: list = []
    run_scenario(REGISTRY["malformed-nodes"], env, seed=12, sink=events.append)
    bad = [e for e in events if type(e).__name__ == "BadInput"]
    assert len(bad) >= len(BAD_NODES)
