import json
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import paragraphs, write_shards
from tokenizers import Tokenizer

from train.data import BatchLoader, TokenSplit
from train.tokenize import token_dtype, tokenize_one_shard, tokenize_shards
from train.tokenizer import eot_id, tokenizer_sha256


def documents(token_dir: Path, split: str) -> list[str]:
    """Decode every shard of a split back into documents, checking each ends with its separator."""
    tok = Tokenizer.from_file(str(token_dir / "tokenizer.json"))
    eot = eot_id(tok)
    manifest = json.loads((token_dir / "manifest.json").read_text())
    docs = []
    for shard in manifest["shards"]:
        ids = np.fromfile(token_dir / "shards" / f"{shard['name']}.{split}.bin", dtype=manifest["dtype"])
        assert ids.size == shard[f"{split}_tokens"]
        if ids.size:
            assert ids[-1] == eot
        cuts = np.flatnonzero(ids == eot)
        starts = np.concatenate([[0], cuts[:-1] + 1])
        docs += [tok.decode(ids[s:e].tolist()) for s, e in zip(starts, cuts)]
        assert len(cuts) == shard[f"{split}_docs"]
    return docs


def test_shards_hold_exactly_the_documents(token_dir: Path, tokenizer_path: Path) -> None:
    train, val = documents(token_dir, "train"), documents(token_dir, "val")
    assert Counter(train + val) == Counter(paragraphs())  # none lost, none twice, separators in place
    assert 0 < len(val) < len(train)
    manifest = json.loads((token_dir / "manifest.json").read_text())
    assert manifest["tokenizer"]["sha256"] == tokenizer_sha256(tokenizer_path)
    assert manifest["dtype"] == "uint16" and manifest["totals"]["train"]["docs"] == len(train)
    assert (
        manifest["documents"] == len(paragraphs()) and manifest["train_tokens"] > manifest["val_tokens"] > 0
    )
    assert sorted(s["name"] for s in manifest["shards"]) == ["00000", "00001", "00002", "00003"]
    # Shuffled within the shard: not the input order.
    shard0 = [p for i, p in enumerate(paragraphs()) if i % 4 == 0]
    assert [d for d in documents_of_shard(token_dir, "00000") if d in set(shard0)] != shard0


def documents_of_shard(token_dir: Path, name: str) -> list[str]:
    tok = Tokenizer.from_file(str(token_dir / "tokenizer.json"))
    ids = np.fromfile(token_dir / "shards" / f"{name}.train.bin", dtype=np.uint16).tolist()
    return tok.decode(ids, skip_special_tokens=False).split("<|endoftext|>")[:-1]


def test_split_does_not_depend_on_sharding(
    token_dir: Path, tokenizer_path: Path, tmp_path: Path, ray_session
) -> None:
    # The same documents (same ids) in 3 shards instead of 4: the same validation documents.
    write_shards(tmp_path / "in", paragraphs(), 4)  # same ids as the corpus fixture …
    table = pa.concat_tables([pq.read_table(p) for p in sorted((tmp_path / "in").glob("*.parquet"))])
    for p in (tmp_path / "in").glob("*.parquet"):
        p.unlink()
    for i, chunk in enumerate(np.array_split(np.arange(table.num_rows), 3)):  # … regrouped into 3 shards
        pq.write_table(table.take(chunk), tmp_path / "in" / f"x-{i}.parquet")
    tokenize_shards(str(tmp_path / "in"), tokenizer_path, tmp_path / "tok", val_fraction=0.1, progress=False)
    assert Counter(documents(tmp_path / "tok", "val")) == Counter(documents(token_dir, "val"))


def test_rerun_skips_finished_shards(
    token_dir: Path, corpus: Path, tokenizer_path: Path, ray_session
) -> None:
    shard_dir = token_dir / "shards"
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in shard_dir.iterdir()}
    tokenize_shards(str(corpus / "*.parquet"), tokenizer_path, token_dir, val_fraction=0.1, progress=False)
    assert {p.name: p.stat().st_mtime_ns for p in shard_dir.iterdir()} == {k: v[0] for k, v in before.items()}
    # A shard killed before its marker is redone, and comes out byte for byte the same.
    (shard_dir / "00002.done").unlink()
    (shard_dir / "00002.train.bin").write_bytes(b"half-written")
    tokenize_shards(str(corpus / "*.parquet"), tokenizer_path, token_dir, val_fraction=0.1, progress=False)
    after = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in shard_dir.iterdir()}
    assert after["00001.train.bin"][0] == before["00001.train.bin"][0]  # untouched
    assert after["00002.done"][0] != before["00002.done"][0]  # redone
    assert {k: v[1] for k, v in after.items() if k.endswith(".bin")} == {
        k: v[1] for k, v in before.items() if k.endswith(".bin")
    }


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


def test_dtype_follows_vocabulary() -> None:
    assert token_dtype(8192) == np.uint16 and token_dtype(65536) == np.uint16
    assert token_dtype(65537) == np.uint32 and token_dtype(200_000) == np.uint32


def test_loader_is_deterministic_and_resumable(token_dir: Path) -> None:
    split = TokenSplit(token_dir, "train")
    assert split.size == sum(a.size for a in split.arrays)
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
