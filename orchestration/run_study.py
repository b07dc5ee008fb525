"""Materialize the whole study graph of a recipe, in order, into the Dagster instance at
$DAGSTER_HOME, so every run and materialization shows up in the UI afterwards.

    python -m orchestration.run_study [--recipe recipes/small.yaml]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field

from dagster import DagsterInstance, MultiPartitionKey

from assets.evaluation import eval_asset_key
from assets.partitions import CHECKPOINTS, checkpoint_range_tags, planned_benchmarks, recipe_checkpoints, shard_keys
from jobs.jobs import JOB_ORDER
from jobs.planning import cell_runs
from orchestration.definitions import DEFAULT_RECIPE, build_definitions
from orchestration.instance import owner_tags, prepared_instance
from recipe_schema.errors import RecipeError
from recipe_schema.loading import load_recipe
from resources.launchers.local import DEVICES_TAG


@dataclass
class RunStudyArgs:
    recipe: str = field(default=str(DEFAULT_RECIPE), metadata={"help": "recipe YAML to run"})
    env: str | None = field(default=None, metadata={"help": "environment (default: $STUDY_ENV or local)"})


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
    recipe_path: str, env: str | None = None, instance: DagsterInstance | None = None, timings: list | None = None
) -> str:
    """Runs every job over its partitions; stops at the first failure. Returns where the
    results are; ``timings`` collects (run, seconds, pace) of each run."""
    recipe = load_recipe(recipe_path)
    defs = build_definitions(recipe, env)
    instance = instance or prepared_instance()
    for job_name in JOB_ORDER:
        job = defs.resolve_job_def(job_name)
        for label, partition, tags, selection in runs_for(job_name, recipe, instance):
            started = time.time()
            print(f"--> {label}", flush=True)
            result = job.execute_in_process(
                instance=instance,
                partition_key=partition,
                tags={**tags, **owner_tags()},
                asset_selection=selection,
                raise_on_error=False,
            )
            if not result.success:
                errors = [e.step_failure_data.error.message.strip() for e in result.all_events if e.is_step_failure]
                raise SystemExit(f"{label} failed (run {result.run_id}): {' | '.join(errors)}")
            seconds = time.time() - started
            reported = [
                {k: v.value for k, v in e.materialization.metadata.items()}
                for e in result.get_asset_materialization_events()
            ]
            devices = instance.get_run_by_id(result.run_id).tags.get(DEVICES_TAG)  # leased by its workloads
            run_pace = ", ".join(p for p in (pace(reported), f"GPUs {devices}" if devices else "") if p)
            print(f"<-- {label} done in {seconds:.0f}s{f' ({run_pace})' if run_pace else ''}", flush=True)
            if timings is not None:
                timings.append((label, seconds, run_pace))
    return defs.resources["storage"].uri(recipe.name)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for f in RunStudyArgs.__dataclass_fields__.values():
        parser.add_argument(f"--{f.name}", default=f.default, help=f.metadata["help"])
    args = RunStudyArgs(**vars(parser.parse_args(argv)))
    if not os.environ.get("DAGSTER_HOME"):
        sys.exit("DAGSTER_HOME is not set: point it at the folder that holds the Dagster instance")
    started = time.time()
    timings: list = []
    try:
        root = run_study(args.recipe, args.env, timings=timings)
    except RecipeError as err:  # the message names the file and the field; a traceback adds nothing
        sys.exit(f"invalid recipe: {err}")
    print(f"\nThe study at {root} is materialized ({(time.time() - started) / 60:.1f} min).")
    for label, seconds, run_pace in timings:  # time first: evaluation labels name whole cell ranges
        print(f"  {seconds:>6.0f} s  {label}{f'  ({run_pace})' if run_pace else ''}")
    print(f"  results:  {root}")
    print(f"  report:   {root}/analysis/report.md")
    print(f"  instance: {os.environ['DAGSTER_HOME']}")
    print("  UI:       scripts/ui.sh  (then open http://127.0.0.1:3000)")


if __name__ == "__main__":
    main()
