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
    run.add_argument("--child", action="store_true", help=argparse.SUPPRESS)

    sub.add_parser("list", help="list the built-in scenarios")

    rep = sub.add_parser("report", help="render or merge JSON reports")
    rep.add_argument("inputs", nargs="+", metavar="REPORT")
    rep.add_argument("--format", choices=FORMATS, default="text")
    rep.add_argument("--output", "-o", metavar="PATH", help="write here instead of stdout")
    return parser


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
    if not args.scenarios:
        args.scenarios = list(known)


def _child(args) -> int:
    """Run in this process, in one mode; write the JSON report to --report."""
    from auditor.progress import Progress
    from auditor.runner import RunOptions, run_here
    from auditor.session import CATEGORIES, AuditConfig

    config = AuditConfig(audit=not args.no_audit,
                         categories=frozenset(args.category or CATEGORIES))
    opts = RunOptions(tuple(args.scenarios), args.mode, args.seed, args.nodes, args.workers,
                      args.workdir, tuple(args.config_file))
    with Progress(args.mode) as progress:
        report = run_here(opts, config, progress=progress.update)
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
            started = time.monotonic()
            code = subprocess.call(cmd)
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

    try:
        reports = [load_report(p) for p in args.inputs]
    except (OSError, ReportError, ValueError) as e:
        raise UsageError(f"cannot read report: {e}") from None
    text = render(merge_reports(reports) if len(reports) > 1 else reports[0], args.format)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
    else:
        print(text)
    return 0


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
        return _child(args) if args.child else _run(args)
    except UsageError as e:
        print(f"auditor: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
