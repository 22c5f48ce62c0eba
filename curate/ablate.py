"""``curate ablate``: the DCLM experiment in miniature.

Given one crawl and several recipes, build each dataset, train the same tiny model on the same token budget
from each (several seeds), and evaluate every model on the same held-out clean text. One tokenizer, trained
on the first recipe's output (the least filtered, so a superset of the others' text), serves every model so
that losses are in the same units; bits per byte are reported as well.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

# Short names for the usual ablation arms.
RECIPE_ALIASES = {"full": "dclm_baseline"}


def run_ablation(
    inputs: list[str],
    recipes: list[str],
    eval_path: str | Path,
    output: str | Path,
    *,
    seeds: tuple[int, ...] = (0, 1),
    train_config: str = "tiny",
    max_tokens: int = 2_000_000,
    vocab_size: int = 4096,
    overrides: list[str] | None = None,
    train_overrides: tuple[str, ...] = (),
    ray_address: str | None = None,
    progress: bool = True,
    log: Any = print,
) -> dict[str, Any]:
    """Run the ablation into ``output``; returns (and writes to ``ablation.json``) the results table."""
    from curate.runner import run
    from curate.stats import funnel
    from train.evaluate import evaluate
    from train.tokenize import tokenize_shards
    from train.tokenizer import train_tokenizer
    from train.train import train

    if len(seeds) < 1 or len(recipes) < 1:
        raise ValueError("ablate needs at least one recipe and one seed")
    if not Path(eval_path).is_file():
        raise FileNotFoundError(f"--eval {eval_path}: no such file")
    out = Path(output)
    runs = {}
    for name in recipes:
        recipe = RECIPE_ALIASES.get(name, name)
        log(f"[data] {name} ({recipe})")
        res = run(recipe, inputs, str(out / "runs" / name), overrides=overrides, ray_address=ray_address,
                  progress=progress)
        if not res.ok:
            raise RuntimeError(f"recipe {name}: shards failed: {sorted(res.failed)}")
        runs[name] = out / "runs" / name
    tok = out / "tokenizer.json"
    if not tok.exists():
        log(f"[tokenizer] vocab {vocab_size}, trained on '{recipes[0]}'")
        train_tokenizer(str(runs[recipes[0]] / "data" / "*.parquet"), vocab_size, tok)
    results = []
    for name in recipes:
        manifest = tokenize_shards(str(runs[name] / "data" / "*.parquet"), tok, out / "tokens" / name,
                                   val_fraction=0.05, ray_address=ray_address, progress=progress)
        docs = funnel(str(runs[name]))["stages"][-1]["docs_out"]
        losses, bpb = [], []
        for seed in seeds:
            ckpt = out / "models" / f"{name}-seed{seed}"
            log(f"[train] {name} seed {seed}: {max_tokens:,} tokens")
            train(train_config, out / "tokens" / name, ckpt, seed=seed, max_tokens=max_tokens,
                  overrides=list(train_overrides))
            ev = evaluate(ckpt, Path(eval_path))
            losses.append(ev["loss"])
            bpb.append(ev.get("bits_per_byte", float("nan")))
            log(f"        held-out loss {ev['loss']:.4f}")
        results.append({
            "recipe": name,
            "docs": docs,
            "train_tokens": int(manifest.get("train_tokens", 0)),
            "epochs": max_tokens / max(1, int(manifest.get("train_tokens", 0))),
            "losses": losses,
            "loss_mean": statistics.fmean(losses),
            "loss_std": statistics.stdev(losses) if len(losses) > 1 else 0.0,
            "bits_per_byte_mean": statistics.fmean(bpb),
        })
    table = {
        "eval": str(eval_path),
        "seeds": list(seeds),
        "max_tokens": max_tokens,
        "config": train_config,
        "note": f"Same model ({train_config}), same budget ({max_tokens:,} tokens), same tokenizer, "
                f"{len(seeds)} seeds; held-out loss on {Path(eval_path).name} (lower is better).",
        "results": results,
    }
    (out / "ablation.json").write_text(json.dumps(table, indent=1))
    log(format_table(table))
    return table


def format_table(table: dict[str, Any]) -> str:
    lines = [f"{'recipe':<14}{'docs':>8}{'train tokens':>14}{'epochs':>8}{'held-out loss':>15}{'± std':>9}"
             f"{'bits/byte':>11}"]
    for r in table["results"]:
        lines.append(f"{r['recipe']:<14}{r['docs']:>8,}{r['train_tokens']:>14,}{r['epochs']:>8.1f}"
                     f"{r['loss_mean']:>15.4f}{r['loss_std']:>9.4f}{r['bits_per_byte_mean']:>11.4f}")
    return "\n".join(lines)
