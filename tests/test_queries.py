"""Unit tests for workloads/data/queries.py: stable ids, loaders, cleaning/sampling and sharding."""

import json

import polars as pl
import pytest

from workloads.data.queries import (
    QUERY_SCHEMA,
    assign_shards,
    clean_and_sample,
    countdown_queries,
    math_queries,
    normalize_problem,
    query_id,
    read_records,
)
from workloads.verification.countdown_rule import countdown_prompt


def test_query_id_is_pinned_literal():
    # Computed once and pinned: a change here re-keys every stored trace and verdict.
    assert query_id("gsm8k", "What is 1+1?") == "b14ef114c74401a4"
    assert query_id("math", "What is 1+1?") == "f75cfcbed7e83acf"


@pytest.mark.parametrize(
    "variant",
    ["What is 1+1?", "  what IS\n1+1? ", "WHAT\tIS   1+1?", "\nWhat is 1+1?\n\n"],
)
def test_query_id_ignores_whitespace_and_case(variant):
    assert query_id("gsm8k", variant) == query_id("gsm8k", "What is 1+1?")


@pytest.mark.parametrize(
    "a, b",
    [
        (("gsm8k", "What is 1+1?"), ("math", "What is 1+1?")),
        (("gsm8k", "What is 1+1?"), ("gsm8k", "What is 1+2?")),
        (("gsm8k", "What is 1+1?"), ("gsm8k", "Whatis 1+1?")),
    ],
    ids=["differs_by_source", "differs_by_problem", "whitespace_removal_is_not_ignored"],
)
def test_query_id_differs(a, b):
    assert query_id(*a) != query_id(*b)


def test_query_id_is_16_hex_chars():
    qid = query_id("x", "y")
    assert len(qid) == 16 and int(qid, 16) >= 0


def test_normalize_problem_collapses_whitespace_and_lowercases():
    assert normalize_problem("  A\n\tB   c ") == "a b c"


def _gsm8k_records() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "question": ["Tom has 3 apples and buys 5.", "A big sum?", "No marker?"],
            "answer": [
                "3 + 5 = <<3+5=8>>8\n#### 8",
                "It is 1,000 + 234 = <<1000+234=1234>>1,234\n#### 1,234",
                "I forgot the marker",
            ],
        }
    )


def test_math_queries_gsm8k_extracts_answer_and_strips_calculator():
    out = math_queries(
        _gsm8k_records(),
        source="gsm8k",
        problem_field="question",
        answer_field="answer",
        solution_field="answer",
        answer_format="gsm8k",
    )
    assert out.schema == pl.Schema(QUERY_SCHEMA)
    assert out["answer"].to_list() == ["8", "1234", None]
    assert out["solution"][0] == "3 + 5 = 8\n#### 8"
    assert "<<" not in out["solution"][1]
    assert out["query_id"][0] == query_id("gsm8k", "Tom has 3 apples and buys 5.")
    assert out["source"].to_list() == ["gsm8k"] * 3
    assert out["split"].to_list() == ["train"] * 3
    assert out["nums"].to_list() == [None] * 3 and out["target"].to_list() == [None] * 3


@pytest.mark.parametrize(
    "raw, expected",
    [("42", "42"), ("  \\frac{1}{2} ", "\\frac{1}{2}"), ("", None), ("   ", None), (None, None)],
    ids=["kept", "stripped", "empty_is_none", "blank_is_none", "null_is_none"],
)
def test_math_queries_plain_answer(raw, expected):
    records = pl.DataFrame({"problem": ["p"], "answer": [raw]}, schema={"problem": pl.String, "answer": pl.String})
    out = math_queries(
        records,
        source="math",
        problem_field="problem",
        answer_field="answer",
        solution_field=None,
        answer_format="plain",
    )
    assert out["answer"].to_list() == [expected]
    assert out["solution"].to_list() == [None]


@pytest.mark.parametrize(
    "fields, missing",
    [
        ({"problem_field": "question", "answer_field": "answer", "solution_field": None}, "question"),
        ({"problem_field": "problem", "answer_field": "gold", "solution_field": None}, "gold"),
        ({"problem_field": "problem", "answer_field": "answer", "solution_field": "solution"}, "solution"),
    ],
)
def test_math_queries_missing_column_raises_keyerror_naming_it(fields, missing):
    records = pl.DataFrame({"problem": ["p"], "answer": ["1"]})
    with pytest.raises(KeyError, match=f"source 'src' has no column '{missing}'"):
        math_queries(records, source="src", answer_format="plain", **fields)


