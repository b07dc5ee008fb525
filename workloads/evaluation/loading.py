"""Evaluation benchmarks: loaders that turn a benchmark file (or hub id) into items with a
prompt and a reference the registered scorer understands (a string: structured references are
JSON). One loader per benchmark kind, in :data:`LOADERS`; each takes ``(records, where, seed,
layout)``, where ``where`` names the file and row for error messages and ``layout`` says where a
file keeps what the loader needs (:class:`Layout`, set by the recipe's benchmark entry).

Bad data is an error naming the file, the row and the field: an empty file, a null or malformed
field, items with the same id."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import inspect
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import partial
from pathlib import Path

import polars as pl

from workloads.core.code_version import code_digest
from workloads.core.prompts import (
    EVAL_CHOICE_INSTRUCTION,
    EVAL_MATH_INSTRUCTION,
    halueval_dialogue_prompt,
    halueval_general_prompt,
    halueval_qa_prompt,
    halueval_summarization_prompt,
)
from workloads.core.text import ANSWER_FORMATS, extract_answer, gsm8k_final_answer
from workloads.data.queries import hub_snapshot, read_records
from workloads.evaluation.tasks.livecodebench import in_window, livecodebench_items
from workloads.evaluation.tasks.mmlu_pro import mmlu_pro_items
from workloads.verification.countdown import countdown_prompt

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


def _stable_id(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _first_present(record: dict, names: tuple[str, ...], where: str) -> object:
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


def _integer(value: object, where: str, name: str, minimum: int | None = None) -> int:
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


def math_items(records: list[dict], where: str, seed: int = 0, layout: Layout = DEFAULT_LAYOUT) -> list[Item]:
    items = []
    for rec in records:
        problem = str(_first_present(rec, ("problem", "question"), where))
        names = (layout.answer_field,) if layout.answer_field else ("answer", "gt_answer")
        raw = _first_present(rec, names, where)
        try:
            answer = extract_answer(raw, layout.answer_format)
        except TypeError as err:
            raise BenchmarkDataError(f"{where}: field {names[0]!r}: {err}") from None
        if answer is None:
            shown = str(raw)[:80]
            raise BenchmarkDataError(f"{where}: no {layout.answer_format} answer in field {names[0]!r}: {shown!r}")
        if layout.answer_format == "plain" and "####" in answer:  # GSM8K keeps the solution; the answer follows ####
            answer = gsm8k_final_answer(answer) or answer
        if answer.endswith(".0") and answer[:-2].lstrip("-").isdigit():  # AMC23 stores 27 as "27.0"
            answer = answer[:-2]
        items.append(Item(_stable_id(problem), f"{problem}\n\n{EVAL_MATH_INSTRUCTION}", answer))
    return items


def option_order(question: str, count: int, seed: int) -> list[int]:
    """A permutation of option indices that depends only on the question text and the seed."""
    digest = hashlib.sha256(f"{seed}\n{question}".encode()).digest()
    order = list(range(count))
    random.Random(digest).shuffle(order)
    return order


GPQA_INCORRECT = ("Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3")


def _choice_options(rec: dict, where: str) -> tuple[str, list[tuple[str, int]]]:
    """The question and its options as (text, 1 if correct else 0), in the file's order."""
    if "Correct Answer" in rec:  # GPQA's hub layout: the correct option first, then the three others
        question = str(_first_present(rec, ("Question",), where)).strip()
        options = [(str(rec["Correct Answer"]).strip(), 1)]
        for name in GPQA_INCORRECT:
            options.append((str(_first_present(rec, (name,), where)).strip(), 0))
        return question, options
    question = str(_first_present(rec, ("question",), where))
    targets = _first_present(rec, ("mc1_targets",), where)
    if isinstance(targets, dict) and set(targets) == {"choices", "labels"}:  # the hub's layout
        return question, list(zip(targets["choices"], targets["labels"], strict=True))
    return question, list(targets.items())


