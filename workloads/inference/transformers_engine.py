"""transformers' batched ``generate`` behind the interface the workloads use of vLLM's offline engine
(``generate(prompts, params)``, ``get_tokenizer()``), for CPUs where it is the faster engine
(``benchmarks/cpu_default.py`` measures both). Sampling follows vLLM's parameters: temperature,
top-p, top-k, min-p, ``n`` samples per prompt, ``max_tokens``; the engine seed makes runs repeatable.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

# Sequences decoded together: enough to keep both cores busy on a small model, small enough that
# a batch's padding (prompts sorted by length first) stays cheap.
MAX_BATCH_SEQUENCES = 32


@dataclass
class Completion:
    text: str
    token_ids: list[int]
    finish_reason: str  # "stop" (end-of-sequence token) or "length"


@dataclass
class RequestOutput:
    prompt: str
    prompt_token_ids: list[int]
    outputs: list[Completion] = field(default_factory=list)


class TransformersLLM:
    def __init__(self, model: str, *, dtype: str, seed: int, max_model_len: int):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(model)
        self.model = AutoModelForCausalLM.from_pretrained(model, dtype=getattr(torch, dtype)).eval()
        if torch.cuda.is_available():  # the device the process was given (CUDA_VISIBLE_DEVICES), else the CPU
            self.model.to("cuda")
        eos = self.model.generation_config.eos_token_id
        if eos is None:
            eos = self.tokenizer.eos_token_id
        self.stop_ids = set(eos if isinstance(eos, list) else [eos])
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else min(self.stop_ids)
        self.max_model_len = max_model_len
        torch.manual_seed(seed)

    def get_tokenizer(self):
        return self.tokenizer

    def generate(self, prompts: list[str], params, use_tqdm: bool = False) -> list[RequestOutput]:
        """Every prompt's samples, in prompt order; ``params`` is one set for all, or one per prompt."""
        if isinstance(params, list):
            results: list[RequestOutput | None] = [None] * len(prompts)
            for i, out in self.stream(prompts, params):
                results[i] = out
            return results
        encoded = [self.tokenizer(p)["input_ids"] for p in prompts]
        too_long = [i for i, ids in enumerate(encoded) if len(ids) >= self.max_model_len]
        if too_long:
            raise ValueError(
                f"prompt {too_long[0]} has {len(encoded[too_long[0]])} tokens, max_model_len is {self.max_model_len}"
            )
        results = [RequestOutput(p, ids) for p, ids in zip(prompts, encoded, strict=True)]
        order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
        per_batch = max(1, MAX_BATCH_SEQUENCES // params.n)
        for start in range(0, len(order), per_batch):
            batch = order[start : start + per_batch]
            completions = self._generate_batch([encoded[i] for i in batch], params)
            for i, per_prompt in zip(batch, completions, strict=True):
                results[i].outputs = per_prompt
        return results

    def stream(self, prompts: list[str], params: list, heartbeat=None) -> Iterator[tuple[int, RequestOutput]]:
        """The streaming interface of ``workloads.inference.engine.stream_generate``: runs of prompts
        sharing their sampling parameters (the per-request seed aside) are generated together, and
        each prompt is handed back as ``(index, output)`` when its run is done. The engine seed
        decides the samples; per-request seeds are not honoured by batched ``generate``."""
        start = 0
        while start < len(prompts):
            end = start + 1
            while end < len(prompts) and _same_sampling(params[end], params[start]):
                end += 1
            outputs = self.generate(prompts[start:end], params[start])
            for offset, out in enumerate(outputs):
                yield start + offset, out
            if heartbeat is not None:
                heartbeat()
            start = end

    def _generate_batch(self, batch: list[list[int]], params) -> list[list[Completion]]:
        torch = self.torch
        width = max(len(ids) for ids in batch)
        # Left padding: every prompt ends where generation starts.
        device = self.model.device
        input_ids = torch.tensor([[self.pad_id] * (width - len(ids)) + ids for ids in batch], device=device)
        attention = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in batch], device=device)
        sampled = params.temperature > 0
        stops = list(getattr(params, "stop", None) or [])
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=input_ids,
                attention_mask=attention,
                max_new_tokens=min(params.max_tokens, self.max_model_len - width),
                do_sample=sampled,
                temperature=params.temperature if sampled else None,
                top_p=params.top_p if sampled else None,
                top_k=params.top_k if sampled and params.top_k > 0 else None,
                min_p=params.min_p if sampled and params.min_p > 0 else None,
                num_return_sequences=params.n,
                pad_token_id=self.pad_id,
                **({"stop_strings": stops, "tokenizer": self.tokenizer} if stops else {}),
            )
        completions = []
        for row in out[:, width:].tolist():
            stop = next((k for k, token in enumerate(row) if token in self.stop_ids), None)
            # As in vLLM: the stop token counts as generated, the text leaves it out.
            tokens = row if stop is None else row[: stop + 1]
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            # As in vLLM: a stop string ends the text and is left out of it.
            cut = min((text.find(s) for s in stops if s in text), default=-1)
            reason = "length" if stop is None and cut < 0 else "stop"
            completions.append(Completion(text[:cut] if cut >= 0 else text, tokens, reason))
        return [completions[k * params.n : (k + 1) * params.n] for k in range(len(batch))]


def _same_sampling(a, b) -> bool:
    keys = ("n", "temperature", "top_p", "top_k", "min_p", "max_tokens")
    return all(getattr(a, k) == getattr(b, k) for k in keys) and getattr(a, "stop", None) == getattr(b, "stop", None)
