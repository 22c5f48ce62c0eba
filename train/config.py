"""Training configs: packaged YAML files by name (``tiny`` → ``train/configs/tiny.yaml``) or any path,
plus ``key=value`` overrides. Every key has a default here; an unknown key or a value of the wrong type
fails before any work starts, naming the key and the file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from curate.errors import RecipeError

CONFIG_DIR = Path(__file__).parent / "configs"

DEFAULTS: dict[str, Any] = {
    # model (vocab_size: None → the tokenizer's, rounded up to a multiple of pad_vocab_to)
    "vocab_size": None,
    "pad_vocab_to": 64,  # tensor-core friendly output head; the extra rows are never targets
    "n_layer": 4,
    "n_head": 4,
    "n_embd": 256,
    "block_size": 256,
    "mlp_hidden": None,
    "rope_theta": 10000.0,
    # budget: max_tokens, when set, wins over max_steps (steps = ceil(max_tokens / tokens per step))
    "max_steps": 1000,
    "max_tokens": None,
    "stop_at_step": None,  # leave early, with a checkpoint, without changing the schedule (preemptible jobs)
    "batch_size": 16,  # sequences per micro-step per GPU
    "grad_accum": 1,  # micro-steps per optimizer step
    # optimizer and schedule
    "lr": 1e-3,
    "min_lr": 1e-4,
    "warmup_steps": 50,
    "weight_decay": 0.1,
    "beta1": 0.9,
    "beta2": 0.95,
    "grad_clip": 1.0,  # 0 disables
    # evaluation, logging, checkpoints
    "eval_interval": 100,  # 0 disables periodic validation (the final one still runs)
    "eval_batches": 20,
    "log_interval": 10,
    "ckpt_interval": 500,  # and always at the end
    # runtime
    "seed": 1337,
    "device": "auto",  # auto → cuda if available, else cpu
    "dtype": "auto",  # auto → bfloat16 autocast on cuda, float32 on cpu
    "compile": False,
    "peak_flops": None,  # for MFU; None → looked up from the GPU name
    "progress": True,
}


def resolve_config_path(name_or_path: str | Path) -> Path:
    """``tiny`` → the packaged ``train/configs/tiny.yaml``; anything else is a path."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.exists():
            raise RecipeError(f"config file {p} not found")
        return p
    packaged = CONFIG_DIR / f"{name_or_path}.yaml"
    if not packaged.exists():
        names = sorted(q.stem for q in CONFIG_DIR.glob("*.yaml"))
        raise RecipeError(f"no config named {name_or_path!r}; packaged configs: {names}")
    return packaged


# The type of each key; keys whose default is None name theirs here.
TYPES: dict[str, type] = {k: type(v) for k, v in DEFAULTS.items() if v is not None} | {
    "vocab_size": int,
    "max_tokens": int,
    "stop_at_step": int,
    "mlp_hidden": int,
    "peak_flops": float,
}


def _coerce(key: str, value: Any, source: str) -> Any:
    """Give a value its key's type (YAML 1.1 reads ``1e-3`` as a string; ``--set`` gives strings)."""
    if key not in DEFAULTS:
        raise RecipeError(f"unknown training config key {key!r} (in {source}); known: {sorted(DEFAULTS)}")
    want = TYPES[key]
    if isinstance(value, str) and want is not str:
        value = yaml.safe_load(value)
        if isinstance(value, str) and want in (int, float):
            try:
                value = float(value)
            except ValueError:
                pass
    if value is None and DEFAULTS[key] is None:
        return None
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if want is int and isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, want) or (want is int and isinstance(value, bool)):
        raise RecipeError(f"config key {key!r} (in {source}) must be {want.__name__}, got {value!r}")
    return value


def load_config(name_or_path: str | Path | dict | None = "tiny", overrides: Sequence[str] = ()) -> dict:
    """The full config: defaults ← the YAML (or dict) ← ``key=value`` overrides, each type-checked."""
    cfg = dict(DEFAULTS)
    if isinstance(name_or_path, dict):
        source, values = "the config dict", name_or_path
    elif name_or_path is None:
        source, values = "defaults", {}
    else:
        path = resolve_config_path(name_or_path)
        source, values = str(path), yaml.safe_load(path.read_text()) or {}
    for k, v in values.items():
        cfg[k] = _coerce(k, v, source)
    for item in overrides:
        if "=" not in item:
            raise RecipeError(f"override {item!r} must look like key=value")
        k, v = item.split("=", 1)
        cfg[k.strip()] = _coerce(k.strip(), v, "--set")
    return cfg
