"""Every data file of a run has one schema, whatever the inputs do (issue 18, items 4 and 5)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq

from curate.runner import run

WIKI = Path(__file__).resolve().parents[1] / "data" / "dedup" / "wikitext2_paragraphs.txt"


def drifting_inputs(folder: Path) -> list[str]:
    """Three JSONL shards whose extra fields drift: null for 600 rows then set, int then float, a field only
    in one shard, and a shard whose documents are all dropped."""
    paras = [p for p in WIKI.read_text().split("\n") if len(p.split()) > 30]
    folder.mkdir()
    rows_a = [{"id": f"a{i}", "text": paras[i % len(paras)], "score": None if i < 600 else i * 0.5,
               "n": i if i < 700 else i + 0.25} for i in range(900)]
    rows_b = [{"id": f"b{i}", "text": paras[(i + 7) % len(paras)], "meta": {"k": [i, "x"]}, "n": 3}
              for i in range(50)]
    rows_c = [{"id": f"c{i}", "text": "too short", "only_here": True} for i in range(20)]
    for name, rows in (("a", rows_a), ("b", rows_b), ("c", rows_c)):
        with open(folder / f"{name}.jsonl", "w") as f:
            f.write("\n".join(json.dumps(r) for r in rows) + "\n")
    return [str(folder / "*.jsonl")]


def test_drifting_jsonl_gives_one_schema_readable_by_pandas_pyarrow_and_polars(tmp_path):
    import pandas as pd
    import polars as pl

    out = tmp_path / "out"
    res = run("quickstart", drifting_inputs(tmp_path / "in"), str(out), executor="local", progress=False,
              overrides=["length_filter.min_words=10"])
    assert res.ok, res.failed
    files = sorted((out / "data").glob("*.parquet"))
    assert len(files) == 3  # the shard that kept nothing still writes its (empty) file
    schemas = {pq.ParquetFile(f).schema_arrow for f in files}
    assert len(schemas) == 1
    (schema,) = schemas
    assert "extra" in schema.names and "content_type" in schema.names
    assert pq.ParquetFile(files[2]).metadata.num_rows == 0
    t = ds.dataset(str(out / "data"), format="parquet").to_table()
    assert t.num_rows == 950
    df = pd.read_parquet(out / "data")
    assert len(df) == 950 and list(df.columns) == schema.names
    pf = pl.read_parquet(str(out / "data" / "*.parquet"))
    assert pf.height == 950
    extras = {r["id"]: json.loads(r["extra"]) for r in t.to_pylist() if r["extra"]}
    assert extras["a650"]["score"] == 325.0 and extras["a10"].get("score") is None  # no value lost, no type
    assert extras["a750"]["n"] == 750.25 and extras["a5"]["n"] == 5  # 0.5 stays 0.5, ints stay ints
    assert extras["b3"]["meta"] == {"k": [3, "x"]}
