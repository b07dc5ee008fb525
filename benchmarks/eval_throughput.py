"""Evaluation throughput: one checkpoint's eval cells run cell at a time (one ``generate`` per cell,
as the evaluation did) against one request stream (every cell's requests in the engine together,
longest budget first: ``workloads.evaluation.stream``), in one run on one engine. Prints for each
the wall time, generated tokens/s and the share of engine steps whose batch was below half its
maximum, and the ratio of their throughputs.

    .venv/bin/python -m benchmarks.eval_throughput [--model DIR] [--scale 32] [--long-budget 128]
                                                   [--max-num-seqs 32] [--order per-cell-first]

The mix is ``recipes/full.yaml``'s at one checkpoint, scaled down: every cell's item count divided
by ``--scale`` (at least one item), its ``n`` kept (so a cell's sequences shrink in proportion),
its token budget scaled from 32,768 (16,384 for the safety sets) to ``--long-budget`` (half of it),
and the engine's batch from the 1,024 sequences vLLM runs on an H100 to ``--max-num-seqs``, so
cells stand in the same proportion to the batch as at full scale. Prompts are arithmetic word
problems (the engine's throughput does not depend on what is asked, but on how long the answers
run). Both runs use the same per-request seeds and no prefix cache, so they generate the same
tokens and only the scheduling differs; the batch per step is read from vLLM's scheduler stats.
"""

from __future__ import annotations

import argparse
import time

from benchmarks.generation_overhead import model_dir
from workloads.core.hardware import compute_dtype, probe
from workloads.evaluation.cells import PreparedCell, request_seed
from workloads.evaluation.items import Item
from workloads.evaluation.stream import request_order
from workloads.inference.engine import render_prompt, sampling_params, stream_generate

FULL_BUDGET, SAFETY_BUDGET = 32768, 16384
# full.yaml's benchmarks at one checkpoint: items, samples per item, token budget. LiveCodeBench's
# window (2024-08 to 2025-01) holds about 280 problems of release_v5.
FULL_MIX = {
    "math500": (500, 3, FULL_BUDGET),
    "aime24": (30, 10, FULL_BUDGET),
    "amc23": (40, 3, FULL_BUDGET),
    "gpqa-diamond": (198, 3, FULL_BUDGET),
    "countdown": (500, 1, FULL_BUDGET),
    "ifeval": (541, 1, FULL_BUDGET),
    "truthfulqa-mc1": (817, 1, FULL_BUDGET),
    "halueval-qa": (1000, 1, FULL_BUDGET),
    "halueval-dialogue": (1000, 1, FULL_BUDGET),
    "halueval-summarization": (1000, 1, FULL_BUDGET),
    "halueval-general": (1000, 1, FULL_BUDGET),
    "advbench": (520, 1, SAFETY_BUDGET),
    "strongreject": (313, 1, SAFETY_BUDGET),
    "xstest": (450, 1, SAFETY_BUDGET),
    "mmlu-pro": (1000, 1, FULL_BUDGET),
    "livecodebench": (280, 1, FULL_BUDGET),
}
SAMPLING = {"n": 1, "temperature": 0.6, "top_p": 0.95, "top_k": 20, "min_p": 0.0}
FULL_BATCH = 1024
MAX_MODEL_LEN = 1024


def word_problem(k: int) -> str:
    things = ["apples", "pencils", "marbles", "stickers", "books", "coins", "shells", "cards"]
    thing = things[k % len(things)]
    return (
        f"Ana has {3 + k} {thing} and gets {2 * k + 5} more, then gives {k % 4 + 1} to each of her "
        f"{k % 3 + 2} friends. How many {thing} does she have now? Explain step by step."
    )


def scaled_mix(tokenizer, scale: int, long_budget: int, seed: int = 0) -> list[PreparedCell]:
    cells, k = [], 0
    for name, (items, n, budget) in FULL_MIX.items():
        count = max(1, round(items / scale))
        cell_budget = long_budget * budget // FULL_BUDGET
        cell_items, prompts, params = [], [], []
        for _ in range(count):
            question = word_problem(k)
            k += 1
            item = Item(f"{name}-{k}", question, "")
            cell_items.append(item)
            prompts.append(
                render_prompt(tokenizer, [{"role": "user", "content": question}], thinking_prompt="chat-template")
            )
            params.append(
                sampling_params(
                    {**SAMPLING, "max_new_tokens": cell_budget}, n=n, seed=request_seed(seed, name, item.item_id)
                )
            )
        cells.append(PreparedCell(name, None, cell_items, prompts, params))
    return cells


class BatchRecorder:
    """Each engine step's batch (sequences the scheduler ran), generated tokens and duration (the
    time since the step before), from vLLM's stats."""

    def __init__(self, llm):
        manager = llm.llm_engine.logger_manager
        if manager is None:
            raise RuntimeError("vLLM's stats are off: start the engine with disable_log_stats=False")
        self.steps: list[tuple[int, int, float]] = []
        self.last = time.perf_counter()
        record = manager.record

        def recording(scheduler_stats=None, iteration_stats=None, **kwargs):
            now = time.perf_counter()
            if scheduler_stats is not None and scheduler_stats.num_running_reqs:
                tokens = iteration_stats.num_generation_tokens if iteration_stats is not None else 0
                self.steps.append((scheduler_stats.num_running_reqs, tokens, now - self.last))
            self.last = now
            return record(scheduler_stats=scheduler_stats, iteration_stats=iteration_stats, **kwargs)

        manager.record = recording

    def take(self) -> list[tuple[int, int, float]]:
        steps, self.steps = self.steps, []
        self.last = time.perf_counter()
        return steps


