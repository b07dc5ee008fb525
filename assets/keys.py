"""The storage key layout, one place: ``<recipe>/<stage>/...``."""

from recipe_schema.recipe import Recipe


class Keys:
    def __init__(self, recipe: Recipe):
        self.root = recipe.name

    def model(self, name: str) -> str:
        return f"{self.root}/models/{name}"

    def queries(self) -> str:
        return f"{self.root}/queries/queries.parquet"

    def shard_queries(self, shard: str) -> str:
        return f"{self.root}/generation/{shard}/queries.parquet"

    def trace_parts(self, shard: str) -> str:
        return f"{self.root}/generation/{shard}/parts"

    def traces(self, shard: str) -> str:
        return f"{self.root}/generation/{shard}/traces.parquet"

    def verdicts(self, shard: str) -> str:
        return f"{self.root}/verification/{shard}.parquet"

    def dataset(self, variant: str) -> str:
        # The Hugging Face datasets layout: the folder loads with datasets.load_dataset(folder).
        return f"{self.root}/datasets/{variant}/data/train-00000-of-00001.parquet"

    def dataset_card(self, variant: str) -> str:
        return f"{self.root}/datasets/{variant}/README.md"

    def run_dir(self, run: str) -> str:
        return f"{self.root}/training/{run}"

    def checkpoints(self, run: str) -> str:
        return f"{self.root}/training/{run}/checkpoints.parquet"

    def manifest(self, run: str) -> str:
        return f"{self.root}/training/{run}/checkpoints.jsonl"

    def eval_samples(self, checkpoint: str, benchmark: str) -> str:
        return f"{self.root}/evaluation/samples/{checkpoint}/{benchmark}.parquet"

    def eval_table(self, checkpoint: str, benchmark: str) -> str:
        return f"{self.root}/evaluation/tables/{checkpoint}/{benchmark}.parquet"

    def judge_cache(self) -> str:
        # Each checkpoint's judgments in their own folder below (workloads.evaluation.judging.judge_cache_location).
        return f"{self.root}/evaluation/judge-cache"

    def report(self, name: str) -> str:
        return f"{self.root}/analysis/{name}"
