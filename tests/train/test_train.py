import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from conftest import MICRO, paragraphs

from curate.errors import RecipeError
from train.checkpoint import load_model
from train.config import load_config
from train.sizing import count_params, parse_count, size_for_compute, size_for_tokens
from train.train import evaluate, lr_factor, train


def metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def uninterrupted(token_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("run")
    return out, train(MICRO, token_dir, out)


def test_train_writes_checkpoint_and_metrics(uninterrupted: tuple[Path, dict]) -> None:
    out, summary = uninterrupted
    assert summary["steps"] == 12 and summary["tokens"] == 12 * 4 * 32
    assert {"ckpt.pt", "config.json", "tokenizer.json", "metrics.jsonl"} <= {p.name for p in out.iterdir()}
    rows = metrics(out)
    assert [r["step"] for r in rows] == list(range(1, 13))
    assert {"step", "loss", "lr", "tokens", "tokens_per_s", "elapsed"} <= set(rows[0])
    assert [r["step"] for r in rows if "val_loss" in r] == [4, 8, 12]
    assert rows[-1]["val_loss"] == summary["val_loss"]
    assert rows[-1]["loss"] < rows[0]["loss"]  # it learns
    assert rows[0]["lr"] == pytest.approx(1e-3)  # warmup: 1/3 of the peak on the first step
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model"]["vocab_size"] == 512 and cfg["tokenizer"] == "tokenizer.json"


def test_resume_reproduces_the_uninterrupted_run(
    token_dir: Path, tmp_path: Path, uninterrupted: tuple[Path, dict]
) -> None:
    full_out, full = uninterrupted
    out = tmp_path / "run"
    first = train({**MICRO, "stop_at_step": 6}, token_dir, out)
    assert first["steps"] == 6 and first["stopped_early"]
    # A killed run may have logged a step past its last checkpoint: the resumed run replaces it.
    with open(out / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"step": 7, "loss": -1.0}) + "\n")
    second = train(MICRO, token_dir, out)
    assert second["steps"] == 12
    strip = ("tokens_per_s", "elapsed", "mfu")
    assert [{k: v for k, v in r.items() if k not in strip} for r in metrics(out)] == [
        {k: v for k, v in r.items() if k not in strip} for r in metrics(full_out)
    ]  # exact, not approximate
    a, _ = load_model(full_out)
    b, _ = load_model(out)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


def test_budget_seed_and_model_mismatch(token_dir: Path, tmp_path: Path) -> None:
    s = train({**MICRO, "eval_interval": 0}, token_dir, tmp_path / "a", seed=7, max_tokens=1000)
    assert s["total_steps"] == math.ceil(1000 / (4 * 32)) == s["steps"]
    with pytest.raises(ValueError, match="different model"):
        train({**MICRO, "n_embd": 32}, token_dir, tmp_path / "a")


def test_evaluate(uninterrupted: tuple[Path, dict], token_dir: Path, tokenizer_path: Path) -> None:
    out, summary = uninterrupted
    held_out = evaluate(out, token_dir)
    assert held_out["tokens"] > 1000 and 0 < held_out["loss"] < math.log(512)
    assert held_out == evaluate(out, token_dir)  # deterministic
    model, _ = load_model(out)
    text = evaluate(model, paragraphs()[:10], tokenizer=tokenizer_path)
    assert text["bits_per_byte"] == pytest.approx(text["loss"] * text["tokens"] / math.log(2) / text["bytes"])
    assert evaluate(out, paragraphs()[:10]) == text  # the checkpoint brings its tokenizer


def test_config_resolution(tmp_path: Path) -> None:
    tiny = load_config("tiny", ["max_steps=200", "lr=3e-4", "compile=true"])
    assert (tiny["n_layer"], tiny["n_embd"], tiny["block_size"], tiny["max_steps"]) == (4, 256, 256, 200)
    assert tiny["lr"] == 3e-4 and tiny["compile"] is True
    small = load_config("small")
    assert count_params(small["n_layer"], small["n_embd"], 50257) == pytest.approx(124e6, rel=0.01)
    path = tmp_path / "mine.yaml"
    path.write_text("n_layer: 3\nlr: 1e-3\nbogus_key: 1\n")
    with pytest.raises(RecipeError, match="bogus_key.*mine.yaml"):
        load_config(str(path))
    with pytest.raises(RecipeError, match="max_steps"):
        load_config("tiny", ["max_steps=lots"])
    with pytest.raises(RecipeError, match="no config named"):
        load_config("huge")


def test_schedule() -> None:
    cfg = {"lr": 1.0, "min_lr": 0.1, "warmup_steps": 10}
    assert lr_factor(0, cfg, 100) == pytest.approx(0.1) and lr_factor(9, cfg, 100) == pytest.approx(1.0)
    assert lr_factor(55, cfg, 100) == pytest.approx(0.55) and lr_factor(100, cfg, 100) == pytest.approx(0.1)
    factors = [lr_factor(s, cfg, 100) for s in range(10, 101)]
    assert all(a >= b for a, b in zip(factors, factors[1:]))


def test_sizing() -> None:
    size = size_for_tokens(parse_count("100M"), 8192)
    assert (size["n_layer"], size["n_embd"]) == (4, 256)  # the tiny config: ~5 M parameters for 100 M tokens
    assert size["params"] == pytest.approx(100e6 / 20, rel=0.1)
    big = size_for_compute(6 * 124e6 * 20 * 124e6, 50257)  # GPT-2 small's compute-optimal budget
    assert big["params"] == pytest.approx(124e6, rel=0.2) and big["max_tokens"] == pytest.approx(
        2.48e9, rel=0.01
    )
    assert parse_count("2.5B") == 2_500_000_000 and parse_count("1e6") == 1_000_000


def test_checkpoint_copy_is_self_contained(uninterrupted: tuple[Path, dict], tmp_path: Path) -> None:
    """A checkpoint directory moved elsewhere still evaluates: it holds its tokenizer and config."""
    out, _ = uninterrupted
    moved = shutil.copytree(out, tmp_path / "moved")
    assert evaluate(moved, "Some held-out text.")["tokens"] > 0


@pytest.mark.slow
def test_torchrun_ddp_matches_one_process(token_dir: Path, tmp_path: Path) -> None:
    """Two DDP ranks (gloo, CPU) with batch 2 each follow the one-process run with batch 4."""
    import os
    import subprocess
    import sys

    sets = [
        a for k, v in {**MICRO, "max_steps": 3, "eval_interval": 0}.items() for a in ("--set", f"{k}={v}")
    ]
    cmd = ["-m", "train.cli", "train", "--data", str(token_dir), *sets]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    subprocess.run(
        [*torchrun, *cmd, "--output", str(tmp_path / "ddp"), "--set", "batch_size=2"],
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    train({**MICRO, "max_steps": 3, "eval_interval": 0}, token_dir, tmp_path / "one")
    ddp, one = metrics(tmp_path / "ddp"), metrics(tmp_path / "one")
    assert [r["tokens"] for r in ddp] == [r["tokens"] for r in one]
    assert [r["loss"] for r in ddp] == pytest.approx([r["loss"] for r in one], abs=1e-5)
