"""Workloads in real containers, where buildah is installed (slow).

- A minimal image on the Debian base that scripts/build_images.sh makes (debootstrap bookworm):
  the real ``workloads.core.lifecycle`` and dagster-pipes, and a probe workload. The container launcher
  runs it with ``buildah run``: the extras arrive, the storage folder is mounted read-write at its
  own path, a workload's failure report comes back through the Pipes messages and fails the step
  without a retry.
- The cpu workloads image, if scripts/build_images.sh has built it: every workload module imports
  and torch is the CPU build. Building it takes too long for CI (see docs/images.md).
"""

import shutil
import subprocess
import textwrap
from pathlib import Path

import dagster_pipes
import pytest
from dagster import RetryPolicy, asset, materialize

from resources.launchers.container import ContainerLauncher

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "reasoning-sft-study"
BASE = f"{PREFIX}/debian-base:bookworm"
CPU_IMAGE = f"{PREFIX}/workloads:cpu"
PROBE_IMAGE = f"{PREFIX}/test-probe:latest"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("buildah") is None,
        reason="no image builder: buildah is not installed (apt-get install buildah debootstrap)",
    ),
]

PROBE = textwrap.dedent(
    """
    import os
    from pathlib import Path

    from workloads.core.lifecycle import workload_pipes

    with workload_pipes() as pipes:
        extras = pipes.extras
        if extras["mode"] == "bad-data":
            raise ValueError("queries.parquet, row 3: no answer")
        text = Path(extras["input"]).read_text()
        Path(extras["output"]).write_text(text.upper())
        pipes.report_asset_materialization(metadata={"read": text, "greeting": os.environ["STUDY_GREETING"]})
    """
)


def image_exists(name: str) -> bool:
    return subprocess.run(["buildah", "inspect", "--type", "image", name], capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def probe_image(tmp_path_factory):
    if not image_exists(BASE):
        if shutil.which("debootstrap") is None:
            pytest.skip("the Debian base needs debootstrap (apt-get install debootstrap)")
        subprocess.run(["bash", str(ROOT / "scripts" / "build_images.sh"), "base"], check=True)
    context = tmp_path_factory.mktemp("probe-image")
    shutil.copytree(Path(dagster_pipes.__file__).parent, context / "dagster_pipes")
    # The launcher starts programs only: the probe stands in for one (verify) in this image.
    for name in ("__init__.py", "core/__init__.py", "core/lifecycle.py", "programs/__init__.py"):
        (context / "workloads" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "workloads" / name, context / "workloads" / name)
    (context / "workloads" / "programs" / "verify.py").write_text(PROBE)
    (context / "Dockerfile").write_text(
        "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nWORKDIR /app\nENV PYTHONPATH=/app\n"
        "COPY dagster_pipes dagster_pipes\nCOPY workloads workloads\n"
        'RUN python3 -c "import workloads.core.lifecycle"\n'
    )
    subprocess.run(
        ["buildah", "bud", "--isolation", "chroot", "--build-arg", f"BASE_IMAGE={BASE}", "-t", PROBE_IMAGE, context],
        check=True,
        capture_output=True,
    )
    return PROBE_IMAGE


def probe_asset(extras: dict):
    @asset(name=f"probe_{extras['mode'].replace('-', '_')}", retry_policy=RetryPolicy(max_retries=2))
    def probe(context, launcher: ContainerLauncher):
        return launcher.run(context, "verify", extras).get_materialize_result()

    return probe


def test_a_workload_runs_in_a_buildah_container_and_speaks_pipes(probe_image, tmp_path):
    (tmp_path / "in.txt").write_text("hello")
    launcher = ContainerLauncher(
        image=probe_image,
        runtime="buildah",
        python="python3",
        mounts={str(tmp_path): False},
        env={"STUDY_GREETING": "hi"},
    )
    extras = {"mode": "ok", "input": str(tmp_path / "in.txt"), "output": str(tmp_path / "out.txt")}
    result = materialize([probe_asset(extras)], resources={"launcher": launcher})
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["read"].value == "hello" and metadata["greeting"].value == "hi"
    assert (tmp_path / "out.txt").read_text() == "HELLO"  # written inside, through the mount

    result = materialize([probe_asset({"mode": "bad-data"})], resources={"launcher": launcher}, raise_on_error=False)
    failures = [e.step_failure_data.error.message for e in result.all_events if e.is_step_failure]
    restarts = [e for e in result.all_events if e.event_type_value == "STEP_RESTARTED"]
    assert not result.success and not restarts
    assert "ValueError: queries.parquet, row 3: no answer" in failures[0]
    # The working containers are gone.
    listed = subprocess.run(["buildah", "containers", "--format", "{{.ContainerName}}"], capture_output=True, text=True)
    assert "study-probe-" not in listed.stdout


@pytest.mark.skipif(
    shutil.which("buildah") is None or not image_exists(CPU_IMAGE),
    reason=f"{CPU_IMAGE} is not built: scripts/build_images.sh",
)
def test_every_workload_module_imports_in_the_cpu_image():
    check = (
        "import importlib, pkgutil, torch, vllm, workloads; "
        "[importlib.import_module(m.name) for m in pkgutil.walk_packages(workloads.__path__, 'workloads.')]; "
        "print(torch.__version__, torch.version.cuda)"
    )
    name = subprocess.run(
        ["buildah", "from", "--pull-never", "--quiet", CPU_IMAGE], check=True, capture_output=True, text=True
    ).stdout.strip()
    try:
        out = subprocess.run(
            ["buildah", "run", "--isolation", "chroot", name, "--", "python", "-c", check],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        subprocess.run(["buildah", "rm", name], capture_output=True)
    version, cuda = out.split()[-2:]
    assert version.startswith("2.13.0") and cuda == "None"
