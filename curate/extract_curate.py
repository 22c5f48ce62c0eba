"""``method: curate``: resiliparse's main content, then a boilerplate pass over its blocks.

resiliparse finds the main-content region fast but keeps too much around it (menus, share bars, bylines,
related links, footers); trafilatura removes those well at a fraction of the speed. This extractor runs
resiliparse once (main content, no comment sections, no alt texts, ``minimal_html`` output so that block
types and links survive), splits its output into blocks and scores each block with a small model on cheap
signals: length, link density, stop words, punctuation, digits, block type, position in the page by text
mass, neighbouring blocks, repetition, and the log-odds of the block's words (content vs. boilerplate).
The model is one hidden ReLU layer (three networks of 32 units, averaged: one layer of 96) over those
features and the same signals of the blocks two before and two after. Blocks scoring under the threshold
are dropped; the rest is joined as plain text, one block per line (list items with a bullet).

The weights (``curate/extract_curate_model.py``, generated) were fitted by
``benchmarks/train_extract_curate.py`` on the even-indexed pages of the dev sets under
``../shared/data/html/`` (block labels from their gold text and snippets); the script prints the figures on
the odd-indexed half. ``benchmarks/bench_extract_quality.py`` compares the result with resiliparse and
trafilatura. The per-block signals read C-level helpers only (``str.count``, set intersections, ``map``):
their plain twin is ``tests/core/test_extract.py::_plain_block_features``.
"""

from __future__ import annotations

import html as _html
import math
import re

import numpy as np

from curate import extract_curate_model as _model

_BLOCK_TAG = re.compile(r"^<(h[1-6]|p|ul|ol|pre|blockquote|table)\b", re.I)
_LINK = re.compile(r"<a\b[^>]*>(.*?)</a>", re.S | re.I)
_TAG = re.compile(r"<[^>]+>")
_LI = re.compile(r"<li\b[^>]*>", re.I)
_WORD = re.compile(r"\w+")
_WS = re.compile(r"[ \t\r\f\v\xa0]+")
_TERMINAL = tuple('.!?:;"”»)…。')
# Frequent function words of the languages most common in the dev sets and in Common Crawl.
STOP_WORDS = frozenset(
    """the of and to a in is that for it as was with be by on not he i this are or his from at which but
    have an they you were her she there been one all we their has would when if will its more can who
    also about what other into than them these so our your only some new may most after could my our
    der die und in den von zu das mit sich des auf für ist im dem nicht ein eine als auch es an werden aus
    er hat dass sie nach wird bei einer um am sind noch wie einem über einen so zum war haben nur oder
    le la les de des et un une du en est que qui dans pour pas sur au par plus ne se ce il sont avec
    el los las y del que en un por con una para es al lo como más pero sus le ya o este
    di che il non per una sono della con si da io ma gli nel alla anche""".split()
)

#: A block is kept when the model's P(content) is at least this.
THRESHOLD: float = getattr(_model, "THRESHOLD", 0.6)

FEATURES = (
    "log_words",
    "link_density",
    "stop_ratio",
    "terminal",
    "punct_per_word",
    "heading",
    "list",
    "bare",
    "pos_mass",
    "mass_after",
    "edge",
    "prev_log_words",
    "prev_link_density",
    "next_log_words",
    "next_link_density",
    "digit_ratio",
    "title_case",
    "repeated",
    "page_log_words",
    "short",
    "copyright_or_bar",
    "word_score",
    "word_score_min",
    "before_first_long",
    "after_last_long",
)
#: Features of the blocks two before and two after that each block also sees.
CONTEXT = ("log_words", "link_density", "stop_ratio", "terminal", "word_score")
_CONTEXT_COLS = [FEATURES.index(f) for f in CONTEXT]
#: Words that mark content (> 0) or boilerplate (< 0) blocks (log-odds), and the network's weights.
WORD_SCORES: dict[str, float] = dict(_model.WORD_SCORES)
NET: dict[str, np.ndarray] = {}
_HEAD_CHARS = 300  # the per-word signals read the start of a block only: they saturate, and cost per word


def split_blocks(minimal_html: str) -> list[tuple[str, str, int]]:
    """resiliparse ``minimal_html`` output → ``(kind, plain text, link characters)`` per block.

    ``kind`` is ``h`` (heading), ``li`` (a list), ``p`` (paragraph, pre, quote, table) or ``""`` (bare text).
    """
    out = []
    for raw in minimal_html.split("\n\n"):
        raw = raw.strip()
        if not raw:
            continue
        m = _BLOCK_TAG.match(raw)
        tag = m.group(1).lower() if m else ""
        kind = "h" if tag.startswith("h") else "li" if tag in ("ul", "ol") else ("p" if tag else "")
        links = sum(map(len, _LINK.findall(raw))) if "<a" in raw else 0
        if kind == "li":
            raw = _LI.sub("\n• ", raw)
        text = _TAG.sub("", raw) if "<" in raw else raw
        if "&" in text:
            text = _html.unescape(text)
        if "\xa0" in text or "  " in text or "\t" in text:
            text = _WS.sub(" ", text)
        text = text.strip()
        if "\n" in text:
            text = "\n".join(ln for ln in map(str.strip, text.split("\n")) if ln)
        if text:
            out.append((kind, text, links))
    return out


