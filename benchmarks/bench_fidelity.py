"""Fidelity: curate's filters beside the reference code of DCLM and of FineWeb (datatrove), filter by filter.

One extraction (resiliparse main content, as curate's ``extract`` stage gives it) of every HTML response in
../shared/data/warc/bench/*.warc.gz is fed to both sides. Each reference runs in its own virtual environment
(``make fidelity`` creates them; they are never curate dependencies): this script starts itself there with
``--worker dclm|datatrove`` and reads back one decision per document and filter (kept, or the reason) and
the modified text of every text modifier. curate's stages are built from the recipes
(``pipelines/dclm_baseline.yaml``, ``pipelines/fineweb.yaml``) with their parameters as written there.

Each filter sees the same input on both sides: the text as the *reference* chain hands it on (DCLM: after
its pre-clean; FineWeb's quality filter: after datatrove's C4 filter), every document, not only the
survivors of earlier filters, so each filter's agreement is measured alone. The funnel at the end chains
each side's own decisions.

Printed per filter: agreement on keep/drop, the confusion (we keep / they drop and the reverse), the
reason families on each side, byte-equal output text for modifiers (and how many texts the reference
changed), three examples of each disagreement class, each side's funnel, and for FineWeb's MinHash
(datatrove's four steps with examples/fineweb.py's settings beside curate's ``minhash``) which pages each
side removes and groups.

    make fidelity                                  # creates the reference venvs, runs this on the bench set
    .venv/bin/python benchmarks/bench_fidelity.py [--limit N] [--only dclm|fineweb] [--venvs DIR]
                                                  [--examples 3] [--reuse-ref]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]
SHARED = ROOT.parent / "shared"
BENCH = SHARED / "data" / "warc" / "bench"
DCLM_REF = SHARED / "reference" / "dclm"
DEFAULT_VENVS = Path(os.environ.get("CURATE_FIDELITY_VENVS", "/tmp/curate-fidelity"))
KEEP = None  # a decision: None = kept, else the reason string


# ---------------------------------------------------------------------------------------------------------
# Reference workers: run inside the reference's own venv; they import nothing from curate.
# ---------------------------------------------------------------------------------------------------------


def _read_jsonl(path: str) -> list[dict]:
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
    docs = _read_jsonl(args.input)
    t0 = time.process_time()
    rows = {"dclm": worker_dclm, "datatrove": worker_datatrove}[kind](docs, args)
    cpu = time.process_time() - t0
    with open(args.output, "w", encoding="utf-8") as f:
        head = {"versions": worker_versions(kind), "cpu_s": cpu, "n": len(docs),
                "secs": getattr(worker_datatrove, "secs", {})}
        f.write(json.dumps(head) + "\n")
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


# ---------------------------------------------------------------------------------------------------------
# The driver: runs in curate's venv.
# ---------------------------------------------------------------------------------------------------------


def extract_bench(limit: int | None) -> list[dict]:
    """Every HTML response of the bench set with non-empty main-content text (resiliparse, as DCLM)."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    from curate.extract import extract_resiliparse, html_to_str

    docs: list[dict] = []
    for path in sorted(glob.glob(str(BENCH / "*.warc.gz"))):
        with open(path, "rb") as f:
            for rec in ArchiveIterator(f, record_types=WarcRecordType.response):
                ctype = rec.http_headers.get("Content-Type", "") if rec.http_headers else ""
                if "html" not in ctype.lower():
                    continue
                html, _ = html_to_str(rec.reader.read())
                text = extract_resiliparse(html, main_content=True)
                if text.strip():
                    docs.append({"id": rec.record_id, "url": rec.headers.get("WARC-Target-URI", ""), "text": text})
                if limit and len(docs) >= limit:
                    return docs
    return docs


def recipe_params(recipe: str) -> list[tuple[str, dict]]:
    import yaml

    with open(ROOT / "pipelines" / f"{recipe}.yaml", encoding="utf-8") as f:
        stages = yaml.safe_load(f)["stages"]
    out = []
    for item in stages:
        name, params = (item, {}) if isinstance(item, str) else next(iter(item.items()))
        out.append((name, dict(params or {})))
    return out


def build(name: str, params: dict):  # noqa: ANN201
    from curate.stage import build_stage, ensure_setup

    st = build_stage(name, params)
    ensure_setup(st)
    return st


