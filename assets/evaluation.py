"""Eval cells: one asset per benchmark (``eval_cells/<benchmark>``), partitioned by checkpoint (a
dynamic partition), all produced by one subsettable multi-asset.

Each benchmark's asset carries its own cell definition as code version, so changing one
benchmark's settings marks only that benchmark's cells stale. A run selects some benchmarks and
one checkpoint (the sensor, the schedule, a UI backfill) or a range of them (``run_study``); each
checkpoint's due cells are evaluated by one workload, so one warm engine serves them all. A cell
is due unless its table exists under the current cell definition: a cell that is requested again
but still current is reported, not recomputed.
"""

from contextlib import nullcontext

import polars as pl
from dagster import (
    AllPartitionMapping,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetDep,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    BackfillPolicy,
    DataVersion,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)

from assets.keys import Keys, read_manifest
from assets.metadata import preview, typed_table
from assets.partitions import BASE_STEP, CHECKPOINTS
from assets.policies import WORKLOAD_RETRIES
from assets.study_plan import DEFAULT_THROUGHPUT, plan_metadata
from recipe_schema.recipe import Recipe
from resources.judge_endpoint import JudgeEndpoint
from resources.launchers.compute import ComputeLauncher
from resources.llm import LLMEndpoint, pace_summary, with_dtype
from resources.storage import CorruptTable, Storage
from workloads.core.naming import content_hash, parse_checkpoint_key
from workloads.core.prompts import SAFETY_JUDGE_TEMPLATE, SAFETY_POLICY, SAFETY_RUBRIC
from workloads.evaluation.registry import kind_of
from workloads.evaluation.versions import benchmark_version
from workloads.planning.cost import Throughput
from workloads.programs.inputs import EvalCell, EvaluateInputs


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
    from the code: ``workloads.evaluation.versions.benchmark_version``) and, for judged cells, the judge
    model, its reply budget and its prompt. It is the benchmark asset's code version and the data
    version of its cells: changing it marks this benchmark's cells stale, and no other's."""
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


def current_table(
    storage: Storage, keys: Keys, checkpoint: str, benchmark: str, definition: str
) -> pl.DataFrame | None:
    """The cell's table if it was computed under ``definition``; None when the cell is due, and when
    its stored table is damaged (a damaged table is computed again, not a reason to stop)."""
    try:
        table = storage.read_table(keys.eval_table(checkpoint, benchmark))
    except (FileNotFoundError, CorruptTable):
        return None
    return table if table.height > 0 and set(table["definition"].to_list()) == {definition} else None


def workload_report(invocation, checkpoint: str) -> dict:
    """The evaluation workload's report: its last ``report`` message (a step may materialize
    several benchmarks' assets, so the workload reports in a message, not as one materialization)."""
    reports = [m["report"] for m in invocation.get_custom_messages() if isinstance(m, dict) and "report" in m]
    if not reports:
        raise RuntimeError(f"the evaluation of {checkpoint} ended without reporting its cells")
    return reports[-1]


EVAL_PREFIX = "eval_cells"
# The headline table in the UI: a benchmark's score and its health at each checkpoint, sortable.
HEADLINE = {
    "checkpoint": "<run>@step-NNNNN (step 0: the untrained student)",
    "mean": "the metric's value",
    "ci_low": "bootstrap 95% CI, low end",
    "ci_high": "bootstrap 95% CI, high end",
    "mean_tokens": "mean response length in tokens",
    "truncation_rate": "share of responses cut at the token budget",
    "unclosed_thinking_rate": "share of responses whose </think> never closed",
    "unjudgeable": "samples the scorer or judge could not judge",
}
HEADLINE_COLUMNS = ["checkpoint", "metric", "mean", "ci_low", "ci_high", "items", "samples", *list(HEADLINE)[4:]]
HEADLINE_ROWS = 500  # a study's checkpoints x headline metrics, well under the UI's limits


def eval_asset_key(benchmark: str) -> AssetKey:
    return AssetKey([EVAL_PREFIX, benchmark])


def eval_asset_keys(recipe: Recipe) -> list[AssetKey]:
    return [eval_asset_key(b) for b in recipe.evaluation.benchmarks]


