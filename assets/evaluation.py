"""Evaluation of every checkpoint (a dynamic partition) on the recipe's benchmarks."""


import hashlib
import json

from dagster import AllPartitionMapping, AssetDep, AssetExecutionContext, MaterializeResult, asset

from assets.keys import Keys
from assets.metadata import preview
from assets.partitions import BASE_STEP, CHECKPOINTS, parse_checkpoint_key
from assets.policies import WORKLOAD_RETRIES
from assets.training import read_manifest
from resources.launcher import ComputeLauncher
from resources.llm import LLMEndpoint
from resources.recipe import Recipe
from resources.storage import Storage
from workloads.metrics import summarize
from workloads.scoring import verifier_version


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


# Bump when the evaluation code changes what it measures (prompts, extraction, metrics).
EVAL_CODE_REVISION = "1"


def eval_code_version(recipe: Recipe) -> str:
    """What an eval cell's result depends on besides the checkpoint: the benchmarks and protocol
    of the recipe, the scorers' versions and the evaluation code. A change marks every cell stale."""
    definition = {
        "revision": EVAL_CODE_REVISION,
        "benchmarks": {name: vars(b) for name, b in sorted(recipe.evaluation.benchmarks.items())},
        "sampling": vars(recipe.evaluation.sampling),
        "scorers": sorted({verifier_version(b.kind) for b in recipe.evaluation.benchmarks.values()}),
    }
    return hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()[:12]


def build(recipe: Recipe) -> list:
    keys = Keys(recipe)
    ev = recipe.evaluation

    @asset(
        group_name="evaluation",
        retry_policy=WORKLOAD_RETRIES,
        partitions_def=CHECKPOINTS,
        code_version=eval_code_version(recipe),
        deps=[AssetDep("sft_run", partition_mapping=AllPartitionMapping())],
        pool="inference",
        description="Per-sample eval results and the eval table of one checkpoint: for each benchmark, pass@1 "
        "with a bootstrap CI, mean response length, truncation and unclosed-thinking rates.",
    )
    def checkpoint_eval(
        context: AssetExecutionContext, storage: Storage, launcher: ComputeLauncher, eval_endpoint: LLMEndpoint
    ) -> MaterializeResult:
        checkpoint = context.partition_key
        uri = checkpoint_uri(recipe, storage, keys, checkpoint)
        benchmarks = {
            name: {**vars(b), "location": recipe.data_path(b.location)} for name, b in ev.benchmarks.items()
        }
        extras = {
            "checkpoint": checkpoint,
            "endpoint": eval_endpoint.settings(model=uri, max_model_len=ev.max_model_len),
            "benchmarks": benchmarks,
            "sampling": vars(ev.sampling),
            "seed": recipe.seed,
            "samples_path": storage.uri(keys.eval_samples(checkpoint)),
        }
        gpus = extras["endpoint"].get("tensor_parallel_size", 0)
        reported = launcher.run(context, "evaluate", extras, gpus=gpus).get_materialize_result().metadata
        table = summarize(storage.read_table(keys.eval_samples(checkpoint)), seed=recipe.seed)
        storage.write_table(keys.eval_table(checkpoint), table)
        return MaterializeResult(metadata={**reported, "eval_table": preview(table.drop("checkpoint"), rows=20)})

    return [checkpoint_eval]
