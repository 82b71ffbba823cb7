"""Run built-in scenarios in this process (one concurrency mode) under an audit session."""

from __future__ import annotations

import dataclasses
from importlib import metadata
from typing import Callable

from auditor.session import AuditConfig, AuditSession

__all__ = ["RunOptions", "run_here", "scenario_names"]


@dataclasses.dataclass(frozen=True)
class RunOptions:
    scenarios: tuple[str, ...]
    mode: str = "threading"
    seed: int = 0
    nodes: int | None = None
    workers: int | None = None
    workdir: str | None = None
    config_files: tuple[str, ...] = ()


def scenario_names() -> list[tuple[str, str]]:
    """(name, summary) of every built-in scenario, without importing nova."""
    from scenarios import library  # noqa: F401 - registers the scenarios
    from scenarios.framework import REGISTRY

    return [(sc.name, sc.summary) for sc in REGISTRY.values()]


def run_here(opts: RunOptions, config: AuditConfig,
             progress: Callable[[str, str, int, int], None] | None = None) -> dict:
    """Apply the mode, build the environment, run each scenario as one audited run.

    Returns the JSON report. ``progress(scenario, label, done, total)``.
    """
    from scenarios import mode

    mode.apply(opts.mode)
    session = AuditSession(config).start()
    try:
        from scenarios import library  # noqa: F401 - registers the scenarios
        from scenarios.framework import REGISTRY, run_scenario
        from scenarios.environment import Environment

        env = Environment.get(opts.workdir, opts.config_files, plant=session.canaries.plant)
        from auditor.canaries import from_config

        session.canaries.update(from_config(env.conf))
        for name in opts.scenarios:
            sc = REGISTRY[name]
            session.begin_run(f"{name}[{opts.mode},seed={opts.seed}]")
            result, _ = run_scenario(
                sc, env, seed=opts.seed, nodes=opts.nodes, workers=opts.workers,
                sink=session.sink, plant=session.canaries.plant,
                progress=(lambda label, done, total, _n=name: progress(_n, label, done, total))
                if progress else None)
            session.end_run(result.outcome, result.duration_s)
            session.runs[-1]["errors"] = result.errors
            session.runs[-1]["stats"] = result.stats
    finally:
        session.stop()
    return session.report({"nova": metadata.version("nova"), "concurrency": opts.mode,
                           "workdir": env.workdir})
