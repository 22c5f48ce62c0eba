"""Fixtures for the dedup tests: real text copied into tests/data/dedup (see tests/data/README.md)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "data" / "dedup"


@pytest.fixture(scope="session")
def paragraphs() -> list[str]:
    """160 real Wikipedia paragraphs (WikiText-2, CC BY-SA) of at least 80 words."""
    return (DATA / "wikitext2_paragraphs.txt").read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="session")
def entries() -> list[str]:
    """Entries of The Devil's Dictionary (public domain), blank-line separated blocks of 30+ words."""
    text = (DATA / "devils_dictionary_excerpt.txt").read_text(encoding="utf-8")
    return [b.strip() for b in text.split("\n\n") if len(b.split()) >= 30]


def edit_words(text: str, rate: float, seed: int) -> str:
    """Replace about ``rate`` of the words with other words of the same text (a realistic small edit)."""
    rng = random.Random(seed)
    words = text.split()
    for _ in range(max(1, round(len(words) * rate))):
        words[rng.randrange(len(words))] = words[rng.randrange(len(words))]
    return " ".join(words)


def docs_from(texts: list[str], prefix: str = "d") -> list[dict]:
    return [
        {
            "id": f"{prefix}{i:04d}",
            "text": t,
            "url": f"https://www.site{i % 5}.example/{i}",
            "source": f"src{i % 2}",
        }
        for i, t in enumerate(texts)
    ]
