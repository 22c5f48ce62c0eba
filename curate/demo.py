"""The main job end to end, on the bundled real WARC files: what ``make demo`` runs.

crawl → a recipe close to DCLM-Baseline (URL, language, heuristics, exact + MinHash dedup, quality) →
curated Parquet → BPE tokenizer → token shards → a tiny GPT trained for a few minutes on the CPU →
sample continuations → ``report.html``. Everything lands under one folder (``demo/`` by default).
Every step is resumable: a rerun skips what is finished.
"""

from __future__ import annotations

import importlib.resources
import time
from pathlib import Path
from typing import Any

PROMPTS = ("The stock market crashed and investors", "The history of the", "In this paper we")


def sample_inputs() -> list[str]:
    root = Path(str(importlib.resources.files("pipelines") / "sample"))
    return sorted(str(p) for p in root.glob("*.warc.gz"))


def run_demo(
    output: str | Path = "demo",
    *,
    inputs: list[str] | None = None,
    recipe: str = "demo",
    vocab_size: int = 2048,
    train_config: str = "tiny",
    train_overrides: tuple[str, ...] = (),
    max_steps: int = 300,
    ray_address: str | None = None,
    progress: bool = True,
    log: Any = print,
) -> dict[str, Any]:
    """Run the whole demo into ``output``; returns paths and figures of each step."""
    from curate.report import write_report
    from curate.runner import run
    from curate.stats import format_funnel, funnel
    from train.sample import sample
    from train.tokenize import tokenize_shards
    from train.tokenizer import train_tokenizer
    from train.train import train

    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    summary: dict[str, Any] = {}

    log(f"[1/5] curating the bundled crawl with the '{recipe}' recipe → {out / 'curated'}")
    res = run(recipe, inputs or sample_inputs(), str(out / "curated"), ray_address=ray_address, progress=progress)
    if not res.ok:
        raise RuntimeError(f"curation failed for shards {sorted(res.failed)}")
    f = funnel(str(out / "curated"))
    log(format_funnel(f))
    summary["curated_docs"] = f["stages"][-1]["docs_out"]
    data = str(out / "curated" / "data" / "*.parquet")

    tok_path = out / "tokenizer" / "tokenizer.json"
    log(f"[2/5] training a byte-level BPE tokenizer (vocab {vocab_size}) → {tok_path}")
    if not tok_path.exists():
        train_tokenizer(data, vocab_size, tok_path)
    log(f"[3/5] tokenizing the curated shards → {out / 'tokens'}")
    manifest = tokenize_shards(data, tok_path, out / "tokens", val_fraction=0.1, ray_address=ray_address,
                               progress=progress)
    summary["tokens"] = {k: manifest.get(k) for k in ("train_tokens", "val_tokens", "documents") if k in manifest}

    log(f"[4/5] training the '{train_config}' GPT on the CPU for {max_steps} steps → {out / 'model'}")
    tr = train(train_config, out / "tokens", out / "model", max_steps=max_steps,
               overrides=list(train_overrides))
    summary["train"] = tr

    log("[5/5] sampling and writing the report")
    samples = []
    for p in PROMPTS:
        text = sample(out / "model", p, max_new_tokens=40, temperature=0.8, seed=0)
        samples.append(f"» {text}")
        log(f"  {samples[-1]}")
    (out / "model" / "samples.txt").write_text("\n\n".join(samples) + "\n")
    report = write_report(out / "curated", out / "report.html", train_dir=out / "model")
    summary["report"] = str(report)
    summary["seconds"] = round(time.time() - t0, 1)
    log(f"done in {summary['seconds']} s: report at {report}")
    return summary
