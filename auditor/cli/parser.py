"""The ``auditor`` command line: its parser, argument types and the one-line usage error."""

from __future__ import annotations

import argparse

from auditor.findings import FAIL_ON
from auditor.nova.runtime import MODES
from auditor.report.formats import FORMATS, RUN_FORMATS

__all__ = ["build_parser", "UsageError", "Parser", "DESCRIPTION"]

DESCRIPTION = "The ``auditor`` command: run scenarios, list them, render reports."


class UsageError(Exception):
    """Bad input: printed as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
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

    parser = Parser(prog="auditor", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"auditor {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True

    run = sub.add_parser("run", help="run built-in scenarios against the real tracker")
    run.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                     help="scenario names (default: all; see 'auditor list')")
    run.add_argument("--mode", choices=(*MODES, "both"), default="both",
                     help="nova concurrency mode (default: both, one process each)")
    run.add_argument("--nodes", type=_positive, help="Ironic nodes per scenario")
    run.add_argument("--workers", type=_positive, help="concurrent workers per scenario")
    run.add_argument("--seed", type=_seed, default=0, help="seed for a reproducible run")
    run.add_argument("--report", metavar="PATH", help="write the report to PATH")
    run.add_argument("--format", choices=RUN_FORMATS,
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
    run.add_argument("--child", metavar="OPTIONS", help=argparse.SUPPRESS)

    sub.add_parser("list", help="list the built-in scenarios")

    rep = sub.add_parser("report", help="render or merge JSON reports and traces")
    rep.add_argument("inputs", nargs="+", metavar="REPORT_OR_TRACE")
    rep.add_argument("--format", choices=tuple(FORMATS),
                     help="default: from -o's extension, else text; perfetto: Chrome "
                          "trace-event JSON of traces; claims: verdicts")
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
