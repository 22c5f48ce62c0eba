"""Fit the block model of ``method: curate`` (curate/extract_curate.py) on half of the dev sets.

Block labels: a block is content when at least half of its words are in the page's gold text (cleaneval,
cleanportaleval, l3s-gn1, readability); on trafilatura-eval when it holds a must-contain snippet, and
boilerplate when it holds a must-not-contain one (other blocks there: whether trafilatura keeps them).
Pages with an even index in each set train, odd ones are held out; the script prints P/R/F1 of resiliparse,
trafilatura and the model on the held-out half, and with ``--write`` writes the word scores and network
weights to ``curate/extract_curate_model.py`` (a generated module: package data that needs no loader).

    .venv/bin/python benchmarks/train_extract_curate.py [--limit N] [--write]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_extract_quality as bench  # noqa: E402

from curate import extract_curate as ec  # noqa: E402


def block_labels(blocks: list[tuple[str, str, int]], gold: dict | str, silver: str | None) -> list[float]:
    """1 content, 0 boilerplate, nan unknown, per block."""
    out = []
    ref = Counter(bench._TOKEN.findall(gold.lower() if isinstance(gold, str) else (silver or "").lower()))
    for _, text, _ in blocks:
        if isinstance(gold, dict):
            if any(s in text for s in gold["with"]):
                out.append(1.0)
                continue
            if any(s in text for s in gold["without"]):
                out.append(0.0)
                continue
        words = bench._TOKEN.findall(text.lower())
        if not words:
            out.append(float("nan"))
            continue
        out.append(float(sum(w in ref for w in words) / len(words) >= 0.5))
    return out


def fit_word_scores(
    labelled: list[tuple[list[tuple[str, str, int]], list[float]]], min_pages: int = 6, top: int = 2000
) -> dict[str, float]:
    """Log-odds of a word appearing in a content vs a boilerplate block, over words seen on >= min_pages.

    Counts are of pages (a word repeated across a site's blocks counts once per page), so site-specific
    words do not dominate; the ``top`` words by |log-odds| x log(pages) are kept.
    """
    content: dict[str, int] = Counter()
    boiler: dict[str, int] = Counter()
    n_content = n_boiler = 0
    for blocks, labels in labelled:
        seen_c: set[str] = set()
        seen_b: set[str] = set()
        for (_, text, _), y in zip(blocks, labels):
            if y != y:
                continue
            words = {w.lower() for w in ec._WORD.findall(text[: ec._HEAD_CHARS])}
            if y:
                n_content += 1
                seen_c |= words
            else:
                n_boiler += 1
                seen_b |= words
        content.update(seen_c)
        boiler.update(seen_b)
    scores = {}
    for w in set(content) | set(boiler):
        a, b = content[w], boiler[w]
        if a + b >= min_pages:
            scores[w] = np.log((a + 1) / (n_content / 1000 + 1)) - np.log((b + 1) / (n_boiler / 1000 + 1))
    best = sorted(scores, key=lambda w: -abs(scores[w]) * np.log(content[w] + boiler[w]))[:top]
    return {w: round(float(scores[w]), 2) for w in sorted(best)}


def fit(
    x: np.ndarray, y: np.ndarray, sw: np.ndarray, hidden: int = 32, epochs: int = 20, seed: int = 0
) -> dict[str, list]:
    """A one-hidden-layer ReLU network (weighted log loss, Adam, minibatches) on standardised features."""
    mu, sd = x.mean(0), x.std(0) + 1e-9
    z = (x - mu) / sd
    sw = sw / sw.mean()
    rng = np.random.default_rng(seed)
    params = [
        rng.normal(0, 1 / np.sqrt(z.shape[1]), (z.shape[1], hidden)),
        np.zeros(hidden),
        rng.normal(0, 1 / np.sqrt(hidden), hidden),
        np.zeros(1),
    ]
    m1 = [np.zeros_like(p) for p in params]
    m2 = [np.zeros_like(p) for p in params]
    lr, l2 = 3e-3, 1e-4
    for _ in range(epochs):
        order = rng.permutation(len(z))
        for s in range(0, len(z), 512):
            j = order[s : s + 512]
            h = np.maximum(0, z[j] @ params[0] + params[1])
            p = 1 / (1 + np.exp(-(h @ params[2] + params[3][0])))
            g = (p - y[j]) * sw[j] / len(j)
            gh = np.outer(g, params[2]) * (h > 0)
            grads = [z[j].T @ gh + l2 * params[0], gh.sum(0), h.T @ g + l2 * params[2], np.array([g.sum()])]
            for k, (param, grad) in enumerate(zip(params, grads)):
                m1[k] = 0.9 * m1[k] + 0.1 * grad
                m2[k] = 0.999 * m2[k] + 0.001 * grad * grad
                param -= lr * m1[k] / (np.sqrt(m2[k]) + 1e-8)
    r = 6
    return {
        "mean": np.round(mu, r).tolist(),
        "scale": np.round(sd, r).tolist(),
        "w1": np.round(params[0], r).tolist(),
        "b1": np.round(params[1], r).tolist(),
        "w2": np.round(params[2], r).tolist(),
        "b2": round(float(params[3][0]), r),
    }


def write_model(
    path: Path, word_scores: dict[str, float], net: dict[str, list], threshold: float, note: str
) -> None:
    """The generated module curate/extract_curate_model.py (data only)."""
    lines = [
        '"""Generated by benchmarks/train_extract_curate.py: the block model of ``method: curate``. Do not edit.',
        "",
        note,
        '"""',
        "",
        "# fmt: off",
        f"WORD_SCORES = {word_scores!r}",
        f"NET = {net!r}",
        f"THRESHOLD = {threshold!r}",
        "# fmt: on",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=0, help="first N pages of each set only")
    ap.add_argument("--snippet-weight", type=float, default=4.0, help="weight of snippet-labelled blocks")
    ap.add_argument("--seeds", type=int, default=3, help="networks averaged (one wider network)")
    ap.add_argument("--write", action="store_true", help="write curate/extract_curate_model.py")
    args = ap.parse_args()
    import trafilatura
    from resiliparse.extract.html2text import extract_plain_text

    train: list[tuple[str, list, list[float], list[bool]]] = []
    held: dict[str, list] = {}
    for name in bench.SETS:
        pages = bench.load_set(name, args.limit)
        held[name] = []
        for i, (html, gold) in enumerate(pages):
            blocks = ec.resiliparse_blocks(html)
            if i % 2:
                held[name].append((html, gold, blocks))
                continue
            snippet = isinstance(gold, dict)
            silver = trafilatura.extract(html, favor_precision=True) if snippet else None
            marked = [snippet and any(s in t for s in gold["with"] + gold["without"]) for _, t, _ in blocks]
            train.append((name, blocks, block_labels(blocks, gold, silver), marked, html, gold))
        print(f"{name}: {len(pages)} pages", flush=True)
    sizes = Counter(name for name, *_ in train)
    word_scores = fit_word_scores([(b, y) for _, b, y, *_ in train])
    ec.WORD_SCORES.clear()
    ec.WORD_SCORES.update(word_scores)
    xs, ys, ws = [], [], []
    for name, blocks, labels, marked, *_ in train:
        if not blocks:
            continue
        for x, y, (_, text, _), mk in zip(ec.page_matrix(blocks), labels, blocks, marked):
            if y == y:  # not nan
                xs.append(x)
                ys.append(y)
                ws.append((args.snippet_weight if mk else 1.0) * np.sqrt(1 + len(text.split())) / sizes[name] ** 0.5)
    nets = [fit(np.array(xs), np.array(ys), np.array(ws), seed=seed) for seed in range(args.seeds)]
    # An ensemble that averages the members' logits is one wider network: hidden units side by side.
    net = {
        "mean": nets[0]["mean"],
        "scale": nets[0]["scale"],
        "w1": np.hstack([np.asarray(n["w1"]) for n in nets]).tolist(),
        "b1": [b for n in nets for b in n["b1"]],
        "w2": [w / len(nets) for n in nets for w in n["w2"]],
        "b2": float(np.mean([n["b2"] for n in nets])),
    }
    ec.NET.clear()
    ec.NET.update(ec.prepare_net(net))
    # The threshold that maximises the smallest margin over trafilatura across the sets (the target is
    # trafilatura's F1 on every set), measured on the training pages.
    by_set: dict[str, list] = {}
    for name, blocks, _, _, html, gold in train:
        by_set.setdefault(name, []).append((blocks, html, gold))
    best = (-1.0, 0.0, 0.5)
    for name, items in by_set.items():
        ref = [trafilatura.extract(h, favor_precision=True) for _, h, _ in items]
        by_set[name] = [(b, g, ec.content_probability(b)) for b, _, g in items], bench.score(
            ref, [("", g) for _, _, g in items]
        )[2]
    for th in np.arange(0.40, 0.80, 0.05):
        margins = []
        for items, ref_f1 in by_set.values():
            outs = ["\n".join(t for (_, t, _), p in zip(b, pr) if p >= th) for b, _, pr in items]
            margins.append(bench.score(outs, [("", g) for _, g, _ in items])[2] - ref_f1)
        print(f"threshold {th:.2f}: F1 - trafilatura's F1 on the training half " + " ".join(f"{m:+.3f}" for m in margins))
        best = max(best, (min(margins), float(np.mean(margins)), round(float(th), 2)))
    ec.THRESHOLD = best[2]
    print(f"threshold: {ec.THRESHOLD}")
    print(f"\n{len(ys)} training blocks from {len(train)} pages, {np.mean(ys):.2f} content")
    print(f"\n  {'held-out half':17s} {'pages':>5s} {'extractor':12s} {'P':>6s} {'R':>6s} {'F1':>6s}")
    for name, items in held.items():
        pages = [(h, g) for h, g, _ in items]
        outs = {
            "resiliparse": [extract_plain_text(h, main_content=True) for h, _ in pages],
            "trafilatura": [trafilatura.extract(h, favor_precision=True) for h, _ in pages],
            "curate": [ec.extract_curate(h) for h, _ in pages],
        }
        for method, o in outs.items():
            p, r, f1 = bench.score(o, pages)
            print(f"  {name:17s} {len(pages):5d} {method:12s} {p:6.3f} {r:6.3f} {f1:6.3f}")
    if args.write:
        note = (
            f"Fitted on the even-indexed pages of {', '.join(bench.SETS)} ({len(train)} pages, {len(ys)} blocks;\n"
            f"snippet weight {args.snippet_weight}, {args.seeds} seeds averaged, threshold {ec.THRESHOLD});\nthe odd-indexed pages are the held-out half."
        )
        write_model(Path(ec.__file__).with_name("extract_curate_model.py"), word_scores, net, ec.THRESHOLD, note)
        print("wrote curate/extract_curate_model.py")


if __name__ == "__main__":
    main()
