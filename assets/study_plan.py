"""What a recipe will cost before it runs: generations, tokens and GPU-hours per stage, from the
recipe, its evaluation plan and a throughput table (``workloads/planning/cost.py``), with measured mean
lengths in place of assumptions wherever the study has already produced traces, datasets or cells.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import polars as pl
from dagster import MetadataValue

from assets.keys import Keys, read_manifest
from assets.metadata import preview
from assets.partitions import shard_keys
from recipe_schema.data_files import PROJECT_ROOT
from recipe_schema.recipe import Recipe
from resources.storage import Storage
from workloads.core.naming import checkpoint_key, split_run
from workloads.evaluation.loading import load_benchmark
from workloads.planning.cost import Line, Throughput, generation_line, totals
from workloads.planning.eval_plan import planned_steps, saved_steps, training_steps
from workloads.planning.memory_plan import KNOWN_SHAPES

DEFAULT_THROUGHPUT = PROJECT_ROOT / "recipes" / "throughput.yaml"
# Items of the full recipe's hub benchmarks (their dataset cards), so a plan is priced without the hub.
KNOWN_ITEMS = {
    ("hub:HuggingFaceH4/MATH-500", None): 500,
    ("hub:HuggingFaceH4/aime_2024", None): 30,
    ("hub:math-ai/amc23", None): 40,
    ("hub:Idavidrein/gpqa", "gpqa_diamond"): 198,
    ("hub:google/IFEval", None): 541,
    ("hub:truthfulqa/truthful_qa", "multiple_choice"): 817,
    ("hub:pminervini/HaluEval", "qa"): 10000,
    ("hub:pminervini/HaluEval", "dialogue"): 10000,
    ("hub:pminervini/HaluEval", "summarization"): 10000,
    ("hub:pminervini/HaluEval", "general"): 4507,
    ("hub:walledai/AdvBench", None): 520,
    ("hub:walledai/StrongREJECT", None): 313,
    ("hub:walledai/XSTest", None): 450,
    ("hub:TIGER-Lab/MMLU-Pro", None): 12032,
}
# LiveCodeBench's releases are cumulative (the dataset card): the problems released from May 2023
# to the last month of each. A date window on whole months between releases is a difference.
LIVECODEBENCH = "hub:lighteval/code_generation_lite"
LIVECODEBENCH_RELEASES = {
    "release_v1": ("2024-03", 400),
    "release_v2": ("2024-05", 511),
    "release_v3": ("2024-07", 612),
    "release_v4": ("2024-09", 713),
    "release_v5": ("2025-01", 880),
}
UNPRICED = "items unknown: set `limit`"
# Where a variant's training examples come from, when no dataset target says how many there are.
VARIANT_SOURCE = {"math-cot": "math", "math-nocot": "math", "reference": "math", "countdown-cot": "countdown"}


@dataclass
class Measured:
    """Mean lengths (and dataset sizes) the study has already produced; empty before it runs."""

    trace_tokens: float | None = None
    example_tokens: dict[str, float] = field(default_factory=dict)
    examples: dict[str, int] = field(default_factory=dict)
    eval_tokens: dict[str, float] = field(default_factory=dict)


def livecodebench_item_count(release: str | None, released_from: str | None, released_until: str | None) -> int | None:
    """Problems of a LiveCodeBench release in a date window, where the window starts on the
    first day of a month after a release's last month and ends on the last day of a release's
    last month (or is open); None otherwise."""
    if release not in LIVECODEBENCH_RELEASES:
        return None
    cumulative = dict(LIVECODEBENCH_RELEASES.values())
    last_month, total = LIVECODEBENCH_RELEASES[release]
    if released_until:
        until = date.fromisoformat(released_until)
        if (until + timedelta(days=1)).day != 1 or f"{until:%Y-%m}" not in cumulative:
            return None
        total = cumulative[min(f"{until:%Y-%m}", last_month)]
    before = 0
    if released_from:
        start = date.fromisoformat(released_from)
        previous = f"{start - timedelta(days=1):%Y-%m}"
        if start.day != 1 or (previous not in cumulative and start > date(2023, 5, 1)):
            return None
        before = cumulative.get(previous, 0)
    return max(total - before, 0)


def known_items(bench) -> int | None:
    """The item count of a hub benchmark known by name (its dataset card), or None."""
    if bench.location == LIVECODEBENCH:
        return livecodebench_item_count(bench.hub_config, bench.released_from, bench.released_until)
    return KNOWN_ITEMS.get((bench.location, bench.hub_config))


def benchmark_items(recipe: Recipe, name: str, *, count_local: bool = False) -> int | None:
    """Items a cell of this benchmark evaluates: its subset size, the known size of a hub
    benchmark, or (``count_local``) the items its local file yields; None if unknown."""
    bench = recipe.evaluation.benchmarks[name]
    known = known_items(bench)
    if bench.limit is not None:
        return bench.limit if known is None else min(bench.limit, known)
    if known is not None or not count_local or bench.location.startswith("hub:"):
        return known
    return len(load_benchmark(recipe.data_path(bench.location), bench.kind, limit=None, seed=recipe.seed))


def model_params_b(recipe: Recipe, key: str, throughput: Throughput) -> float:
    spec = recipe.models[key]
    if spec.path in KNOWN_SHAPES:
        return KNOWN_SHAPES[spec.path].params / 1e9
    for name in (spec.path, key):
        if name in throughput.params_b:
            return throughput.params_b[name]
    raise KeyError(
        f"models.{key}: size unknown; add `{spec.path or key}: <billions>` to the throughput table's params_b"
    )


def run_examples(recipe: Recipe, variant: str, measured: Measured) -> int:
    if variant in measured.examples:
        return measured.examples[variant]
    if variant in recipe.dataset_targets:
        return recipe.dataset_targets[variant]
    return recipe.queries[VARIANT_SOURCE[variant]].size


def run_checkpoints(recipe: Recipe, run: str, measured: Measured) -> list[int]:
    """The steps a run will save (base model included)."""
    tr = recipe.training
    steps = training_steps(run_examples(recipe, split_run(run)[1], measured), tr.epochs, tr.global_batch_size)
    return saved_steps(steps, tr.save_every)


def estimate(
    recipe: Recipe,
    throughput: Throughput,
    gpu: str,
    items: dict[str, int | None],
    measured: Measured | None = None,
    *,
    follow_plan: bool = True,
) -> list[Line]:
    """Lines of the estimate: one per teacher source, one per run, one per benchmark (a benchmark
    whose item count is unknown gets a line saying so, and counts for nothing). Without
    ``follow_plan``, evaluation covers every checkpoint (with the ``items`` given): the dense grid."""
    measured = measured or Measured()
    lines = []
    gen = recipe.generation
    for source, teacher in gen.teachers.items():
        count = recipe.queries[source].size * gen.sampling.n
        rate = (
            0.0
            if teacher.backend != "vllm"
            else 1 / throughput.tokens_per_second(gpu, model_params_b(recipe, teacher.model, throughput)) / 3600
        )
        lines.append(
            generation_line(
                "generation",
                f"{source} ({teacher.model or teacher.backend})",
                generations=count,
                budget=gen.sampling.max_new_tokens,
                measured_mean=measured.trace_tokens,
                fraction=throughput.length_fraction["generation"],
                gpu_hours_per_token=rate,
            )
        )
    tr = recipe.training
    for run in recipe.runs:
        student, variant = split_run(run)
        per_example = measured.example_tokens.get(variant)
        mean = per_example if per_example is not None else throughput.example_tokens[variant]
        tokens = run_examples(recipe, variant, measured) * mean * tr.epochs
        hours = throughput.training_gpu_hours(
            gpu, model_params_b(recipe, student, throughput), tokens, checkpointing=tr.gradient_checkpointing
        )
        lines.append(Line("training", run, 0, 0, tokens, "measured" if per_example is not None else "assumed", hours))
    ev = recipe.evaluation
    checkpoints = {run: run_checkpoints(recipe, run, measured) for run in recipe.runs}
    for name, bench in ev.benchmarks.items():
        size = items.get(name)
        if size is None:  # reported, and left out of the totals, rather than guessed
            lines.append(Line("evaluation", name, 0, 0, 0.0, UNPRICED, 0.0))
            continue
        count, weighted = 0, 0.0
        for run, steps in checkpoints.items():
            chosen = planned_steps(ev.plan_of(name), steps, tr.save_every) if follow_plan else steps
            run_count = len(chosen) * size * bench.n
            count += run_count
            student = model_params_b(recipe, split_run(run)[0], throughput)
            weighted += run_count / throughput.evaluation_tokens_per_second(gpu, student)
        per_token = weighted / count / 3600 if count else 0.0
        lines.append(
            generation_line(
                "evaluation",
                name,
                generations=count,
                budget=bench.max_new_tokens or ev.sampling.max_new_tokens,
                measured_mean=measured.eval_tokens.get(name),
                fraction=throughput.length_fraction["evaluation"],
                gpu_hours_per_token=per_token,
            )
        )
    evaluated = {
        run: planned_checkpoint_count(recipe, steps) if follow_plan else len(steps)
        for run, steps in checkpoints.items()
    }
    starts = sum(evaluated.values())
    lines.append(
        Line(
            "evaluation",
            "engine starts",
            0,
            0,
            0.0,
            f"{starts} checkpoints",
            starts * throughput.engine_start_minutes / 60,
        )
    )
    return lines


def planned_checkpoint_count(recipe: Recipe, steps: list[int]) -> int:
    """Checkpoints at least one benchmark's plan evaluates (each costs one engine start)."""
    ev, every = recipe.evaluation, recipe.training.save_every
    return len({s for name in ev.benchmarks for s in planned_steps(ev.plan_of(name), steps, every)})


