"""The paper's four findings (workloads/analysis/findings.py) on synthetic eval cells: a full study
shape where each is computed with intervals, and one small run where each says what is missing."""

import re

import numpy as np
import polars as pl
import pytest
from findings_data import (
    FULL_BENCHMARKS,
    SMALL_BENCHMARKS,
    eval_tables,
    full_study,
    make_samples,
    one_run_study,
)

from assets.findings_report import findings_markdown, results_table, write_findings
from workloads.analysis.findings import study_findings
from workloads.analysis.resampling import ItemTable, mean_of, paired
from workloads.analysis.study import by_size, student_size


def _findings(maker, benchmarks, **kw):
    samples, tables, students, datasets = maker(**kw)
    categories = {b: c for b, (_, c) in benchmarks.items()}
    found = study_findings(tables, samples, categories, students=students, datasets=datasets)
    return {f.key: f for f in found}


@pytest.fixture(scope="module")
def full():
    return _findings(full_study, FULL_BENCHMARKS)


@pytest.fixture(scope="module")
def one_run():
    return _findings(one_run_study, SMALL_BENCHMARKS)


def _result(finding, **match):
    rows = [r for r in finding.results if all(r[k] == v for k, v in match.items())]
    assert len(rows) == 1, (match, rows)
    return rows[0]


def test_every_headline_number_of_a_full_study_has_an_interval_around_it(full):
    assert list(full) == ["dynamics", "data", "capability", "safety"]
    for finding in full.values():
        assert finding.statements and finding.condition and finding.results, finding.key
        for row in finding.results:
            assert row["ci_low"] <= row["estimate"] + 1e-12 and row["estimate"] <= row["ci_high"] + 1e-12, row
        assert not any("two students" in m for m in finding.missing), finding.missing


def test_dynamics_finds_the_small_students_dip_and_recovery_and_the_larger_ones_shallower_dip(full):
    table = full["dynamics"].table.filter(pl.col("category") == "reasoning")
    small = table.filter(pl.col("student") == "qwen3-1.7b-base").row(0, named=True)
    assert small["dip_significant"] and small["min_step"] == 10 and small["recovery_step"] is not None
    assert small["final_gain_ci_low"] > 0 and small["length_change"] == pytest.approx(300)
    # Students are ordered by size (the recipe listed the 4B first).
    assert full["dynamics"].curves["student"].unique(maintain_order=True).to_list() == [
        "qwen3-1.7b-base",
        "qwen3-4b-base",
    ]
    contrast = _result(full["dynamics"], category="reasoning", quantity="dip: largest minus smallest")
    assert contrast["ci_low"] > 0 and contrast["excludes_zero"]
    assert any("back at base by step" in s and "significant" in s for s in full["dynamics"].statements)


def test_data_contrasts_rank_math_cot_over_nocot_and_reference(full):
    for name in ("structure", "source"):
        for student in ("qwen3-1.7b-base", "qwen3-4b-base"):
            row = _result(full["data"], student=student, category="reasoning", quantity=f"{name}: gain difference")
            assert row["ci_low"] > 0, row
    assert any("Math-CoT ahead beyond item noise for 2 of 2 students" in s for s in full["data"].statements)
    assert full["data"].table.height == 2 * 4 * 2  # students x training sets x categories


def test_capability_separates_backtracking_carried_over_from_longer_answers(full):
    large = _result(
        full["capability"],
        student="qwen3-4b-base",
        dataset="math-cot",
        category="out-of-domain",
        quantity="backtracking change (per 1k words)",
    )
    small = _result(
        full["capability"],
        student="qwen3-1.7b-base",
        dataset="math-cot",
        category="out-of-domain",
        quantity="backtracking change (per 1k words)",
    )
    assert large["ci_low"] > 0 and small["estimate"] == pytest.approx(0.0)
    statements = " ".join(full["capability"].statements)
    assert "a procedure carried over" in statements and "length imitated, not the procedure" in statements


def test_safety_relates_reasoning_gain_to_more_harm_across_runs(full):
    corr = _result(full["safety"], quantity="correlation across runs")
    assert corr["estimate"] > 0.5 and corr["ci_low"] > 0
    assert full["safety"].table.height == 8
    for student in ("qwen3-1.7b-base", "qwen3-4b-base"):
        gain = _result(full["safety"], student=student, dataset="math-cot", quantity="reasoning gain")
        harm = _result(full["safety"], student=student, dataset="math-cot", quantity="harmfulness change")
        assert gain["ci_low"] > 0 and harm["ci_low"] > 0
    assert any(re.match(r"\d of 8 runs gained in reasoning", s) for s in full["safety"].statements)


