"""The ``study`` command line: every subcommand's help, and a user's mistake (a bad recipe, a bad
throughput table, an unknown environment) answered with one line and exit status 2, never a traceback."""

import os
import subprocess
import sys

import pytest

from orchestration import cli
from orchestration.run_study import STAGES, stage_jobs
from recipe_schema.data_files import PROJECT_ROOT
from tests.conftest import FULL_RECIPE, SMALL_RECIPE

SUBCOMMANDS = ("run", "check", "estimate", "plan", "ui")
BAD_RECIPE = {"generation": {"sampling": {"temperature": -1}}}
BAD_RECIPE_MESSAGE = "invalid recipe: recipe.yaml: generation.sampling.temperature: -1 is out of range"


@pytest.fixture(autouse=True)
def instance_home(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.delenv("STUDY_ENV", raising=False)
    monkeypatch.delenv("STUDY_RECIPE", raising=False)


def test_help_lists_the_subcommands_and_each_subcommand_its_choices(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["--help"])
    assert done.value.code == 0
    top = capsys.readouterr().out
    assert all(name in top for name in SUBCOMMANDS)
    for name in SUBCOMMANDS:
        with pytest.raises(SystemExit) as done:
            cli.main([name, "--help"])
        assert done.value.code == 0
        text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines anywhere
        assert "recipes/small.yaml" in text and "recipes/full.yaml" in text, name
        if name in ("run", "check", "estimate"):
            assert "{cluster,local}" in text, name
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    run_help = capsys.readouterr().out
    assert all(stage in run_help for stage in STAGES)


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_a_bad_recipe_is_one_line_and_exit_2_in_every_subcommand(command, write_recipe, capsys, monkeypatch):
    monkeypatch.setattr(os, "execv", lambda *a: pytest.fail("the UI started on a bad recipe"))
    code = cli.main([command, "--recipe", str(write_recipe(BAD_RECIPE))])
    out = capsys.readouterr()
    assert code == 2
    assert f"study {command}: {BAD_RECIPE_MESSAGE}" in out.err
    assert "Traceback" not in out.err + out.out
    assert out.out == ""  # nothing started, nothing printed as if it had


def test_a_missing_recipe_file_is_named(tmp_path, capsys):
    assert cli.main(["check", "--recipe", str(tmp_path / "absent.yaml")]) == 2
    assert "absent.yaml" in capsys.readouterr().err


def test_run_from_a_terminal_prints_no_traceback_on_a_bad_recipe(write_recipe, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "run", "--recipe", str(write_recipe(BAD_RECIPE))],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DAGSTER_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2
    assert BAD_RECIPE_MESSAGE in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_an_unknown_environment_lists_the_choices(capsys, monkeypatch):
    with pytest.raises(SystemExit) as done:
        cli.main(["run", "--env", "laptop"])
    assert done.value.code == 2
    assert "choose from 'cluster', 'local'" in capsys.readouterr().err
    monkeypatch.setenv("STUDY_ENV", "laptop")
    assert cli.main(["check"]) == 2
    err = capsys.readouterr().err
    assert "STUDY_ENV='laptop' is not an environment" in err and "['cluster', 'local']" in err


def test_the_cluster_environment_without_its_settings_names_the_missing_one(capsys, monkeypatch):
    monkeypatch.delenv("STUDY_LAUNCHER_CONFIG", raising=False)
    assert cli.main(["estimate", "--env", "cluster", "--no-measure"]) == 2
    assert "needs the environment variable STUDY_" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "--throughput: no such file"),
        ("gpus: [unclosed", "invalid throughput table: table.yaml: not YAML"),
        ("gpus: {}\n", "invalid throughput table: table.yaml: default_gpu: required field is missing"),
    ],
)
def test_a_bad_throughput_table_is_one_line_and_exit_2(content, message, tmp_path, capsys):
    table = tmp_path / "table.yaml"
    if content is not None:
        table.write_text(content)
    code = cli.main(["estimate", "--recipe", str(FULL_RECIPE), "--throughput", str(table), "--no-measure"])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err


def test_an_unknown_gpu_names_the_known_ones(capsys):
    assert cli.main(["estimate", "--recipe", str(FULL_RECIPE), "--gpu", "TPU", "--no-measure"]) == 2
    assert "GPU type 'TPU' is not in the throughput table (known: " in capsys.readouterr().err


def test_stage_selection_follows_the_job_order():
    assert stage_jobs() == [f"{s}_job" for s in STAGES]
    assert stage_jobs(only=["report", "training"]) == ["training_job", "report_job"]
    assert stage_jobs(start="evaluation") == ["evaluation_job", "report_job"]
    with pytest.raises(ValueError, match="no stage 'train'; the stages are models, queries"):
        stage_jobs(only=["train"])


def test_only_and_from_cannot_be_combined(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["run", "--only", "models", "--from", "training"])
    assert done.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_check_validates_and_prints_the_plan_without_running_anything(capsys, tmp_path):
    assert cli.main(["check", "--recipe", str(SMALL_RECIPE)]) == 0
    out = capsys.readouterr().out
    assert "recipe 'small-cpu' is valid and its data files are in place" in out
    assert "generation  2 run(s): shard-000, shard-001" in out
    assert "training    1 run(s): smollm2-135m__countdown-cot" in out
    assert "Evaluation plan:" in out and "math500" in out
    assert not (tmp_path / "dagster_home").exists() or not any((tmp_path / "dagster_home").glob("storage/*"))


def test_check_names_a_missing_data_file(write_recipe, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("STUDY_DATA_DIR", str(tmp_path / "no-data"))
    assert cli.main(["check", "--recipe", str(write_recipe())]) == 2
    assert str(tmp_path / "no-data") in capsys.readouterr().err


def test_plan_prints_a_row_per_student(capsys):
    assert cli.main(["plan", "--recipe", str(FULL_RECIPE)]) == 0
    out = capsys.readouterr().out
    assert "GPU(s) per run" in out
    assert len(out.strip().splitlines()) >= 3  # the cluster line, the header, a row per student


def test_ui_starts_dagster_dev_on_the_chosen_recipe_and_the_instance(monkeypatch, tmp_path):
    started = {}
    monkeypatch.setattr(os, "execv", lambda path, argv: started.update(path=path, argv=argv))
    monkeypatch.setattr(os, "chdir", lambda path: started.update(cwd=path))
    assert cli.main(["ui", "--recipe", str(SMALL_RECIPE), "--port", "3123"]) == 0
    assert started["argv"][1:4] == ["-m", "dagster", "dev"]
    assert started["argv"][-4:] == ["-h", "127.0.0.1", "-p", "3123"]
    assert os.environ["STUDY_RECIPE"] == str(SMALL_RECIPE)
    assert (tmp_path / "dagster_home" / "dagster.yaml").is_file()
