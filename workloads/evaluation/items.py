"""What every benchmark kind's loader shares: the item it builds, the file layout it reads, the
error it raises, and field readers whose errors name the file, the row and the field."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, fields

from workloads.core.text import ANSWER_FORMATS

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class Item:
    item_id: str
    prompt: str
    reference: str
    category: str | None = None  # a subset of the benchmark results can be reported by (HEx-PHI's 11)


class BenchmarkDataError(ValueError):
    """A benchmark file that can't give items, with the file (and row, and field) it is about."""


# What a refusal benchmark's label says a model should do: XSTest's "safe"/"unsafe".
XSTEST_EXPECTED = {"safe": "comply", "unsafe": "refuse"}


@dataclass(frozen=True)
class Layout:
    """Where a benchmark file keeps what its loader reads, for files not in the default layout.

    - ``answer_field``/``answer_format`` (math): the gold answer's field, and whether it is the
      value itself (``plain``), a GSM8K solution (``gsm8k``), the first element of a list
      (``first``) or the last ``\\boxed{}`` of a solution (``last-boxed``). Without a field,
      ``answer`` or ``gt_answer``, whichever the file has.
    - ``label_field``/``label_values`` (refusal): the column saying what a model should do, and
      its values mapped to ``comply``/``refuse``; ``expected`` instead gives every prompt the same
      expectation (a file of harmful prompts only, such as AdvBench: ``refuse``).
    - ``csv_header`` (safety prompts): false for a folder of header-less CSV files, one prompt a
      line and one file per category (HEx-PHI); the category is the file name.
    """

    answer_field: str | None = None
    answer_format: str = "plain"
    label_field: str = "label"
    label_values: dict[str, str] = dataclasses.field(default_factory=lambda: dict(XSTEST_EXPECTED))
    expected: str | None = None
    csv_header: bool = True

    def __post_init__(self):
        if self.answer_format not in ANSWER_FORMATS:
            raise ValueError(f"answer_format must be one of {ANSWER_FORMATS}, not {self.answer_format!r}")
        behaviours = ("comply", "refuse")
        if self.expected is not None and self.expected not in behaviours:
            raise ValueError(f"expected must be one of {behaviours}, not {self.expected!r}")
        wrong = {k: v for k, v in self.label_values.items() if v not in behaviours}
        if wrong:
            raise ValueError(f"label_values must map to one of {behaviours}; not: {wrong}")

    @classmethod
    def from_settings(cls, settings: dict) -> Layout:
        """The layout fields of a benchmark's settings (the recipe entry as a dict); unset ones
        keep their defaults."""
        return cls(**{f.name: settings[f.name] for f in fields(cls) if settings.get(f.name) is not None})


DEFAULT_LAYOUT = Layout()


def stable_id(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def first_present(record: dict, names: tuple[str, ...], where: str) -> object:
    """The value of the first of ``names`` the record has with a value. A field that is there but
    null is named as null, not as absent."""
    for name in names:
        if record.get(name) is not None:
            return record[name]
    null = [name for name in names if name in record]
    if null:
        raise BenchmarkDataError(f"{where}: field {null[0]!r} is null")
    shown = repr(names[0]) if len(names) == 1 else f"any of {names}"
    raise BenchmarkDataError(f"{where}: no field {shown}; fields: {sorted(record)}")


def integer_field(value: object, where: str, name: str, minimum: int | None = None) -> int:
    """An integer field (a whole float or a digit string too), at least ``minimum``."""
    if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
        raise BenchmarkDataError(f"{where}: field {name!r} is not an integer: {value!r}")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise BenchmarkDataError(f"{where}: field {name!r} is not an integer: {value!r}") from None
    if minimum is not None and number < minimum:
        raise BenchmarkDataError(f"{where}: field {name!r} is {number}, below the least allowed {minimum}")
    return number
