"""What this machine chooses for the study, who holds its GPUs now, and the run queue's pools.

    python -m orchestration.machine                 # the settings and the lease
    python -m orchestration.machine --apply-pools   # size the instance's pools to the GPUs

With ``--apply-pools`` the instance at $DAGSTER_HOME runs as many inference runs at once as the
machine has engines' worth of GPUs (its device count over the GPUs per engine) and as many
training runs as fit side by side; the lease then maps each running run to its device ids. A UI
backfill over checkpoints (one run per checkpoint) thus evaluates one checkpoint per free GPU.
"""

from __future__ import annotations

import argparse
import os
import sys

from dagster import DagsterInstance

from orchestration.environments import machine_settings
from resources.launchers.devices import holders
from resources.launchers.machine_settings import MachineSettings


def apply_pools(instance: DagsterInstance, chosen: MachineSettings) -> dict[str, int]:
    """Set the instance's pool limits (what ``dagster instance concurrency set`` does) to the machine's."""
    for pool, limit in chosen.pools.items():
        instance.event_log_storage.set_concurrency_slots(pool, limit)
    return chosen.pools


def report(chosen: MachineSettings) -> list[str]:
    lines = list(chosen.describe())
    for device, holder in holders(chosen.machine.ids).items():
        lines.append(f"GPU {device}: {'held by ' + holder if holder else 'free'}")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apply-pools", action="store_true", help="set the instance's pool limits to the machine's")
    args = parser.parse_args(argv)
    chosen = machine_settings()
    print("\n".join(report(chosen)))
    if args.apply_pools:
        if not os.environ.get("DAGSTER_HOME"):
            sys.exit("DAGSTER_HOME is not set: point it at the folder that holds the Dagster instance")
        limits = apply_pools(DagsterInstance.get(), chosen)
        print("pool limits set: " + ", ".join(f"{pool} {n}" for pool, n in limits.items()))


if __name__ == "__main__":
    main()
