"""The ``curate`` command line. Every command is a thin wrapper over a documented Python call."""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from curate.errors import CurateError, RecipeError


def _storage_options(raw: str | None) -> dict | None:
    if not raw:
        return None
    try:
        opts = json.loads(raw)
    except json.JSONDecodeError as e:
        raise RecipeError(f"--storage-options: not JSON ({e})") from e
    if not isinstance(opts, dict):
        raise RecipeError("--storage-options: expected a JSON object")
    return opts


def cmd_plan(args: argparse.Namespace) -> int:
    from curate.runner import load_plan

    recipe, plan = load_plan(args.recipe, args.set)
    print(plan.describe(recipe.name))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from curate.runner import run
    from curate.stats import format_funnel, funnel

    if args.plan:
        return cmd_plan(args)
    result = run(
        args.recipe,
        args.input,
        args.output,
        overrides=args.set,
        ray_address=args.ray_address,
        num_cpus=args.num_cpus,
        limit=args.limit,
        max_files=args.max_files,
        base_url=args.base_url,
        overwrite=args.overwrite,
        progress=not args.quiet,
        keep_intermediate=args.keep_intermediate,
        storage_options=_storage_options(args.storage_options),
        split_bytes=args.split_bytes or None,
        executor=args.executor,
    )
    if not args.quiet:
        print(format_funnel(funnel(args.output, _storage_options(args.storage_options))))
        print(
            f"{result.processed} shard-passes run, {result.skipped} already done, {len(result.failed)} failed; "
            f"{result.seconds:.1f} s; output in {args.output}"
        )
    for shard, msg in sorted(result.failed.items()):
        print(f"shard {shard} failed: {msg}", file=sys.stderr)
    if result.failed:
        print("rerun the same command to retry the failed shards (finished ones are skipped)", file=sys.stderr)
    return 0 if result.ok else 1


# Under this much annotated Parquet a select runs in this process: re-deciding reads ~10 MB/s on one core,
# so starting Ray (~10-15 s and a model load per worker) costs more than the work it would spread.
LOCAL_SELECT_BYTES = 128 * 2**20


def select_executor(choice: str, run_dir: str, ray_address: str | None) -> str:
    """``ray`` or ``local`` for ``curate select --executor auto|ray|local``."""
    if choice != "auto":
        return choice
    if ray_address:
        return "ray"
    from curate.rundir import RunDir

    rd = RunDir(run_dir)
    size = rd.fs.du(rd.full("data"), total=True) if rd.exists("data") else 0
    return "local" if size < LOCAL_SELECT_BYTES else "ray"


def cmd_select(args: argparse.Namespace) -> int:
    from curate.annotate import select
    from curate.stats import format_funnel, funnel

    executor = select_executor(args.executor, args.run_dir, args.ray_address)
    result = select(args.run_dir, args.recipe, args.output, overrides=args.set, ray_address=args.ray_address,
                    overwrite=args.overwrite, progress=not args.quiet, executor=executor)
    if not args.quiet:
        print(format_funnel(funnel(args.output)))
        print(f"selected in {result.seconds:.1f} s; output in {args.output}")
    return 0 if result.ok else 1


def cmd_stats(args: argparse.Namespace) -> int:
    from curate.stats import format_funnel, funnel

    f = funnel(args.run_dir)
    print(json.dumps(f, indent=1) if args.json else format_funnel(f))
    return 0


def cmd_stages(args: argparse.Namespace) -> int:
    from curate.stage import GlobalStage, describe_stage, registry

    errors: dict[str, str] = {}
    reg = registry(errors)
    for name, err in sorted(errors.items()):
        print(f"{name}  [unavailable]  {err}")
    for name in sorted(reg):
        cls = reg[name]
        if args.name and name not in args.name:
            continue
        kind = "global" if issubclass(cls, GlobalStage) else "document"
        doc = (cls.__doc__ or "").strip().splitlines()
        print(f"{name}  [{kind}]  {doc[0] if doc else ''}")
        for pname, typ, default in describe_stage(cls):
            print(f"    {pname}: {typ} = {default!r}")
    return 0


def cmd_recipes(args: argparse.Namespace) -> int:
    from curate.recipe import builtin_recipes

    for name, path in sorted(builtin_recipes().items()):
        print(f"{name:<20} {path}")
    return 0


