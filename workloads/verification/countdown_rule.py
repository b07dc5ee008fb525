"""The Countdown task: the rule that checks an answer, and a search solver that writes its search
as a chain of thought (the small recipe's second teacher backend, named ``countdown-solver``).

The rule never ``eval``s text: the equation is parsed with ``ast`` and only numbers, ``+ - * /``
and parentheses are accepted.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction

SOLVER_NAME = "countdown-solver"
SOLVER_VERSION = "1"
_MAX_EQUATION_CHARS = 200
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"


def countdown_prompt(nums: list[int], target: int) -> str:
    return (
        f"Using the numbers {list(nums)}, create an equation that equals {target}. "
        "You can use basic arithmetic operations (+, -, *, /) and each number exactly once. "
        "Show your work in <think> </think> tags and return the final equation in "
        "<answer> </answer> tags, for example <answer>(1 + 2) / 3</answer>."
    )


def extract_equation(final: str) -> str | None:
    """The last ``<answer>…</answer>`` of the final text; the left side if it carries ``= target``.

    Two reverse scans, linear in the text: a non-greedy regex retries from every unclosed
    ``<answer>`` and is quadratic on a response that opens many."""
    end = final.rfind(ANSWER_CLOSE)
    start = final.rfind(ANSWER_OPEN, 0, end) if end >= 0 else -1
    if start < 0:
        return None
    equation = final[start + len(ANSWER_OPEN) : end].strip()
    if "=" in equation:
        equation = equation.split("=", 1)[0].strip()
    return equation or None


class _Rejected(ValueError):
    pass


def _evaluate(node: ast.AST, numbers: list[int]) -> Fraction:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body, numbers)
    if isinstance(node, ast.Constant) and type(node.value) is int:
        numbers.append(node.value)
        return Fraction(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in (ast.Add, ast.Sub, ast.Mult, ast.Div):
        left, right = _evaluate(node.left, numbers), _evaluate(node.right, numbers)
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        if right == 0:
            raise _Rejected("division by zero")
        return left / right
    shown = type(node.op).__name__ if isinstance(node, ast.BinOp) else type(node).__name__
    raise _Rejected(f"not allowed in a Countdown equation: {shown}")


def check_equation(equation: str, nums: list[int], target: int) -> tuple[bool, str | None]:
    """(correct, reason if not). Uses each given number exactly once, only + - * / ( )."""
    if len(equation) > _MAX_EQUATION_CHARS:
        return False, "equation too long"
    if not re.fullmatch(r"[\d\s+\-*/().]+", equation):
        return False, "characters other than digits, + - * / and parentheses"
    try:
        tree = ast.parse(equation, mode="eval")
        used: list[int] = []
        value = _evaluate(tree, used)
    except (SyntaxError, _Rejected) as err:
        return False, str(err) or "unparsable"
    if Counter(used) != Counter(nums):
        return False, f"uses {sorted(used)}, must use {sorted(nums)} exactly once"
    if value != target:  # exact: a Fraction a millionth away from the target is not the target
        return False, f"evaluates to {_fmt(value)}, not {target}"
    return True, None


def score_countdown(final: str, nums: list[int], target: int) -> tuple[bool, str | None]:
    equation = extract_equation(final)
    if equation is None:
        return False, "no <answer> equation"
    return check_equation(equation, nums, target)


# --- the solver -------------------------------------------------------------------------------


@dataclass
class _Item:
    value: Fraction
    text: str


def _fmt(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def _combinations(a: _Item, b: _Item):
    # Every intermediate is bracketed, so the written equation means what the search computed.
    yield a.value + b.value, f"({a.text} + {b.text})", f"{_fmt(a.value)} + {_fmt(b.value)}"
    yield a.value * b.value, f"({a.text} * {b.text})", f"{_fmt(a.value)} * {_fmt(b.value)}"
    if a.value >= b.value:
        yield a.value - b.value, f"({a.text} - {b.text})", f"{_fmt(a.value)} - {_fmt(b.value)}"
    if b.value != 0 and a.value % b.value == 0:
        yield a.value / b.value, f"({a.text} / {b.text})", f"{_fmt(a.value)} / {_fmt(b.value)}"


@dataclass
class SolverTrace:
    lines: list[str]
    equation: str | None


def solve_countdown(nums: list[int], target: int, *, max_logged: int = 24) -> SolverTrace:
    """Depth-first search over pairs of remaining numbers; every attempt up to ``max_logged`` is
    written down (tries, dead ends, backtracking), later ones are counted, so traces stay short."""
    lines: list[str] = [f"I need to reach {target} using {', '.join(map(str, nums))}, each once."]
    attempts = 0

    def log(line: str) -> None:
        nonlocal attempts
        attempts += 1
        if attempts <= max_logged:
            lines.append(line)

    def search(items: list[_Item], depth: int) -> str | None:
        if len(items) == 1:
            return items[0].text if items[0].value == target else None
        for i in range(len(items)):
            for j in range(len(items)):
                if i == j:
                    continue
                rest = [items[k] for k in range(len(items)) if k not in (i, j)]
                for value, text, shown in _combinations(items[i], items[j]):
                    remaining = [_fmt(r.value) for r in rest] + [_fmt(value)]
                    if len(rest) == 0 and value != target:
                        log(f"{'  ' * depth}Try {shown} = {_fmt(value)}: not {target}, dead end.")
                        continue
                    if rest:
                        log(f"{'  ' * depth}Try {shown} = {_fmt(value)}, leaving {', '.join(remaining)}.")
                    else:
                        log(f"{'  ' * depth}Try {shown} = {_fmt(value)}: that is the target.")
                    found = search(rest + [_Item(value, text)], depth + 1)
                    if found is not None:
                        return found
                    if rest:
                        log(f"{'  ' * depth}That does not work; backtrack.")
        return None

    solution = search([_Item(Fraction(n), str(n)) for n in nums], 0)
    if attempts > max_logged:
        lines.append(f"... {attempts - max_logged} more attempts ...")
    if solution is None:
        lines.append("No combination reaches the target.")
        return SolverTrace(lines, None)
    equation = _strip_outer(solution)
    lines.append(f"Found it: {equation} = {target}.")
    return SolverTrace(lines, equation)


def _strip_outer(text: str) -> str:
    if text.startswith("(") and text.endswith(")"):
        depth = 0
        for i, ch in enumerate(text):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0 and i < len(text) - 1:
                return text
        return text[1:-1]
    return text


def solver_response(nums: list[int], target: int) -> str:
    """A complete teacher response: the search as thinking, then the equation as the answer."""
    trace = solve_countdown(nums, target)
    thinking = "\n".join(trace.lines)
    if trace.equation is None:
        return f"<think>\n{thinking}\n</think>\nI could not find an equation."
    return f"<think>\n{thinking}\n</think>\n<answer>{trace.equation}</answer>"