# Response health an eval cell warns about: each a share of the cell's samples, and the level above
# which its score says more about the budget or the scorer than about the checkpoint.
HEALTH = {
    "truncation": ("truncation_rate", 0.25, "responses cut at the token budget: raise max_new_tokens"),
    "unclosed_thinking": ("unclosed_thinking_rate", 0.25, "responses whose </think> never closed"),
    "unjudgeable_replies": ("unjudgeable_rate", 0.10, "samples the scorer or judge could not judge"),
}


def health_check_specs(benchmark: str) -> list[AssetCheckSpec]:
    return [
        AssetCheckSpec(
            check,
            asset=eval_asset_key(benchmark),
            description=f"Warns when a cell's share of {what} is above {limit:g}.",
        )
        for check, (_, limit, what) in HEALTH.items()
    ]


def health_checks(benchmark: str, table: pl.DataFrame) -> list[AssetCheckResult]:
    """WARN results over a benchmark's cells (its eval table's headline rows, one per checkpoint and
    headline metric): each names the checkpoints above its limit, with their rates."""
    cells = (
        table.filter(pl.col("headline"))
        .group_by("checkpoint")
        .agg(
            truncation_rate=pl.col("truncation_rate").max(),
            unclosed_thinking_rate=pl.col("unclosed_thinking_rate").max(),
            unjudgeable_rate=(pl.col("unjudgeable") / pl.col("samples").clip(lower_bound=1)).max(),
        )
        .sort("checkpoint")
    )
    results = []
    for check, (column, limit, what) in HEALTH.items():
        rates = cells.select("checkpoint", column).rows()
        above = {c: round(rate, 4) for c, rate in rates if rate is not None and rate > limit}
        results.append(
            AssetCheckResult(
                asset_key=eval_asset_key(benchmark),
                check_name=check,
                passed=not above,
                severity=AssetCheckSeverity.WARN,
                description=f"{len(above)} of {cells.height} cells above {limit:g} {what}" if above else None,
                metadata={
                    "cells": cells.height,
                    "above": MetadataValue.json(above),
                    "worst": max(above.values(), default=0.0),
                },
            )
        )
    return results


