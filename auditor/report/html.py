"""HTML output: one self-contained page (no script, no network) with summary, findings, claims,
coverage and inline SVG charts: findings per category, lock wait/hold distribution per lock, and a
timeline of the ``compute_resources`` semaphore's holders per thread.

Lock timing comes from trace spans (``auditor trace``, or the timeline a run or the pytest plugin
records); without them the lock section says so.
"""

from __future__ import annotations

import html
import re
from importlib import resources
from typing import Any, Iterable, Mapping, Sequence

from auditor.report import claims
from auditor.report.gate import counts
from auditor.report.sarif import help_uri

__all__ = ["render", "lock_spans", "MAX_TIMELINE_SPANS", "MAX_LOCKS"]

MAX_TIMELINE_SPANS = 4000   # semaphore holds drawn (the earliest); the page stays small
MAX_LOCKS = 8               # locks with a distribution chart (the most used)
_MAX_THREADS = 40
_SEVERITIES = ("high", "medium", "low")
#: Histogram bins of wait and hold times: upper bounds in seconds (the last is open).
_BINS = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, float("inf"))
_BIN_LABELS = ("<10µs", "<100µs", "<1ms", "<10ms", "<100ms", "<1s", "≥1s")
_SEMAPHORE = "compute_resources"
#: Per-resource locks (one per Ironic node or instance) are charted as one lock.
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def lock_spans(traces: Iterable[Any]) -> list[dict]:
    """Lock holds of every trace on one wall-clock axis: name, thread, start, wait_s, hold_s."""
    out = []
    for trace in traces:
        for r in trace.spans:
            if r.get("event") != "lock":
                continue
            start = trace.wall0 + (float(r["t"]) - trace.t0)
            out.append({"name": _UUID.sub("<uuid>", str(r["name"])), "wait_s": float(r.get("wait_s", 0.0)),
                        "hold_s": float(r.get("hold_s", 0.0)), "start": start,
                        "thread": f"{r.get('thread', r.get('owner'))} ({trace.program} "
                                  f"{trace.pid})", "owner": (trace.pid, r.get("owner"))})
    out.sort(key=lambda s: s["start"])
    return out


# -- charts ------------------------------------------------------------------------------

def _svg(width: int, height: int, label: str, body: list[str]) -> str:
    return (f'<svg class="chart" role="img" aria-label="{_e(label)}" width="{width}" '
            f'height="{height}" viewBox="0 0 {width} {height}" '
            f'xmlns="http://www.w3.org/2000/svg"><title>{_e(label)}</title>'
            + "".join(body) + "</svg>")


def _category_chart(findings: Sequence[Mapping[str, Any]]) -> str:
    counts: dict[str, dict[str, int]] = {}
    for f in findings:
        row = counts.setdefault(f["category"], {})
        row[f["severity"]] = row.get(f["severity"], 0) + 1
    if not counts:
        return '<p class="muted">No findings in what ran.</p>'
    top = max(sum(r.values()) for r in counts.values())
    label_w, bar_w, row_h = 150, 560, 22
    body = []
    for i, (category, row) in enumerate(sorted(counts.items())):
        y = i * row_h
        body.append(f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{_e(category)}'
                    f'</text>')
        x = float(label_w)
        for severity in _SEVERITIES:
            n = row.get(severity, 0)
            if n:
                w = bar_w * n / top
                body.append(f'<rect class="{severity}" x="{x:.1f}" y="{y + 3}" '
                            f'width="{w:.1f}" height="{row_h - 6}"><title>{_e(category)}: '
                            f'{n} {severity}</title></rect>')
                x += w
        body.append(f'<text x="{x + 5:.1f}" y="{y + 15}">{sum(row.values())}</text>')
    return _svg(label_w + bar_w + 40, len(counts) * row_h, "Findings per category", body)


def _bin(seconds: float) -> int:
    return next(i for i, bound in enumerate(_BINS) if seconds < bound)


