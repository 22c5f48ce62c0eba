"""Quality classifier: agreement with human judgement, and the cost of scoring beside the cost of extraction.

Prints, for the default classifier beside the previous default (``benchmarks/data/quality-default-v1.ftz``,
the stand-in committed before issue 15: WikiText-2 + Gutenberg vs. crawl main content) and any ``--model``
given (e.g. DCLM's ``fasttext_oh_eli5.bin``):

- accuracy and ROC AUC on ``quality/dclm-human-labels-dev.jsonl`` (499 real Common Crawl pages labelled
  0/1 by people, from DCLM);
- scoring throughput on one core (docs/s, MB/s; the stage's batched call) on those pages' texts, beside
  resiliparse main-content extraction (docs/s) on HTML pages of the bench WARCs, measured in the same run:
  the ratio says what the quality stage adds to a pipeline that extracts.

    .venv/bin/python benchmarks/bench_quality.py [--data ../shared/data] [--model extra.bin …]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from curate.quality.eval import evaluate_file, format_metrics
from curate.quality.model import DEFAULT_MODEL, load_model, predict_positive, resolve_positive_label

PREVIOUS_DEFAULT = Path(__file__).resolve().parent / "data" / "quality-default-v1.ftz"


def _machine() -> str:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.platform()}, {os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}"


def _timed(fn, min_seconds: float = 2.0) -> tuple[float, int]:  # noqa: ANN001
    """Run fn() repeatedly for at least min_seconds; (seconds, repetitions)."""
    reps, t0 = 0, time.perf_counter()
    while True:
        fn()
        reps += 1
        dt = time.perf_counter() - t0
        if dt >= min_seconds:
            return dt, reps


def scoring_rate(model_path: Path, texts: list[str], batch_size: int = 1024) -> tuple[float, float]:
    model = load_model(model_path)
    label = resolve_positive_label(list(model.labels))

    def run() -> None:
        for i in range(0, len(texts), batch_size):
            predict_positive(model, texts[i : i + batch_size], label)

    dt, reps = _timed(run)
    mb = sum(len(t.encode()) for t in texts) / 1e6
    return reps * len(texts) / dt, reps * mb / dt


def extraction_rate(bench_dir: Path, n_pages: int) -> tuple[float, float, int]:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    from curate.extract import extract_resiliparse, html_to_str

    pages: list[bytes] = []
    for warc in sorted(bench_dir.glob("*.warc.gz")):
        with open(warc, "rb") as f:
            for rec in ArchiveIterator(f, record_types=WarcRecordType.response, parse_http=True):
                ctype = (rec.http_headers.get("Content-Type") or "") if rec.http_headers else ""
                if "html" in ctype.lower():
                    pages.append(rec.reader.read())
                if len(pages) >= n_pages:
                    break
        if len(pages) >= n_pages:
            break

    def run() -> None:
        for p in pages:
            extract_resiliparse(html_to_str(p)[0], main_content=True)

    dt, reps = _timed(run)
    return reps * len(pages) / dt, reps * sum(map(len, pages)) / 1e6 / dt, len(pages)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.environ.get("CURATE_SHARED_DATA", "../shared/data"))
    ap.add_argument("--model", action="append", default=[], help="more fastText models to compare")
    ap.add_argument("--pages", type=int, default=300, help="bench HTML pages for the extraction rate")
    args = ap.parse_args()
    data = Path(args.data)
    labels = data / "quality" / "dclm-human-labels-dev.jsonl"
    texts = [json.loads(line)["text"] for line in labels.read_text().splitlines()]

    print(f"machine: {_machine()}")
    print(
        f"inputs: {labels} ({len(texts)} docs, {sum(len(t.encode()) for t in texts) / 1e6:.2f} MB of text); "
        f"{data / 'warc' / 'bench'} (first {args.pages} HTML pages)\n"
    )
    ex_docs, ex_mb, n = extraction_rate(data / "warc" / "bench", args.pages)
    print(
        f"reference  resiliparse extract (main content, 1 core): {ex_docs:8.1f} docs/s  {ex_mb:6.2f} MB/s "
        f"of HTML ({n} pages)\n"
    )
    results = {}
    for model in [str(DEFAULT_MODEL), str(PREVIOUS_DEFAULT), *args.model]:
        m = evaluate_file(model, [str(labels)])
        card = Path(model + ".card.json")
        size = Path(model).stat().st_size
        print(
            format_metrics(
                m,
                f"{Path(model).name} ({size / 1e6:.2f} MB"
                + (", has card" if card.exists() else "")
                + ") on DCLM human labels",
            )
        )
        docs_s, mb_s = scoring_rate(Path(model), texts)
        results[model] = (m["roc_auc"], docs_s)
        print(
            f"  scoring (1 core, batched): {docs_s:8.1f} docs/s  {mb_s:6.2f} MB/s of text   "
            f"= {docs_s / ex_docs:.1f}x the extraction rate\n"
        )
    (auc_new, rate_new), (auc_old, rate_old) = results[str(DEFAULT_MODEL)], results[str(PREVIOUS_DEFAULT)]
    print(
        f"default vs previous default: ROC AUC {auc_new:.4f} vs {auc_old:.4f} ({auc_new - auc_old:+.4f}); "
        f"scoring {rate_new:.0f} vs {rate_old:.0f} docs/s ({rate_new / rate_old:.2f}x)"
    )


if __name__ == "__main__":
    main()
