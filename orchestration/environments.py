"""The environment switch: one setting (STUDY_ENV) picks every resource.

Each environment is a dict of resources. Only environments whose resources all have working
implementations are listed; the cluster one (S3 storage, Kubernetes launcher) joins this table
when those resources exist.
"""

from __future__ import annotations

import os
from pathlib import Path

from resources.launcher import LocalSubprocessLauncher
from resources.llm import VllmOfflineEndpoint
from resources.recipe import PROJECT_ROOT

ENV_VAR = "STUDY_ENV"
STORAGE_DIR_ENV = "STUDY_STORAGE_DIR"
DEFAULT_STORAGE_DIR = PROJECT_ROOT / ".study" / "storage"


def local_resources() -> dict:
    from resources.storage import LocalStorage

    root = Path(os.environ.get(STORAGE_DIR_ENV) or DEFAULT_STORAGE_DIR)
    return {
        "storage": LocalStorage(root=str(root)),
        "launcher": LocalSubprocessLauncher(),
        "teacher_endpoint": VllmOfflineEndpoint(),
        "eval_endpoint": VllmOfflineEndpoint(),
    }


ENVIRONMENTS = {"local": local_resources}


def resources_for(env: str | None = None) -> dict:
    env = env or os.environ.get(ENV_VAR, "local")
    if env not in ENVIRONMENTS:
        raise ValueError(f"{ENV_VAR}={env!r} is not an environment of this deployment; choose one of {sorted(ENVIRONMENTS)}")
    return ENVIRONMENTS[env]()
