"""``auditor run``: built-in scenarios under an audit session, one child process per mode.

Each concurrency mode runs in a child process of its own (eventlet patches the
whole process), which writes a JSON report; the parent merges them. Parent and
child share one ``RunOptions``, handed over in a 0600 JSON file (never on the
command line, where ``ps`` would show a ``--db`` password).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Callable

from auditor.cli.parser import UsageError
from auditor.nova.runtime import MODES

__all__ = ["RunOptions", "run_here", "scenario_names", "run", "child", "DETERMINISM",
           "INTERRUPTED"]

#: what ``--seed`` fixes and what stays timing-dependent (each run entry's ``determinism``)
DETERMINISM = ("seeded: the operations each worker draws, fault choices, node data "
               "(UUIDs, properties); timing-dependent: thread interleaving, hence which "
               "concurrent claims race and lose, retries, durations and event counts")
#: the outcome of the scenario Ctrl-C stopped (the report holds the runs before it)
INTERRUPTED = "interrupted"


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
    explore: int | None = None           # run this many schedules under the controlled scheduler
    schedule: str | None = None          # replay this one schedule id (SEED:INDEX)
    jobs: int = 1                        # processes the explored schedules are split over
    part: int = 0                        # which of them this child is (explore.parts)

    def save(self, path: str) -> None:
        """Write these options to a new file ``path``, readable by this user only."""
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            json.dump(dataclasses.asdict(self), f)

    @classmethod
    def load(cls, path: str) -> "RunOptions":
        with open(path, encoding="utf-8") as f:
            data: dict[str, Any] = json.load(f)
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
    if opts.explore or opts.schedule:   # parked threads wait by design: waits say nothing
        config = dataclasses.replace(config, wait_threshold_s=float("inf"))
    if opts.categories:
        config = dataclasses.replace(config, categories=frozenset(opts.categories))
    spans = SpanFile(opts.spans, "auditor run", f"auditor run [{opts.mode}]") \
        if opts.spans else None
    session = AuditSession(config, observer=spans.observe if spans else None).start()
    env, tallies = None, []
    try:
        from scenarios import library  # noqa: F401 - registers the scenarios
        from scenarios.framework import REGISTRY, run_scenario
        from scenarios.environment import Environment

        with _interruptible(raising=not (opts.explore or opts.schedule)) as stopped:
            pending, begun, started = list(opts.scenarios), False, time.monotonic()
            try:
                env = Environment.get(opts.workdir, opts.config_files,
                                      plant=session.canaries.plant, ironic=opts.ironic,
                                      db=opts.db)
                seed_canaries(session, env.conf, "run.conf_canaries")
                while pending:
                    name = pending[0]
                    if opts.explore or opts.schedule:
                        tallies.append(_explore(REGISTRY[name], env, session, opts, progress,
                                                stopped))
                        pending.pop(0)
                        if stopped.is_set():   # the exploration says how far it got
                            break
                        continue
                    session.begin_run(f"{name}[{opts.mode},seed={opts.seed}]")
                    begun, started = True, time.monotonic()
                    if progress:   # every scenario shows, whether or not it reports steps
                        progress(name, "scenario", 0, 1)
                    result, _ = run_scenario(
                        REGISTRY[name], env, seed=opts.seed, nodes=opts.nodes,
                        workers=opts.workers, sink=session.sink, plant=session.canaries.plant,
                        progress=(lambda label, done, total, _n=name:
                                  progress(_n, label, done, total)) if progress else None)
                    if stopped.is_set():  # run_scenario recorded it as the scenario's error
                        raise KeyboardInterrupt
                    session.end_run(result.outcome, result.duration_s, errors=result.errors,
                                    stats=result.stats, determinism=DETERMINISM)
                    begun = False
                    pending.pop(0)
                    if progress:
                        progress(name, "scenario", 1, 1)
            except BaseException:  # noqa: BLE001 - after Ctrl-C, nova's cleanup may fail too
                if not stopped.is_set():
                    raise
                if pending:
                    if not begun:
                        session.begin_run(f"{pending[0]}[{opts.mode},seed={opts.seed}]")
                    session.end_run(INTERRUPTED, time.monotonic() - started,
                                    errors=["interrupted (SIGINT) before it completed"],
                                    determinism=DETERMINISM)
    finally:
        session.stop()
        if spans is not None:
            spans.close()
    where = ({"workdir": env.workdir, **env.backends.describe()} if env is not None
             else {"workdir": opts.workdir or ""})
    from auditor.explore.runs import annotate

    return annotate(session.report(target(mode=opts.mode, **where)), tallies)


class _interruptible:
    """In the main thread: the first SIGINT sets the yielded event and (if ``raising``)
    interrupts the scenario; later ones are ignored, so the partial report is written.
    An exploration is not interrupted: it starts no new schedule once the event is set."""

    def __init__(self, raising: bool = True):
        self.raising = raising

    def __enter__(self) -> threading.Event:
        self.stopped = threading.Event()
        self.old = None
        if threading.current_thread() is threading.main_thread():
            self.old = signal.signal(signal.SIGINT, self._on_sigint)
        return self.stopped

    def _on_sigint(self, signum, frame) -> None:
        if not self.stopped.is_set():
            self.stopped.set()
            if self.raising:
                raise KeyboardInterrupt

    def __exit__(self, *exc) -> None:
        if self.old is not None:  # once interrupted, stay deaf while the report is written
            signal.signal(signal.SIGINT, signal.SIG_IGN if self.stopped.is_set() else self.old)


def _explore(sc, env, session, opts: RunOptions, progress, stopped: threading.Event):
    """One scenario under the controlled scheduler (``auditor.explore``); after Ctrl-C
    (``stopped``) it ends once the running schedule completes, as ``interrupted``."""
    from auditor.explore import parts
    from auditor.explore.runs import explore_scenario
    from auditor.explore.schedule import ScheduleId

    if opts.schedule:
        label, indices = f"schedule={opts.schedule}", [ScheduleId.parse(opts.schedule).index]
    else:
        label = f"explore={opts.explore}"
        indices = parts.indices(opts.explore or 0, opts.jobs, opts.part)
    entry, tally = explore_scenario(
        sc, env, session, run_id=f"{sc.name}[{opts.mode},seed={opts.seed},{label}]",
        seed=opts.seed, indices=indices, nodes=opts.nodes, workers=opts.workers,
        progress=(lambda label, done, total, _n=sc.name: progress(_n, label, done, total))
        if progress else None, stopped=stopped.is_set)
    if tally.schedules < len(indices):   # Ctrl-C
        entry["outcome"] = INTERRUPTED
        entry["errors"].insert(0, "interrupted (SIGINT): explore.schedules says how many "
                                  "schedules completed before it")
    return tally


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
    _check_config_files(args.config_file)
    if args.workdir:
        _check_workdir(args.workdir)
    if args.timeline and not os.path.isdir(os.path.dirname(os.path.abspath(args.timeline))):
        raise UsageError(f"cannot write {args.timeline!r}: its directory does not exist")
    from scenarios.framework import REGISTRY
    from scenarios.backends import BackendError, check

    elsewhere = [s for s in conf["scenarios"] if args.ironic not in REGISTRY[s].ironic]
    if elsewhere:
        raise UsageError(f"scenario {elsewhere[0]!r} does not run on --ironic {args.ironic} "
                         f"(see 'auditor list')")
    scenarios = conf["scenarios"] or [s for s in known if args.ironic in REGISTRY[s].ironic]
    jobs = _jobs(args)
    try:
        check(args.ironic, args.db)     # backends usable before any work
    except BackendError as e:
        raise UsageError(str(e)) from None
    seed = _explore_options(args, scenarios, conf["seed"])
    return RunOptions(tuple(scenarios), conf["mode"], seed, conf["nodes"],
                      conf["workers"], args.workdir, tuple(args.config_file),
                      tuple(conf["categories"]), not args.no_audit, args.ironic, args.db,
                      explore=args.explore, schedule=args.schedule, jobs=jobs)


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


def _check_config_files(paths: list[str]) -> None:
    from auditor.redact import Redactor, config_secrets

    for path in paths:
        if os.path.isdir(path):
            raise UsageError(f"config file {path!r} is a directory")
        if not os.path.exists(path):
            raise UsageError(f"config file {path!r} does not exist")
        if not os.path.isfile(path):
            raise UsageError(f"config file {path!r} is not a regular file")
        if not os.access(path, os.R_OK):
            raise UsageError(f"config file {path!r} is not readable")
    try:
        config_secrets(paths)
    except Exception as e:  # noqa: BLE001 - oslo.config's parse errors have no common base
        first = Redactor().text(str(e).strip().splitlines()[0] if str(e).strip() else "")
        raise UsageError(f"config files {', '.join(map(repr, paths))} do not parse: "
                         f"{type(e).__name__}: {first}") from None


def _check_workdir(path: str) -> None:
    if os.path.exists(path):
        if not os.path.isdir(path):
            raise UsageError(f"--workdir {path!r} is not a directory")
        if not os.access(path, os.W_OK | os.X_OK):
            raise UsageError(f"--workdir {path!r} is not writable")
        return
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"--workdir {path!r} cannot be created in {parent!r}")


def _jobs(args) -> int:
    """How many processes ``--explore``'s schedules are split over (``--jobs``, checked)."""
    if args.explore is None:
        if args.jobs is not None:
            raise UsageError("--jobs splits the schedules of --explore over processes; "
                             "give --explore N too")
        return 1
    embedded = args.db == "sqlite" and args.ironic == "sim"
    if args.jobs is None:   # each process restores only its own SQLite files
        return min(os.cpu_count() or 1, args.explore) if embedded else 1
    if args.jobs > 1 and not embedded:
        raise UsageError("--jobs above 1 needs the embedded backends (--db sqlite, --ironic "
                         "sim): each process restores its own SQLite files between schedules")
    return min(args.jobs, args.explore)


