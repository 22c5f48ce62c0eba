"""Dedup audit: what did deduplication remove, from where, and does any source lose too much?

``dedup_report(path)`` takes a run directory (it finds ``global/NN-minhash`` and ``global/NN-exact_dedup``
workdirs) or one stage workdir, and returns a dict per stage: the reduce summary, the cluster-size histogram,
the largest clusters with sample texts (kept rows from ``data/``, removed rows from ``rejected/``), and the
share of documents removed per source and per domain (denominator: the rows the stage collected), with a
warning for every source that loses more than ``max_source_loss`` — the failure users hit with DCLM's and
Marin's dedup. ``render_dedup_report`` renders it as text for ``curate dedup-report RUN_DIR``.
"""

from __future__ import annotations

import posixpath
from collections import Counter
from typing import Any

import pyarrow as pa

from curate.rundir import Folder, RunDir

_STAGES = ("minhash", "exact_dedup")


def _workdirs(path: Folder) -> list[Folder]:
    if path.exists("collect") or path.exists("summary.json"):
        return [path]
    return [path.sub(p) for p in path.glob("global/*-*") if any(p.endswith(f"-{s}") for s in _STAGES)]


def _read_all(folder: Folder, rel: str, columns: list[str]) -> pa.Table | None:
    tables = []
    for f in folder.glob(f"{rel}/*.parquet"):
        have = folder.schema(f).names
        tables.append(folder.read_table(f, columns=[c for c in columns if c in have]))
    return pa.concat_tables(tables, promote_options="default") if tables else None


def _snippet(text: str | None, n: int = 160) -> str:
    return " ".join((text or "").split())[:n]


def _stage_report(wd: Folder, run_dir: Folder | None, top: int, max_source_loss: float) -> dict[str, Any]:
    summary = wd.read_json("summary.json") if wd.exists("summary.json") else {}
    collected = _read_all(wd, "collect", ["id", "source", "domain"])
    members = _read_all(wd, "remove", ["id", "kept_id", "cluster_size"])
    members = members.to_pylist() if members is not None else []
    removed_ids = {m["id"] for m in members if m["id"] != m["kept_id"]}
    per_source: dict[str, dict[str, Any]] = {}
    per_domain: Counter[str] = Counter()
    per_domain_total: Counter[str] = Counter()
    if collected is not None:
        for i, src, dom in zip(
            *(collected.column(c).to_pylist() for c in ("id", "source", "domain")), strict=True
        ):
            s = per_source.setdefault(str(src), {"documents": 0, "removed": 0})
            s["documents"] += 1
            per_domain_total[str(dom)] += 1
            if i in removed_ids:
                s["removed"] += 1
                per_domain[str(dom)] += 1
    warnings = []
    for src, s in sorted(per_source.items()):
        s["share_removed"] = s["removed"] / s["documents"] if s["documents"] else 0.0
        if s["share_removed"] > max_source_loss:
            warnings.append(
                f"source {src!r} loses {s['share_removed']:.1%} of its documents to {summary.get('stage', posixpath.basename(wd.url))} "
                f"(> {max_source_loss:.0%}): check for a systematic collision (templates, boilerplate)"
            )
    domains = sorted(per_domain.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    clusters: dict[str, list[str]] = {}
    for m in members:
        clusters.setdefault(m["kept_id"], []).append(m["id"])
    largest = sorted(clusters.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:top]
    texts = _sample_texts(run_dir, {i for _, ms in largest for i in ms}) if run_dir else {}
    return {
        "workdir": wd.url,
        "summary": summary,
        "cluster_size_histogram": summary.get("cluster_size_histogram", {}),
        "largest_clusters": [
            {
                "kept_id": k,
                "size": len(ms),
                "kept_text": texts.get(k, ""),
                "removed_samples": [{"id": i, "text": texts.get(i, "")} for i in sorted(ms) if i != k][:3],
            }
            for k, ms in largest
        ],
        "per_source": per_source,
        "top_domains_removed": [
            {"domain": d, "removed": n, "share_removed": n / per_domain_total[d]} for d, n in domains
        ],
        "warnings": warnings,
    }


def _sample_texts(run_dir: Folder, ids: set[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for folder in ("data", "rejected"):
        t = _read_all(run_dir, folder, ["id", "text"])
        if t is None:
            continue
        for i, x in zip(t.column("id").to_pylist(), t.column("text").to_pylist(), strict=True):
            if i in ids and i not in out:
                out[i] = _snippet(x)
    return out


def dedup_report(
    path: str, top: int = 10, max_source_loss: float = 0.5, storage_options: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Audit of every dedup stage under a run directory (or of one stage folder): ``{stage dir: report}``.

    ``path`` is local or any fsspec URL (a run on object storage)."""
    url = str(path).rstrip("/")
    folder = RunDir(url, storage_options)
    parent = posixpath.dirname(url)
    if folder.glob("global/*"):
        run_dir: Folder | None = folder
    elif posixpath.basename(parent) == "global":
        run_dir = RunDir(posixpath.dirname(parent), storage_options)
    else:
        run_dir = None
    return {
        posixpath.basename(wd.url): _stage_report(wd, run_dir, top, max_source_loss) for wd in _workdirs(folder)
    }


def render_dedup_report(
    run_dir: str, top: int = 10, max_source_loss: float = 0.5, storage_options: dict[str, Any] | None = None
) -> str:
    """The audit as text (``curate dedup-report RUN_DIR``)."""
    report = dedup_report(run_dir, top, max_source_loss, storage_options)
    if not report:
        return f"no dedup stage outputs under {run_dir}"
    lines: list[str] = []
    for name, r in report.items():
        s = r["summary"]
        lines += [f"== {name} ==", f"documents {s.get('documents', '?')}, removed {s.get('removed', '?')}"]
        for w in r["warnings"]:
            lines.append(f"WARNING: {w}")
        if r["cluster_size_histogram"]:
            lines.append(
                "cluster sizes: " + ", ".join(f"{k}: {v}" for k, v in r["cluster_size_histogram"].items())
            )
        lines.append("removed per source:")
        for src, v in sorted(r["per_source"].items(), key=lambda kv: -kv[1]["share_removed"]):
            lines.append(f"  {src:30s} {v['removed']:>8d} / {v['documents']:<8d} {v['share_removed']:6.1%}")
        if r["top_domains_removed"]:
            lines.append("domains losing most documents:")
            for d in r["top_domains_removed"]:
                lines.append(f"  {d['domain']:30s} {d['removed']:>8d} {d['share_removed']:6.1%}")
        lines.append(f"largest clusters (top {top}):")
        for c in r["largest_clusters"]:
            lines.append(f"  [{c['size']}] kept {c['kept_id']}: {c['kept_text']}")
            for rm in c["removed_samples"]:
                lines.append(f"      removed {rm['id']}: {rm['text']}")
        lines.append("")
    return "\n".join(lines)


def main(run_dir: str, top: int = 10, max_source_loss: float = 0.5) -> int:
    print(render_dedup_report(run_dir, top, max_source_loss))
    return 0
