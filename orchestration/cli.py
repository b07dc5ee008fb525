"""``study``: the study's command-line tool.

    study run       materialize the recipe's graph, in order, into the Dagster instance
    study check     validate a recipe and its data files and print what would run (no compute)
    study estimate  what a recipe will cost: generations, tokens and GPU-hours per stage
    study plan      the memory plan of the recipe's training runs
    study ui        the Dagster UI on the same instance and recipe

Every subcommand takes ``--recipe`` with one default: $STUDY_RECIPE, else recipes/small.yaml.
A mistake in what is given (a recipe, a throughput table, an environment) is reported in one line
and the command exits with status 2; a failed run exits with status 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime
from pathlib import Path

import polars as pl
import yaml

from assets.partitions import shard_keys
from assets.study_plan import DEFAULT_THROUGHPUT, benchmark_items, eval_plan_table
from jobs.jobs import JOB_ORDER
from orchestration.composition import build_definitions
from orchestration.console import QuietConsole
from orchestration.environments import ENV_VAR, ENVIRONMENTS, resources_for
from orchestration.estimate import report
from orchestration.recipes import RECIPE_ENV, default_recipe, shipped_recipes
from orchestration.run_study import STAGES, StudyFailed, run_study, stage_jobs
from recipe_schema.data_files import PROJECT_ROOT
from recipe_schema.errors import RecipeError
from recipe_schema.loading import load_recipe
from recipe_schema.training_plan import plan_text
from workloads.planning.cost import ThroughputError

DAGSTER_HOME_DEFAULT = PROJECT_ROOT / ".study" / "dagster_home"
LOG_DIR_DEFAULT = PROJECT_ROOT / ".study" / "logs"


class UsageError(Exception):
    """A mistake in what the user gave; its message is all they see."""


def dagster_home() -> str:
    """$DAGSTER_HOME, or the project's own instance (the one scripts/run_small.sh and the UI use)."""
    home = os.environ.get("DAGSTER_HOME") or str(DAGSTER_HOME_DEFAULT)
    Path(home).mkdir(parents=True, exist_ok=True)
    if not any(Path(home).iterdir()):  # a new instance: Dagster's defaults, said in a file instead of a warning
        (Path(home) / "dagster.yaml").write_text("")
    os.environ["DAGSTER_HOME"] = home
    return home


def check_environment(env: str | None) -> None:
    """Builds the environment's resources once, so a missing setting is a message, not a traceback."""
    try:
        resources_for(env)
    except ValueError as err:
        raise UsageError(str(err)) from None


def cmd_run(args) -> int:
    jobs = stage_jobs(args.only, args.start)
    load_recipe(args.recipe)  # a mistake in it is said before any run starts or log folder appears
    check_environment(args.env)
    home = dagster_home()
    console = None
    if not args.verbose:
        console = QuietConsole(Path(args.log_dir) / datetime.now().strftime("%Y%m%d-%H%M%S"))
        console.say(f"study run: one log file per run in {console.log_dir} (--verbose: everything on the terminal)")
    say = console.say if console else print
    started = time.time()
    timings: list = []
    try:
        root = run_study(args.recipe, args.env, timings=timings, jobs=jobs, console=console)
    except StudyFailed as failure:
        say(f"study run: {failure}")
        return 1
    say(f"\nThe study at {root} is materialized ({(time.time() - started) / 60:.1f} min).")
    for label, seconds, run_pace in timings:  # time first: evaluation labels name whole cell ranges
        say(f"  {seconds:>6.0f} s  {label}{f'  ({run_pace})' if run_pace else ''}")
    say(f"  results:  {root}")
    say(f"  report:   {root}/analysis/report.md")
    say(f"  instance: {home}")
    if console:
        say(f"  logs:     {console.log_dir}")
    say("  UI:       study ui  (then open http://127.0.0.1:3000)")
    return 0


def cmd_check(args) -> int:
    recipe = load_recipe(args.recipe)  # the schema, then every data file the recipe names
    check_environment(args.env)
    defs = build_definitions(recipe, args.env)
    repository = defs.get_repository_def()
    print(f"{args.recipe}: recipe {recipe.name!r} is valid and its data files are in place.")
    jobs = [name for name in repository.job_names if not name.startswith("__")]  # not Dagster's implicit job
    print(f"Definitions: {len(repository.assets_defs_by_key)} assets, {len(jobs)} jobs.")
    runs = {
        "models_job": list(recipe.models),
        "generation_job": shard_keys(recipe),
        "training_job": recipe.runs,
    }
    print("Stages, in the order `study run` takes them:")
    for stage, job in zip(STAGES, JOB_ORDER, strict=True):
        partitions = runs.get(job)
        detail = f"{len(partitions)} run(s): {', '.join(map(str, partitions))}" if partitions else "1 run"
        if job == "evaluation_job":
            detail = "per checkpoint, the benchmarks its plan lists (below)"
        print(f"  {stage:<11} {detail}")
    items = {b: benchmark_items(recipe, b, count_local=True) for b in recipe.evaluation.benchmarks}
    print("Evaluation plan:")
    with pl.Config(tbl_rows=200, tbl_width_chars=160, tbl_hide_dataframe_shape=True):
        print(eval_plan_table(recipe, items))
    return 0


