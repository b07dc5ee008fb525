import pytest
from dagster import AssetKey

from jobs.study import JOB_ORDER
from orchestration.definitions import build_definitions
from orchestration.environments import resources_for


@pytest.fixture(scope="module")
def defs():
    from resources.recipe import load_recipe
    from tests.conftest import SMALL_RECIPE

    return build_definitions(load_recipe(SMALL_RECIPE), "local")


def test_every_job_resolves(defs):
    for name in JOB_ORDER:
        assert defs.resolve_job_def(name).name == name


def test_every_stage_has_its_group(defs):
    graph = defs.resolve_asset_graph()
    groups = {graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert groups == {"models", "queries", "generation", "verification", "datasets", "training", "evaluation", "analysis"}


def test_lineage_runs_from_queries_to_the_report(defs):
    graph = defs.resolve_asset_graph()
    upstream = graph.get(AssetKey("training_dynamics")).parent_keys
    assert AssetKey("checkpoint_eval") in upstream
    assert AssetKey("sft_run") in graph.get(AssetKey("checkpoint_eval")).parent_keys
    assert AssetKey("countdown_cot_dataset") in graph.get(AssetKey("sft_run")).parent_keys
    assert AssetKey("verdicts") in graph.get(AssetKey("countdown_cot_dataset")).parent_keys
    assert AssetKey("raw_queries") in graph.get(AssetKey("teacher_traces")).parent_keys


def test_partitions_follow_the_recipe(defs):
    graph = defs.resolve_asset_graph()
    assert graph.get(AssetKey("teacher_traces")).partitions_def.get_partition_keys() == ["shard-000", "shard-001"]
    runs = graph.get(AssetKey("sft_run")).partitions_def.get_partition_keys()
    assert [str(k) for k in runs] == ["countdown-cot|smollm2-135m"]


def test_unknown_environment_is_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"STUDY_ENV='mars'.*\['local'\]"):
        resources_for("mars")