def _explore_options(args, scenarios, seed: int) -> int:
    """Check ``--explore``/``--schedule`` against the rest; returns the seed to use."""
    from auditor.explore.schedule import ScheduleError, ScheduleId

    if args.schedule is None:
        return seed
    if args.explore is not None:
        raise UsageError("--schedule replays one schedule; it does not go with --explore")
    try:
        sid = ScheduleId.parse(args.schedule)
    except ScheduleError as e:
        raise UsageError(str(e)) from None
    if len(scenarios) != 1:
        raise UsageError("--schedule replays a schedule of one scenario: name exactly one")
    if args.seed is not None and args.seed != sid.seed:
        raise UsageError(f"schedule {sid} was explored from seed {sid.seed}, not --seed "
                         f"{args.seed}; drop --seed or use the id printed for this seed")
    return sid.seed


def child(opts: RunOptions, report_path: str) -> int:
    """Run ``opts`` (one mode) in this process; write the JSON report to ``report_path``."""
    import logging

    from scenarios.backends import BackendError

    from auditor.cli.progress import Progress

    os.umask(0o077)  # work files (nova.conf with secrets, nova.log, databases): 0600
    started = _quiet_start(opts.mode)
    logging.captureWarnings(True)   # later warnings go to the log, not over the progress bars
    try:
        label = opts.mode if opts.jobs == 1 else f"{opts.mode} {opts.part + 1}/{opts.jobs}"
        with Progress(label) as progress:
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
    return 130 if _interrupted(report) else 0


