"""Extraction quality on five dev sets: resiliparse, trafilatura and curate's own method, side by side.

Sets (under ../shared/data/html/; see its README for licences — the research-use sets are read here, never
copied into the repository):

- ``trafilatura-eval`` (Apache-2.0): 990 pages with snippets the text must contain (``with``) and must not
  contain (``without``). Scored as trafilatura's ``tests/evaluate.py``: a ``with`` snippet found is a true
  positive, missed a false negative; a ``without`` snippet found is a false positive; no output misses every
  ``with``. Precision, recall and F1 = 2tp/(2tp+fp+fn) are summed over all pages.
- ``cleaneval-dev`` (58 pages), ``cleanportaleval`` (71), ``l3s-gn1`` (621; gold = the annotated headline and
  full-text spans, ``x-nc-sel1`` and ``x-nc-sel2``) and ``readability`` (130; gold = ``expected.html``): gold
  main text. Scored per page as bag-of-words overlap (lowercased ``\\w+`` tokens, multiset intersection):
  precision = common/extracted, recall = common/gold; P, R and F1 are averaged over pages (an empty output
  scores 0 on all three).

Every extractor gets the same ``str``, decoded by curate's ``decode_html`` (no HTTP charset). Throughput is
CPU time (``time.process_time``) of the extraction call only, the extractors taking turns page by page, so
the rates are ratios within one run.

    .venv/bin/python benchmarks/bench_extract_quality.py [--limit N] [--sets a,b] [--methods a,b]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import re
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

HTML = Path(os.environ.get("CURATE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")) / "html"
SETS = ("trafilatura-eval", "cleaneval-dev", "cleanportaleval", "l3s-gn1", "readability")
_TOKEN = re.compile(r"\w+")
_CLEANEVAL_MARK = re.compile(r"^\s*<[phl]>", re.M)


def _decode(raw: bytes) -> str:
    from curate.io.charset import decode_html

    return decode_html(raw, None)[0]


def _html_text(html: str, classes: tuple[str, ...] | None = None) -> str:
    """Text of an HTML document; with ``classes``, only of the outermost elements having one of them."""
    import lxml.html

    root = lxml.html.fromstring(html)
    for bad in root.xpath("//script|//style"):
        bad.drop_tree()
    if classes is None:
        return root.text_content()
    cond = " or ".join(f"contains(concat(' ', @class, ' '), ' {c} ')" for c in classes)
    parts = [e.text_content() for e in root.xpath(f"//*[{cond}][not(ancestor::*[{cond}])]")]
    return "\n".join(parts)


def load_set(name: str, limit: int = 0) -> list[tuple[str, dict | str]]:
    """(decoded html, gold) pairs of one dev set; gold is the snippet item or the gold text."""
    pages: list[tuple[str, dict | str]] = []
    if name == "trafilatura-eval":
        tests = HTML / name / "tests"
        for item in json.loads((tests / "evaldata.json").read_text(encoding="utf-8")).values():
            path = next(p for sub in ("cache", "eval") if (p := tests / sub / (item["file"] + ".gz")).exists())
            pages.append((_decode(gzip.decompress(path.read_bytes())), item))
            if limit and len(pages) >= limit:
                break
        return pages
    if name == "readability":
        dirs = sorted(p for p in (HTML / name / "test-pages").iterdir() if (p / "expected.html.gz").exists())
        items = [(d / "source.html.gz", d / "expected.html.gz") for d in dirs]
    else:
        items = [(p, p) for p in sorted((HTML / name / "input").glob("*.html.gz"))]
    for src, gold_path in items[: limit or None]:
        html = _decode(gzip.decompress(src.read_bytes()))
        if name == "readability":
            gold = _html_text(gzip.decompress(gold_path.read_bytes()).decode("utf-8"))
        elif name == "l3s-gn1":
            raw = gzip.decompress((HTML / name / "GoldStandard" / (src.name[:-8] + ".txt.gz")).read_bytes())
            gold = _html_text(_decode(raw), ("x-nc-sel1", "x-nc-sel2"))
        else:
            raw = (HTML / name / "GoldStandard" / (src.name[:-8] + ".txt")).read_bytes()
            text = _decode(raw)
            text = re.sub(r"\A\s*URL:[^\n]*\n", "", text)
            gold = _CLEANEVAL_MARK.sub("", text)
        pages.append((html, gold))
    return pages


def snippet_counts(result: str | None, item: dict) -> tuple[int, int, int]:
    """(tp, fn, fp) of one trafilatura-eval page, as trafilatura's ``evaluate_result``."""
    if not result:
        return 0, len(item["with"]), len(item["without"])
    tp = sum(s in result for s in item["with"])
    return tp, len(item["with"]) - tp, sum(s in result for s in item["without"])


