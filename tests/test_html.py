"""The HTML report, rendered in a real headless Chromium (Debian's ``chromium``, driven by
Playwright): charts drawn with a size, one row per finding, no network request."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from auditor.report import html
from auditor.tracing.trace_file import read_trace

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    """One Chromium for the module (Playwright gives it a fresh temporary profile)."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "install Debian's chromium (.ci/run does)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def load(browser, path: Path) -> tuple:
    """Open ``path``; return the page, every request it made and its console errors."""
    page = browser.new_page()
    requests, errors = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, [u for u in requests if u != path.as_uri()], errors


@pytest.fixture(scope="module")
def page_of_run(tmp_path_factory, run_report, drive_traces):
    """The HTML of the shared real run, with the lock charts of the real trace."""
    path = tmp_path_factory.mktemp("html") / "report.html"
    path.write_text(html.render(run_report[1], [read_trace(p) for p in drive_traces]))
    return path, run_report[1]


class TestInBrowser:
    def test_charts_drawn_with_size(self, browser, page_of_run):
        """The three charts have a non-zero size and hold visible bars."""
        page, _, _ = load(browser, page_of_run[0])
        charts = page.eval_on_selector_all(
            "svg.chart", "els => els.map(e => {const r = e.getBoundingClientRect();"
                         " return [e.getAttribute('aria-label'), r.width, r.height]})")
        assert [c[0] for c in charts] == ["Findings per category",
                                          "Lock wait and hold distribution per lock",
                                          "Holders of compute_resources per thread"]
        assert all(w > 0 and h > 0 for _, w, h in charts), charts
        for chart in ("Findings per category", "Holders of compute_resources per thread"):
            widths = page.eval_on_selector_all(
                f'svg[aria-label="{chart}"] rect',
                "els => els.map(e => e.getBoundingClientRect().width)")
            assert widths and max(widths) > 0, chart
        page.close()

    def test_one_row_per_finding(self, browser, page_of_run):
        """Each finding of the JSON is one table row, found by its fingerprint."""
        page, _, _ = load(browser, page_of_run[0])
        shown = page.eval_on_selector_all("tr.finding", "els => els.map(e => e.dataset.fingerprint)")
        assert sorted(shown) == sorted(f["fingerprint"] for f in page_of_run[1]["findings"])
        assert page.locator("text=The six claims").count() == 1
        assert page.eval_on_selector_all("#claims + table tr", "els => els.length") == 7
        page.close()

    def test_no_network_request(self, browser, page_of_run):
        """Loading the page requests nothing but the file itself and logs no error."""
        page, requests, errors = load(browser, page_of_run[0])
        assert requests == [] and errors == []
        page.close()

    def test_network_check_is_not_vacuous(self, browser, page_of_run, tmp_path):
        """A page that reaches out is caught (the request, or the policy refusing it)."""
        path = tmp_path / "leaky.html"
        path.write_text(page_of_run[0].read_text().replace(
            "</body>", '<img src="http://127.0.0.1:9/x.png"></body>'))
        page, requests, errors = load(browser, path)
        assert requests or errors
        page.close()


class TestPage:
    def test_self_contained(self, page_of_run):
        """One file: styles inline, no script, no external reference."""
        text = page_of_run[0].read_text()
        assert "<style>" in text and "<script" not in text
        assert 'src="http' not in text and "<link" not in text

    def test_baselined_listed_separately_with_stale(self, run_report):
        """Baselined findings get their own table and reason; stale entries are listed."""
        from auditor.report import baseline

        report = run_report[1]
        base = baseline.create([report], reason="triaged in #12")
        base["findings"].append({"fingerprint": "0" * 16, "rule": "lock-io/under-semaphore",
                                 "location": {"path": "nova/x.py", "line": 1,
                                              "function": "gone"}, "reason": "fixed?"})
        page = html.render(baseline.apply(report, base, "b.json"))
        assert f"Baselined and allowed findings ({len(report['findings'])})" in page
        assert "Findings (0)" in page and "triaged in #12" in page
        assert "Baseline entries not seen (1)" in page and "fixed?" in page

    def test_escapes_audited_text(self, run_report):
        """Messages are escaped: markup in audited data is shown, never interpreted."""
        import copy

        report = copy.deepcopy(run_report[1])
        report["findings"][0]["message"] = "<script>alert(1)</script>"
        page = html.render(report)
        assert "<script>" not in page and "&lt;script&gt;" in page

    def test_without_traces_says_where_timing_comes_from(self, run_report):
        """A report without lock timing says so instead of drawing empty charts."""
        page = html.render(run_report[1])
        assert "No lock timing in this report" in page
