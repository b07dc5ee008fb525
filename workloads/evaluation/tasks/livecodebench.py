"""LiveCodeBench code generation (hub layout ``livecodebench/code_generation_lite``): items,
test-case decoding and the execution verdict.

A record has ``question_id``, ``question_title``, ``question_content``, ``platform``
(leetcode | atcoder | codeforces), ``contest_date`` (ISO), ``difficulty``, ``starter_code``,
``public_test_cases`` (JSON list of ``{"input", "output", "testtype"}``), ``private_test_cases``
(the same list, as JSON or compressed: base64 of zlib of a pickled JSON string) and ``metadata``
(JSON; ``func_name`` for LeetCode's call-based problems). The item's reference keeps the test
cases as the hub stores them (compressed ones stay compressed) and is decoded when scored.

A response passes when the last Python code block of its final answer passes every public and
private test in the sandbox (:mod:`workloads.evaluation.sandbox`); the first failing test stops the run.
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
import pickle
import re
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal

from workloads.evaluation.items import DEFAULT_LAYOUT, BenchmarkDataError, Item, Layout
from workloads.evaluation.sandbox import Limits, run_program
from workloads.evaluation.spec import BenchmarkKind

# The per-test limits: LiveCodeBench's own harness allows about 6 s per test.
TEST_LIMITS = Limits(cpu_seconds=6, wall_seconds=12.0, memory_mb=1024, processes=8, file_mb=64)
# Decompressed test cases larger than this are refused (a compression bomb, not a benchmark).
MAX_TESTS_BYTES = 512 << 20
TEST_TYPES = ("stdin", "functional")
# The program header of LiveCodeBench's harness: every name of these modules (as ``from m import *``),
# then the built-ins restored over them (``math.pow`` would otherwise replace ``pow``), then typing's
# names, then the modules themselves; ``exit`` comes from ``sys`` (``python -S`` has no site ``exit``).
HEADER_MODULES = (
    "string", "re", "datetime", "collections", "heapq", "bisect", "copy", "math", "random", "statistics",
    "itertools", "functools", "operator", "io", "sys", "json",
)  # fmt: skip
RECURSION_LIMIT = 50_000
IMPORT_HEADER = (
    "".join(f"from {module} import *\n" for module in (*HEADER_MODULES, "builtins", "typing"))
    + "".join(f"import {module}\n" for module in HEADER_MODULES)
    + f"sys.setrecursionlimit({RECURSION_LIMIT})\n"
)
# Off by default, as in LiveCodeBench: printed numbers are compared by their exact value. A relative
# and absolute tolerance (AtCoder allows 1e-9 on real-valued answers) applies to real-valued
# expected tokens only, never to integers.
FLOAT_TOLERANCE: float | None = None

STDIN_INSTRUCTION = (
    "Write a Python 3 program that reads the input from standard input and writes the answer to standard output. "
    "Give the complete program in one ```python code block."
)
STARTER_INSTRUCTION = "Complete this starter code in Python 3 and give the whole solution in one ```python code block:"


def livecodebench_prompt(question: str, starter_code: str) -> str:
    if starter_code.strip():
        return f"{question.strip()}\n\n{STARTER_INSTRUCTION}\n```python\n{starter_code.rstrip()}\n```"
    return f"{question.strip()}\n\n{STDIN_INSTRUCTION}"


class _DataOnly(pickle.Unpickler):
    """Builds strings, numbers, lists and dicts only: any class or callable is refused, so a
    hostile pickle cannot run code."""

    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"test cases may hold plain data only, not {module}.{name}")


def decode_test_cases(raw: str | list, where: str) -> list[dict]:
    """A test-case field as the hub stores it: a JSON list, or base64(zlib(pickle(JSON string))),
    or the list itself. Every case must hold a string input and output and a known test type."""
    if isinstance(raw, list):
        cases = raw
    elif not isinstance(raw, str):
        raise ValueError(f"{where}: test cases are a {type(raw).__name__}, not a string or a list")
    else:
        cases = _decode(raw, where)
    if not isinstance(cases, list):
        raise ValueError(f"{where}: test cases are a {type(cases).__name__}, not a list")
    for number, case in enumerate(cases, 1):
        if not isinstance(case, dict) or not {"input", "output"} <= set(case):
            raise ValueError(f"{where}: test case {number} is not a {{input, output, testtype}} object")
        wrong = [k for k in ("input", "output") if not _is_text(case[k])]
        if wrong or case.get("testtype", "stdin") not in TEST_TYPES:
            raise ValueError(f"{where}: test case {number}: {wrong} not UTF-8 strings or an unknown testtype")
        if case.get("testtype") == "functional":
            try:
                json.loads(case["output"])
            except json.JSONDecodeError as err:
                raise ValueError(f"{where}: test case {number}: the expected result is not JSON: {err}") from err
    return cases


def _is_text(value) -> bool:
    try:
        return isinstance(value, str) and bool(value.encode() or True)
    except UnicodeEncodeError:  # lone surrogates, which JSON allows
        return False


def _decode(raw: str, where: str):
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        pass
    try:
        inflater = zlib.decompressobj()
        data = inflater.decompress(base64.b64decode(raw), MAX_TESTS_BYTES)
        if inflater.unconsumed_tail:
            raise ValueError(f"{where}: test cases exceed {MAX_TESTS_BYTES >> 20} MiB once decompressed")
        cases = _DataOnly(io.BytesIO(data)).load()
        return json.loads(cases) if isinstance(cases, (str, bytes)) else cases
    except (ValueError, zlib.error, pickle.UnpicklingError, EOFError) as err:
        raise ValueError(f"{where}: test cases are neither JSON nor base64/zlib/pickle: {err}") from err


def _func_name(metadata) -> str | None:
    """``metadata.func_name``, or None where the metadata is not a JSON object naming one (its
    functional tests are then unjudgeable, not a failed load)."""
    if isinstance(metadata, str):
        try:
            metadata = json.loads(metadata or "{}")
        except json.JSONDecodeError:
            return None
    name = metadata.get("func_name") if isinstance(metadata, dict) else None
    return name if isinstance(name, str) else None


def release_date(record: dict, where: str) -> date:
    raw = record.get("contest_date")
    if raw is None:
        raise BenchmarkDataError(f"{where}: a release window needs the field 'contest_date'; fields: {sorted(record)}")
    return date.fromisoformat(str(raw)[:10])


def in_window(records: list[dict], where: str, released_from: str | None, released_until: str | None) -> list[dict]:
    """Records whose ``contest_date`` lies in [from, until] (ISO dates, both ends included)."""
    low = date.fromisoformat(released_from) if released_from else date.min
    high = date.fromisoformat(released_until) if released_until else date.max
    return [r for r in records if low <= release_date(r, where) <= high]


REQUIRED_FIELDS = ("question_id", "question_content", "public_test_cases", "private_test_cases")


def livecodebench_items(records: list[dict], where: str, seed: int = 0, layout: Layout = DEFAULT_LAYOUT) -> list[Item]:
    items = []
    for rec in records:
        missing = [f for f in REQUIRED_FIELDS if f not in rec]
        if missing:
            raise BenchmarkDataError(f"{where}: not a LiveCodeBench record, missing {missing}; fields: {sorted(rec)}")
        reference = {
            "question_id": str(rec["question_id"]),
            "public_test_cases": rec["public_test_cases"],
            "private_test_cases": rec["private_test_cases"],
            "func_name": _func_name(rec.get("metadata")),
        }
        prompt = livecodebench_prompt(str(rec["question_content"]), str(rec.get("starter_code") or ""))
        items.append(Item(f"lcb-{rec['question_id']}", prompt, json.dumps(reference)))
    return items


_CODE_BLOCK = re.compile(r"```(?:python3?|py)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)


def extract_code(final: str) -> str | None:
    """The last fenced code block of the answer (python-tagged or untagged)."""
    blocks = _CODE_BLOCK.findall(final)
    return blocks[-1] if blocks else None


# A plain ASCII decimal numeral (what Decimal() also accepts, less other digits, underscores,
# inf and nan, which are compared as text).
_NUMERAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"[+-]?[0-9]+")


def _same_number(got: str, want: str, float_tolerance: float | None) -> bool:
    """Tokens that differ as text: equal only as numbers of the same kind. An integer answer needs
    an integer printed, of exactly its value; a real-valued one is compared by exact decimal value
    (``0.50`` is ``0.5``), or within ``float_tolerance`` when one is given."""
    if not (_NUMERAL.fullmatch(got) and _NUMERAL.fullmatch(want)):
        return False
    if _INTEGER.fullmatch(want):
        return bool(_INTEGER.fullmatch(got)) and Decimal(got) == Decimal(want)
    if Decimal(got) == Decimal(want):
        return True
    if float_tolerance is None:
        return False
    try:
        return math.isclose(float(got), float(want), rel_tol=float_tolerance, abs_tol=float_tolerance)
    except OverflowError:
        return False


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.strip().split("\n")]


def same_stdout(got: str, want: str, float_tolerance: float | None = None) -> bool:
    """LiveCodeBench's rule: the whole output stripped (leading and trailing blank lines ignored),
    split into lines, each stripped; as many lines as expected, each equal as text or, token by
    token, as numbers (:func:`_same_number`). A line that differs as text and holds a word fails."""
    got_lines, want_lines = _lines(got), _lines(want)
    if len(got_lines) != len(want_lines):
        return False
    for g, w in zip(got_lines, want_lines, strict=True):
        if g == w:
            continue
        g_tokens, w_tokens = g.split(), w.split()
        if len(g_tokens) != len(w_tokens):
            return False
        if not all(_same_number(a, b, float_tolerance) for a, b in zip(g_tokens, w_tokens, strict=True)):
            return False
    return True


def _call_driver(func_name: str) -> str:
    return (
        "\nimport json as _json, sys as _sys\n"
        "_args = [_json.loads(_line) for _line in _sys.stdin.read().split('\\n') if _line.strip()]\n"
        f"_result = Solution().{func_name}(*_args)\n"
        "print('\\n' + _json.dumps(_result))\n"
    )


def _passes(code: str, case: dict, func_name: str | None, limits: Limits) -> tuple[bool, str | None]:
    functional = case.get("testtype") == "functional"
    program = IMPORT_HEADER + code + (_call_driver(func_name) if functional else "")
    result = run_program(program, case["input"], limits)
    if result.status != "ok":
        return False, result.status
    if functional:
        lines = result.stdout.rstrip().splitlines()
        try:
            return bool(lines) and json.loads(lines[-1]) == json.loads(case["output"]), None
        except json.JSONDecodeError:
            return False, "result is not JSON"
    return same_stdout(result.stdout, case["output"], FLOAT_TOLERANCE), None


def livecodebench_verdict(final: str, reference: str, limits: Limits = TEST_LIMITS) -> tuple[bool | None, str | None]:
    try:
        ref = json.loads(reference)
        where = f"LiveCodeBench {ref['question_id']}"  # a reference that is not an object: TypeError
        cases = decode_test_cases(ref["public_test_cases"], where) + decode_test_cases(ref["private_test_cases"], where)
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        return None, f"reference unreadable: {err}"
    if not cases:
        return None, "problem without tests"
    func_name = ref.get("func_name")
    if any(c.get("testtype") == "functional" for c in cases) and not (
        isinstance(func_name, str) and func_name.isidentifier()
    ):
        return None, f"reference unreadable: functional tests need a method name, not {func_name!r}"
    code = extract_code(final)
    if code is None:
        return False, "no code block"
    if not _is_text(code):
        return False, "code is not UTF-8 text"
    for number, case in enumerate(cases):
        passed, why = _passes(code, case, func_name, limits)
        if not passed:
            return False, f"test {number + 1}/{len(cases)} failed" + (f": {why}" if why else "")
    return True, None


def livecodebench_scores(
    completions: Sequence[str], references: Sequence[str], *, workers: int | None = None
) -> list[float | None]:
    """The scorer: many responses at once on threads (each only waits on its own sandboxed
    processes, bounded by their limits), one per core by default."""
    if len(completions) != len(references):
        raise ValueError(f"{len(completions)} completions but {len(references)} references")
    workers = workers or min(16, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        verdicts = list(pool.map(livecodebench_verdict, completions, references))
    return [None if correct is None else float(correct) for correct, _ in verdicts]


KIND = BenchmarkKind(
    "livecodebench",
    load=livecodebench_items,
    verdict=livecodebench_verdict,
    # Generated programs run on threads, each in its own sandboxed processes with their own limits.
    batch_scorer=livecodebench_scores,
    self_bounded=True,
)
