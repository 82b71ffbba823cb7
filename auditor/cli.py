"""The ``auditor`` command: run scenarios, list them, render reports.

Each concurrency mode runs in a child process of its own (eventlet patches
the whole process), which writes a JSON report; the parent merges them.
Exit status: 0 no finding at or above ``--fail-on``, 1 findings (or a
scenario that crashed), 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

__all__ = ["main", "build_parser", "failing"]

FORMATS = ("json", "sarif", "text")
REPORT_FORMATS = FORMATS + ("perfetto", "claims")
FAIL_ON = ("high", "medium", "low", "never")
_RANK = {"high": 3, "medium": 2, "low": 1}


class UsageError(Exception):
    """Bad input: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line and exit 2, not argparse's usage dump
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {value}")
    return value


def _seed(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    from auditor import __version__

    parser = _Parser(prog="auditor", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"auditor {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    run = sub.add_parser("run", help="run built-in scenarios against the real tracker")
    run.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                     help="scenario names (default: all; see 'auditor list')")
    run.add_argument("--mode", choices=("threading", "eventlet", "both"), default="both",
                     help="nova concurrency mode (default: both, one process each)")
    run.add_argument("--nodes", type=_positive, help="Ironic nodes per scenario")
    run.add_argument("--workers", type=_positive, help="concurrent workers per scenario")
    run.add_argument("--seed", type=_seed, default=0, help="seed for a reproducible run")
    run.add_argument("--report", metavar="PATH", help="write the report to PATH")
    run.add_argument("--format", choices=FORMATS,
                     help="report format (default: from PATH's extension, else json)")
    run.add_argument("--fail-on", choices=FAIL_ON, default="medium",
                     help="exit 1 when a finding is at or above this severity (default: medium)")
    run.add_argument("--category", action="append", metavar="CATEGORY",
                     help="only report this category (repeatable)")
    run.add_argument("--no-audit", action="store_true",
                     help="plain run: no hooks (accounting invariants are still checked)")
    run.add_argument("--workdir", help="keep the databases and nova.log here")
    run.add_argument("--config-file", action="append", default=[], metavar="PATH",
                     help="extra nova.conf to layer over the generated one")
    run.add_argument("--ironic", choices=("sim", "real"), default="sim",
                     help="Ironic: the in-process simulator or real Ironic (fake hardware)")
    run.add_argument("--db", default="sqlite", metavar="ENGINE_OR_URL",
                     help="nova's and placement's databases: sqlite (default), postgresql, "
                          "mysql (a throwaway server each) or a postgresql:// / mysql:// URL")
    run.add_argument("--child", action="store_true", help=argparse.SUPPRESS)

    sub.add_parser("list", help="list the built-in scenarios")

    rep = sub.add_parser("report", help="render or merge JSON reports and traces")
    rep.add_argument("inputs", nargs="+", metavar="REPORT_OR_TRACE")
    rep.add_argument("--format", choices=REPORT_FORMATS, default="text",
                     help="perfetto: Chrome trace-event JSON of traces; claims: verdicts")
    rep.add_argument("--output", "-o", metavar="PATH", help="write here instead of stdout")
    trace = sub.add_parser(
        "trace", help="run a Python program traced (or: trace install|uninstall --venv PATH)",
        usage="%(prog)s [--output PATH] [--interval S] [--debug] [--exclude PROG] -- COMMAND ...\n"
              "       %(prog)s install|uninstall --venv PATH")
    trace.add_argument("--output", "-o", default="auditor-trace.jsonl", metavar="PATH",
                       help="trace path; {pid}/{program} substituted, else PATH.<pid> "
                            "(default: auditor-trace.jsonl)")
    trace.add_argument("--interval", type=_positive_float, metavar="S",
                       help="seconds between finding flushes (default: 60)")
    trace.add_argument("--debug", action="store_true",
                       help="also judge DEBUG records the logging configuration drops "
                            "(a full audit's log checks, at a full audit's cost)")
    trace.add_argument("--exclude", action="append", default=[], metavar="PROG",
                       help="do not trace programs named so (fnmatch; repeatable)")
    trace.add_argument("--venv", metavar="PATH", help="with install/uninstall: the venv")
    trace.add_argument("argv", nargs=argparse.REMAINDER, metavar="COMMAND")
    return parser


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text}")
    return value


