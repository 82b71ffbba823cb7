"""The layout's promises: no import cycle in auditor/, and one registration per check."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from auditor.checks import catalogue, categories, registry
from auditor.events import LogEvent, Site
from auditor.findings import Finding, Rule, Severity
from auditor.report import sarif
from auditor.session import AuditSession

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "auditor"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the auditor modules it imports, read from the source (imports inside
    functions and under ``TYPE_CHECKING`` included)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = graph.setdefault(name, set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                edges.update(a.name for a in node.names if a.name in modules)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                    + ([base] if base else []))
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    edges.add(sub if sub in modules else base)
        graph[name] = (edges & modules.keys()) - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}   # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


class TestImportGraph:
    def test_no_cycle(self):
        """No module of auditor/ imports itself through others, at any depth."""
        graph = import_graph()
        assert len(graph) > 40 and "auditor.tracing.bootstrap" in graph
        assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])

    def test_the_finder_sees_a_cycle_in_a_function(self):
        """The cycle finder reports a cycle closed by an import inside a function."""
        graph = import_graph()
        graph["auditor.events"] = graph["auditor.events"] | {"auditor.session"}
        cycle = find_cycle(graph)
        assert cycle is not None and cycle[0] == cycle[-1]

    def test_front_doors_do_not_cross(self):
        """The pytest plugin does not import the CLI; tracing does not import its bootstrap."""
        graph = import_graph()
        plugin = {m for m in graph if m.startswith("auditor.pytest_plugin")}
        assert not any(dep.startswith("auditor.cli") for m in plugin for dep in graph[m])
        assert "auditor.tracing.bootstrap" not in graph["auditor.tracing.tracer"]

    def test_no_front_door_module_at_the_top(self):
        """No pytest_*.py, trace.py or runner.py directly under auditor/."""
        top = {p.name for p in PACKAGE.glob("*.py")}
        assert not {n for n in top if n.startswith("pytest_")} | (top & {"trace.py", "runner.py"})


THROWAWAY = Rule("throwaway/log-seen", Severity.MEDIUM, "A log record was seen (test rule)")


class _ThrowawayCheck:
    """Reports the first log record of a run."""

    EVENTS = (LogEvent,)

    @classmethod
    def for_run(cls, ctx: registry.RunContext) -> "_ThrowawayCheck":
        return cls(ctx.run)

    def __init__(self, run: str) -> None:
        self.run = run
        self.seen: list[LogEvent] = []

    def observe(self, event: LogEvent):
        self.seen.append(event)
        return ()

    def finish(self):
        return [Finding(THROWAWAY, f"{len(self.seen)} log record(s)", self.seen[0].site,
                        key="first")] if self.seen else []


@pytest.fixture
def throwaway():
    """A check registered from this module, unregistered afterwards."""
    registry.register(THROWAWAY)(_ThrowawayCheck)
    try:
        yield _ThrowawayCheck
    finally:
        registry.unregister(__name__)


class TestRegistry:
    def test_one_registration_reaches_categories_catalogue_and_sarif(self, throwaway):
        """A registered check is a category, has a catalogue entry, runs in a session,
        and its rule is a SARIF rule whose helpUri anchor exists in the catalogue."""
        assert "throwaway" in categories()
        text = catalogue.render()
        assert f'<a id="{catalogue.anchor(THROWAWAY.id)}"></a>' in text
        assert "The layout's promises" in text   # this module's docstring is the entry

        session = AuditSession()   # no hooks: events are fed to the sink directly
        session.begin_run("t1")
        session.sink(LogEvent(0, 0.0, 1, "MainThread", "nova.test", 20,
                              Site("nova/x.py", 3, "f"), "hello", (), "hello", (), None, ()))
        found = session.end_run("passed", 0.1)
        assert [f.rule.id for f in found if f.category == "throwaway"] == [THROWAWAY.id]
        rules = sarif.to_sarif(session.report({"nova": "test"}))["runs"][0]["tool"]["driver"]
        ours = [r for r in rules["rules"] if r["id"] == THROWAWAY.id]
        assert ours and ours[0]["helpUri"].endswith("#" + catalogue.anchor(THROWAWAY.id))

    def test_unregistered_check_is_gone(self, throwaway):
        """After unregistering, nothing derived from the registry mentions it."""
        registry.unregister(__name__)
        assert "throwaway" not in categories()
        assert THROWAWAY.id not in catalogue.render()