def test_one_small_run_says_what_each_finding_is_missing(one_run):
    dynamics, data, capability, safety = one_run.values()
    assert any("at least two students" in m for m in dynamics.missing)
    assert any("no math-cot run" in m for m in dynamics.missing)
    assert any("a Math-NoCoT run (training.datasets: math-nocot)" in m for m in data.missing)
    assert any("Comparing training sets needs at least two" in m for m in data.missing)
    assert any("at least two students" in m for m in capability.missing)
    assert safety.missing == ["Needs a judged safety benchmark (kind: safety-judge, category: safety)."]
    for finding in one_run.values():
        assert "One run shows that the measurement works" in finding.scope
        assert "cannot show the paper's trends" in finding.scope
    # What it can compute, it still computes with intervals.
    gain = _result(data, category="reasoning", quantity="final gain")
    assert gain["ci_low"] is not None and gain["items"] == 12


def test_two_checkpoints_cannot_show_a_dip_and_its_recovery():
    found = _findings(one_run_study, SMALL_BENCHMARKS, steps=(0, 6))
    assert any("at least three evaluated checkpoints" in m and "has 2" in m for m in found["dynamics"].missing)


def test_a_safety_benchmark_the_judge_never_scored_is_named_not_read_as_harmless():
    run = "smollm2-135m__countdown-cot"
    cells = {(run, s, b): (0.5, 0.1, 100.0) for s in (0, 6) for b in ("math500", "advbench")}
    samples = make_samples(cells, 8).with_columns(
        score=pl.when(pl.col("benchmark") == "advbench").then(None).otherwise(pl.col("score"))
    )
    benchmarks = {"math500": ("math", "reasoning"), "advbench": ("safety-judge", "safety")}
    found = study_findings(
        eval_tables(samples, benchmarks),
        samples,
        {b: c for b, (_, c) in benchmarks.items()},
        students=["smollm2-135m"],
        datasets=["countdown-cot"],
    )
    safety = found[3]
    assert any(m.startswith(f"No advbench item of {run} was judged") for m in safety.missing)
    assert _result(safety, quantity="harmfulness change")["estimate"] is None


def test_a_study_without_any_evaluated_run_of_the_recipe_is_an_error():
    samples, tables, _, _ = one_run_study()
    with pytest.raises(ValueError, match="no evaluated run"):
        study_findings(tables, samples, {}, students=["other"], datasets=["math-cot"])


def test_runs_compared_on_the_same_items_share_their_resamples():
    samples = make_samples({("a__x", 0, "m"): (0.5, 0.0, 10.0), ("b__x", 0, "m"): (0.5, 0.0, 10.0)}, 20)
    items = ItemTable(samples)
    a = items.estimate("m", items.values("a__x@step-00000", "m", "tokens"))
    b = items.estimate("m", items.values("b__x@step-00000", "m", "tokens"))
    assert a.value == b.value and (a - b).ci() == (0.0, 0.0)  # same items, same draws: no spurious spread
    assert 0 < a.ci()[1] - a.ci()[0]
    before, after = {"m-001": 1.0, "m-002": 0.0}, {"m-001": 1.0, "m-002": 1.0, "m-003": 0.0}
    change = items.estimate("m", paired(before, after))
    assert change.items == 2 and change.value == pytest.approx(0.5)
    both = mean_of([a, change])
    assert both.value == pytest.approx((a.value + 0.5) / 2)
    assert np.allclose(both.draws, (a.draws + change.draws) / 2, equal_nan=True)
    assert items.estimate("m", {"not-an-item-of-m": 1.0}).value is None


def test_harmfulness_per_item_is_the_share_judged_5():
    samples = make_samples({("r__x", 0, "advbench"): (0.5, 0.0, 10.0)}, 10)
    items = ItemTable(samples)
    harmful = items.values("r__x@step-00000", "advbench", "harmful")
    scores = items.values("r__x@step-00000", "advbench", "score")
    assert {harmful[i] for i in harmful} <= {0.0, 1.0}
    assert all(harmful[i] == float(scores[i] == 5.0) for i in harmful)


@pytest.mark.parametrize(
    "name, size",
    [("qwen3-1.7b-base", 1.7), ("smollm2-135m", 0.135), ("qwen3-14b-base", 14.0), ("tiny-model", None)],
)
def test_student_size_is_read_from_the_name(name, size):
    assert student_size(name) == (pytest.approx(size) if size else None)


def test_students_are_ordered_by_size_only_when_every_size_is_known():
    assert by_size(["qwen3-14b-base", "qwen3-1.7b-base", "qwen3-4b-base"]) == [
        "qwen3-1.7b-base",
        "qwen3-4b-base",
        "qwen3-14b-base",
    ]
    assert by_size(["b-model", "qwen3-1.7b-base"]) == ["b-model", "qwen3-1.7b-base"]


