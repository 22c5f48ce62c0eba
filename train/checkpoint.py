"""Checkpoint directories: what a run writes so it can resume exactly and be sampled or evaluated later.

``<out_dir>/``
  ``ckpt.pt``          model, optimizer, scheduler, step, data-loader position, RNG states, configs
  ``config.json``      the model config and the resolved training config, human-readable
  ``tokenizer.json``   a copy of the tokenizer the token shards were made with
  ``metrics.jsonl``    one JSON line per logged step
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from train.model import GPT, GPTConfig

CKPT = "ckpt.pt"


def checkpoint_file(checkpoint: str | Path) -> Path:
    """``ckpt/`` or ``ckpt/ckpt.pt`` → the ``.pt`` file."""
    p = Path(checkpoint)
    p = p / CKPT if p.is_dir() else p
    if not p.exists():
        raise FileNotFoundError(f"no checkpoint at {p}")
    return p


def save_checkpoint(out_dir: str | Path, state: dict[str, Any]) -> Path:
    """Write ``ckpt.pt`` atomically: a run killed mid-save keeps its previous checkpoint."""
    path = Path(out_dir) / CKPT
    tmp = path.with_name(CKPT + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(checkpoint: str | Path, device: str | torch.device = "cpu") -> dict[str, Any]:
    # weights_only=False: the file also holds RNG states and plain dicts, written by this code.
    return torch.load(checkpoint_file(checkpoint), map_location=device, weights_only=False)


def rng_state() -> dict[str, Any]:
    """Every RNG a training step might touch, so a resumed run draws the same numbers."""
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"].cpu())
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def load_model(checkpoint: str | Path, device: str | torch.device = "cpu") -> tuple[GPT, dict[str, Any]]:
    """The trained model (eval mode, on ``device``) and the checkpoint dict it came from."""
    ckpt = load_checkpoint(checkpoint, device)
    model = GPT(GPTConfig(**ckpt["model_config"]))
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval(), ckpt


def tokenizer_file(checkpoint: str | Path) -> Path:
    """The tokenizer saved beside a checkpoint."""
    p = checkpoint_file(checkpoint).parent / "tokenizer.json"
    if not p.exists():
        raise FileNotFoundError(f"{p} not found: the checkpoint directory must hold its tokenizer.json")
    return p
