"""Fidelity: curate's filters beside the reference code of DCLM and of FineWeb (datatrove), filter by filter.

One extraction (resiliparse main content, as curate's ``extract`` stage gives it) of every HTML response in
../shared/data/warc/bench/*.warc.gz is fed to both sides. Each reference runs in its own virtual environment
(``make fidelity`` creates them; they are never curate dependencies): this script starts
``fidelity_reference.py dclm|datatrove`` there and reads back one decision per document and filter (kept, or the reason) and
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

from fidelity_reference import read_jsonl  # the same JSONL the reference side writes

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]
SHARED = ROOT.parent / "shared"
BENCH = SHARED / "data" / "warc" / "bench"
DEFAULT_VENVS = Path(os.environ.get("CURATE_FIDELITY_VENVS", "/tmp/curate-fidelity"))
KEEP = None  # a decision: None = kept, else the reason string


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
    cmd = [str(py), str(HERE.parent / "fidelity_reference.py"), kind, "--input", str(docs_path), "--output", str(out_path),
           "--lid-model", default_model_path(), *extra]
    t0 = time.perf_counter()
    if not (reuse and out_path.exists() and out_path.stat().st_mtime > docs_path.stat().st_mtime):
        subprocess.run(cmd, check=True, env={**os.environ, "PYTHONPATH": "", "HF_HUB_OFFLINE": "1"})
    wall = time.perf_counter() - t0
    rows = read_jsonl(str(out_path))
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
        docs = read_jsonl(str(args.cache))
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
