import json
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import SHARD_TOKENS, paragraphs, write_shards
from tokenizers import Tokenizer

from train.data import BatchLoader, TokenSplit
from train.tokenize import token_dtype, tokenize_one_shard, tokenize_shards
from train.tokenizer import eot_id, tokenizer_sha256


def shard_documents(token_dir: Path, name: str, split: str = "train") -> list[str]:
    """The documents of one shard, in order, checking the shard ends with its separator."""
    tok = Tokenizer.from_file(str(token_dir / "tokenizer.json"))
    manifest = json.loads((token_dir / "manifest.json").read_text())
    ids = np.fromfile(token_dir / "shards" / f"{name}.{split}.bin", dtype=manifest["dtype"])
    if ids.size:
        assert ids[-1] == eot_id(tok)
    return tok.decode(ids.tolist(), skip_special_tokens=False).split("<|endoftext|>")[:-1]


def documents(token_dir: Path, split: str) -> list[str]:
    """Every document of a split in reading order, checking the manifest's counts."""
    manifest = json.loads((token_dir / "manifest.json").read_text())
    docs = []
    for shard in manifest["shards"]:
        mine = shard_documents(token_dir, shard["name"], split)
        assert len(mine) == shard[f"{split}_docs"]
        docs += mine
    return docs


def source_of() -> dict[str, int]:
    """Which input shard (of the corpus fixture's 4, round-robin) holds each paragraph that occurs once."""
    counts = Counter(paragraphs())
    return {p: i % 4 for i, p in enumerate(paragraphs()) if counts[p] == 1}


