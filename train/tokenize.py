"""The tokenize job: curated Parquet shards → token shards the trainer memory-maps.

One Ray task per input shard. Each task reads ``id`` and ``text``, shuffles the documents with a seeded RNG,
assigns each document to train or validation by a hash of (seed, id) — so the split does not depend on how
the documents happen to be sharded — encodes them and writes, for shard ``NNNNN``::

    shards/NNNNN.train.bin   raw token ids (uint16, or uint32 when the vocabulary needs it): doc EOT doc EOT …
    shards/NNNNN.val.bin     the same for the validation documents
    shards/NNNNN.json        counts, the source file and the parameters that produced it
    shards/NNNNN.done        completion marker, written last

Every file is written to a temporary name and renamed; a rerun skips shards whose marker exists and whose
parameters match, so a killed job resumes with none lost and none twice. The driver then writes
``manifest.json`` (shard list in a seeded shuffled order, counts, the tokenizer's SHA-256) and a copy of
``tokenizer.json``. Output is a local (or shared-filesystem) directory: the trainer memory-maps it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from train.inputs import expand_inputs, read_shard
from train.tokenizer import EOT, encode_documents, eot_id, load_tokenizer, tokenizer_sha256

MANIFEST = "manifest.json"
SPLITS = ("train", "val")


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 holds ids below 65 536 (half the disk and page cache of uint32); larger vocabularies need 32."""
    return np.dtype(np.uint16 if vocab_size <= 2**16 else np.uint32)


