"""Decontamination: recall on planted benchmark items, false positives on clean crawl pages, cost beside Gopher.

The corpus is every HTML page of ../shared/data/warc/bench/*.warc.gz (resiliparse main content, as in
bench_filters.py). The "benchmarks" are real text that the crawl does not hold:

  books  paragraphs of the Project Gutenberg books in ../shared/data/text/gutenberg/ (licence header and
         footer cut), as JSONL rows with a ``text`` field;
  wiki   WikiText-2 validation paragraphs (../shared/data/text/wikitext2-valid.txt), one item per line;
  news   sentences of 8-12 words of the Lee news corpus, as Parquet ``question`` rows (the short-item rule:
         matched whole);
  abc    lines of the ABC science and rural news transcripts (nltk ``abc.zip``), one item per line.

Together about 1.2 M distinct keys. Into a seeded sample of the pages a passage of 20-60 words of an item
(or the whole item when shorter) is planted: exact copies, and edited copies (case changed, whitespace changed to runs, tabs and line
breaks, punctuation dropped, added and swapped for typographic quotes and dashes). Prints:

  (a) recall on exact and edited copies (targets >= 0.99 and >= 0.95), per benchmark;
  (b) clean pages flagged (target 0), each shown with the matched words if any;
  (c) remove_paragraphs: planted pages given back as they were before planting;
  (d) cost per document of decontaminate beside gopher_quality on the same pages in the same run (engine
      stats of one in-process run of both stages, and CPU time of each stage's process_batch alone on
      512-document batches, interleaved, best of 3), with the index's memory (arrays, file, RSS of loading).

    .venv/bin/python benchmarks/bench_decontam.py [--plant 600] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import re
import string
import sys
import tempfile
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_filters import SHARED, load_texts  # noqa: E402 - the bench pages, extracted once and cached

from curate.local import run_documents  # noqa: E402
from curate.rundir import StageDir  # noqa: E402
from curate.stage import build_stage  # noqa: E402
from filters.decontam_index import NgramIndex, normalize_words  # noqa: E402
from filters.decontaminate import INDEX_FILE  # noqa: E402

TEXT = SHARED / "text"
BENCHES = ("books", "wiki", "news", "abc")
_GUTENBERG = re.compile(r"\*\*\*\s*START OF (?:THIS|THE) PROJECT GUTENBERG.*?\*\*\*(.*)\*\*\*\s*END OF", re.S | re.I)


def book_items() -> list[str]:
    items = []
    for p in sorted((TEXT / "gutenberg").glob("pg*.txt")):
        m = _GUTENBERG.search(p.read_text(encoding="utf-8", errors="replace"))
        if m:
            items += [" ".join(b.split()) for b in re.split(r"\n\s*\n", m.group(1)) if len(b.split()) >= 8]
    return items


def wiki_items() -> list[str]:
    lines = (TEXT / "wikitext2-valid.txt").read_text(encoding="utf-8").splitlines()
    return [ln.strip() for ln in lines if len(ln.split()) >= 8 and not ln.strip().startswith("=")]


def news_items() -> list[str]:
    text = (TEXT / "lee-news.txt").read_text(encoding="utf-8")
    sents = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text)]
    return sorted({s for s in sents if 8 <= len(normalize_words(s).split()) <= 12})[:400]


def abc_items() -> list[str]:
    with zipfile.ZipFile(TEXT / "nltk" / "abc.zip") as z:
        text = "\n".join(z.read(f"abc/{n}.txt").decode("latin-1") for n in ("rural", "science"))
    return [ln.strip() for ln in text.splitlines() if len(ln.split()) >= 8]


def edit(passage: str, rng: random.Random) -> str:
    """Same words; case, whitespace and punctuation changed."""
    words = passage.split()
    case = rng.choice([str.upper, str.lower, str.title, str.swapcase])
    out = []
    for w in words:
        w = case(w)
        r = rng.random()
        if r < 0.15:
            w = w.strip(string.punctuation) or w  # punctuation dropped (inside a word it would join two words)
        elif r < 0.25:
            w += rng.choice([",", ";", " -", " --", "...", ":"])  # punctuation added
        w = w.replace("'", "\u2019").replace('"', "\u201c").replace("-", "\u2013")
        out.append(w)
    seps = [rng.choice([" ", " ", " ", "  ", "\t", "\n", " \n  "]) for _ in out]
    return "".join(w + s for w, s in zip(out, seps)).strip()


def passage_of(item: str, rng: random.Random) -> str:
    """A span of 20-60 words of the item (normalised words: WikiText's "@,@" and "(" are none), or all of it."""
    tokens = item.split()
    ends = np.cumsum([len(normalize_words(t).split()) for t in tokens])
    if ends[-1] <= 20:
        return item
    want = rng.randint(20, min(60, int(ends[-1])))
    start = rng.choice([i for i in range(len(tokens)) if ends[-1] - (ends[i - 1] if i else 0) >= want])
    stop = int(np.searchsorted(ends, (ends[start - 1] if start else 0) + want)) + 1
    return " ".join(tokens[start:stop])


def plant(text: str, passage: str, rng: random.Random) -> str:
    lines = text.split("\n")
    at = rng.randint(0, len(lines))
    return "\n".join([*lines[:at], passage, *lines[at:]])


def write_evals(d: Path) -> dict:
    books, wiki, news, abc = book_items(), wiki_items(), news_items(), abc_items()
    with open(d / "books.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps({"text": t}) + "\n" for t in books)
    (d / "wiki.txt").write_text("\n".join(wiki) + "\n", encoding="utf-8")
    pq.write_table(pa.table({"question": news}), d / "news.parquet")
    (d / "abc.txt").write_text("\n".join(abc) + "\n", encoding="utf-8")
    return {
        "benchmarks": {
            "books": {"path": str(d / "books.jsonl"), "fields": ["text"]},
            "wiki": {"path": str(d / "wiki.txt")},
            "news": {"path": str(d / "news.parquet"), "fields": ["question"]},
            "abc": {"path": str(d / "abc.txt")},
        },
        "items": {"books": books, "wiki": wiki, "news": news, "abc": abc},
    }


def cpu_per_doc(stage, docs: list[dict]) -> float:
    """CPU seconds per document of ``stage.process_batch`` over 512-document batches (copies)."""
    t = time.process_time()
    for i in range(0, len(docs), 512):
        stage.process_batch([dict(d) for d in docs[i : i + 512]])
    return (time.process_time() - t) / len(docs)


def explain(index: NgramIndex, text: str) -> str:
    """The first matched grams of ``text``, as normalised words (to judge a flagged page by eye)."""
    found = index.match([text])
    words = normalize_words(text).decode().split()
    return " | ".join(" ".join(words[f : f + k]) for f, k in zip(found.first[:3], found.words[:3]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--plant", type=int, default=600, help="pages that receive a planted item")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    print(f"machine: {platform.processor() or platform.machine()}, {psutil.cpu_count()} cpus, "
          f"python {platform.python_version()}; load average {psutil.getloadavg()[0]:.1f}")
    pages, _, warc_bytes = load_texts()
    pages = [{"id": d["id"], "text": d["text"]} for d in pages]
    print(f"corpus: {len(pages)} pages from ../shared/data/warc/bench/ ({warc_bytes / 2**20:.1f} MiB of WARC)")

    with tempfile.TemporaryDirectory() as tmp:
        ev = write_evals(Path(tmp))
        params = {"benchmarks": ev["benchmarks"], "ngram": 13}
        # the worker's path: prepare into a stage folder (the driver), then use_prepared + setup (a worker)
        folder = StageDir(str(Path(tmp) / "stage"))
        t = time.perf_counter()
        summary = build_stage("decontaminate", params).prepare(folder)
        build_s = time.perf_counter() - t
        dstage = build_stage("decontaminate", params)
        dstage.use_prepared(folder)
        tracemalloc.start()
        dstage.setup()  # what a worker does: the index read from the stage folder, once per process
        loaded = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        blob = folder.read_bytes(INDEX_FILE)
        index = NgramIndex.from_bytes(blob)
        print(f"index: {summary['keys']:,} distinct n-gram keys (13-grams, and whole short items of "
              f"{summary['short_lengths']} words); built in {build_s:.1f} s")
        for name, s in summary["benchmarks"].items():
            print(f"  {name:6s} {s['items']:6,} items, {s['ngrams']:9,} keys, {s['items_whole']:4} matched whole, "
                  f"{s['items_too_short']} too short")
        print(f"  memory: arrays {index.nbytes / 2**20:.1f} MiB ({index.nbytes / max(1, len(index.keys)):.0f} B/key), "
              f"file {len(blob) / 2**20:.1f} MiB; a worker loading it holds {loaded[0] / 2**20:.1f} MiB "
              f"(peak {loaded[1] / 2**20:.1f} MiB, tracemalloc)")

        # --- the planted corpus ---------------------------------------------------------------------
        order = list(range(len(pages)))
        rng.shuffle(order)
        chosen = set(order[: args.plant])
        docs, truth, originals = [], {}, {}
        for i, p in enumerate(pages):
            if i not in chosen:
                docs.append(dict(p))
                continue
            bench = rng.choices(BENCHES, weights=[4, 3, 1, 2])[0]
            item = rng.choice(ev["items"][bench])
            passage = passage_of(item, rng)
            kind = "exact" if rng.random() < 0.5 else "edited"
            text = plant(p["text"], passage if kind == "exact" else edit(passage, rng), rng)
            new_id = f"planted-{kind}-{i}"
            docs.append({"id": new_id, "text": text})
            truth[new_id] = (bench, kind)
            originals[new_id] = p["text"]
        clean_ids = {d["id"] for d in docs if d["id"] not in truth}

        # --- (a), (b), (d): one in-process run of decontaminate (drop) and gopher_quality, on the same pages
        recipe = [("decontaminate", params), ("gopher_quality", {})]
        t = time.perf_counter()
        out = run_documents(recipe, [dict(d) for d in docs], shard_size=len(docs))
        run_s = time.perf_counter() - t
        flagged = {r["id"]: r["reason"] for r in out.rejected if r["stage"] == "decontaminate"}
        print(f"\n(a) recall, {len(truth)} planted pages (passages of 20-60 words; news items whole):")
        for kind, target in (("exact", 0.99), ("edited", 0.95)):
            ids = [k for k, v in truth.items() if v[1] == kind]
            found = [k for k in ids if flagged.get(k) == f"decontam_{truth[k][0]}"]
            per = {b: f"{sum(truth[k][0] == b for k in found)}/{sum(truth[k][0] == b for k in ids)}"
                   for b in BENCHES}
            print(f"  {kind:6s} {len(found) / max(1, len(ids)):.4f}  ({len(found)}/{len(ids)}; per benchmark {per})"
                  f"   target >= {target}")
            for k in sorted(set(ids) - set(found))[:5]:
                print(f"    missed {k}: {truth[k]} -> {flagged.get(k)}")
        fp = sorted(set(flagged) & clean_ids)
        print(f"\n(b) clean pages flagged: {len(fp)} of {len(clean_ids)}   target 0")
        by_id = {d["id"]: d for d in docs}
        for k in fp[:10]:
            print(f"    {k} {flagged[k]}: {explain(index, by_id[k]['text'])[:200]}")

        stats = {s["name"]: s for s in out.funnel["stages"]}
        dc, gq = stats["decontaminate"], stats["gopher_quality"]
        prep = out.summaries["decontaminate.prepare"]["seconds"]
        print(f"\n(d) cost per document, one in-process run ({run_s:.1f} s; prepare {prep:.1f} s, once):")
        print(f"  engine stats  decontaminate {1e3 * dc['seconds'] / dc['docs_in']:.3f} ms/doc on {dc['docs_in']} docs; "
              f"gopher_quality {1e3 * gq['seconds'] / gq['docs_in']:.3f} ms/doc on {gq['docs_in']} docs; "
              f"ratio {(dc['seconds'] / dc['docs_in']) / (gq['seconds'] / gq['docs_in']):.2f}")
        gstage = build_stage("gopher_quality", {})
        best_d, best_g = [], []
        for _ in range(3):
            best_d.append(cpu_per_doc(dstage, docs))
            best_g.append(cpu_per_doc(gstage, docs))
        d, g = min(best_d), min(best_g)
        print(f"  CPU time     decontaminate {1e3 * d:.3f} ms/doc, gopher_quality {1e3 * g:.3f} ms/doc, "
              f"ratio {d / g:.2f} (best of 3, interleaved, {len(docs)} pages)")

        # --- (c) remove_paragraphs gives the planted pages back ---------------------------------------
        planted_docs = [dict(by_id[k]) for k in truth]
        out = run_documents([("decontaminate", {**params, "action": "remove_paragraphs"})], planted_docs)
        words_back = sum(normalize_words(r["text"]) == normalize_words(originals[r["id"]]) for r in out.kept)
        back = sum(r["text"] == originals[r["id"]] for r in out.kept)
        lines = sum(r["decontam_paragraphs"] for r in out.kept)
        print(f"\n(c) remove_paragraphs on the {len(truth)} planted pages: {words_back} given back with exactly the "
              f"page's words ({back} byte for byte; the rest keep a punctuation-only line of an edited copy), "
              f"{lines} lines removed in all, {len(out.rejected)} dropped (nothing left)")
        kept_annot = run_documents([("decontaminate", {**params, "action": "annotate"})], planted_docs[:50]).kept
        print(f"    annotate (first 50): {sum(bool(r['decontam_benchmarks']) for r in kept_annot)} tagged, "
              f"median {int(np.median([r['decontam_ngrams'] for r in kept_annot]))} matched n-grams")


if __name__ == "__main__":
    main()
