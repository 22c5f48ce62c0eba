"""Extraction quality on trafilatura's evaluation set: resiliparse vs trafilatura, side by side (one core).

Input: ../shared/data/html/trafilatura-eval/tests/ (Apache-2.0): ``evaldata.json`` maps 990 URLs to a page
file (gzipped under ``cache/`` or ``eval/``) with snippets the extracted text must contain (``with``) and
must not contain (``without``). Scoring is trafilatura's own ``tests/evaluate.py``: a ``with`` snippet found
is a true positive, missed a false negative; a ``without`` snippet found is a false positive, absent a true
negative; no output counts every ``with`` as missed. Precision tp/(tp+fp), recall tp/(tp+fn), accuracy,
F1 = 2tp/(2tp+fp+fn), summed over all pages. Both extractors get the same ``str``, decoded by curate's
``decode_html`` (no HTTP charset). Throughput is CPU time (``time.process_time``) of the extraction call
only, so the two rates are a ratio measured in the same run.

    .venv/bin/python benchmarks/bench_extract_quality.py [--limit N]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

EVAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "html" / "trafilatura-eval" / "tests"


def load_pages(limit: int = 0) -> list[tuple[str, dict]]:
    """(decoded html, annotation) for every page of evaldata.json, in file order."""
    from curate.io.charset import decode_html

    items = json.loads((EVAL / "evaldata.json").read_text(encoding="utf-8"))
    pages = []
    for item in items.values():
        for sub in ("cache", "eval"):
            p = EVAL / sub / (item["file"] + ".gz")
            if p.exists():
                pages.append((decode_html(gzip.decompress(p.read_bytes()), None)[0], item))
                break
        else:
            raise FileNotFoundError(item["file"])
        if limit and len(pages) >= limit:
            break
    return pages


def score(result: str | None, item: dict) -> tuple[int, int, int, int]:
    """(tp, fn, fp, tn) of one page, as trafilatura's ``evaluate_result``."""
    if result is None:
        return 0, len(item["with"]), len(item["without"]), 0
    tp = sum(s in result for s in item["with"])
    fp = sum(s in result for s in item["without"])
    return tp, len(item["with"]) - tp, fp, len(item["without"]) - fp


def run(extract: Callable[[str], str | None], pages: list[tuple[str, dict]]) -> tuple[list[int], float]:
    """Summed (tp, fn, fp, tn) and CPU seconds spent in ``extract``."""
    totals = [0, 0, 0, 0]
    spent = 0.0
    for html, item in pages:
        t0 = time.process_time()
        try:
            out = extract(html)
        except Exception:  # noqa: BLE001 - an extractor failing on a page scores as no output, as upstream
            out = None
        spent += time.process_time() - t0
        for i, v in enumerate(score(out, item)):
            totals[i] += v
    return totals, spent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=0, help="first N pages only")
    args = ap.parse_args()
    from importlib.metadata import version

    import trafilatura
    from resiliparse.extract.html2text import extract_plain_text

    pages = load_pages(args.limit)
    n_with = sum(len(it["with"]) for _, it in pages)
    n_without = sum(len(it["without"]) for _, it in pages)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, python "
        f"{platform.python_version()}; one core; load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"inputs: {EVAL} ({len(pages)} pages, {n_with} must-contain and {n_without} must-not-contain snippets, "
        f"mean {sum(len(h) for h, _ in pages) / len(pages) / 1e3:.0f} k chars of HTML)"
    )
    extractors = {
        f"resiliparse {version('resiliparse')} (main_content=True)": lambda h: extract_plain_text(
            h, main_content=True
        ),
        f"trafilatura {version('trafilatura')} (favor_precision=True)": lambda h: trafilatura.extract(
            h, favor_precision=True
        ),
    }
    print(
        f"\n  {'extractor':44s} {'precision':>9s} {'recall':>7s} {'F1':>6s} {'accuracy':>8s} {'docs/s':>8s}"
    )
    rates = {}
    for name, fn in extractors.items():
        (tp, fn_, fp, tn), spent = run(fn, pages)
        p, r = tp / (tp + fp), tp / (tp + fn_)
        f1, acc = 2 * tp / (2 * tp + fp + fn_), (tp + tn) / (tp + tn + fp + fn_)
        rates[name] = len(pages) / spent
        print(f"  {name:44s} {p:9.3f} {r:7.3f} {f1:6.3f} {acc:8.3f} {rates[name]:8.1f}")
    (a, ra), (b, rb) = rates.items()
    print(f"\n  throughput ratio (CPU time, this run): {a.split()[0]} is {ra / rb:.1f}x {b.split()[0]}")


if __name__ == "__main__":
    main()
