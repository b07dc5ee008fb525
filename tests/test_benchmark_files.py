"""Benchmark and query files nobody here wrote: where the answer is, what a bad row says, HEx-PHI's
folder of header-less CSV files."""

import json

import polars as pl
import pytest

from workloads.core.text import extract_answer
from workloads.data.queries import countdown_queries, math_queries
from workloads.evaluation.items import BenchmarkDataError, Layout
from workloads.evaluation.loading import benchmark_questions, load_benchmark


def _write(tmp_path, name: str, rows: list[dict]) -> str:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


SOLUTION = "We add. So $1 + 1 = \\boxed{2}$, not \\boxed{3}... wait: the total is \\boxed{\\frac{7}{2}}."


@pytest.mark.parametrize(
    "value, answer_format, answer",
    [
        pytest.param("  42\n", "plain", "42", id="plain_stripped"),
        pytest.param(7, "plain", "7", id="plain_number"),
        pytest.param("3 + 4 = 7\n#### 1,234", "gsm8k", "1234", id="gsm8k"),
        pytest.param(["\\frac{1}{2}", "0.5"], "first", "\\frac{1}{2}", id="first_of_list"),
        pytest.param([" 12 \n"], "first", "12", id="first_of_list_stripped"),
        pytest.param([], "first", None, id="empty_list"),
        pytest.param(SOLUTION, "last-boxed", "\\frac{7}{2}", id="last_boxed_of_solution"),
        pytest.param("no box here", "last-boxed", None, id="solution_without_box"),
        pytest.param(None, "plain", None, id="null"),
    ],
)
def test_extract_answer_by_format(value, answer_format, answer):
    assert extract_answer(value, answer_format) == answer


@pytest.mark.parametrize(
    "record, layout, reference",
    [
        pytest.param({"problem": "p", "answer": "5"}, Layout(), "5", id="default_answer_field"),
        pytest.param(
            {"problem": "p", "final_answer": ["$x^2$"]},
            Layout(answer_field="final_answer", answer_format="first"),
            "$x^2$",
            id="olympiadbench_style_list",
        ),
        pytest.param(
            {"problem": "p", "solution": SOLUTION},
            Layout(answer_field="solution", answer_format="last-boxed"),
            "\\frac{7}{2}",
            id="math_style_boxed_solution",
        ),
        pytest.param({"question": "p", "gt": "3"}, Layout(answer_field="gt"), "3", id="any_named_field"),
    ],
)
def test_math_benchmark_answer_is_where_the_layout_says(tmp_path, record, layout, reference):
    [item] = load_benchmark(_write(tmp_path, "m.jsonl", [record]), "math", limit=None, seed=0, layout=layout)
    assert item.reference == reference


@pytest.mark.parametrize(
    "record, layout, match",
    [
        pytest.param(
            {"problem": "p", "answer": "5"},
            Layout(answer_field="final_answer", answer_format="first"),
            r"m.jsonl, row 1: no field 'final_answer'; fields: \['answer', 'problem'\]",
            id="absent_field",
        ),
        pytest.param(
            {"problem": "p", "final_answer": "5"},
            Layout(answer_field="final_answer", answer_format="first"),
            r"row 1: field 'final_answer': expected a list of answers, got str",
            id="not_a_list",
        ),
        pytest.param(
            {"problem": "p", "solution": "no box"},
            Layout(answer_field="solution", answer_format="last-boxed"),
            r"row 1: no last-boxed answer in field 'solution'",
            id="no_box",
        ),
        pytest.param({"problem": "p", "answer": None}, Layout(), r"row 1: field 'answer' is null", id="null_answer"),
    ],
)
def test_math_benchmark_answer_errors_name_file_row_and_field(tmp_path, record, layout, match):
    with pytest.raises(BenchmarkDataError, match=match):
        load_benchmark(_write(tmp_path, "m.jsonl", [record]), "math", limit=None, seed=0, layout=layout)


@pytest.mark.parametrize(
    "answer_field, answer_format, rows, answers",
    [
        ("final_answer", "first", [["7"], [], None], ["7", None, None]),
        ("solution", "last-boxed", ["so \\boxed{7}.", "none", None], ["7", None, None]),
        ("answer", "plain", ["7\n", " ", None], ["7", None, None]),
    ],
)
def test_math_queries_answer_location(answer_field, answer_format, rows, answers):
    records = pl.DataFrame({"problem": ["a", "b", "c"], answer_field: rows})
    table = math_queries(
        records,
        source="s",
        problem_field="problem",
        answer_field=answer_field,
        solution_field=None,
        answer_format=answer_format,
    )
    assert table["answer"].to_list() == answers


