"""Token directories in other trainers' formats: Megatron-LM's indexed dataset and nanoGPT's ``train.bin``.

Both are written from a finished token directory (its shards in manifest order, the order our loader reads),
with the same documents and separators:

- **Megatron** (``megatron/{train,val}.bin`` + ``.idx``; pass ``tokens/megatron/train`` as Megatron-LM's or
  NeMo's ``--data-path``): the ``.bin`` is the raw ids, each document followed by ``<|endoftext|>`` (what
  Megatron's ``preprocess_data.py --append-eod`` writes); the ``.idx`` is, little-endian: the magic
  ``MMIDIDX\\x00\\x00``, version u64 = 1, the dtype code u8 (8 = uint16, 4 = int32), the sequence count u64,
  the document count u64 (sequences + 1), int32 sequence lengths, int64 byte offsets of each sequence, and
  int64 document indices (0, 1, …, n: one sequence per document).
- **nanoGPT** (``nanogpt/train.bin``, ``nanogpt/val.bin``, ``meta.pkl``): one flat uint16 array per split,
  read by nanoGPT's ``train.py`` as ``np.memmap(path, dtype=np.uint16, mode='r')``; ``meta.pkl`` holds
  ``{"vocab_size": …}``, which nanoGPT reads to size its embedding. nanoGPT cannot hold ids ≥ 65 536.

Documents are found by their separators: the tokenize job encodes separator text inside a document as text,
so every ``eot`` id in a shard ends a document.
"""

from __future__ import annotations

import os
import pickle
import struct
from pathlib import Path

import numpy as np

MEGATRON_MAGIC = b"MMIDIDX\x00\x00"
MEGATRON_DTYPES = {"uint8": 1, "int8": 2, "int16": 3, "int32": 4, "int64": 5, "float64": 6, "float32": 7,
                   "uint16": 8}  # fmt: skip
FORMATS = ("megatron", "nanogpt")


def _shard_arrays(token_dir: Path, manifest: dict, split: str):
    dtype = np.dtype(manifest["dtype"])
    for s in manifest["shards"]:
        n = s[f"{split}_tokens"]
        if n:
            yield np.memmap(
                token_dir / "shards" / f"{s['name']}.{split}.bin", dtype=dtype, mode="r", shape=(n,)
            )


def _concat(token_dir: Path, manifest: dict, split: str, path: Path, dtype: np.dtype) -> list[int]:
    """Write the split's shards one after the other into ``path`` (atomically); returns document lengths."""
    eot = manifest["tokenizer"]["eot_id"]
    lengths: list[int] = []
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        for a in _shard_arrays(token_dir, manifest, split):
            ends = [np.zeros(1, np.int64)]
            for start in range(0, a.size, 1 << 24):  # 16 M tokens at a time: bounded memory
                chunk = np.asarray(a[start : start + (1 << 24)])
                chunk.astype(dtype, copy=False).tofile(f)
                ends.append(np.flatnonzero(chunk == eot) + start + 1)
            lengths += np.diff(np.concatenate(ends)).tolist()
    os.replace(tmp, path)
    return lengths


def write_megatron(token_dir: str | Path, manifest: dict) -> dict:
    """``megatron/{split}.bin`` + ``.idx`` for both splits; returns ``{split: {"docs", "tokens"}}``."""
    token_dir = Path(token_dir)
    out = token_dir / "megatron"
    out.mkdir(exist_ok=True)
    # uint32 has no Megatron code; ids below 2**31 are the same bytes as int32.
    dtype = np.dtype(np.uint16) if manifest["dtype"] == "uint16" else np.dtype(np.int32)
    summary = {}
    for split in ("train", "val"):
        lengths = np.asarray(_concat(token_dir, manifest, split, out / f"{split}.bin", dtype), dtype=np.int64)
        pointers = (np.cumsum(lengths) - lengths) * dtype.itemsize
        n = lengths.size
        tmp = out / f"{split}.idx.tmp"
        with open(tmp, "wb") as f:
            f.write(MEGATRON_MAGIC)
            f.write(struct.pack("<Q", 1))
            f.write(struct.pack("<B", MEGATRON_DTYPES[dtype.name]))
            f.write(struct.pack("<Q", n))
            f.write(struct.pack("<Q", n + 1))
            f.write(lengths.astype("<i4").tobytes())
            f.write(pointers.astype("<i8").tobytes())
            f.write(np.arange(n + 1, dtype="<i8").tobytes())
        os.replace(tmp, out / f"{split}.idx")
        summary[split] = {"docs": int(n), "tokens": int(lengths.sum())}
    return summary


def write_nanogpt(token_dir: str | Path, manifest: dict) -> dict:
    """``nanogpt/{train,val}.bin`` (uint16) and ``meta.pkl``; returns ``{split: {"tokens"}}``."""
    if manifest["dtype"] != "uint16":
        raise ValueError(
            f"nanoGPT reads uint16 ids; this vocabulary of {manifest['tokenizer']['vocab_size']} needs "
            f"{manifest['dtype']} (use the megatron format or our shards)"
        )
    token_dir = Path(token_dir)
    out = token_dir / "nanogpt"
    out.mkdir(exist_ok=True)
    summary = {}
    for split in ("train", "val"):
        lengths = _concat(token_dir, manifest, split, out / f"{split}.bin", np.dtype(np.uint16))
        summary[split] = {"tokens": int(sum(lengths))}
    tmp = out / "meta.pkl.tmp"
    tmp.write_bytes(pickle.dumps({"vocab_size": manifest["tokenizer"]["vocab_size"]}))
    os.replace(tmp, out / "meta.pkl")
    return summary


def check_formats(formats: tuple[str, ...], dtype: str) -> None:
    """Fail before any work on an unknown format or one that cannot hold the vocabulary."""
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ValueError(f"unknown format(s) {unknown}: choose from {list(FORMATS)}")
    if "nanogpt" in formats and dtype != "uint16":
        raise ValueError(f"the nanogpt format holds uint16 ids; this vocabulary needs {dtype}")


def export(token_dir: str | Path, manifest: dict, formats: tuple[str, ...]) -> dict:
    """Write each of ``formats`` (``megatron``, ``nanogpt``); returns what each wrote."""
    check_formats(formats, manifest["dtype"])
    writers = {"megatron": write_megatron, "nanogpt": write_nanogpt}
    return {f: writers[f](token_dir, manifest) for f in formats}