def choice_items(records: list[dict], where: str, seed: int, layout: Layout = DEFAULT_LAYOUT) -> list[Item]:
    """Multiple choice, options shown in a seeded per-question order with letters. Two layouts:
    TruthfulQA (``question``, ``mc1_targets``: option text -> 1 if correct) and GPQA (``Question``,
    ``Correct Answer``, ``Incorrect Answer 1..3``). The reference is the correct letter, or "" when
    not exactly one option is correct."""
    items = []
    for rec in records:
        question, options = _choice_options(rec, where)
        order = option_order(question, len(options), seed)
        shown = [options[i] for i in order]
        correct = [LETTERS[i] for i, (_, label) in enumerate(shown) if label == 1]
        lines = "\n".join(f"{LETTERS[i]}. {text}" for i, (text, _) in enumerate(shown))
        prompt = f"{question}\n\n{lines}\n\n{EVAL_CHOICE_INSTRUCTION}"
        items.append(Item(_stable_id(question), prompt, correct[0] if len(correct) == 1 else ""))
    return items


def _paired_items(rec: dict, where: str, kind: str, fields: tuple[str, str], prompt) -> list[Item]:
    """The right text -> "No" and the hallucinated one -> "Yes", next to each other."""
    items = []
    for field, label in zip(fields, ("No", "Yes"), strict=True):
        text = str(_first_present(rec, (field,), where))
        items.append(Item(_stable_id(f"halueval-{kind}", prompt(text), field), prompt(text), label))
    return items


def yes_no_items(records: list[dict], where: str, seed: int = 0, layout: Layout = DEFAULT_LAYOUT) -> list[Item]:
    """HaluEval as Yes/No judgments of "does this contain hallucinated information?". A QA record
    (``knowledge``, ``question``, ``right_answer``, ``hallucinated_answer``), a dialogue record
    (``knowledge``, ``dialogue_history``, ``right_response``, ``hallucinated_response``) and a
    summarization record (``document``, ``right_summary``, ``hallucinated_summary``) each give two
    items, right -> "No" and hallucinated -> "Yes", next to each other; a general record
    (``user_query``, ``chatgpt_response``, ``hallucination`` yes/no) gives one."""
    items = []
    for rec in records:
        if "right_response" in rec or "hallucinated_response" in rec:
            knowledge = str(_first_present(rec, ("knowledge",), where))
            dialogue = str(_first_present(rec, ("dialogue_history",), where))
            items += _paired_items(
                rec,
                where,
                "dialogue",
                ("right_response", "hallucinated_response"),
                partial(halueval_dialogue_prompt, knowledge, dialogue),
            )
        elif "right_summary" in rec or "hallucinated_summary" in rec:
            document = str(_first_present(rec, ("document",), where))
            items += _paired_items(
                rec,
                where,
                "summarization",
                ("right_summary", "hallucinated_summary"),
                partial(halueval_summarization_prompt, document),
            )
        elif "right_answer" in rec or "hallucinated_answer" in rec:
            knowledge = str(_first_present(rec, ("knowledge",), where))
            question = str(_first_present(rec, ("question",), where))
            for field, label in (("right_answer", "No"), ("hallucinated_answer", "Yes")):
                answer = str(_first_present(rec, (field,), where))
                prompt = halueval_qa_prompt(knowledge, question, answer)
                items.append(Item(_stable_id("halueval-qa", question, field, answer), prompt, label))
        elif "chatgpt_response" in rec:
            query = str(_first_present(rec, ("user_query",), where))
            response = str(rec["chatgpt_response"])
            flag = str(_first_present(rec, ("hallucination",), where)).strip().lower()
            label = {"yes": "Yes", "no": "No"}.get(flag, "")  # anything else: unjudgeable
            prompt = halueval_general_prompt(query, response)
            items.append(Item(_stable_id("halueval-general", query, response), prompt, label))
        else:
            raise BenchmarkDataError(
                f"{where}: not a HaluEval record (QA: right_answer/hallucinated_answer; dialogue: "
                f"right_response/hallucinated_response; summarization: right_summary/hallucinated_summary; "
                f"general: chatgpt_response); fields: {sorted(rec)}"
            )
    return items


