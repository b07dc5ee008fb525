"""Unit tests for workloads/data/sft_data.py: picking verified traces and building the dataset variants."""

import polars as pl
import pytest

from workloads.core.text import join_reasoning, split_reasoning
from workloads.data.sft_data import DATASET_SCHEMA, build_variants, pick_correct


def _traces(rows):
    """rows: (query_id, sample_idx, think_closed); reasoning/final derived from the ids."""
    return pl.DataFrame(
        [
            {
                "query_id": q,
                "sample_idx": i,
                "reasoning": f"think {q}/{i}",
                "final": f"final {q}/{i}",
                "think_closed": closed,
            }
            for q, i, closed in rows
        ],
        schema={
            "query_id": pl.String,
            "sample_idx": pl.Int64,
            "reasoning": pl.String,
            "final": pl.String,
            "think_closed": pl.Boolean,
        },
    )


def _verdicts(rows):
    """rows: (query_id, sample_idx, correct)."""
    return pl.DataFrame(
        [{"query_id": q, "sample_idx": i, "correct": c} for q, i, c in rows],
        schema={"query_id": pl.String, "sample_idx": pl.Int64, "correct": pl.Boolean},
    )


@pytest.mark.parametrize(
    "traces, verdicts, expected",
    [
        pytest.param([("q1", 0, True)], [("q1", 0, True)], {"q1": {0}}, id="correct_and_closed_kept"),
        pytest.param([("q1", 0, True)], [("q1", 0, False)], {}, id="wrong_dropped"),
        pytest.param([("q1", 0, True)], [("q1", 0, None)], {}, id="unjudgeable_dropped"),
        pytest.param([("q1", 0, False)], [("q1", 0, True)], {}, id="correct_but_unclosed_dropped"),
        pytest.param([("q1", 0, True)], [], {}, id="no_verdict_dropped"),
        pytest.param(
            [("q1", 0, True), ("q1", 1, False), ("q1", 2, True), ("q2", 0, True), ("q3", 0, True)],
            [("q1", 0, False), ("q1", 1, True), ("q1", 2, True), ("q2", 0, True), ("q3", 0, False)],
            {"q1": {2}, "q2": {0}},
            id="only_correct_and_closed_candidates_per_query",
        ),
        pytest.param(
            [("q1", i, True) for i in range(5)] + [("q2", i, True) for i in range(3)],
            [("q1", i, True) for i in range(5)] + [("q2", i, True) for i in range(3)],
            {"q1": {0, 1, 2, 3, 4}, "q2": {0, 1, 2}},
            id="one_per_query_among_several_correct",
        ),
    ],
)
def test_pick_correct_keeps_one_correct_closed_response_per_query(traces, verdicts, expected):
    picked = pick_correct(_traces(traces), _verdicts(verdicts), seed=0)
    assert picked["query_id"].to_list() == sorted(expected)  # one row per query, sorted by query id
    for q, i in zip(picked["query_id"], picked["sample_idx"], strict=True):
        assert i in expected[q]
    assert picked["think_closed"].all()


def _many():
    rows = [(f"q{k:02d}", i, True) for k in range(20) for i in range(4)]
    return _traces(rows), _verdicts([(q, i, True) for q, i, _ in rows])


@pytest.mark.parametrize("seed", [0, 1, 42])
def test_pick_correct_same_seed_same_choice_regardless_of_row_order(seed):
    traces, verdicts = _many()
    first = pick_correct(traces, verdicts, seed=seed)
    shuffled = pick_correct(traces.sample(fraction=1.0, shuffle=True, seed=9), verdicts.reverse(), seed=seed)
    assert first.select("query_id", "sample_idx").rows() == shuffled.select("query_id", "sample_idx").rows()


def test_pick_correct_choice_depends_on_the_seed():
    traces, verdicts = _many()
    choices = {tuple(pick_correct(traces, verdicts, seed=s)["sample_idx"].to_list()) for s in range(3)}
    assert len(choices) == 3


LOADERS = {"gsm8k": "math", "numina": "math", "countdown": "countdown"}


def _setup():
    queries = pl.DataFrame(
        [
            {"query_id": "m1", "source": "gsm8k", "problem": "P m1", "solution": "S m1"},
            {"query_id": "m2", "source": "numina", "problem": "P m2", "solution": None},
            {"query_id": "m3", "source": "gsm8k", "problem": "P m3", "solution": "S m3"},  # never correct
            {"query_id": "c1", "source": "countdown", "problem": "P c1", "solution": None},
        ],
        schema={"query_id": pl.String, "source": pl.String, "problem": pl.String, "solution": pl.String},
    )
    traces = _traces([("m1", 0, True), ("m2", 0, True), ("m3", 0, True), ("c1", 0, True)])
    verdicts = _verdicts([("m1", 0, True), ("m2", 0, True), ("m3", 0, False), ("c1", 0, True)])
    return build_variants(queries, traces, verdicts, loaders=LOADERS, seed=0)


