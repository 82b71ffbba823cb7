"""Collect the string literals of the code actually loaded from nova's tracker, Ironic driver
and report client, with what each is bound to: the facts ``hard-coded`` judges.

Nothing is imported: only modules already in ``sys.modules`` are read. Per module: its
string globals; per function and method defined in it (or put on one of its classes, e.g.
by a patch), unwrapped through ``__wrapped__``: default arguments, and every ``str`` in the
``co_consts`` of its code and of every nested code object (f-string parts included), with
the line that loads it and the name it is stored to, passed as or compared with.
"""

from __future__ import annotations

import dis
import functools
import inspect
import linecache
import re
import sys
import types
from typing import Any, Iterator

from auditor.events import CodeLiteral, LoadedCode, Site
from auditor.hooks.sites import relpath
from auditor.nova import hook_points as hp

__all__ = ["SCANNED_MODULES", "collect"]

#: The modules whose loaded code is scanned.
SCANNED_MODULES = (hp.TRACKER_MODULE, hp.IRONIC_DRIVER_MODULE, hp.REPORT_CLIENT_MODULE)

_STORES = {"STORE_FAST", "STORE_NAME", "STORE_GLOBAL", "STORE_DEREF", "STORE_ATTR"}
_NAMED_LOADS = {"LOAD_FAST", "LOAD_NAME", "LOAD_GLOBAL", "LOAD_DEREF", "LOAD_ATTR",
                "LOAD_METHOD", "LOAD_CLOSURE"}
_PUSHES = _NAMED_LOADS | {"LOAD_CONST"}


def _functions(module: types.ModuleType) -> Iterator[Any]:
    """Functions defined in ``module``, and every function on its classes."""
    name = module.__name__
    for value in list(vars(module).values()):
        if inspect.isclass(value) and value.__module__ == name:
            for attr in list(vars(value).values()):
                if isinstance(attr, (staticmethod, classmethod)):
                    attr = attr.__func__
                elif isinstance(attr, property):
                    yield from (f for f in (attr.fget, attr.fset, attr.fdel) if f)
                    continue
                if callable(attr):
                    yield attr
        elif callable(value) and getattr(value, "__module__", None) == name:
            yield value


def _unwrap(fn: Any) -> types.FunctionType | None:
    try:
        fn = inspect.unwrap(fn)
    except ValueError:
        return None
    return fn if isinstance(fn, types.FunctionType) else None


def _site(code: types.CodeType, line: int | None) -> Site:
    return Site(relpath(code.co_filename), line or code.co_firstlineno, code.co_qualname)


@functools.lru_cache(maxsize=4096)
def _code_literals(code: types.CodeType) -> tuple[tuple[CodeLiteral, ...], int]:
    """The literals of ``code`` and its nested code objects, and how many code objects."""
    out: list[CodeLiteral] = []
    count = 1
    ins = list(dis.get_instructions(code))
    for i, op in enumerate(ins):
        line = op.positions.lineno if op.positions else None
        if op.opname == "LOAD_CONST" and isinstance(op.argval, str) and op.argval:
            after = [x.opname for x in ins[i + 1:i + 3]] + ["", ""]
            kind, name = "constant", ""
            if after[0] in _STORES:                                    # name = "x"
                kind, name = "assignment", ins[i + 1].argval
            elif after[0] in _NAMED_LOADS and after[1] == "STORE_ATTR":  # obj.name = "x"
                kind, name = "assignment", ins[i + 2].argval
            elif after[0] == "COMPARE_OP" and i and ins[i - 1].opname in _NAMED_LOADS:
                kind, name = "comparison", ins[i - 1].argval          # name == "x"
            elif after[0] in _NAMED_LOADS and after[1] == "COMPARE_OP":
                kind, name = "comparison", ins[i + 1].argval          # "x" == name
            out.append(CodeLiteral(_site(code, line), kind, name, op.argval))
        elif op.opname == "KW_NAMES":   # call(..., password="x"): the last pushes are the values
            names = code.co_consts[op.arg]
            values = ins[max(0, i - len(names)):i]
            if len(values) == len(names) and all(v.opname in _PUSHES for v in values):
                out += [CodeLiteral(_site(code, line), "keyword", n, v.argval)
                        for n, v in zip(names, values)
                        if v.opname == "LOAD_CONST" and isinstance(v.argval, str) and v.argval]
        elif op.opname == "MAKE_FUNCTION" and op.arg and op.arg & 1 and i >= 2 and \
                ins[i - 2].opname == "LOAD_CONST" and isinstance(ins[i - 2].argval, tuple) and \
                isinstance(ins[i - 1].argval, types.CodeType):   # a nested def's defaults
            out += _defaults(ins[i - 1].argval, ins[i - 2].argval, {}, line)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            nested, n = _code_literals(const)
            out += nested
            count += n
    return tuple(out), count


def _defaults(code: types.CodeType, defaults: tuple, kwdefaults: dict,
              line: int | None = None) -> list[CodeLiteral]:
    names = code.co_varnames[code.co_argcount - len(defaults):code.co_argcount]
    pairs = list(zip(names, defaults)) + list(kwdefaults.items())
    at = _site(code, line or code.co_firstlineno)
    return [CodeLiteral(at, "default", n, v) for n, v in pairs if isinstance(v, str) and v]


def _module_line(path: str, name: str) -> int:
    rx = re.compile(rf"^{re.escape(name)}\s*(?::[^=]*)?=")
    for number, text in enumerate(linecache.getlines(path), 1):
        if rx.match(text):
            return number
    return 0


def collect(stamp: tuple[int, float, int, str]) -> LoadedCode:
    """The literals of every scanned module loaded now (``stamp``: the event's head)."""
    literals: list[CodeLiteral] = []
    modules, functions = [], 0
    for name in SCANNED_MODULES:
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None)
        if module is None or not path:
            continue
        modules.append(relpath(path))
        for var, value in list(vars(module).items()):
            if isinstance(value, str) and value and not var.startswith("__"):
                literals.append(CodeLiteral(Site(relpath(path), _module_line(path, var),
                                                 "<module>"), "module", var, value))
        seen: set[int] = set()
        for fn in _functions(module):
            fn = _unwrap(fn)
            if fn is None or id(fn.__code__) in seen:
                continue
            seen.add(id(fn.__code__))
            found, n = _code_literals(fn.__code__)
            functions += n
            literals += found
            literals += _defaults(fn.__code__, fn.__defaults__ or (), fn.__kwdefaults__ or {})
    return LoadedCode(*stamp, tuple(modules), functions, tuple(literals))