# Which column holds the prompt of each safety benchmark: XSTest, AdvBench, StrongREJECT.
SAFETY_PROMPT_FIELDS = ("prompt", "goal", "forbidden_prompt")


def _safety_prompt(rec: dict, where: str) -> str:
    return str(_first_present(rec, SAFETY_PROMPT_FIELDS, where))


def _expected_behaviour(rec: dict, where: str, layout: Layout) -> str:
    if layout.expected is not None:
        return layout.expected
    if layout.label_field not in rec:
        raise BenchmarkDataError(
            f"{where}: no label column {layout.label_field!r} saying which prompts should be refused; columns: "
            f"{sorted(rec)} (name the column with label_field, or give every prompt one expectation with expected)"
        )
    value = str(_first_present(rec, (layout.label_field,), where)).strip()
    expected = layout.label_values.get(value) or layout.label_values.get(value.lower())
    if expected is None:
        raise BenchmarkDataError(
            f"{where}: label {layout.label_field!r} is {value!r}, not one of {sorted(layout.label_values)} "
            "(map every value to comply or refuse with label_values)"
        )
    return expected


def refusal_items(records: list[dict], where: str, seed: int = 0, layout: Layout = DEFAULT_LAYOUT) -> list[Item]:
    """Prompts as they are, with the behaviour expected ("comply" or "refuse"): by the label column
    the layout names (XSTest's ``label``: safe -> comply, unsafe -> refuse), or the same for every
    prompt when the layout says so (AdvBench, StrongREJECT: ``expected: refuse``)."""
    items = []
    for rec in records:
        prompt = _safety_prompt(rec, where)
        items.append(Item(_stable_id(prompt), prompt, _expected_behaviour(rec, where, layout)))
    return items


def harmful_items(records: list[dict], where: str, seed: int = 0, layout: Layout = DEFAULT_LAYOUT) -> list[Item]:
    """Prompts for a harmfulness judge: AdvBench (``goal``), StrongREJECT (``forbidden_prompt``) or
    any file with a ``prompt`` column, reference "harmful"; XSTest's safe prompts (``label`` safe)
    are "benign". A record's ``category`` (HEx-PHI's file, StrongREJECT's column) is kept."""
    items = []
    for rec in records:
        prompt = _safety_prompt(rec, where)
        benign = "label" in rec and XSTEST_EXPECTED.get(str(rec["label"]).strip().lower()) == "comply"
        category = rec.get("category")
        items.append(
            Item(
                _stable_id(prompt),
                prompt,
                "benign" if benign else "harmful",
                str(category) if category is not None else None,
            )
        )
    return items


def ifeval_items(records: list[dict], where: str, seed: int = 0, layout: Layout = DEFAULT_LAYOUT) -> list[Item]:
    """IFEval (``key``, ``prompt``, ``instruction_id_list``, ``kwargs``): the prompt as it is; the
    reference is the record as JSON, which the checkers need whole."""
    items = []
    for rec in records:
        prompt = str(_first_present(rec, ("prompt",), where))
        ids = list(_first_present(rec, ("instruction_id_list",), where))
        kwargs = list(_first_present(rec, ("kwargs",), where))
        if len(ids) != len(kwargs):
            raise BenchmarkDataError(
                f"{where}: IFEval key {rec.get('key')}: {len(ids)} instructions but {len(kwargs)} kwargs"
            )
        reference = {"key": rec.get("key"), "prompt": prompt, "instruction_id_list": ids, "kwargs": kwargs}
        items.append(Item(_stable_id(prompt), prompt, json.dumps(reference, sort_keys=True)))
    return items


def countdown_items(records: list[dict], where: str, seed: int = 0, layout: Layout = DEFAULT_LAYOUT) -> list[Item]:
    """Held-out Countdown tasks (``nums``, ``target``) in the training prompt's wording; the
    reference is ``{"nums": [...], "target": N}`` as JSON."""
    items = []
    for rec in records:
        raw_nums = _first_present(rec, ("nums",), where)
        if isinstance(raw_nums, (str, bytes)) or not hasattr(raw_nums, "__iter__"):
            raise BenchmarkDataError(f"{where}: field 'nums' is not a list of numbers: {raw_nums!r}")
        nums = [_integer(n, where, "nums", minimum=1) for n in raw_nums]
        if not nums:
            raise BenchmarkDataError(f"{where}: field 'nums' is empty")
        target = _integer(_first_present(rec, ("target",), where), where, "target", minimum=0)
        prompt = countdown_prompt(nums, target)
        items.append(Item(_stable_id(prompt), prompt, json.dumps({"nums": nums, "target": target})))
    return items


