"""Held-out clean text for `curate ablate`: Wikipedia and news prose never used in training or classifier fitting.

The stand-in quality classifier was fitted on WikiText-2 valid and the Gutenberg books of ../shared/data/text;
this file takes *other* clean prose from the same folder: the English Wikipedia excerpt (wiki markup stripped
to plain paragraphs) and the Lee news corpus (gensim test data).

    python benchmarks/make_heldout.py --output /tmp/heldout.txt [--chars 200000]
"""

from __future__ import annotations

import argparse
import bz2
import html
import re
from pathlib import Path

TEXT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "text"


def wiki_paragraphs(path: Path) -> list[str]:
    raw = html.unescape(bz2.open(path, "rt", encoding="utf-8").read())
    out = []
    for page in re.findall(r"<text[^>]*>(.*?)</text>", raw, flags=re.S):
        t = page
        for _ in range(3):  # nested templates
            t = re.sub(r"\{\{[^{}]*\}\}", "", t)
        t = re.sub(r"<ref[^>]*/>|<ref[^>]*>.*?</ref>", "", t, flags=re.S)
        t = re.sub(r"<[^>]+>", "", t)
        t = re.sub(r"\[\[(?:File|Image|Category):[^\]]*\]\]", "", t)
        t = re.sub(r"\[\[(?:[^\]|]*\|)?([^\]]*)\]\]", r"\1", t)
        t = re.sub(r"\[https?://\S+ ([^\]]*)\]", r"\1", t)
        t = re.sub(r"'{2,}", "", t)
        for para in t.split("\n"):
            para = para.strip()
            if len(para) > 200 and not para.startswith(("=", "|", "{", "*", "!", "#")):
                out.append(para)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--output", required=True)
    ap.add_argument("--chars", type=int, default=200_000, help="characters from each source")
    args = ap.parse_args()
    wiki, n = [], 0
    for p in wiki_paragraphs(TEXT / "enwiki-excerpt.xml.bz2"):
        wiki.append(p)
        n += len(p)
        if n >= args.chars:
            break
    news = (TEXT / "lee-news.txt").read_text(encoding="utf-8")[: args.chars]
    Path(args.output).write_text("\n\n".join(wiki) + "\n\n" + news, encoding="utf-8")
    print(f"wrote {args.output}: {n:,} chars of Wikipedia, {len(news):,} chars of news")


if __name__ == "__main__":
    main()
