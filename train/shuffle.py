"""The global shuffle's second pass: gather one output shard's documents from every stage file.

The first pass (:func:`train.tokenize.tokenize_one_shard`) gives every document a 64-bit shuffle key, a hash
of (seed, source, id), and writes each input shard's documents sorted by key. Sorting all documents by such
a key is a uniform random shuffle, so the global order is simply "by key", and output shard b of K holds the
key range [b·2⁶⁴/K, (b+1)·2⁶⁴/K): in each stage file that range is one contiguous run of documents, found by
binary search and read in one slice. A shard's task holds only its own documents (≈ ``shard_tokens``), never
the dataset, and its output depends on the documents and the seed, not on how the inputs were sharded.

A source repeated for several epochs (a mixture) sends epoch e's copy of each document through the key
rotated by a seeded offset, so each copy lands in a different shard; inside a shard documents are ordered by
a hash of (key, epoch), which interleaves sources and epochs at random.

:func:`global_pass` is the driver's side: it plans every source's epochs and runs one :func:`gather_bucket`
task per output shard (resumable, :mod:`train.tasks`).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from train.mixture import KEY_SPACE, count_below, partial_epoch, plan_targets
from train.tasks import SPLITS, counts, finished, run_tasks

MASK = KEY_SPACE - 1


def write_atomic(path: Path, data: bytes | np.ndarray) -> None:
    """Write to ``path.tmp`` then rename: a reader never sees a half-written file."""
    tmp = path.with_name(path.name + ".tmp")
    if isinstance(data, np.ndarray):
        data.tofile(tmp)
    else:
        tmp.write_bytes(data)
    os.replace(tmp, path)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser on uint64 values: a fixed bijection that scrambles every bit."""
    x = np.asarray(x, dtype=np.uint64).copy()
    with np.errstate(over="ignore"):
        x += np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def shuffle_key(seed: int, source: str, doc_id: str) -> int:
    """A document's 64-bit shuffle key: a pure function of (seed, source name, id)."""
    h = hashlib.blake2b(f"{seed}\0{source}\0{doc_id}".encode(), digest_size=8, person=b"curate-shuf")
    return int.from_bytes(h.digest(), "little")


def epoch_offset(seed: int, source: str, epoch: int) -> int:
    """How far epoch ``epoch``'s copy of a source is rotated in key space (0 for the first epoch)."""
    if epoch == 0:
        return 0
    return shuffle_key(seed, source, f"\0epoch {epoch}")


def key_intervals(bucket: int, n_buckets: int, offset: int) -> list[tuple[int, int]]:
    """The base-key intervals [a, b) whose keys, rotated by ``offset``, fall in output shard ``bucket``."""
    lo, hi = bucket * KEY_SPACE // n_buckets, (bucket + 1) * KEY_SPACE // n_buckets
    a = (lo - offset) % KEY_SPACE
    if a + (hi - lo) <= KEY_SPACE:
        return [(a, a + hi - lo)]
    return [(a, KEY_SPACE), (0, a + hi - lo - KEY_SPACE)]


