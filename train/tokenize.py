"""The tokenize job: documents (curated Parquet, JSONL, text) → token shards the trainer memory-maps.

Two shuffles (``shuffle=``):

- ``global`` (the default for new runs): every document of every input lands at a seeded random place in the
  whole dataset, with bounded memory, in two Ray passes. Pass 1, one task per input file: tokenize, give each
  document a 64-bit shuffle key (a hash of seed, source and id), write the file's documents sorted by key to
  ``stage/``. Pass 2, one task per output shard: gather the shard's key range from every stage file and
  write it (:mod:`train.shuffle`). The number of output shards is the training tokens / ``shard_tokens``.
  Mixtures (:func:`tokenize_mixture`: several sources in token ratios, repeated up to ``max_epochs``) need it.
- ``shard``: the first pass alone, into ``shards/``: documents shuffled within each input file, and the list
  of files shuffled (a batch then holds runs of one crawl file).

Each document goes to validation when a hash of (seed, id) falls under ``val_fraction``, so the split does not
depend on how the documents are sharded. Output, for shard ``NNNNN``::

    shards/NNNNN.train.bin   raw token ids (uint16, or uint32 when the vocabulary needs it): doc EOT doc EOT …
    shards/NNNNN.val.bin     the same for the validation documents
    shards/NNNNN.json        counts and the parameters that produced it;  NNNNN.done  the marker, last

then ``manifest.json`` (the shards in reading order, counts per source, the tokenizer's SHA-256, the
job's fingerprint) and a copy of ``tokenizer.json``; ``formats`` adds Megatron and nanoGPT files
(:mod:`train.export`). Every file is written to a temporary name and renamed. A rerun skips every task whose
marker exists with the same parameters, so a killed job resumes with no document lost or doubled; a finished
job whose fingerprint matches returns its manifest at once. Inputs are fsspec URLs or paths; the output is a
local (or shared-filesystem) directory, since the trainer memory-maps it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
from tokenizers import Tokenizer

from train.export import check_formats, export
from train.inputs import expand_inputs, read_documents
from train.mixture import Source, parse_mix
from train.shuffle import global_pass, shuffle_key, write_atomic
from train.tasks import SPLITS, counts, finished, run_tasks
from train.tokenizer import EOT, encode_documents, eot_id

MANIFEST = "manifest.json"
SHUFFLES = ("global", "shard")
SHARD_TOKENS = 100_000_000  # 200 MB of uint16 per output shard: what one pass-2 task holds

__all__ = ["MANIFEST", "tokenize_shards", "tokenize_mixture", "tokenize_one_shard", "write_atomic"]


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 holds ids below 65 536 (half the disk and page cache of uint32); larger vocabularies need 32."""
    return np.dtype(np.uint16 if vocab_size <= 2**16 else np.uint32)