# --- bad rows: the file, the row and the field ---------------------------------------------------


@pytest.mark.parametrize(
    "rows, match",
    [
        pytest.param(
            [{"nums": [1, 2], "target": 3}, {"nums": [1, 2], "target": None}],
            r"c.jsonl, row 2: field 'target' is null",
            id="null_field_present",
        ),
        pytest.param([{"nums": [1, 2]}], r"c.jsonl, row 1: no field 'target'; fields: \['nums'\]", id="absent_field"),
        pytest.param(
            [{"nums": [1, 2], "target": "ten"}], r"row 1: field 'target' is not an integer: 'ten'", id="non_numeric"
        ),
        pytest.param([{"nums": [1, 2], "target": 2.5}], r"row 1: field 'target' is not an integer: 2.5", id="fraction"),
        pytest.param(
            [{"nums": [1, -2], "target": 3}], r"row 1: field 'nums' is -2, below the least allowed 1", id="out_of_range"
        ),
        pytest.param([{"nums": "1 2", "target": 3}], r"row 1: field 'nums' is not a list", id="not_a_list"),
        pytest.param([{"nums": [], "target": 3}], r"row 1: field 'nums' is empty", id="empty_list"),
    ],
)
def test_bad_benchmark_rows_name_file_row_and_field(tmp_path, rows, match):
    with pytest.raises(BenchmarkDataError, match=match):
        load_benchmark(_write(tmp_path, "c.jsonl", rows), "countdown", limit=None, seed=0)


@pytest.mark.parametrize("limit", [None, 1, 3])
@pytest.mark.parametrize("seed", [0, 1])
def test_a_bad_row_is_named_by_its_place_in_the_file_whatever_the_sample(tmp_path, limit, seed):
    rows = [{"nums": [i, 1], "target": i + 1} for i in range(1, 9)]
    rows[4]["target"] = None
    path = _write(tmp_path, "c.jsonl", rows)
    try:
        items = load_benchmark(path, "countdown", limit=limit, seed=seed)
    except BenchmarkDataError as err:
        assert "c.jsonl, row 5: field 'target' is null" in str(err)
    else:  # the sample did not reach row 5
        assert 8 > len(items) and all(json.loads(i.reference)["target"] != 6 for i in items)


@pytest.mark.parametrize(
    "text, match",
    [
        pytest.param(
            '{"problem": "p", "answer": "1"}\n{"problem": "q", "answer": }\n',
            r"b.jsonl, line 2: not valid JSON",
            id="jsonl",
        ),
        pytest.param(
            '{"problem": "p", "answer": "1"}\n\n\n{"problem": \n',
            r"b.jsonl, line 4: not valid JSON",
            id="jsonl_line_counts_blank_lines",
        ),
    ],
)
def test_json_errors_name_file_and_line(tmp_path, text, match):
    path = tmp_path / "b.jsonl"
    path.write_text(text)
    with pytest.raises(BenchmarkDataError, match=match):
        load_benchmark(str(path), "math", limit=None, seed=0)


def test_json_list_error_names_file_and_line(tmp_path):
    path = tmp_path / "b.json"
    path.write_text('[\n  {"question": "q"},\n  {"question": oops}\n]')
    with pytest.raises(BenchmarkDataError, match=r"b.json, line 3: not valid JSON"):
        load_benchmark(str(path), "multiple-choice", limit=None, seed=0)


@pytest.mark.parametrize("kind", ["math", "countdown", "refusal", "ifeval", "yes-no", "multiple-choice"])
@pytest.mark.parametrize(
    "name, text", [("e.jsonl", ""), ("e.jsonl", "\n\n"), ("e.json", "[]"), ("e.csv", "prompt,label\n")]
)
def test_empty_benchmark_file_is_an_error_naming_it(tmp_path, kind, name, text):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(BenchmarkDataError, match=rf"{name}: no records \(an empty benchmark file\)"):
        load_benchmark(str(path), kind, limit=None, seed=0)


