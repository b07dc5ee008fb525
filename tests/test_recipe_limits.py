"""A hostile recipe is refused at load with a message naming the file and the field: what the YAML
loader builds is bounded, every number has a range, every path stays in the data folder, and the
judge's key comes only from a variable named as one."""

import shutil
import time
import typing

import pytest
import yaml
from pydantic import BaseModel

from recipe_schema.data_files import DATA_DIR_ENV, DEFAULT_DATA_DIR
from recipe_schema.errors import RecipeError
from recipe_schema.loading import load_recipe, parse_recipe
from recipe_schema.recipe import Recipe
from recipe_schema.yaml_loading import MAX_ALIASES, MAX_DEPTH
from tests.conftest import SMALL_RECIPE

SMALL = "smollm2-135m"
BOMB = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 8))


def nested(depth: int, flow: bool) -> str:
    if flow:
        return "a: " + "[" * depth + "]" * depth + "\n"
    return "".join("  " * i + f"k{i}:\n" for i in range(depth)) + "  " * depth + "v: 1\n"


# (YAML text, what the error says); each is read with the small recipe's text after it.
HOSTILE_YAML = [
    (nested(5000, flow=True), f"nested deeper than {MAX_DEPTH} levels"),
    (nested(5000, flow=False), f"nested deeper than {MAX_DEPTH} levels"),
    ("big: " + "9" * 5000 + "\n", "an integer of 5000 digits"),
    ("big: 0x" + "f" * 5000 + "\n", "an integer of"),
    ("l0: &l0 [x, x, x, x, x, x, x, x, x]\n" + BOMB, "aliases expand this document past"),
    ("a: &a 1\nb: [" + ", ".join(["*a"] * (MAX_ALIASES + 1)) + "]\n", f"more than {MAX_ALIASES} aliases"),
]


@pytest.mark.parametrize(("text", "message"), HOSTILE_YAML)
def test_what_a_small_file_makes_the_loader_build_is_bounded(tmp_path, text, message):
    path = tmp_path / "recipe.yaml"
    path.write_text(text + SMALL_RECIPE.read_text())
    started = time.monotonic()
    with pytest.raises(RecipeError, match=f"recipe.yaml: line \\d+(, column \\d+)?: {message}"):
        load_recipe(path)
    assert time.monotonic() - started < 10


def test_anchors_and_merges_within_the_budget_still_load(tmp_path):
    data = yaml.safe_load(SMALL_RECIPE.read_text())
    text = yaml.safe_dump(data).replace("sampling:\n", "sampling: &shared\n", 1)
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    assert load_recipe(path).generation.sampling.n >= 1


def _set(data: dict, dotted: str, value) -> dict:
    *parents, last = dotted.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return data


def _small() -> dict:
    return yaml.safe_load(SMALL_RECIPE.read_text())


# (field, value, what the error says): past the top of a range, whatever the field.
OUT_OF_RANGE = [
    ("seed", 2**80, "seed: 1208925819614629174706176 is out of range: must be in [0, 2147483647]"),
    ("seed", 2**31, "must be in [0, 2147483647]"),
    ("generation.sampling.n", 10**30, "generation.sampling.n: 1000000000000000000000000000000 is out of range"),
    ("evaluation.benchmarks.math500.n", 1025, "must be in (0, 1024]"),
    ("generation.sampling.temperature", 1e30, "generation.sampling.temperature: 1e+30 is out of range: must be in"),
    ("training.epochs", 1e30, "training.epochs: 1e+30 is out of range: must be in (0, 1000]"),
    ("training.learning_rate", 2.0, "training.learning_rate: 2.0 is out of range"),
    ("generation.sampling.max_new_tokens", 2**40, "generation.sampling.max_new_tokens: 1099511627776 is out"),
    ("queries.math.size", 2**63, "queries.math.size: 9223372036854775808 is out of range"),
    ("evaluation.refine_max_cells", 2**70, "evaluation.refine_max_cells: 1180591620717411303424 is out"),
]