def build(recipe: Recipe) -> list:
    keys = Keys(recipe)
    ev = recipe.evaluation
    definitions = {b: cell_definition(recipe, b) for b in ev.benchmarks}
    kinds = {name: b.kind for name, b in ev.benchmarks.items()}
    plan = plan_metadata(recipe, Throughput.load(DEFAULT_THROUGHPUT))

    def eval_cell(storage: Storage, checkpoint: str, benchmark: str) -> EvalCell:
        bench = ev.benchmarks[benchmark]
        return EvalCell(
            **bench.model_dump(exclude={"checkpoints", "location"}),
            location=recipe.data_path(bench.location),
            definition=definitions[benchmark],
            samples_path=storage.uri(keys.eval_samples(checkpoint, benchmark)),
            table_path=storage.uri(keys.eval_table(checkpoint, benchmark)),
        )

    specs = [
        AssetSpec(
            eval_asset_key(name),
            group_name="evaluation",
            kinds={"vllm", "polars"},
            code_version=definitions[name],
            partitions_def=CHECKPOINTS,
            deps=[AssetDep("sft_run", partition_mapping=AllPartitionMapping())],
            metadata={"benchmark_kind": bench.kind, "category": bench.category, **plan},
            description=f"{name} ({bench.kind}) on every checkpoint of its evaluation plan: per-sample results "
            "and the cell's metrics with bootstrap CIs, mean response length, truncation and unclosed-thinking "
            "rates. Its definition metadata holds the study's evaluation plan and estimated cost. Until a "
            "training run registers its first checkpoint it has 0 partitions: nothing is evaluated yet.",
        )
        for name, bench in ev.benchmarks.items()
    ]

    @multi_asset(
        name=EVAL_PREFIX,
        specs=specs,
        check_specs=[spec for name in ev.benchmarks for spec in health_check_specs(name)],
        can_subset=True,
        partitions_def=CHECKPOINTS,
        retry_policy=WORKLOAD_RETRIES,
        # A UI backfill becomes one run per checkpoint over its selected benchmarks: one engine
        # per checkpoint, and the cluster runs checkpoints in parallel up to the pool's limit.
        backfill_policy=BackfillPolicy.multi_run(max_partitions_per_run=1),
        pool="inference",
    )
    def eval_cells(
        context: AssetExecutionContext,
        storage: Storage,
        launcher: ComputeLauncher,
        eval_endpoint: LLMEndpoint,
        judge_endpoint: JudgeEndpoint,
    ):
        benchmarks = [b for b in ev.benchmarks if eval_asset_key(b) in context.selected_asset_keys]
        checkpoints = context.partition_keys
        tables = {(c, b): current_table(storage, keys, c, b, definitions[b]) for c in checkpoints for b in benchmarks}
        due = {}
        for (checkpoint, benchmark), table in tables.items():
            if table is None:
                due.setdefault(checkpoint, []).append(benchmark)
        reused = sum(table is not None for table in tables.values())
        context.log.info(f"{len(tables) - reused} cells to compute, {reused} current ones reused")
        judged = any(kind_of(kinds[b]).needs_judge for benchmarks in due.values() for b in benchmarks)
        judge_model_dir = (
            storage.uri(keys.model(ev.judge.model)) if ev.judge and ev.judge.model in recipe.models else None
        )
        tracked = {}  # training run -> its MLflow run, where the cells' metrics were logged
        reported, workloads = {}, {}
        with judge_endpoint.serving(ev.judge, judge_model_dir) if judged else nullcontext(None) as judge:
            for checkpoint, due_benchmarks in due.items():
                inputs = EvaluateInputs(
                    checkpoint=checkpoint,
                    endpoint=with_dtype(
                        eval_endpoint.settings(
                            model=checkpoint_uri(recipe, storage, keys, checkpoint), max_model_len=ev.max_model_len
                        ),
                        ev.dtype,
                    ),
                    cells={b: eval_cell(storage, checkpoint, b) for b in due_benchmarks},
                    kinds=kinds,
                    sampling=ev.sampling.model_dump(),
                    seed=recipe.seed,
                    judge=judge if any(kind_of(kinds[b]).needs_judge for b in due_benchmarks) else None,
                    judge_cache=storage.uri(keys.judge_cache()),
                    # Eval metrics go into the training run's tracker where training reports to MLflow.
                    report_to=recipe.training.model_extra.get("report_to"),
                    tensorboard_dir=storage.uri(f"{keys.run_dir(parse_checkpoint_key(checkpoint)[0])}/runs"),
                )
                gpus = inputs.endpoint.get("tensor_parallel_size", 0)
                invocation = launcher.run(context, inputs.program, inputs.to_extras(), gpus=gpus)
                report = workload_report(invocation, checkpoint)
                reported[checkpoint] = report["cells"]
                if "mlflow_run" in report:
                    tracked[parse_checkpoint_key(checkpoint)[0]] = report["mlflow_run"]
                # The engine, compute dtype and pace of each checkpoint's workload.
                workloads[checkpoint] = {k: v for k, v in report.items() if k != "cells"}
        for benchmark in benchmarks:
            cells = {c: tables[(c, benchmark)] for c in checkpoints}
            table = pl.concat(
                [t if t is not None else storage.read_table(keys.eval_table(c, benchmark)) for c, t in cells.items()]
            )
            computed = [c for c, t in cells.items() if t is None]
            headline = table.filter(pl.col("headline")).drop("headline", "definition")
            # The data version of a cell is the definition it is current under (the same for a
            # cell reused as for one computed now): downstream sees a change only when the
            # definition changes, and the refresh schedule reads every cell's in one query.
            yield MaterializeResult(
                asset_key=eval_asset_key(benchmark),
                data_version=DataVersion(definitions[benchmark]),
                check_results=health_checks(benchmark, table),
                metadata={
                    "cells": len(cells),
                    "cells_computed": len(computed),
                    "cells_reused": len(cells) - len(computed),
                    "definition": definitions[benchmark],
                    "computed": MetadataValue.json({c: reported[c][benchmark] for c in computed}),
                    **({"mlflow_runs": MetadataValue.json(tracked)} if tracked and computed else {}),
                    "workloads": MetadataValue.json({c: workloads[c] for c in computed}),
                    **pace_summary(workloads[c] for c in computed),
                    "headline_metrics": typed_table(
                        headline.select(HEADLINE_COLUMNS).sort("checkpoint"), rows=HEADLINE_ROWS, descriptions=HEADLINE
                    ),
                    "eval_table": preview(table.drop("definition"), rows=100),
                },
            )

    return [eval_cells]
