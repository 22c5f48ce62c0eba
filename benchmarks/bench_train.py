"""CPU training throughput of the `tiny` config beside nanoGPT's GPT at the same size, in one run.

On the same tokens (Tiny Shakespeare + WikiText-2 validation from ../shared/data/text, a BPE of 8192
tokens, batches of 16 × 256, 2 torch threads by default), it prints tokens/s of:

- reference: nanoGPT's `GPT` (its `model.py`, imported from ../shared/reference/nanogpt at run time) with the
  tiny config's depth, width, heads and context, `bias=False` and `dropout=0` as nanoGPT's `train.py`
  defaults — the same parameter count as ours (its position table is what our SwiGLU's larger hidden width
  spends), in a plain loop: nanoGPT's random-offset `get_batch`, forward, backward, AdamW;
- a plain loop around `train.model.GPT` (our model without the trainer), the same loop;
- `train.train.train` (loader, schedule, clipping, logging, checkpoint machinery);

with the ratios (target: ours ≥ 1.0× nanoGPT), and the data loader's throughput beside the trainer's
(target: loader ≥ 10× training). Per-step times are medians over `--steps` steps after one warm-up step,
best of `--rounds` interleaved rounds. Not a pass/fail test.

    python benchmarks/bench_train.py [--steps 3] [--rounds 3] [--threads 2] [--nanogpt PATH]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
import torch.nn as nn

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
TEXT_DIR = SHARED / "data" / "text"
NANOGPT = SHARED / "reference" / "nanogpt" / "model.py"


def load_nanogpt(path: Path) -> Any:
    """nanoGPT's model.py, imported from the shared reference folder at run time (never copied here)."""
    spec = importlib.util.spec_from_file_location("nanogpt_model", path)
    if spec is None or spec.loader is None or not path.exists():
        raise SystemExit(f"nanoGPT's model.py not found at {path} (pass --nanogpt PATH)")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def plain_loop(model: nn.Module, data: np.ndarray, batch: int, block: int, steps: int) -> float:
    """nanoGPT's loop: random offsets, forward, backward, AdamW. Returns median tokens/s."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    times = []
    for i in range(steps + 1):
        t0 = time.perf_counter()
        ix = np.random.randint(0, len(data) - block - 1, batch)
        x = torch.from_numpy(np.stack([data[j : j + block] for j in ix]).astype(np.int64))
        y = torch.from_numpy(np.stack([data[j + 1 : j + 1 + block] for j in ix]).astype(np.int64))
        loss = model(x, y)
        loss = loss[1] if isinstance(loss, tuple) else loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i:  # the first step warms up allocators and kernels
            times.append(time.perf_counter() - t0)
    return batch * block / statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3, help="timed steps per measurement (after one warm-up)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the best of each is printed")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (0: torch's choice)")
    ap.add_argument("--nanogpt", type=Path, default=NANOGPT, help="nanoGPT's model.py")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    nanogpt = load_nanogpt(args.nanogpt)

    from curate.raysession import init_ray
    from train.config import load_config
    from train.data import BatchLoader, TokenSplit
    from train.model import GPT, GPTConfig
    from train.tokenize import tokenize_shards
    from train.tokenizer import train_tokenizer_from_texts
    from train.train import train

    cfg = load_config("tiny")
    B, T = cfg["batch_size"], cfg["block_size"]
    texts = []
    for name in ("tinyshakespeare.txt", "wikitext2-valid.txt"):
        texts += [p for p in (TEXT_DIR / name).read_text(encoding="utf-8").split("\n\n") if p.strip()]
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, load average {os.getloadavg()}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "data").mkdir()
        pq.write_table(
            pa.table({"id": [str(i) for i in range(len(texts))], "text": texts}),
            root / "data" / "part-00000.parquet",
        )
        train_tokenizer_from_texts(texts, 8192, root / "tokenizer.json")
        init_ray(num_cpus=2)
        m = tokenize_shards(str(root / "data"), root / "tokenizer.json", root / "tokens", progress=False)
        vocab = m["tokenizer"]["vocab_size"]
        print(
            f"data: {len(texts)} documents, {m['totals']['train']['tokens']:,} training tokens, vocab {vocab}; "
            f"tiny config: batch {B} × {T}, {cfg['n_layer']} layers, d={cfg['n_embd']}"
        )

        # Data loader alone.
        loader = BatchLoader(TokenSplit(root / "tokens", "train"), B, T, seed=0)
        t0 = time.perf_counter()
        for _ in range(500):
            loader.next_batch()
        loader_tps = 500 * B * T / (time.perf_counter() - t0)

        data = np.fromfile(root / "tokens" / "shards" / "00000.train.bin", dtype=np.uint16)
        padded = 64 * -(-vocab // 64)
        torch.manual_seed(0)
        ref_model = nanogpt.GPT(
            nanogpt.GPTConfig(
                block_size=T,
                vocab_size=padded,
                n_layer=cfg["n_layer"],
                n_head=cfg["n_head"],
                n_embd=cfg["n_embd"],
                dropout=0.0,
                bias=False,
            )
        )
        gpt = GPT(
            GPTConfig(
                vocab_size=padded,
                block_size=T,
                n_layer=cfg["n_layer"],
                n_head=cfg["n_head"],
                n_embd=cfg["n_embd"],
            )
        )
        n_ref = sum(p.numel() for p in ref_model.parameters())
        # Interleaved rounds, best of each: on a shared machine the load drifts between measurements.
        ref_tps = bare_tps = trainer_tps = 0.0
        for r in range(args.rounds):
            ref_tps = max(ref_tps, plain_loop(ref_model, data, B, T, args.steps))
            bare_tps = max(bare_tps, plain_loop(gpt, data, B, T, args.steps))
            run = train(
                "tiny",
                root / "tokens",
                root / f"ckpt{r}",
                max_steps=args.steps + 1,
                overrides=[
                    "log_interval=1",
                    "eval_interval=0",
                    "eval_batches=1",
                    "ckpt_interval=100000",
                    "progress=false",
                ],
            )
            rows = [
                json.loads(line) for line in (root / f"ckpt{r}" / "metrics.jsonl").read_text().splitlines()
            ]
            trainer_tps = max(trainer_tps, statistics.median(row["tokens_per_s"] for row in rows[1:]))

    print()
    print(f"{'':52}{'params':>10}{'tokens/s':>12}{'ratio':>8}")
    print(f"{'reference: nanoGPT GPT (model.py), plain loop':52}{n_ref / 1e6:9.2f}M{ref_tps:12,.0f}{1:8.2f}")
    print(
        f"{'train.model.GPT, plain loop':52}{gpt.num_params() / 1e6:9.2f}M{bare_tps:12,.0f}"
        f"{bare_tps / ref_tps:8.2f}   (target ≥ 1.00)"
    )
    print(
        f"{'train.train.train (tiny config)':52}{run['params'] / 1e6:9.2f}M{trainer_tps:12,.0f}"
        f"{trainer_tps / ref_tps:8.2f}"
    )
    print(
        f"{'data loader (BatchLoader.next_batch)':52}{'':10}{loader_tps:12,.0f}"
        f"{loader_tps / trainer_tps:7.0f}x training (target ≥ 10x)"
    )
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