def per_cell(llm, cells: list[PreparedCell]) -> list:
    outputs = []
    for cell in cells:
        outputs += llm.generate(cell.prompts, cell.params, use_tqdm=False)
    return outputs


def streamed(llm, cells: list[PreparedCell]) -> list:
    order = request_order(cells)
    prompts = [cells[c].prompts[i] for c, i in order]
    params = [cells[c].params[i] for c, i in order]
    return [out for _, out in stream_generate(llm, prompts, params)]


def measure(label: str, run, llm, cells, recorder: BatchRecorder, max_num_seqs: int) -> dict:
    recorder.take()
    started = time.perf_counter()
    outputs = run(llm, cells)
    seconds = time.perf_counter() - started
    steps = recorder.take()
    sizes = [size for size, _, _ in steps]
    full = [(tokens, duration) for size, tokens, duration in steps if size == max_num_seqs]
    tokens = sum(len(c.token_ids) for out in outputs for c in out.outputs)
    below = sum(size < max_num_seqs / 2 for size in sizes)
    result = {
        "seconds": round(seconds, 1),
        "tokens": tokens,
        "tokens_per_second": round(tokens / seconds, 1),
        "steps": len(sizes),
        "steps_below_half_batch": round(below / len(sizes), 3) if sizes else None,
        "mean_batch": round(sum(sizes) / len(sizes), 1) if sizes else None,
        # The engine's rate while its batch was full: what the throughput table's figures assume.
        "full_batch_tokens": sum(t for t, _ in full),
        "full_batch_seconds": sum(d for _, d in full),
        "texts": sorted(c.text for out in outputs for c in out.outputs),
    }
    print(
        f"{label:>9}: {result['seconds']:7.1f} s, {tokens:,} tokens, {result['tokens_per_second']:7.1f} tokens/s, "
        f"{result['steps']} steps, {100 * (result['steps_below_half_batch'] or 0):.1f}% below half the batch "
        f"(mean batch {result['mean_batch']} of {max_num_seqs})",
        flush=True,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a prepared model folder (default: SmolLM2-135M, converted here)")
    parser.add_argument("--scale", type=int, default=32, help="divide every cell's item count by this")
    parser.add_argument("--long-budget", type=int, default=128, help="the scaled 32,768-token budget")
    parser.add_argument("--max-num-seqs", type=int, default=32, help="the engine's batch, scaled from 1,024")
    parser.add_argument(
        "--memory-share", type=float, default=0.08, help="vLLM-CPU: the share of memory it reserves (weights, KV cache)"
    )
    parser.add_argument("--order", choices=["per-cell-first", "stream-first"], default="per-cell-first")
    args = parser.parse_args()
    from vllm import LLM  # imported late: heavy, and only the measurement needs it

    model = model_dir(args.model)
    decision = compute_dtype("auto", probe())
    started = time.perf_counter()
    llm = LLM(
        model=model,
        dtype=decision.dtype,
        enforce_eager=True,
        max_model_len=MAX_MODEL_LEN,
        max_num_seqs=args.max_num_seqs,
        gpu_memory_utilization=args.memory_share,
        enable_prefix_caching=False,  # the second run must not find the first run's prompts cached
        disable_log_stats=False,
        seed=0,
    )
    print(f"engine: vLLM {decision.dtype} ({decision.reason}), started in {time.perf_counter() - started:.0f} s")
    recorder = BatchRecorder(llm)
    cells = scaled_mix(llm.get_tokenizer(), args.scale, args.long_budget)
    requests = sum(len(c.items) for c in cells)
    sequences = sum(len(c.items) * c.params[0].n for c in cells)
    print(
        f"{len(cells)} cells, {requests} requests, {sequences} sequences, budgets {args.long_budget} and "
        f"{args.long_budget // 2} tokens, batch of {args.max_num_seqs}",
        flush=True,
    )
    llm.generate(cells[0].prompts[:1], sampling_params({**SAMPLING, "max_new_tokens": 4}), use_tqdm=False)
    runs = [("per-cell", per_cell), ("streamed", streamed)]
    if args.order == "stream-first":
        runs.reverse()
    results = {label: measure(label, run, llm, cells, recorder, args.max_num_seqs) for label, run in runs}
    one, other = results["per-cell"], results["streamed"]
    same = "the same" if one["texts"] == other["texts"] else "different"
    full_tokens = one["full_batch_tokens"] + other["full_batch_tokens"]
    full_seconds = one["full_batch_seconds"] + other["full_batch_seconds"]
    print(
        f"ratio (streamed / per-cell tokens/s): {other['tokens_per_second'] / one['tokens_per_second']:.2f}; "
        f"wall time per-cell / streamed: {one['seconds'] / other['seconds']:.2f}; "
        f"mean batch streamed / per-cell: {other['mean_batch'] / one['mean_batch']:.2f}; both generated {same} texts"
    )
    if full_seconds:
        rate = full_tokens / full_seconds
        print(
            f"full-batch steps: {rate:.1f} tokens/s; share of it reached: per-cell "
            f"{one['tokens_per_second'] / rate:.2f}, streamed {other['tokens_per_second'] / rate:.2f}"
        )


if __name__ == "__main__":
    main()