def failing(report: dict, fail_on: str) -> list[dict]:
    """The report's findings at or above ``fail_on`` (``never``: none)."""
    if fail_on == "never":
        return []
    return [f for f in report["findings"] if _RANK[f["severity"]] >= _RANK[fail_on]]


def render(report: dict, fmt: str) -> str:
    from auditor.report import json_report, sarif, text

    return {"json": json_report, "sarif": sarif, "text": text}[fmt].render(report)


def _format_for(path: str | None, fmt: str | None) -> str:
    if fmt:
        return fmt
    ext = os.path.splitext(path or "")[1].lstrip(".").lower()
    return {"sarif": "sarif", "txt": "text"}.get(ext, "json")


def _validate_run(args) -> None:
    from auditor.runner import scenario_names
    from auditor.session import CATEGORIES

    known = dict(scenario_names())
    unknown = [s for s in args.scenarios if s not in known]
    if unknown:
        raise UsageError(f"unknown scenario {unknown[0]!r}; 'auditor list' shows the "
                         f"{len(known)} built-in scenarios")
    bad = [c for c in args.category or () if c not in CATEGORIES]
    if bad:
        raise UsageError(f"unknown category {bad[0]!r}; choose from {', '.join(CATEGORIES)}")
    for path in args.config_file:
        if not os.path.isfile(path):
            raise UsageError(f"config file {path!r} does not exist")
    if args.report and not os.path.isdir(os.path.dirname(os.path.abspath(args.report))):
        raise UsageError(f"cannot write {args.report!r}: its directory does not exist")
    from scenarios.api import REGISTRY  # backends: scenarios the chosen Ironic can run

    elsewhere = [s for s in args.scenarios if args.ironic not in REGISTRY[s].ironic]
    if elsewhere:
        raise UsageError(f"scenario {elsewhere[0]!r} does not run on --ironic {args.ironic} "
                         f"(see 'auditor list')")
    if not args.scenarios:
        args.scenarios = [s for s in known if args.ironic in REGISTRY[s].ironic]
    from scenarios.backends import BackendError, check  # backends: usable before any work
    try:
        check(args.ironic, args.db)
    except BackendError as e:
        raise UsageError(str(e)) from None


def _child(args) -> int:
    """Run in this process, in one mode; write the JSON report to --report."""
    from auditor.progress import Progress
    from auditor.runner import RunOptions, run_here
    from auditor.session import CATEGORIES, AuditConfig

    config = AuditConfig(audit=not args.no_audit,
                         categories=frozenset(args.category or CATEGORIES))
    from scenarios.backends import BackendError

    opts = RunOptions(tuple(args.scenarios), args.mode, args.seed, args.nodes, args.workers,
                      args.workdir, tuple(args.config_file), args.ironic, args.db)
    try:
        with Progress(args.mode) as progress:
            report = run_here(opts, config, progress=progress.update)
    except BackendError as e:  # a server that did not start: one line, exit 2
        raise UsageError(str(e)) from None
    with open(args.report, "w") as f:
        json.dump(report, f)
    return 0


