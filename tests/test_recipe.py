import pytest

from recipe_schema.errors import RecipeError
from recipe_schema.loading import load_recipe
from tests.conftest import FULL_RECIPE, SMALL_RECIPE


def test_small_recipe_loads_and_names_its_runs():
    recipe = load_recipe(SMALL_RECIPE)
    assert recipe.runs == ["smollm2-135m__countdown-cot"]
    assert recipe.student_of("smollm2-135m__countdown-cot") == "smollm2-135m"


def test_full_recipe_carries_the_papers_protocol():
    recipe = load_recipe(FULL_RECIPE)
    tr = recipe.training
    assert (tr.learning_rate, tr.epochs, tr.global_batch_size, tr.max_length, tr.save_every) == (
        5e-5,
        8,
        256,
        20000,
        10,
    )
    assert recipe.queries["math"].size == 20480 and recipe.queries["countdown"].size == 20000
    assert recipe.generation.sampling.max_new_tokens == 16384
    assert recipe.evaluation.benchmarks["aime24"].n == 10
    assert len(recipe.runs) == 16
    assert recipe.queries["math"].references.location == "hub:AI-MO/NuminaMath-1.5"
    assert recipe.dataset_targets["math-cot"] == 20000


BENCH = "evaluation.benchmarks"
SMALL_MODEL = "smollm2-135m"

