"""A backfill of eval cells launched the way the UI launches it (GraphQL against `dagster dev` on
127.0.0.1, with its daemon): every benchmark's asset over some checkpoints becomes one run per
checkpoint, each selecting all the benchmarks, so a checkpoint's cells share one engine. The
cells are current, so the runs reuse them and no engine starts."""

import json
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from dagster import DagsterInstance

from assets.evaluation import cell_definition
from assets.keys import Keys
from assets.partitions import CHECKPOINTS
from resources.launchers.vllm_server import free_port
from resources.storage import LocalStorage
from tests.test_eval_cells import _table

LAUNCH = """mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""
STATUS = """query($id: String!) { partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill {
  status runs(limit: 20) { status tags { key value } assetSelection { path } } } } }"""


@pytest.mark.slow
def test_a_ui_backfill_of_cells_runs_once_per_checkpoint_over_its_benchmarks(small_recipe, tmp_path):
    storage, keys = LocalStorage(root=str(tmp_path / "storage")), Keys(small_recipe)
    run = small_recipe.runs[0]
    checkpoints = [f"{run}@step-0000{i}" for i in (0, 2, 4)]
    storage.write_bytes(
        keys.manifest(run),
        b"".join(json.dumps({"run": run, "step": s, "uri": f"/checkpoints/{s}"}).encode() + b"\n" for s in (2, 4)),
    )
    for checkpoint in checkpoints:
        for benchmark in small_recipe.evaluation.benchmarks:
            storage.write_table(
                keys.eval_table(checkpoint, benchmark),
                _table(checkpoint, benchmark, cell_definition(small_recipe, benchmark)),
            )
    home = tmp_path / "dagster_home"
    home.mkdir()
    with DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions(CHECKPOINTS.name, checkpoints)

    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "STUDY_STORAGE_DIR": str(tmp_path / "storage")}
    log = open(tmp_path / "dagster-dev.log", "wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=os.path.dirname(os.path.dirname(__file__)),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its webserver and daemon share its group, so none outlives the test
    )
    url = f"http://127.0.0.1:{port}/graphql"

    def query(text, variables):
        answer = httpx.post(url, json={"query": text, "variables": variables}, timeout=60).json()
        assert "errors" not in answer, answer
        return answer["data"]

    try:
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None, (tmp_path / "dagster-dev.log").read_text()[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/server_info", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "dagster dev did not come up"
            time.sleep(1)
        # Every benchmark's asset at steps 2 and 4: what a user selects in the UI.
        selection = [{"path": ["eval_cells", b]} for b in small_recipe.evaluation.benchmarks]
        chosen = checkpoints[1:]
        launched = query(LAUNCH, {"p": {"assetSelection": selection, "partitionNames": chosen}})
        backfill = launched["launchPartitionBackfill"]["backfillId"]
        deadline = time.monotonic() + 300
        while True:
            state = query(STATUS, {"id": backfill})["partitionBackfillOrError"]
            done = state["runs"] and all(r["status"] in ("SUCCESS", "FAILURE", "CANCELED") for r in state["runs"])
            if state["status"] != "REQUESTED" and done:
                break
            assert time.monotonic() < deadline, state
            time.sleep(3)
    finally:
        server.send_signal(signal.SIGINT)  # dagster dev stops its webserver, daemon and code servers
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=30)
        try:
            os.killpg(server.pid, signal.SIGKILL)  # what dagster dev left running after it stopped
        except ProcessLookupError:
            pass
        log.close()

    assert state["status"] == "COMPLETED_SUCCESS"
    tags = [{t["key"]: t["value"] for t in r["tags"]} for r in state["runs"]]
    # A backfill policy names a run's partitions as a range, here of one checkpoint.
    runs = sorted(
        (
            t["dagster/asset_partition_range_start"],
            t["dagster/asset_partition_range_end"],
            sorted(a["path"][-1] for a in r["assetSelection"]),
        )
        for t, r in zip(tags, state["runs"], strict=True)
    )
    assert runs == [(c, c, sorted(small_recipe.evaluation.benchmarks)) for c in checkpoints[1:]]
    assert all(r["status"] == "SUCCESS" for r in state["runs"])
