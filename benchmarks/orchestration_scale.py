"""Orchestration at the full study's scale: 16 runs x 64 checkpoints registered (1,024 checkpoint
partitions, 14,336 eval cells), synthetic materializations for 1k, 4k and 14k cells, and at each
level the time of:

- loading the definitions (a fresh process importing the code location, as a code server does);
- the new-checkpoints sensor's tick (16 new checkpoints announced in the runs' manifests);
- the refresh schedule's tick, with every cell in the plan (the worst case: all 14,336 examined);
- the GraphQL query for the partition status of every benchmark's eval asset (one request, through
  a code server), as the UI's asset pages ask for it.

Baseline, measured in the same run: the schedule's former status read, one query per cell
(timed over 200 cells and scaled to the cells examined).

    python -m benchmarks.orchestration_scale [--instance sqlite|postgres|both] [--levels 1000,4000,14000]
        [--tmp /dev/shm]

PostgreSQL: a server from the machine's binaries on 127.0.0.1 (tests/postgres_server.py, as the
tests start it). Figures depend on the machine's load: say what else was running.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dagster import (
    AssetMaterialization,
    AssetRecordsFilter,
    DagsterInstance,
    build_schedule_context,
    build_sensor_context,
)

from assets.evaluation import cell_definition, eval_asset_key
from assets.keys import Keys
from assets.partitions import CHECKPOINTS
from jobs.study import DATA_VERSION_TAG, build_checkpoint_sensor, build_eval_refresh_schedule
from recipe_schema.recipe import PROJECT_ROOT, load_recipe
from resources.storage import LocalStorage
from workloads.core.naming import checkpoint_key
from workloads.planning.eval_plan import CheckpointPlan

FULL = PROJECT_ROOT / "recipes" / "full.yaml"
STEPS = list(range(0, 640, 10))  # 64 checkpoints per run
BASELINE_CELLS = 200
STATUS_QUERY = """query($keys: [AssetKeyInput!]) { assetNodes(assetKeys: $keys) { assetKey { path }
  assetPartitionStatuses { __typename ... on DefaultPartitionStatuses {
    materializedPartitions failedPartitions } } } }"""


def dense_recipe():
    """The full recipe with every benchmark planned on every checkpoint: all cells examined."""
    recipe = load_recipe(FULL, check_files=False)
    ev = recipe.evaluation.model_copy(update={"checkpoints": CheckpointPlan()})
    return recipe.model_copy(update={"evaluation": ev})


def timed(fn, repeat: int = 3) -> tuple[float, object]:
    """Best of ``repeat`` wall times (the machine is shared: the minimum is the least disturbed)."""
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def definitions_load_seconds() -> float:
    code = "import time; t = time.perf_counter(); import orchestration.definitions; print(time.perf_counter() - t)"
    env = {**os.environ, "STUDY_RECIPE": str(FULL)}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def cells_in_order(recipe) -> list[tuple[str, str]]:
    benchmarks = list(recipe.evaluation.benchmarks)
    return [(checkpoint_key(run, step), b) for run in recipe.runs for step in STEPS for b in benchmarks]


def materialize(instance, cells, versions: dict[str, str]) -> None:
    for checkpoint, benchmark in cells:
        instance.report_runless_asset_event(
            AssetMaterialization(
                eval_asset_key(benchmark), partition=checkpoint, tags={DATA_VERSION_TAG: versions[benchmark]}
            )
        )


def per_cell_baseline(instance, cells) -> float:
    """Seconds per cell of the former status read: one materialization query per cell."""
    started = time.perf_counter()
    for checkpoint, benchmark in cells:
        instance.fetch_materializations(
            AssetRecordsFilter(asset_key=eval_asset_key(benchmark), asset_partitions=[checkpoint]), limit=1
        )
    return (time.perf_counter() - started) / len(cells)


def graphql_seconds(instance, recipe) -> float | None:
    from dagster_graphql.test.utils import define_out_of_process_context, execute_dagster_graphql

    os.environ["STUDY_RECIPE"] = str(FULL)
    with define_out_of_process_context(str(PROJECT_ROOT / "workspace.yaml"), None, instance) as context:
        variables = {"keys": [{"path": eval_asset_key(b).path} for b in recipe.evaluation.benchmarks]}
        seconds, result = timed(lambda: execute_dagster_graphql(context, STATUS_QUERY, variables))
    nodes = result.data["assetNodes"]
    assert len(nodes) == len(recipe.evaluation.benchmarks), result
    assert all(n["assetPartitionStatuses"]["__typename"] == "DefaultPartitionStatuses" for n in nodes), result
    return seconds


def measure(instance, levels: list[int], storage_root: str, with_graphql: bool) -> list[dict]:
    recipe = dense_recipe()
    keys, storage = Keys(recipe), LocalStorage(root=storage_root)
    registered = [checkpoint_key(run, s) for run in recipe.runs for s in STEPS]
    instance.add_dynamic_partitions(CHECKPOINTS.name, registered)
    # Each run has announced one more checkpoint than the sensor's cursor has seen.
    for run in recipe.runs:
        storage.write_bytes(
            keys.manifest(run),
            b"".join(
                json.dumps({"run": run, "step": s, "uri": f"/ckpt/{run}/{s}"}).encode() + b"\n"
                for s in [*STEPS[1:], 640]
            ),
        )
    cursor = json.dumps(sorted(registered))
    sensor, schedule = build_checkpoint_sensor(recipe), build_eval_refresh_schedule(recipe)
    versions = {b: cell_definition(recipe, b) for b in recipe.evaluation.benchmarks}
    cells = cells_in_order(recipe)
    rows, done = [], 0
    for level in levels:
        level = min(level, len(cells))
        materialize(instance, cells[done:level], versions)
        done = level
        sensor_s, result = timed(
            lambda: sensor(build_sensor_context(instance=instance, cursor=cursor, resources={"storage": storage}))
        )
        assert len(result.run_requests) == len(recipe.runs), result
        schedule_s, requests = timed(lambda: schedule(build_schedule_context(instance=instance)))
        requested = 0 if not isinstance(requests, list) else len(requests)
        baseline = per_cell_baseline(instance, cells[:BASELINE_CELLS])
        rows.append(
            {
                "materialized": level,
                "examined": len(cells),
                "sensor_s": sensor_s,
                "schedule_s": schedule_s,
                "schedule_runs_requested": requested,
                "baseline_schedule_s": baseline * len(cells),
                "graphql_s": graphql_seconds(instance, recipe) if with_graphql else None,
            }
        )
        print(rows[-1], flush=True)
    return rows


@contextlib.contextmanager
def sqlite_instance(tmp: str | None):
    with tempfile.TemporaryDirectory(prefix="scale-sqlite-", dir=tmp) as home:
        with DagsterInstance.from_config(home) as instance:
            yield instance, home


@contextlib.contextmanager
def postgres_instance(tmp: str | None):
    sys.path.insert(0, str(PROJECT_ROOT))
    from tests.postgres_server import running_postgres

    with running_postgres() as pg, tempfile.TemporaryDirectory(prefix="scale-pg-", dir=tmp) as home:
        url = f"postgresql+psycopg2://{pg['user']}@{pg['host']}:{pg['port']}/{pg['db']}"
        Path(home, "dagster.yaml").write_text(f"storage:\n  postgres:\n    postgres_url: {url}\n")
        with DagsterInstance.from_config(home) as instance:
            yield instance, home


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instance", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--levels", default="1000,4000,14000", help="materialized cells at each measurement")
    parser.add_argument("--no-graphql", action="store_true", help="skip the UI's partition-status query")
    parser.add_argument(
        "--tmp",
        default=None,
        help="folder for the SQLite instance (e.g. /dev/shm: writing the "
        "synthetic events is then faster; reads are served from the page cache either way)",
    )
    args = parser.parse_args(argv)
    levels = [int(x) for x in args.levels.split(",")]
    print(f"definitions load (fresh process, full recipe): {definitions_load_seconds():.2f} s", flush=True)
    kinds = ("sqlite", "postgres") if args.instance == "both" else (args.instance,)
    for kind in kinds:
        print(f"--- {kind}", flush=True)
        with (
            sqlite_instance(args.tmp) if kind == "sqlite" else postgres_instance(args.tmp) as (instance, home),
            tempfile.TemporaryDirectory(prefix="scale-storage-") as storage_root,
        ):
            os.environ["DAGSTER_HOME"] = home
            rows = measure(instance, levels, storage_root, not args.no_graphql)
        print(
            f"{'cells':>6} {'sensor s':>9} {'schedule s':>11} {'per cell ms':>12} {'1-query/cell s':>15} "
            f"{'speed-up':>9} {'graphql s':>10}"
        )
        for r in rows:
            graphql = f"{r['graphql_s']:10.2f}" if r["graphql_s"] is not None else f"{'-':>10}"
            print(
                f"{r['materialized']:>6} {r['sensor_s']:9.3f} {r['schedule_s']:11.2f} "
                f"{1000 * r['schedule_s'] / r['examined']:12.3f} {r['baseline_schedule_s']:15.1f} "
                f"{r['baseline_schedule_s'] / r['schedule_s']:9.1f} {graphql}"
            )


if __name__ == "__main__":
    main()
