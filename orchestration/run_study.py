"""Materialize the study graph of a recipe, in order, into the Dagster instance at $DAGSTER_HOME,
so every run and materialization shows up in the UI afterwards (``study run``; see orchestration/cli.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext

from dagster import DagsterInstance, MultiPartitionKey

from assets.evaluation import eval_asset_key
from assets.partitions import CHECKPOINTS, checkpoint_range_tags, planned_benchmarks, recipe_checkpoints, shard_keys
from jobs.jobs import JOB_ORDER
from jobs.planning import cell_runs
from orchestration.composition import build_definitions
from orchestration.console import QuietConsole
from orchestration.instance import owner_tags, prepared_instance
from recipe_schema.loading import load_recipe
from resources.launchers.local import DEVICES_TAG

# The stages a run can select (``--only``, ``--from``): the jobs in the order a full materialization follows.
STAGES = tuple(job.removesuffix("_job") for job in JOB_ORDER)


class StudyFailed(Exception):
    """A run of the study failed; the message names it, its Dagster run id and its errors."""


def stage_jobs(only: list[str] | None = None, start: str | None = None) -> list[str]:
    """The jobs of the chosen stages, in job order: ``only`` those, or every stage ``start`` onwards."""
    for name in [*(only or []), *([start] if start else [])]:
        if name not in STAGES:
            raise ValueError(f"no stage {name!r}; the stages are {', '.join(STAGES)}")
    if only:
        chosen = [s for s in STAGES if s in only]
    elif start:
        chosen = list(STAGES[STAGES.index(start) :])
    else:
        chosen = list(STAGES)
    return [f"{s}_job" for s in chosen]


def runs_for(job: str, recipe, instance) -> list[tuple[str, object, dict, list | None]]:
    """(label, partition key, tags, asset selection) of each run a job needs. Evaluation runs
    select the benchmarks planned at a range of checkpoints: the cells of the recipe's evaluation
    plan, in as few runs as the registered checkpoint order and the plan allow (one when every
    benchmark shares one plan), so a judge server starts once."""
    if job == "models_job":
        keys = list(recipe.models)
    elif job == "generation_job":
        keys = shard_keys(recipe)
    elif job == "training_job":
        keys = [
            MultiPartitionKey({"student": s, "dataset": d})
            for s in recipe.training.students
            for d in recipe.training.datasets
        ]
    elif job == "evaluation_job":
        registered = instance.get_dynamic_partitions(CHECKPOINTS.name)
        due = {c: planned_benchmarks(recipe, c) for c in recipe_checkpoints(instance, recipe)}
        return [
            (
                f"{job}[{group[0]} .. {group[-1]}: {', '.join(benchmarks)}]",
                None,
                checkpoint_range_tags(group[0], group[-1]),
                [eval_asset_key(b) for b in benchmarks],
            )
            for group, benchmarks in cell_runs(recipe, registered, due, merge_neighbours=True)
        ]
    else:
        return [(job, None, {}, None)]
    return [(f"{job}[{key}]", key, {}, None) for key in keys]


PACE_KEYS = ("compute_dtype", "engine", "tokens_per_second", "seconds_per_step")


def pace(metadata: list[dict]) -> str:
    """The pace a run's materializations reported (compute dtype, engine, tokens/s, seconds per
    training step), so a slow machine shows in the summary: ``bfloat16, vllm, 77.2 tokens/s``."""
    found: dict[str, list] = {}
    for entry in metadata:
        for key in PACE_KEYS:
            if entry.get(key) is not None:
                found.setdefault(key, []).append(entry[key])
    parts = [found[k][0] for k in ("compute_dtype", "engine") if k in found]
    for key, unit in (("tokens_per_second", "tokens/s"), ("seconds_per_step", "s/step")):
        if key in found:
            parts.append(f"{sum(found[key]) / len(found[key]):.1f} {unit}")
    return ", ".join(str(p) for p in parts)


def run_study(
    recipe_path: str,
    env: str | None = None,
    instance: DagsterInstance | None = None,
    timings: list | None = None,
    *,
    jobs: list[str] | None = None,
    console: QuietConsole | None = None,
) -> str:
    """Runs each of ``jobs`` (default: all, in job order) over its partitions; stops at the first
    failure (``StudyFailed``). Returns where the results are; ``timings`` collects (run, seconds,
    pace) of each run. With a ``console``, each run's output goes to a log file of its own and the
    terminal sees its start, its end, its progress lines and its warnings."""
    recipe = load_recipe(recipe_path)
    defs = build_definitions(recipe, env)
    instance = instance or prepared_instance()
    say: Callable[[str], None] = console.say if console else lambda line: print(line, flush=True)
    for job_name in jobs or JOB_ORDER:
        job = defs.resolve_job_def(job_name)
        runs = runs_for(job_name, recipe, instance)
        if not runs and job_name == "evaluation_job":
            say(
                "--- evaluation_job: no checkpoint of this recipe is registered yet (the training stage registers them)"
            )
        for label, partition, tags, selection in runs:
            started = time.time()
            log_path = console.log_path(label) if console else None
            say(f"--> {label}{f'  (log: {log_path})' if log_path else ''}")
            run_job, run_config = console.wrap(job) if console else (job, None)
            with console.run(log_path) if console else nullcontext():
                result = run_job.execute_in_process(
                    run_config=run_config,
                    instance=instance,
                    partition_key=partition,
                    tags={**tags, **owner_tags()},
                    asset_selection=selection,
                    raise_on_error=False,
                )
            if not result.success:
                errors = [e.step_failure_data.error.message.strip() for e in result.all_events if e.is_step_failure]
                where = f"; its log: {log_path}" if log_path else ""
                raise StudyFailed(f"{label} failed (run {result.run_id}): {' | '.join(errors)}{where}")
            seconds = time.time() - started
            reported = [
                {k: v.value for k, v in e.materialization.metadata.items()}
                for e in result.get_asset_materialization_events()
            ]
            devices = instance.get_run_by_id(result.run_id).tags.get(DEVICES_TAG)  # leased by its workloads
            run_pace = ", ".join(p for p in (pace(reported), f"GPUs {devices}" if devices else "") if p)
            say(f"<-- {label} done in {seconds:.0f}s{f' ({run_pace})' if run_pace else ''}")
            if timings is not None:
                timings.append((label, seconds, run_pace))
    return defs.resources["storage"].uri(recipe.name)
