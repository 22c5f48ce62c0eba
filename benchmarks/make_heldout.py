"""Held-out clean text for `curate ablate`: Wikipedia and news prose never used in training or classifier fitting.

The stand-in quality classifier was fitted on WikiText-2 valid and the Gutenberg books of ../shared/data/text;
this file takes *other* clean prose from the same folder: the English Wikipedia excerpt (wiki markup stripped
to plain paragraphs) and the Lee news corpus (gensim test data).

    python benchmarks/make_heldout.py --output /tmp/heldout.txt [--chars 200000]     # the mix alone
    python benchmarks/make_heldout.py --output-dir /tmp/heldout/                     # + wiki.txt, news.txt

The second form writes the default sets of the README's ablation: the mix (``heldout.txt``, byte for byte
what the first form writes), and two sets disjoint from it and from each other: more Wikipedia
(``wiki.txt``) and the rest of the news corpus (``news.txt``).
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


def take(paragraphs: list[str], chars: int) -> tuple[list[str], list[str]]:
    """The first paragraphs that reach ``chars`` characters, and the rest."""
    n = 0
    for i, p in enumerate(paragraphs):
        n += len(p)
        if n >= chars:
            return paragraphs[: i + 1], paragraphs[i + 1 :]
    return paragraphs, []


def held_out_sets(chars: int = 200_000) -> dict[str, str]:
    """The default held-out sets of `curate ablate`, disjoint from each other:

    ``heldout``: the first ``chars`` of Wikipedia paragraphs and of news (the one set of earlier ablations);
    ``wiki``: the next ``chars`` of Wikipedia; ``news``: the rest of the news corpus (up to ``chars``).
    """
    wiki, rest = take(wiki_paragraphs(TEXT / "enwiki-excerpt.xml.bz2"), chars)
    more_wiki, _ = take(rest, chars)
    news = (TEXT / "lee-news.txt").read_text(encoding="utf-8")
    more_news = news[chars : 2 * chars]
    return {
        "heldout": "\n\n".join(wiki) + "\n\n" + news[:chars],
        "wiki": "\n\n".join(more_wiki),
        "news": more_news[more_news.find("\n") + 1 :],  # from the first whole line after the cut
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    out = ap.add_mutually_exclusive_group(required=True)
    out.add_argument("--output", help="write the `heldout` set alone to this file")
    out.add_argument("--output-dir", help="write every set (heldout, wiki, news) as NAME.txt in this folder")
    ap.add_argument("--chars", type=int, default=200_000, help="characters from each source per set")
    args = ap.parse_args()
    sets = held_out_sets(args.chars)
    if args.output:
        sets = {"heldout": sets["heldout"]}
        paths = {"heldout": Path(args.output)}
    else:
        Path(args.output_dir).mkdir(parents=True, exist_ok=True)
        paths = {name: Path(args.output_dir) / f"{name}.txt" for name in sets}
    for name, text in sets.items():
        paths[name].write_text(text, encoding="utf-8")
        print(f"wrote {paths[name]}: {len(text):,} chars ({name})")


if __name__ == "__main__":
    main()