def run_ours(stage, docs: list[dict], texts: list[str]) -> tuple[list[str | None], list[str], float]:  # noqa: ANN001
    """(decisions, output texts, CPU seconds) of one curate stage on the given input texts."""
    ds = [{"id": d["id"], "url": d["url"], "text": t} for d, t in zip(docs, texts)]
    t0 = time.process_time()
    res = stage.process_batch(ds)
    return res, [d["text"] for d in ds], time.process_time() - t0


def family(reason: str | None) -> str:
    return "kept" if reason is None else reason


def first_diff(a: str, b: str) -> str:
    i = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return f"at char {i}: ours {a[max(0, i - 30):i + 40]!r} | ref {b[max(0, i - 30):i + 40]!r}"


def compare(title: str, docs: list[dict], ours: list, theirs: list, n_examples: int,
            ours_text: list | None = None, theirs_text: list | None = None, cost: str = "",
            inputs: list | None = None) -> dict:
    n = len(docs)
    agree = sum((a is None) == (b is None) for a, b in zip(ours, theirs))
    keep_drop = [i for i in range(n) if ours[i] is None and theirs[i] is not None]
    drop_keep = [i for i in range(n) if ours[i] is not None and theirs[i] is None]
    print(f"\n## {title}{cost}")
    print(f"agreement keep/drop: {agree}/{n} = {100 * agree / n:.2f}%   "
          f"(we keep, ref drops: {len(keep_drop)}; we drop, ref keeps: {len(drop_keep)})")
    print(f"  drops ours: {sum(r is not None for r in ours)}  ref: {sum(r is not None for r in theirs)}")
    print(f"  reasons ours: {dict(Counter(r for r in ours if r).most_common())}")
    print(f"  reasons ref:  {dict(Counter(r for r in theirs if r).most_common())}")
    out = {"n": n, "agree": agree, "keep_drop": len(keep_drop), "drop_keep": len(drop_keep)}
    for label, idx in (("we keep, ref drops", keep_drop), ("we drop, ref keeps", drop_keep)):
        for i in idx[:n_examples]:
            print(f"  e.g. {label}: {docs[i]['url'][:90]}  ours={family(ours[i])} ref={family(theirs[i])}")
    if ours_text is not None and theirs_text is not None:
        both = [i for i in range(n) if ours[i] is None and theirs[i] is None]
        diff = [i for i in both if ours_text[i] != theirs_text[i]]
        eq = len(both) - len(diff)
        pct = 100 * eq / len(both) if both else 100.0
        changed = sum(theirs_text[i] != inputs[i] for i in both) if inputs is not None else 0
        print(f"byte-equal text where both keep: {eq}/{len(both)} = {pct:.2f}%  "
              f"(the reference changed {changed} of these texts)")
        for i in diff[:n_examples]:
            print(f"  e.g. text differs: {docs[i]['url'][:80]}  {first_diff(ours_text[i], theirs_text[i])}")
        out.update(text_equal=eq, text_both=len(both))
    return out


def funnel(title: str, steps: list[tuple[str, list, list]]) -> None:
    """Documents left after each step when each side's decisions are chained in recipe order."""
    print(f"\n## {title} funnel (documents left after each step; ours / reference)")
    alive_o = alive_t = None
    for name, ours, theirs in steps:
        n = len(ours)
        alive_o = [a and o is None for a, o in zip(alive_o or [True] * n, ours)]
        alive_t = [a and t is None for a, t in zip(alive_t or [True] * n, theirs)]
        print(f"  {name:28s} {sum(alive_o):6d} / {sum(alive_t):6d}")


def ensure_venv(venvs: Path, kind: str) -> Path:
    py = venvs / kind / "bin" / "python"
    if not py.exists():
        sys.exit(f"reference venv missing: {py}\n  create it with: make fidelity  (or make fidelity-venvs)")
    return py


def run_reference(kind: str, venvs: Path, docs_path: Path, out_path: Path, extra: list[str],
                  reuse: bool = False) -> tuple[dict, dict]:
    from filters.language import default_model_path

    py = ensure_venv(venvs, kind)
    cmd = [str(py), str(HERE), "--worker", kind, "--input", str(docs_path), "--output", str(out_path),
           "--lid-model", default_model_path(), *extra]
    t0 = time.perf_counter()
    if not (reuse and out_path.exists() and out_path.stat().st_mtime > docs_path.stat().st_mtime):
        subprocess.run(cmd, check=True, env={**os.environ, "PYTHONPATH": "", "HF_HUB_OFFLINE": "1"})
    wall = time.perf_counter() - t0
    rows = _read_jsonl(str(out_path))
    head = rows[0] | {"wall_s": wall}
    return head, {r["id"]: r for r in rows[1:]}


