"""Evaluation of every checkpoint (a dynamic partition) on the recipe's benchmarks."""


from dagster import AllPartitionMapping, AssetDep, AssetExecutionContext, MaterializeResult, asset

from assets.keys import Keys
from assets.metadata import preview
from assets.partitions import BASE_STEP, CHECKPOINTS, parse_checkpoint_key
from assets.training import read_manifest
from resources.launcher import ComputeLauncher
from resources.llm import LLMEndpoint
from resources.recipe import Recipe
from resources.storage import Storage
from workloads.metrics import summarize


def checkpoint_uri(recipe: Recipe, storage: Storage, keys: Keys, checkpoint: str) -> str:
    """Step 0 is the student before training; later steps come from the run's manifest, which
    training appends to as it saves, so a checkpoint can be evaluated while its run goes on."""
    run, step = parse_checkpoint_key(checkpoint)
    student = recipe.student_of(run)
    if step == BASE_STEP:
        return storage.uri(keys.model(student))
    records = [r for r in read_manifest(storage.uri(keys.manifest(run))) if r["step"] == step]
    if not records:
        raise KeyError(f"{checkpoint}: run {run!r} has announced no checkpoint at step {step}")
    return records[-1]["uri"]


def build(recipe: Recipe) -> list:
    keys = Keys(recipe)
    ev = recipe.evaluation

    @asset(
        group_name="evaluation",
        partitions_def=CHECKPOINTS,
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
        reported = launcher.run(context, "evaluate", extras, gpus=1).get_materialize_result().metadata
        table = summarize(storage.read_table(keys.eval_samples(checkpoint)), seed=recipe.seed)
        storage.write_table(keys.eval_table(checkpoint), table)
        return MaterializeResult(metadata={**reported, "eval_table": preview(table.drop("checkpoint"), rows=20)})

    return [checkpoint_eval]
