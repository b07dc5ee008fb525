"""LiveCodeBench's own comparison and program header, as general rules: integers compared exactly,
real numbers by decimal value, whitespace and blank lines as its harness treats them, and the
header's names (built-ins restored, its modules, ``exit``) inside the sandbox."""

from __future__ import annotations

import json
import random
from decimal import Decimal

import pytest

from workloads.evaluation.sandbox import run_program
from workloads.evaluation.tasks.livecodebench import HEADER_MODULES, IMPORT_HEADER, livecodebench_verdict, same_stdout

# Unicode decimal digit zeros of other scripts: Arabic-Indic, Extended Arabic-Indic, Devanagari, Bengali, fullwidth.
OTHER_ZEROS = (0x0660, 0x06F0, 0x0966, 0x09E6, 0xFF10)


def random_integers(seed: int, count: int = 300) -> list[int]:
    rng = random.Random(seed)
    return [rng.choice((-1, 1)) * rng.randrange(10 ** rng.randint(1, 60)) for _ in range(count)]


def test_integers_equal_only_to_themselves():
    for n in random_integers(0):
        assert same_stdout(f"{n}\n", str(n))
        for neighbour in {n - 1, n + 1, n * 10, -n} - {n}:
            assert not same_stdout(str(neighbour), str(n)), (neighbour, n)
            assert not same_stdout(str(neighbour), str(n), float_tolerance=1e-6), (neighbour, n)


def test_an_integer_answer_needs_ascii_digits_without_separators_or_exponent():
    for n in random_integers(1):
        text = str(abs(n))
        for zero in OTHER_ZEROS:
            assert not same_stdout(text.translate({48 + d: zero + d for d in range(10)}), text)
        if len(text) > 1:
            assert not same_stdout(f"{text[0]}_{text[1:]}", text)
        stripped = text.rstrip("0")
        if stripped and stripped != text:
            assert not same_stdout(f"{stripped}e{len(text) - len(stripped)}", text)
        assert not same_stdout(f"{text}.0", text)


def test_real_numbers_compare_by_exact_decimal_value_unless_a_tolerance_is_asked_for():
    rng = random.Random(2)
    for _ in range(300):
        value = Decimal(rng.randrange(1, 10**12)).scaleb(-rng.randint(1, 12))
        text = f"{value:f}"
        assert same_stdout(text + "0" * rng.randint(1, 5), text)  # 0.50 is 0.5
        last = Decimal(1).scaleb(-12)
        assert not same_stdout(f"{value + last:f}", text)
        within = last <= max(value, Decimal(1)) * Decimal("1e-9")
        assert same_stdout(f"{value + last:f}", text, float_tolerance=1e-9) is within


@pytest.mark.parametrize(
    "got, want, same",
    [
        ("\n\n5\n", "5", True),  # leading blank lines are ignored, as LiveCodeBench does
        ("  5  \n 6\n\n\n", "5\n6", True),
        ("5\n\n6", "5\n6", False),  # a blank line between counts
        ("1 2  3", "1 2 3", True),
        ("Yes  5", "Yes 5", False),  # a line that differs as text and holds a word fails
        ("nan", "nan", True),
        ("inf", "Infinity", False),
    ],
)
def test_whitespace_and_lines_follow_the_harness(got, want, same):
    assert same_stdout(got, want) is same


def _stdin_reference(output: str, stdin: str = "") -> str:
    tests = json.dumps([{"input": stdin, "output": output, "testtype": "stdin"}])
    return json.dumps({"question_id": "rule", "public_test_cases": tests, "private_test_cases": "[]"})


def test_the_header_restores_built_ins_and_binds_its_modules():
    program = (
        IMPORT_HEADER
        + "import builtins as _b\n"
        + "print([n for n in dir(_b) if n[0] != '_' and n in globals() and globals()[n] is not getattr(_b, n)])\n"
        + f"print([m for m in {HEADER_MODULES!r} if globals()[m] is not sys.modules[m]])\n"
        + "print(pow(2, 64), pow(3, 10**18, 1000000007), bisect_left([1, 2, 3], 2), exit is sys.exit)\n"
    )
    result = run_program(program)
    assert result.status == "ok", result.stderr
    assert result.stdout.splitlines() == ["[]", "[]", f"{2**64} {pow(3, 10**18, 1000000007)} 1 True"]


@pytest.mark.parametrize("ending", ["exit()", "sys.exit(0)", "quit = exit\nquit()"])
def test_a_program_that_prints_and_exits_passes(ending):
    code = f"```python\nn = int(input())\nprint()\nprint(n * 2)\n{ending}\nprint('never')\n```"
    assert livecodebench_verdict(code, _stdin_reference("42\n", "21\n")) == (True, None)