# (changes to the small recipe, keys dropped from it, what the error says)
MALFORMED = [
    # types and unknown keys
    ({"generation": {"shards": 2.5}}, (), "generation.shards: Input should be a valid integer (got 2.5)"),
    ({"training": {"epochs": "many"}}, (), "training.epochs: Input should be a valid number"),
    ({"seed": True}, (), "seed: Input should be a valid integer (got True)"),
    ({}, ("seed",), "seed: required field is missing"),
    ({"models": {SMALL_MODEL: {"hello": 1}}}, (), f"models.{SMALL_MODEL}.hello: unknown key (allowed: source,"),
    (
        {"evaluation": {"judge": {"max_tokn": 3}}},
        (),
        "evaluation.judge.max_tokn: unknown key; did you mean 'max_tokens'?",
    ),
    # enumerations name their choices
    ({"models": {SMALL_MODEL: {"source": "ftp"}}}, (), f"models.{SMALL_MODEL}.source: Input should be 'gguf-package'"),
    ({"models": {SMALL_MODEL: {"dtype": "float8"}}}, (), f"models.{SMALL_MODEL}.dtype: Input should be 'bfloat16'"),
    ({"training": {"datasets": ["math-cott"]}}, (), "training.datasets[0]: Input should be 'math-cot'"),
    ({"training": {"lr_scheduler": "cosinee"}}, (), "training.lr_scheduler: Input should be 'linear', 'cosine'"),
    ({"dataset_targets": {"math-cott": 5}}, (), "dataset_targets.math-cott: not a valid key"),
    (
        {BENCH.split(".")[0]: {"benchmarks": {"advbench": {"kind": "harm-o-meter"}}}},
        (),
        f"{BENCH}.advbench.kind: Input should be 'math'",
    ),
    # ranges name the interval
    (
        {"generation": {"sampling": {"temperature": -0.1}}},
        (),
        "generation.sampling.temperature: -0.1 is out of range: must be in [0, 5]",
    ),
    (
        {"evaluation": {"sampling": {"top_k": -2}}},
        (),
        "evaluation.sampling.top_k: -2 is out of range: must be in [-1, 2147483647]",
    ),
    (
        {"generation": {"sampling": {"min_p": 1.5}}},
        (),
        "generation.sampling.min_p: 1.5 is out of range: must be in [0, 1]",
    ),
    ({"generation": {"sampling": {"top_p": 0}}}, (), "generation.sampling.top_p: 0 is out of range: must be in (0, 1]"),
    (
        {"evaluation": {"sampling": {"max_new_tokens": 0}}},
        (),
        "evaluation.sampling.max_new_tokens: 0 is out of range: must be in (0, 2097152]",
    ),
    (
        {"generation": {"teachers": {"math": {"max_model_len": 0}}}},
        (),
        "generation.teachers.math.max_model_len: 0 is out of range: must be in (0, 2097152]",
    ),
    (
        {"evaluation": {"max_model_len": -1}},
        (),
        "evaluation.max_model_len: -1 is out of range: must be in (0, 2097152]",
    ),
    (
        {"evaluation": {"judge": {"max_model_len": 0}}},
        (),
        "evaluation.judge.max_model_len: 0 is out of range: must be in (0, 2097152]",
    ),
    (
        {"evaluation": {"judge": {"max_tokens": 0}}},
        (),
        "evaluation.judge.max_tokens: 0 is out of range: must be in (0, 2097152]",
    ),
    (
        {"evaluation": {"benchmarks": {"advbench": {"max_new_tokens": 0}}}},
        (),
        f"{BENCH}.advbench.max_new_tokens: 0 is out of range: must be > 0",
    ),
    ({"training": {"adam_beta2": 1.0}}, (), "training.adam_beta2: 1.0 is out of range: must be in [0, 1)"),
    ({"training": {"adam_beta1": -0.1}}, (), "training.adam_beta1: -0.1 is out of range: must be in [0, 1)"),
    ({"training": {"learning_rate": float("nan")}}, (), "training.learning_rate: Input should be a finite number"),
    ({"training": {"learning_rate": float("inf")}}, (), "training.learning_rate: Input should be a finite number"),
    ({"queries": {"math": {"size": 0}}}, (), "queries.math.size: 0 is out of range: must be in (0, 2147483647]"),
    (
        {"decontamination": {"min_overlap": 1.5}},
        (),
        "decontamination.min_overlap: 1.5 is out of range: must be in (0, 1]",
    ),
    # lists and references between sections
    ({"training": {"datasets": []}}, (), "training.datasets: List should have at least 1 item"),
    (
        {"training": {"datasets": ["countdown-cot", "countdown-cot"]}},
        (),
        "training.datasets[1]: 'countdown-cot' is listed twice",
    ),
    (
        {"training": {"students": [SMALL_MODEL, SMALL_MODEL]}},
        (),
        f"training.students[1]: '{SMALL_MODEL}' is listed twice",
    ),
    ({"training": {"students": ["gpt-9"]}}, (), "training.students[0]: 'gpt-9' is not in `models`"),
    ({"models": {"tiny": {"source": "tiny-config", "base": "tiny"}}}, (), "models.tiny.base: must name another model"),
    (
        {"training": {"global_batch_size": 6, "per_device_batch_size": 4}},
        (),
        "training.global_batch_size: must be a multiple",
    ),
    ({"generation": {"shards": 1000}}, (), "generation.shards: 1000 shards for only 56 queries"),
    (
        {"generation": {"teachers": {"math": {"backend": "countdown-solver"}}}},
        (),
        "generation.teachers.math.backend: the solver only answers countdown",
    ),
    (
        {"queries": {"countdown": {"references": {"location": "math/math500.jsonl"}}}},
        (),
        "queries.countdown.references: reference solutions are for math sources",
    ),
    ({"evaluation": {"judge": None}}, (), "evaluation.judge: advbench is a safety-judge benchmark: name the judge"),
    ({"evaluation": {"judge": {"model": "gpt-judge"}}}, (), "evaluation.judge.model: 'gpt-judge' is not in `models`"),
    # files: present, and holding what is asked of them
    ({"queries": {"math": {"location": "queries/nope.jsonl"}}}, (), "queries.math.location: file not found"),
    (
        {"queries": {"math": {"references": {"location": "nope.jsonl"}}}},
        (),
        "queries.math.references.location: file not found",
    ),
    (
        {"evaluation": {"benchmarks": {"math500": {"location": "math/nope.jsonl"}}}},
        (),
        f"{BENCH}.math500.location: file not found",
    ),
    ({"queries": {"math": {"size": 100000}}}, (), "queries.math.size: 100000 asked of"),
    ({"evaluation": {"benchmarks": {"math500": {"limit": 501}}}}, (), f"{BENCH}.math500.limit: 501 asked of"),
    ({"evaluation": {"benchmarks": {"advbench": {"limit": 521}}}}, (), f"{BENCH}.advbench.limit: 521 asked of"),
    (
        {"evaluation": {"benchmarks": {"truthfulqa-mc1": {"limit": 818}}}},
        (),
        f"{BENCH}.truthfulqa-mc1.limit: 818 asked of",
    ),
    # names become storage keys: one plain path segment each
    ({"name": "../outside/escaped"}, (), "name: '../outside/escaped' is not a safe name"),
    ({"name": ""}, (), "name: '' is not a safe name"),
    ({"name": "a..b"}, (), "name: 'a..b' is not a safe name"),
    (
        {"models": {"../x": {"source": "hub", "path": "a/b"}}},
        (),
        "models.../x: not a valid key: '../x' is not a safe name",
    ),
    (
        {"queries": {"math/../x": {"loader": "math", "location": "x.jsonl", "size": 1}}},
        (),
        "queries.math/../x: not a valid key",
    ),
    (
        {"evaluation": {"benchmarks": {"a/b": {"location": "math/math500.jsonl", "kind": "math"}}}},
        (),
        f"{BENCH}.a/b: not a valid key",
    ),
    # locations stay in the data folder; hub ids look like hub ids
    (
        {"queries": {"math": {"location": "../../etc/passwd"}}},
        (),
        "queries.math.location: '../../etc/passwd' leaves the data folder",
    ),
    (
        {"queries": {"math": {"location": "/etc/passwd"}}},
        (),
        "queries.math.location: '/etc/passwd' leaves the data folder",
    ),
    (
        {"evaluation": {"benchmarks": {"math500": {"location": "math/../../../x.jsonl"}}}},
        (),
        f"{BENCH}.math500.location: 'math/../../../x.jsonl' leaves the data folder",
    ),
    (
        {"queries": {"math": {"location": "hub:/local/folder"}}},
        (),
        "queries.math.location: '/local/folder' is not a hub id",
    ),
    ({"queries": {"math": {"location": "hub:a/../b"}}}, (), "queries.math.location: 'a/../b' is not a hub id"),
    (
        {"models": {"big": {"source": "hub", "path": "/local/folder"}}},
        (),
        "models.big.path: '/local/folder' is not a hub id",
    ),
]