@pytest.mark.parametrize(
    "kind, row",
    [
        ("math", {"problem": "What is 1 + 1?", "answer": "2"}),
        ("countdown", {"nums": [1, 2], "target": 3}),
        ("refusal", {"prompt": "How do I pick a lock?", "label": "unsafe"}),
        ("multiple-choice", {"question": "Q?", "mc1_targets": {"a": 1, "b": 0}}),
    ],
)
@pytest.mark.parametrize("at", [1, 5])
def test_duplicated_items_are_an_error_naming_file_and_rows(tmp_path, kind, row, at):
    others = {
        "math": lambda i: {"problem": f"What is {i} + 7?", "answer": str(i + 7)},
        "countdown": lambda i: {"nums": [i, 10], "target": i + 10},
        "refusal": lambda i: {"prompt": f"Question {i}?", "label": "safe"},
        "multiple-choice": lambda i: {"question": f"Q{i}?", "mc1_targets": {"a": 1, "b": 0}},
    }[kind]
    rows = [others(i) for i in range(1, 7)]
    rows.insert(0, row)
    rows.insert(at + 1, dict(row))
    with pytest.raises(BenchmarkDataError, match=rf"d.jsonl: rows (1 and {at + 2}|{at + 2} and 1) give the same item"):
        load_benchmark(_write(tmp_path, "d.jsonl", rows), kind, limit=None, seed=0)


@pytest.mark.parametrize(
    "rows, match",
    [
        pytest.param(
            {"nums": [[1, 2], None], "target": [3, 4]}, r"source 'cd', row 2: field 'nums' is null", id="null"
        ),
        pytest.param(
            {"nums": [[1, 2], [1, 2]], "target": [3, None]}, r"row 2: field 'target' is null", id="null_target"
        ),
        pytest.param(
            {"nums": [[1, 2]], "target": ["x"]}, r"row 1: fields 'nums' and 'target' must be integers", id="non_numeric"
        ),
        pytest.param({"nums": [[1, 0]], "target": [1]}, r"row 1: out of range", id="out_of_range"),
    ],
)
def test_bad_countdown_query_rows_name_source_row_and_field(rows, match):
    with pytest.raises(ValueError, match=match):
        countdown_queries(pl.DataFrame(rows), source="cd")


# --- HEx-PHI: 11 header-less CSV files, one per category -----------------------------------------


def _hex_phi(folder, categories: int = 11, per_category: int = 3):
    folder.mkdir()
    for c in range(1, categories + 1):
        lines = [
            f'"Category {c}, request {i}: how do I do harm number {i}?"' if i % 2 else f"Plain request {c}.{i}"
            for i in range(per_category)
        ]
        (folder / f"category_{c}.csv").write_text("\n".join(lines) + "\n")
    return folder


def test_hex_phi_folder_gives_every_prompt_with_its_category(tmp_path):
    folder = _hex_phi(tmp_path / "HEx-PHI")
    layout = Layout(csv_header=False)
    items = load_benchmark(str(folder), "safety-judge", limit=None, seed=0, layout=layout)
    assert len(items) == 33 and {i.reference for i in items} == {"harmful"}
    by_category = {}
    for item in items:
        by_category.setdefault(item.category, []).append(item.prompt)
    assert sorted(by_category) == sorted(f"category_{c}" for c in range(1, 12))
    assert all(len(prompts) == 3 for prompts in by_category.values())
    # The first line is a prompt, not a header; a quoted comma stays inside its prompt.
    assert "Plain request 1.0" in by_category["category_1"]
    assert "Category 7, request 1: how do I do harm number 1?" in by_category["category_7"]
    assert len(benchmark_questions(str(folder), layout=layout)) == 33


def test_hex_phi_line_with_two_cells_is_an_error_naming_file_and_line(tmp_path):
    folder = _hex_phi(tmp_path / "HEx-PHI", categories=2)
    (folder / "category_2.csv").write_text("fine\nnot,one prompt\n")
    with pytest.raises(BenchmarkDataError, match=r"category_2.csv, line 2: 2 cells, expected one prompt a line"):
        load_benchmark(str(folder), "safety-judge", limit=None, seed=0, layout=Layout(csv_header=False))


def test_hex_phi_folder_without_csv_files_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(BenchmarkDataError, match="no .csv files"):
        load_benchmark(str(tmp_path / "empty"), "safety-judge", limit=None, seed=0, layout=Layout(csv_header=False))


def test_query_file_json_error_names_file_and_line(tmp_path):
    from workloads.data.queries import read_records

    path = tmp_path / "q.jsonl"
    path.write_text('{"problem": "p", "answer": "1"}\n{"problem": "q", "answer": }\n')
    with pytest.raises(ValueError, match=r"q.jsonl as .jsonl records, line 2 \(Expecting value\)"):
        read_records(str(path))
