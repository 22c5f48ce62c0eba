"""The one Arrow schema of curate's Parquet shards.

Every shard has the base columns (``id``, ``text``, ``url``, ``date``, ``source``). Stages add their own
columns; each known stage column is declared here once, with its type, so that every shard that carries it
carries it with the same type and pandas, polars, DuckDB and Hugging Face ``datasets`` read it as is.
A stage may also add a column not listed here: its type is then inferred by Arrow (declare it here to
pin it).
"""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa

# A document is a plain dict: {"id": str, "text": str, "url": str, "date": str, "source": str, ...}.
# Plain dicts are the cheapest thing to pass between fused stages in one process; the Arrow schema is
# applied once per batch when the shard is written.
Document = dict

BASE_FIELDS: list[pa.Field] = [
    pa.field("id", pa.string(), nullable=False),
    pa.field("text", pa.string(), nullable=False),
    pa.field("url", pa.string()),
    pa.field("date", pa.string()),  # WARC-Date, ISO 8601 as written in the record
    pa.field("source", pa.string()),  # input file name
]

# Columns written by stages, declared once. Keep names stable: recipes and reports rely on them.
STAGE_FIELDS: list[pa.Field] = [
    pa.field("content_type", pa.string()),
    pa.field("charset", pa.string()),
    pa.field("extractor", pa.string()),
    pa.field("language", pa.string()),
    pa.field("language_score", pa.float32()),
    pa.field("quality_score", pa.float32()),
    pa.field("word_count", pa.int32()),
    pa.field("pii_count", pa.int32()),
    pa.field("words_removed_ratio", pa.float32()),
    pa.field("content_hash", pa.string()),
    pa.field("dup_cluster", pa.string()),
    pa.field("dup_cluster_size", pa.int32()),
    pa.field("pii_email", pa.int32()),
    pa.field("pii_phone", pa.int32()),
    pa.field("pii_ip", pa.int32()),
]

SCHEMA_FIELDS: dict[str, pa.Field] = {f.name: f for f in BASE_FIELDS + STAGE_FIELDS}
BASE_COLUMNS: list[str] = [f.name for f in BASE_FIELDS]

# Rejected rows: enough to explain every drop.
REJECTED_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string()),
        pa.field("url", pa.string()),
        pa.field("source", pa.string()),
        pa.field("stage", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("duplicate_of", pa.string()),  # the id kept in its place (dedup stages)
        pa.field("text", pa.string()),  # a snippet, for the report's samples of dropped documents
    ]
)

# Fields present only in memory between stages, never written (e.g. the raw HTML payload).
TRANSIENT_PREFIX = "_"


def field_for(name: str, sample: object) -> pa.Field:
    """The declared field for a column, or one inferred from a sample value."""
    if name in SCHEMA_FIELDS:
        return SCHEMA_FIELDS[name]
    return pa.field(name, pa.infer_type([sample]) if sample is not None else pa.null())


def schema_for(columns: Iterable[str], samples: dict[str, object] | None = None) -> pa.Schema:
    """The schema of a shard holding ``columns``: base columns first, then the rest in given order."""
    samples = samples or {}
    extra = [c for c in columns if c not in BASE_COLUMNS and not c.startswith(TRANSIENT_PREFIX)]
    return pa.schema(BASE_FIELDS + [field_for(c, samples.get(c)) for c in extra])


def docs_to_table(docs: list[Document], schema: pa.Schema | None = None) -> pa.Table:
    """Build an Arrow table from documents; missing values become nulls, transient fields are dropped."""
    if schema is None:
        columns: dict[str, object] = {}
        for d in docs:
            for k, v in d.items():
                if k not in columns or columns[k] is None:
                    columns[k] = v
        schema = schema_for(columns, columns)
    arrays = [pa.array([d.get(f.name) for d in docs], type=f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def table_to_docs(table: pa.Table) -> list[Document]:
    """Documents from an Arrow table (one dict per row)."""
    return table.to_pylist()