def in_validation(seed: int, doc_id: str, val_fraction: float) -> bool:
    """Whether a document belongs to the validation split: a pure function of (seed, id)."""
    h = hashlib.blake2b(f"{seed}\0{doc_id}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "little") / 2**64 < val_fraction


def write_tokens(
    path: Path, tok: Any, docs: list[str], eot: int, dtype: np.dtype, chunk: int = 1024
) -> np.ndarray:
    """Encode ``docs`` as ``doc EOT doc EOT …`` into ``path`` (atomically); returns the n + 1 token offsets.

    Encodes ``chunk`` documents at a time, so memory holds one chunk's token lists, not a whole shard's
    (Python int lists take ~36 bytes a token)."""
    tmp = path.with_name(path.name + ".tmp")
    lengths = np.empty(len(docs), dtype=np.uint64)
    with open(tmp, "wb") as f:
        for start in range(0, len(docs), chunk):
            encoded = encode_documents(tok, docs[start : start + chunk])
            buf = np.empty(sum(len(e) for e in encoded) + len(encoded), dtype=dtype)
            pos = 0
            for i, e in enumerate(encoded):  # the separator follows every document
                buf[pos : pos + len(e)] = e
                buf[pos + len(e)] = eot
                pos += len(e) + 1
                lengths[start + i] = len(e) + 1
            buf.tofile(f)
    os.replace(tmp, path)
    return np.concatenate([np.zeros(1, np.uint64), np.cumsum(lengths, dtype=np.uint64)])


def _save_npy(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.save(f, array)
    os.replace(tmp, path)


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
    *,
    source_name: str = "",
    subdir: str = "shards",
    storage_options: dict | None = None,
) -> dict:
    """Tokenize one input file into ``out_dir/<subdir>/<name>.*`` (the body of a pass-1 Ray task).

    Per split: ``.bin`` (the documents sorted by shuffle key, each followed by the separator),
    ``.keys.npy`` (their sorted uint64 keys) and ``.offsets.npy`` (n + 1 token offsets); then ``.json``
    and the ``.done`` marker.
    """
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # one core per task; Ray owns the parallelism
    if tok_sha not in _TOKENIZERS:
        _TOKENIZERS[tok_sha] = Tokenizer.from_str(tok_json)
    tok = _TOKENIZERS[tok_sha]
    eot_ = eot_id(tok, eot)
    dtype = token_dtype(tok.get_vocab_size())
    t0, cpu0 = time.perf_counter(), time.process_time()

    ids, texts = read_documents(source, storage_options)
    keep = [i for i, t in enumerate(texts) if t]  # null or empty text: counted, not tokenized
    out = Path(out_dir) / subdir
    info: dict[str, Any] = {
        "source": source,
        "name": name,
        "source_name": source_name,
        "tokenizer_sha256": tok_sha,
        "seed": seed,
        "val_fraction": val_fraction,
        "dtype": dtype.name,
        "skipped_empty": len(texts) - len(keep),
    }
    val = {i: in_validation(seed, ids[i], val_fraction) for i in keep}
    for split in SPLITS:
        rows = [i for i in keep if val[i] == (split == "val")]
        keys = np.array([shuffle_key(seed, source_name, ids[i]) for i in rows], dtype=np.uint64)
        order = np.argsort(keys, kind="stable")  # by key: a seeded shuffle; ties keep file order
        offsets = write_tokens(out / f"{name}.{split}.bin", tok, [texts[rows[j]] for j in order], eot_, dtype)
        _save_npy(out / f"{name}.{split}.keys.npy", keys[order])
        _save_npy(out / f"{name}.{split}.offsets.npy", offsets)
        info[split] = {"docs": len(rows), "tokens": int(offsets[-1])}
    info["seconds"] = round(time.perf_counter() - t0, 3)
    info["cpu_seconds"] = round(time.process_time() - cpu0, 3)  # unlike wall time, not inflated by other load
    write_atomic(out / f"{name}.json", json.dumps(info, indent=1).encode())
    write_atomic(out / f"{name}.done", b"done\n")  # the marker, last
    return info


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
    shuffle: str | None = None,
    shard_tokens: int = SHARD_TOKENS,
    formats: Sequence[str] = (),
    keep_stage: bool = False,
    storage_options: dict | None = None,
) -> dict:
    """Tokenize documents into ``output`` (see the module docstring); returns the manifest.

    ``inputs``: Parquet, JSONL or text files — paths, directories or globs, local or fsspec URLs
    (``storage_options`` go to fsspec). ``tokenizer``: any HF ``tokenizer.json`` (path or URL) that has the
    ``eot`` token. ``seed`` fixes the shuffle and the train/val assignment (``val_fraction`` of documents).
    ``shuffle``: ``global`` or ``shard``; None is ``global`` unless ``output`` holds a finished
    shard-shuffled job (which is then resumed as it was made). ``shard_tokens``: training tokens per output
    shard (global). ``formats``: also ``megatron`` and/or ``nanogpt``. ``keep_stage``: keep pass 1's files.
    ``max_workers`` caps the tasks in flight (default: as many as Ray has cores). Raises RuntimeError, after
    all other tasks finished, if one failed its retries; a rerun retries it.
    """
    if shuffle is None:
        path = Path(output) / MANIFEST
        shuffle = json.loads(path.read_text()).get("shuffle", "shard") if path.exists() else "global"
    return _tokenize(
        [Source("", tuple([inputs] if isinstance(inputs, str) else inputs), 1.0, None)],
        tokenizer,
        output,
        seed=seed,
        val_fraction=val_fraction,
        eot=eot,
        ray_address=ray_address,
        max_workers=max_workers,
        progress=progress,
        shuffle=shuffle,
        shard_tokens=shard_tokens,
        formats=tuple(formats),
        keep_stage=keep_stage,
        storage_options=storage_options,
        total_tokens=None,
        mixture=False,
    )


