"""JSONL and Parquet inputs, sniffed kinds, ids unique per run, split big inputs, read limits (issues 11, 14, 18).

Real rows: tests/data/quality/wiki.jsonl (WikiText-2, no ids) and tests/data/filters/dclm_docs.jsonl
(Common Crawl pages with ids); damaged variants are built here.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from _warcgen import DATA

from curate.errors import RecipeError, ShardError
from curate.io.inputs import Shard, expand_inputs, kind_of, read_jsonl, read_parquet, read_shard
from curate.io.warc import ReadLimits
from curate.schema import docs_to_table

TESTS = Path(__file__).parent.parent / "data"
WIKI = TESTS / "quality" / "wiki.jsonl"
DCLM = TESTS / "filters" / "dclm_docs.jsonl"
CC = DATA / "cc-main-2020-34-excerpt.warc.gz"


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def read_all(shards: list[Shard]) -> list[dict]:
    return [d for s in shards for d in read_shard(s, ReadLimits())]


def skips(docs: list[dict]) -> list[str]:
    return [d["_skip"] for d in docs if "_skip" in d]


# ---------------------------------------------------------------- issue 18 item 8: ids unique per run


def test_same_file_name_in_two_folders_gives_distinct_ids_and_sources(tmp_path):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        shutil.copy(WIKI, tmp_path / sub / "data.jsonl")
    shutil.copy(DCLM, tmp_path / "a" / "dclm.jsonl")
    shards = expand_inputs([str(tmp_path / "*" / "*.jsonl")])
    assert [s.source for s in shards] == ["a/data.jsonl", "a/dclm.jsonl", "b/data.jsonl"]
    docs = read_all(shards)
    assert not skips(docs)
    ids = [d["id"] for d in docs]
    assert len(ids) == len(set(ids)) == 80 + 18 + 80
    assert ids[0] == "a/data.jsonl:1" and "b/data.jsonl:1" in ids
    assert {d["source"] for d in docs} == {"a/data.jsonl", "a/dclm.jsonl", "b/data.jsonl"}
    assert [d["id"] for d in docs if d["source"] == "a/dclm.jsonl"] == [r["id"] for r in rows(DCLM)]  # kept


def test_one_input_file_keeps_its_base_name_as_source(tmp_path):
    shutil.copy(WIKI, tmp_path / "docs.jsonl")
    [shard] = expand_inputs([str(tmp_path / "docs.jsonl")])
    assert shard.source == "docs.jsonl" and shard.name == "docs.jsonl"
    assert next(read_shard(shard, ReadLimits()))["id"] == "docs.jsonl:1"
    [warc] = expand_inputs([str(CC)])
    assert {d["source"] for d in read_shard(warc, ReadLimits())} == {CC.name}


# ------------------------------------------------------------ issue 18 item 7: Parquet without ids, BOM


def test_parquet_without_id_and_with_non_string_text(tmp_path):
    texts = [r["text"] for r in rows(WIKI)][:6]
    table = pa.table({"text": [texts[0], texts[1], None, texts[3], texts[4], texts[5]], "n": list(range(6))})
    pq.write_table(table, tmp_path / "p.parquet", row_group_size=4)
    pq.write_table(pa.table({"text": [1, 2], "id": ["x", "y"]}), tmp_path / "q.parquet")
    docs = list(read_parquet(str(tmp_path / "p.parquet")))
    assert [d["id"] for d in docs] == [f"p.parquet:{i}" for i in range(1, 7)]
    assert skips(docs) == ["read_no_text"] and docs[2]["id"] == "p.parquet:3"
    assert [d["text"] for d in docs if "_skip" not in d] == [t for i, t in enumerate(texts) if i != 2]
    assert all(d["source"] == "p.parquet" for d in docs)
    assert [(d["id"], d["_skip"]) for d in read_parquet(str(tmp_path / "q.parquet"))] == [
        ("x", "read_no_text"),
        ("y", "read_no_text"),
    ]


def test_jsonl_with_a_utf8_bom_keeps_its_first_row(tmp_path):
    p = tmp_path / "bom.jsonl"
    p.write_bytes(b"\xef\xbb\xbf" + WIKI.read_bytes())
    docs = list(read_jsonl(str(p), "bom.jsonl"))
    assert not skips(docs) and [d["text"] for d in docs] == [r["text"] for r in rows(WIKI)]


def test_damaged_parquet_is_counted_not_a_failed_shard(tmp_path):
    texts = [r["text"] for r in rows(WIKI)]
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"text": texts}), path, row_group_size=20, compression="zstd", use_dictionary=False)
    col = pq.ParquetFile(path).metadata.row_group(1).column(0)
    data = bytearray(path.read_bytes())
    middle = col.data_page_offset + col.total_compressed_size // 2
    data[middle : middle + 200] = b"\xff" * 200  # inside the compressed page of row group 1
    path.write_bytes(bytes(data))
    docs = list(read_parquet(str(path)))
    kept = [d["text"] for d in docs if "_skip" not in d]
    assert skips(docs) == ["read_corrupt_record"]
    assert kept[:20] == texts[:20] and kept[20:] == texts[40:]  # row group 1 lost, the others read
    path.write_bytes(bytes(data[:-100]))  # footer cut: not Parquet any more
    assert skips(list(read_parquet(str(path)))) == ["read_malformed_record"]
    with pytest.raises(ShardError):
        list(read_parquet(str(tmp_path / "missing.parquet")))
    with pytest.raises(ShardError):
        list(read_jsonl(str(tmp_path / "missing.jsonl"), "missing.jsonl"))


# -------------------------------------------------------------- issue 18 item 6: lone surrogate escapes


def test_lone_surrogate_escape_is_repaired_and_writable(tmp_path):
    p = tmp_path / "s.jsonl"
    p.write_text(
        '{"id": "cut", "text": "a cut emoji \\ud83d here", "title": "x\\udc00"}\n'
        '{"id": "pair", "text": "a whole emoji \\ud83d\\ude00 here"}\n'
        + WIKI.read_text().splitlines()[0]
        + "\n"
    )
    docs = list(read_jsonl(str(p), "s.jsonl"))
    assert [d["text"][:30] for d in docs[:2]] == ["a cut emoji \ufffd here", "a whole emoji \U0001f600 here"]
    assert docs[0]["title"] == "x\ufffd"
    table = docs_to_table(docs)  # the writer's step that raised UnicodeEncodeError
    assert table.num_rows == 3
    assert table.column("text")[0].as_py() == "a cut emoji \ufffd here"


# ----------------------------------------------------------- issue 18 item 12: truncated compressed JSONL


@pytest.mark.parametrize("codec", ["zst", "gz"])
def test_truncated_compressed_jsonl_is_read_truncated_file(tmp_path, codec):
    data = WIKI.read_bytes()
    if codec == "zst":
        c = zstandard.ZstdCompressor()
        packed = b"".join(c.compress(data[i : i + 20000]) for i in range(0, len(data), 20000))  # several frames
    else:
        packed = gzip.compress(data)
    p = tmp_path / f"t.jsonl.{codec}"
    p.write_bytes(packed)
    assert not skips(list(read_jsonl(str(p), "t")))
    p.write_bytes(packed[: len(packed) * 2 // 3])
    docs = list(read_jsonl(str(p), "t"))
    assert skips(docs) == ["read_truncated_file"]  # was read_bad_json for .zst
    good = [d["text"] for d in docs if "_skip" not in d]
    assert 10 < len(good) < 80 and good == [r["text"] for r in rows(WIKI)][: len(good)]


def test_hostile_json_lines_are_counted(tmp_path):
    lines = WIKI.read_text().splitlines()[:3]
    deep = '{"text": ' + "[" * 5000 + "]" * 5000 + "}"
    hostile = ["[" * 100_000, deep, '{"text": 1}', "[1, 2]", '"just a string"']
    p = tmp_path / "h.jsonl"
    p.write_text("\n".join(lines[:1] + hostile + lines[1:]) + "\n")
    docs = list(read_jsonl(str(p), "h"))
    assert skips(docs) == ["read_bad_json", "read_bad_json", "read_no_text", "read_no_text", "read_no_text"]
    assert [d["text"] for d in docs if "_skip" not in d] == [json.loads(line)["text"] for line in lines]


def test_plain_jsonl_cut_mid_line(tmp_path):
    data = WIKI.read_bytes()
    p = tmp_path / "t.jsonl"
    p.write_bytes(data[: len(data) // 2])
    docs = list(read_jsonl(str(p), "t"))
    assert skips(docs) == ["read_truncated_file"] and docs[-1]["_skip"] == "read_truncated_file"


# --------------------------------------------------------------------------- issue 14: sniffed inputs


def test_inputs_recognised_by_their_first_bytes(tmp_path):
    shutil.copy(CC, tmp_path / "crawl.warc.gz.bad")
    shutil.copy(DATA / "ia-2008-crawl-excerpt.arc.gz", tmp_path / "old-crawl.dat")
    (tmp_path / "plain-warc").write_bytes(gzip.decompress(CC.read_bytes()))
    shutil.copy(WIKI, tmp_path / "wiki.txt")
    (tmp_path / "wiki.z").write_bytes(zstandard.ZstdCompressor().compress(WIKI.read_bytes()))
    pq.write_table(pa.table({"text": ["a parquet row"]}), tmp_path / "table.bin")
    expected = {
        "crawl.warc.gz.bad": "warc",
        "old-crawl.dat": "warc",
        "plain-warc": "warc",
        "wiki.txt": "jsonl",
        "wiki.z": "jsonl",
        "table.bin": "parquet",
    }
    shards = expand_inputs([str(tmp_path / "*")])
    assert {s.source: s.kind for s in shards} == expected
    docs = {s.source: [d for d in read_shard(s, ReadLimits()) if "_skip" not in d] for s in shards}
    assert len(docs["crawl.warc.gz.bad"]) == len(docs["plain-warc"]) == 16
    assert len(docs["old-crawl.dat"]) == 10
    assert len(docs["wiki.txt"]) == len(docs["wiki.z"]) == 80
    assert docs["table.bin"][0]["text"] == "a parquet row"


def test_unrecognised_input_is_a_configuration_error_naming_it(tmp_path):
    shutil.copy(CC, tmp_path / "ok.warc.gz")
    (tmp_path / "notes.txt").write_text("just some notes, not an input\n")
    with pytest.raises(RecipeError, match=r"notes\.txt.*not a WARC/ARC/WET, Parquet or JSONL"):
        expand_inputs([str(tmp_path / "*")])
    (tmp_path / "sub").mkdir()
    with pytest.raises(RecipeError, match="sub: is a folder"):
        expand_inputs([str(tmp_path / "sub")])
    with pytest.raises(RecipeError, match="no files match"):
        expand_inputs([str(tmp_path / "nothing-*.jsonl")])
    assert kind_of(str(tmp_path / "ok.warc.gz")) == "warc"


# ------------------------------------------------------------------- issue 11 item 6: big inputs split


def test_big_parquet_is_split_into_row_group_shards(tmp_path):
    texts = [r["text"] for r in rows(WIKI)]
    pq.write_table(pa.table({"text": texts}), tmp_path / "big.parquet", row_group_size=10)
    shutil.copy(CC, tmp_path / "crawl.warc.gz")
    whole = expand_inputs([str(tmp_path / "*")])
    assert [(s.name, s.part) for s in whole] == [("big.parquet", None), ("crawl.warc.gz", None)]
    size = (tmp_path / "big.parquet").stat().st_size
    shards = expand_inputs([str(tmp_path / "*")], split_bytes=size // 3)
    assert shards == expand_inputs([str(tmp_path / "*")], split_bytes=size // 3)  # deterministic
    parts = [s for s in shards if s.kind == "parquet"]
    assert len(parts) >= 3 and [s.part for s in parts] == list(range(len(parts)))
    assert sorted(g for s in parts for g in s.row_groups) == list(range(8))
    assert [s.index for s in shards] == list(range(len(shards)))
    assert shards[-1].kind == "warc" and shards[-1].part is None  # WARC files stay whole
    assert len({s.name for s in shards}) == len(shards) and parts[1].name == "big.parquet#0001"
    split_docs = [d for s in parts for d in read_shard(s, ReadLimits())]
    assert split_docs == read_all(whole[:1])  # same rows, same ids, same order
    assert split_docs[25]["id"] == "big.parquet:26"


def test_big_jsonl_is_split_at_line_starts(tmp_path):
    data = WIKI.read_bytes()
    (tmp_path / "big.jsonl").write_bytes(data)
    (tmp_path / "big.jsonl.gz").write_bytes(gzip.compress(data))
    shards = expand_inputs([str(tmp_path / "big.jsonl*")], split_bytes=len(data) // 5)
    plain = [s for s in shards if s.path.endswith(".jsonl")]
    assert len(plain) >= 5 and [s for s in shards if s.path.endswith(".gz")][0].part is None
    assert plain[0].byte_range[0] == 0 and plain[-1].byte_range[1] == len(data)
    for a, b in zip(plain, plain[1:]):
        assert a.byte_range[1] == b.byte_range[0] and data[b.byte_range[0] - 1 : b.byte_range[0]] == b"\n"
    docs = [d for s in plain for d in read_shard(s, ReadLimits())]
    assert not skips(docs)
    assert [d["text"] for d in docs] == [r["text"] for r in rows(WIKI)]
    assert len({d["id"] for d in docs}) == 80 and docs[0]["id"] == "big.jsonl@0"
    assert shards == expand_inputs([str(tmp_path / "big.jsonl*")], split_bytes=len(data) // 5)
    with pytest.raises(RecipeError, match="split_bytes"):
        expand_inputs([str(tmp_path / "big.jsonl")], split_bytes=0)


def test_shard_pickles_and_rebuilds_from_its_fields(tmp_path):
    import dataclasses
    import pickle

    shard = Shard(3, "/x/big.jsonl", "jsonl", "x/big.jsonl", 2, byte_range=(10, 20))
    assert pickle.loads(pickle.dumps(shard)) == shard
    assert Shard(**dataclasses.asdict(shard)) == shard
    assert Shard(**json.loads(json.dumps(dataclasses.asdict(shard)))) == shard  # lists back to tuples
    assert Shard(0, "/x/a.warc.gz", "warc").source == "a.warc.gz"  # the three-field form still works


# ----------------------------------------------------------------- issue 18 item 11: read limits checked


@pytest.mark.parametrize(
    "kwargs", [{"max_payload_bytes": -1}, {"max_payload_bytes": 0}, {"max_decoded_bytes": -5}, {"html_only": "no"}]
)
def test_read_limits_are_validated(kwargs):
    key = next(iter(kwargs))
    with pytest.raises(RecipeError, match=f"read.{key}"):
        ReadLimits(**kwargs)


def test_read_limits_from_a_recipe_override():
    from curate.recipe import load_recipe, read_limits

    recipe = load_recipe("quickstart", ["read.max_payload_bytes=-1"], check=False)
    with pytest.raises(RecipeError, match="max_payload_bytes"):
        read_limits(recipe)


# --------------------------------------------------------------- seeded fuzz of JSONL and Parquet inputs


def _fuzz_inputs(tmp_path: Path) -> dict[str, bytes]:
    import bz2

    data = WIKI.read_bytes()
    pq.write_table(pa.table({"text": [r["text"] for r in rows(WIKI)]}), tmp_path / "w.parquet", row_group_size=10)
    return {
        "w.jsonl": data,
        "w.jsonl.gz": gzip.compress(data),
        "w.jsonl.zst": zstandard.ZstdCompressor().compress(data),
        "w.jsonl.bz2": bz2.compress(data),
        "w.parquet": (tmp_path / "w.parquet").read_bytes(),
    }


@pytest.mark.parametrize("name", ["w.jsonl", "w.jsonl.gz", "w.jsonl.zst", "w.jsonl.bz2", "w.parquet"])
def test_fuzzed_jsonl_and_parquet_never_raise(tmp_path, name):
    import random

    data = _fuzz_inputs(tmp_path)[name]
    texts = [r["text"] for r in rows(WIKI)]
    line_ends = [i + 1 for i, b in enumerate(WIKI.read_bytes()) if b == 0x0A]
    rng = random.Random(name)
    for _ in range(60):
        bad = bytearray(data)
        offsets = [rng.randrange(len(bad)) for _ in range(rng.randint(1, 4))]
        for o in offsets:
            bad[o] ^= rng.randrange(1, 256)
        if rng.random() < 0.3:
            offsets.append(rng.randrange(len(bad)))
            bad = bad[: offsets[-1]]
        p = tmp_path / name
        p.write_bytes(bytes(bad))
        reader = read_parquet(str(p)) if name.endswith(".parquet") else read_jsonl(str(p), "w")
        docs = list(reader)  # no exception escapes
        assert all(d.get("_skip", "read_ok").startswith("read_") for d in docs)
        if name == "w.jsonl":  # every line that ends before the first damaged byte is kept
            intact = sum(e <= min(offsets) for e in line_ends)
            assert [d.get("text") for d in docs[:intact]] == texts[:intact]
