"""``auditor run``: built-in scenarios under an audit session, one child process per mode.

Each concurrency mode runs in a child process of its own (eventlet patches the
whole process), which writes a JSON report; the parent merges them. Parent and
child share one ``RunOptions``, serialised as JSON on the child's command line.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable

from auditor.cli.parser import UsageError
from auditor.nova.runtime import MODES

__all__ = ["RunOptions", "run_here", "scenario_names", "run", "child"]


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """What ``auditor run`` runs, validated once by the parent and handed to each child."""

    scenarios: tuple[str, ...]
    mode: str = MODES[0]
    seed: int = 0
    nodes: int | None = None
    workers: int | None = None
    workdir: str | None = None
    config_files: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()     # empty: every category
    audit: bool = True
    ironic: str = "sim"                  # sim | real
    db: str = "sqlite"                   # sqlite | postgresql | mysql | a URL
    spans: str | None = None             # write the timeline's spans to this file

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "RunOptions":
        data: dict[str, Any] = json.loads(text)
        for name in ("scenarios", "config_files", "categories"):
            data[name] = tuple(data[name])
        return cls(**data)


def scenario_names() -> list[tuple[str, str]]:
    """(name, summary) of every built-in scenario, without importing nova."""
    from scenarios import library  # noqa: F401 - registers the scenarios
    from scenarios.framework import REGISTRY

    return [(sc.name, f"{sc.summary} [ironic: {'|'.join(sc.ironic)}]")
            for sc in REGISTRY.values()]


def run_here(opts: RunOptions,
             progress: Callable[[str, str, int, int], None] | None = None) -> dict:
    """Apply the mode, build the environment, run each scenario as one audited run.

    Returns the JSON report. ``progress(scenario, label, done, total)``.
    """
    from scenarios import mode

    from auditor.nova.runtime import seed_canaries, target
    from auditor.session import AuditConfig, AuditSession

    from auditor.tracing.spans import SpanFile

    mode.apply(opts.mode)
    config = AuditConfig(audit=opts.audit)
    if opts.categories:
        config = dataclasses.replace(config, categories=frozenset(opts.categories))
    spans = SpanFile(opts.spans, "auditor run", f"auditor run [{opts.mode}]") \
        if opts.spans else None
    session = AuditSession(config, observer=spans.observe if spans else None).start()
    try:
        from scenarios import library  # noqa: F401 - registers the scenarios
        from scenarios.framework import REGISTRY, run_scenario
        from scenarios.environment import Environment

        env = Environment.get(opts.workdir, opts.config_files, plant=session.canaries.plant,
                              ironic=opts.ironic, db=opts.db)
        seed_canaries(session, env.conf, "run.conf_canaries")
        for name in opts.scenarios:
            sc = REGISTRY[name]
            if progress:   # every scenario shows, whether or not it reports steps
                progress(name, "scenario", 0, 1)
            session.begin_run(f"{name}[{opts.mode},seed={opts.seed}]")
            result, _ = run_scenario(
                sc, env, seed=opts.seed, nodes=opts.nodes, workers=opts.workers,
                sink=session.sink, plant=session.canaries.plant,
                progress=(lambda label, done, total, _n=name: progress(_n, label, done, total))
                if progress else None)
            session.end_run(result.outcome, result.duration_s, errors=result.errors,
                            stats=result.stats)
            if progress:
                progress(name, "scenario", 1, 1)
    finally:
        session.stop()
        if spans is not None:
            spans.close()
    return session.report(target(mode=opts.mode, workdir=env.workdir,
                                 **env.backends.describe()))


def options(args, conf) -> RunOptions:
    """Validate ``auditor run``'s arguments and configuration (``UsageError``) into the
    options of every mode."""
    from auditor.checks import categories

    known = dict(scenario_names())
    unknown = [s for s in conf["scenarios"] if s not in known]
    if unknown:
        raise UsageError(f"unknown scenario {unknown[0]!r} ({conf.source('scenarios')}); "
                         f"'auditor list' shows the {len(known)} built-in scenarios")
    bad = [c for c in conf["categories"] if c not in categories()]
    if bad:
        raise UsageError(f"unknown category {bad[0]!r}; choose from {', '.join(categories())}")
    for path in args.config_file:
        if not os.path.isfile(path):
            raise UsageError(f"config file {path!r} does not exist")
    if args.timeline and not os.path.isdir(os.path.dirname(os.path.abspath(args.timeline))):
        raise UsageError(f"cannot write {args.timeline!r}: its directory does not exist")
    from scenarios.framework import REGISTRY
    from scenarios.backends import BackendError, check

    elsewhere = [s for s in conf["scenarios"] if args.ironic not in REGISTRY[s].ironic]
    if elsewhere:
        raise UsageError(f"scenario {elsewhere[0]!r} does not run on --ironic {args.ironic} "
                         f"(see 'auditor list')")
    scenarios = conf["scenarios"] or [s for s in known if args.ironic in REGISTRY[s].ironic]
    try:
        check(args.ironic, args.db)     # backends usable before any work
    except BackendError as e:
        raise UsageError(str(e)) from None
    return RunOptions(tuple(scenarios), conf["mode"], conf["seed"], conf["nodes"],
                      conf["workers"], args.workdir, tuple(args.config_file),
                      tuple(conf["categories"]), not args.no_audit, args.ironic, args.db)


def _quiet_start(mode: str) -> str:
    """Apply the concurrency mode with this process's stderr sent aside; return what was
    written there (eventlet's and nova's start-up warnings, kept out of the progress display)."""
    import tempfile

    from scenarios import mode as modes

    with tempfile.TemporaryFile() as aside:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(aside.fileno(), 2)
        try:
            modes.apply(mode)
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        aside.seek(0)
        return aside.read().decode("utf-8", "replace")


def child(opts: RunOptions, report_path: str) -> int:
    """Run ``opts`` (one mode) in this process; write the JSON report to ``report_path``."""
    import logging

    from scenarios.backends import BackendError

    from auditor.cli.progress import Progress

    started = _quiet_start(opts.mode)
    logging.captureWarnings(True)   # later warnings go to the log, not over the progress bars
    try:
        with Progress(opts.mode) as progress:
            report = run_here(opts, progress=progress.update)
    except BackendError as e:  # a server that did not start: one line, exit 2
        raise UsageError(str(e)) from None
    if started.strip():
        path = os.path.join(report["target"].get("workdir") or ".", "startup-warnings.log")
        with open(path, "w", encoding="utf-8") as f:
            f.write(started)
        print(f"[{opts.mode}] start-up warnings (eventlet, nova): {path}", file=sys.stderr)
    with open(report_path, "w") as f:
        json.dump(report, f)
    return 0


def run(args) -> int:
    """The parent: one child per mode, their reports merged, judged, printed and written."""
    from auditor.cli import judge
    from auditor.report.model import merge_reports
    from auditor.tracing.trace_file import read_trace

    conf = judge.settings(args, scenarios=args.scenarios, mode=args.mode, nodes=args.nodes,
                          workers=args.workers, seed=args.seed, categories=args.category)
    fmt = judge.check_output(args.output, args.format)
    opts = options(args, conf)
    record = args.timeline or (args.output and fmt == "html")
    reports, traces = [], []
    with tempfile.TemporaryDirectory(prefix="auditor-run-") as tmp:
        modes = MODES if opts.mode == "both" else (opts.mode,)
        for mode in modes:
            out = os.path.join(tmp, f"{mode}.json")
            one = dataclasses.replace(opts, mode=mode, spans=os.path.join(
                tmp, f"{mode}.spans.jsonl") if record else None)
            cmd = [sys.executable, "-m", "auditor.cli", "run", "--child", one.to_json(),
                   "--output", out]
            started = time.monotonic()
            code = subprocess.call(cmd)
            if code == 2:  # the child said why in one line (a backend did not start)
                return 2
            if code != 0 or not os.path.exists(out):
                print(f"auditor: the {mode} run failed (exit {code}); see the output above",
                      file=sys.stderr)
                return 1
            print(f"[{mode}] done in {time.monotonic() - started:.1f}s", file=sys.stderr)
            with open(out) as f:
                reports.append(json.load(f))
            if one.spans:
                traces.append(read_trace(one.spans))
    report = judge.apply_known(merge_reports(reports) if len(reports) > 1 else reports[0], conf)
    print(judge.write(report, (), "text", None, conf))
    written = []
    if args.output:
        judge.write(report, traces, fmt, args.output, conf)
        written.append(args.output)
    if args.timeline:
        judge.write(report, traces, "perfetto", args.timeline, conf)
        written.append(f"{args.timeline} (timeline: open in ui.perfetto.dev)")
    errored = [r["id"] for r in report["runs"] if r["outcome"] != "passed"]
    for line in judge.closing(report, conf, written, errored):
        print(line)
    return judge.exit_status(report, conf, errored)