def test_countdown_queries_render_prompt_and_target_answer():
    records = pl.DataFrame({"nums": [[44, 19, 35], [1, 2, 3, 4]], "target": [98, 10]})
    out = countdown_queries(records, source="countdown")
    assert out.schema == pl.Schema(QUERY_SCHEMA)
    assert out["problem"][0] == countdown_prompt([44, 19, 35], 98)
    assert out["answer"].to_list() == ["98", "10"]
    assert out["nums"].to_list() == [[44, 19, 35], [1, 2, 3, 4]]
    assert out["target"].to_list() == [98, 10]
    assert out["solution"].to_list() == [None, None]
    assert out["query_id"][1] == query_id("countdown", countdown_prompt([1, 2, 3, 4], 10))


@pytest.mark.parametrize("missing", ["nums", "target"])
def test_countdown_queries_missing_column_raises_keyerror_naming_it(missing):
    records = pl.DataFrame({"nums": [[1, 2]], "target": [3]}).drop(missing)
    with pytest.raises(KeyError, match=f"has no column '{missing}'"):
        countdown_queries(records, source="countdown")


def _queries(problems_answers: list[tuple[str | None, str | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"query_id": str(i), "problem": p, "answer": a} for i, (p, a) in enumerate(problems_answers)],
        schema={"query_id": pl.String, "problem": pl.String, "answer": pl.String},
    )


DIRTY = [
    ("What is 1+1?", "2"),
    ("what is  1+1? ", "2"),  # duplicate after normalisation
    ("What is 2+2?", None),  # no answer
    (None, "3"),  # no problem
    ("What is 3+3?", "6"),
    ("WHAT IS 3+3?", "6"),  # duplicate
    ("What is 4+4?", "8"),
]


def test_clean_and_sample_counts_what_was_dropped():
    sample, counts = clean_and_sample(_queries(DIRTY), size=3, seed=0)
    assert counts == {"read": 7, "dropped_no_answer": 2, "dropped_duplicate": 2, "sampled": 3}
    assert sample.height == 3
    # the first of each duplicate group is the one kept
    assert sorted(sample["query_id"].to_list()) == ["0", "4", "6"]


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_clean_and_sample_is_deterministic_for_a_seed(seed):
    queries = _queries([(f"problem {i}", str(i)) for i in range(50)])
    first, _ = clean_and_sample(queries, size=10, seed=seed)
    second, _ = clean_and_sample(queries, size=10, seed=seed)
    assert first["query_id"].to_list() == second["query_id"].to_list()
    assert first["query_id"].n_unique() == 10


def test_clean_and_sample_seed_changes_the_sample():
    queries = _queries([(f"problem {i}", str(i)) for i in range(50)])
    samples = {tuple(clean_and_sample(queries, size=10, seed=s)[0]["query_id"].to_list()) for s in range(5)}
    assert len(samples) > 1


@pytest.mark.parametrize("size", [4, 100])
def test_clean_and_sample_raises_when_size_exceeds_usable_rows(size):
    with pytest.raises(
        ValueError, match=rf"asked for {size} queries but only 3 usable remain of 7 \(no_answer: 2, duplicate: 2\)"
    ):
        clean_and_sample(_queries(DIRTY), size=size, seed=0)


def test_clean_and_sample_rejects_lazily_and_counts_reasons():
    queries = _queries([(f"problem {i}", str(i)) for i in range(50)])
    examined = []

    def reject(row):
        examined.append(row["query_id"])
        return "odd_answer" if int(row["answer"]) % 2 else None

    sample, counts = clean_and_sample(queries, size=5, seed=0, reject=reject)
    assert all(int(a) % 2 == 0 for a in sample["answer"])
    assert counts["dropped_odd_answer"] == len(examined) - 5
    assert len(examined) < 50, "rows past the full sample must not be examined"


def test_clean_and_sample_names_the_rejections_when_too_few_remain():
    queries = _queries([(f"problem {i}", str(i)) for i in range(6)])
    with pytest.raises(ValueError, match=r"only 0 usable remain of 6 \(no_answer: 0, duplicate: 0, contaminated: 6\)"):
        clean_and_sample(queries, size=2, seed=0, reject=lambda row: "contaminated")