def _conversations(frame):
    return {r["query_id"]: r["messages"] for r in frame.iter_rows(named=True)}


def test_build_variants_names_and_schema():
    variants = _setup()
    assert set(variants) == {"math-cot", "math-nocot", "countdown-cot", "reference"}
    for name, frame in variants.items():
        assert frame.schema == pl.Schema(DATASET_SCHEMA)
        assert frame["variant"].to_list() == [name] * frame.height
        assert frame["example_id"].to_list() == [f"{name}:{q}" for q in frame["query_id"]]


def test_math_cot_keeps_thinking_in_assistant_content():
    conv = _conversations(_setup()["math-cot"])
    assert set(conv) == {"m1", "m2"}
    assert conv["m1"][0] == {"role": "user", "content": "P m1"}
    assert conv["m1"][1] == {"role": "assistant", "content": join_reasoning("think m1/0", "final m1/0")}
    split = split_reasoning(conv["m1"][1]["content"])
    assert (split.reasoning, split.final, split.think_closed) == ("think m1/0", "final m1/0", True)


def test_math_nocot_has_no_thinking():
    conv = _conversations(_setup()["math-nocot"])
    assert set(conv) == {"m1", "m2"}
    for q, messages in conv.items():
        assert messages[1] == {"role": "assistant", "content": f"final {q}/0"}
        assert "<think>" not in messages[1]["content"] and "think " not in messages[1]["content"]


def test_reference_uses_query_solution_for_math_cot_queries_only():
    variants = _setup()
    conv = _conversations(variants["reference"])
    assert set(conv) == {"m1"}  # m2 has no solution, m3 was never correct, c1 is countdown
    assert set(conv) <= set(variants["math-cot"]["query_id"])
    assert conv["m1"] == [{"role": "user", "content": "P m1"}, {"role": "assistant", "content": "S m1"}]


def test_countdown_cot_comes_from_countdown_sources_only():
    variants = _setup()
    conv = _conversations(variants["countdown-cot"])
    assert set(conv) == {"c1"}
    assert conv["c1"][1]["content"] == join_reasoning("think c1/0", "final c1/0")
    assert "c1" not in set(variants["math-cot"]["query_id"])


def test_build_variants_with_nothing_correct_gives_empty_tables():
    queries = pl.DataFrame({"query_id": ["m1"], "source": ["gsm8k"], "problem": ["P"], "solution": ["S"]})
    variants = build_variants(
        queries, _traces([("m1", 0, True)]), _verdicts([("m1", 0, False)]), loaders=LOADERS, seed=0
    )
    assert {name: frame.height for name, frame in variants.items()} == dict.fromkeys(variants, 0)


def test_built_variants_pass_their_own_format_and_verification_checks():
    from workloads.data.sft_data import thinking_format_errors, unverified_examples

    variants = _setup()
    verdicts = _verdicts([("m1", 0, True), ("m2", 0, True), ("m3", 0, False), ("c1", 0, True)])
    for name, frame in variants.items():
        assert thinking_format_errors(frame, name) == 0, name
    for name in ("math-cot", "math-nocot", "countdown-cot"):
        assert unverified_examples(variants[name], verdicts) == 0, name


@pytest.mark.parametrize(
    "variant, response, errors",
    [
        ("math-cot", "<think>\nwork\n</think>\n42", 0),
        ("math-cot", "<think>\nwork never closed", 1),
        ("math-cot", "</think> backwards <think>", 1),
        ("math-cot", "<think>a</think><think>b</think>", 1),
        ("math-nocot", "42", 0),
        ("math-nocot", "<think>leaked</think> 42", 1),
        ("reference", "a solution", 0),
    ],
)
def test_thinking_format_errors_counts_malformed_examples(variant, response, errors):
    from workloads.data.sft_data import thinking_format_errors

    frame = pl.DataFrame({"messages": [[{"role": "user", "content": "q"}, {"role": "assistant", "content": response}]]})
    assert thinking_format_errors(frame, variant) == errors


def test_an_example_without_a_correct_verdict_is_counted_unverified():
    from workloads.data.sft_data import unverified_examples

    frame = _setup()["math-cot"]
    wrong = _verdicts([("m1", 0, False), ("m2", 0, True)])
    assert unverified_examples(frame, wrong) == 1


def test_exported_dataset_folder_loads_with_hugging_face_datasets(tmp_path):
    import datasets

    from workloads.data.sft_data import dataset_card

    frame = _setup()["math-cot"].with_columns(tokens=pl.lit(10, dtype=pl.Int64))
    (tmp_path / "data").mkdir()
    frame.write_parquet(tmp_path / "data" / "train-00000-of-00001.parquet")
    card = dataset_card("math-cot", frame, description="test set", provenance={"recipe": "unit"})
    (tmp_path / "README.md").write_text(card)

    loaded = datasets.load_dataset(str(tmp_path), split="train")
    assert loaded.num_rows == frame.height
    assert loaded[0]["messages"][1]["role"] == "assistant"
    assert "- recipe: unit" in card and "sampling-config hashes" in card