def _run(args) -> int:
    from auditor.report.model import merge_reports

    _validate_run(args)
    modes = ("threading", "eventlet") if args.mode == "both" else (args.mode,)
    reports = []
    with tempfile.TemporaryDirectory(prefix="auditor-run-") as tmp:
        for mode in modes:
            out = os.path.join(tmp, f"{mode}.json")
            cmd = [sys.executable, "-m", "auditor.cli", "run", *args.scenarios, "--child",
                   "--mode", mode, "--seed", str(args.seed), "--report", out]
            for flag in ("nodes", "workers", "workdir"):
                if getattr(args, flag):
                    cmd += [f"--{flag}", str(getattr(args, flag))]
            cmd += [f"--config-file={p}" for p in args.config_file]
            cmd += [f"--category={c}" for c in args.category or ()]
            cmd += ["--no-audit"] if args.no_audit else []
            cmd += ["--ironic", args.ironic, "--db", args.db]
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
    report = merge_reports(reports) if len(reports) > 1 else reports[0]
    print(render(report, "text"))
    if args.report:
        with open(args.report, "w") as f:
            f.write(render(report, _format_for(args.report, args.format)))
        print(f"report written to {args.report}")
    errored = [r["id"] for r in report["runs"] if r["outcome"] != "passed"]
    for run_id in errored:
        print(f"auditor: scenario {run_id} did not complete", file=sys.stderr)
    return 1 if failing(report, args.fail_on) or errored else 0


def _report(args) -> int:
    from auditor.report.model import ReportError, load_report, merge_reports
    from auditor.report.trace_reader import is_trace, read_trace

    traces, reports = [], []
    try:
        for path in args.inputs:
            if is_trace(path):
                traces.append(read_trace(path))
                reports.append(traces[-1].report)
            else:
                reports.append(load_report(path))
    except (OSError, ReportError, ValueError) as e:
        raise UsageError(f"cannot read report: {e}") from None
    for t in traces:
        if t.truncated:
            print(f"auditor: {t.path}: last line cut (process killed mid-write); ignored",
                  file=sys.stderr)
    if args.format == "perfetto":
        if not traces:
            raise UsageError("--format perfetto needs trace files (written by 'auditor trace'), "
                             "not JSON reports")
        from auditor.report import perfetto

        text = perfetto.render(traces)
    else:
        report = merge_reports(reports) if len(reports) > 1 else reports[0]
        if args.format == "claims":
            from auditor.report import claims

            text = claims.render(report)
        else:
            text = render(report, args.format)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
    else:
        print(text)
    return 0


def _trace(args) -> int:
    from auditor.bootstrap import launch, venv

    command = list(args.argv)
    if command[:1] == ["--"]:
        command = command[1:]
    elif command[:1] in (["install"], ["uninstall"]):
        sub = _Parser(prog=f"auditor trace {command[0]}")
        sub.add_argument("--venv", default=args.venv, metavar="PATH")
        args.venv = sub.parse_args(command[1:]).venv
        if not args.venv:
            raise UsageError(f"usage: auditor trace {command[0]} --venv PATH")
        try:
            if command[0] == "install":
                path = venv.install(args.venv, launch.HOME)
                print(f"installed {path}: processes of this venv are traced when "
                      f"AUDITOR_TRACE is set")
            else:
                path = venv.uninstall(args.venv)
                print(f"removed {path}" if path else f"not installed in {args.venv}")
        except venv.VenvError as e:
            raise UsageError(str(e)) from None
        except OSError as e:
            raise UsageError(f"cannot write to {args.venv}: {e.strerror or e}") from None
        return 0
    if not command:
        raise UsageError("no command to trace; usage: auditor trace [--output PATH] -- COMMAND")
    if args.venv:
        raise UsageError("--venv goes with 'auditor trace install|uninstall'")
    directory = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(directory):
        raise UsageError(f"cannot write {args.output!r}: its directory does not exist")
    if launch.resolve(command[0]) is None:
        raise UsageError(f"command not found: {command[0]!r}")
    env = launch.traced_env(os.environ, args.output, interval_s=args.interval,
                            exclude=tuple(args.exclude), debug=args.debug)
    try:
        launch.exec_traced(command, env)
    except OSError as e:
        raise UsageError(f"cannot run {command[0]!r}: {e.strerror or e}") from None
    return 0  # not reached


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if args.command == "list":
            from auditor.runner import scenario_names

            for name, summary in scenario_names():
                print(f"{name:28} {summary}")
            return 0
        if args.command == "report":
            return _report(args)
        if args.command == "trace":
            return _trace(args)
        return _child(args) if args.child else _run(args)
    except UsageError as e:
        print(f"auditor: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