def cmd_estimate(args) -> int:
    check_environment(args.env)
    if not Path(args.throughput).is_file():
        raise UsageError(f"--throughput: no such file {args.throughput}")
    try:
        print(report(args.recipe, args.throughput, args.gpu, args.env, not args.no_measure))
    except yaml.YAMLError as err:  # the table is read inside report(); the recipe's own YAML errors are RecipeErrors
        raise ThroughputError(f"{Path(args.throughput).name}: not YAML: {err}") from None
    return 0


def cmd_plan(args) -> int:
    print(plan_text(load_recipe(args.recipe, check_files=False)))
    return 0


def cmd_ui(args) -> int:
    load_recipe(args.recipe)  # a bad recipe fails here, in one line, not in the UI's load error
    os.environ[RECIPE_ENV] = str(Path(args.recipe).resolve())
    dagster_home()
    command = [sys.executable, "-m", "dagster", "dev", "-w", str(PROJECT_ROOT / "workspace.yaml")]
    command += ["-h", args.host, "-p", str(args.port)]
    os.chdir(PROJECT_ROOT)
    os.execv(sys.executable, command)
    return 0  # not reached: exec replaced this process


def parser() -> argparse.ArgumentParser:
    recipes = ", ".join(shipped_recipes())
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--recipe",
        default=str(default_recipe()),
        help=f"recipe YAML (default: ${RECIPE_ENV}, else recipes/small.yaml; shipped: {recipes})",
    )
    env = argparse.ArgumentParser(add_help=False)
    env.add_argument(
        "--env",
        choices=sorted(ENVIRONMENTS),
        default=None,
        help=f"where it runs and stores (default: ${ENV_VAR}, else local)",
    )
    top = argparse.ArgumentParser(
        prog="study", description=__doc__.split("\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = top.add_subparsers(dest="command", required=True, metavar="{run,check,estimate,plan,ui}")

    run = sub.add_parser("run", parents=[common, env], help="materialize the study (all stages, or some)")
    stages = run.add_mutually_exclusive_group()
    stages.add_argument(
        "--only", nargs="+", choices=STAGES, metavar="STAGE", help=f"only these stages: {', '.join(STAGES)}"
    )
    stages.add_argument("--from", dest="start", choices=STAGES, metavar="STAGE", help="this stage and the ones after")
    run.add_argument("--verbose", action="store_true", help="everything on the terminal, no log files")
    run.add_argument("--log-dir", default=str(LOG_DIR_DEFAULT), help="where the run log files go (a folder per call)")
    run.set_defaults(handler=cmd_run)

    check = sub.add_parser("check", parents=[common, env], help="validate a recipe and its data files; print the plan")
    check.set_defaults(handler=cmd_check)

    estimate = sub.add_parser("estimate", parents=[common, env], help="generations, tokens and GPU-hours per stage")
    estimate.add_argument("--throughput", default=str(DEFAULT_THROUGHPUT), help="throughput table YAML")
    estimate.add_argument("--gpu", default=None, help="GPU type of the throughput table (default: its default_gpu)")
    estimate.add_argument("--no-measure", action="store_true", help="ignore anything the study has produced")
    estimate.set_defaults(handler=cmd_estimate)

    plan = sub.add_parser("plan", parents=[common], help="the memory plan of the training runs")
    plan.set_defaults(handler=cmd_plan)

    ui = sub.add_parser("ui", parents=[common], help="the Dagster UI (dagster dev) on the study's instance")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
    ui.set_defaults(handler=cmd_ui)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.handler(args)
    except RecipeError as err:  # the message names the file and the field; a traceback adds nothing
        print(f"study {args.command}: invalid recipe: {err}", file=sys.stderr)
    except ThroughputError as err:
        print(f"study {args.command}: invalid throughput table: {err}", file=sys.stderr)
    except UsageError as err:
        print(f"study {args.command}: {err}", file=sys.stderr)
    except KeyboardInterrupt:  # a step's workload was already stopped by its launcher; nothing to add
        print(f"study {args.command}: interrupted", file=sys.stderr)
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