def measure(recipe: Recipe, storage: Storage, *, tables_per_benchmark: int = 16) -> Measured:
    """Mean lengths from what exists: teacher traces, SFT datasets, and up to
    ``tables_per_benchmark`` eval tables per benchmark (the newest checkpoints of each run)."""
    keys, measured = Keys(recipe), Measured()
    trace_tokens = []
    for shard in shard_keys(recipe):
        try:
            trace_tokens.append(storage.read_table(keys.traces(shard))["completion_tokens"])
        except FileNotFoundError:
            continue
    if trace_tokens and sum(len(t) for t in trace_tokens):
        measured.trace_tokens = float(pl.concat(trace_tokens).mean())
    for variant in recipe.training.datasets:
        try:
            table = storage.read_table(keys.dataset(variant))
        except FileNotFoundError:
            continue
        if table.height:
            measured.examples[variant] = table.height
            measured.example_tokens[variant] = float(table["tokens"].mean())
    for name in recipe.evaluation.benchmarks:
        found = []
        for run in recipe.runs:
            steps = [0] + [r["step"] for r in read_manifest(storage, keys.manifest(run))]
            for step in reversed(steps):
                if len(found) >= tables_per_benchmark:
                    break
                try:
                    table = storage.read_table(keys.eval_table(checkpoint_key(run, step), name))
                except FileNotFoundError:
                    continue
                found.append(table.filter(pl.col("headline"))["mean_tokens"])
        if found:
            measured.eval_tokens[name] = float(pl.concat(found).mean())
    return measured


