"""A recipe's errors, each naming the field's path (``training.save_every: ...``), with a
did-you-mean for unknown keys."""

from __future__ import annotations

import difflib
from typing import get_args

from pydantic import BaseModel


class RecipeError(ValueError):
    """A recipe that cannot run; the message names the file and the field."""


class FieldProblem(ValueError):
    """Raised by a validator about one of its model's fields (``where``, relative to the model)."""

    def __init__(self, where: str, message: str):
        super().__init__(message)
        self.where = where


def require(ok: bool, where: str, message: str) -> None:
    if not ok:
        raise FieldProblem(where, message)


def did_you_mean(word: str, choices) -> str:
    """``; did you mean 'x'?`` for the closest choice, or nothing."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def describe(error: dict, root: type[BaseModel]) -> str:
    """One pydantic error of the model ``root`` as ``field.path: what is wrong (what is allowed)``."""
    loc = list(error["loc"])
    kind, ctx = error["type"], error.get("ctx") or {}
    message = error["msg"]
    if isinstance(ctx.get("error"), FieldProblem):
        problem = ctx["error"]
        loc += [p for p in problem.where.split(".") if p]
        message = str(problem)
    elif kind == "value_error":
        message = str(ctx.get("error", message))
    elif kind == "extra_forbidden":
        allowed = list(_section_at(root, loc[:-1]).model_fields)
        message = f"unknown key{did_you_mean(str(loc[-1]), allowed)} (allowed: {', '.join(allowed)})"
    elif kind == "missing":
        message = "required field is missing"
    elif kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        message = f"{error['input']!r} is out of range: must be {_allowed_range(root, loc, ctx)}"
    elif isinstance(error.get("input"), (str, int, float)):
        message = f"{message} (got {error['input']!r})"
    if "[key]" in loc:
        loc.remove("[key]")
        message = f"not a valid key: {message}"
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    return f"{path or 'recipe'}: {message}"


def _section_at(root: type[BaseModel], loc: list) -> type[BaseModel]:
    """The model of the section at ``loc`` (walking dict values and optional sections)."""
    model = root
    for part in loc:
        if isinstance(part, str) and part in model.model_fields:
            annotation = model.model_fields[part].annotation
            nested = [
                a for a in (annotation, *get_args(annotation)) if isinstance(a, type) and issubclass(a, BaseModel)
            ]
            if nested:
                model = nested[-1]
    return model


def _allowed_range(root: type[BaseModel], loc: list, ctx: dict) -> str:
    """A numeric field's bounds as an interval, e.g. ``in (0, 1]`` or ``>= -1`` (pydantic's error
    carries only the bound that failed)."""
    info = _section_at(root, loc[:-1]).model_fields.get(str(loc[-1]))
    bounds: dict = {}
    for m in info.metadata if info else []:
        for k in ("gt", "ge", "lt", "le"):
            if hasattr(m, k):
                tighter = max if k in ("gt", "ge") else min
                bounds[k] = tighter(bounds.get(k, getattr(m, k)), getattr(m, k))
    bounds = bounds or ctx
    low = ("(", bounds["gt"]) if "gt" in bounds else ("[", bounds["ge"]) if "ge" in bounds else None
    high = (")", bounds["lt"]) if "lt" in bounds else ("]", bounds["le"]) if "le" in bounds else None
    if low and high:
        return f"in {low[0]}{low[1]}, {high[1]}{high[0]}"
    if low:
        return f"{'>' if low[0] == '(' else '>='} {low[1]}"
    if high:
        return f"{'<' if high[0] == ')' else '<='} {high[1]}"
    return "in range"
