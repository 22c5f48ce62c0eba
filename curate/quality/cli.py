"""``curate quality train | eval | build-default``: the quality-classifier commands.

The lead's CLI calls :func:`register` with its subparsers; each command sets ``func`` to a handler
``handler(args) -> int`` (the exit status).
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from curate.quality.sources import TXT_DOC_WORDS


def _fasttext_params(args: argparse.Namespace) -> dict[str, Any]:
    names = ("lr", "dim", "epoch", "wordNgrams", "minCount", "bucket", "loss", "thread")
    out = {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
    for kv in args.ft or []:  # any other fastText option: --ft minn=3
        k, _, v = kv.partition("=")
        out[k] = type(out.get(k, 0.0))(v) if k in out else _number(v)
    return out


def _number(v: str) -> Any:
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return v


def _add_fasttext_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("fastText (defaults: DCLM's; see curate.quality.train.DEFAULT_PARAMS)")
    g.add_argument("--lr", type=float)
    g.add_argument("--dim", type=int)
    g.add_argument("--epoch", type=int)
    g.add_argument("--wordNgrams", "--word-ngrams", dest="wordNgrams", type=int)
    g.add_argument("--minCount", "--min-count", dest="minCount", type=int)
    g.add_argument("--bucket", type=int)
    g.add_argument("--loss", choices=["softmax", "ns", "hs", "ova"])
    g.add_argument("--thread", type=int)
    g.add_argument("--ft", action="append", metavar="KEY=VALUE", help="any other fastText option")


def cmd_train(args: argparse.Namespace) -> int:
    from curate.quality.sources import read_texts
    from curate.quality.train import train_classifier

    pos = read_texts(args.positive, args.txt_doc_words, args.text_column)
    neg = read_texts(args.negative, args.txt_doc_words, args.text_column)
    print(
        f"positive: {sum(map(len, pos.values())):,} documents from {len(pos)} files; "
        f"negative: {sum(map(len, neg.values())):,} from {len(neg)} files"
    )
    train_classifier(
        pos,
        neg,
        args.output,
        _fasttext_params(args),
        args.valid_fraction,
        args.seed,
        args.max_docs_per_class,
        quantize=args.quantize or args.output.endswith(".ftz"),
        positive_label=args.positive_label,
        negative_label=args.negative_label,
    )
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from curate.quality.eval import evaluate_file, format_metrics
    from curate.quality.model import resolve_model_path

    m = evaluate_file(
        str(resolve_model_path(args.model)),
        args.input,
        args.label_field,
        args.positive_label,
        args.threshold,
        args.batch_size,
    )
    print(format_metrics(m, f"{args.model} on {', '.join(args.input)} ({m['positive_label']})"))
    if args.json:
        print(json.dumps(m))
    return 0


def cmd_build_default(args: argparse.Namespace) -> int:
    from curate.quality.default import build_default

    build_default(args.output, args.data, with_nltk=args.with_nltk, seed=args.seed, with_prose=args.with_prose)
    return 0


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``quality`` with ``train``, ``eval`` and ``build-default`` to the top-level subparsers."""
    q = subparsers.add_parser("quality", help="train, evaluate and build fastText quality classifiers")
    sub = q.add_subparsers(dest="quality_command", required=True)

    t = sub.add_parser("train", help="train a classifier: positives vs negatives (DCLM recipe)")
    t.add_argument("--positive", nargs="+", required=True, help="Parquet/JSONL(.gz/.zst)/txt files or globs")
    t.add_argument("--negative", nargs="+", required=True, help="Parquet/JSONL(.gz/.zst)/txt files or globs")
    t.add_argument(
        "--output", required=True, help="model file (.bin; .ftz = quantized); card: OUTPUT.card.json"
    )
    t.add_argument("--valid-fraction", type=float, default=0.1, help="held-out share per class (default 0.1)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--max-docs-per-class", type=int, help="cap each class (balance)")
    t.add_argument("--quantize", action="store_true", help="write a quantized model (also implied by .ftz)")
    t.add_argument(
        "--text-column",
        default="text",
        help="Parquet column / JSON field holding the text (JSONL records without it are read as instruction "
        "data: OpenHermes conversations, ELI5 title/answers, question/answer, instruction/output)",
    )
    t.add_argument("--positive-label", default="__label__hq", help="name of the positive class (DCLM: hq)")
    t.add_argument("--negative-label", default="__label__cc", help="name of the negative class (DCLM: cc)")
    t.add_argument(
        "--txt-doc-words",
        type=int,
        default=TXT_DOC_WORDS,
        help="plain text: group paragraphs into documents of >= N words (0: one per file)",
    )
    _add_fasttext_options(t)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="accuracy, precision/recall and ROC AUC on labelled JSONL")
    e.add_argument("--model", required=True, help="fastText model path, or 'default'")
    e.add_argument("--input", nargs="+", required=True, help="JSONL with text and label (0/1, hq/cc…)")
    e.add_argument("--label-field", default="label")
    e.add_argument("--positive-label", default="__label__hq")
    e.add_argument("--threshold", type=float, default=0.5, help="P(positive) cut for accuracy")
    e.add_argument("--batch-size", type=int, default=1024)
    e.add_argument("--json", action="store_true", help="also print the metrics as one JSON line")
    e.set_defaults(func=cmd_eval)

    b = sub.add_parser("build-default", help="build the stand-in default classifier from ../shared/data")
    b.add_argument("--output", default="filters/data/quality-default.ftz", help=".ftz = quantized (~1 MB)")
    b.add_argument("--data", default=os.environ.get("CURATE_SHARED_DATA", "../shared/data"))
    b.add_argument(
        "--with-nltk",
        action="store_true",
        help="add nltk webtext + nps_chat negatives (nps_chat: non-commercial; never commit)",
    )
    b.add_argument(
        "--with-prose", action="store_true", help="add WikiText-2 and Gutenberg prose positives (the old recipe)"
    )
    b.add_argument("--seed", type=int, default=0)
    b.set_defaults(func=cmd_build_default)
    return q


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (``python -m curate.quality.cli train …``) until the top-level CLI wires it."""
    parser = argparse.ArgumentParser(prog="curate")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
