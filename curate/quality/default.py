"""The default classifier recipe: a stand-in for DCLM's OH-2.5+ELI5 model, built from ``../shared/data``.

DCLM's positives (OpenHermes-2.5 instructions + r/ELI5 answers) are not available here, so the stand-in
learns "edited prose vs. what the crawl gives":

- positives (``__label__hq``): Wikipedia prose from WikiText-2 (CC BY-SA 3.0; its tokenisation is undone:
  ``@-@`` → ``-``, no space before punctuation, ``<unk>`` removed) and public-domain Gutenberg books (header
  and licence footer cut), both grouped into documents of ~200 words;
- negatives (``__label__cc``): pages of the benchmark WARCs extracted exactly as the pipeline extracts them
  (resiliparse main content), only from sources whose licence allows redistribution (Apache-2.0/MIT test
  pages: trafilatura-eval, mozilla-readability, aut, dolma, resiliparse, dclm, whirlwind, jwarc), at least
  20 words each. ``with_nltk`` adds nltk's webtext and nps_chat (informal web/chat text) — nps_chat is for
  non-commercial research only, so a model built with it stays local and is never committed.

``enwiki-excerpt.xml.bz2`` is not used: it is raw wiki markup, and WikiText-2 already gives Wikipedia prose.
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
DEFAULT_PARAMS = {"dim": 16, "epoch": 10, "wordNgrams": 2, "lr": 0.1, "bucket": 200_000, "minCount": 1}

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


def crawl_docs(bench_dir: Path, min_words: int = 20) -> list[str]:
    """Main-content text of the licence-compatible HTML pages of the bench WARCs (resiliparse)."""
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
                text = extract_resiliparse(html, main_content=True)
                if len(text.split()) >= min_words:
                    docs.append(text)
    return docs


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
) -> dict[str, Any]:
    """Build the default classifier from ``data`` (``../shared/data``); quantized if output ends in .ftz."""
    data = Path(data)
    if not (data / "text" / "wikitext2-valid.txt").exists():
        raise FileNotFoundError(
            f"{data} does not look like the shared data folder (no text/wikitext2-valid.txt)"
        )
    rng = random.Random(seed)

    def cap(docs: list[str], n: int) -> list[str]:
        return rng.sample(docs, n) if len(docs) > n else docs

    books = sorted((data / "text" / "gutenberg").glob("pg*.txt"))
    positive = {
        "wikitext2-valid.txt (CC BY-SA 3.0)": cap(
            wikitext_docs(data / "text" / "wikitext2-valid.txt"), per_source_cap
        )
    }
    for book in books:  # books share one cap, evenly
        positive[f"gutenberg/{book.name} (public domain)"] = cap(
            gutenberg_docs(book), per_source_cap // len(books)
        )
    negative = {"warc/bench main-content pages, Apache-2.0/MIT sources": crawl_docs(data / "warc" / "bench")}
    if with_nltk:
        negative["nltk webtext.zip (no licence stated; local only)"] = nltk_docs(
            data / "text" / "nltk" / "webtext.zip"
        )
        negative["nltk nps_chat.zip (non-commercial; local only)"] = nltk_docs(
            data / "text" / "nltk" / "nps_chat.zip"
        )
    card_extra = {
        "recipe": "curate quality build-default" + (" --with-nltk" if with_nltk else ""),
        "stand_in_for": "DCLM fasttext_oh_eli5.bin (OpenHermes-2.5 + ELI5 vs RefinedWeb)",
        "redistributable": not with_nltk,
    }
    return train_classifier(
        positive,
        negative,
        output,
        params={**DEFAULT_PARAMS, **(params or {})},
        seed=seed,
        quantize=str(output).endswith(".ftz"),
        quantize_cutoff=50_000,
        extra_card=card_extra,
    )
