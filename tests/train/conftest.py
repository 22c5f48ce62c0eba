"""Shared fixtures of the train tests: real prose as curated shards, a tokenizer, a token directory."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

DATA = Path(__file__).parent / "data" / "wikitext2-valid-excerpt.txt"


def paragraphs() -> list[str]:
    """The excerpt's non-empty lines (paragraphs and headings), one document each: ~300 documents."""
    return [line.strip() for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_shards(out: Path, texts: list[str], n_shards: int, prefix: str = "doc") -> list[Path]:
    """Curated-style Parquet shards (zstd, the base columns of DESIGN.md) holding ``texts`` round-robin."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for s in range(n_shards):
        idx = list(range(s, len(texts), n_shards))
        table = pa.table(
            {
                "id": [f"{prefix}-{i}" for i in idx],
                "text": [texts[i] for i in idx],
                "url": [f"https://example.org/{i}" for i in idx],
                "date": ["2024-01-01T00:00:00Z"] * len(idx),
                "source": [f"crawl-{s}.warc.gz"] * len(idx),
            }
        )
        path = out / f"part-{s:05d}.parquet"
        pq.write_table(table, path, compression="zstd")
        paths.append(path)
    return paths


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory of 4 curated shards of wikitext paragraphs."""
    out = tmp_path_factory.mktemp("corpus")
    write_shards(out, paragraphs(), 4)
    return out


@pytest.fixture(scope="session")
def tokenizer_path(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from train.tokenizer import train_tokenizer

    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    train_tokenizer(str(corpus / "*.parquet"), 512, path)
    return path


@pytest.fixture(scope="session")
def token_dir(
    ray_session, corpus: Path, tokenizer_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    from train.tokenize import tokenize_shards

    out = tmp_path_factory.mktemp("tokens")
    tokenize_shards(
        str(corpus / "*.parquet"),
        tokenizer_path,
        out,
        seed=0,
        val_fraction=0.1,
        progress=False,
        shard_tokens=SHARD_TOKENS,
        formats=("megatron", "nanogpt"),
    )
    return out


SHARD_TOKENS = 20_000  # the excerpt's ~62 k training tokens → a few globally shuffled shards


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """The models here are tiny: one thread is faster than two fighting over a busy 2-core machine
    (OpenMP spin-waits make a loaded box several times slower), and it keeps timings out of the tests."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


MICRO = {  # a model that trains in well under a second per dozen steps
    "n_layer": 2,
    "n_head": 2,
    "n_embd": 64,
    "block_size": 32,
    "batch_size": 4,
    "max_steps": 12,
    "warmup_steps": 3,
    "lr": 3e-3,
    "min_lr": 3e-4,
    "eval_interval": 4,
    "eval_batches": 2,
    "log_interval": 1,
    "ckpt_interval": 4,
    "progress": False,
}
