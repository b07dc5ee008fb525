"""A stand-in workload for the launcher tests, run as the launcher's ``python`` (its arguments,
``-m workloads.<name>``, are ignored). ``STUDY_TEST_MODE`` says what it does:

- ``sleep``: starts a grandchild, records both PIDs and its start, then sleeps until killed;
- ``endpoint``: one completions request to ``STUDY_TEST_URL`` (the fake OpenAI server), no retries;
- ``bad-data``: raises a ``ValueError`` naming a file and a row.
"""

import os
import subprocess
import sys
import time

from workloads.core.lifecycle import workload_pipes
from workloads.inference.openai_backend import CompletionsClient

SAMPLING = {"n": 1, "temperature": 0.6, "top_p": 0.95, "max_new_tokens": 4}


def main() -> None:
    mode, record = os.environ["STUDY_TEST_MODE"], os.environ.get("STUDY_TEST_RECORD")
    with workload_pipes():
        if record:
            with open(record, "a") as f:
                f.write(f"start {os.getpid()}\n")
        if mode == "sleep":
            grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
            with open(record, "a") as f:
                f.write(f"grandchild {grandchild.pid}\n")
            time.sleep(600)
        elif mode == "endpoint":
            with CompletionsClient(os.environ["STUDY_TEST_URL"], "m", max_retries=0, vllm_extensions=False) as client:
                client.complete(["p"], SAMPLING)
        elif mode == "bad-data":
            raise ValueError("queries.parquet, row 3, field 'answer': null")


if __name__ == "__main__":
    main()
