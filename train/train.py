"""The training loop: one readable loop in the nanoGPT manner, no framework.

``train(config, data_dir, out_dir)`` trains a :class:`train.model.GPT` on a token directory written by
``curate tokenize``. What it does, in order: resolve the config and the budget, set up DDP if launched by
``torchrun`` (``RANK``/``WORLD_SIZE`` in the environment; nothing to change for the user), build the model
(or resume it, with optimizer, schedule, data position and RNG states, from ``out_dir/ckpt.pt``), then loop:
gradient-accumulated micro-steps under bf16 autocast on GPU (fp32 on CPU), clip, AdamW step, schedule step;
log loss, lr, tokens/s and MFU to the progress bar and ``metrics.jsonl``; validate and checkpoint
periodically. A run stopped and resumed reproduces the uninterrupted run's losses exactly on CPU.
"""

from __future__ import annotations

import json
import math
import os
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

from train.checkpoint import CKPT, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from train.config import load_config
from train.data import BatchLoader, TokenSplit, read_manifest, sequential_batches
from train.evaluate import evaluate  # noqa: F401  (part of this module's API: train.train.evaluate)
from train.model import GPT, GPTConfig
from train.tokenize import write_atomic

MODEL_KEYS = ("vocab_size", "block_size", "n_layer", "n_head", "n_embd", "mlp_hidden", "rope_theta")

# Dense bf16 peak FLOP/s by GPU name, for MFU (set ``peak_flops`` for anything else).
PEAK_FLOPS = {
    "H200": 989e12,
    "H100": 989e12,
    "A100": 312e12,
    "L40S": 362e12,
    "L4": 121e12,
    "A10": 125e12,
    "4090": 165e12,
    "3090": 71e12,
}


def lr_factor(step: int, cfg: dict, total_steps: int) -> float:
    """Learning-rate multiple of ``cfg["lr"]`` at optimizer step ``step``: linear warmup, then a cosine
    decay to ``min_lr`` at the last step. A pure function of the step, so resuming needs only the step."""
    if step < cfg["warmup_steps"]:
        return (step + 1) / cfg["warmup_steps"]
    progress = min(1.0, (step - cfg["warmup_steps"]) / max(1, total_steps - cfg["warmup_steps"]))
    lr = cfg["min_lr"] + 0.5 * (1.0 + math.cos(math.pi * progress)) * (cfg["lr"] - cfg["min_lr"])
    return lr / cfg["lr"]