def dclm_section(docs: list[dict], ref: dict, n_ex: int, tmp: Path) -> list[tuple[str, dict]]:
    params = dict(recipe_params("dclm_baseline"))
    rows = [ref[d["id"]] for d in docs]
    text0 = [d["text"] for d in docs]
    text1 = [r["_text1"] for r in rows]
    results, steps = [], []
    for name, inputs, modifies in (
        ("url_filter", text0, False),
        ("refinedweb_preclean", text0, True),
        ("language", text1, False),
        ("gopher_quality", text1, False),
        ("gopher_repetition", text1, False),
        ("refinedweb_line_modifiers", text1, True),
    ):
        st = build(name, params[name])
        res, out_texts, cpu = run_ours(st, docs, inputs)
        theirs = [r[name] for r in rows]
        cost = f"  (curate {1000 * cpu / len(docs):.3f} ms/doc)"
        kw = {"ours_text": out_texts, "theirs_text": [r.get(f"{name}/text") for r in rows],
              "inputs": inputs} if modifies else {}
        results.append((f"dclm/{name}", compare(f"DCLM {name}", docs, res, theirs, n_ex, cost=cost, **kw)))
        steps.append((name, res, theirs))
    funnel("DCLM", steps)
    return results


def fineweb_section(docs: list[dict], ref: dict, n_ex: int, fineweb_lists: str) -> list[tuple[str, dict]]:
    params = dict(recipe_params("fineweb"))
    params["url_filter"] = params["url_filter"] | {"domain_lists": [fineweb_lists], "url_lists": [fineweb_lists]}
    rows = [ref[d["id"]] for d in docs]
    text0 = [d["text"] for d in docs]
    text2 = [r["_text2"] for r in rows]
    results, steps = [], []
    for name, inputs, modifies in (
        ("url_filter", text0, False),
        ("language", text0, False),
        ("gopher_repetition", text0, False),
        ("gopher_quality", text0, False),
        ("c4", text0, True),
        ("fineweb_quality", text2, False),
        ("pii", text0, True),
    ):
        st = build(name, params[name])
        res, out_texts, cpu = run_ours(st, docs, inputs)
        theirs = [r.get(name) for r in rows]
        cost = f"  (curate {1000 * cpu / len(docs):.3f} ms/doc)"
        kw = {"ours_text": out_texts, "theirs_text": [r.get(f"{name}/text") for r in rows],
              "inputs": inputs} if modifies else {}
        results.append((f"fineweb/{name}", compare(f"FineWeb {name}", docs, res, theirs, n_ex, cost=cost, **kw)))
        steps.append((name, res, theirs))
        if name == "pii":
            results.append(("fineweb/pii (any placeholder)", placeholder_equal(params["pii"], kw, n_ex, docs)))
    results.append(("fineweb/minhash", minhash_section(docs, rows, params["minhash"], n_ex)))
    funnel("FineWeb (per-document filters; MinHash above is over all texts)", steps)
    return results


def placeholder_equal(pii: dict, kw: dict, n_ex: int, docs: list[dict]) -> dict:
    """PII texts compared with every placeholder of a list read as its kind: datatrove takes the list in
    turn across the documents a worker happens to see, curate from a position set by the document id (so a
    run's output does not depend on the order of its shards); both put a placeholder of the list there."""
    subs = sorted(((p, f"<{k}>") for k in ("email", "phone", "ip")
                   for p in ([pii[k]] if isinstance(pii.get(k), str) else pii.get(k) or [])), key=lambda x: -len(x[0]))

    def norm(t: str) -> str:
        for p, tok in subs:
            t = t.replace(p, tok)
        return t

    ours, theirs = kw["ours_text"], kw["theirs_text"]
    eq = [norm(a) == norm(b) for a, b in zip(ours, theirs)]
    print(f"byte-equal with any placeholder of its list: {sum(eq)}/{len(eq)} = {100 * sum(eq) / len(eq):.2f}%")
    for i in [i for i, e in enumerate(eq) if not e][:n_ex]:
        print(f"  e.g. text differs: {docs[i]['url'][:80]}  {first_diff(norm(ours[i]), norm(theirs[i]))}")
    return {"n": len(eq), "agree": len(eq), "text_equal": sum(eq), "text_both": len(eq)}


