"""The transformers engine behind the request stream: one sampling set per prompt, runs of equal
sets generated together, every prompt handed back once with its index; stop strings end the text."""

from types import SimpleNamespace

import pytest

from workloads.inference.engine import make_llm, stream_generate
from workloads.training.tiny_model import build_tiny_model

CORPUS = ["Ana has three apples and gets five more.", "How many pencils does Ben have now?"] * 20


@pytest.fixture(scope="module")
def llm(tmp_path_factory):
    folder = build_tiny_model(tmp_path_factory.mktemp("tiny"), CORPUS)
    settings = {
        "backend": "vllm-offline",
        "engine": "transformers",
        "model": str(folder),
        "dtype": "float32",
        "enforce_eager": True,
        "gpu_memory_utilization": 0.3,
        "tensor_parallel_size": 1,
        "max_model_len": 64,
        "seed": 0,
    }
    return make_llm(settings)[0]


def params(**overrides):
    base = dict(n=1, temperature=0.0, top_p=1.0, top_k=0, min_p=0.0, max_tokens=6, seed=None, stop=None)
    return SimpleNamespace(**{**base, **overrides})


def test_each_request_comes_back_once_with_its_own_budget_and_samples(llm):
    prompts = ["Ana has three apples", "How many pencils", "Ben has", "Ana gets five"]
    sampled = params(n=3, max_tokens=2, temperature=0.6, top_p=0.95)
    sets = [params(max_tokens=3), params(max_tokens=3), params(max_tokens=5), sampled]
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
    free = llm.generate(["Ana has three apples"], params(max_tokens=12))[0].outputs[0].text
    assert len(free) > 4
    stop = free[2:4]
    stopped = llm.generate(["Ana has three apples"], params(max_tokens=12, stop=[stop]))[0].outputs[0]
    assert stop not in stopped.text and free.startswith(stopped.text)
    assert stopped.finish_reason == "stop"


def test_prompts_and_sampling_sets_must_pair_up(llm):
    with pytest.raises(ValueError, match="2 prompts but 1 sampling parameters"):
        list(stream_generate(llm, ["a", "b"], [params()]))
