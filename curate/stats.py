"""Per-stage counters for one shard, and the run-wide funnel built from the ``stats/`` files."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class StageStats:
    """Counts of one stage on one shard: documents and characters in/out, seconds, drops by reason."""

    name: str
    docs_in: int = 0
    docs_out: int = 0
    chars_in: int = 0
    chars_out: int = 0
    seconds: float = 0.0
    reasons: Counter = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "docs_in": self.docs_in,
            "docs_out": self.docs_out,
            "chars_in": self.chars_in,
            "chars_out": self.chars_out,
            "seconds": round(self.seconds, 4),
            "reasons": dict(self.reasons),
        }

    def merge(self, d: dict[str, Any]) -> None:
        self.docs_in += d["docs_in"]
        self.docs_out += d["docs_out"]
        self.chars_in += d.get("chars_in", 0)
        self.chars_out += d.get("chars_out", 0)
        self.seconds += d.get("seconds", 0.0)
        self.reasons.update(d.get("reasons", {}))


def load_stats(run_dir: str, storage_options: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every shard's stats JSON in a run directory (local or object storage), fetched in one batch."""
    from curate.rundir import RunDir

    run = RunDir(str(run_dir), storage_options)
    rels = run.glob("stats/*.json")
    if not rels:
        return []
    blobs = run.fresh().cat([run.full(r) for r in rels])  # one concurrent fetch on object stores
    return [json.loads(blobs[run.full(r)]) for r in rels]


def funnel(run_dir: str, storage_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Aggregate stats over shards: stage order preserved, per pass."""
    stages: dict[str, StageStats] = {}
    order: list[str] = []
    totals = {"shards": 0, "input_bytes": 0, "seconds": 0.0}
    totals["storage_retries"] = 0
    for s in sorted(load_stats(run_dir, storage_options), key=lambda s: (s.get("segment", 0), s.get("shard", 0))):
        totals["shards"] += 1 if s.get("segment", 0) == 0 else 0
        totals["input_bytes"] += s.get("input_bytes", 0)
        totals["seconds"] += s.get("seconds", 0.0)
        totals["storage_retries"] += s.get("storage_retries", 0)
        for st in s["stages"]:
            key = st["name"]
            if key not in stages:
                stages[key] = StageStats(key)
                order.append(key)
            stages[key].merge(st)
    return {"stages": [stages[k].to_dict() for k in order], **totals}


def format_funnel(f: dict[str, Any]) -> str:
    """The funnel as a terminal table."""
    rows = f["stages"]
    if not rows:
        return "no stats yet"
    first_in = rows[0]["docs_in"] or 1
    lines = [
        f"{'stage':<28}{'docs in':>10}{'docs out':>10}{'dropped':>9}{'kept %':>8}{'of input':>9}"
        f"{'MB in':>9}{'MB out':>9}{'seconds':>9}"
    ]
    for r in rows:
        dropped = r["docs_in"] - r["docs_out"]
        kept = 100.0 * r["docs_out"] / r["docs_in"] if r["docs_in"] else 100.0
        lines.append(
            f"{r['name']:<28}{r['docs_in']:>10,}{r['docs_out']:>10,}{dropped:>9,}{kept:>7.1f}%"
            f"{100.0 * r['docs_out'] / first_in:>8.1f}%{r['chars_in'] / 1e6:>9.1f}{r['chars_out'] / 1e6:>9.1f}"
            f"{r['seconds']:>9.1f}"
        )
        for reason, n in sorted(r["reasons"].items(), key=lambda kv: -kv[1]):
            lines.append(f"    {reason:<40}{n:>10,}")
    lines.append(
        f"{f['shards']} shards, {f['input_bytes'] / 1e6:.1f} MB of input, {f['seconds']:.1f} task-seconds "
        "(MB = millions of characters)"
    )
    return "\n".join(lines)
