"""Versions derived from code: a digest of what a function computes, so a version moves whenever
the behaviour it names can.

The digest of a function covers its syntax tree (not its text: comments, docstrings and
formatting do not count) and, transitively, every project function, class and constant it reads
by name: helpers, regular expressions, phrase lists, prompt templates. Library code is covered by
the library's version, which callers add where a library decides the result (math-verify,
lm-eval). Constants of other types (paths, clients) count by type only, so a digest is the same on
every machine.

Code is named without its module, so moving a function to another module moves no version.
The syntax tree's printed form can differ between Python minor versions: moving the orchestrator
to another Python changes every version once.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import re
import textwrap
import types
from dataclasses import dataclass, field

PROJECT_PACKAGE = "workloads"
_LITERALS = (str, bytes, int, float, bool, type(None))


def _tree(obj) -> str:
    tree = ast.parse(textwrap.dedent(inspect.getsource(obj)))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and body:
            first = body[0]
            if isinstance(first, ast.Expr) and isinstance(getattr(first.value, "value", None), str):
                node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, annotate_fields=False)


def _ours(obj) -> bool:
    module = getattr(obj, "__module__", None) or ""
    return module == PROJECT_PACKAGE or module.startswith(PROJECT_PACKAGE + ".")


def _names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):  # lambdas, comprehensions and nested functions
            names |= _names(const)
    return names


def _counts(name: str, value) -> bool:
    """Whether a global a function reads is part of its behaviour: project code, and constants
    (UPPER_CASE by convention). Lower-case globals are state (caches, loaded modules) whose value
    depends on what ran before, not on the code."""
    bare = name.lstrip("_")
    return _ours(value) or isinstance(value, types.ModuleType) or (bare.upper() == bare and bare != "")


@dataclass
class _Walk:
    parts: list[str] = field(default_factory=list)
    seen: dict[int, str] = field(default_factory=dict)  # project code already expanded, by id
    opaque: dict[int, str] = field(default_factory=dict)  # objects named, never expanded, by id


def _describe(obj, ctx: _Walk) -> str:
    """A stable description of ``obj``; project functions and classes are expanded into ``ctx.parts``."""
    if id(obj) in ctx.opaque:
        return ctx.opaque[id(obj)]
    if isinstance(obj, _LITERALS):
        return repr(obj)
    if isinstance(obj, re.Pattern):
        return f"re({obj.pattern!r}, {obj.flags})"
    if isinstance(obj, (tuple, list)):
        return "[" + ", ".join(_describe(v, ctx) for v in obj) + "]"
    if isinstance(obj, (set, frozenset)):
        return "{" + ", ".join(sorted(_describe(v, ctx) for v in obj)) + "}"
    if isinstance(obj, dict):
        items = (f"{_describe(k, ctx)}: {_describe(v, ctx)}" for k, v in obj.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(obj, (types.FunctionType, type)) and _ours(obj):
        # By its name alone, not its module: moving code between modules changes no behaviour.
        name = obj.__qualname__
        if id(obj) not in ctx.seen:
            ctx.seen[id(obj)] = name
            if obj.__name__ == "<lambda>":  # its source is the middle of a line: use its code instead
                consts = [c for c in obj.__code__.co_consts if not isinstance(c, types.CodeType)]
                ctx.parts.append(f"{name} = {obj.__code__.co_code.hex()} {_describe(consts, ctx)}")
            else:
                ctx.parts.append(f"{name} = {_tree(obj)}")
            functions = (
                [obj]
                if isinstance(obj, types.FunctionType)
                else [f for f in vars(obj).values() if isinstance(f, types.FunctionType)]
            )
            for function in functions:
                for ref in sorted(_names(function.__code__)):
                    if ref in function.__globals__ and _counts(ref, function.__globals__[ref]):
                        ctx.parts.append(f"{name} reads {ref} = {_describe(function.__globals__[ref], ctx)}")
        return name
    if isinstance(obj, types.ModuleType):
        return f"module {obj.__name__}"
    if callable(obj):  # library code: its library's version speaks for it
        return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', type(obj).__name__)}"
    return f"<{type(obj).__name__}>"


def code_digest(*roots, opaque: dict[str, object] | None = None, length: int = 12) -> str:
    """A digest of the roots (functions, classes, constants) and everything of the project they
    read, transitively. ``opaque`` objects (by name) count by that name only: registries that
    dispatch on a kind, whose entry for the kind at hand is a root of its own."""
    ctx = _Walk(opaque={id(value): f"<{name}>" for name, value in (opaque or {}).items()})
    for root in roots:
        ctx.parts.append(f"root {_describe(root, ctx)}")
    return hashlib.sha256("\n".join(ctx.parts).encode()).hexdigest()[:length]