@pytest.mark.parametrize("shards", [1, 3, 8])
def test_assign_shards_in_range_and_from_id_prefix(shards):
    queries = pl.DataFrame({"query_id": [query_id("s", f"p{i}") for i in range(40)]})
    out = assign_shards(queries, shards)
    assert out["shard"].dtype == pl.Int64
    assert all(0 <= s < shards for s in out["shard"])
    assert out["shard"].to_list() == [int(q[:8], 16) % shards for q in queries["query_id"]]


def test_assign_shards_stable_when_other_queries_are_added_or_removed():
    ids = [query_id("s", f"p{i}") for i in range(40)]
    full = dict(assign_shards(pl.DataFrame({"query_id": ids}), 4).iter_rows())
    part = dict(assign_shards(pl.DataFrame({"query_id": ids[::3]}), 4).iter_rows())
    assert all(full[q] == s for q, s in part.items())
    assert len(set(full.values())) > 1  # 40 ids spread over more than one shard


def test_read_records_reads_jsonl_and_parquet(tmp_path):
    rows = [{"problem": "a", "answer": "1"}, {"problem": "b", "answer": "2"}]
    jsonl = tmp_path / "q.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in rows))
    parquet = tmp_path / "q.parquet"
    pl.DataFrame(rows).write_parquet(parquet)
    assert read_records(str(jsonl)).to_dicts() == rows
    assert read_records(str(parquet)).to_dicts() == rows


@pytest.mark.parametrize("suffix", [".csv", ".txt", ""])
def test_read_records_rejects_unsupported_suffix(tmp_path, suffix):
    path = tmp_path / f"queries{suffix}"
    path.write_text("problem,answer\na,1\n")
    with pytest.raises(ValueError, match="unsupported query file type") as err:
        read_records(str(path))
    assert str(path) in str(err.value)


def test_read_records_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nope.jsonl"
    with pytest.raises(FileNotFoundError, match="query source not found") as err:
        read_records(str(path))
    assert str(path) in str(err.value)


def test_read_records_json_array_is_read_or_rejected_clearly(tmp_path):
    path = tmp_path / "queries.json"
    path.write_text(json.dumps([{"problem": "a", "answer": "1"}]))
    try:
        records = read_records(str(path))
    except ValueError as err:  # a clear rejection naming the file is acceptable too
        assert str(path) in str(err)
    else:
        assert records.to_dicts() == [{"problem": "a", "answer": "1"}]


def test_reference_solutions_are_matched_by_normalized_problem_text():
    from workloads.data.queries import attach_references

    queries = _queries([("What is 1+1?", "2"), ("What is 5+5?", "10")])
    references = pl.DataFrame({"problem": ["  what IS 1+1? ", "Unrelated"], "solution": ["1+1 = 2", "x"]})
    matched, rate = attach_references(queries, references, problem_field="problem", solution_field="solution")
    assert matched["solution"].to_list() == ["1+1 = 2", None]
    assert rate == 0.5


def test_reference_set_without_the_named_column_is_refused():
    from workloads.data.queries import attach_references

    with pytest.raises(KeyError, match="reference set has no column 'solution'"):
        attach_references(
            _queries([("q", "1")]), pl.DataFrame({"problem": ["q"]}), problem_field="problem", solution_field="solution"
        )


def test_countdown_training_tasks_equal_to_held_out_eval_tasks_are_dropped(write_recipe, tmp_path):
    import json

    from assets.queries import held_out_countdown_tasks, load_source
    from recipe_schema.recipe import load_recipe

    tasks = [{"nums": [3, 5, 7], "target": 22}, {"nums": [2, 4, 6], "target": 12}, {"nums": [1, 9, 8], "target": 17}]
    path = tmp_path / "countdown.jsonl"
    path.write_text("".join(json.dumps(t) + "\n" for t in tasks))
    recipe = load_recipe(
        write_recipe(
            {
                "allow_absolute_paths": True,
                "queries": {"countdown": {"location": str(path), "size": 1}},
                # Two of the three tasks are evaluated (numbers in another order are the same task).
                "evaluation": {"benchmarks": {"countdown": {"location": str(path), "limit": 2}}},
            }
        )
    )
    held_out = held_out_countdown_tasks(recipe)
    assert len(held_out) == 2 and held_out <= {(tuple(sorted(t["nums"])), t["target"]) for t in tasks}
    table, _ = load_source(recipe, "countdown", None, held_out)
    assert table.height == 1 and (tuple(sorted(table["nums"][0])), table["target"][0]) not in held_out
    recipe.queries["countdown"].size = 3
    with pytest.raises(ValueError, match="contaminated: 2"):
        load_source(recipe, "countdown", None, held_out)
