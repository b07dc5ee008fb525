"""Eval cells: every checkpoint (a dynamic partition) x every benchmark of the recipe.

A run may target many cells (a range: the sensor asks for all of a new checkpoint's cells, a
backfill from the UI for any rectangle of checkpoints x benchmarks). The cells are grouped by
checkpoint and each checkpoint's due cells are evaluated by one workload, so one warm engine
serves them all. A cell is due unless its table exists under the current cell definition: a
cell that is requested again but still current is reported, not recomputed.
"""

import json
from collections import defaultdict
from contextlib import nullcontext

import polars as pl
from dagster import (
    AllPartitionMapping,
    AssetDep,
    AssetExecutionContext,
    BackfillPolicy,
    DataVersion,
    MaterializeResult,
    MetadataValue,
    asset,
)

from assets.keys import Keys
from assets.metadata import preview
from assets.partitions import BASE_STEP, eval_cell_partitions
from assets.policies import WORKLOAD_RETRIES
from assets.study_plan import DEFAULT_THROUGHPUT, plan_metadata
from assets.training import read_manifest
from resources.judge import JudgeEndpoint
from resources.launcher import ComputeLauncher
from resources.llm import LLMEndpoint, pace_summary, with_dtype
from resources.recipe import Recipe
from resources.storage import Storage
from workloads.benchmarks import benchmark_version
from workloads.cost import Throughput
from workloads.naming import content_hash, parse_checkpoint_key
from workloads.prompts import SAFETY_JUDGE_TEMPLATE, SAFETY_POLICY, SAFETY_RUBRIC


def checkpoint_uri(recipe: Recipe, storage: Storage, keys: Keys, checkpoint: str) -> str:
    """Step 0 is the student before training; later steps come from the run's manifest, which
    training appends to as it saves, so a checkpoint can be evaluated while its run goes on."""
    run, step = parse_checkpoint_key(checkpoint)
    student = recipe.student_of(run)
    if step == BASE_STEP:
        return storage.uri(keys.model(student))
    records = [r for r in read_manifest(storage, keys.manifest(run)) if r["step"] == step]
    if not records:
        raise KeyError(f"{checkpoint}: run {run!r} has announced no checkpoint at step {step}")
    return records[-1]["uri"]


def cell_definition(recipe: Recipe, benchmark: str) -> str:
    """What a cell's result depends on besides the checkpoint: the benchmark's settings, the
    protocol, the version of its kind (scorer, prompts, extraction and the evaluation code, derived
    from the code: ``workloads.benchmarks.benchmark_version``) and, for judged cells, the judge
    model, its reply budget and its prompt."""
    ev = recipe.evaluation
    bench = ev.benchmarks[benchmark]
    definition = {
        "benchmark": bench.model_dump(exclude={"checkpoints"}),
        "sampling": ev.sampling.model_dump(),
        "max_model_len": ev.max_model_len,
        "scorer": benchmark_version(bench.kind),
    }
    if bench.kind == "safety-judge":
        definition["judge"] = {
            "model": ev.judge.model,
            "max_tokens": ev.judge.max_tokens,
            "prompt": content_hash([SAFETY_JUDGE_TEMPLATE, SAFETY_POLICY, SAFETY_RUBRIC]),
        }
    return content_hash(definition)


def eval_code_version(recipe: Recipe) -> str:
    """The asset's code version: changes when any cell's definition does. The refresh schedule
    then asks for those cells again, and only cells whose own definition changed are recomputed."""
    return content_hash({b: cell_definition(recipe, b) for b in sorted(recipe.evaluation.benchmarks)})


def current_table(
    storage: Storage, keys: Keys, checkpoint: str, benchmark: str, definition: str
) -> pl.DataFrame | None:
    """The cell's table if it was computed under ``definition``; None when the cell is due."""
    try:
        table = storage.read_table(keys.eval_table(checkpoint, benchmark))
    except FileNotFoundError:
        return None
    return table if table.height > 0 and set(table["definition"].to_list()) == {definition} else None


def cells_by_checkpoint(partition_keys) -> dict[str, list[str]]:
    cells = defaultdict(list)
    for key in partition_keys:
        cells[key.keys_by_dimension["checkpoint"]].append(key.keys_by_dimension["benchmark"])
    return dict(cells)


