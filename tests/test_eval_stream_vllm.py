"""The request stream against cell-at-a-time evaluation on vLLM's engine and the tiny student: the
same seeds give the same samples, token for token, whatever each request shares the batch with
(every request carries its own seed), so the cells' rows and tables are equal."""

import polars as pl
import pytest

from tests.stream_helpers import eval_cell, math_rows
from tests.training_helpers import engine_settings
from workloads.evaluation.cells import evaluate_cell, prepare_cell
from workloads.evaluation.stream import evaluate_stream, request_order, write_cell
from workloads.inference.engine import make_llm, stream_generate
from workloads.training.tiny_model import build_tiny_model
from workloads.verification.verify_pool import VerifierPool

CORPUS = ["What is 3 + 3? The answer is 6.", "Ana has three apples and gets five more."] * 20
SAMPLING = {"n": 1, "temperature": 0.6, "top_p": 0.95, "top_k": 20, "min_p": 0.0, "max_new_tokens": 12}
KINDS = {"long": "math", "short": "math", "many": "math"}


@pytest.mark.slow
def test_streamed_cells_equal_cell_at_a_time_cells_token_for_token(tmp_path):
    model = build_tiny_model(tmp_path / "tiny", CORPUS)
    llm, info = make_llm(engine_settings(model, max_model_len=256))
    assert info["engine"] == "vllm"

    def cells(folder):
        folder.mkdir()
        return {
            "short": eval_cell(folder, "short", "math", math_rows(3), n=2, max_new_tokens=6),
            "long": eval_cell(folder, "long", "math", math_rows(2, 10), n=3, max_new_tokens=20),
            "many": eval_cell(folder, "many", "math", math_rows(6, 20), n=1, max_new_tokens=12),
        }

    one_by_one, streamed = cells(tmp_path / "cells"), cells(tmp_path / "stream")
    with VerifierPool(workers=1, timeout_s=30) as pool:
        for name, cell in one_by_one.items():
            samples, _ = evaluate_cell(llm, "r@step-00001", name, cell, SAMPLING, 0, pool=pool)
            write_cell(cell, samples, KINDS, 0)
        evaluate_stream(
            llm, "r@step-00001", streamed, sampling=SAMPLING, seed=0, kinds=KINDS, pool=pool, log=lambda line: None
        )
    for name in KINDS:
        a = pl.read_parquet(one_by_one[name].samples_path)
        b = pl.read_parquet(streamed[name].samples_path)
        assert a.height > 0
        assert a.sort("item_id", "sample_idx").equals(b.sort("item_id", "sample_idx")), name
        assert pl.read_parquet(one_by_one[name].table_path).equals(pl.read_parquet(streamed[name].table_path))
    # Token ids, not only texts: each cell's own generate call against one stream of every cell.
    prepared = [prepare_cell(llm.get_tokenizer(), name, cell, SAMPLING, 0) for name, cell in streamed.items()]
    alone = [
        [c.token_ids for out in llm.generate(p.prompts, p.params, use_tqdm=False) for c in out.outputs]
        for p in prepared
    ]
    order = request_order(prepared)
    together = {}
    prompts = [prepared[c].prompts[i] for c, i in order]
    for k, out in stream_generate(llm, prompts, [prepared[c].params[i] for c, i in order]):
        together[order[k]] = [c.token_ids for c in out.outputs]
    for c, p in enumerate(prepared):
        assert alone[c] == [ids for i in range(len(p.items)) for ids in together[(c, i)]], p.name
    # The samples of one request differ from each other (vLLM seeds sample i with seed + i).
    long = pl.read_parquet(streamed["long"].samples_path)
    assert long.group_by("item_id").agg(pl.col("response").n_unique())["response"].min() > 1
