"""What ``auditor run`` and ``auditor report`` share after the findings are in: the effective
settings (command line over the configuration file), reading reports and traces, applying allow
entries and a baseline, writing the output, the closing summary and the exit status.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Sequence

from auditor.cli.parser import UsageError

__all__ = ["settings", "check_output", "read_inputs", "apply_known", "write", "closing",
           "exit_status"]


def settings(args, **extra: Any):
    """The effective configuration: the file found from the working directory, the command
    line's values over it (``extra``: values named differently on this command)."""
    from auditor import config

    try:
        conf = config.discover()
    except config.ConfigError as e:
        raise UsageError(str(e)) from None
    given = {"fail-on": getattr(args, "fail_on", None), "baseline": getattr(args, "baseline", None),
             "docs-url": getattr(args, "docs_url", None),
             "source-root": getattr(args, "source_root", None), **extra}
    conf = conf.with_command_line(given)
    if conf["baseline"]:
        load_baseline(conf["baseline"])   # a bad baseline stops us before any work
    return conf


def load_baseline(path: str) -> dict:
    from auditor.report import baseline

    try:
        return baseline.load(path)
    except baseline.BaselineError as e:
        raise UsageError(str(e)) from None


def check_output(path: str | None, fmt: str | None) -> str | None:
    """The output's format (``fmt``, or from its extension); ``UsageError`` if it is a
    directory, its directory is missing, it is not writable or the extension names no format."""
    from auditor.report.formats import FORMATS

    if path is None:
        return fmt
    if os.path.isdir(path) or not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        raise UsageError(f"cannot write {path!r}: it is a directory or its directory "
                         f"does not exist")
    if not os.access(path if os.path.exists(path) else os.path.dirname(os.path.abspath(path)),
                     os.W_OK):
        raise UsageError(f"cannot write {path!r}: permission denied")
    if fmt:
        return fmt
    ext = os.path.splitext(path)[1].lower()
    found = [f.name for f in FORMATS.values() if f.extension == ext]
    if ext and not found:
        known = ", ".join(f.extension for f in FORMATS.values() if f.extension)
        raise UsageError(f"cannot tell the format of {path!r} from its extension; use one of "
                         f"{known} or --format")
    return found[0] if found else "json"


def read_inputs(paths: Sequence[str], *, spans: bool = False):
    """``report.inputs.Inputs`` of ``paths``: every readable report and trace (a path that
    ``auditor trace -o`` was given stands for its per-process files), one problem line per
    file skipped (printed here); ``UsageError`` (one line) if none could be read."""
    from auditor.report.inputs import read_inputs as read
    from auditor.tracing.trace_file import trace_files

    files = []
    for given in paths:
        found = [given] if os.path.lexists(given) else trace_files(given)
        if not found:
            raise UsageError(f"no such file: {given!r} (nor trace files {given}.<pid> "
                             f"written by 'auditor trace -o {given}'; a traced process "
                             f"that never imports nova writes none)")
        files += found
    inputs = read(files, spans=spans)
    if not inputs.reports:
        raise UsageError(inputs.problems[0] if len(inputs.problems) == 1 else
                         f"none of the {len(inputs.problems)} inputs could be read: "
                         + "; ".join(inputs.problems))
    for problem in inputs.problems:
        print(f"auditor: skipped: {problem}", file=sys.stderr)
    for t in inputs.traces:
        if t.truncated:
            print(f"auditor: {t.path}: last line cut (process killed mid-write); ignored",
                  file=sys.stderr)
    return inputs


def apply_known(report: dict, conf) -> dict:
    """``report`` with the configuration's allow entries and the baseline applied."""
    from auditor.report import baseline

    try:
        return baseline.apply_known(report, conf)
    except baseline.BaselineError as e:
        raise UsageError(str(e)) from None


def write(report: dict, traces: Sequence, fmt: str, path: str | None, conf) -> str:
    """Render ``report`` (and ``traces``) as ``fmt``; write it to ``path`` or return it."""
    from auditor.report.formats import render

    text = render(fmt, report, traces, docs=conf["docs-url"], source_root=conf["source-root"])
    if path:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    return text


def closing(report: dict, conf, written: Sequence[str], errored: Sequence[str] = (),
            source: str | None = None) -> list[str]:
    """The last lines: the verdict, where the full report is, what to do next.

    ``source``: the report or traces to name in the suggested ``auditor baseline``.
    """
    from auditor.report.model import failing

    over = failing(report, conf["fail-on"])
    known = len([f for f in report["findings"] if "baseline" in f or "allowed" in f])
    lines = []
    if over:
        lines.append(f"{len(over)} new finding(s) at or above --fail-on {conf['fail-on']} "
                     f"({conf.source('fail-on')}): exit status 1")
    else:
        lines.append(f"no new finding at or above --fail-on {conf['fail-on']} "
                     f"({conf.source('fail-on')})")
    if known:
        lines.append(f"{known} known finding(s) not counted (baseline or allow entries)")
    stale = report.get("baseline", {}).get("stale", [])
    if stale:
        lines.append(f"{len(stale)} baseline entr{'y' if len(stale) == 1 else 'ies'} not seen: "
                     f"fixed, or not reached (listed in the report)")
    lines += [f"errored: {run_id} did not complete" for run_id in errored]
    lines += [f"written: {path}" for path in written]
    if over:
        source = source or next((p for p in written if p.endswith(".json")), None)
        lines.append("next: each rule is explained in docs/rules.md; to accept the findings "
                     "as known: " + (f"auditor baseline {source} -o auditor-baseline.json"
                                     if source else "rerun with -o report.json, then "
                                                    "auditor baseline report.json -o FILE"))
    return lines


def exit_status(report: dict, conf, errored: Sequence[str] = ()) -> int:
    from auditor.report.model import failing

    return 1 if failing(report, conf["fail-on"]) or errored else 0
