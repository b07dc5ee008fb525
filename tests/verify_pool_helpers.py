"""Verdict functions that misbehave on purpose, for tests/test_verify_pool.py.

Pool workers import their verdicts by name, so these live in a module of their own; it imports
nothing heavy, because every replacement worker in the tests imports it again.
"""

import os
import signal
import time

from workloads.evaluation.registry import VERDICTS


def hang_verdict(final, reference):
    time.sleep(60)
    return True, None


def crash_verdict(final, reference):
    os.kill(os.getpid(), signal.SIGKILL)


def raise_verdict(final, reference):
    raise ZeroDivisionError("boom")


TEST_VERDICTS = {**VERDICTS, "hang": hang_verdict, "crash": crash_verdict, "raise": raise_verdict}
