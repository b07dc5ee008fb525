"""Every asset carries a code version derived from the recipe settings it reads and the code that
computes it, so the UI's stale badge follows a recipe change to the assets it affects and to no
others. Stand-ins with each asset's key, dependencies, partitions and code version are materialized
(the real ones need models and engines); Dagster's stale-status resolver then reads them against
the definitions of a changed recipe."""

import copy

import pytest
from dagster import AssetKey, DagsterInstance, MaterializeResult, materialize, multi_asset

from assets import versions
from assets.evaluation import EVAL_PREFIX
from orchestration.definitions import build_definitions

# The assets before the eval cells, in the order a study materializes them.
PIPELINE = ["base_models", "raw_queries", "teacher_traces", "verdicts", "datasets", "sft_run"]


def _stage(key: AssetKey) -> str:
    name = key.path[-1]
    return "datasets" if name.endswith("_dataset") else name


def _pipeline_specs(recipe):
    specs = [
        spec
        for assets_def in build_definitions(recipe, "local").assets
        for spec in assets_def.specs
        if spec.key.path[0] != EVAL_PREFIX and _stage(spec.key) in PIPELINE
    ]
    return sorted(specs, key=lambda spec: PIPELINE.index(_stage(spec.key)))


def _stand_in(spec):
    @multi_asset(name=f"stand_in_{spec.key.to_python_identifier()}", specs=[spec.replace_attributes(skippable=False)])
    def stand_in():
        yield MaterializeResult(asset_key=spec.key)

    return stand_in


def _materialize(instance, recipe, stages=PIPELINE):
    for spec in _pipeline_specs(recipe):
        if _stage(spec.key) in stages:
            stand_in = _stand_in(spec)
            partitions = spec.partitions_def.get_partition_keys() if spec.partitions_def else [None]
            for partition in partitions:
                assert materialize([stand_in], instance=instance, partition_key=partition).success
    return instance


@pytest.fixture(scope="module")
def materialized(small_recipe_module):
    """An instance where every asset up to the training runs was materialized, every partition,
    under the small recipe's code versions."""
    return _materialize(DagsterInstance.ephemeral(), small_recipe_module)


@pytest.fixture(scope="module")
def small_recipe_module():
    from recipe_schema.loading import load_recipe
    from tests.conftest import SMALL_RECIPE

    return load_recipe(SMALL_RECIPE)


def _statuses(instance, recipe) -> dict[str, set]:
    """Each pipeline stage's stale statuses over its assets and partitions."""
    from dagster._utils.test.data_versions import get_stale_status_resolver  # Dagster's own test helper

    resolver = get_stale_status_resolver(instance, build_definitions(recipe, "local").assets)
    found = {}
    for spec in _pipeline_specs(recipe):
        partitions = spec.partitions_def.get_partition_keys() if spec.partitions_def else [None]
        found.setdefault(_stage(spec.key), set()).update(resolver.get_status(spec.key, p) for p in partitions)
    return found


def test_every_asset_has_a_code_version(small_recipe):
    for assets_def in build_definitions(small_recipe, "local").assets:
        for spec in assets_def.specs:
            if _stage(spec.key) in PIPELINE or spec.key.path[0] == EVAL_PREFIX:
                assert spec.code_version, f"{spec.key.to_user_string()} has no code version"


def test_an_unchanged_recipe_leaves_everything_fresh(materialized, small_recipe_module):
    from dagster._core.definitions.data_version import StaleStatus

    assert _statuses(materialized, small_recipe_module) == {stage: {StaleStatus.FRESH} for stage in PIPELINE}


def test_a_sampling_change_marks_the_teacher_traces_stale_and_nothing_upstream(materialized, small_recipe_module):
    from dagster._core.definitions.data_version import StaleStatus

    changed = copy.deepcopy(small_recipe_module)
    changed.generation.sampling.temperature = 0.8
    statuses = _statuses(materialized, changed)
    assert statuses["teacher_traces"] == {StaleStatus.STALE}
    assert statuses["base_models"] == statuses["raw_queries"] == {StaleStatus.FRESH}
    # What was computed from the traces waits for them: Dagster marks it stale once they change.
    assert all(statuses[stage] == {StaleStatus.FRESH} for stage in ("verdicts", "datasets", "sft_run"))


def test_recomputed_traces_make_what_was_built_from_them_stale(small_recipe):
    from dagster._core.definitions.data_version import StaleStatus

    instance = _materialize(DagsterInstance.ephemeral(), small_recipe, ["teacher_traces", "verdicts", "datasets"])
    changed = copy.deepcopy(small_recipe)
    changed.generation.sampling.temperature = 0.8
    _materialize(instance, changed, ["teacher_traces"])
    statuses = _statuses(instance, changed)
    assert statuses["teacher_traces"] == {StaleStatus.FRESH}
    assert statuses["verdicts"] == statuses["datasets"] == {StaleStatus.STALE}


def test_a_training_change_marks_only_the_training_runs_stale(materialized, small_recipe_module):
    from dagster._core.definitions.data_version import StaleStatus

    changed = copy.deepcopy(small_recipe_module)
    changed.training.learning_rate = 3e-4
    statuses = _statuses(materialized, changed)
    assert statuses == {stage: {StaleStatus.STALE if stage == "sft_run" else StaleStatus.FRESH} for stage in PIPELINE}


def test_each_version_moves_with_its_own_settings_only(small_recipe):
    changed = copy.deepcopy(small_recipe)
    changed.evaluation.benchmarks["math500"].n = 7  # how items are sampled, not which items exist
    changed.dataset_targets = {"math-cot": 5}  # a check's threshold, not the data
    for version in (versions.models_version, versions.queries_version, versions.datasets_version):
        assert version(changed) == version(small_recipe)
    assert versions.analysis_version(changed) == versions.analysis_version(small_recipe)
    changed.evaluation.benchmarks["math500"].category = "safety"  # grouped elsewhere in the analysis
    assert versions.analysis_version(changed) != versions.analysis_version(small_recipe)
    changed.evaluation.benchmarks["math500"].limit = 3  # other items: other decontamination
    assert versions.queries_version(changed) != versions.queries_version(small_recipe)
    assert versions.traces_version(changed) == versions.traces_version(small_recipe)


def test_a_programs_code_counts_in_its_version(tmp_path, monkeypatch):
    package = tmp_path / "workloads_demo"
    package.mkdir()
    (package / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    program = package / "program.py"
    digests = []
    for body in (
        '"""A program."""\nSTEP = 1\n',
        '"""Its docstring reworded."""\nSTEP = 1\n',
        '"""A program."""\nSTEP = 2\n',
    ):
        program.write_text(body)
        versions.program_digest.cache_clear()  # the same module name, new code
        digests.append(versions.program_digest("workloads_demo.program"))
    assert digests[0] == digests[1] != digests[2]
