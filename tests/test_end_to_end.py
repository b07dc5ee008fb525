"""The small recipe, shrunk further, materialized end to end into a fresh instance and storage."""

import polars as pl
import pytest
from dagster import AssetKey, DagsterInstance

from orchestration.run_study import run_study
from recipe_schema.recipe import load_recipe

TINY = {
    "name": "e2e",
    "dataset_targets": {"countdown-cot": 4},
    "models": {
        "tiny-student": {
            "source": "tiny-config",
            "base": "smollm2-135m",
            # head_dim 64: vLLM's CPU attention supports only a few head sizes
            "config": {
                "num_hidden_layers": 2,
                "hidden_size": 128,
                "intermediate_size": 256,
                "num_attention_heads": 2,
                "num_key_value_heads": 1,
                "head_dim": 64,
            },
        }
    },
    "queries": {"math": {"size": 4}, "countdown": {"size": 8}},
    "generation": {"shards": 1, "sampling": {"n": 2, "max_new_tokens": 48}},
    "training": {
        "students": ["tiny-student"],
        "epochs": 1,
        "global_batch_size": 4,
        "per_device_batch_size": 4,
        "max_length": 384,
        "save_every": 1,
    },
    "evaluation": {
        "sampling": {"max_new_tokens": 24},
        "benchmarks": {
            "math500": {"limit": 2},
            "countdown": {"limit": 2},
            "truthfulqa-mc1": {"limit": 2},
            "ifeval": {"limit": 2},
            "advbench": {"limit": 2, "max_new_tokens": 16},
        },
        "judge": {"max_tokens": 32},  # the small recipe's judge: a vLLM server started for the run
    },
}


@pytest.mark.slow
def test_small_recipe_materializes_every_stage(write_recipe, tmp_path, monkeypatch):
    monkeypatch.setenv("STUDY_STORAGE_DIR", str(tmp_path / "storage"))
    recipe_path = write_recipe(TINY)
    recipe = load_recipe(recipe_path)
    with DagsterInstance.ephemeral() as instance:
        run_study(str(recipe_path), "local", instance=instance)

        for key in ["raw_queries", "countdown_cot_dataset", "training_dynamics"]:
            assert instance.get_latest_materialization_event(AssetKey(key)) is not None, key
        checkpoints = instance.get_dynamic_partitions("checkpoints")
        run = recipe.runs[0]
        assert checkpoints == [f"{run}@step-00000", f"{run}@step-00001", f"{run}@step-00002"]
        materialized_cells = {
            (c, b)
            for b in recipe.evaluation.benchmarks
            for c in instance.get_materialized_partitions(AssetKey(["eval_cells", b]))
        }

    root = tmp_path / "storage" / "e2e"
    queries = pl.read_parquet(root / "queries" / "queries.parquet")
    assert queries.height == 12 and queries["query_id"].n_unique() == 12

    traces = pl.read_parquet(root / "generation" / "shard-000" / "traces.parquet")
    assert set(traces["teacher"]) == {"smollm2-135m", "countdown-solver-v1"}
    assert traces.filter(pl.col("teacher") == "smollm2-135m").height == 4 * 2

    countdown = pl.read_parquet(root / "datasets" / "countdown-cot" / "data" / "train-00000-of-00001.parquet")
    assert countdown.height > 0 and countdown["tokens"].min() > 0
    assert (root / "datasets" / "countdown-cot" / "README.md").read_text().startswith("---")

    cells = sorted((p.parent.name, p.stem) for p in (root / "evaluation" / "tables").glob("*/*.parquet"))
    assert cells == sorted((c, b) for c in checkpoints for b in recipe.evaluation.benchmarks)
    table = pl.concat(
        [pl.read_parquet(p) for p in (root / "evaluation" / "tables").glob(f"{run}@step-00002/*.parquet")]
    )
    assert set(table["metric"]) == {
        "pass@1",
        "prompt_level_strict_acc",
        "inst_level_strict_acc",
        "prompt_level_loose_acc",
        "inst_level_loose_acc",
        "harmfulness_rate",
        "judge_score",
    }
    judged = pl.read_parquet(root / "evaluation" / "samples" / f"{run}@step-00002" / "advbench.parquet")
    assert judged.height == 2 and judged["details"].str.contains("judge_reply").all()
    # Every non-empty reply was judged once and cached (an empty one needs no judge), in the cache
    # of the checkpoint whose answers were judged.
    cache_root = root / "evaluation" / "judge-cache"
    cache = pl.concat([pl.read_parquet(p) for p in (cache_root / f"{run}@step-00002").glob("part-*.parquet")])
    assert cache["key"].n_unique() == cache.height > 0
    assert {p.name for p in cache_root.iterdir()} <= set(checkpoints)
    assert materialized_cells == set(cells)

    curve = pl.read_parquet(root / "analysis" / "curves.parquet")
    assert sorted(curve["step"].unique()) == [0, 1, 2]
    assert (root / "analysis" / f"dynamics-{run}.png").stat().st_size > 0
    assert f"![{run}](dynamics-{run}.png)" in (root / "analysis" / "report.md").read_text()
