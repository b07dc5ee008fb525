"""The judge's local server leaves no log file behind, however it ends; a failed start quotes the
log's tail."""

import os
import sys
import tempfile

import pytest

import resources.launchers.vllm_server as vllm_server_module
from resources.launchers.vllm_server import VllmServerError, vllm_server


def test_a_server_that_fails_to_start_quotes_its_log_and_leaves_no_file(monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    # A stand-in for `vllm serve` that prints and exits: the same process handling, no engine.
    real = vllm_server_module.start_process_group

    # It also lists the temporary folder while it runs: a named log there would outlive a killed run.
    script = (
        f"import os; print('x' * 5000 + 'files beside me: ' + repr(os.listdir({str(tmp_path)!r})) + "
        "' the reason it failed'); raise SystemExit(3)"
    )

    def fake_server(command, env, **popen):
        return real([sys.executable, "-c", script], env, **popen)

    monkeypatch.setattr(vllm_server_module, "start_process_group", fake_server)
    with (
        pytest.raises(VllmServerError, match="exited with 3") as raised,
        vllm_server("/models/none", served_name="judge", max_model_len=64),
    ):
        pass
    assert str(raised.value).endswith("files beside me: [] the reason it failed\n")
    assert len(str(raised.value)) < 3200
    assert os.listdir(tmp_path) == []
