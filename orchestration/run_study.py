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

from assets.partitions import recipe_checkpoints, shard_keys
from jobs.study import JOB_ORDER
from orchestration.definitions import DEFAULT_RECIPE, build_definitions
from resources.recipe import load_recipe


@dataclass
class RunStudyArgs:
    recipe: str = field(default=str(DEFAULT_RECIPE), metadata={"help": "recipe YAML to run"})
    env: str | None = field(default=None, metadata={"help": "environment (default: $STUDY_ENV or local)"})


def partitions_for(job: str, recipe, instance) -> list:
    if job == "models_job":
        return list(recipe.models)
    if job == "generation_job":
        return shard_keys(recipe)
    if job == "training_job":
        return [MultiPartitionKey({"student": s, "dataset": d}) for s in recipe.training.students for d in recipe.training.datasets]
    if job == "evaluation_job":
        return recipe_checkpoints(instance, recipe)
    return [None]


def run_study(recipe_path: str, env: str | None = None, instance: DagsterInstance | None = None) -> list[str]:
    """Runs every job over its partitions; stops at the first failure. Returns the run ids."""
    recipe = load_recipe(recipe_path)
    defs = build_definitions(recipe, env)
    instance = instance or DagsterInstance.get()
    run_ids = []
    for job_name in JOB_ORDER:
        job = defs.resolve_job_def(job_name)
        for partition in partitions_for(job_name, recipe, instance):
            started = time.time()
            label = f"{job_name}[{partition}]" if partition is not None else job_name
            print(f"--> {label}", flush=True)
            result = job.execute_in_process(instance=instance, partition_key=partition, raise_on_error=False)
            run_ids.append(result.run_id)
            if not result.success:
                errors = [e.step_failure_data.error.message.strip() for e in result.all_events if e.is_step_failure]
                raise SystemExit(f"{label} failed (run {result.run_id}): {' | '.join(errors)}")
            print(f"<-- {label} done in {time.time() - started:.0f}s", flush=True)
    return run_ids


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for f in RunStudyArgs.__dataclass_fields__.values():
        parser.add_argument(f"--{f.name}", default=f.default, help=f.metadata["help"])
    args = RunStudyArgs(**vars(parser.parse_args(argv)))
    if not os.environ.get("DAGSTER_HOME"):
        sys.exit("DAGSTER_HOME is not set: point it at the folder that holds the Dagster instance")
    started = time.time()
    run_study(args.recipe, args.env)
    from orchestration.environments import resources_for

    storage = resources_for(args.env)["storage"]
    recipe = load_recipe(args.recipe)
    print(f"\nThe study '{recipe.name}' is materialized ({(time.time() - started) / 60:.1f} min).")
    print(f"  results:  {storage.uri(recipe.name)}")
    print(f"  report:   {storage.uri(recipe.name + '/analysis/report.md')}")
    print(f"  instance: {os.environ['DAGSTER_HOME']}")
    print("  UI:       scripts/ui.sh  (then open http://127.0.0.1:3000)")


if __name__ == "__main__":
    main()
