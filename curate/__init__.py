"""curate: web crawls → clean, deduplicated, quality-scored Parquet → tokenizer → GPT.

The one-liners of :mod:`curate.api` are available here (``curate.extract_text(html)``, …), imported on
first use so that ``import curate`` stays cheap in every worker.
"""

from __future__ import annotations

from typing import Any

_API = {
    "extract_text": "curate.api",
    "identify_language": "curate.api",
    "check": "curate.api",
    "mask_pii": "curate.api",
    "quality_score": "curate.api",
    "describe_plan": "curate.api",
    "dedup_texts": "curate.dedup.api",
    "dedup_lines": "curate.dedup.api",
    "find_duplicates": "curate.dedup.api",
    "dedup_files": "curate.dedup.api",
    "run_documents": "curate.local",
    "run": "curate.runner",
    "build_stage": "curate.stage",
}

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'curate' has no attribute {name!r}")