def _json_lines(path: Path) -> list[dict]:
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise BenchmarkDataError(f"{path}, line {number}: not valid JSON ({err.msg})") from None
    return records


def _headerless_csv_records(location: str) -> list[dict]:
    """A folder of header-less CSV files, one prompt a line, one file per category (HEx-PHI's
    layout): records ``{"prompt", "category"}``, the category being the file's name."""
    folder = Path(hub_snapshot(location) if location.startswith("hub:") else location)
    files = sorted(folder.glob("*.csv"), key=lambda f: (len(f.stem), f.stem))  # category_2 before category_10
    if not files:
        raise BenchmarkDataError(f"{location}: no .csv files in the folder")
    records = []
    for file in files:
        with file.open(newline="", encoding="utf-8") as handle:
            for number, row in enumerate(csv.reader(handle), 1):
                cells = [cell for cell in row if cell.strip()]
                if len(cells) > 1:
                    raise BenchmarkDataError(f"{file}, line {number}: {len(cells)} cells, expected one prompt a line")
                if cells:
                    records.append({"prompt": cells[0], "category": file.stem})
    return records


def _records(location: str, hub_config: str | None, hub_split: str, layout: Layout = DEFAULT_LAYOUT) -> list[dict]:
    """Records as plain dicts (.jsonl, .json list, .csv, .parquet, a hub id, or a folder of
    header-less CSV files). Local JSON is parsed per record, not as a table: a table would merge the
    option keys of all questions (``mc1_targets`` maps option text to 0/1) into one schema."""
    if not layout.csv_header:
        return _headerless_csv_records(location)
    if location.startswith("hub:") or location.endswith(".parquet"):
        return read_records(location, hub_split=hub_split, hub_config=hub_config).to_dicts()
    path = Path(location)
    if not path.exists():
        raise FileNotFoundError(f"benchmark file not found: {path}")
    if path.suffix == ".jsonl":
        return _json_lines(path)
    if path.suffix == ".csv":  # every cell as text, as written
        return pl.read_csv(path, infer_schema=False).to_dicts()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise BenchmarkDataError(f"{path}, line {err.lineno}: not valid JSON ({err.msg})") from None
    if not isinstance(data, list):
        raise BenchmarkDataError(f"{path}: expected a JSON list of records")
    return data


# The text of an item that a training query could copy, by the field names of each layout.
QUESTION_FIELDS = ("problem", "question", "Question", "prompt", "goal", "forbidden_prompt", "user_query")


def benchmark_questions(
    location: str, *, hub_config: str | None = None, hub_split: str = "test", layout: Layout = DEFAULT_LAYOUT
) -> list[str]:
    """The question text of every item (for decontamination), whatever the benchmark kind.
    Countdown tasks (``nums``, ``target``) give none: every Countdown prompt is the same template
    around a few numbers, so n-gram overlap would flag every training task."""
    texts = []
    for number, rec in enumerate(_records(location, hub_config, hub_split, layout), 1):
        if "nums" in rec and "target" in rec and not any(rec.get(f) is not None for f in QUESTION_FIELDS):
            continue
        texts.append(str(_first_present(rec, QUESTION_FIELDS, f"{location}, row {number}")))
    return texts


# (records, where, seed) -> items; a builder that reads a file's layout takes it as a fourth argument.
ItemBuilder = Callable[..., list[Item]]

