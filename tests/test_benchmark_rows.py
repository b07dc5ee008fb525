"""Bad benchmark rows are errors that name the file and the row, whatever the file's format and
whatever stands where a record belongs."""

import json

import pytest

from workloads.core.text import extract_answer
from workloads.evaluation.items import BenchmarkDataError
from workloads.evaluation.loading import load_benchmark

NOT_RECORDS = [["a", "list"], "a string", 42, None, True]


def _load(path, kind="math"):
    return load_benchmark(str(path), kind, limit=None, seed=0)


@pytest.mark.parametrize("bad", NOT_RECORDS, ids=repr)
@pytest.mark.parametrize("at", [1, 3])
def test_a_jsonl_line_that_is_not_an_object_names_its_line(tmp_path, bad, at):
    lines = [json.dumps({"problem": f"p{i}", "answer": "1"}) for i in range(3)]
    lines.insert(at - 1, json.dumps(bad))
    path = tmp_path / "b.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(BenchmarkDataError, match=rf"b\.jsonl, line {at}: a record must be an object"):
        _load(path)


@pytest.mark.parametrize("bad", NOT_RECORDS, ids=repr)
def test_a_json_list_entry_that_is_not_an_object_names_its_record(tmp_path, bad):
    path = tmp_path / "b.json"
    path.write_text(json.dumps([{"problem": "p", "answer": "1"}, bad]))
    with pytest.raises(BenchmarkDataError, match=r"b\.json, record 2: a record must be an object"):
        _load(path)


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv"])
@pytest.mark.parametrize("line", [1, 2])
def test_bytes_that_are_not_utf8_name_the_file_and_line(tmp_path, suffix, line):
    good = {".jsonl": b'{"problem": "p", "answer": "1"}\n', ".json": b"[\n", ".csv": b"problem,answer\n"}[suffix]
    bad = b'{"problem": "caf\xe9", "answer": "1"}\n' if suffix != ".csv" else b"caf\xe9,1\n"
    data = good + bad if line == 2 else bad + good
    path = tmp_path / f"b{suffix}"
    path.write_bytes(data)
    with pytest.raises(BenchmarkDataError, match=rf"b\{suffix}, line {line}: not UTF-8 text"):
        _load(path)


@pytest.mark.parametrize("gold", [["1", "2"], {"value": "1"}, True], ids=["list", "mapping", "bool"])
def test_a_gold_answer_that_is_not_text_or_a_number_is_refused(tmp_path, gold):
    path = tmp_path / "b.jsonl"
    path.write_text(json.dumps({"problem": "p", "answer": gold}) + "\n")
    with pytest.raises(BenchmarkDataError, match=r"b\.jsonl, row 1: field 'answer'.*text or number"):
        _load(path)


@pytest.mark.parametrize("value, expected", [("7", "7"), (7, "7"), (2.5, "2.5"), (" x ", "x")])
def test_text_and_numbers_are_gold_answers(value, expected):
    assert extract_answer(value, "plain") == expected


def test_a_list_is_still_an_answer_where_the_layout_says_first():
    assert extract_answer(["3", "4"], "first") == "3"