def make_optimizer(model: GPT, cfg: dict, device: torch.device) -> torch.optim.AdamW:
    """AdamW with decoupled weight decay on the matrices only. Norm gains are scales, not features:
    decaying them towards 0 only fights the normalisation. The tied embedding/output matrix is decayed,
    as in GPT-2 and nanoGPT: it is the output head's weight too."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": cfg["weight_decay"]},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    # The fused kernel (one pass over each parameter) exists for CUDA and the CPU; on the CPU it is ~4x
    # faster than the per-op "foreach" default: ~30 ms a step for the tiny config on one core.
    return torch.optim.AdamW(
        groups, lr=cfg["lr"], betas=(cfg["beta1"], cfg["beta2"]), fused=device.type in ("cuda", "cpu")
    )


def _setup_runtime(cfg: dict) -> tuple[int, int, torch.device, Any]:
    """(rank, world_size, device, autocast context). Under torchrun: one process per GPU, DDP."""
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    want = cfg["device"] if cfg["device"] != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if want == "cuda" else "gloo")
    if want == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True  # the fp32 matmuls left outside autocast
        torch.backends.cudnn.allow_tf32 = True
    else:
        device = torch.device(want)
    dtype = cfg["dtype"] if cfg["dtype"] != "auto" else ("bfloat16" if device.type == "cuda" else "float32")
    ctx = (
        nullcontext()
        if dtype == "float32"
        else torch.autocast(device_type=device.type, dtype=getattr(torch, dtype))
    )
    return rank, world, device, ctx


def _val_loss(
    model: torch.nn.Module, val: TokenSplit, cfg: dict, device: torch.device, ctx: Any, rank: int, world: int
) -> float | None:
    """Mean loss on the first ``eval_batches`` validation batches (the same batches every time)."""
    if val.size < 2:
        return None
    model.eval()
    total = torch.zeros(2, device=device, dtype=torch.float64)  # (sum of losses · tokens, tokens)
    with torch.no_grad():
        for x, y in sequential_batches(
            val, cfg["batch_size"], cfg["block_size"], cfg["eval_batches"], rank, world
        ):
            x, y = x.to(device), y.to(device)
            with ctx:
                _, loss = model(x, y)
            total += torch.tensor([loss.item() * y.numel(), y.numel()], device=device, dtype=torch.float64)
    if world > 1:
        dist.all_reduce(total)
    model.train()
    return (total[0] / total[1]).item()


def train(
    config: dict | str | Path = "tiny",
    data_dir: str | Path = "tokens",
    out_dir: str | Path = "ckpt",
    *,
    seed: int | None = None,
    max_steps: int | None = None,
    max_tokens: int | None = None,
    overrides: tuple[str, ...] | list[str] = (),
) -> dict:
    """Train (or resume) a GPT on ``data_dir``'s token shards, writing checkpoints to ``out_dir``.

    ``config``: a dict of config keys, a packaged config name (``"tiny"``) or a YAML path; ``overrides``
    are ``key=value`` strings applied on top; ``seed``/``max_steps``/``max_tokens`` override those keys
    (``max_tokens`` fixes the token budget whatever the batch shape). If ``out_dir`` holds a checkpoint of
    the same model, training resumes from it. Returns a summary: steps, tokens, params, loss, val_loss,
    tokens_per_s, elapsed, out_dir.
    """
    cfg = load_config(config, overrides)
    for k, v in (("seed", seed), ("max_steps", max_steps), ("max_tokens", max_tokens)):
        if v is not None:
            cfg[k] = v
    rank, world, device, ctx = _setup_runtime(cfg)
    master = rank == 0
    out = Path(out_dir)

    # ---- data and budget
    manifest = read_manifest(data_dir)
    vocab = manifest["tokenizer"]["vocab_size"]
    if cfg["vocab_size"] is None:
        cfg["vocab_size"] = cfg["pad_vocab_to"] * math.ceil(vocab / cfg["pad_vocab_to"])
    elif cfg["vocab_size"] < vocab:
        raise ValueError(f"vocab_size={cfg['vocab_size']} is smaller than the tokenizer's {vocab}")
    tokens_per_step = cfg["batch_size"] * cfg["block_size"] * cfg["grad_accum"] * world
    total_steps = math.ceil(cfg["max_tokens"] / tokens_per_step) if cfg["max_tokens"] else cfg["max_steps"]
    loader = BatchLoader(
        TokenSplit(data_dir, "train"),
        cfg["batch_size"],
        cfg["block_size"],
        seed=cfg["seed"],
        rank=rank,
        world_size=world,
    )
    val = TokenSplit(data_dir, "val")

    # ---- model, optimizer, schedule: fresh, or resumed from out_dir
    torch.manual_seed(cfg["seed"])  # the same initial weights for the same seed
    mcfg = GPTConfig(**{k: cfg[k] for k in MODEL_KEYS})
    model = GPT(mcfg).to(device)
    optimizer = make_optimizer(model, cfg, device)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, cfg, total_steps))
    step, tokens, elapsed = 0, 0, 0.0
    if (out / CKPT).exists():
        ckpt = load_checkpoint(out, device)
        if ckpt["model_config"] != mcfg.to_dict():
            raise ValueError(
                f"{out / CKPT} holds a different model ({ckpt['model_config']}); use a new output directory"
            )
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        loader.load_state_dict(ckpt["loader"])
        set_rng_state(ckpt["rng"])
        step, tokens, elapsed = ckpt["step"], ckpt["tokens"], ckpt["elapsed"]
        del ckpt
    if master:
        out.mkdir(parents=True, exist_ok=True)
        write_atomic(out / "tokenizer.json", (Path(data_dir) / "tokenizer.json").read_bytes())
        write_atomic(
            out / "config.json",
            json.dumps(
                {
                    "model": mcfg.to_dict(),
                    "train": cfg,
                    "data_dir": str(Path(data_dir).resolve()),
                    "tokenizer": "tokenizer.json",
                    "tokenizer_sha256": manifest["tokenizer"]["sha256"],
                    "eot_id": manifest["tokenizer"]["eot_id"],
                    "total_steps": total_steps,
                },
                indent=1,
            ).encode(),
        )
        _truncate_metrics(out / "metrics.jsonl", step)  # drop lines logged after the checkpoint we resume

    raw_model = model
    if cfg["compile"]:
        model = torch.compile(model)
    eval_model = model  # not through DDP: ranks may run different numbers of eval batches
    if world > 1:
        # broadcast_buffers=False: the only buffers are the RoPE tables, identical on every rank.
        model = DDP(
            model, device_ids=[device.index] if device.type == "cuda" else None, broadcast_buffers=False
        )
    peak = cfg["peak_flops"] or next(
        (
            f
            for k, f in PEAK_FLOPS.items()
            if device.type == "cuda" and k in torch.cuda.get_device_name(device)
        ),
        None,
    )
    flops_per_token = raw_model.flops_per_token()

    def checkpoint() -> None:
        if master:
            save_checkpoint(
                out,
                {
                    "model": raw_model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "loader": loader.state_dict(),
                    "rng": rng_state(),
                    "step": step,
                    "tokens": tokens,
                    "elapsed": elapsed + time.perf_counter() - session_t0,
                    "model_config": mcfg.to_dict(),
                    "config": cfg,
                    "tokenizer_sha256": manifest["tokenizer"]["sha256"],
                },
            )

    from curate.progress import progress_bar

    bar = progress_bar(total=total_steps, initial=step, unit="step", disable=not (master and cfg["progress"]))
    if master:
        bar.write(
            f"model: {raw_model.num_params() / 1e6:.2f} M parameters "
            f"({raw_model.num_params(non_embedding=True) / 1e6:.2f} M non-embedding), "
            f"{tokens_per_step} tokens/step, {total_steps} steps, device {device}, world {world}"
        )
    metrics = open(out / "metrics.jsonl", "a") if master else None
    session_t0 = t_log = time.perf_counter()
    tokens_log, session_tokens, loss_value, val_loss = tokens, 0, float("nan"), None
    stop = cfg["stop_at_step"]
    model.train()
    while step < total_steps and (stop is None or step < stop):
        # ---- one optimizer step: grad_accum micro-steps
        loss_sum = torch.zeros((), device=device)
        for micro in range(cfg["grad_accum"]):
            x, y = loader.next_batch()  # (B, T) each
            if device.type == "cuda":  # pinned host memory: the copy overlaps the previous step's kernels
                x, y = x.pin_memory(), y.pin_memory()
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            if world > 1:  # all-reduce gradients on the last micro-step only
                model.require_backward_grad_sync = micro == cfg["grad_accum"] - 1
            with ctx:
                _, loss = model(x, y)
            loss = loss / cfg["grad_accum"]  # the mean over micro-steps, as one big batch would give
            loss.backward()
            loss_sum += loss.detach()
        grad_norm = (
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["grad_clip"])
            if cfg["grad_clip"] > 0
            else None
        )
        lr = optimizer.param_groups[0]["lr"]
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        tokens += tokens_per_step
        session_tokens += tokens_per_step
        bar.update(1)

        # ---- logging, validation, checkpoints
        last = step == total_steps or step == stop
        # Not at a stop: the metrics of a stopped-and-resumed run must match the uninterrupted run's.
        do_eval = step == total_steps or (cfg["eval_interval"] > 0 and step % cfg["eval_interval"] == 0)
        if do_eval or last or step % cfg["log_interval"] == 0:
            if world > 1:
                dist.all_reduce(loss_sum)  # SUM then divide: gloo has no AVG in older torch
                loss_sum /= world
            loss_value = loss_sum.item()  # the one host sync of a logged step
            # tokens/s over the training steps since the last log: validation and checkpoints excluded.
            tps = (tokens - tokens_log) / (time.perf_counter() - t_log)
            val_loss = _val_loss(eval_model, val, cfg, device, ctx, rank, world) if do_eval else None
            record = {
                "step": step,
                "loss": loss_value,
                "lr": lr,
                "tokens": tokens,
                "tokens_per_s": tps,
                "elapsed": elapsed + time.perf_counter() - session_t0,  # wall clock, all sessions
                "epoch": loader.epoch,
            }
            if grad_norm is not None:
                record["grad_norm"] = grad_norm.item()
            if val_loss is not None:
                record["val_loss"] = val_loss
            if peak:
                record["mfu"] = flops_per_token * tps / (peak * world)
            if master:
                metrics.write(json.dumps(record) + "\n")
                metrics.flush()
                bar.set_postfix(
                    loss=f"{loss_value:.3f}",
                    lr=f"{lr:.2e}",
                    tok_s=f"{tps:,.0f}",
                    **({"val": f"{val_loss:.3f}"} if val_loss is not None else {}),
                )
        if last or step % cfg["ckpt_interval"] == 0:
            checkpoint()
        if do_eval or last or step % cfg["log_interval"] == 0:
            t_log, tokens_log = time.perf_counter(), tokens
    bar.close()
    if metrics:
        metrics.close()
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    session_s = time.perf_counter() - session_t0
    elapsed += session_s
    return {
        "out_dir": str(out),
        "steps": step,
        "total_steps": total_steps,
        "tokens": tokens,
        "params": raw_model.num_params(),
        "non_embedding_params": raw_model.num_params(non_embedding=True),
        "loss": loss_value,
        "val_loss": val_loss,
        "elapsed": elapsed,
        "tokens_per_s": session_tokens / session_s if session_s > 0 else 0.0,
        "stopped_early": step < total_steps,
    }


def _truncate_metrics(path: Path, step: int) -> None:
    """Keep only the metric lines up to ``step``, so a resumed run's curve has no duplicate steps."""
    if not path.exists():
        return
    keep = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
    path.write_text("".join(line + "\n" for line in keep))
