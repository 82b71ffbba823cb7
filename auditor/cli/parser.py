"""The ``auditor`` command line: its parser, argument types and the one-line usage error."""

from __future__ import annotations

import argparse

from auditor.config import MAX_NODES, MAX_WORKERS
from auditor.findings import FAIL_ON
from auditor.report.gate import DEFAULT_FAIL_ON
from auditor.nova.runtime import MODES
from auditor.report.baseline import DEFAULT_REASON
from auditor.report.formats import FORMATS, RUN_FORMATS

__all__ = ["build_parser", "joined_values", "UsageError", "Parser", "DESCRIPTION"]

DESCRIPTION = "The auditor command: run scenarios, render and gate reports, trace processes."


class UsageError(Exception):
    """Bad input: printed as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line and exit 2, not argparse's usage dump
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _positive(text: str, most: int | None = None) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {value}")
    if most is not None and value > most:
        raise argparse.ArgumentTypeError(f"expected a number of at most {most}, got {value}")
    return value


def _nodes(text: str) -> int:
    return _positive(text, MAX_NODES)


def _workers(text: str) -> int:
    return _positive(text, MAX_WORKERS)


def _seed(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got {text!r}") from None


def _output(p: argparse.ArgumentParser, what: str, *aliases: str) -> None:
    known = ", ".join(f.extension for f in FORMATS.values() if f.runs and f.extension)
    p.add_argument("-o", "--output", *aliases, dest="output", metavar="PATH",
                   help=f"write {what} to PATH (the format follows its extension: {known}; "
                        f"none: json)")


def _gate(p: argparse.ArgumentParser) -> None:
    """The options every judging door shares: threshold, baseline, SARIF/HTML links."""
    p.add_argument("--fail-on", choices=FAIL_ON,
                   help=f"exit 1 when a new finding is at or above this severity (default: "
                        f"{DEFAULT_FAIL_ON}, the same for every door; docs/ci.md says why)")
    p.add_argument("--baseline", metavar="FILE",
                   help="findings this baseline knows do not count toward --fail-on "
                        "(write one with 'auditor baseline')")
    p.add_argument("--docs-url", metavar="URL",
                   help="base URL of the rule catalogue in SARIF and HTML "
                        "(default: the published docs)")
    p.add_argument("--source-root", metavar="URI",
                   help="absolute URI of the directory holding nova/ (a nova checkout), "
                        "recorded in SARIF as NOVASRC")


def build_parser() -> argparse.ArgumentParser:
    from rich_argparse import RichHelpFormatter

    from auditor import __version__

    parser = Parser(prog="auditor", description=DESCRIPTION, formatter_class=RichHelpFormatter)
    parser.add_argument("--version", action="version", version=f"auditor {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True

    def command(name: str, **kwargs) -> argparse.ArgumentParser:
        return sub.add_parser(name, formatter_class=RichHelpFormatter, **kwargs)

    run = command("run", help="run built-in scenarios against the real tracker")
    run.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                     help="scenario names (default: all; see 'auditor list')")
    run.add_argument("--mode", choices=(*MODES, "both"),
                     help="nova concurrency mode (default: both, one process each)")
    run.add_argument("--nodes", type=_nodes,
                     help=f"Ironic nodes per scenario, 1-{MAX_NODES}, a large region "
                          "(default: each scenario's own, 3-24)")
    run.add_argument("--workers", type=_workers,
                     help=f"concurrent workers per scenario, 1-{MAX_WORKERS}: one thread each, "
                          "far past where claims contend (default: each scenario's own, 2-8)")
    run.add_argument("--seed", type=_seed, help="seed for a reproducible run (default: 0)")
    run.add_argument("--explore", type=_positive, metavar="N",
                     help="run N schedules under the controlled scheduler (workload from --seed)")
    run.add_argument("--schedule", metavar="ID",
                     help="replay one explored schedule exactly (ID as printed, SEED:INDEX)")
    run.add_argument("--jobs", type=_positive, metavar="J",
                     help="run --explore's schedules in J processes at once, the same results "
                          "(default: the CPU count, at most N; embedded backends only)")
    _output(run, "the report", "--report")
    run.add_argument("--format", choices=RUN_FORMATS,
                     help="report format (default: from the output's extension, else json)")
    _gate(run)
    run.add_argument("--timeline", metavar="PATH",
                     help="also write the Perfetto/Chrome trace of lock holds, waits and "
                          "external calls to PATH (open in ui.perfetto.dev)")
    run.add_argument("--category", action="append", metavar="CATEGORY",
                     help="only report this category (repeatable; default: all)")
    run.add_argument("--no-audit", action="store_true",
                     help="plain run: no hooks (accounting invariants are still checked)")
    run.add_argument("--workdir", metavar="DIR",
                     help="make each run's work directory (databases, nova.conf, nova.log; "
                          "0700) inside DIR and keep it (default: a temporary one, removed "
                          "after a clean run)")
    run.add_argument("--keep-workdir", action="store_true",
                     help="keep the temporary work directory and print its path")
    run.add_argument("--config-file", action="append", default=[], metavar="PATH",
                     help="extra nova.conf to layer over the generated one")
    run.add_argument("--ironic", choices=("sim", "real"), default="sim",
                     help="Ironic: the in-process simulator or real Ironic (fake hardware)")
    run.add_argument("--db", default="sqlite", metavar="ENGINE_OR_URL",
                     help="nova's and placement's databases: sqlite (default), postgresql, "
                          "mysql (a throwaway server each) or a postgresql:// / mysql:// URL")
    run.add_argument("--child", metavar="OPTIONS_FILE", help=argparse.SUPPRESS)

    command("list", help="list the built-in scenarios")

    rep = command("report", help="render, merge and gate JSON reports and traces")
    rep.add_argument("inputs", nargs="+", metavar="REPORT_OR_TRACE",
                     help="JSON reports, trace files, or the -o path given to 'auditor "
                          "trace' (its per-process files PATH.<pid> are read)")
    rep.add_argument("--format", choices=tuple(FORMATS),
                     help="output format (default: from the output's extension, else text "
                          "on stdout); perfetto: timeline of traces; claims: verdicts")
    rep.add_argument("-o", "--output", metavar="PATH", help="write here instead of stdout")
    _gate(rep)

    base = command("baseline", help="record the findings of reports or traces as known")
    base.add_argument("inputs", nargs="+", metavar="REPORT_OR_TRACE",
                      help="JSON reports or traces whose findings are recorded")
    base.add_argument("-o", "--output", required=True, metavar="FILE",
                      help="the baseline file to write (JSON)")
    base.add_argument("--reason", metavar="TEXT",
                      help="reason recorded with every new entry (edit per entry later; "
                           f"default: {DEFAULT_REASON!r})")

    command("config", help="print the effective configuration and where each value came from")
    comp = command("completion", help="print a shell completion script")
    comp.add_argument("shell", choices=("bash", "zsh", "tcsh"))

    stack = command("stack", help="real nova services (RabbitMQ, placement, Ironic, conductor, "
                                  "computes) on loopback, the computes traced; then a report")
    stack.add_argument("--computes", type=_positive, default=2, metavar="N",
                       help="nova-compute services (default: 2; the last is stopped to "
                            "show the rebalance)")
    stack.add_argument("--nodes", type=_positive, default=6, metavar="N",
                       help="fake-hardware Ironic nodes (default: 6, at least 3)")
    stack.add_argument("--mode", choices=(*MODES, "both"),
                       help="the services' concurrency mode (default: both, one stack each)")
    stack.add_argument("--periodic", type=_positive, default=4, metavar="S",
                       help="seconds between the computes' resource updates (default: 4)")
    _output(stack, "the report", "--report")
    stack.add_argument("--format", choices=tuple(FORMATS),
                       help="report format (default: from the output's extension, else text)")
    _gate(stack)
    stack.add_argument("--workdir", metavar="DIR",
                       help="a new directory for configs, logs, traces (kept; default: a "
                            "temporary one, removed unless --keep)")
    stack.add_argument("--keep", action="store_true",
                       help="keep the work directory (logs, traces, configs)")
    stack.add_argument("--down", metavar="WORKDIR",
                       help="stop whatever a killed run left in WORKDIR, then exit")

    trace = command(
        "trace", help="run a Python program traced (or: trace install|uninstall --venv PATH)",
        usage="%(prog)s [-o PATH] [--interval S] [--debug] [--surfaces LIST] [--exclude PROG] "
              "-- COMMAND ...\n"
              "       %(prog)s install|uninstall --venv PATH")
    trace.add_argument("-o", "--output", default="auditor-trace.jsonl", metavar="PATH",
                       help="trace path; {pid}/{program} substituted, else PATH.<pid> "
                            "(default: auditor-trace.jsonl)")
    trace.add_argument("--interval", type=_positive_float, metavar="S",
                       help="seconds between finding flushes (default: 60)")
    trace.add_argument("--debug", action="store_true",
                       help="also judge DEBUG records the logging configuration drops "
                            "(a full audit's log checks, at a full audit's cost)")
    trace.add_argument("--surfaces", metavar="LIST",
                       help="a lighter profile: hook only these surfaces (comma-separated: "
                            "logging, locks, external, wire, tracker-entry, tracker-state; "
                            "default: all); claims on the others are 'not exercised'")
    trace.add_argument("--exclude", action="append", default=[], metavar="PROG",
                       help="do not trace programs named so (fnmatch; repeatable; a pattern "
                            "may start with -)")
    trace.add_argument("--venv", metavar="PATH", help="with install/uninstall: the venv")
    trace.add_argument("argv", nargs=argparse.REMAINDER, metavar="COMMAND")
    return parser


def joined_values(argv: list[str], options: tuple[str, ...] = ("--exclude",)) -> list[str]:
    """``--exclude -c`` -> ``--exclude=-c`` (before ``--``), so a value may start with -."""
    out, it = [], iter(argv)
    for arg in it:
        if arg == "--":
            out += [arg, *it]
            break
        nxt = next(it, None) if arg in options else None
        out.append(f"{arg}={nxt}" if nxt is not None else arg)
    return out


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text}")
    return value
