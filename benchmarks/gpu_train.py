"""GPU training throughput and MFU of the `small` config (GPT-2 small shape) with bf16 autocast and
torch.compile, beside nanoGPT's GPT of the same shape on the same GPU in the same run. For a CUDA machine;
without one it says so and exits 0 (`--cpu-smoke` runs both code paths on the CPU at a tiny size instead).

The data: a token directory given with `--data`, or else random tokens over a 50 304-token vocabulary
(throughput does not depend on what the tokens say) written as a token directory beside a tokenizer
trained on the committed test excerpt, so the script needs nothing outside the repository.
Ours: `train.train.train`, per-step tokens/s and MFU are medians of the logged steps after `--warmup` steps
(compilation). nanoGPT: its `model.py` imported from ../shared/reference/nanogpt at run time, with its
train.py's loop (bf16 autocast, `configure_optimizers` → fused AdamW, `torch.compile`, gradient
accumulation, clipping at 1.0), `bias=False`, the same batch, context and accumulation; its MFU is computed
with the same peak FLOP/s as ours and nanoGPT's own FLOP count (6N + 12·L·H·Q·T), and its own
`estimate_mfu` (relative to an A100's 312 TFLOP/s) is printed too.

    python benchmarks/gpu_train.py [--steps 30] [--grad-accum 4] [--batch-size 16] [--no-compile]
    torchrun --nproc_per_node=8 benchmarks/gpu_train.py      # several GPUs: DDP for ours (nanoGPT: rank 0 alone)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
EXCERPT = REPO / "tests" / "train" / "data" / "wikitext2-valid-excerpt.txt"
NANOGPT = REPO.parent / "shared" / "reference" / "nanogpt" / "model.py"


def nanogpt_tps(path: Path, data: Path, shape: dict, batch: int, accum: int, steps: int, warmup: int,
                compile_: bool, device: str) -> tuple[float, float, float]:  # fmt: skip
    """nanoGPT's model in nanoGPT's loop on ``data``'s train tokens: (tokens/s, FLOPs per token, its own
    A100-relative MFU), medians over the steps after ``warmup``."""
    spec = importlib.util.spec_from_file_location("nanogpt_model", path)
    if spec is None or spec.loader is None or not path.exists():
        raise SystemExit(f"nanoGPT's model.py not found at {path} (pass --nanogpt PATH)")
    ng = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ng)
    manifest = json.loads((data / "manifest.json").read_text())
    tokens = np.memmap(data / "shards" / f"{manifest['shards'][0]['name']}.train.bin", dtype=manifest["dtype"],
                       mode="r")  # fmt: skip
    T = shape["block_size"]
    torch.manual_seed(0)
    model = ng.GPT(ng.GPTConfig(**shape, dropout=0.0, bias=False)).to(device)
    opt = model.configure_optimizers(0.1, 6e-4, (0.9, 0.95), "cuda" if device.startswith("cuda") else "cpu")
    cuda = device.startswith("cuda")
    ctx = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else nullcontext()
    step_model = torch.compile(model) if compile_ else model

    def get_batch() -> tuple[torch.Tensor, torch.Tensor]:  # nanoGPT's get_batch
        ix = torch.randint(len(tokens) - T, (batch,))
        x = torch.stack([torch.from_numpy(tokens[i : i + T].astype(np.int64)) for i in ix])
        y = torch.stack([torch.from_numpy(tokens[i + 1 : i + 1 + T].astype(np.int64)) for i in ix])
        if cuda:
            return x.pin_memory().to(device, non_blocking=True), y.pin_memory().to(device, non_blocking=True)
        return x, y

    times = []
    for it in range(steps):
        t0 = time.perf_counter()
        for _ in range(accum):
            x, y = get_batch()
            with ctx:
                _, loss = step_model(x, y)
            (loss / accum).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.synchronize()
        if it >= warmup:
            times.append(time.perf_counter() - t0)
    dt = statistics.median(times)
    cfg = model.config
    flops_per_token = 6 * model.get_num_params() + 12 * cfg.n_layer * cfg.n_embd * cfg.block_size
    return batch * accum * T / dt, flops_per_token, model.estimate_mfu(batch * accum, dt)


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
    ap.add_argument("--nanogpt", type=Path, default=NANOGPT, help="nanoGPT's model.py (the reference)")
    ap.add_argument("--no-nanogpt", action="store_true", help="ours alone")
    ap.add_argument(
        "--cpu-smoke", action="store_true", help="both code paths on the CPU, tiny shape, 3 steps"
    )
    args = ap.parse_args()

    if args.cpu_smoke:
        args.steps, args.warmup, args.batch_size, args.grad_accum, args.no_compile = 3, 1, 2, 2, True
    elif not torch.cuda.is_available():
        print("gpu_train: CUDA is not available on this machine; nothing to measure (run it on a GPU host).")
        return 0
    sys.path.insert(0, str(REPO))
    from train.config import load_config
    from train.train import PEAK_FLOPS, train

    rank = int(os.environ.get("RANK", 0))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = Path(args.data) if args.data else None
        if data is None:  # every rank writes its own copy: no file system shared between ranks is assumed
            data = synthetic_tokens(root, 50304, (1 << 20) if args.cpu_smoke else 64 * 1024 * 1024)
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
        if args.cpu_smoke:
            overrides += ["n_layer=2", "n_embd=128", "n_head=2", "block_size=64", "device=cpu"]
        summary = train("small", data, root / "ckpt", max_steps=args.steps, overrides=overrides)
        if rank != 0:
            return 0
        rows = [json.loads(line) for line in (root / "ckpt" / "metrics.jsonl").read_text().splitlines()]
        cfg = load_config("small", overrides)
        shape = {k: cfg[k] for k in ("block_size", "vocab_size", "n_layer", "n_head", "n_embd")}
        if args.data is not None:
            shape["vocab_size"] = 64 * -(
                -json.loads((data / "manifest.json").read_text())["tokenizer"]["vocab_size"] // 64
            )
        ref = None
        if not args.no_nanogpt:
            device = "cpu" if args.cpu_smoke else "cuda"
            ref = nanogpt_tps(args.nanogpt, data, shape, args.batch_size, args.grad_accum, args.steps,
                              args.warmup, not args.no_compile, device)  # fmt: skip
    timed = rows[args.warmup :] or rows
    tps = statistics.median(r["tokens_per_s"] for r in timed)
    mfu = statistics.median(r["mfu"] for r in timed) if "mfu" in timed[0] else None
    name = "cpu (smoke run)" if args.cpu_smoke else torch.cuda.get_device_name()
    world = int(os.environ.get("WORLD_SIZE", 1))
    print(f"device: {name} × {world}, torch {torch.__version__}")
    print(
        f"model: {summary['params'] / 1e6:.1f} M parameters, batch {args.batch_size} × {shape['block_size']} × "
        f"{args.grad_accum} per GPU, bf16 autocast, compile={not args.no_compile}"
    )
    peak = next((f for k, f in PEAK_FLOPS.items() if k in name), None)
    print(f"{'':34}{'tokens/s':>14}{'MFU':>9}{'ratio':>8}")
    show = lambda m: "n/a" if m is None else f"{100 * m:.1f}%"  # noqa: E731
    if ref is not None:
        ref_tps, ref_fpt, ref_own = ref
        ref_mfu = ref_fpt * ref_tps / peak if peak else None
        print(f"{'reference: nanoGPT GPT (1 GPU)':34}{ref_tps:14,.0f}{show(ref_mfu):>9}{1:8.2f}")
        print(f"{'  (its own estimate_mfu, vs A100)':34}{'':14}{show(ref_own):>9}")
        print(f"{'train.train.train (small config)':34}{tps / world:14,.0f}{show(mfu):>9}{tps / world / ref_tps:8.2f}"
              f"   (per GPU; target ≥ 1.00)")  # fmt: skip
    else:
        print(f"{'train.train.train (small config)':34}{tps / world:14,.0f}{show(mfu):>9}")
    print(
        f"(medians of steps {args.warmup + 1}..{args.steps}; MFU with {'peak ' + f'{peak:.3g}' if peak else 'no known peak'})"
    )
    print(f"loss: {rows[0]['loss']:.3f} → {rows[-1]['loss']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
