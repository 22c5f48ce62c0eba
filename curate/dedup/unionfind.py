"""Connected components of the verified duplicate pairs.

``components(a, b)`` is a vectorised union-find: min-label hooking (every edge pulls both endpoints' labels
down to the smaller one, ``np.minimum.at``) alternated with pointer jumping (``label = label[label]``) until
nothing changes. The label of a component is its smallest global row, so the result does not depend on the
order of the pairs.

When the pairs do not fit one process, ``distributed_components`` runs the same min-label propagation as
parallel tasks over partitions of the edge files: each round every task reads the current labels (one
``.npz`` file in the stage's folder, so tasks on any node read it) and its edges and writes the lowered labels it proposes; the driver takes the
minimum per vertex and jumps pointers. Rounds are bounded by the components' diameter after jumping
(logarithmic in practice).
"""

from __future__ import annotations

import io

import numpy as np

from curate.dedup.workfiles import uint64_column
from curate.rundir import StageDir


def _compress(labels: np.ndarray) -> np.ndarray:
    while True:
        nxt = labels[labels]
        if np.array_equal(nxt, labels):
            return labels
        labels = nxt


def components(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(nodes, labels): every node that appears in an edge, with the smallest node of its component."""
    nodes = np.unique(np.concatenate([a, b]))
    if len(nodes) == 0:
        return nodes, nodes.copy()
    ia = np.searchsorted(nodes, a)
    ib = np.searchsorted(nodes, b)
    labels = np.arange(len(nodes), dtype=np.int64)
    while True:
        m = np.minimum(labels[ia], labels[ib])
        new = labels.copy()
        np.minimum.at(new, ia, m)
        np.minimum.at(new, ib, m)
        new = _compress(new)
        if np.array_equal(new, labels):
            break
        labels = new
    return nodes, nodes[labels]


class UnionFind:
    """A plain union-find (path halving, union to the smaller root) — the reference for the tests."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        p = self.parent.setdefault(x, x)
        while p != x:
            gp = self.parent[p]
            self.parent[x] = gp
            x, p = p, gp
        return x

    def union(self, x: int, y: int) -> None:
        rx, ry = self.find(x), self.find(y)
        if rx != ry:
            lo, hi = min(rx, ry), max(rx, ry)
            self.parent[hi] = lo


def _save_npz(sdir: StageDir, rel: str, **arrays: np.ndarray) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    sdir.write_bytes(rel, buf.getvalue())


def _load_npz(sdir: StageDir, rel: str) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(sdir.read_bytes(rel))) as z:
        return {k: z[k] for k in z.files}


def _propose(sdir: StageDir, edge_files: list[str], labels_rel: str, out_rel: str, threshold: float) -> int:
    """One round of one task: lowered labels proposed by its edges → ``out_rel`` (npz); returns count."""
    labels = _load_npz(sdir, labels_rel)["labels"]
    vs, ls = [], []
    for f in edge_files:
        t = sdir.read_table(f)
        a, b = uint64_column(t, "a").astype(np.int64), uint64_column(t, "b").astype(np.int64)
        j = t.column("jaccard").to_numpy(zero_copy_only=False)
        keep = ~(j < threshold)  # NaN (verification off) keeps the pair
        a, b = a[keep], b[keep]
        la, lb = labels[a], labels[b]
        m = np.minimum(la, lb)
        v = np.concatenate([a, b])
        lm = np.concatenate([m, m])
        low = lm < labels[v]
        vs.append(v[low])
        ls.append(lm[low])
    v = np.concatenate(vs) if vs else np.zeros(0, np.int64)
    lm = np.concatenate(ls) if ls else np.zeros(0, np.int64)
    _save_npz(sdir, out_rel, v=v, l=lm)
    return len(v)


def distributed_components(
    edge_files: list[str], n_nodes: int, sdir: StageDir, runner: object, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Min-label propagation across tasks of ``runner.map``; same output as ``components`` on kept pairs."""
    labels = np.arange(n_nodes, dtype=np.int64)
    parts = max(1, int(getattr(runner, "num_workers", 1)))
    groups = [list(edge_files[i::parts]) for i in range(parts)]
    touched = np.zeros(n_nodes, dtype=bool)
    for f in edge_files:
        t = sdir.read_table(f)
        keep = ~(t.column("jaccard").to_numpy(zero_copy_only=False) < threshold)
        touched[uint64_column(t, "a").astype(np.int64)[keep]] = True
        touched[uint64_column(t, "b").astype(np.int64)[keep]] = True
    for rnd in range(10_000):
        lrel = f"cc/labels-{rnd:04d}.npz"
        _save_npz(sdir, lrel, labels=labels)
        outs = [f"cc/prop-{rnd:04d}-{i:03d}.npz" for i in range(parts)]
        counts = runner.map(
            _propose, [(sdir, g, lrel, o, threshold) for g, o in zip(groups, outs, strict=True)]
        )
        if sum(counts) == 0:
            break
        for o in outs:
            z = _load_npz(sdir, o)
            np.minimum.at(labels, z["v"], z["l"])
        labels = _compress(labels)
        for p in [lrel, *outs]:
            sdir.rm(p)
    nodes = np.flatnonzero(touched).astype(np.uint64)
    return nodes, labels[nodes.astype(np.int64)].astype(np.uint64)
