"""The reference side of ``bench_fidelity.py``: DCLM's and datatrove's own filters, run inside each
reference's virtual environment (``make fidelity`` creates them). Imports nothing from curate.

    <venv>/bin/python benchmarks/fidelity_reference.py dclm|datatrove --input docs.jsonl --output out.jsonl \
        --lid-model lid.176.ftz [--domain-list F] [--url-list F]

Writes one JSON line of versions and CPU seconds, then one line per document: each filter's decision (kept, or
the reason) and the text of every text modifier.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

DCLM_REF = Path(__file__).resolve().parents[2] / "shared" / "reference" / "dclm"

def read_jsonl(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _first_fail(page_text: str, url: str, checks: list) -> str | None:
    """Name of the first DCLM mapper (name, fn) that drops the page, or None."""
    for name, fn in checks:
        if not fn({"text": page_text, "url": url}):
            return name
    return None


def worker_dclm(docs: list[dict], args: argparse.Namespace) -> list[dict]:
    sys.path[:0] = [str(DCLM_REF), str(DCLM_REF / "baselines")]
    os.chdir(DCLM_REF)  # url_removal_modifier opens baselines/mappers/iana_tlds.txt relative to the cwd
    import types

    # The package __init__ files import every mapper, the kenlm and transformers ones too; register the two
    # packages bare so that only the modules used here are imported (their code runs unchanged).
    for pkg in ("baselines.mappers", "baselines.mappers.enrichers"):
        mod = types.ModuleType(pkg)
        mod.__path__ = [str(DCLM_REF / pkg.replace(".", "/"))]
        sys.modules[pkg] = mod
    import fasttext
    from baselines.mappers import modifiers as md
    from baselines.mappers.enrichers.enrichers import word_counter_enricher
    from baselines.mappers.enrichers.language_id_enrichers import detect_lang_whole_page_fasttext
    from baselines.mappers.filters import content_filters as cf
    from baselines.mappers.filters import metadata_filters as mf

    banlists = DCLM_REF / "baselines" / "mappers" / "banlists"
    url_checks = [
        ("url_domain", mf.url_substring_filter(banlist_from_fname=args.domain_list, exact_domain_match=True,
                                               ignore_chars=["www"])),
        ("url_strict", mf.url_substring_filter(
            banlist_from_fname=str(banlists / "refinedweb_banned_words_strict_reverse_engineered.txt"),
            ignore_chars=["-", "."])),
        ("url_hard", mf.url_substring_filter(
            banlist_from_fname=str(banlists / "refinedweb_banned_words_hard_reverse_engineered.txt"),
            match_substrings=False)),
        ("url_soft", mf.url_substring_filter(
            banlist_from_fname=str(banlists / "refinedweb_banned_words_soft_reverse_engineered.txt"),
            num_banned_substrs=2, match_substrings=False)),
    ]
    url_removal = md.url_removal_modifier()
    newline_removal = md.newline_removal_modifier(max_consecutive=2)
    lid = fasttext.load_model(args.lid_model)
    gopher_quality = [
        ("page_length", lambda p: cf.page_length_filter(p, "word", 50, 100000, ignore_punctuation=True)),
        ("word_length", lambda p: cf.word_length_filter(p, 3, 10)),
        ("symbol_ratio", lambda p: cf.symbol_ratio_filter(p, 0.1)),
        ("bullet_count", lambda p: cf.bullet_count_filter(p, 0.9)),
        ("ellipsis_count", lambda p: cf.ellipsis_count_filter(p, 0.3)),
        ("alphabetic_word_ratio", lambda p: cf.alphabetic_word_ratio_filter(p, 0.2)),
        ("stop_word", lambda p: cf.stop_word_filter(p, False, 2)),
    ]
    line_mods = [
        ("uppercase_ratio", lambda p: md.uppercase_ratio_line_modifier(p, 0.5)),
        ("numeric_ratio", lambda p: md.numeric_ratio_line_modifier(p, 0.999999)),
        ("counter_line", md.counter_line_modifier()),
        ("line_length", lambda p: md.line_length_modifier(p, min_length=2)),
        ("substring_cart", md.substring_line_modifier(banlist="items in cart", max_length=10,
                                                      remove_substring_only=True)),
        ("substring_read_more", md.substring_line_modifier(banlist="Read more...", max_length=10,
                                                           location="suffix", remove_substring_only=True)),
        ("substring_sign_in", md.substring_line_modifier(banlist="Sign-in", max_length=10, location="prefix",
                                                         remove_substring_only=True)),
    ]
    out = []
    for d in docs:
        r: dict = {"id": d["id"]}
        r["url_filter"] = _first_fail(d["text"], d["url"], url_checks)
        page = {"text": d["text"], "url": d["url"]}
        page = (url_removal(page) or [None])[0]
        page = newline_removal(page)[0] if page is not None else None
        r["refinedweb_preclean"] = "url_removal_modifier_empty" if page is None else None
        r["refinedweb_preclean/text"] = page["text"] if page is not None else None
        text1 = page["text"] if page is not None else d["text"]
        r["_text1"] = text1
        probs = detect_lang_whole_page_fasttext(lid, text1)  # what detect_lang_whole_page_enricher stores
        r["lang/score"] = probs
        r["language"] = None if mf.language_filter({"lid": probs}, ["en"], key="lid", threshold=0.65) else (
            "language_filter")
        r["gopher_quality"] = _first_fail(text1, d["url"], gopher_quality)
        r["gopher_repetition"] = None if cf.massive_web_repetition_filters({"text": text1}) else (
            "massive_web_repetition_filters")
        page = word_counter_enricher({"text": text1}, key="previous_word_count")[0]
        reason = None
        for name, fn in line_mods:
            res = fn(page)
            if not res:
                reason = f"{name}_empty"
                break
            page = res[0]
        if reason is None and not cf.word_removal_ratio_filter(page, "previous_word_count", max_removed_ratio=0.05):
            reason = "word_removal_ratio_filter"
        r["refinedweb_line_modifiers"] = reason
        r["refinedweb_line_modifiers/text"] = page["text"] if not reason else None
        out.append(r)
    return out


def worker_datatrove(docs: list[dict], args: argparse.Namespace) -> list[dict]:
    from datatrove.data import Document
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
        LanguageFilter,
        URLFilter,
    )
    from datatrove.pipeline.formatters import PIIFormatter
    from fasttext.FastText import _FastText
    from tldextract import TLDExtract

    url = URLFilter()
    url.tldextractor = TLDExtract(suffix_list_urls=())  # the bundled public-suffix snapshot, no download
    lang = LanguageFilter(languages=["en"], language_threshold=0.65)
    lang.model._model = _FastText(args.lid_model)  # the same lid.176.ftz as curate, never a download
    # examples/fineweb.py, in its order
    rep = GopherRepetitionFilter()
    gq = GopherQualityFilter(min_doc_words=50, max_doc_words=100000)
    c4 = C4QualityFilter(filter_no_terminal_punct=False)
    fw = FineWebQualityFilter()
    pii = PIIFormatter()

    def decide(flt, doc) -> str | None:
        res = flt.filter(doc)
        if isinstance(res, tuple):
            return None if res[0] else (res[1] or "dropped")
        return None if res else "dropped"

    out = []
    secs: Counter = Counter()
    for d in docs:
        r: dict = {"id": d["id"]}
        def mk(t: str, d: dict = d) -> Document:
            return Document(text=t, id=d["id"], metadata={"url": d["url"]})

        for name, flt in (("url_filter", url), ("language", lang), ("gopher_repetition", rep),
                          ("gopher_quality", gq)):
            t0 = time.process_time()
            r[name] = decide(flt, mk(d["text"]))
            secs[name] += time.process_time() - t0
        doc = mk(d["text"])
        t0 = time.process_time()
        r["c4"] = decide(c4, doc)
        secs["c4"] += time.process_time() - t0
        r["c4/text"] = doc.text if r["c4"] is None else None
        text2 = doc.text if r["c4"] is None else d["text"]
        r["_text2"] = text2
        t0 = time.process_time()
        r["fineweb_quality"] = decide(fw, mk(text2))
        secs["fineweb_quality"] += time.process_time() - t0
        t0 = time.process_time()
        r["pii/text"] = pii.format(d["text"])
        secs["pii"] += time.process_time() - t0
        out.append(r)
    t0 = time.process_time()
    removed, clusters = datatrove_minhash(docs, Path(args.output).parent / "dt-minhash")
    secs["minhash"] = time.process_time() - t0
    for i, r in enumerate(out):
        r["minhash"] = "minhash_duplicate" if i in removed else None
        r["minhash/cluster"] = clusters.get(i)
    worker_datatrove.secs = dict(secs)  # type: ignore[attr-defined]
    return out


def datatrove_minhash(docs: list[dict], work: Path) -> tuple[set[int], dict[int, int]]:
    """datatrove's four MinHash steps with FineWeb's settings (examples/fineweb.py: 5-grams, 14 buckets x 8
    hashes, 64-bit hashes) on the texts in order: (indices removed, index -> cluster id of every index in a
    duplicate cluster)."""
    import shutil
    import struct

    from datatrove.data import Document
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupSignature,
    )
    from datatrove.utils.hashing import HashConfig

    shutil.rmtree(work, ignore_errors=True)
    cfg = MinhashConfig(hash_config=HashConfig(precision=64), num_buckets=14, hashes_per_bucket=8, n_grams=5)
    stream = [Document(text=d["text"], id=d["id"]) for d in docs]
    run = [
        ([stream, MinhashDedupSignature(output_folder=str(work / "sigs"), config=cfg)], 1),
        ([MinhashDedupBuckets(input_folder=str(work / "sigs"), output_folder=str(work / "buckets"), config=cfg)],
         cfg.num_buckets),
        ([MinhashDedupCluster(input_folder=str(work / "buckets"), output_folder=str(work / "ids"), config=cfg,
                              save_cluster_id=True)], 1),
    ]
    for k, (steps, tasks) in enumerate(run):
        LocalPipelineExecutor(pipeline=steps, tasks=tasks, workers=1, logging_dir=str(work / f"logs{k}"),
                              skip_completed=False).run()
    rem = work / "ids" / "000000.remove"
    removed = set(struct.unpack(f"<{rem.stat().st_size // 4}I", rem.read_bytes())) if rem.exists() else set()
    cl = work / "ids" / "000000.clusters"
    pairs = struct.unpack(f"<{cl.stat().st_size // 4}I", cl.read_bytes()) if cl.exists() else ()
    return removed, dict(zip(pairs[::2], pairs[1::2]))


def worker_versions(kind: str) -> dict:
    from importlib import metadata

    names = {"dclm": ["nltk", "uniseg", "retrie", "fasttext", "fasttext-numpy2-wheel"],
             "datatrove": ["datatrove", "spacy", "nltk", "fasttext", "fasttext-numpy2-wheel"]}[kind]
    out = {}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            pass
    return out


def run_worker(kind: str, argv: list[str]) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--lid-model", required=True)
    p.add_argument("--domain-list", default=None)
    p.add_argument("--url-list", default=None)
    args = p.parse_args(argv)
    docs = read_jsonl(args.input)
    t0 = time.process_time()
    rows = {"dclm": worker_dclm, "datatrove": worker_datatrove}[kind](docs, args)
    cpu = time.process_time() - t0
    with open(args.output, "w", encoding="utf-8") as f:
        head = {"versions": worker_versions(kind), "cpu_s": cpu, "n": len(docs),
                "secs": getattr(worker_datatrove, "secs", {})}
        f.write(json.dumps(head) + "\n")
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    run_worker(sys.argv[1], sys.argv[2:])
