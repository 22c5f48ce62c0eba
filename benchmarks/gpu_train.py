"""GPU training throughput and MFU of the `small` config (GPT-2 small shape) with bf16 autocast and
torch.compile. For a CUDA machine; without one it says so and exits 0.

The data: a token directory given with `--data`, or else random tokens over a 50 304-token vocabulary
(throughput does not depend on what the tokens say) written as a token directory beside a tokenizer
trained on the committed test excerpt, so the script needs nothing outside the repository.
Per-step tokens/s and MFU are medians of the logged steps after `--warmup` steps (compilation).

    python benchmarks/gpu_train.py [--steps 30] [--grad-accum 4] [--batch-size 16] [--no-compile]
    torchrun --nproc_per_node=8 benchmarks/gpu_train.py      # several GPUs: DDP, no other change
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
EXCERPT = REPO / "tests" / "train" / "data" / "wikitext2-valid-excerpt.txt"


def synthetic_tokens(root: Path, vocab: int, n_tokens: int) -> Path:
    """A token directory of uniform random ids, in the layout `curate tokenize` writes."""
    from train.tokenize import token_dtype
    from train.tokenizer import tokenizer_sha256, train_tokenizer_from_texts

    out = root / "tokens"
    (out / "shards").mkdir(parents=True)
    texts = [line for line in EXCERPT.read_text(encoding="utf-8").splitlines() if line.strip()]
    tok = train_tokenizer_from_texts(texts, 4096, out / "tokenizer.json")
    dtype = token_dtype(vocab)
    rng = np.random.default_rng(0)
    sizes = {"train": n_tokens, "val": 1 << 16}
    for split, n in sizes.items():
        rng.integers(0, vocab, n, dtype=np.int64).astype(dtype).tofile(out / "shards" / f"00000.{split}.bin")
    manifest = {
        "version": 1,
        "tokenizer": {
            "file": "tokenizer.json",
            "sha256": tokenizer_sha256(out / "tokenizer.json"),
            "vocab_size": tok.get_vocab_size(),
            "eot_token": "<|endoftext|>",
            "eot_id": 0,
        },
        "dtype": dtype.name,
        "seed": 0,
        "val_fraction": 0.0,
        "inputs": ["synthetic"],
        "shards": [
            {
                "name": "00000",
                "source": "synthetic",
                "train_docs": 1,
                "train_tokens": sizes["train"],
                "val_docs": 1,
                "val_tokens": sizes["val"],
            }
        ],
        "totals": {
            "train": {"docs": 1, "tokens": sizes["train"]},
            "val": {"docs": 1, "tokens": sizes["val"]},
            "skipped_empty": 0,
        },
    }
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="a token directory (default: synthetic tokens)")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5, help="logged steps left out (compilation, allocator)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--grad-accum", type=int, default=4)
    ap.add_argument("--no-compile", action="store_true")
    args = ap.parse_args()

    if not torch.cuda.is_available():
        print("gpu_train: CUDA is not available on this machine; nothing to measure (run it on a GPU host).")
        return 0
    sys.path.insert(0, str(REPO))
    from train.train import train

    rank = int(os.environ.get("RANK", 0))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = Path(args.data) if args.data else None
        if data is None:  # every rank writes its own copy: no file system shared between ranks is assumed
            data = synthetic_tokens(root, 50304, 64 * 1024 * 1024)
        overrides = [
            f"batch_size={args.batch_size}",
            f"grad_accum={args.grad_accum}",
            "log_interval=1",
            "eval_interval=0",
            "eval_batches=2",
            "ckpt_interval=1000000",
            "progress=false",
            f"compile={'false' if args.no_compile else 'true'}",
        ]
        if args.data is None:
            overrides.append("vocab_size=50304")  # GPT-2's (padded) vocabulary: the 124 M model
        summary = train("small", data, root / "ckpt", max_steps=args.steps, overrides=overrides)
        if rank != 0:
            return 0
        rows = [json.loads(line) for line in (root / "ckpt" / "metrics.jsonl").read_text().splitlines()]
    timed = rows[args.warmup :] or rows
    tps = statistics.median(r["tokens_per_s"] for r in timed)
    mfu = statistics.median(r["mfu"] for r in timed) if "mfu" in timed[0] else None
    print(
        f"device: {torch.cuda.get_device_name()} × {int(os.environ.get('WORLD_SIZE', 1))}, torch {torch.__version__}"
    )
    print(
        f"model: {summary['params'] / 1e6:.1f} M parameters, batch {args.batch_size} × 1024 × {args.grad_accum} "
        f"per GPU, bf16 autocast, compile={not args.no_compile}"
    )
    print(
        f"tokens/s: {tps:,.0f} (median of steps {args.warmup + 1}..{args.steps}); "
        f"MFU: {'n/a (unknown GPU peak; set peak_flops)' if mfu is None else f'{100 * mfu:.1f}%'}"
    )
    print(f"loss: {rows[0]['loss']:.3f} → {rows[-1]['loss']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