def tokenize_mixture(
    sources: Sequence[Source | str],
    tokenizer: str | Path,
    output: str | Path,
    *,
    total_tokens: int | None = None,
    max_epochs: float | None = None,
    seed: int = 0,
    val_fraction: float = 0.01,
    eot: str = EOT,
    ray_address: str | None = None,
    max_workers: int | None = None,
    progress: bool = True,
    shard_tokens: int = SHARD_TOKENS,
    formats: Sequence[str] = (),
    keep_stage: bool = False,
    storage_options: dict | None = None,
) -> dict:
    """Tokenize a mixture into one globally shuffled token directory; returns the manifest.

    ``sources``: :class:`train.mixture.Source` objects or ``"NAME=PATH_OR_GLOB:WEIGHT"`` strings. The
    training split holds the sources in the ratio of their weights, counted in tokens, exactly (integer
    allocation, the last document of a partial epoch cut to fit): ``total_tokens`` in all, or by default the
    most that no source's ``max_epochs`` cap forbids. ``max_epochs`` (when given) overrides every source's
    own cap. The validation split holds every source's validation documents once. The manifest's
    ``sources`` records, per source, its tokens available, its target, the epochs that makes and what was
    written. Other arguments as in :func:`tokenize_shards` (the shuffle is always global).
    """
    parsed = [s if isinstance(s, Source) else parse_mix(s) for s in sources]
    if max_epochs is not None:
        parsed = [Source(s.name, s.inputs, s.weight, max_epochs) for s in parsed]
    names = [s.name for s in parsed]
    if not parsed or len(set(names)) != len(names) or "" in names:
        raise ValueError(f"a mixture needs one or more sources with distinct, non-empty names: {names}")
    return _tokenize(
        parsed,
        tokenizer,
        output,
        seed=seed,
        val_fraction=val_fraction,
        eot=eot,
        ray_address=ray_address,
        max_workers=max_workers,
        progress=progress,
        shuffle="global",
        shard_tokens=shard_tokens,
        formats=tuple(formats),
        keep_stage=keep_stage,
        storage_options=storage_options,
        total_tokens=total_tokens,
        mixture=True,
    )


