"""Execution policies shared by the assets that launch workloads."""

from dagster import Backoff, RetryPolicy

# A pod evicted or a node lost fails the step; the retry starts where the work stopped
# (generation resumes from its part files, training from its last full checkpoint) and every
# output key is written once per partition, so a retry never duplicates outputs. Retrying is for
# such losses only: the launcher fails the step with ``Failure(allow_retries=False)`` when it was
# interrupted or when the workload reports an error a retry cannot fix (resources/launchers/processes.py).
WORKLOAD_RETRIES = RetryPolicy(max_retries=2, delay=10, backoff=Backoff.EXPONENTIAL)