@pytest.mark.parametrize("changes, drop, message", MALFORMED)
def test_malformed_recipe_names_the_file_and_the_offending_field(write_recipe, changes, drop, message):
    with pytest.raises(RecipeError) as err:
        load_recipe(write_recipe(changes, drop=drop))
    assert f"recipe.yaml: {message}" in str(err.value)


def test_absolute_locations_are_an_explicit_choice(write_recipe):
    absolute = load_recipe(SMALL_RECIPE).data_path("math/math500.jsonl")
    changes = {"evaluation": {"benchmarks": {"math500": {"location": absolute}}}}
    with pytest.raises(RecipeError, match="leaves the data folder"):
        load_recipe(write_recipe(changes))
    recipe = load_recipe(write_recipe({**changes, "allow_absolute_paths": True}))
    assert recipe.data_path(recipe.evaluation.benchmarks["math500"].location) == absolute


def _small_lines() -> list[str]:
    return SMALL_RECIPE.read_text().splitlines()


def _line_of(prefix: str) -> int:
    return next(i for i, line in enumerate(_small_lines(), 1) if line.startswith(prefix))


def _edited(at: str, replacement: str) -> bytes:
    lines = _small_lines()
    lines[_line_of(at) - 1] = replacement
    return "\n".join(lines).encode()


# (the recipe file's bytes, what the error says): each names the line
BROKEN_YAML = [
    (lambda: _edited("seed:", "seed: [0"), lambda: r"recipe.yaml: line \d+, column \d+: .*"),
    (
        lambda: _edited("  shards:", "\tshards: 2"),
        lambda: rf"recipe.yaml: line {_line_of('  shards:')}, column 1: .*'\\t'",
    ),
    (
        lambda: _edited("seed:", "seed: 0  # caf\xe9").replace("\xe9".encode(), b"\xe9"),
        lambda: rf"recipe.yaml: line {_line_of('seed:')}: not UTF-8 text \(byte 0xe9\)",
    ),
    (
        lambda: _edited("seed:", "seed: 0\nseed: 1"),
        lambda: (
            rf"recipe.yaml: line {_line_of('seed:') + 1}: duplicate key 'seed' "
            rf"\(first set on line {_line_of('seed:')}\)"
        ),
    ),
    (
        lambda: _edited("  shards:", "  shards: 2\n  shards: 3"),
        lambda: r"recipe.yaml: line \d+: duplicate key 'shards'",
    ),
    (
        lambda: _edited("  sampling: {n: 4,", "  sampling: {n: 4, n: 5}"),
        lambda: r"recipe.yaml: line \d+: duplicate key 'n'",
    ),
    (lambda: b"- a list\n- not a mapping\n", lambda: r"recipe.yaml: a recipe is a YAML mapping"),
]