LOADERS: dict[str, ItemBuilder] = {
    "math": math_items,
    "multiple-choice": choice_items,
    "yes-no": yes_no_items,
    "refusal": refusal_items,
    "ifeval": ifeval_items,
    "countdown": countdown_items,
    "mmlu-pro": mmlu_pro_items,
    "livecodebench": livecodebench_items,
    # Items for the harmfulness judge (workloads.evaluation.judging scores them, not a scorer).
    "safety-judge": harmful_items,
}


def _build(kind: str, records: list[dict], where: str, seed: int, layout: Layout) -> list[Item]:
    builder = LOADERS[kind]
    if len(inspect.signature(builder).parameters) >= 4:
        return builder(records, where, seed, layout)
    return builder(records, where, seed)


def load_benchmark(
    location: str,
    kind: str,
    *,
    limit: int | None,
    seed: int,
    hub_config: str | None = None,
    hub_split: str = "test",
    released_from: str | None = None,
    released_until: str | None = None,
    layout: Layout = DEFAULT_LAYOUT,
) -> list[Item]:
    """The first ``limit`` items after a seeded shuffle of the records, so a small slice is still a
    fair sample. A record that gives two items (HaluEval QA) keeps them next to each other, so an
    even limit takes whole pairs. ``released_from``/``released_until`` (ISO dates) keep the records
    whose ``contest_date`` lies in that window (LiveCodeBench is split by release date).

    An error names the file, the row (counted from 1 in the file's order) and the field. A file
    without records, or two records of the sample giving the same item, is an error."""
    if kind not in LOADERS:
        raise ValueError(f"unknown benchmark kind {kind!r} (known: {', '.join(LOADERS)})")
    records = _records(location, hub_config, hub_split, layout)
    if not records:
        raise BenchmarkDataError(f"{location}: no records (an empty benchmark file)")
    numbered = list(enumerate(records, 1))
    if released_from or released_until:
        kept = {id(r) for r in in_window(records, location, released_from, released_until)}
        numbered = [(number, r) for number, r in numbered if id(r) in kept]
        if not numbered:
            raise BenchmarkDataError(f"{location}: no records released in [{released_from}, {released_until}]")
    random.Random(seed).shuffle(numbered)
    if limit is not None:
        numbered = numbered[:limit]  # no record gives fewer than one item
    items: list[Item] = []
    row_of: dict[str, int] = {}
    for number, record in numbered:
        for item in _build(kind, [record], f"{location}, row {number}", seed, layout):
            if item.item_id in row_of:
                raise BenchmarkDataError(
                    f"{location}: rows {row_of[item.item_id]} and {number} give the same item "
                    f"({item.prompt[:80]!r}); remove the duplicate"
                )
            row_of[item.item_id] = number
            items.append(item)
    return items if limit is None else items[:limit]


def benchmark_version(kind: str) -> str:
    """The version of what a benchmark kind measures: its scorer's version
    (``scoring.verifier_version``), and a digest of its loader (prompt templates, reference
    extraction) and of the evaluation code every kind shares (the thinking split, scoring,
    metrics). Derived from the code (``workloads.core.code_version``), so it moves whenever they can."""
    from workloads.core.prompts import safety_judge_prompt
    from workloads.evaluation.judging import EMPTY_REPLY_SCORE
    from workloads.evaluation.metrics import summarize
    from workloads.evaluation.scoring import DETAILS, SCORERS, VERDICTS, parse_judge_score, verifier_version
    from workloads.programs.evaluate import evaluate_cell, score_cell

    if kind not in LOADERS:
        raise ValueError(f"unknown benchmark kind {kind!r} (known: {', '.join(LOADERS)})")
    judged = (parse_judge_score, safety_judge_prompt, EMPTY_REPLY_SCORE) if kind == "safety-judge" else ()
    scorer = verifier_version(kind) if kind in VERDICTS else kind
    # The registries are dispatch: this kind's entries are roots, the other kinds' are not its code.
    registries = {"LOADERS": LOADERS, "SCORERS": SCORERS, "DETAILS": DETAILS, "VERDICTS": VERDICTS}
    roots = (LOADERS[kind], load_benchmark, evaluate_cell, score_cell, summarize, *judged)
    return f"{scorer}/{code_digest(*roots, opaque=registries)}"
