"""Sharded training on CPU: two processes (gloo) run torch's FSDP2 ``fully_shard`` itself.

What runs here is the part of the GPU path that does not need a GPU: every decoder layer and the
root sharded with ``fully_shard`` (parameters become DTensors, half of each on each rank), a
training step, the sharded checkpoint written and read by accelerate's own
``save_fsdp_model``/``save_fsdp_optimizer``/``load_fsdp_*`` (what the HF Trainer calls under
FSDP with ``SHARDED_STATE_DICT``, through torch.distributed.checkpoint), consolidation into a
safetensors folder that ``from_pretrained`` loads, and a resume whose next step matches an
uninterrupted run. The HF Trainer is not used: on CPU it would silently run plain data parallel.
Mixed precision and activation checkpointing are GPU-side settings and are not exercised.
"""

import json
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

pytestmark = pytest.mark.slow  # two processes importing transformers: about a minute on a loaded machine

CONFIG = dict(
    vocab_size=96,
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=8,
)


def _sharded_model(seed: int):
    from torch.distributed.fsdp import fully_shard
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from workloads.training.parallelism import layer_classes

    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(Qwen3Config(**CONFIG))
    wrap = set(layer_classes(model))
    for module in model.modules():
        if type(module).__name__ in wrap:
            fully_shard(module)
    fully_shard(model)
    return model


def _step(model, optimizer, batch):
    loss = model(input_ids=batch, labels=batch).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    return loss.item()


def _full(model) -> dict:
    return {k: v.full_tensor().detach().clone() for k, v in model.state_dict().items()}


def _worker(rank: int, world: int, root: str, port: int | None):
    import os
    from types import SimpleNamespace

    import torch.distributed as dist
    from accelerate import FullyShardedDataParallelPlugin, PartialState
    from accelerate.utils import load_fsdp_model, load_fsdp_optimizer, save_fsdp_model, save_fsdp_optimizer

    from workloads.training.parallelism import consolidate

    if port is not None:  # spawned here; torchrun sets these itself
        os.environ.update(
            RANK=str(rank),
            LOCAL_RANK=str(rank),
            WORLD_SIZE=str(world),
            LOCAL_WORLD_SIZE=str(world),
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(port),
        )
    PartialState(cpu=True)  # the gloo process group, as accelerate starts it for torchrun-launched ranks
    root = Path(root)
    plugin = FullyShardedDataParallelPlugin(fsdp_version=2, state_dict_type="SHARDED_STATE_DICT")
    # What accelerate's checkpoint functions read from the Accelerator.
    accelerator = SimpleNamespace(
        process_index=rank,
        num_processes=world,
        is_fsdp2=True,
        is_main_process=rank == 0,
        wait_for_everyone=dist.barrier,
    )
    batches = [
        torch.randint(0, CONFIG["vocab_size"], (2, 12), generator=torch.Generator().manual_seed(i + rank))
        for i in range(3)
    ]

    model = _sharded_model(seed=0)
    weight = model.model.layers[0].mlp.up_proj.weight
    report = {
        "local_rows": weight.to_local().shape[0],
        "rows": weight.shape[0],
        "placement": repr(weight.placements[0]),
    }
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    _step(model, optimizer, batches[0])
    checkpoint = root / "checkpoint-1"
    save_fsdp_model(plugin, accelerator, model, str(checkpoint))
    save_fsdp_optimizer(plugin, accelerator, optimizer, model, str(checkpoint))
    saved = _full(model)
    moments = {
        k: v["exp_avg"].full_tensor().clone()
        for k, v in zip(saved, (optimizer.state[p] for p in model.parameters()), strict=True)
    }
    continued = [_step(model, optimizer, b) for b in batches[1:]]
    after = _full(model)

    resumed = _sharded_model(seed=1)  # different initial weights: everything must come from the checkpoint
    resumed_optimizer = torch.optim.AdamW(resumed.parameters(), lr=1e-2)
    _step(resumed, resumed_optimizer, batches[0])  # creates optimizer state to be overwritten
    load_fsdp_model(plugin, accelerator, resumed, str(checkpoint))
    load_fsdp_optimizer(plugin, accelerator, resumed_optimizer, resumed, str(checkpoint))
    report["weights_equal"] = all(torch.equal(saved[k], v) for k, v in _full(resumed).items())
    report["moments_equal"] = all(
        torch.equal(moments[k], resumed_optimizer.state[p]["exp_avg"].full_tensor())
        for k, p in zip(saved, resumed.parameters(), strict=True)
    )
    report["resumed_losses_equal"] = [_step(resumed, resumed_optimizer, b) for b in batches[1:]] == continued
    report["after_equal"] = all(torch.allclose(after[k], v) for k, v in _full(resumed).items())
    if rank == 0:
        consolidate(checkpoint, resumed.config, dtype="float32")
        torch.save(saved, root / "saved.pt")
    (root / f"report-{rank}.json").write_text(json.dumps(report))
    dist.barrier()
    dist.destroy_process_group()


def _check(root: Path) -> None:
    from transformers import AutoModelForCausalLM

    reports = [json.loads((root / f"report-{r}.json").read_text()) for r in range(2)]
    for report in reports:
        # Each rank holds half of every parameter: the model really is sharded.
        assert (report["local_rows"], report["rows"], report["placement"]) == (32, 64, "Shard(dim=0)")
        assert report["weights_equal"] and report["moments_equal"]
        assert report["resumed_losses_equal"] and report["after_equal"]
    checkpoint = root / "checkpoint-1"
    assert {"pytorch_model_fsdp_0", "optimizer_0", "model.safetensors", "config.json"} <= {
        p.name for p in checkpoint.iterdir()
    }
    loaded = AutoModelForCausalLM.from_pretrained(checkpoint)
    saved = torch.load(root / "saved.pt")
    assert all(torch.equal(saved[k], v) for k, v in loaded.state_dict().items())


def test_sharded_step_checkpoint_consolidation_and_resume_on_two_cpu_processes(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mp.spawn(_worker, args=(2, str(tmp_path), port), nprocs=2, join=True)
    _check(tmp_path)


def test_the_same_under_torchrun_as_the_local_launcher_starts_it(tmp_path):
    """Two ranks started by the local launcher's command (torchrun, standalone rendezvous) in its
    process group, as a training run on a two-GPU machine is, here on gloo."""
    import os
    import sys
    from types import SimpleNamespace

    from resources.launchers.local import local_command
    from resources.launchers.processes import run_process_group

    root = Path(__file__).resolve().parents[1]
    command = [*local_command(sys.executable, "tests.test_fsdp_cpu", 2), str(tmp_path)]
    env = {**os.environ, "PYTHONPATH": str(root), "CUDA_VISIBLE_DEVICES": ""}
    assert run_process_group(command, env, SimpleNamespace(warning=print), cwd=root) == 0
    _check(tmp_path)


if __name__ == "__main__":  # a rank under torchrun
    import os
    import sys

    _worker(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), sys.argv[1], None)