@pytest.mark.parametrize("content, message", BROKEN_YAML)
def test_unreadable_yaml_names_the_file_and_the_line(tmp_path, content, message):
    path = tmp_path / "recipe.yaml"
    path.write_bytes(content())
    with pytest.raises(RecipeError, match=message()):
        load_recipe(path)


def test_missing_recipe_file_is_reported(tmp_path):
    with pytest.raises(RecipeError, match="recipe file not found"):
        load_recipe(tmp_path / "absent.yaml")


def test_data_folder_is_a_setting(write_recipe, tmp_path, monkeypatch):
    monkeypatch.setenv("STUDY_DATA_DIR", str(tmp_path))
    with pytest.raises(RecipeError, match=str(tmp_path)):
        load_recipe(write_recipe())


def test_training_keys_beyond_the_studys_reach_sft_config(write_recipe, tmp_path):
    from workloads.training.config import build_config

    extra = {"logging_steps": 5, "optim": "adamw_torch", "report_to": ["none"], "neftune_noise_alpha": 5.0}
    recipe = load_recipe(write_recipe({"training": extra}))
    config = build_config(recipe.training.model_dump(), str(tmp_path), seed=0)
    assert {key: getattr(config, key) for key in extra} == {**extra, "report_to": []}
    # The study's own names still map onto TRL's, and the global batch onto accumulation.
    assert (config.num_train_epochs, config.save_steps, config.lr_scheduler_type.value) == (2, 2, "cosine")
    assert config.gradient_accumulation_steps == 1 and config.per_device_train_batch_size == 8


@pytest.mark.parametrize(
    "training, message",
    [
        (
            {"reprot_to": ["wandb"]},
            "training.reprot_to: unknown key: neither a study setting nor a trl.SFTConfig field; "
            "did you mean 'report_to'?",
        ),
        (
            {"learning_rat": 1e-4},
            "training.learning_rat: unknown key: neither a study setting nor a trl.SFTConfig field; "
            "did you mean 'learning_rate'?",
        ),
        ({"logging_steps": "often"}, "training.logging_steps: 'often' is not a valid float"),
        (
            {"num_train_epochs": 3},
            "training.num_train_epochs: num_train_epochs (TRL's name) and epochs (the study's) both set: keep one",
        ),
        ({"warmup_steps": 0.1}, "training.warmup_steps: set it as training.warmup_ratio"),
        ({"output_dir": "/elsewhere"}, "training.output_dir: set by the training workload"),
        ({"run_name": "mine"}, "training.run_name: set by the training workload"),  # how evaluation finds it
        (
            {"load_best_model_at_end": True},
            "training: trl.SFTConfig rejects these settings: --load_best_model_at_end requires the save and eval "
            "strategy to match",
        ),
        ({"fp16": True}, "training.fp16: set the compute dtype as training.dtype"),
        ({"bf16": True, "dtype": "float32"}, "training.bf16: says bfloat16 but dtype says float32"),
        ({"dtype": "bf16"}, "training.dtype"),
    ],
)
def test_training_keys_are_checked_by_trl_at_load(write_recipe, training, message):
    with pytest.raises(RecipeError) as err:
        load_recipe(write_recipe({"training": training}))
    assert message in str(err.value)


def test_lr_scheduler_choices_are_transformers_scheduler_types():
    from typing import get_args

    from transformers.trainer_utils import SchedulerType

    from recipe_schema.fields import SchedulerType as RecipeSchedulers

    assert set(get_args(RecipeSchedulers)) == {s.value for s in SchedulerType}


@pytest.mark.parametrize(
    ("training", "dtype"),
    [({}, "auto"), ({"bf16": True}, "bfloat16"), ({"bf16": False}, "float32"), ({"dtype": "float16"}, "float16")],
)
def test_training_dtype_defaults_to_auto_and_reads_the_older_bf16_flag(write_recipe, training, dtype):
    recipe = load_recipe(write_recipe({"training": training}))
    assert recipe.training.dtype == dtype
    assert recipe.training.bf16 is None
