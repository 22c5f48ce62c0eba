"""Fixtures for the filter tests: real documents copied into tests/data/filters (see tests/data/README.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "data" / "filters"


def load_jsonl(name: str) -> list[dict]:
    with open(DATA / name, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="session")
def dclm_docs() -> dict[str, dict]:
    """18 real Common Crawl pages from DCLM's human-labelled set (MIT), by id (``dclm-<row>``)."""
    return {d["id"]: d for d in load_jsonl("dclm_docs.jsonl")}


@pytest.fixture(scope="session")
def udhr() -> dict[str, str]:
    """The first 1,500 characters of the UDHR in 12 languages, by BCP 47 code."""
    return {d["bcp47"]: d["text"] for d in load_jsonl("udhr_sample.jsonl")}


@pytest.fixture(scope="session")
def prose(dclm_docs) -> list[str]:
    """Whitespace tokens of a real English page (dclm-3, kept by every DCLM filter), in order."""
    return dclm_docs["dclm-3"]["text"].split()