def block_features(blocks: list[tuple[str, str, int]]) -> list[list[float]]:
    """One feature vector (in :data:`FEATURES` order) per block."""
    base = []
    seen: set[str] = set()
    scores = WORD_SCORES
    for kind, text, links in blocks:
        n = len(text.split())
        nchar = max(1, len(text))
        head = text[:_HEAD_CHARS]
        words = _WORD.findall(head)
        lower = "\0".join(words).lower().split("\0")
        nh = max(1, len(words))
        hits = scores.keys() & set(lower)  # per-word signals through C-level set and map calls only
        ws = [scores[w] for w in hits]
        key = text.lower()
        base.append(
            (
                n,
                min(1.0, links / nchar),
                sum(map(STOP_WORDS.__contains__, lower)) / nh,
                float(text.endswith(_TERMINAL)),
                (head.count(",") + head.count(".")) / nh,
                kind,
                sum(map(head.count, "0123456789")) / max(1, len(head)),
                sum(map(str.istitle, words)) / nh,
                float(key in seen),
                float("©" in head or "|" in head),
                sum(ws) / len(ws) if ws else 0.0,
                min(ws) if ws else 0.0,
            )
        )
        seen.add(key)
    total = sum(b[0] for b in base) or 1
    page_log = math.log1p(total)
    long_blocks = [i for i, b in enumerate(base) if b[0] >= 40 and b[1] < 0.3]
    first_long = long_blocks[0] if long_blocks else 0
    last_long = long_blocks[-1] if long_blocks else len(base)
    feats = []
    before = 0
    last = len(base) - 1
    for i, (n, ld, sr, term, ppw, kind, dr, tc, rep, boil, wsc, wmin) in enumerate(base):
        prev = base[i - 1] if i > 0 else (0, 1.0)
        nxt = base[i + 1] if i < last else (0, 1.0)
        feats.append(
            [
                math.log1p(n),
                ld,
                sr,
                term,
                ppw,
                float(kind == "h"),
                float(kind == "li"),
                float(kind == ""),
                (before + n / 2) / total,
                (total - before - n) / total,
                float(i == 0 or i == last),
                math.log1p(prev[0]),
                prev[1],
                math.log1p(nxt[0]),
                nxt[1],
                dr,
                tc,
                rep,
                page_log,
                float(n < 5),
                boil,
                wsc,
                wmin,
                float(i < first_long),
                float(i > last_long),
            ]
        )
        before += n
    return feats


def page_matrix(blocks: list[tuple[str, str, int]]) -> np.ndarray:
    """The model's input: each block's features, then :data:`CONTEXT` of the blocks at -2 and +2."""
    f = np.asarray(block_features(blocks), dtype=np.float64).reshape(len(blocks), len(FEATURES))
    ctx = np.zeros((len(blocks) + 4, len(_CONTEXT_COLS)))
    ctx[2:-2] = f[:, _CONTEXT_COLS]
    return np.hstack([f, ctx[:-4], ctx[4:]])


def prepare_net(net: dict) -> dict[str, np.ndarray]:
    """Weights as numpy arrays, the input standardisation folded into the first layer."""
    mean, scale = np.asarray(net["mean"]), np.asarray(net["scale"])
    w1 = np.asarray(net["w1"]) / scale[:, None]
    return {"w1": w1, "b1": np.asarray(net["b1"]) - mean @ w1, "w2": np.asarray(net["w2"]), "b2": net["b2"]}


def content_probability(blocks: list[tuple[str, str, int]]) -> np.ndarray:
    """P(content) of each block (one hidden ReLU layer over :func:`page_matrix`)."""
    if not blocks:
        return np.zeros(0)
    if not NET:
        NET.update(prepare_net(_model.NET))
    h = np.maximum(0.0, page_matrix(blocks) @ NET["w1"] + NET["b1"])
    return 1.0 / (1.0 + np.exp(-np.clip(h @ NET["w2"] + NET["b2"], -30, 30)))


def keep_blocks(blocks: list[tuple[str, str, int]]) -> list[bool]:
    """Which blocks the model keeps."""
    return (content_probability(blocks) >= THRESHOLD).tolist()


def resiliparse_blocks(html: str) -> list[tuple[str, str, int]]:
    from resiliparse.extract.html2text import extract_plain_text

    out = extract_plain_text(
        html,
        preserve_formatting="minimal_html",
        main_content=True,
        links=True,
        comments=False,
        alt_texts=False,
    )
    return split_blocks(out)


def extract_curate(html: str) -> str:
    """Main text of ``html``: resiliparse's main content without the blocks the model calls boilerplate."""
    blocks = resiliparse_blocks(html)
    return "\n".join(text for (_, text, _), k in zip(blocks, keep_blocks(blocks)) if k)
