"""Every hub id of the full recipe, loaded offline through the hub code path.

The fixtures (``tests/hub_fixtures.py``) copy each repository's layout as documented in
``docs/hub-layouts.md``; ``$STUDY_HUB_MIRROR`` makes ``datasets.load_dataset`` read them with the
recipe's own configs and splits. Renaming a column the loader reads, or a split, must fail.
"""

import dataclasses
import json
import re

import polars as pl
import pytest

from recipe_schema.data_files import PROJECT_ROOT
from recipe_schema.loading import load_recipe
from tests.hub_fixtures import LCB_IN_WINDOW, Repo, layouts, write_mirror, write_repo
from workloads.data.queries import HUB_MIRROR_ENV, attach_references, countdown_queries, math_queries, read_records
from workloads.evaluation.items import Layout
from workloads.evaluation.loading import load_benchmark
from workloads.evaluation.tasks.livecodebench import decode_test_cases

FULL = load_recipe(PROJECT_ROOT / "recipes" / "full.yaml", check_files=False)
DOC = (PROJECT_ROOT / "docs" / "hub-layouts.md").read_text()
HUB_BENCHMARKS = {name: b for name, b in FULL.evaluation.benchmarks.items() if b.location.startswith("hub:")}


def _full_recipe_hub_ids() -> set[str]:
    ids = {b.location for b in FULL.evaluation.benchmarks.values()}
    for src in FULL.queries.values():
        ids.add(src.location)
        if src.references is not None:
            ids.add(src.references.location)
    return {i.removeprefix("hub:") for i in ids if i.startswith("hub:")}


@pytest.fixture(autouse=True)
def _offline_datasets_cache(tmp_path, monkeypatch):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "datasets-cache")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    return write_mirror(tmp_path_factory.mktemp("hub"))


def test_every_hub_id_of_the_full_recipe_has_a_fixture_and_a_documented_layout():
    ids = _full_recipe_hub_ids()
    assert not ids - set(layouts()), f"hub ids without an offline layout fixture: {sorted(ids - set(layouts()))}"
    undocumented = sorted(i for i in ids if f"`{i}`" not in DOC)
    assert not undocumented, f"not in docs/hub-layouts.md: {undocumented}"


def _load(bench, seed: int = 0):
    return load_benchmark(
        bench.location,
        bench.kind,
        limit=None,
        seed=seed,
        hub_config=bench.hub_config,
        hub_split=bench.hub_split,
        released_from=bench.released_from,
        released_until=bench.released_until,
        layout=Layout.from_settings(vars(bench)),
    )


@pytest.mark.parametrize("name", sorted(HUB_BENCHMARKS))
def test_full_recipe_benchmark_loads_from_its_hub_layout(name, mirror, monkeypatch):
    monkeypatch.setenv(HUB_MIRROR_ENV, str(mirror))
    bench = HUB_BENCHMARKS[name]
    items = _load(bench)
    assert items and all(i.prompt.strip() for i in items)
    valid = {
        "math": lambda r: bool(r),
        "multiple-choice": lambda r: re.fullmatch("[A-Z]", json.loads(r)["answer"]),
        "yes-no": lambda r: r in ("Yes", "No"),
        "refusal": lambda r: r in ("comply", "refuse"),
        "safety-judge": lambda r: r in ("harmful", "benign"),
        "ifeval": lambda r: "instruction_id_list" in r,
        "countdown": lambda r: '"target"' in r,
        "mmlu-pro": lambda r: re.fullmatch("[A-J]", json.loads(r)["answer"]),
        "livecodebench": lambda r: decode_test_cases(json.loads(r)["private_test_cases"], "fixture"),
    }[bench.kind]
    assert all(valid(i.reference) for i in items), [i.reference for i in items]


def test_mmlu_pro_reads_the_test_split_with_every_option_in_the_hub_order(mirror, monkeypatch):
    monkeypatch.setenv(HUB_MIRROR_ENV, str(mirror))
    items = {i.item_id: i for i in _load(HUB_BENCHMARKS["mmlu-pro"])}
    assert set(items) == {"mmlu-pro-70", "mmlu-pro-71", "mmlu-pro-72"}  # not the validation split's 0-2
    assert "J. 19" in items["mmlu-pro-70"].prompt and "J. " not in items["mmlu-pro-71"].prompt
    assert [json.loads(items[f"mmlu-pro-{q}"].reference) for q in (70, 71)] == [
        {"answer": "D", "options": 10, "category": "math"},
        {"answer": "H", "options": 9, "category": "law"},
    ]


