"""Token shards as training batches: deterministic, resumable, shardable across DDP ranks.

A split (``train`` or ``val``) of a token directory is one virtual array: its shards' ``.bin`` files
memory-mapped and concatenated in manifest order. The array is cut into windows of ``block_size + 1`` tokens
(window k starts at k · block_size; x is its first block_size tokens, y the same shifted by one). Each epoch
visits every window once in an order drawn from (seed, epoch). The loader's whole state is one integer,
the number of windows consumed, which the checkpoint records: resuming reproduces the exact batches of an
uninterrupted run. Documents are not aligned to windows: a window may span an ``<|endoftext|>``, which is
how GPT-2 and nanoGPT train too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from train.tokenize import MANIFEST


def read_manifest(data_dir: str | Path) -> dict:
    """The manifest of a token directory; a missing one means the tokenize job did not finish."""
    path = Path(data_dir) / MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run `curate tokenize` (or finish it) first")
    return json.loads(path.read_text())


def _xy(buf: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T+1) windows → inputs and next-token targets, each (B, T), contiguous."""
    return torch.from_numpy(np.ascontiguousarray(buf[:, :-1])), torch.from_numpy(
        np.ascontiguousarray(buf[:, 1:])
    )


class TokenSplit:
    """One split of a token directory as a single read-only array of ``size`` tokens."""

    def __init__(self, data_dir: str | Path, split: str = "train") -> None:
        self.manifest = read_manifest(data_dir)
        dtype = np.dtype(self.manifest["dtype"])
        shard_dir = Path(data_dir) / "shards"
        lengths = [s[f"{split}_tokens"] for s in self.manifest["shards"]]
        # np.memmap cannot map an empty file, and an empty shard adds nothing: skip it.
        self.arrays = [
            np.memmap(shard_dir / f"{s['name']}.{split}.bin", dtype=dtype, mode="r", shape=(n,))
            for s, n in zip(self.manifest["shards"], lengths)
            if n > 0
        ]
        self.starts = np.cumsum([0] + [a.size for a in self.arrays])  # start offset of each shard
        self.size = int(self.starts[-1])
        self.split = split

    def read(self, start: int, length: int) -> np.ndarray:
        """Tokens [start, start + length) of the split, across shard boundaries if need be."""
        out = np.empty(length, dtype=np.int64)
        i = int(np.searchsorted(self.starts, start, side="right")) - 1
        done = 0
        while done < length:
            a, off = self.arrays[i], start + done - int(self.starts[i])
            n = min(length - done, a.size - off)
            out[done : done + n] = a[off : off + n]
            done += n
            i += 1
        return out


class BatchLoader:
    """Batches (x, y), each (batch_size, block_size) int64, from one split; see the module docstring.

    With DDP, every rank builds the same loader and takes its own ``batch_size`` rows of each global batch
    of ``batch_size * world_size`` windows, so the ranks never see the same window in an epoch.
    """

    def __init__(
        self,
        data: TokenSplit,
        batch_size: int,
        block_size: int,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.data, self.batch_size, self.block_size = data, batch_size, block_size
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.num_windows = (data.size - 1) // block_size
        if self.num_windows < 1:
            raise ValueError(
                f"the {data.split} split has {data.size} tokens, fewer than block_size + 1 = "
                f"{block_size + 1}: tokenize more data or lower block_size"
            )
        self.consumed = 0  # windows consumed by all ranks together: the loader's entire state
        self._epoch, self._perm = -1, np.empty(0, dtype=np.int64)

    def _window(self, g: int) -> int:
        """The window the g-th draw (counting from the start of training) lands on."""
        epoch, i = divmod(g, self.num_windows)
        if epoch != self._epoch:
            self._epoch = epoch
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(self.num_windows)
        return int(self._perm[i])

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next (x, y) of this rank; both (B, T) int64 on the CPU."""
        B, T = self.batch_size, self.block_size
        first = self.consumed + self.rank * B
        buf = np.stack(
            [self.data.read(self._window(g) * T, T + 1) for g in range(first, first + B)]
        )  # (B, T+1)
        self.consumed += B * self.world_size
        return _xy(buf)

    @property
    def epoch(self) -> float:
        return self.consumed / self.num_windows

    def state_dict(self) -> dict:
        return {
            "consumed": self.consumed,
            "seed": self.seed,
            "num_windows": self.num_windows,
            "block_size": self.block_size,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore the position; refuses a position taken on different data, which would not resume exactly."""
        for k in ("seed", "num_windows", "block_size"):
            if state[k] != getattr(self, k):
                raise ValueError(
                    f"checkpoint's data loader has {k}={state[k]}, this data gives {getattr(self, k)}"
                )
        self.consumed = state["consumed"]


def sequential_batches(
    data: TokenSplit,
    batch_size: int,
    block_size: int,
    max_batches: int | None = None,
    rank: int = 0,
    world_size: int = 1,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Evaluation batches: the split's windows in order, the same on every call (rank r takes every
    world_size-th batch). The last batch may be smaller; a split shorter than one window yields one
    shorter window."""
    T = min(block_size, data.size - 1)
    if T < 1:
        return
    n = (data.size - 1) // T
    batches = [range(s, min(s + batch_size, n)) for s in range(0, n, batch_size)][:max_batches]
    for b in batches[rank::world_size]:
        buf = np.stack([data.read(w * T, T + 1) for w in b])  # (b, T+1)
        yield _xy(buf)