def _stage_arrays(prefix: str, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    keys = np.load(f"{prefix}.keys.npy", mmap_mode="r")
    offsets = np.load(f"{prefix}.offsets.npy", mmap_mode="r")
    n = int(offsets[-1])
    tokens = np.memmap(f"{prefix}.bin", dtype=dtype, mode="r", shape=(n,)) if n else np.empty(0, dtype)
    return keys, offsets, tokens


def gather_bucket(
    bucket: int,
    n_buckets: int,
    pieces: list[dict],
    out_dir: str,
    dtype_name: str,
    eot: int,
    params: dict,
) -> dict:
    """Write output shard ``bucket`` (``shards/NNNNN.{train,val}.bin``, its ``.json`` and ``.done``).

    ``pieces``: what to take from each stage file — ``{"prefix", "split", "source", "epoch", "offset",
    "limit", "trunc"}``: documents of file ``prefix`` (only its first ``limit`` ones when set; ``trunc`` =
    ``[position, tokens]`` adds that document cut to ``tokens``, the separator last) whose key rotated by
    ``offset`` lies in the shard's range. ``params`` are recorded; a rerun skips a shard whose match.
    """
    t0 = time.perf_counter()
    dtype = np.dtype(dtype_name)
    name = f"{bucket:05d}"
    shard_dir = Path(out_dir) / "shards"
    info: dict[str, Any] = {"name": name, "params": params, "sources": {}}
    for split in ("train", "val"):
        chunks: list[np.ndarray] = []  # token runs read from the stage files
        lens: list[np.ndarray] = []  # document lengths, per run
        order: list[np.ndarray] = []  # order keys, per run
        tags: list[tuple[str, int]] = []  # (source, documents) per run, for the counts
        for p in (p for p in pieces if p["split"] == split):
            keys, offsets, tokens = _stage_arrays(f"{p['prefix']}.{split}", dtype)
            limit = len(keys) if p["limit"] is None else p["limit"]
            mix = np.uint64((p["offset"] + p["epoch"]) & MASK)
            for a, b in key_intervals(bucket, n_buckets, p["offset"]):
                i0, i1 = min(count_below(keys, a), limit), min(count_below(keys, b), limit)
                if i1 > i0:
                    chunks.append(np.asarray(tokens[offsets[i0] : offsets[i1]]))
                    lens.append(np.diff(np.asarray(offsets[i0 : i1 + 1])).astype(np.int64))
                    order.append(splitmix64(np.asarray(keys[i0:i1]) ^ mix))
                    tags.append((p["source"], i1 - i0))
            if p["trunc"] is not None:
                pos, n = p["trunc"]
                rotated = (int(keys[pos]) + p["offset"]) % KEY_SPACE
                lo, hi = bucket * KEY_SPACE // n_buckets, (bucket + 1) * KEY_SPACE // n_buckets
                if lo <= rotated < hi:
                    start = int(offsets[pos])
                    chunks.append(np.append(np.asarray(tokens[start : start + n - 1]), dtype.type(eot)))
                    lens.append(np.array([n], dtype=np.int64))
                    order.append(splitmix64(np.asarray(keys[pos : pos + 1]) ^ mix))
                    tags.append((p["source"], 1))
        flat = np.concatenate(chunks) if chunks else np.empty(0, dtype)
        length = np.concatenate(lens) if lens else np.empty(0, np.int64)
        start = np.cumsum(length) - length
        out = np.empty(flat.size, dtype)
        pos = 0
        for i in np.argsort(np.concatenate(order) if order else np.empty(0, np.uint64), kind="stable"):
            n = int(length[i])
            out[pos : pos + n] = flat[start[i] : start[i] + n]
            pos += n
        write_atomic(shard_dir / f"{name}.{split}.bin", out)
        info[split] = {"docs": int(length.size), "tokens": int(out.size)}
        for (source, docs), ln in zip(tags, lens):
            zero = {"docs": 0, "tokens": 0}
            c = info["sources"].setdefault(source, {"train": dict(zero), "val": dict(zero)})
            c[split]["docs"] += docs
            c[split]["tokens"] += int(ln.sum())
    info["seconds"] = round(time.perf_counter() - t0, 3)
    write_atomic(shard_dir / f"{name}.json", json.dumps(info, indent=1).encode())
    write_atomic(shard_dir / f"{name}.done", b"done\n")  # the marker, last
    return info


def plan_pieces(
    prefixes: list[str], source: str, available: int, target: int, seed: int
) -> tuple[list[dict], dict]:
    """What output shards take from one source's stage files (``prefixes``) to give it ``target`` training
    tokens of its ``available``: whole epochs, then a partial one (:func:`train.mixture.partial_epoch`), and
    its validation documents once. Returns the pieces for :func:`gather_bucket` and the plan's figures."""

    def piece(
        prefix: str, split: str, epoch: int, limit: int | None = None, trunc: list | None = None
    ) -> dict:
        offset = epoch_offset(seed, source, epoch)
        return {"prefix": prefix, "split": split, "source": source, "epoch": epoch, "offset": offset,
                "limit": limit, "trunc": trunc}  # fmt: skip

    full, rest = divmod(target, available) if available else (0, 0)
    pieces = [piece(p, "train", e) for e in range(full) for p in prefixes]
    cut = None
    if rest:
        keys = [np.load(f"{p}.train.keys.npy", mmap_mode="r") for p in prefixes]
        offsets = [np.load(f"{p}.train.offsets.npy", mmap_mode="r") for p in prefixes]
        limits, cut = partial_epoch(keys, offsets, rest)
        for i, p in enumerate(prefixes):
            trunc = [cut[1], cut[2]] if cut is not None and cut[0] == i else None
            pieces.append(piece(p, "train", full, limits[i], trunc))
    pieces += [piece(p, "val", 0) for p in prefixes]
    epochs = target / available if available else 0.0
    return pieces, {
        "target_tokens": target,
        "epochs": epochs,
        "full_epochs": full,
        "truncated_docs": int(cut is not None),
    }


def global_pass(
    sources, stages, per_source, out, stage_dir, seed, shard_tokens, total_tokens, mixture, dtype, eot,
    fingerprint, max_workers, progress, ray_address,
) -> list[dict]:  # fmt: skip
    """Plan every source's epochs, then run pass 2 (one task per output shard); returns the shard list."""
    from curate.raysession import init_ray

    available = [per_source[s.name]["available"]["train"]["tokens"] for s in sources]
    targets = plan_targets(sources, available, total_tokens) if mixture else available
    pieces = []
    for s, a, target in zip(sources, available, targets):
        prefixes = [str((stage_dir / n).resolve()) for src, _, n in stages if src is s]
        mine, plan = plan_pieces(prefixes, s.name, a, target, seed)
        pieces += mine
        per_source[s.name].update(plan)
    n_buckets = max(1, -(-sum(targets) // shard_tokens))
    plan_sha = hashlib.sha256(json.dumps([n_buckets, pieces], sort_keys=True).encode()).hexdigest()
    shard_dir = out / "shards"
    infos_out: dict[str, dict] = {}
    jobs = []
    for b in range(n_buckets):
        name = f"{b:05d}"
        params = {"fingerprint": fingerprint, "plan": plan_sha}
        done = finished(shard_dir, name, {"params": params})
        if done is not None:
            infos_out[name] = done
        else:
            jobs.append((name, (b, n_buckets, pieces, str(out.resolve()), dtype.name, eot, params), {}))
    if jobs:
        init_ray(ray_address)
        infos_out.update(run_tasks(gather_bucket, jobs, max_workers, progress, "shuffle"))
    keep = {f"{b:05d}{x}" for b in range(n_buckets) for x in (".train.bin", ".val.bin", ".json", ".done")}
    for p in shard_dir.iterdir():  # what a former job left (more shards, another layout)
        if p.name not in keep:
            p.unlink()
    written: dict[str, dict[str, dict[str, int]]] = {}
    for info in infos_out.values():
        for src, c in info["sources"].items():
            w = written.setdefault(src, {sp: {"docs": 0, "tokens": 0} for sp in SPLITS})
            for sp in SPLITS:
                for k in ("docs", "tokens"):
                    w[sp][k] += c[sp][k]
    for s in sources:
        per_source[s.name]["written"] = written.get(s.name, {sp: {"docs": 0, "tokens": 0} for sp in SPLITS})
    return [{"name": f"{b:05d}", **counts(infos_out[f"{b:05d}"])} for b in range(n_buckets)]