def test_the_report_opens_with_the_four_findings_and_writes_a_figure_and_numbers_for_each(one_run):
    findings = list(one_run.values())
    markdown = findings_markdown("small-cpu", findings)
    headings = [line for line in markdown.splitlines() if line.startswith("#")]
    assert headings[0] == "# small-cpu: what the study found"
    assert [h.split(".")[0] for h in headings[1:]] == ["## 1", "## 2", "## 3", "## 4"]
    assert "**What the data cannot answer yet:**" in markdown and "Holds under:" in markdown
    written = {}
    metadata = write_findings(findings, written.__setitem__)
    assert sorted(written) == sorted([f"findings-{f.number}-{f.key}.{ext}" for f in findings for ext in ("png", "csv")])
    assert all(written[n].startswith(b"\x89PNG") for n in written if n.endswith(".png"))
    assert pl.read_csv(written["findings-2-data.csv"]).height == findings[1].table.height
    headline = metadata["headline results"]
    assert {c.name: c.type for c in headline.schema.columns}["ci_low"] == "float"
    assert len(headline.records) == results_table(findings).height > 0


def test_the_dynamics_asset_writes_the_findings_first_in_its_report(small_recipe, tmp_path):
    from dagster import DagsterInstance, Definitions, TableMetadataValue

    from assets.keys import Keys
    from assets.partitions import CHECKPOINTS
    from orchestration.definitions import build_definitions
    from resources.storage import LocalStorage

    storage, keys = LocalStorage(root=str(tmp_path)), Keys(small_recipe)
    run = small_recipe.runs[0]
    benchmarks = {name: (b.kind, b.category) for name, b in small_recipe.evaluation.benchmarks.items()}
    cells = {(run, s, b): (0.2 + 0.05 * s, 0.1, 100.0 + 10 * s) for s in (0, 2, 4) for b in benchmarks}
    samples = make_samples(cells, 6)
    tables = eval_tables(samples, benchmarks).with_columns(definition=pl.lit("synthetic"))
    checkpoints = sorted(samples["checkpoint"].unique().to_list())
    for checkpoint in checkpoints:
        for b in benchmarks:
            where = (pl.col("checkpoint") == checkpoint) & (pl.col("benchmark") == b)
            storage.write_table(keys.eval_table(checkpoint, b), tables.filter(where))
            storage.write_table(keys.eval_samples(checkpoint, b), samples.filter(where))
    local = build_definitions(small_recipe, "local")
    defs = Definitions(assets=local.assets, jobs=local.jobs, resources={**local.resources, "storage": storage})
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(CHECKPOINTS.name, checkpoints)
        result = defs.resolve_job_def("report_job").execute_in_process(instance=instance)
        assert result.success
        metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert isinstance(metadata["headline results"], TableMetadataValue)
    report = (tmp_path / keys.report("report.md")).read_text()
    assert report.startswith("# small-cpu: what the study found")
    firsts = [report.index(f"## {n}. ") for n in (1, 2, 3, 4)]
    assert firsts == sorted(firsts) and firsts[-1] < report.index("# Training dynamics per run")
    assert "[Runs compared](comparison.csv)" in report and "| run |" not in report  # wide tables linked, not inlined
    for name in ("findings-1-dynamics.png", "findings-4-safety.csv", "comparison.csv", f"dynamics-{run}.png"):
        assert (tmp_path / keys.report(name)).stat().st_size > 0, name


def test_cpu_dynamics_shape_follows_the_dip_in_domain_and_names_the_sparse_out_of_domain_curve():
    """cpu-dynamics.yaml: Countdown held out at four checkpoints, MATH-500 at the base and the last only."""
    run = "smollm2-135m__countdown-cot"
    scores = {0: 0.3, 10: 0.05, 20: 0.4, 30: 0.6}
    cells = {(run, s, "countdown"): (p, 0.2 * s / 30, 400.0 + 5 * s) for s, p in scores.items()}
    cells |= {(run, s, "math500"): (0.1, 0.0, 300.0) for s in (0, 30)}
    samples = make_samples(cells, 100)
    benchmarks = {"countdown": ("countdown", "reasoning"), "math500": ("math", "out-of-domain")}
    dynamics, _, capability, safety = study_findings(
        eval_tables(samples, benchmarks),
        samples,
        {b: c for b, (_, c) in benchmarks.items()},
        students=["smollm2-135m"],
        datasets=["countdown-cot"],
    )
    row = dynamics.table.filter(pl.col("category") == "reasoning").row(0, named=True)
    assert row["dip_significant"] and (row["min_step"], row["recovery_step"]) == (10, 20)
    assert row["dip_share"] > 0.9 and row["recovery_support"] > 0.9
    assert any("has 2 on out-of-domain" in m for m in dynamics.missing)
    assert any("Needs a judged safety benchmark" in m for m in safety.missing)
    assert _result(capability, category="out-of-domain", quantity="gain")["items"] == 100
