"""The ``tokenizer train``, ``tokenize``, ``train`` and ``sample`` subcommands of ``curate``.

``curate/cli.py`` calls :func:`register` on its subparsers and then ``args.func(args)``, which returns the
exit code. ``python -m train.cli …`` runs the same commands without the rest of curate.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from train import EOT


def _handler(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Bad paths and configuration (missing files, unknown config keys, wrong types) end with a one-line
    message and exit code 2, not a traceback; anything else is a bug and keeps its traceback."""

    @functools.wraps(fn)
    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except (FileNotFoundError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2

    return run


@_handler
def _tokenizer_train(args: argparse.Namespace) -> int:
    from train.tokenizer import train_tokenizer

    tok = train_tokenizer(
        args.input,
        args.vocab_size,
        args.output,
        max_docs=args.max_docs,
        special_tokens=args.special_tokens,
        min_frequency=args.min_frequency,
        seed=args.seed,
    )
    print(f"wrote {args.output}: {tok.get_vocab_size()} tokens")
    return 0


@_handler
def _tokenizer_from_vocab(args: argparse.Namespace) -> int:
    from train.tokenizer import tokenizer_from_vocab_merges

    tok = tokenizer_from_vocab_merges(
        args.vocab, args.merges, args.output, special_tokens=args.special_tokens
    )
    print(f"wrote {args.output}: {tok.get_vocab_size()} tokens")
    return 0


def _max_epochs(values: list[str] | None) -> tuple[float | None, dict[str, float | None]]:
    """``--max-epochs`` values: ``N`` (every source) or ``NAME=N`` (one source); ``none`` lifts the cap."""
    every: float | None = 1.0
    per: dict[str, float | None] = {}
    for v in values or []:
        name, _, n = v.rpartition("=")
        cap = None if n.lower() in ("none", "inf") else float(n)
        if name:
            per[name] = cap
        else:
            every = cap
    return every, per


@_handler
def _tokenize(args: argparse.Namespace) -> int:
    from train.mixture import Source, parse_mix
    from train.sizing import parse_count
    from train.tokenize import tokenize_mixture, tokenize_shards

    if bool(args.input) == bool(args.mix):
        raise ValueError("give --input or --mix (a mixture of named sources), not both")
    common = dict(
        seed=args.seed,
        val_fraction=args.val_fraction,
        eot=args.eot,
        ray_address=args.ray_address,
        max_workers=args.max_workers,
        shard_tokens=parse_count(args.shard_tokens),
        formats=tuple(args.format or ()),
        keep_stage=args.keep_stage,
    )
    try:
        if args.mix:
            if args.shuffle == "shard":
                raise ValueError("a mixture is always shuffled globally: drop --shuffle shard")
            every, per = _max_epochs(args.max_epochs)
            sources = [parse_mix(m) for m in args.mix]
            unknown = sorted(set(per) - {s.name for s in sources})
            if unknown:
                raise ValueError(f"--max-epochs names no --mix source: {unknown}")
            sources = [Source(s.name, s.inputs, s.weight, per.get(s.name, every)) for s in sources]
            total = parse_count(args.total_tokens) if args.total_tokens else None
            m = tokenize_mixture(sources, args.tokenizer, args.output, total_tokens=total, **common)
        else:
            if args.max_epochs or args.total_tokens:
                raise ValueError("--max-epochs and --total-tokens apply to a --mix")
            m = tokenize_shards(args.input, args.tokenizer, args.output, shuffle=args.shuffle, **common)
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    t = m["totals"]
    print(
        f"wrote {args.output}: {len(m['shards'])} shards ({m['shuffle']} shuffle), train {t['train']['docs']} "
        f"docs / {t['train']['tokens']} tokens, val {t['val']['docs']} docs / {t['val']['tokens']} tokens "
        f"({m['dtype']})"
    )
    for name, s in m.get("sources", {}).items():
        print(
            f"  {name}: {s['target_tokens']} of {s['available']['train']['tokens']} tokens "
            f"({s['epochs']:.2f} epochs, weight {s['weight']})"
        )
    for fmt in m.get("exports", {}):
        print(f"  {fmt}: {Path(args.output) / fmt}")
    return 0


@_handler
def _train(args: argparse.Namespace) -> int:
    from train.config import load_config
    from train.data import read_manifest
    from train.sizing import parse_count, size_for_tokens
    from train.train import train

    cfg = load_config(args.config, args.set or [])
    if args.budget_tokens:
        vocab = read_manifest(args.data)["tokenizer"]["vocab_size"]
        size = size_for_tokens(parse_count(args.budget_tokens), vocab)
        print(
            f"budget {args.budget_tokens} tokens → {size['params'] / 1e6:.1f} M parameters: "
            f"n_layer={size['n_layer']} n_embd={size['n_embd']} n_head={size['n_head']}"
        )
        cfg.update({k: size[k] for k in ("n_layer", "n_head", "n_embd", "max_tokens")})
    summary = train(cfg, args.data, args.output, seed=args.seed)
    if int(os.environ.get("RANK", 0)) == 0:  # under torchrun, one summary
        print(json.dumps(summary, indent=1))
    return 0


@_handler
def _sample(args: argparse.Namespace) -> int:
    from train.sample import sample

    temperature = 0.0 if args.greedy else args.temperature
    for i in range(args.num_samples):
        seed = None if args.seed is None else args.seed + i
        text = sample(
            args.checkpoint,
            args.prompt,
            max_new_tokens=args.max_new_tokens,
            temperature=temperature,
            top_k=args.top_k or None,
            seed=seed,
            device=args.device,
        )
        print(text if args.num_samples == 1 else f"--- sample {i + 1}\n{text}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``tokenizer`` (``tokenizer train``), ``tokenize``, ``train`` and ``sample`` to ``subparsers``."""
    p = subparsers.add_parser("tokenizer", help="tokenizer commands (train, from-vocab)")
    sub = p.add_subparsers(dest="tokenizer_command", metavar="{train,from-vocab}")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
    t = sub.add_parser("train", help="train a byte-level BPE tokenizer on curated shards or text")
    t.add_argument(
        "--input", nargs="+", required=True, help="Parquet, JSONL or text: paths, dirs, globs, fsspec URLs"
    )
    t.add_argument("--vocab-size", type=int, default=8192)
    t.add_argument("--output", required=True, help="where to write tokenizer.json")
    t.add_argument("--max-docs", type=int, default=None, help="train on a sample of this many documents")
    t.add_argument("--special-tokens", nargs="+", default=[EOT], help=f"the first is the separator ({EOT})")
    t.add_argument("--min-frequency", type=int, default=2)
    t.add_argument("--seed", type=int, default=0, help="seeds the order shards are sampled in")
    t.set_defaults(func=_tokenizer_train)
    t = sub.add_parser("from-vocab", help="a tokenizer.json from GPT-2 style vocab.json + merges.txt")
    t.add_argument("--vocab", required=True, help="vocab.json (token → id)")
    t.add_argument("--merges", required=True, help="merges.txt (one 'a b' pair per line)")
    t.add_argument("--output", required=True, help="where to write tokenizer.json")
    t.add_argument("--special-tokens", nargs="+", default=[EOT], help=f"the first is the separator ({EOT})")
    t.set_defaults(func=_tokenizer_from_vocab)

    p = subparsers.add_parser("tokenize", help="curated shards → token shards (Ray job, resumable)")
    p.add_argument("--input", nargs="+", help="Parquet, JSONL or text: paths, dirs, globs, fsspec URLs")
    p.add_argument(
        "--mix",
        nargs="+",
        metavar="NAME=PATH_OR_GLOB:WEIGHT",
        help="a mixture instead of --input: sources in these token ratios (globally shuffled)",
    )
    p.add_argument(
        "--max-epochs",
        action="append",
        metavar="N|NAME=N",
        help="repetition cap of every --mix source, or of one (default 1; 'none' for no cap)",
    )
    p.add_argument("--total-tokens", default=None, help="training tokens of the mixture (default: the caps')")
    p.add_argument("--tokenizer", required=True, help="a Hugging Face tokenizer.json (path or URL)")
    p.add_argument("--output", required=True, help="token directory to write")
    p.add_argument(
        "--shuffle",
        choices=["global", "shard"],
        default=None,
        help="global: documents shuffled across all inputs (default for new runs); shard: within each input",
    )
    p.add_argument("--shard-tokens", default="100M", help="training tokens per output shard (global shuffle)")
    p.add_argument(
        "--format",
        action="append",
        choices=["megatron", "nanogpt"],
        help="also write Megatron .bin/.idx or nanoGPT train.bin/val.bin (repeatable)",
    )
    p.add_argument("--keep-stage", action="store_true", help="keep the first pass's files (stage/)")
    p.add_argument("--seed", type=int, default=0, help="document shuffle, train/val split and shard order")
    p.add_argument("--val-fraction", type=float, default=0.01)
    p.add_argument("--eot", default=EOT, help="the tokenizer's end-of-text token")
    p.add_argument("--ray-address", default=None, help="join this Ray cluster (default: embedded local Ray)")
    p.add_argument("--max-workers", type=int, default=None, help="at most this many shards in flight")
    p.set_defaults(func=_tokenize)

    p = subparsers.add_parser("train", help="train a GPT on token shards (torchrun for several GPUs)")
    p.add_argument("--config", default="tiny", help="packaged config name (tiny, small) or a YAML path")
    p.add_argument("--data", required=True, help="token directory from `curate tokenize`")
    p.add_argument("--output", required=True, help="checkpoint directory (resumed if it holds one)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key (repeatable)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument(
        "--budget-tokens",
        default=None,
        metavar="N",
        help="size the model for N tokens by tokens ≈ 20 × parameters (e.g. 50M) and train on N",
    )
    p.set_defaults(func=_train)

    p = subparsers.add_parser("sample", help="generate text from a checkpoint")
    p.add_argument("--checkpoint", "--ckpt", dest="checkpoint", required=True, help="checkpoint directory")
    p.add_argument("--prompt", default="")
    p.add_argument("--max-new-tokens", type=int, default=100)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--top-k", type=int, default=200, help="0 disables")
    p.add_argument("--greedy", action="store_true", help="argmax decoding (temperature 0)")
    p.add_argument("--num-samples", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=_sample)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.cli", description=__doc__.splitlines()[0])
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
