"""The one Arrow schema of curate's Parquet shards.

Every shard has the base columns (``id``, ``text``, ``url``, ``date``, ``source``). Stages add their own
columns; each known stage column is declared here once, with its type, so that every shard that carries it
carries it with the same type and pandas, polars, DuckDB and Hugging Face ``datasets`` read it as is.
A stage may also add a column not listed here: its type is then inferred by Arrow (declare it here to
pin it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pyarrow as pa

# A document is a plain dict. Plain dicts are the cheapest thing to pass between fused stages in one process;
# the Arrow schema is applied once per batch when the shard is written. Its keys:
#
#   id, text, url, date, source   the base columns (BASE_FIELDS below); id and text are always set
#   <stage columns>               what stages write (STAGE_FIELDS below: language, quality_score, …)
#   <other fields>                fields of a JSONL/Parquet input that no stage declares: written together
#                                 as one JSON object in the ``extra`` column (so every file has one schema)
#   _html                         raw payload bytes of a WARC response, read by the ``extract`` stage
#   _skip                         set by a reader on a record it could not use: the ``read_*`` reason
#   _duplicate_of                 set by a dedup stage on a dropped document: the id kept in its place
#   _minhash_sig                  the MinHash stage's signature between its prepare and collect steps
#
# Keys that start with "_" live only in memory between stages and are never written.
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
    pa.field("decontam_benchmarks", pa.list_(pa.string())),  # decontaminate: benchmarks hit
    pa.field("decontam_ngrams", pa.int32()),
    pa.field("decontam_paragraphs", pa.int32()),
    pa.field("paragraphs_removed", pa.int32()),  # paragraph_dedup: paragraphs removed from a kept document
    # classifier: the score column a recipe names (`column:`); these names are typed float32
    pa.field("classifier_score", pa.float32()),
    pa.field("edu_score", pa.float32()),
    pa.field("toxicity_score", pa.float32()),
    pa.field("nsfw_score", pa.float32()),
    pa.field("domain_score", pa.float32()),
    # measures of the filters split into measure and decide (curate.measure), written in mode: annotate;
    # ratios are float64, as computed, so that select compares the very numbers the filter compared
    *[pa.field(f"gopher_{m}", pa.int32())
      for m in ("word_count", "lines", "bullet_lines", "ellipsis_lines", "stop_words")],
    *[pa.field(f"gopher_{m}", pa.float64()) for m in ("mean_word_length", "symbol_ratio", "alpha_words_ratio")],
    pa.field("gopher_rep_lines", pa.int32()),
    *[pa.field(f"gopher_rep_dup_{k}_{m}", pa.float64()) for k in ("line", "para") for m in ("frac", "char_frac")],
    *[pa.field(f"gopher_rep_{k}_{n}gram", pa.float64()) for k in ("top", "dup") for n in range(1, 21)],
    # per-document measures a global stage stores in mode: annotate for select to read back (stored_key)
    pa.field("paragraph_dedup__ngrams", pa.large_binary()),
    pa.field("paragraph_dedup__para_ngrams", pa.large_binary()),
    pa.field("paragraph_dedup__para_shared", pa.large_binary()),
    pa.field("paragraph_dedup__candidates", pa.large_binary()),
    pa.field("paragraph_dedup__expected", pa.large_binary()),
    pa.field("quality__variants", pa.large_binary()),
    pa.field("fineweb_chars", pa.int64()),
    *[pa.field(f"fineweb_{m}_ratio", pa.float64()) for m in ("line_punct", "short_line", "char_dup", "list")],
    *[pa.field(f"c4_{m}", pa.int32()) for m in ("lorem_ipsum", "curly_bracket", "sentences", "bad_words")],
    pa.field("c4_chars", pa.int64()),
    pa.field("length_chars", pa.int64()),
    pa.field("length_words", pa.int64()),
    *[pa.field(f"url_{m}", pa.int32())
      for m in ("allowed", "blocklisted_domain", "blocklisted_url", "strict_word", "hard_word", "soft_words")],
]

# Written by the readers on every record of a WARC/ARC/WET input.
READER_FIELDS: list[str] = ["content_type", "charset"]

# The input's undeclared fields, as one JSON object (null when there are none).
EXTRA_FIELD = pa.field("extra", pa.string())

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
    """The schema of a table holding ``columns``: base columns first, then the rest in given order."""
    samples = samples or {}
    extra = [c for c in columns if c not in BASE_COLUMNS and not c.startswith(TRANSIENT_PREFIX)]
    return pa.schema(BASE_FIELDS + [field_for(c, samples.get(c)) for c in dict.fromkeys(extra)])


def run_schema(
    declared: Iterable[str], input_fields: Iterable[pa.Field] = (), with_extra: bool = False
) -> pa.Schema:
    """The one schema of every data file of a run, decided on the driver before any task starts.

    Base columns, the readers' columns, every column the recipe's stages declare, the columns of Parquet
    inputs (their type as in the files; a declared column keeps its declared type), and ``extra`` when the
    inputs may carry undeclared fields (JSONL, in-memory documents).
    """
    fields = list(BASE_FIELDS)
    seen = {f.name for f in fields}
    for name in [*READER_FIELDS, *declared]:
        if name not in seen and not name.startswith(TRANSIENT_PREFIX):
            fields.append(SCHEMA_FIELDS.get(name) or pa.field(name, pa.string()))
            seen.add(name)
    for f in input_fields:
        if f.name not in seen and not f.name.startswith(TRANSIENT_PREFIX):
            fields.append(SCHEMA_FIELDS.get(f.name) or f.with_nullable(True))
            seen.add(f.name)
    if with_extra and EXTRA_FIELD.name not in seen:
        fields.append(EXTRA_FIELD)
    return pa.schema(fields)


def _json_default(v: object) -> object:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return str(v)


def _clean_str(v: object) -> object:
    """A string Arrow can encode: lone surrogates (a cut emoji escaped in JSON) become U+FFFD."""
    if isinstance(v, str):
        return v.encode("utf-8", "replace").decode("utf-8")
    return v


def _column(values: list[object], typ: pa.DataType) -> pa.Array:
    try:
        return pa.array(values, type=typ)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, UnicodeEncodeError, OverflowError):
        pass
    out = []
    for v in values:  # the slow path, value by value: repair strings, convert what converts, else null
        v = _clean_str(v)
        try:
            out.append(pa.scalar(v, type=typ).as_py())
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
            try:
                out.append(pa.scalar(str(v) if pa.types.is_string(typ) else v).cast(typ).as_py())
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError):
                out.append(None)
    return pa.array(out, type=typ)


def docs_to_table(docs: list[Document], schema: pa.Schema | None = None, report: bool = False) -> Any:
    """Build an Arrow table from documents in ``schema``; missing values become nulls, transient fields
    are dropped. With an ``extra`` column, undeclared fields go there as one JSON object per row.

    With ``report``, returns ``(table, undeclared field names that were not written)``.
    """
    if schema is None:
        columns: dict[str, object] = {}
        for d in docs:
            for k, v in d.items():
                if k not in columns or columns[k] is None:
                    columns[k] = v
        schema = schema_for(columns, columns)
    names = set(schema.names)
    unknown = {k for k in set().union(*docs) - names if not k.startswith(TRANSIENT_PREFIX)}
    with_extra = EXTRA_FIELD.name in names and bool(unknown)
    if not with_extra:
        try:  # the fast path: every value converts as it is (~2x faster than column by column)
            table = pa.Table.from_pylist(docs, schema=schema)
            return (table, unknown) if report else table
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, UnicodeEncodeError, OverflowError):
            pass
    arrays = []
    for f in schema:
        if f.name == EXTRA_FIELD.name and unknown:
            vals: list[object] = []
            for d in docs:
                extra = {k: d[k] for k in d if k in unknown}
                if isinstance(d.get("extra"), str) and d["extra"]:  # an earlier run's extra, re-read
                    extra = {**json.loads(d["extra"]), **extra}
                vals.append(json.dumps(extra, default=_json_default, ensure_ascii=False) if extra else None)
            arrays.append(_column(vals, f.type))
        else:
            arrays.append(_column([d.get(f.name) for d in docs], f.type))
    table = pa.Table.from_arrays(arrays, schema=schema)
    if report:
        return table, (unknown if EXTRA_FIELD.name not in names else set())
    return table


def table_to_docs(table: pa.Table) -> list[Document]:
    """Documents from an Arrow table (one dict per row)."""
    return table.to_pylist()


def batch_rows(batch: pa.RecordBatch) -> list[Document]:
    """A record batch's rows as dicts: ``batch.to_pylist()``, ~1.3x faster (columns converted, then zipped)."""
    cols = batch.to_pydict()
    if not cols:
        return [{} for _ in range(batch.num_rows)]
    names = list(cols)
    return [dict(zip(names, values)) for values in zip(*cols.values())]
