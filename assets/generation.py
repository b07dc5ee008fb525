"""Teacher traces and their verdicts, one partition per shard of the query set."""

import polars as pl
from dagster import (
    AllPartitionMapping,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetDep,
    AssetExecutionContext,
    MaterializeResult,
    asset,
)

from assets.keys import Keys
from assets.metadata import preview, rounded, table_metadata
from assets.partitions import shard_index, shard_partitions
from assets.policies import WORKLOAD_RETRIES
from assets.versions import traces_version, verdicts_version
from recipe_schema.recipe import Recipe
from resources.launchers.compute import ComputeLauncher
from resources.llm import LLMEndpoint, with_dtype
from resources.storage import Storage
from workloads.programs.inputs import GenerateInputs, TeacherJob, VerifyInputs

CHUNK_SIZE = 8  # queries per part file: a killed shard loses at most this much work


def build(recipe: Recipe) -> list:
    keys = Keys(recipe)
    shards = shard_partitions(recipe)

    def shard_queries(storage: Storage, shard: str) -> pl.DataFrame:
        queries = storage.read_table(keys.queries())
        return queries.filter(pl.col("shard") == shard_index(shard))

    @asset(
        group_name="generation",
        kinds={"vllm", "polars"},
        retry_policy=WORKLOAD_RETRIES,
        code_version=traces_version(recipe),
        partitions_def=shards,
        deps=["raw_queries", AssetDep("base_models", partition_mapping=AllPartitionMapping())],
        pool="inference",
        description="Teacher responses for one shard: raw text, reasoning and final parts, whether </think> "
        "closed, finish reason, token counts, teacher id and sampling-config hash. Resumable per chunk.",
    )
    def teacher_traces(
        context: AssetExecutionContext, storage: Storage, launcher: ComputeLauncher, teacher_endpoint: LLMEndpoint
    ) -> MaterializeResult:
        shard = context.partition_key
        queries = shard_queries(storage, shard)
        queries_path = storage.write_table(keys.shard_queries(shard), queries)
        sources = {}
        for name in queries["source"].unique().to_list():
            teacher = recipe.generation.teachers[name]
            settings = {"name": teacher.model or teacher.backend, **teacher.model_dump()}
            endpoint = (
                with_dtype(
                    teacher_endpoint.settings(
                        model=storage.uri(keys.model(teacher.model)), max_model_len=teacher.max_model_len
                    ),
                    teacher.dtype,
                )
                if teacher.backend == "vllm"
                else None
            )
            sources[name] = TeacherJob(loader=recipe.queries[name].loader, teacher=settings, endpoint=endpoint)
        inputs = GenerateInputs(
            queries_path=queries_path,
            parts_dir=storage.uri(keys.trace_parts(shard)),
            output_path=storage.uri(keys.traces(shard)),
            sources=sources,
            sampling=recipe.generation.sampling.model_dump(),
            chunk_size=CHUNK_SIZE,
        )
        # GPUs: the vLLM teachers' tensor-parallel size (none for the solver, an HTTP endpoint or
        # an empty shard, which is valid when there are more shards than queries).
        gpus = max(((job.endpoint or {}).get("tensor_parallel_size", 0) for job in sources.values()), default=0)
        reported = (
            launcher.run(context, inputs.program, inputs.to_extras(), gpus=gpus).get_materialize_result().metadata
        )
        traces = storage.read_table(keys.traces(shard))
        return MaterializeResult(
            metadata={
                **reported,
                **table_metadata(traces),
                "queries": queries.height,
                "think_closed_rate": rounded(traces["think_closed"].mean()) if traces.height else 0.0,
                "truncated_rate": rounded((traces["finish_reason"] == "length").mean()) if traces.height else 0.0,
                "mean_completion_tokens": rounded(traces["completion_tokens"].mean()) if traces.height else 0.0,
                "preview": preview(
                    traces.select("query_id", "sample_idx", "teacher", "reasoning", "final", "finish_reason")
                ),
            }
        )

    @asset(
        group_name="verification",
        kinds={"python", "polars"},
        retry_policy=WORKLOAD_RETRIES,
        # A new verifier version makes every shard's verdicts stale: re-verify, never regenerate.
        code_version=verdicts_version(recipe),
        partitions_def=shards,
        deps=["teacher_traces", "raw_queries"],
        description="One verdict per trace: math-verify for math, the Countdown rule for Countdown; null when "
        "the gold answer can't be parsed. Carries verifier name and version.",
        check_specs=[
            AssetCheckSpec(
                "every_verifier_found_correct_samples",
                asset="verdicts",
                description="Warns when a verifier found no correct sample in this shard: the teacher is too "
                "weak for that source at this scale, and its dataset will be small or empty.",
            )
        ],
    )
    def verdicts(context: AssetExecutionContext, storage: Storage, launcher: ComputeLauncher) -> MaterializeResult:
        shard = context.partition_key
        inputs = VerifyInputs(
            traces_path=storage.uri(keys.traces(shard)),
            queries_path=storage.uri(keys.shard_queries(shard)),
            output_path=storage.uri(keys.verdicts(shard)),
            loaders={name: src.loader for name, src in recipe.queries.items()},
        )
        reported = launcher.run(context, inputs.program, inputs.to_extras(), gpus=0).get_materialize_result().metadata
        table = storage.read_table(keys.verdicts(shard))
        by_verifier = table.group_by("verifier").agg(
            samples=pl.len(), correct=pl.col("correct").sum(), unjudgeable=pl.col("correct").is_null().sum()
        )
        empty = [verifier for verifier, _, correct, _ in by_verifier.rows() if not correct]
        check = AssetCheckResult(
            check_name="every_verifier_found_correct_samples",
            passed=not empty,
            severity=AssetCheckSeverity.WARN,
            description=f"shard {shard}: no correct sample from {', '.join(empty)}" if empty else None,
            metadata={"shard": shard, "verifiers_without_correct": ", ".join(empty) or "none"},
        )
        return MaterializeResult(
            check_results=[check],
            metadata={
                **reported,
                **table_metadata(table),
                "correct_rate": rounded(table["correct"].mean() or 0.0) if table.height else 0.0,
                "by_verifier": preview(by_verifier, rows=10),
                "errors": preview(
                    table.filter(pl.col("error").is_not_null()).group_by("error").len().sort("len", descending=True),
                    rows=10,
                ),
            },
        )

    return [teacher_traces, verdicts]
