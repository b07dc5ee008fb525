"""The schedule that re-evaluates missing or stale eval cells of the evaluation plan."""

from dagster import DefaultScheduleStatus, ScheduleEvaluationContext, SkipReason, schedule

from assets.evaluation import cell_definition
from assets.partitions import CHECKPOINTS, parse_checkpoint_key, planned_benchmarks
from jobs.event_log import latest_cell_versions
from jobs.planning import cell_requests
from recipe_schema.recipe import Recipe
from workloads.core.naming import content_hash


def build_eval_refresh_schedule(recipe: Recipe):
    wanted = {b: cell_definition(recipe, b) for b in recipe.evaluation.benchmarks}

    @schedule(
        job_name="evaluation_job",
        cron_schedule="0 3 * * *",
        default_status=DefaultScheduleStatus.STOPPED,
        description="Nightly: requests every eval cell of the recipe's evaluation plan that is missing, or was "
        "computed under another definition of its benchmark (settings, protocol, scorer, judge or code "
        "version); one run per checkpoint. Cells outside the plan are left alone (backfill them by hand).",
    )
    def eval_refresh_schedule(context: ScheduleEvaluationContext):
        registered = context.instance.get_dynamic_partitions(CHECKPOINTS.name)
        runs = set(recipe.runs)
        planned = {c: planned_benchmarks(recipe, c) for c in registered if parse_checkpoint_key(c)[0] in runs}
        versions = latest_cell_versions(context.instance, recipe, set(planned))
        due, reason = {}, {}
        for checkpoint, benchmarks in planned.items():
            missing = [b for b in benchmarks if (checkpoint, b) not in versions]
            stale = [b for b in benchmarks if (checkpoint, b) in versions and versions[(checkpoint, b)] != wanted[b]]
            if missing or stale:
                due[checkpoint] = missing + stale
                reason[checkpoint] = "; ".join(
                    f"{label} {', '.join(bs)}" for label, bs in (("missing", missing), ("stale", stale)) if bs
                )
        suffix = content_hash(wanted)
        requests = cell_requests(recipe, registered, due, reason=reason, run_key_suffix=suffix)
        return requests or SkipReason("every planned eval cell is present and current")

    return eval_refresh_schedule