def test_shards_hold_exactly_the_documents(token_dir: Path, tokenizer_path: Path) -> None:
    train, val = documents(token_dir, "train"), documents(token_dir, "val")
    assert Counter(train + val) == Counter(paragraphs())  # none lost, none twice, separators in place
    assert 0 < len(val) < len(train)
    manifest = json.loads((token_dir / "manifest.json").read_text())
    assert manifest["tokenizer"]["sha256"] == tokenizer_sha256(tokenizer_path)
    assert manifest["dtype"] == "uint16" and manifest["totals"]["train"]["docs"] == len(train)
    assert manifest["shuffle"] == "global" and manifest["shard_tokens"] == SHARD_TOKENS
    assert (
        manifest["documents"] == len(paragraphs()) and manifest["train_tokens"] > manifest["val_tokens"] > 0
    )
    # The output shard count follows shard_tokens, not the 4 input files.
    assert len(manifest["shards"]) == -(-manifest["train_tokens"] // SHARD_TOKENS)
    assert not (token_dir / "stage").exists()  # the first pass's files are removed once the job is done


def test_global_shuffle_mixes_every_input(token_dir: Path) -> None:
    where = source_of()
    manifest = json.loads((token_dir / "manifest.json").read_text())
    for shard in manifest["shards"]:
        inputs = [where[d] for d in shard_documents(token_dir, shard["name"]) if d in where]
        assert set(inputs) == {0, 1, 2, 3}  # every output shard draws on every input file …
        runs = sum(a != b for a, b in zip(inputs, inputs[1:]))
        assert runs > len(inputs) / 2  # … interleaved, not in runs (round-robin would give ~3/4 switches)
    # Not the input order anywhere.
    train = documents(token_dir, "train")
    assert [p for p in paragraphs() if p in set(train)] != train


def test_output_does_not_depend_on_sharding_or_workers(
    token_dir: Path, tokenizer_path: Path, tmp_path: Path, ray_session
) -> None:
    # The same documents (same ids) in 3 shards instead of 4: the same bytes, validation included.
    write_shards(tmp_path / "in", paragraphs(), 4)
    table = pa.concat_tables([pq.read_table(p) for p in sorted((tmp_path / "in").glob("*.parquet"))])
    for p in (tmp_path / "in").glob("*.parquet"):
        p.unlink()
    for i, chunk in enumerate(np.array_split(np.arange(table.num_rows), 3)):
        pq.write_table(table.take(chunk), tmp_path / "in" / f"x-{i}.parquet")
    m = tokenize_shards(
        str(tmp_path / "in"),
        tokenizer_path,
        tmp_path / "tok",
        val_fraction=0.1,
        progress=False,
        shard_tokens=SHARD_TOKENS,
        max_workers=1,
    )
    for shard in m["shards"]:
        for split in ("train", "val"):
            name = f"{shard['name']}.{split}.bin"
            assert (tmp_path / "tok" / "shards" / name).read_bytes() == (
                token_dir / "shards" / name
            ).read_bytes()
    # Another seed: another order and another split.
    tokenize_shards(str(tmp_path / "in"), tokenizer_path, tmp_path / "s1", seed=1, val_fraction=0.1,
                    progress=False, shard_tokens=SHARD_TOKENS)  # fmt: skip
    assert documents(tmp_path / "s1", "train") != documents(token_dir, "train")


def test_shard_shuffle_keeps_the_input_files(
    corpus: Path, tokenizer_path: Path, tmp_path: Path, ray_session
) -> None:
    m = tokenize_shards(str(corpus), tokenizer_path, tmp_path / "t", val_fraction=0.1, progress=False,
                        shuffle="shard")  # fmt: skip
    assert m["shuffle"] == "shard" and sorted(s["name"] for s in m["shards"]) == [
        "00000",
        "00001",
        "00002",
        "00003",
    ]
    where = source_of()
    for shard in m["shards"]:
        docs = shard_documents(tmp_path / "t", shard["name"])
        assert {where[d] for d in docs if d in where} == {int(shard["name"])}
        mine = [p for p in paragraphs() if where.get(p) == int(shard["name"]) and p in set(docs)]
        docs = [d for d in docs if d in where]
        assert docs != mine  # shuffled within the file
    # A rerun of a shard-shuffled directory without --shuffle keeps its shuffle.
    assert tokenize_shards(str(corpus), tokenizer_path, tmp_path / "t", val_fraction=0.1, progress=False) == m


def test_rerun_resumes_a_killed_job(corpus: Path, tokenizer_path: Path, tmp_path: Path, ray_session) -> None:
    out = tmp_path / "t"
    kw = dict(val_fraction=0.1, progress=False, shard_tokens=SHARD_TOKENS, keep_stage=True)
    m = tokenize_shards(str(corpus), tokenizer_path, out, **kw)
    files = lambda d: {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in (out / d).iterdir()}  # noqa: E731
    shards, stage = files("shards"), files("stage")
    # A finished job: a rerun returns its manifest and touches nothing.
    assert tokenize_shards(str(corpus), tokenizer_path, out, **kw) == m
    assert {k: v[0] for k, v in files("shards").items()} == {k: v[0] for k, v in shards.items()}
    # Killed in the second pass (no manifest; one output shard and one stage file without their markers,
    # half written): only those are redone, and they come out byte for byte the same.
    (out / "manifest.json").unlink()
    (out / "shards" / "00001.done").unlink()
    (out / "shards" / "00001.train.bin").write_bytes(b"half-written")
    (out / "stage" / "00002.done").unlink()
    (out / "stage" / "00002.train.bin").write_bytes(b"half")
    assert tokenize_shards(str(corpus), tokenizer_path, out, **kw) == m
    after_shards, after_stage = files("shards"), files("stage")
    assert after_shards["00000.done"][0] == shards["00000.done"][0]  # untouched
    assert after_shards["00001.done"][0] != shards["00001.done"][0]  # redone
    assert after_stage["00001.done"][0] == stage["00001.done"][0]
    assert after_stage["00002.done"][0] != stage["00002.done"][0]
    for before, after in ((shards, after_shards), (stage, after_stage)):
        assert {k: v[1] for k, v in after.items() if k.endswith(".bin")} == {
            k: v[1] for k, v in before.items() if k.endswith(".bin")
        }
    # Another shard size is another job: it replaces the shards, leaving none of the old ones.
    m2 = tokenize_shards(str(corpus), tokenizer_path, out, **{**kw, "shard_tokens": 3 * SHARD_TOKENS})
    assert len(m2["shards"]) < len(m["shards"])
    assert sorted(p.name for p in (out / "shards").iterdir()) == sorted(
        f"{s['name']}{x}" for s in m2["shards"] for x in (".done", ".json", ".train.bin", ".val.bin")
    )
    assert Counter(documents(out, "train") + documents(out, "val")) == Counter(paragraphs())


def test_one_shard_edge_cases(tokenizer_path: Path, tmp_path: Path) -> None:
    """Empty documents are counted, not written; separator text inside a document stays text."""
    texts = ["first <|endoftext|> still first", "", "second 🤖", "third\x00"]
    pq.write_table(pa.table({"id": ["a", "b", "c", "d"], "text": texts}), tmp_path / "s.parquet")
    tok = Tokenizer.from_file(str(tokenizer_path))
    (tmp_path / "out" / "shards").mkdir(parents=True)
    info = tokenize_one_shard(
        str(tmp_path / "s.parquet"),
        "00000",
        tok.to_str(),
        "sha",
        str(tmp_path / "out"),
        0,
        0.0,
        "<|endoftext|>",
    )
    assert info["skipped_empty"] == 1 and info["train"]["docs"] == 3 and info["val"]["docs"] == 0
    ids = np.fromfile(tmp_path / "out" / "shards" / "00000.train.bin", dtype=np.uint16)
    assert (ids == eot_id(tok)).sum() == 3
    assert sorted(tok.decode(ids.tolist(), skip_special_tokens=False).split("<|endoftext|>")) == sorted(
        ["first ", " still first", "second 🤖", "third\x00", ""]
    )
    keys = np.load(tmp_path / "out" / "shards" / "00000.train.keys.npy")
    offsets = np.load(tmp_path / "out" / "shards" / "00000.train.offsets.npy")
    assert np.all(keys[1:] >= keys[:-1]) and offsets[-1] == ids.size and len(offsets) == 4
    assert set(ids[offsets[1:] - 1].tolist()) == {eot_id(tok)}  # each offset ends a document


def test_jsonl_and_text_inputs(tokenizer_path: Path, tmp_path: Path, ray_session) -> None:
    import gzip

    (tmp_path / "in").mkdir()
    docs = paragraphs()[:40]
    with gzip.open(tmp_path / "in" / "a.jsonl.gz", "wt") as f:
        for i, d in enumerate(docs[:30]):
            f.write(json.dumps({"id": f"j{i}", "text": d}) + "\n")
        f.write(json.dumps({"id": "no-text"}) + "\n")  # counted as empty
    for i, d in enumerate(docs[30:]):
        (tmp_path / "in" / f"b{i}.txt").write_text(d, encoding="utf-8")
    m = tokenize_shards(
        str(tmp_path / "in"), tokenizer_path, tmp_path / "t", val_fraction=0.0, progress=False
    )
    assert Counter(documents(tmp_path / "t", "train")) == Counter(docs) and m["totals"]["skipped_empty"] == 1


def test_configuration_errors(corpus: Path, tokenizer_path: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="shuffle"):
        tokenize_shards(str(corpus), tokenizer_path, tmp_path / "t", shuffle="random")
    with pytest.raises(ValueError, match="format"):
        tokenize_shards(str(corpus), tokenizer_path, tmp_path / "t", formats=("webdataset",))
    with pytest.raises(FileNotFoundError):
        tokenize_shards(str(tmp_path / "nothing-*.parquet"), tokenizer_path, tmp_path / "t")
    assert not (tmp_path / "t").exists()  # nothing was started


def test_dtype_follows_vocabulary() -> None:
    assert token_dtype(8192) == np.uint16 and token_dtype(65536) == np.uint16
    assert token_dtype(65537) == np.uint32 and token_dtype(200_000) == np.uint32


def test_loader_is_deterministic_and_resumable(token_dir: Path) -> None:
    split = TokenSplit(token_dir, "train")
    assert len(split.arrays) > 1 and split.size == sum(a.size for a in split.arrays)
    # Reading across shard boundaries gives the concatenation.
    whole = np.concatenate([np.asarray(a) for a in split.arrays]).astype(np.int64)
    assert np.array_equal(split.read(0, split.size), whole)
    a = BatchLoader(split, 8, 128, seed=1)
    batches = [a.next_batch() for _ in range(70)]
    assert a.epoch > 1  # crossed into a second epoch, in a new order
    x, y = batches[0]
    assert x.shape == (8, 128) and np.array_equal(x[:, 1:], y[:, :-1])
    b = BatchLoader(split, 8, 128, seed=1)
    b.load_state_dict({**a.state_dict(), "consumed": 8 * 35})
    assert all(np.array_equal(b.next_batch()[0], batches[35 + i][0]) for i in range(35))
    # Two DDP ranks split each global batch between them, without overlap.
    r0 = BatchLoader(split, 4, 128, seed=1, rank=0, world_size=2)
    r1 = BatchLoader(split, 4, 128, seed=1, rank=1, world_size=2)
    assert np.array_equal(np.concatenate([r0.next_batch()[0], r1.next_batch()[0]]), batches[0][0])
    with pytest.raises(ValueError, match="num_windows"):
        BatchLoader(split, 8, 64, seed=1).load_state_dict(a.state_dict())
