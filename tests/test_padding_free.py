"""Padding-free training (GPUs with FlashAttention): TRL refuses max_length with padding-free
batches, so the program leaves max_length to itself and drops longer examples instead of cutting
them. These tests force the padding-free arguments on the CPU: the kernel is not needed to build
the trainer, only to run it."""

import pytest
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import SFTTrainer

import workloads.training.config as config_module
from recipe_schema.data_files import PROJECT_ROOT
from recipe_schema.loading import load_recipe
from workloads.training.config import build_config, within_max_length
from workloads.training.tiny_model import build_tiny_model

CORPUS = ["What is 2 + 2? The answer is 4.", "Name a colour. Blue."] * 4


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", CORPUS)


@pytest.fixture
def padding_free(monkeypatch):
    real = config_module.training_arguments

    def forced(*args, **kwargs):
        return real(*args, **kwargs) | {"padding_free": True}

    monkeypatch.setattr(config_module, "training_arguments", forced)


def _training():
    return load_recipe(PROJECT_ROOT / "recipes" / "small.yaml").training.model_dump()


def test_padding_free_leaves_max_length_to_the_program(tmp_path, padding_free):
    config = build_config(_training(), str(tmp_path), seed=0)
    assert config.padding_free and config.max_length is None


def test_without_padding_free_trl_cuts_to_the_recipes_max_length(tmp_path):
    config = build_config(_training(), str(tmp_path), seed=0)
    assert not config.padding_free and config.max_length == _training()["max_length"]


def test_a_padding_free_trainer_can_be_built(tmp_path, tiny, padding_free):
    config = build_config({**_training(), "max_steps": 1}, str(tmp_path), seed=0)
    tokenizer = AutoTokenizer.from_pretrained(tiny)
    dataset = Dataset.from_list(
        [{"messages": [{"role": "user", "content": "2 + 2?"}, {"role": "assistant", "content": "4"}]}] * 2
    )
    SFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(tiny), args=config, train_dataset=dataset, processing_class=tokenizer
    )


@pytest.mark.parametrize("limit", [None, 5, 12, 40, 10_000])
def test_examples_longer_than_max_length_are_found_by_their_templated_length(tiny, limit):
    tokenizer = AutoTokenizer.from_pretrained(tiny)
    conversations = [
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": word * n}]
        for word, n in (("a ", 1), ("b ", 30))
    ]
    lengths = [
        len(tokenizer.apply_chat_template(c, tokenize=True, return_dict=True)["input_ids"]) for c in conversations
    ]
    expected = [limit is None or length <= limit for length in lengths]
    assert within_max_length(conversations, tokenizer, limit) == expected