def _tokenize(
    sources: list[Source],
    tokenizer: str | Path,
    output: str | Path,
    *,
    seed: int,
    val_fraction: float,
    eot: str,
    ray_address: str | None,
    max_workers: int | None,
    progress: bool,
    shuffle: str,
    shard_tokens: int,
    formats: tuple[str, ...],
    keep_stage: bool,
    storage_options: dict | None,
    total_tokens: int | None,
    mixture: bool,
) -> dict:
    from curate.raysession import init_ray

    # Configuration errors first, before any work.
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if shuffle not in SHUFFLES:
        raise ValueError(f"shuffle must be one of {SHUFFLES}, got {shuffle!r}")
    if shard_tokens < 1:
        raise ValueError(f"shard_tokens must be >= 1, got {shard_tokens}")
    files = {s.name: expand_inputs(s.inputs, storage_options) for s in sources}
    tok_bytes = _read_bytes(tokenizer, storage_options)
    tok = Tokenizer.from_str(tok_bytes.decode("utf-8"))
    eot_id(tok, eot)  # fail before any work if the tokenizer has no separator
    dtype = token_dtype(tok.get_vocab_size())
    check_formats(formats, dtype.name)
    tok_sha = hashlib.sha256(tok_bytes).hexdigest()  # as tokenizer_sha256 gives for the file
    out = Path(output)
    fingerprint = hashlib.sha256(
        json.dumps(
            [[s.__dict__ | {"inputs": files[s.name]} for s in sources], tok_sha, seed, val_fraction, shuffle]
            + ([shard_tokens, total_tokens] if shuffle == "global" else []),
            sort_keys=True,
            default=list,
        ).encode()
    ).hexdigest()
    manifest_path = out / MANIFEST
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("fingerprint") == fingerprint:
            missing = tuple(f for f in formats if f not in manifest.get("exports", {}))
            if missing:
                manifest["exports"] = {**manifest.get("exports", {}), **export(out, manifest, missing)}
                write_atomic(manifest_path, json.dumps(manifest, indent=1).encode())
            return manifest
        manifest_path.unlink()  # another job's: this one replaces it
    stage_dir = out / ("stage" if shuffle == "global" else "shards")
    stage_dir.mkdir(parents=True, exist_ok=True)
    (out / "shards").mkdir(exist_ok=True)
    with open(out / "tokenizer.json.tmp", "wb") as f:
        f.write(tok_bytes)
    os.replace(out / "tokenizer.json.tmp", out / "tokenizer.json")

    # Pass 1: one task per input file.
    stages: list[tuple[Source, str, str]] = []  # (source, input file, stage name)
    for s in sources:
        for i, path in enumerate(files[s.name]):
            stages.append((s, path, f"{s.name}-{i:05d}" if mixture else f"{i:05d}"))
    infos: dict[str, dict] = {}
    jobs = []
    tok_ref = None
    for s, path, name in stages:
        params = {"source": path, "source_name": s.name, "tokenizer_sha256": tok_sha, "seed": seed,
                  "val_fraction": val_fraction}  # fmt: skip
        done = finished(stage_dir, name, params)
        if done is not None:
            infos[name] = done
            continue
        if tok_ref is None:
            init_ray(ray_address)
            import ray

            tok_ref = ray.put(tok.to_str())
        args = (path, name, tok_ref, tok_sha, str(out.resolve()), seed, val_fraction, eot)
        kwargs = {"source_name": s.name, "subdir": stage_dir.name, "storage_options": storage_options}
        jobs.append((name, args, kwargs))
    if jobs:
        infos.update(run_tasks(tokenize_one_shard, jobs, max_workers, progress, "tokenize"))

    per_source: dict[str, dict[str, Any]] = {}
    for s in sources:
        mine = [infos[n] for src, _, n in stages if src is s]
        per_source[s.name] = {
            "inputs": files[s.name],
            "weight": s.weight,
            "max_epochs": s.max_epochs,
            "available": {sp: {k: sum(i[sp][k] for i in mine) for k in ("docs", "tokens")} for sp in SPLITS},
            "skipped_empty": sum(i["skipped_empty"] for i in mine),
        }

    if shuffle == "shard":
        names = [n for _, _, n in stages]
        order = np.random.default_rng(seed).permutation(len(names))  # neighbouring files are not neighbours
        shards = [{"name": names[i], "source": stages[i][1], **counts(infos[names[i]])} for i in order]
    else:
        shards = global_pass(
            sources, stages, per_source, out, stage_dir, seed, shard_tokens, total_tokens, mixture,
            dtype, eot_id(tok, eot), fingerprint, max_workers, progress, ray_address,
        )  # fmt: skip

    totals = {s: {k: sum(x[f"{s}_{k}"] for x in shards) for k in ("docs", "tokens")} for s in SPLITS}
    manifest = {
        "version": 2,
        "fingerprint": fingerprint,
        "shuffle": shuffle,
        "tokenizer": {
            "file": "tokenizer.json",
            "sha256": tok_sha,
            "vocab_size": tok.get_vocab_size(),
            "eot_token": eot,
            "eot_id": eot_id(tok, eot),
        },
        "dtype": dtype.name,
        "seed": seed,
        "val_fraction": val_fraction,
        "inputs": [p for s in sources for p in s.inputs],
        "shard_tokens": shard_tokens if shuffle == "global" else None,
        "shards": shards,
        "totals": {**totals, "skipped_empty": sum(v["skipped_empty"] for v in per_source.values())},
        # The figures reports ask for most, at the top level too.
        "train_tokens": totals["train"]["tokens"],
        "val_tokens": totals["val"]["tokens"],
        "documents": totals["train"]["docs"] + totals["val"]["docs"],
    }
    if mixture:
        manifest["sources"] = per_source
    manifest["exports"] = export(out, manifest, formats)
    write_atomic(manifest_path, json.dumps(manifest, indent=1).encode())
    if shuffle == "global" and not keep_stage:
        shutil.rmtree(stage_dir, ignore_errors=True)
    return manifest


def _read_bytes(path: str | Path, storage_options: dict | None) -> bytes:
    with fsspec.open(str(path), "rb", **(storage_options or {})) as f:
        return f.read()


