"""The Megatron and nanoGPT files, read back the way those projects read them (not with our code)."""

import json
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import torch
from test_tokenize import documents
from tokenizers import Tokenizer


def read_megatron_index(path: Path) -> dict:
    """Megatron-LM's ``_IndexReader`` layout, field by field: magic, version, dtype code, counts, then
    int32 sequence lengths, int64 sequence byte pointers, int64 document indices."""
    with open(path, "rb") as f:
        assert f.read(9) == b"MMIDIDX\x00\x00"
        (version,) = struct.unpack("<Q", f.read(8))
        (code,) = struct.unpack("<B", f.read(1))
        (sequence_count,) = struct.unpack("<Q", f.read(8))
        (document_count,) = struct.unpack("<Q", f.read(8))
        offset = f.tell()
    buf = memoryview(path.read_bytes())
    lengths = np.frombuffer(buf, dtype=np.int32, count=sequence_count, offset=offset)
    offset += lengths.nbytes
    pointers = np.frombuffer(buf, dtype=np.int64, count=sequence_count, offset=offset)
    offset += pointers.nbytes
    doc_idx = np.frombuffer(buf, dtype=np.int64, count=document_count, offset=offset)
    assert offset + doc_idx.nbytes == len(buf)  # nothing after the document indices
    return {"version": version, "code": code, "lengths": lengths, "pointers": pointers, "doc_idx": doc_idx}


def test_megatron_index_reads_back_by_its_layout(token_dir: Path) -> None:
    tok = Tokenizer.from_file(str(token_dir / "tokenizer.json"))
    manifest = json.loads((token_dir / "manifest.json").read_text())
    for split in ("train", "val"):
        idx = read_megatron_index(token_dir / "megatron" / f"{split}.idx")
        assert idx["version"] == 1 and idx["code"] == 8  # 8 = uint16 in Megatron's DType
        n = len(idx["lengths"])
        assert n == manifest["totals"][split]["docs"]
        assert np.array_equal(idx["doc_idx"], np.arange(n + 1))  # one sequence per document
        # MMapIndexedDataset.get(i): np.frombuffer(bin, dtype, count=length, offset=pointer).
        data = (token_dir / "megatron" / f"{split}.bin").read_bytes()
        assert len(data) == 2 * manifest["totals"][split]["tokens"]
        assert idx["pointers"][0] == 0 and np.array_equal(np.diff(idx["pointers"]), 2 * idx["lengths"][:-1])
        eot = manifest["tokenizer"]["eot_id"]
        docs = []
        for length, pointer in zip(idx["lengths"], idx["pointers"]):
            ids = np.frombuffer(data, dtype=np.uint16, count=int(length), offset=int(pointer))
            assert ids[-1] == eot  # each sequence is a document and its end-of-document token
            docs.append(tok.decode(ids[:-1].tolist(), skip_special_tokens=False))
        assert docs == documents(token_dir, split)  # the same documents, in our reading order


def test_nanogpt_files_load_as_nanogpt_loads_them(token_dir: Path) -> None:
    data_dir = token_dir / "nanogpt"
    manifest = json.loads((token_dir / "manifest.json").read_text())
    with open(os.path.join(data_dir, "meta.pkl"), "rb") as f:
        assert pickle.load(f)["vocab_size"] == manifest["tokenizer"]["vocab_size"]
    block_size, batch_size = 64, 4
    for split in ("train", "val"):
        # nanoGPT's train.py get_batch(), as written there.
        data = np.memmap(os.path.join(data_dir, f"{split}.bin"), dtype=np.uint16, mode="r")
        assert len(data) == manifest["totals"][split]["tokens"]
        ix = torch.randint(len(data) - block_size, (batch_size,), generator=torch.Generator().manual_seed(0))
        x = torch.stack([torch.from_numpy((data[i : i + block_size]).astype(np.int64)) for i in ix])
        y = torch.stack([torch.from_numpy((data[i + 1 : i + 1 + block_size]).astype(np.int64)) for i in ix])
        assert x.shape == (batch_size, block_size) and torch.equal(x[:, 1:], y[:, :-1])
        ours = np.concatenate(
            [
                np.fromfile(token_dir / "shards" / f"{s['name']}.{split}.bin", dtype=np.uint16)
                for s in manifest["shards"]
            ]
        )
        assert np.array_equal(np.asarray(data), ours)
    assert set(manifest["exports"]) == {"megatron", "nanogpt"}
