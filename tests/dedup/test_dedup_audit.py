"""The dedup audit over a run directory laid out like the engine's."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from conftest import docs_from

from curate.dedup.audit import dedup_report, render_dedup_report
from curate.stage import build_stage
from curate.testing import run_global_stage


def test_report_lists_clusters_sources_and_warns(tmp_path: Path, paragraphs) -> None:
    docs = docs_from(paragraphs[:30])
    for k in range(4):  # a "mirror" source that is almost all copies of paragraph 5
        docs.append(
            {
                "id": f"m{k}",
                "text": paragraphs[5] + " Mirror copy.",
                "url": "https://mirror.example/",
                "source": "mirror",
            }
        )
    docs.append({"id": "m9", "text": paragraphs[40], "url": "https://mirror.example/", "source": "mirror"})
    run = tmp_path / "run"
    kept, dropped = run_global_stage(build_stage("minhash"), [docs[::2], docs[1::2]], run)
    for d in ("data", "rejected"):
        shutil.rmtree(run / d)
    (run / "data").mkdir()
    pq.write_table(pa.Table.from_pylist([d for s in kept for d in s]), run / "data" / "part-00000.parquet")
    (run / "rejected").mkdir()
    rej = [
        {
            "id": d["id"],
            "url": d.get("url"),
            "source": d.get("source"),
            "stage": "minhash",
            "reason": r,
            "duplicate_of": d["_duplicate_of"],
            "text": d["text"][:200],
        }
        for d, r in dropped
    ]
    pq.write_table(pa.Table.from_pylist(rej), run / "rejected" / "part-00000.parquet")

    rep = dedup_report(run, max_source_loss=0.5)["00-minhash"]
    assert rep["per_source"]["mirror"] == {"documents": 5, "removed": 3, "share_removed": 0.6}
    assert rep["per_source"]["src0"]["removed"] == 0
    assert len(rep["warnings"]) == 1 and "'mirror'" in rep["warnings"][0]
    big = rep["largest_clusters"][0]
    assert big["size"] == 5 and big["kept_text"] and len(big["removed_samples"]) == 3
    assert rep["cluster_size_histogram"] == {"5-9": 1}
    text = render_dedup_report(str(run))
    assert "WARNING" in text and "mirror" in text and "largest clusters" in text
