"""Model folders (safetensors + tokenizer) for teachers and students, one partition per model."""

from dagster import AssetExecutionContext, MaterializeResult, asset

from assets.keys import Keys
from assets.partitions import model_partitions
from assets.policies import WORKLOAD_RETRIES
from assets.versions import models_version
from recipe_schema.recipe import Recipe
from resources.launchers.compute import ComputeLauncher
from resources.storage import Storage
from workloads.programs.inputs import PrepareModelInputs


def build(recipe: Recipe) -> list:
    keys = Keys(recipe)

    @asset(
        group_name="models",
        kinds={"huggingface", "pytorch"},
        retry_policy=WORKLOAD_RETRIES,
        code_version=models_version(recipe),
        partitions_def=model_partitions(recipe),
        description="A local model folder per recipe model: converted from a packaged GGUF, copied from "
        "the hub, or a small student built from another model's config. Carries the study chat template.",
    )
    def base_models(context: AssetExecutionContext, storage: Storage, launcher: ComputeLauncher) -> MaterializeResult:
        name = context.partition_key
        spec = recipe.models[name].model_dump()
        if spec["source"] == "local":
            spec["path"] = recipe.data_path(spec["path"])
        if spec["source"] == "tiny-config":
            base_dir = storage.uri(keys.model(spec["base"]))
            if not storage.exists(f"{keys.model(spec['base'])}/config.json"):
                raise FileNotFoundError(
                    f"model {name!r} is built from {spec['base']!r}: materialize base_models[{spec['base']}] first"
                )
            spec["base_dir"] = base_dir
        output_dir = storage.uri(keys.model(name))
        inputs = PrepareModelInputs(spec=spec, output_dir=output_dir, seed=recipe.seed)
        result = launcher.run(context, inputs.program, inputs.to_extras(), gpus=0)
        materialized = result.get_materialize_result()
        return MaterializeResult(metadata={**materialized.metadata, "path": output_dir, "source": spec["source"]})

    return [base_models]