@pytest.mark.parametrize(("field", "value", "message"), OUT_OF_RANGE)
def test_numbers_have_upper_bounds(field, value, message):
    with pytest.raises(RecipeError) as err:
        parse_recipe(_set(_small(), field, value), check_files=False)
    assert message in str(err.value)


def test_the_largest_seed_loads():
    assert parse_recipe(_set(_small(), "seed", 2**31 - 1), check_files=False).seed == 2**31 - 1


def _sections(model: type[BaseModel], seen: set) -> list[type[BaseModel]]:
    if model in seen:
        return []
    seen.add(model)
    found = [model]
    for info in model.model_fields.values():
        for arg in _flatten(info.annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                found += _sections(arg, seen)
    return found


def _flatten(annotation) -> list:
    args = typing.get_args(annotation)
    return [annotation] + [a for arg in args for a in _flatten(arg)]


def test_every_number_of_every_section_has_an_upper_bound():
    """The rule behind the table above: no int or float field of the schema is unbounded above."""
    unbounded = []
    for section in _sections(Recipe, set()):
        for name, info in section.model_fields.items():
            leaves = [a for a in _flatten(info.annotation) if a in (int, float)]
            if not leaves:
                continue
            metadata = [*info.metadata, *(m for a in _flatten(info.annotation) for m in getattr(a, "__metadata__", ()))]
            metadata += [inner for m in metadata for inner in getattr(m, "metadata", ())]
            if not any(hasattr(m, "le") or hasattr(m, "lt") for m in metadata):
                unbounded.append(f"{section.__name__}.{name}")
    assert unbounded == []


def test_a_setting_that_needs_a_missing_package_is_a_recipe_error():
    pytest.importorskip("trl")
    try:
        import deepspeed  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("deepspeed is installed here")
    data = _set(_small(), "training.deepspeed", {"zero_optimization": {"stage": 2}})
    with pytest.raises(RecipeError, match="training: these settings need a package that is not installed: .*deepspeed"):
        parse_recipe(data, check_files=False)


# (field, value, what the error says): every path the recipe names stays in the data folder.
ESCAPING_PATHS = [
    ("queries.math.location", "/etc/passwd", "queries.math.location: '/etc/passwd' leaves the data folder"),
    ("queries.math.location", "../../x.jsonl", "queries.math.location: '../../x.jsonl' leaves the data folder"),
    ("evaluation.benchmarks.math500.location", "/", "evaluation.benchmarks.math500.location: '/' leaves"),
    (f"models.{SMALL}", {"source": "local", "path": "/opt/model"}, f"models.{SMALL}.path: '/opt/model' leaves"),
    (f"models.{SMALL}", {"source": "local", "path": "a/../../m"}, f"models.{SMALL}.path: 'a/../../m' leaves"),
    (f"models.{SMALL}.file", "../../../etc/x.gguf", f"models.{SMALL}.file: '../../../etc/x.gguf' is not a file name"),
    (f"models.{SMALL}.file", "/etc/x.gguf", f"models.{SMALL}.file: '/etc/x.gguf' is not a file name inside"),
    (f"models.{SMALL}.package", "os; rm", f"models.{SMALL}.package: 'os; rm' is not a Python package name"),
    ("data_dir", "/", "data_dir: moves the data folder"),
    ("training.resume_from_checkpoint", "/tmp/ckpt", "training.resume_from_checkpoint: a path on the compute"),
    ("training.logging_dir", "/tmp/logs", "training.logging_dir: a path on the compute"),
    ("training.deepspeed", "/etc/ds.json", "training.deepspeed: a path on the compute is not a recipe setting"),
]


@pytest.mark.parametrize(("field", "value", "message"), ESCAPING_PATHS)
def test_every_path_field_follows_the_data_folder_rule(field, value, message):
    with pytest.raises(RecipeError) as err:
        parse_recipe(_set(_small(), field, value), check_files=False)
    assert message in str(err.value)


def test_the_file_system_root_is_never_the_data_folder():
    data = _set(_set(_small(), "data_dir", "/"), "allow_absolute_paths", True)
    with pytest.raises(RecipeError, match="data_dir: the file system's root is not a data folder"):
        parse_recipe(data, check_files=False)


@pytest.fixture
def data_folder(tmp_path, monkeypatch):
    """A copy of the files the small recipe reads, as the data folder."""
    folder = tmp_path / "data"
    for location in ("queries/gsm8k_train.jsonl", "queries/countdown_3to4_train.jsonl", "math/math500.jsonl"):
        (folder / location).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(DEFAULT_DATA_DIR / location, folder / location)
    for location in ("truthfulqa/mc_task_v0.json", "ifeval/input_data.jsonl", "safety/advbench_harmful_behaviors.csv"):
        (folder / location).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(DEFAULT_DATA_DIR / location, folder / location)
    monkeypatch.setenv(DATA_DIR_ENV, str(folder))
    return folder


def test_symlinks_are_resolved_before_the_data_folder_check(data_folder):
    (data_folder / "math" / "inside.jsonl").symlink_to(data_folder / "math" / "math500.jsonl")
    (data_folder / "math" / "outside.jsonl").symlink_to(DEFAULT_DATA_DIR / "math" / "math500.jsonl")
    bench = "evaluation.benchmarks.math500.location"
    assert (
        parse_recipe(_set(_small(), bench, "math/inside.jsonl"))
        .data_path("math/inside.jsonl")
        .startswith(str(data_folder.resolve()))
    )
    with pytest.raises(RecipeError, match=f"{bench}: 'math/outside.jsonl' resolves to .* outside the data folder"):
        parse_recipe(_set(_small(), bench, "math/outside.jsonl"))
    recipe = parse_recipe(_small())
    with pytest.raises(ValueError, match="outside the data folder"):
        recipe.data_path("math/outside.jsonl")


def test_a_local_model_is_a_folder_in_the_data_folder(data_folder):
    (data_folder / "models" / "student").mkdir(parents=True)
    data = _set(_small(), f"models.{SMALL}", {"source": "local", "path": "models/student"})
    with pytest.raises(RecipeError, match=f"models.{SMALL}.path: not a model folder"):
        parse_recipe(data)
    (data_folder / "models" / "student" / "config.json").write_text("{}")
    recipe = parse_recipe(data)
    assert recipe.data_path(recipe.models[SMALL].path) == str((data_folder / "models" / "student").resolve())


@pytest.mark.parametrize("name", ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "MY_JUDGE_2_API_KEY", ""])
def test_a_judge_key_comes_from_a_variable_named_as_one(name):
    recipe = parse_recipe(_set(_small(), "evaluation.judge.api_key_env", name), check_files=False)
    assert recipe.evaluation.judge.api_key_env == name


@pytest.mark.parametrize(
    "name",
    ["AWS_SECRET_ACCESS_KEY", "HF_TOKEN", "PATH", "openai_api_key", "AWS_API_KEY", "DAGSTER_API_KEY", "HF_API_KEY"],
)
def test_other_variables_are_not_a_judge_key(name):
    with pytest.raises(RecipeError, match=f"evaluation.judge.api_key_env: '{name}': the judge's key comes from"):
        parse_recipe(_set(_small(), "evaluation.judge.api_key_env", name), check_files=False)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("file:///etc/passwd", "is not an http\\(s\\) URL with a host"),
        ("gopher://host/v1", "is not an http\\(s\\) URL with a host"),
        ("https:///v1", "is not an http\\(s\\) URL with a host"),
        ("https://user:sk-secret@host/v1", "holds credentials: give the key through api_key_env"),
    ],
)
def test_the_judge_key_goes_only_to_an_http_server(url, message):
    with pytest.raises(RecipeError, match=f"evaluation.judge.base_url: .*{message}"):
        parse_recipe(_set(_small(), "evaluation.judge.base_url", url), check_files=False)
