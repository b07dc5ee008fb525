"""The transformers engine answers like vLLM's offline engine: n samples per prompt, token counts,
finish reasons, the length budget; make_llm names the engine and the compute dtype it picked."""

from types import SimpleNamespace

import pytest

from tests.training_helpers import engine_settings
from workloads.inference.engine import make_llm, stream_generate
from workloads.training.tiny_model import build_tiny_model

CORPUS = ["Ana has three apples and gets five more.", "How many pencils does Ben have now?"] * 20


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    folder = build_tiny_model(tmp_path_factory.mktemp("tiny"), CORPUS)
    settings = engine_settings(folder, engine="transformers")
    return make_llm(settings)


def params(**overrides):
    base = dict(n=1, temperature=0.6, top_p=0.95, top_k=20, min_p=0.0, max_tokens=8)
    return SimpleNamespace(**{**base, **overrides})


def test_make_llm_names_the_engine_and_the_compute_dtype(engine):
    _, info = engine
    assert info["engine"] == "transformers"
    assert info["compute_dtype"] == "float32"
    assert "forced" in info["compute_dtype_reason"] and info["device"]


def test_each_prompt_gets_n_samples_within_the_token_budget(engine):
    llm, _ = engine
    tokenizer = llm.get_tokenizer()
    prompts = ["Ana has three apples", "How many pencils does Ben have now and later?"]
    outputs = llm.generate(prompts, params(n=3, max_tokens=6))
    assert [o.prompt for o in outputs] == prompts  # answers come back in prompt order
    for prompt, out in zip(prompts, outputs, strict=True):
        assert out.prompt_token_ids == tokenizer(prompt)["input_ids"]
        assert len(out.outputs) == 3
        for completion in out.outputs:
            assert 1 <= len(completion.token_ids) <= 6
            assert completion.finish_reason == ("length" if len(completion.token_ids) == 6 else "stop")
            assert completion.text == tokenizer.decode(completion.token_ids, skip_special_tokens=True)


def test_greedy_decoding_is_repeatable_and_independent_of_the_batch(engine):
    llm, _ = engine
    alone = llm.generate(["Ana has three apples"], params(temperature=0.0))
    batched = llm.generate(
        ["How many pencils does Ben have now and later?", "Ana has three apples"], params(temperature=0.0)
    )
    assert alone[0].outputs[0].token_ids == batched[1].outputs[0].token_ids


def test_a_prompt_longer_than_the_context_is_refused(engine):
    llm, _ = engine
    with pytest.raises(ValueError, match="max_model_len is 64"):
        llm.generate([" ".join(CORPUS)], params())


# -- one request stream (workloads.evaluation.stream) through the same engine --------------------


@pytest.fixture(scope="module")
def llm(engine):
    return engine[0]


def greedy(**overrides):
    return params(
        **{"temperature": 0.0, "top_p": 1.0, "top_k": 0, "max_tokens": 6, "seed": None, "stop": None} | overrides
    )


def test_each_request_comes_back_once_with_its_own_budget_and_samples(llm):
    prompts = ["Ana has three apples", "How many pencils", "Ben has", "Ana gets five"]
    sampled = greedy(n=3, max_tokens=2, temperature=0.6, top_p=0.95)
    sets = [greedy(max_tokens=3), greedy(max_tokens=3), greedy(max_tokens=5), sampled]
    beats = []
    seen = dict(stream_generate(llm, prompts, sets, heartbeat=lambda: beats.append(1)))
    assert sorted(seen) == [0, 1, 2, 3] and len(beats) == 3  # three runs of equal sampling
    for i, out in seen.items():
        assert len(out.outputs) == sets[i].n
        assert all(len(c.token_ids) <= sets[i].max_tokens for c in out.outputs)
    # The greedy ones: the same as one generate call per prompt (independent of the batch).
    for i, prompt in enumerate(prompts[:3]):
        alone = llm.generate([prompt], sets[i])[0]
        assert [c.token_ids for c in alone.outputs] == [c.token_ids for c in seen[i].outputs]
    assert [o.prompt for o in llm.generate(prompts, sets)] == prompts


def test_a_stop_string_ends_the_text_and_is_left_out(llm):
    free = llm.generate(["Ana has three apples"], greedy(max_tokens=12))[0].outputs[0].text
    assert len(free) > 4
    stop = free[2:4]
    stopped = llm.generate(["Ana has three apples"], greedy(max_tokens=12, stop=[stop]))[0].outputs[0]
    assert stop not in stopped.text and free.startswith(stopped.text)
    assert stopped.finish_reason == "stop"


def test_prompts_and_sampling_sets_must_pair_up(llm):
    with pytest.raises(ValueError, match="2 prompts but 1 sampling parameters"):
        list(stream_generate(llm, ["a", "b"], [greedy()]))