def _quantile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else 0.0


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def _distribution(spans: list[dict]) -> str:
    by_lock: dict[str, list[dict]] = {}
    for s in spans:
        by_lock.setdefault(s["name"], []).append(s)
    locks = sorted(by_lock, key=lambda n: -len(by_lock[n]))[:MAX_LOCKS]
    panel_w, panel_h, bar_w = 330, 120, 15
    body, rows = [], []
    for i, name in enumerate(locks):
        ox, oy = (i % 3) * (panel_w + 20), (i // 3) * (panel_h + 50)
        hist = {kind: [0] * len(_BINS) for kind in ("wait_s", "hold_s")}
        for s in by_lock[name]:
            for kind in hist:
                hist[kind][_bin(s[kind])] += 1
        top = max(max(h) for h in hist.values()) or 1
        body.append(f'<text x="{ox}" y="{oy + 12}" font-weight="bold">{_e(name[:36])} '
                    f'({len(by_lock[name])} holds)</text>')
        base = oy + 18 + panel_h - 20
        body.append(f'<line class="axis" x1="{ox}" y1="{base}" x2="{ox + panel_w}" '
                    f'y2="{base}"/>')
        for b, label in enumerate(_BIN_LABELS):
            x = ox + 4 + b * (2 * bar_w + 16)
            for k, kind in enumerate(("wait_s", "hold_s")):
                n = hist[kind][b]
                h = (panel_h - 30) * n / top
                body.append(f'<rect class="{kind[:4]}" x="{x + k * bar_w}" y="{base - h:.1f}" '
                            f'width="{bar_w - 2}" height="{h:.1f}"><title>{_e(name)} '
                            f'{kind[:4]} {label}: {n}</title></rect>')
            body.append(f'<text x="{x + bar_w}" y="{base + 13}" text-anchor="middle" '
                        f'font-size="9">{_e(label)}</text>')
        waits = sorted(s["wait_s"] for s in by_lock[name])
        holds = sorted(s["hold_s"] for s in by_lock[name])
        rows.append(f"<tr><td><code>{_e(name)}</code></td><td class=num>{len(holds)}</td>"
                    + "".join(f"<td class=num>{_ms(_quantile(v, q))}</td>"
                              for v in (waits, holds) for q in (0.5, 0.9, 1.0)) + "</tr>")
    height = ((len(locks) + 2) // 3) * (panel_h + 50)
    legend = ('<p class="note">Orange: time waited for the lock; blue: time it was held. '
              'Bars count holds per time bin.</p>')
    table = ("<table><tr><th>lock</th><th class=num>holds</th><th class=num>wait p50 ms</th>"
             "<th class=num>p90</th><th class=num>max</th><th class=num>hold p50 ms</th>"
             "<th class=num>p90</th><th class=num>max</th></tr>" + "".join(rows) + "</table>")
    return (_svg(3 * (panel_w + 20), height, "Lock wait and hold distribution per lock", body)
            + legend + table)


def _timeline(spans: list[dict]) -> str:
    holds = [s for s in spans if _SEMAPHORE in s["name"]]
    if not holds:
        return f'<p class="muted">No hold of {_SEMAPHORE} was recorded.</p>'
    shown = holds[:MAX_TIMELINE_SPANS]
    threads = list(dict.fromkeys(s["thread"] for s in shown))[:_MAX_THREADS]
    row = {t: i for i, t in enumerate(threads)}
    t0 = min(s["start"] - s["wait_s"] for s in shown)
    t1 = max(s["start"] + s["hold_s"] for s in shown)
    span = max(t1 - t0, 1e-6)
    label_w, plot_w, row_h = 260, 820, 16
    scale = plot_w / span
    body = []
    for name, i in row.items():
        body.append(f'<text x="{label_w - 6}" y="{i * row_h + 12}" text-anchor="end">'
                    f'{_e(name[:40])}</text>')
    for s in shown:
        if s["thread"] not in row:
            continue
        y = row[s["thread"]] * row_h + 2
        x_wait = label_w + (s["start"] - s["wait_s"] - t0) * scale
        if s["wait_s"] > 0:
            body.append(f'<rect class="wait" x="{x_wait:.1f}" y="{y}" '
                        f'width="{max(s["wait_s"] * scale, 0.5):.1f}" height="{row_h - 4}"/>')
        x = label_w + (s["start"] - t0) * scale
        body.append(f'<rect class="hold" x="{x:.1f}" y="{y}" '
                    f'width="{max(s["hold_s"] * scale, 0.5):.1f}" height="{row_h - 4}">'
                    f'<title>{_e(s["thread"])}: held {_ms(s["hold_s"])} ms after waiting '
                    f'{_ms(s["wait_s"])} ms</title></rect>')
    base = len(row) * row_h + 4
    body.append(f'<line class="axis" x1="{label_w}" y1="{base}" x2="{label_w + plot_w}" '
                f'y2="{base}"/>')
    for k in range(6):
        x = label_w + plot_w * k / 5
        body.append(f'<text x="{x:.1f}" y="{base + 14}" text-anchor="middle">'
                    f'{span * k / 5:.2f}s</text>')
    note = (f" (the first {len(shown)} of {len(holds)} holds)" if len(holds) > len(shown)
            else "") + (f"; {len(threads)} of the threads shown" if len(row) < len(
                set(s["thread"] for s in shown)) else "")
    return (_svg(label_w + plot_w + 30, base + 20, f"Holders of {_SEMAPHORE} per thread", body)
            + f'<p class="note">Blue: {_SEMAPHORE} held; orange: waiting for it{note}.</p>')


# -- tables ------------------------------------------------------------------------------

def _finding_rows(findings: Sequence[Mapping[str, Any]], rules: Mapping[str, Any],
                  docs: str | None) -> str:
    rows = []
    for f in findings:
        loc, rule = f["location"], rules.get(f["rule"], {})
        where = f"{loc['path']}:{loc['line']}" if loc.get("line") else loc["path"]
        evidence = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>"
                           for k, v in f.get("evidence", {}).items())
        mark = f.get("baseline") or f.get("allowed")
        why = (f'<br><span class="badge">{"baselined" if "baseline" in f else "allowed"}'
               f'</span> {_e(mark["reason"])}' if mark else "")
        runs = ", ".join(f["runs"][:5]) + (f" (+{len(f['runs']) - 5} more)"
                                           if len(f["runs"]) > 5 else "")
        rows.append(
            f'<tr class="finding" data-fingerprint="{_e(f["fingerprint"])}">'
            f'<td class="sev sev-{_e(f["severity"])}">{_e(f["severity"])}</td>'
            f'<td><a href="{_e(help_uri(f["rule"], docs))}"><code>{_e(f["rule"])}</code></a></td>'
            f'<td class="loc">{_e(where)}<br>{_e(loc["function"])}</td>'
            f'<td>{_e(f["message"])}{why}<details><summary>evidence and rule help</summary>'
            f'<dl class="evidence">{evidence}<dt>runs</dt><dd>{_e(runs)}</dd>'
            f'<dt>fingerprint</dt><dd><code>{_e(f["fingerprint"])}</code></dd></dl>'
            f'<p><b>{_e(rule.get("title", f["rule"]))}</b>. {_e(rule.get("help", ""))}</p>'
            f'</details></td><td class="num">{_e(f["count"])}</td></tr>')
    return ("<table><tr><th>severity</th><th>rule</th><th>location</th><th>finding</th>"
            "<th class=num>count</th></tr>" + "".join(rows) + "</table>")


def _claims(report: Mapping[str, Any]) -> str:
    rows = []
    for c in claims.evaluate(report):
        events = ", ".join(f"{k} {v}" for k, v in c["events"].items()) or "no runtime signal"
        rows.append(f'<tr><td class="verdict-{c["verdict"].replace(" ", "-")}">'
                    f'{_e(c["verdict"])}</td><td><b>{_e(c["area"])}</b>: {_e(c["claim"])}'
                    + (f'<br><span class="note">{_e(c["reason"])}</span>' if c["reason"] else "")
                    + f'</td><td class=num>{c["findings"]}</td><td>{_e(events)}</td></tr>')
    return ("<table><tr><th>verdict</th><th>claim of a static review</th>"
            "<th class=num>findings</th><th>events</th></tr>" + "".join(rows) + "</table>")


def _coverage(coverage: Mapping[str, Any]) -> str:
    rows = []
    for name, entry in coverage.items():
        if isinstance(entry, Mapping) and "total" in entry and not entry.get("facts"):
            hit, total = int(entry.get("hit", 0)), int(entry.get("total", 0))
            pct = 100 * hit / total if total else 0
            rows.append(f"<tr><td>{_e(name.replace('_', ' '))}</td><td class=num>{hit}/{total}"
                        f'</td><td><span class="bar"><span style="width:{pct:.0f}%"></span>'
                        f"</span></td></tr>")
    missing = coverage.get("missing_hook_points") or []
    return ("<table><tr><th>what exists in the tracker</th><th class=num>ran</th><th></th></tr>"
            + "".join(rows) + "</table>"
            + f'<p class="note">Missing hook points: {_e(", ".join(missing) or "none")}. '
              "The auditor vouches only for what ran.</p>")


def _summary(report: Mapping[str, Any], new: int, known: int) -> str:
    runs = report.get("runs", [])
    outcomes: dict[str, int] = {}
    for r in runs:
        outcomes[r.get("outcome", "?")] = outcomes.get(r.get("outcome", "?"), 0) + 1
    target = ", ".join(f"{k} {v}" for k, v in report.get("target", {}).items())
    cards = [("findings", len(report["findings"]),
              f"{new} new, {known} baselined or allowed" if known else "")]
    cards += [(f"{s}", report["summary"].get("findings_by_severity", {}).get(s, 0), "")
              for s in _SEVERITIES]
    cards.append(("runs", len(runs), ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items()))))
    cards.append(("duration", f"{sum(float(r.get('duration_s') or 0) for r in runs):.1f} s", ""))
    return (f'<p class="muted">target: {_e(target or "unknown")}</p><div class="cards">'
            + "".join(f'<div class="card"><div class="big">{_e(v)}</div>{_e(k)}'
                      f'<div class="note">{_e(d)}</div></div>' for k, v, d in cards)
            + "</div>")