def test_livecodebench_keeps_the_release_window_of_its_config(mirror, monkeypatch):
    """release_v5's problems dated within the recipe's window only (not release_v6's newer one),
    with the private tests still compressed as on the hub and decoded only when scored."""
    monkeypatch.setenv(HUB_MIRROR_ENV, str(mirror))
    bench = HUB_BENCHMARKS["livecodebench"]
    items = {i.item_id: i for i in _load(bench)}
    assert set(items) == {f"lcb-{q}" for q in LCB_IN_WINDOW}
    reference = json.loads(items["lcb-9002"].reference)
    assert reference["func_name"] == "sumOfNums" and "class Solution" in items["lcb-9002"].prompt
    assert decode_test_cases(reference["private_test_cases"], "lcb-9002") == [
        {"input": "[5, -5, 7]", "output": "7", "testtype": "functional"}
    ]
    wider = bench.model_copy(update={"released_from": None, "released_until": None})
    assert {i.item_id for i in _load(wider)} == {f"lcb-{q}" for q in ("abc899_a", *LCB_IN_WINDOW)}


def test_amc23_float_answers_read_as_integers(mirror, monkeypatch):
    monkeypatch.setenv(HUB_MIRROR_ENV, str(mirror))
    assert sorted(i.reference for i in _load(HUB_BENCHMARKS["amc23"])) == ["2", "4", "6"]


def test_xstest_labels_give_both_expectations(mirror, monkeypatch):
    monkeypatch.setenv(HUB_MIRROR_ENV, str(mirror))
    assert sorted(i.reference for i in _load(HUB_BENCHMARKS["xstest"])) == ["comply", "refuse"]


def test_full_recipe_query_sources_load_from_their_hub_layouts(mirror, monkeypatch):
    monkeypatch.setenv(HUB_MIRROR_ENV, str(mirror))
    for name, src in FULL.queries.items():
        records = read_records(src.location, hub_config=src.hub_config)
        if src.loader == "countdown":
            table = countdown_queries(records, source=name)
            assert table["target"].to_list() and all(table["nums"].to_list())
            continue
        table = math_queries(
            records,
            source=name,
            problem_field=src.problem_field,
            answer_field=src.answer_field,
            solution_field=src.solution_field,
            answer_format=src.answer_format,
        )
        assert table["answer"].null_count() == 0
        ref = src.references
        references = read_records(ref.location, hub_config=ref.hub_config)
        _, rate = attach_references(
            table, references, problem_field=ref.problem_field, solution_field=ref.solution_field
        )
        assert rate == 1.0


# --- a renamed column or split fails ---------------------------------------------------------------

# (hub id, column the recipe's loader reads, a new name for it)
RENAMED_COLUMNS = [
    ("HuggingFaceH4/MATH-500", "answer", "final"),
    ("HuggingFaceH4/aime_2024", "answer", "ans"),
    ("math-ai/amc23", "answer", "ans"),
    ("math-ai/amc23", "question", "text"),
    ("Idavidrein/gpqa", "Correct Answer", "Correct"),
    ("Jiayi-Pan/Countdown-Tasks-3to4", "target", "goal"),
    ("google/IFEval", "instruction_id_list", "instructions"),
    ("truthfulqa/truthful_qa", "mc1_targets", "mc1"),
    ("pminervini/HaluEval", "right_answer", "answer_right"),
    ("pminervini/HaluEval", "user_query", "query"),
    ("pminervini/HaluEval", "right_summary", "summary_right"),
    ("pminervini/HaluEval", "knowledge", "context"),
    ("walledai/AdvBench", "prompt", "instruction"),
    ("walledai/StrongREJECT", "prompt", "text"),
    ("walledai/XSTest", "label", "labels"),
    ("open-r1/OpenR1-Math-220k", "answer", "final_answer"),
    ("AI-MO/NuminaMath-1.5", "solution", "worked_solution"),
    ("Jiayi-Pan/Countdown-Tasks-3to4-Unique", "nums", "numbers"),
    ("TIGER-Lab/MMLU-Pro", "options", "choices"),
    ("TIGER-Lab/MMLU-Pro", "category", "subject"),
    ("lighteval/code_generation_lite", "private_test_cases", "tests"),
    ("lighteval/code_generation_lite", "contest_date", "date"),
]


def _renamed_column(repo: Repo, old: str, new: str) -> Repo:
    files = {
        path: table.rename_columns([new if c == old else c for c in table.column_names])
        for path, table in repo.files.items()
    }
    assert any(old in t.column_names for t in repo.files.values()), f"fixture has no column {old!r}"
    return dataclasses.replace(repo, files=files)


SWAPPED_SPLIT = {"train": "test", "test": "train", "validation": "test"}