def minhash_section(docs: list[dict], rows: list[dict], params: dict, n_ex: int) -> dict:
    """Which documents each side removes as near duplicates, and which it puts in a duplicate group (the
    document kept from a group differs by design: datatrove keeps the first, curate the longest)."""
    from curate.dedup.api import find_duplicates

    t0 = time.process_time()
    dup = find_duplicates([d["text"] for d in docs], "minhash", **params)
    cpu = time.process_time() - t0
    ours = ["minhash_duplicate" if i in dup else None for i in range(len(docs))]
    res = compare("FineWeb minhash (removed)", docs, ours, [r["minhash"] for r in rows], n_ex,
                  cost=f"  (curate {1000 * cpu / len(docs):.3f} ms/doc)")
    ours_g = {*dup, *dup.values()}
    theirs_g = {i for i, r in enumerate(rows) if r.get("minhash/cluster") is not None}
    both = len(ours_g & theirs_g)
    agree = len(docs) - len(ours_g ^ theirs_g)
    print(f"in a duplicate group: ours {len(ours_g)}, ref {len(theirs_g)}, both {both}; "
          f"agreement {agree}/{len(docs)} = {100 * agree / len(docs):.2f}%")
    return res


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        run_worker(sys.argv[2], sys.argv[3:])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=None, help="first N documents only (quick iterations)")
    ap.add_argument("--venvs", type=Path, default=DEFAULT_VENVS, help="folder holding the dclm/ and datatrove/ venvs")
    ap.add_argument("--examples", type=int, default=3)
    ap.add_argument("--only", choices=["dclm", "fineweb"], default=None)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/curate-fidelity-texts.jsonl"))
    ap.add_argument("--reuse-ref", action="store_true", help="reuse the references' outputs of the last run on "
                    "the same texts (iterating on curate's side only)")
    args = ap.parse_args()

    sys.path.insert(0, str(ROOT))
    tmp = args.venvs / "run"
    tmp.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if args.cache.exists():
        docs = _read_jsonl(str(args.cache))
    else:
        docs = extract_bench(None)
        with open(args.cache, "w", encoding="utf-8") as f:
            for d in docs:
                f.write(json.dumps(d, ensure_ascii=False) + "\n")
    if args.limit:
        docs = docs[: args.limit]
    docs_path = tmp / "docs.jsonl"
    payload = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs)
    if not (args.reuse_ref and docs_path.exists() and docs_path.read_text(encoding="utf-8") == payload):
        docs_path.write_text(payload, encoding="utf-8")
    n_warc = len(glob.glob(str(BENCH / "*.warc.gz")))
    print(f"# fidelity: curate vs DCLM and datatrove on {len(docs)} texts of {n_warc} bench WARC files "
          f"(resiliparse main content, one extraction for both sides; {time.perf_counter() - t0:.1f} s)")
    print(f"# machine: {platform.node()} {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}")
    summary: list[tuple[str, dict]] = []
    if args.only in (None, "dclm"):
        from filters.url import data_path

        dom = tmp / "ut1_domains.txt"
        import gzip

        dom.write_bytes(gzip.decompress(data_path("ut1_domains.txt.gz").read_bytes()))
        head, ref = run_reference("dclm", args.venvs, docs_path, tmp / "dclm.jsonl", ["--domain-list", str(dom)],
                                  args.reuse_ref)
        print(f"\n# DCLM reference (mlfoundations/dclm 361714b, ../shared/reference/dclm): {head['versions']}; "
              f"{1000 * head['cpu_s'] / max(1, head['n']):.2f} ms/doc for its whole chain")
        summary += dclm_section(docs, ref, args.examples, tmp)
    if args.only in (None, "fineweb"):
        lists = str(SHARED / "data" / "blocklists" / "fineweb" / "url_filterblacklistsv0_3_0.tar.gz")
        head, ref = run_reference("datatrove", args.venvs, docs_path, tmp / "datatrove.jsonl", [], args.reuse_ref)
        secs = ", ".join(f"{k} {1000 * v / max(1, head['n']):.2f}" for k, v in head.get("secs", {}).items())
        print(f"\n# datatrove reference (PyPI): {head['versions']}; ms/doc: {secs}")
        summary += fineweb_section(docs, ref, args.examples, lists)
    print("\n# summary: filter, keep/drop agreement, byte-equal text (modifiers)")
    for name, r in summary:
        te = f"{100 * r['text_equal'] / r['text_both']:.2f}%" if r.get("text_both") else "-"
        print(f"{name:36s} {100 * r['agree'] / r['n']:7.2f}%  {te:>8s}")


if __name__ == "__main__":
    main()