def render(report: Mapping[str, Any], traces: Iterable[Any] = (), *,
           docs: str | None = None) -> str:
    """The page. ``traces``: parsed traces (``Trace``-like: ``spans``, ``pid``, ``program``,
    ``t0``, ``wall0``) for the lock charts; ``docs``: base URL of the rule catalogue.
    """
    css = (resources.files("auditor.report") / "assets" / "report.css").read_text("utf-8")
    findings = report["findings"]
    new = [f for f in findings if counts(f)]
    known = [f for f in findings if not counts(f)]
    rules = report.get("rules", {})
    spans = lock_spans(traces)
    tool = report.get("tool", {})
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">",
        f"<title>nova-rt-auditor report</title><style>{css}</style></head><body>",
        f"<h1>nova-rt-auditor report</h1><p class=muted>{_e(tool.get('name', 'auditor'))} "
        f"{_e(tool.get('version', ''))}, schema {_e(report.get('schema', ''))}</p>",
        _summary(report, len(new), len(known)),
        "<h2 id=categories>Findings per category</h2>", _category_chart(findings),
        f"<h2 id=findings>Findings ({len(new)})</h2>",
        _finding_rows(new, rules, docs) if new else '<p class="muted">None.</p>',
    ]
    if known:
        parts += [f"<h2 id=known>Baselined and allowed findings ({len(known)})</h2>",
                  '<p class="note">Known findings with a reason: they do not count toward '
                  "--fail-on.</p>", _finding_rows(known, rules, docs)]
    stale = report.get("baseline", {}).get("stale", [])
    if stale:
        parts += [f"<h2 id=stale>Baseline entries not seen ({len(stale)})</h2><table>"
                  + "".join(f"<tr><td><code>{_e(s['rule'])}</code></td><td class=loc>"
                            f"{_e(s['location'].get('path'))} {_e(s['location'].get('function'))}"
                            f"</td><td>{_e(s['reason'])}</td></tr>" for s in stale)
                  + "</table>"]
    parts += ["<h2 id=claims>The six claims</h2>", _claims(report),
              "<h2 id=coverage>Coverage</h2>", _coverage(report.get("coverage", {})),
              "<h2 id=locks>Locks</h2>"]
    if spans:
        parts += ["<h3>Wait and hold times per lock</h3>", _distribution(spans),
                  f"<h3>Holders of {_SEMAPHORE}</h3>", _timeline(spans)]
    else:
        parts.append('<p class="muted">No lock timing in this report: it comes from traces '
                     "(auditor trace) or a run's --timeline.</p>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