def _renamed_split(repo: Repo) -> Repo:
    """Another split name for every file: in the README's configs where the repository declares
    them, else in the file names ``datasets`` reads splits from (train and test swapped; a file
    whose name holds no split, read as train, named as test)."""
    if repo.configs:
        return dataclasses.replace(repo, configs=[(c, f"{s}_v2", p) for c, s, p in repo.configs])

    def rename(path: str) -> str:
        swapped = re.sub(r"(^|/)(train|test|validation)(?=[-.])", lambda m: m[1] + SWAPPED_SPLIT[m[2]], path)
        return swapped if swapped != path else re.sub(r"(^|/)([^/]+)$", r"\1test-\2", path)

    return dataclasses.replace(repo, files={rename(path): t for path, t in repo.files.items()})


def _uses(repo_id: str):
    """Every load of the full recipe that reads ``repo_id``, as a callable."""
    loads = [lambda b=b: _load(b) for b in HUB_BENCHMARKS.values() if b.location == f"hub:{repo_id}"]
    for name, src in FULL.queries.items():
        if src.location == f"hub:{repo_id}":
            records = lambda src=src: read_records(src.location, hub_config=src.hub_config)  # noqa: E731
            if src.loader == "countdown":
                loads.append(lambda records=records, name=name: countdown_queries(records(), source=name))
            else:
                loads.append(
                    lambda records=records, name=name, src=src: math_queries(
                        records(),
                        source=name,
                        problem_field=src.problem_field,
                        answer_field=src.answer_field,
                        solution_field=src.solution_field,
                        answer_format=src.answer_format,
                    )
                )
        ref = src.references
        if ref is not None and ref.location == f"hub:{repo_id}":
            loads.append(
                lambda ref=ref: attach_references(
                    pl.DataFrame({"problem": ["p"]}),
                    read_records(ref.location, hub_config=ref.hub_config),
                    problem_field=ref.problem_field,
                    solution_field=ref.solution_field,
                )
            )
    assert loads, f"the full recipe does not read {repo_id}"
    return loads


def _fails_every_load(repo_id: str, repo: Repo, root, monkeypatch) -> None:
    write_repo(root, repo_id, repo)
    monkeypatch.setenv(HUB_MIRROR_ENV, str(root))
    for load in _uses(repo_id):
        with pytest.raises((KeyError, ValueError, FileNotFoundError)):
            load()


@pytest.mark.parametrize("repo_id, old, new", RENAMED_COLUMNS, ids=[f"{r}:{o}" for r, o, _ in RENAMED_COLUMNS])
def test_a_renamed_column_fails_the_load(repo_id, old, new, tmp_path, monkeypatch):
    repo = layouts()[repo_id]
    loads = _uses(repo_id)
    if repo_id == "pminervini/HaluEval":  # each column belongs to one config: only that config's loads
        config = next(p.split("/")[0] for p, t in repo.files.items() if old in t.column_names)
        loads = [
            lambda b=b: _load(b)
            for b in HUB_BENCHMARKS.values()
            if b.location == f"hub:{repo_id}"
            and (b.hub_config == config or old == "knowledge" and b.hub_config in ("qa", "dialogue"))
        ]
    write_repo(tmp_path, repo_id, _renamed_column(repo, old, new))
    monkeypatch.setenv(HUB_MIRROR_ENV, str(tmp_path))
    for load in loads:
        with pytest.raises((KeyError, ValueError)):
            load()


@pytest.mark.parametrize("repo_id", sorted(layouts()))
def test_a_renamed_split_fails_the_load(repo_id, tmp_path, monkeypatch):
    _fails_every_load(repo_id, _renamed_split(layouts()[repo_id]), tmp_path, monkeypatch)


@pytest.mark.parametrize("repo_id", sorted(layouts()))
def test_the_unchanged_fixture_loads_where_the_mutated_ones_fail(repo_id, tmp_path, monkeypatch):
    write_repo(tmp_path, repo_id, layouts()[repo_id])
    monkeypatch.setenv(HUB_MIRROR_ENV, str(tmp_path))
    for load in _uses(repo_id):
        load()


def test_hub_id_that_is_a_path_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv(HUB_MIRROR_ENV, str(tmp_path))
    for location in ("hub:/etc/passwd", "hub:../outside", "hub:a/../../b", "hub:"):
        with pytest.raises(ValueError, match="not a hub dataset id"):
            read_records(location)


def test_mirror_without_the_repository_names_it(tmp_path, monkeypatch):
    monkeypatch.setenv(HUB_MIRROR_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match="no copy of owner/absent"):
        read_records("hub:owner/absent")