def _interrupted(report: dict) -> bool:
    return any(r["outcome"] == INTERRUPTED for r in report["runs"])


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    """Linux: SIGKILL this child when the parent dies, however it dies (PR_SET_PDEATHSIG)."""
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):  # not Linux: the parent's SIGTERM handler still kills
        pass


def _terminated(signum, frame) -> None:
    raise SystemExit(128 + signum)


def _run_children(cmds: list[list[str]], redactor,
                  env: dict[str, str] | None = None) -> list[int]:
    """Run the children at once, their stdout and stderr copied redacted to our stderr (a
    line at a time); Ctrl-C is passed on to each, and any still running when we stop is
    killed. Returns their exit statuses."""
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                              preexec_fn=_die_with_parent if sys.platform == "linux" else None)
             for cmd in cmds]
    copiers = [threading.Thread(target=redactor.lines, args=(proc.stdout, sys.stderr),
                                name="child-output", daemon=True) for proc in procs]
    try:
        for copier in copiers:
            copier.start()
        for proc in procs:
            while True:
                try:
                    proc.wait()
                    break
                except KeyboardInterrupt:  # they have it too: let them write partial reports
                    for other in procs:
                        if other.poll() is None:
                            other.send_signal(signal.SIGINT)
        for copier in copiers:
            copier.join()
        return [proc.returncode for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _child_env(opts: RunOptions) -> dict[str, str] | None:
    """A fixed string hash seed when exploring: nova iterates sets of node names."""
    if not (opts.explore or opts.schedule):
        return None
    return {**os.environ, "PYTHONHASHSEED": "0"}


def run(args) -> int:
    """The parent: one child per mode, their reports merged, judged, printed and written."""
    from auditor.cli import judge
    from auditor.redact import Redactor, config_secrets

    conf = judge.settings(args, scenarios=args.scenarios, mode=args.mode, nodes=args.nodes,
                          workers=args.workers, seed=args.seed, categories=args.category)
    fmt = judge.check_output(args.output, args.format)
    opts = options(args, conf)
    redactor = Redactor(config_secrets(opts.config_files))
    if opts.workdir:
        os.makedirs(opts.workdir, mode=0o700, exist_ok=True)
    base = opts.workdir or tempfile.mkdtemp(prefix="nova-rt-auditor-")
    keep = bool(opts.workdir or args.keep_workdir)
    old_term = signal.signal(signal.SIGTERM, _terminated)
    try:
        code, clean = _run_modes(dataclasses.replace(opts, workdir=base), args, conf, fmt,
                                 redactor)
    except SystemExit:  # SIGTERM: the children are killed by _run_children's finally
        print(f"auditor: terminated; work directory kept: {base}", file=sys.stderr)
        raise
    finally:
        signal.signal(signal.SIGTERM, old_term)
    if keep or not clean:
        print(f"auditor: work directory kept: {base}", file=sys.stderr)
    else:
        shutil.rmtree(base, ignore_errors=True)
    return code


def _run_modes(opts: RunOptions, args, conf, fmt: str | None, redactor) -> tuple[int, bool]:
    """Run every mode; ``(exit status, whether every run completed)``."""
    from auditor.cli import judge
    from auditor.report.model import merge_reports
    from auditor.tracing.trace_file import read_trace

    record = args.timeline or (args.output and fmt == "html")
    reports, traces = [], []
    interrupted = False
    with tempfile.TemporaryDirectory(prefix="auditor-run-") as tmp:
        modes = MODES if opts.mode == "both" else (opts.mode,)
        for mode in modes:
            started = time.monotonic()
            ones = [dataclasses.replace(opts, mode=mode, part=part, spans=os.path.join(
                tmp, f"{mode}.{part}.spans.jsonl") if record else None)
                for part in range(opts.jobs)]
            cmds = []
            for one in ones:
                given = os.path.join(tmp, f"{mode}.{one.part}.options.json")
                one.save(given)
                cmds.append([sys.executable, "-m", "auditor.cli", "run", "--child", given,
                             "--output", os.path.join(tmp, f"{mode}.{one.part}.json")])
            codes = _run_children(cmds, redactor, env=_child_env(opts))
            if 2 in codes:  # the child said why in one line (a backend did not start)
                return 2, False
            interrupted = 130 in codes
            failed = [(code, cmd[-1]) for code, cmd in zip(codes, cmds)
                      if code not in (0, 130) or not os.path.exists(cmd[-1])]
            if failed:
                print(f"auditor: the {mode} run failed (exit {failed[0][0]}); see the output "
                      f"above", file=sys.stderr)
                return (130 if interrupted else 1), False
            print(f"[{mode}] done in {time.monotonic() - started:.1f}s", file=sys.stderr)
            for one, cmd in zip(ones, cmds):
                with open(cmd[-1]) as f:
                    reports.append(json.load(f))
                if one.spans:
                    traces.append(read_trace(one.spans))
            if interrupted:
                break
    report = judge.apply_known(redactor.report(
        merge_reports(reports) if len(reports) > 1 else reports[0]), conf)
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
    if interrupted:
        done = [r["id"] for r in report["runs"] if r["outcome"] != INTERRUPTED]
        print(f"auditor: interrupted; the report holds the {len(done)} scenario run(s) "
              f"that completed before Ctrl-C", file=sys.stderr)
        return 130, False
    return judge.exit_status(report, conf, errored), not errored