def build(recipe: Recipe) -> list:
    keys = Keys(recipe)
    ev = recipe.evaluation
    definitions = {b: cell_definition(recipe, b) for b in ev.benchmarks}
    version = eval_code_version(recipe)
    kinds = {name: b.kind for name, b in ev.benchmarks.items()}

    def cell_extras(storage: Storage, checkpoint: str, benchmark: str) -> dict:
        bench = ev.benchmarks[benchmark]
        return {
            **bench.model_dump(exclude={"checkpoints"}),
            "location": recipe.data_path(bench.location),
            "definition": definitions[benchmark],
            "samples_path": storage.uri(keys.eval_samples(checkpoint, benchmark)),
            "table_path": storage.uri(keys.eval_table(checkpoint, benchmark)),
        }

    @asset(
        group_name="evaluation",
        kinds={"vllm", "polars"},
        retry_policy=WORKLOAD_RETRIES,
        partitions_def=eval_cell_partitions(recipe),
        # A backfill range that Dagster cuts along one benchmark (it cuts a rectangle along its
        # shorter side) still becomes runs of at most this many checkpoints, which run in parallel.
        backfill_policy=BackfillPolicy.multi_run(max_partitions_per_run=len(ev.benchmarks)),
        code_version=version,
        metadata=plan_metadata(recipe, Throughput.load(DEFAULT_THROUGHPUT)),
        deps=[AssetDep("sft_run", partition_mapping=AllPartitionMapping())],
        pool="inference",
        description="Eval cells (checkpoint x benchmark): per-sample results and the cell's metrics (pass@1, "
        "IFEval's four accuracies, judged harmfulness, refusal rates) with bootstrap CIs, mean response "
        "length, truncation and unclosed-thinking rates. One engine per checkpoint per run. Its definition "
        "metadata holds the evaluation plan and the study's estimated cost. Until a training run registers "
        "its first checkpoint this asset has 0 partitions: nothing is evaluated yet, it is not done.",
    )
    def eval_cells(
        context: AssetExecutionContext,
        storage: Storage,
        launcher: ComputeLauncher,
        eval_endpoint: LLMEndpoint,
        judge_endpoint: JudgeEndpoint,
    ) -> MaterializeResult:
        requested = cells_by_checkpoint(context.partition_keys)
        tables = {
            (c, b): current_table(storage, keys, c, b, definitions[b])
            for c, benchmarks in requested.items()
            for b in benchmarks
        }
        due = {}
        for (checkpoint, benchmark), table in tables.items():
            if table is None:
                due.setdefault(checkpoint, []).append(benchmark)
        reused = sum(table is not None for table in tables.values())
        context.log.info(f"{len(tables) - reused} cells to compute, {reused} current ones reused")
        judged = any(kinds[b] == "safety-judge" for benchmarks in due.values() for b in benchmarks)
        judge_model_dir = (
            storage.uri(keys.model(ev.judge.model)) if ev.judge and ev.judge.model in recipe.models else None
        )
        tracked = {}  # training run -> its MLflow run, where the cells' metrics were logged
        reported, workloads = {}, {}
        with judge_endpoint.serving(ev.judge, judge_model_dir) if judged else nullcontext(None) as judge:
            for checkpoint, benchmarks in due.items():
                extras = {
                    "checkpoint": checkpoint,
                    "endpoint": with_dtype(
                        eval_endpoint.settings(
                            model=checkpoint_uri(recipe, storage, keys, checkpoint), max_model_len=ev.max_model_len
                        ),
                        ev.dtype,
                    ),
                    "cells": {b: cell_extras(storage, checkpoint, b) for b in benchmarks},
                    "kinds": kinds,
                    "sampling": ev.sampling.model_dump(),
                    "seed": recipe.seed,
                    "judge": judge if any(kinds[b] == "safety-judge" for b in benchmarks) else None,
                    "judge_cache": storage.uri(keys.judge_cache()),
                    # Eval metrics go into the training run's tracker where training reports to MLflow.
                    "report_to": recipe.training.model_extra.get("report_to"),
                }
                gpus = extras["endpoint"].get("tensor_parallel_size", 0)
                result = launcher.run(context, "evaluate", extras, gpus=gpus).get_materialize_result()
                reported[checkpoint] = json.loads(result.metadata["cells"].value)
                if "mlflow_run" in result.metadata:
                    tracked[parse_checkpoint_key(checkpoint)[0]] = result.metadata["mlflow_run"].value
                # The engine, compute dtype and pace of each checkpoint's workload.
                workloads[checkpoint] = {k: m.value for k, m in result.metadata.items() if k != "cells"}
        table = pl.concat(
            [t if t is not None else storage.read_table(keys.eval_table(c, b)) for (c, b), t in tables.items()]
        )
        headline = table.filter(pl.col("headline")).drop("headline", "definition")
        # The data version of a cell is the definition it is current under (the same for a cell
        # reused as for one computed now): downstream sees a change only when a definition changes,
        # and the refresh schedule reads every cell's in one query (an indexed tag).
        return MaterializeResult(
            data_version=DataVersion(version),
            metadata={
                "cells": len(tables),
                "cells_computed": len(tables) - reused,
                "cells_reused": reused,
                "computed": MetadataValue.json(reported),
                **({"mlflow_runs": MetadataValue.json(tracked)} if tracked else {}),
                "workloads": MetadataValue.json(workloads),
                **pace_summary(workloads.values()),
                "headline_metrics": preview(headline, rows=50),
                "eval_table": preview(table.drop("definition"), rows=100),
            },
        )

    return [eval_cells]