def dense_items(recipe: Recipe, items: dict[str, int | None]) -> dict[str, int | None]:
    """Item counts without the plan's subsets (a hub benchmark's full size where it is known)."""
    ev = recipe.evaluation
    return {b: known_items(ev.benchmarks[b]) or n for b, n in items.items()}


def estimate_table(lines: list[Line]) -> pl.DataFrame:
    """The lines, then a total per stage and overall; tokens in millions, GPU-hours rounded."""
    rows = [
        {
            "stage": x.stage,
            "item": x.item,
            "generations": x.generations,
            "budget_Mtok": x.budget_tokens / 1e6,
            "expected_Mtok": x.expected_tokens / 1e6,
            "length": x.length,
            "gpu_hours": x.gpu_hours,
        }
        for x in lines
    ]
    stages = sorted(totals(lines).items(), key=lambda st: st[0] == "total")
    rows += [
        {
            "stage": stage,
            "item": "(all)",
            "generations": int(t["generations"]),
            "budget_Mtok": t["budget_tokens"] / 1e6,
            "expected_Mtok": t["expected_tokens"] / 1e6,
            "length": "",
            "gpu_hours": t["gpu_hours"],
        }
        for stage, t in stages
    ]
    return pl.DataFrame(rows).with_columns(pl.col("budget_Mtok", "expected_Mtok", "gpu_hours").round(2))


def eval_plan_table(recipe: Recipe, items: dict[str, int | None]) -> pl.DataFrame:
    """Per benchmark: its checkpoint plan, checkpoints evaluated per run (of those saved) and items."""
    ev, measured = recipe.evaluation, Measured()
    steps = {run: run_checkpoints(recipe, run, measured) for run in recipe.runs}
    rows = []
    for name, bench in ev.benchmarks.items():
        plan = ev.plan_of(name)
        chosen = [len(planned_steps(plan, s, recipe.training.save_every)) for s in steps.values()]
        rows.append(
            {
                "benchmark": name,
                "plan": plan_text(plan),
                "checkpoints_per_run": max(chosen),
                "saved_per_run": max(len(s) for s in steps.values()),
                "items": items.get(name),
                "n": bench.n,
            }
        )
    return pl.DataFrame(rows)


def plan_text(plan) -> str:
    if plan.steps is not None:
        return f"steps {plan.steps}"
    dense = f"all to step {plan.dense_until}, then " if plan.dense_until is not None else ""
    return dense + ("every checkpoint" if plan.every == 1 else f"every {plan.every}th checkpoint")


def plan_metadata(recipe: Recipe, throughput: Throughput) -> dict:
    """The plan and its budget-based estimate (no measured lengths: definitions load without
    storage) as definition metadata of the eval asset, where a backfill is launched."""
    items = {b: benchmark_items(recipe, b) for b in recipe.evaluation.benchmarks}
    metadata = {"evaluation_plan": preview(eval_plan_table(recipe, items), rows=100)}
    try:
        lines = estimate(recipe, throughput, throughput.default_gpu, items)
    except KeyError as err:  # a model of unknown size
        metadata["estimate"] = MetadataValue.text(f"not available here ({err.args[0]}); run study estimate")
        return metadata
    per_stage = totals(lines)
    metadata["estimate"] = preview(estimate_table(lines), rows=200)
    metadata["estimate_basis"] = MetadataValue.text(
        f"budget x assumed length fractions on {throughput.default_gpu}; `study estimate` "
        "uses measured lengths once the study has produced some"
    )
    for stage in ("generation", "training", "evaluation", "total"):
        metadata[f"gpu_hours_{stage}"] = round(per_stage[stage]["gpu_hours"], 2)
    metadata["eval_generations"] = int(per_stage["evaluation"]["generations"])
    return metadata