def cmd_dedup_report(args: argparse.Namespace) -> int:
    from curate.dedup.audit import render_dedup_report

    print(render_dedup_report(args.run_dir, top=args.top, max_source_loss=args.max_source_loss))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="curate", description="WARC → curated Parquet → tokenizer → GPT")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="run a recipe over input files")
    r.add_argument("recipe", help="a built-in recipe name (curate recipes) or a YAML path")
    r.add_argument("--input", "-i", nargs="+", required=True, help="files, globs or fsspec URLs; a CC listing")
    r.add_argument("--output", "-o", required=True, help="the run directory (path or fsspec URL)")
    r.add_argument("--set", action="append", default=[], metavar="STAGE.KEY=VALUE", help="override a parameter")
    r.add_argument("--ray-address", default=None, help="join a Ray cluster (e.g. auto); default: embedded Ray")
    r.add_argument("--num-cpus", type=int, default=None, help="cores for the embedded Ray (default: all)")
    r.add_argument("--limit", type=int, default=None, help="read at most N records per input file")
    r.add_argument("--max-files", type=int, default=None, help="use only the first N input files")
    r.add_argument("--base-url", default=None, help="base URL for a Common Crawl listing (warc.paths.gz)")
    r.add_argument("--overwrite", action="store_true", help="delete an existing run directory first")
    r.add_argument("--keep-intermediate", action="store_true", help="keep the data between global stages")
    r.add_argument("--storage-options", default=None, metavar="JSON",
                   help='fsspec options for the output, e.g. {"endpoint_url": "http://127.0.0.1:9000"}')
    r.add_argument("--split-bytes", type=int, default=256 * 2**20, metavar="N",
                   help="split Parquet/JSONL inputs larger than N bytes into several shards (0: never)")
    r.add_argument("--executor", choices=("ray", "local"), default="ray",
                   help="ray (default) or local: every task in this process, no Ray (small runs, debugging)")
    r.add_argument("--plan", action="store_true", help="print the plan of passes and exit")
    r.add_argument("--quiet", "-q", action="store_true")
    r.set_defaults(func=cmd_run)

    se = sub.add_parser("select", help="re-decide an annotated run (mode: annotate) with new parameters")
    se.add_argument("run_dir", help="a finished run made with mode: annotate")
    se.add_argument("--recipe", required=True, help="the same recipe (built-in name or YAML)")
    se.add_argument("--set", action="append", default=[], metavar="STAGE.KEY=VALUE")
    se.add_argument("--output", "-o", required=True)
    se.add_argument("--ray-address", default=None)
    se.add_argument("--executor", choices=("auto", "ray", "local"), default="auto",
                    help=f"auto (default): in this process when the run's data/ is under "
                         f"{LOCAL_SELECT_BYTES >> 20} MB and no --ray-address is given, else Ray")
    se.add_argument("--overwrite", action="store_true")
    se.add_argument("--quiet", "-q", action="store_true")
    se.set_defaults(func=cmd_select)

    pl = sub.add_parser("plan", help="print a recipe's plan of passes (map and reduce)")
    pl.add_argument("recipe")
    pl.add_argument("--set", action="append", default=[], metavar="STAGE.KEY=VALUE")
    pl.set_defaults(func=cmd_plan)

    s = sub.add_parser("stats", help="per-stage funnel of a run directory")
    s.add_argument("run_dir")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_stats)

    st = sub.add_parser("stages", help="every registered stage with its parameters")
    st.add_argument("name", nargs="*")
    st.set_defaults(func=cmd_stages)

    rc = sub.add_parser("recipes", help="the built-in recipes")
    rc.set_defaults(func=cmd_recipes)

    d = sub.add_parser("dedup-report", help="audit deduplication: largest clusters, loss per source")
    d.add_argument("run_dir")
    d.add_argument("--top", type=int, default=10)
    d.add_argument("--max-source-loss", type=float, default=0.5)
    d.set_defaults(func=cmd_dedup_report)

    # Sub-commands owned by other parts register themselves.
    for module in ("train.cli", "curate.quality.cli", "curate.report_cli"):
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        mod.register(sub)
    return p


class _Terminated(BaseException):
    """SIGTERM, turned into an exception so that locks and writers clean up on the way out."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated


def main(argv: list[str] | None = None) -> int:
    import signal

    parser = build_parser()
    args = parser.parse_args(argv)
    if threading_main():
        signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return int(args.func(args) or 0)
    except RecipeError as e:
        print(f"curate: configuration error: {e}", file=sys.stderr)
        return 2
    except CurateError as e:
        print(f"curate: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `curate stats | head`: the reader left; nothing more to say
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("curate: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except _Terminated:
        print("curate: terminated; rerun the same command to resume", file=sys.stderr)
        return 143


def threading_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


if __name__ == "__main__":
    sys.exit(main())