def in_validation(seed: int, doc_id: str, val_fraction: float) -> bool:
    """Whether a document belongs to the validation split: a pure function of (seed, id)."""
    h = hashlib.blake2b(f"{seed}\0{doc_id}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "little") / 2**64 < val_fraction


def write_atomic(path: Path, data: bytes | np.ndarray) -> None:
    """Write to ``path.tmp`` then rename: a reader never sees a half-written file."""
    tmp = path.with_name(path.name + ".tmp")
    if isinstance(data, np.ndarray):
        data.tofile(tmp)
    else:
        tmp.write_bytes(data)
    os.replace(tmp, path)


def write_tokens(path: Path, tok: Any, docs: list[str], eot: int, dtype: np.dtype, chunk: int = 1024) -> int:
    """Encode ``docs`` as ``doc EOT doc EOT …`` into ``path`` (atomically); returns the token count.

    Encodes ``chunk`` documents at a time, so memory holds one chunk's token lists, not a whole shard's
    (Python int lists take ~36 bytes a token)."""
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    with open(tmp, "wb") as f:
        for start in range(0, len(docs), chunk):
            encoded = encode_documents(tok, docs[start : start + chunk])
            buf = np.empty(sum(len(e) for e in encoded) + len(encoded), dtype=dtype)
            pos = 0
            for e in encoded:  # the separator follows every document
                buf[pos : pos + len(e)] = e
                buf[pos + len(e)] = eot
                pos += len(e) + 1
            buf.tofile(f)
            n += buf.size
    os.replace(tmp, path)
    return n


_TOKENIZERS: dict[str, Any] = {}  # per worker process: sha256 → Tokenizer, loaded once, not once per shard


def tokenize_one_shard(
    source: str,
    name: str,
    tok_json: str,
    tok_sha: str,
    out_dir: str,
    seed: int,
    val_fraction: float,
    eot: str,
) -> dict:
    """Tokenize one input shard into ``out_dir/shards/<name>.*`` (the body of the Ray task)."""
    from tokenizers import Tokenizer

    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # one core per task; Ray owns the parallelism
    if tok_sha not in _TOKENIZERS:
        _TOKENIZERS[tok_sha] = Tokenizer.from_str(tok_json)
    tok = _TOKENIZERS[tok_sha]
    eot_ = eot_id(tok, eot)
    dtype = token_dtype(tok.get_vocab_size())
    t0, cpu0 = time.perf_counter(), time.process_time()

    table = read_shard(source, ("id", "text"))
    ids, texts = table.column("id").to_pylist(), table.column("text").to_pylist()
    keep = [i for i, t in enumerate(texts) if t]  # null or empty text: counted, not tokenized
    # Seeded per shard, so a rerun of this shard writes the same bytes.
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    order = [keep[i] for i in rng.permutation(len(keep))]

    shard_dir = Path(out_dir) / "shards"
    info: dict[str, Any] = {
        "source": source,
        "name": name,
        "tokenizer_sha256": tok_sha,
        "seed": seed,
        "val_fraction": val_fraction,
        "dtype": dtype.name,
        "skipped_empty": len(texts) - len(keep),
    }
    val_flags = {
        i: in_validation(seed, ids[i] if ids[i] is not None else texts[i], val_fraction) for i in keep
    }
    for split in SPLITS:
        docs = [texts[i] for i in order if val_flags[i] == (split == "val")]
        n_tokens = write_tokens(shard_dir / f"{name}.{split}.bin", tok, docs, eot_, dtype)
        info[split] = {"docs": len(docs), "tokens": n_tokens}
    info["seconds"] = round(time.perf_counter() - t0, 3)
    info["cpu_seconds"] = round(time.process_time() - cpu0, 3)  # unlike wall time, not inflated by other load
    write_atomic(shard_dir / f"{name}.json", json.dumps(info, indent=1).encode())
    write_atomic(shard_dir / f"{name}.done", b"done\n")  # the marker, last
    return info


def _finished(shard_dir: Path, name: str, params: dict) -> dict | None:
    """The shard's info if its marker exists and it was made with the same source, tokenizer and split."""
    if not (shard_dir / f"{name}.done").exists():
        return None
    info = json.loads((shard_dir / f"{name}.json").read_text())
    return info if all(info.get(k) == v for k, v in params.items()) else None


def tokenize_shards(
    inputs: str | Sequence[str],
    tokenizer: str | Path,
    output: str | Path,
    *,
    seed: int = 0,
    val_fraction: float = 0.01,
    eot: str = EOT,
    ray_address: str | None = None,
    max_workers: int | None = None,
    progress: bool = True,
) -> dict:
    """Tokenize curated shards into ``output`` (see the module docstring); returns the manifest.

    ``inputs``: Parquet paths, directories or globs, local or fsspec URLs. ``tokenizer``: any HF
    ``tokenizer.json`` that has the ``eot`` token. ``seed`` fixes the document shuffle, the train/val
    assignment (``val_fraction`` of documents, by a hash of (seed, id)) and the shard order. A rerun skips
    finished shards. ``max_workers`` caps the shards in flight (default: as many as Ray has cores).
    Raises RuntimeError, after all other shards finished, if a shard failed its retries.
    """
    import ray
    from tqdm import tqdm

    from curate.raysession import init_ray

    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    sources = expand_inputs(inputs)
    tok = load_tokenizer(tokenizer)
    eot_id(tok, eot)  # fail before any work if the tokenizer has no separator
    tok_sha = tokenizer_sha256(tokenizer)
    out = Path(output)
    shard_dir = out / "shards"
    shard_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(tokenizer, out / "tokenizer.json.tmp")
    os.replace(out / "tokenizer.json.tmp", out / "tokenizer.json")

    names = [f"{i:05d}" for i in range(len(sources))]
    infos: dict[str, dict] = {}
    todo = []
    for name, source in zip(names, sources):
        params = {"source": source, "tokenizer_sha256": tok_sha, "seed": seed, "val_fraction": val_fraction}
        done = _finished(shard_dir, name, params)
        if done is not None:
            infos[name] = done
        else:
            todo.append((name, source))

    failures: dict[str, str] = {}
    if todo:
        init_ray(ray_address)
        task = ray.remote(num_cpus=1, max_retries=2, retry_exceptions=True)(tokenize_one_shard)
        tok_ref = ray.put(tok.to_str())
        refs: dict[Any, str] = {}  # in-flight task → shard name

        def submit(name: str, source: str) -> None:
            ref = task.remote(source, name, tok_ref, tok_sha, str(out.resolve()), seed, val_fraction, eot)
            refs[ref] = name

        queue = list(todo)
        for _ in range(min(len(queue), max_workers or len(queue))):
            submit(*queue.pop(0))
        bar = tqdm(total=len(todo), desc="tokenize", unit="shard", disable=not progress)
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1)
            name = refs.pop(ready[0])
            try:
                infos[name] = ray.get(ready[0])
            except Exception as e:  # reported after the rest finished, never dropped silently
                failures[name] = f"{type(e).__name__}: {e}"
            bar.update(1)
            if queue:  # keep at most max_workers shards in flight
                submit(*queue.pop(0))
        bar.close()
    if failures:
        raise RuntimeError(f"{len(failures)} shard(s) failed; rerun to retry them: {failures}")

    # The loader reads shards in this order: seeded, so neighbouring input files are not neighbours.
    order = np.random.default_rng(seed).permutation(len(names))
    shards = [
        {
            "name": names[i],
            "source": sources[i],
            **{f"{s}_{k}": infos[names[i]][s][k] for s in SPLITS for k in ("docs", "tokens")},
        }
        for i in order
    ]
    manifest = {
        "version": 1,
        "tokenizer": {
            "file": "tokenizer.json",
            "sha256": tok_sha,
            "vocab_size": tok.get_vocab_size(),
            "eot_token": eot,
            "eot_id": eot_id(tok, eot),
        },
        "dtype": token_dtype(tok.get_vocab_size()).name,
        "seed": seed,
        "val_fraction": val_fraction,
        "inputs": [inputs] if isinstance(inputs, str) else list(inputs),
        "shards": shards,
        "totals": {
            **{s: {k: sum(x[f"{s}_{k}"] for x in shards) for k in ("docs", "tokens")} for s in SPLITS},
            "skipped_empty": sum(infos[n]["skipped_empty"] for n in names),
        },
    }
    # The figures reports ask for most, at the top level too.
    totals = manifest["totals"]
    manifest["train_tokens"], manifest["val_tokens"] = totals["train"]["tokens"], totals["val"]["tokens"]
    manifest["documents"] = totals["train"]["docs"] + totals["val"]["docs"]
    write_atomic(out / MANIFEST, json.dumps(manifest, indent=1).encode())
    return manifest