def token_prf(result: str | None, gold: str) -> tuple[float, float, float]:
    """Bag-of-words precision, recall and F1 of one page against its gold text."""
    got = Counter(_TOKEN.findall((result or "").lower()))
    want = Counter(_TOKEN.findall(gold.lower()))
    common = sum((got & want).values())
    if not common:
        return 0.0, 0.0, 0.0
    p, r = common / sum(got.values()), common / sum(want.values())
    return p, r, 2 * p * r / (p + r)


def evaluate(
    extractors: dict[str, Callable[[str], str | None]], pages: list[tuple[str, dict | str]]
) -> dict[str, tuple[float, float, float, float]]:
    """(precision, recall, F1, CPU seconds) of each extractor on one set.

    The extractors take turns page by page, so a change in the machine's load hits all of them alike.
    """
    outs: dict[str, list[str | None]] = {m: [] for m in extractors}
    spent = dict.fromkeys(extractors, 0.0)
    for html, _ in pages:
        for method, extract in extractors.items():
            t0 = time.process_time()
            try:
                out = extract(html)
            except Exception:  # noqa: BLE001 - an extractor failing on a page scores as no output, as upstream
                out = None
            spent[method] += time.process_time() - t0
            outs[method].append(out)
    return {m: (*score(outs[m], pages), spent[m]) for m in extractors}


def score(outs: list[str | None], pages: list[tuple[str, dict | str]]) -> tuple[float, float, float]:
    if isinstance(pages[0][1], dict):
        tp = fn = fp = 0
        for out, (_, item) in zip(outs, pages):
            a, b, c = snippet_counts(out, item)  # type: ignore[arg-type]
            tp, fn, fp = tp + a, fn + b, fp + c
        return tp / max(1, tp + fp), tp / max(1, tp + fn), 2 * tp / max(1, 2 * tp + fp + fn)
    prf = [token_prf(out, gold) for out, (_, gold) in zip(outs, pages)]  # type: ignore[arg-type]
    return tuple(sum(x[i] for x in prf) / len(prf) for i in range(3))  # type: ignore[return-value]


def extractors() -> dict[str, Callable[[str], str | None]]:
    from importlib.metadata import version

    import trafilatura
    from resiliparse.extract.html2text import extract_plain_text

    from curate.extract_curate import extract_curate

    return {
        "resiliparse": lambda h: extract_plain_text(h, main_content=True),
        "trafilatura": lambda h: trafilatura.extract(h, favor_precision=True),
        "curate": extract_curate,
        "_versions": f"resiliparse {version('resiliparse')} (main_content=True), trafilatura "  # type: ignore
        f"{version('trafilatura')} (favor_precision=True), curate (method: curate)",
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=0, help="first N pages of each set only")
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--methods", default="resiliparse,trafilatura,curate")
    args = ap.parse_args()
    ex = extractors()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, python "
        f"{platform.python_version()}; one core; load average {os.getloadavg()[0]:.1f}"
    )
    print(f"extractors: {ex.pop('_versions')}")
    print(f"\n  {'set':17s} {'pages':>5s} {'extractor':12s} {'precision':>9s} {'recall':>7s} {'F1':>6s} {'docs/s':>8s}")
    rates: dict[str, tuple[int, float]] = {}
    for name in args.sets.split(","):
        pages = load_set(name, args.limit)
        results = evaluate({m: ex[m] for m in args.methods.split(",")}, pages)
        for method, (p, r, f1, spent) in results.items():
            n, s = rates.get(method, (0, 0.0))
            rates[method] = (n + len(pages), s + spent)
            print(f"  {name:17s} {len(pages):5d} {method:12s} {p:9.3f} {r:7.3f} {f1:6.3f} {len(pages) / spent:8.1f}")
        print()
    ref = rates.get("resiliparse")
    for method, (n, s) in rates.items():
        ratio = f"  = {n / s / (ref[0] / ref[1]):.2f}x resiliparse" if ref else ""
        print(f"  all sets, {method:12s} {n / s:8.1f} docs/s (CPU time, {n} pages){ratio}")


if __name__ == "__main__":
    main()
