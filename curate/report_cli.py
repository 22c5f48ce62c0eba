"""CLI of the end-to-end parts: ``curate report``, ``curate demo``, ``curate ablate``."""

from __future__ import annotations

import argparse


def _report(args: argparse.Namespace) -> int:
    from curate.report import write_report

    path = write_report(args.run_dir, args.output, train_dir=args.train, ablation=args.ablation)
    print(path)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from curate.demo import run_demo

    run_demo(args.output, max_steps=args.max_steps, vocab_size=args.vocab_size, ray_address=args.ray_address,
             train_overrides=("batch_size=8", *args.set), progress=not args.quiet)
    return 0


def _ablate(args: argparse.Namespace) -> int:
    from curate.ablate import run_ablation
    from curate.report import write_report

    recipes = [r.strip() for r in args.recipes.split(",") if r.strip()]
    table = run_ablation(
        args.input, recipes, args.eval, args.output, seeds=tuple(int(s) for s in args.seeds.split(",")),
        train_config=args.config, max_tokens=args.max_tokens, allow_repeat=args.allow_repeat,
        fit_quality=not args.no_fit_quality, vocab_size=args.vocab_size, overrides=args.set,
        train_overrides=tuple(args.train_set), ray_address=args.ray_address, progress=not args.quiet,
    )
    print(write_report(table["results"][-1]["run_dir"], f"{args.output}/report.html",
                       ablation=f"{args.output}/ablation.json"))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("report", help="one self-contained HTML report of a run directory")
    r.add_argument("run_dir")
    r.add_argument("--output", "-o", default=None, help="default: RUN_DIR/report.html")
    r.add_argument("--train", default=None, help="a training output folder (loss curves, samples)")
    r.add_argument("--ablation", default=None, help="an ablation.json to include")
    r.set_defaults(func=_report)

    d = sub.add_parser("demo", help="the main job on the bundled crawl: curate → tokenizer → GPT → report")
    d.add_argument("--output", "-o", default="demo")
    d.add_argument("--max-steps", type=int, default=300)
    d.add_argument("--vocab-size", type=int, default=2048)
    d.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="training config override")
    d.add_argument("--ray-address", default=None)
    d.add_argument("--quiet", "-q", action="store_true")
    d.set_defaults(func=_demo)

    a = sub.add_parser("ablate", help="train the same tiny model on several recipes' data; compare held-out loss")
    a.add_argument("--input", "-i", nargs="+", required=True)
    a.add_argument("--recipes", default="raw,heuristics,full", help="comma-separated recipe names (full = dclm_baseline)")
    a.add_argument("--eval", nargs="+", action="extend", required=True, metavar="[NAME=]PATH",
                   help="held-out sets never used for training: .txt (one document), .jsonl or .parquet "
                        "(a text column), a glob (one set) or a folder (each file a set); repeatable")
    a.add_argument("--output", "-o", required=True)
    a.add_argument("--seeds", default="0,1,2", help="comma-separated; every recipe trains on each")
    a.add_argument("--config", default="tiny")
    a.add_argument("--max-tokens", type=int, default=None,
                   help="training tokens per model (default: the smallest recipe's unique tokens); larger "
                        "budgets are capped there unless --allow-repeat")
    a.add_argument("--allow-repeat", action="store_true",
                   help="let --max-tokens exceed a recipe's unique tokens (its rows are marked *)")
    a.add_argument("--no-fit-quality", action="store_true",
                   help="keep a classifier recipe's keep_top_fraction even when it yields < --max-tokens")
    a.add_argument("--vocab-size", type=int, default=4096)
    a.add_argument("--set", action="append", default=[], metavar="STAGE.KEY=VALUE", help="recipe override")
    a.add_argument("--train-set", action="append", default=[], metavar="KEY=VALUE", help="training override")
    a.add_argument("--ray-address", default=None)
    a.add_argument("--quiet", "-q", action="store_true")
    a.set_defaults(func=_ablate)
