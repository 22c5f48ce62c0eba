"""Inputs on object storage: an S3-protocol server on loopback (moto), s3fs as the client."""

import json
import os
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from conftest import paragraphs
from test_tokenize import documents

from train.tokenize import tokenize_shards
from train.tokenizer import train_tokenizer

REPO = Path(__file__).resolve().parents[2]
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="module")
def s3(corpus: Path, tokenizer_path: Path):
    """A bucket holding the corpus shards under run/data/ and the tokenizer under tok/; yields the endpoint."""
    pytest.importorskip("s3fs")
    from moto.server import ThreadedMotoServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    old = {k: os.environ.get(k) for k in CREDENTIALS}
    os.environ.update(CREDENTIALS)
    import s3fs

    fs = s3fs.S3FileSystem(endpoint_url=endpoint)
    fs.mkdir("bucket")
    for p in sorted(corpus.glob("*.parquet")):
        fs.put_file(str(p), f"bucket/run/data/{p.name}")
    fs.put_file(str(tokenizer_path), "bucket/tok/tokenizer.json")
    yield endpoint
    server.stop()
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def test_tokenize_reads_s3(s3: str, token_dir: Path, tmp_path: Path, ray_session) -> None:
    opts = {"endpoint_url": s3, "key": "testing", "secret": "testing"}
    m = tokenize_shards(
        "s3://bucket/run/data/*.parquet",
        "s3://bucket/tok/tokenizer.json",
        tmp_path / "t",
        val_fraction=0.1,
        progress=False,
        storage_options=opts,
    )
    assert m["inputs"] == ["s3://bucket/run/data/*.parquet"]
    assert Counter(documents(tmp_path / "t", "train")) == Counter(documents(token_dir, "train"))
    assert Counter(documents(tmp_path / "t", "train") + documents(tmp_path / "t", "val")) == Counter(
        paragraphs()
    )
    tok = train_tokenizer("s3://bucket/run/data/*.parquet", 300, None, max_docs=50, storage_options=opts)
    assert tok.get_vocab_size() == 300


def test_cli_tokenize_reads_s3(s3: str, tmp_path: Path) -> None:
    """`curate tokenize --input 's3://…/data/*.parquet'` with the endpoint in the environment (as on a cluster,
    where each node has its credentials): a fresh process, its own embedded Ray whose workers inherit it."""
    env = {**os.environ, **CREDENTIALS, "AWS_ENDPOINT_URL": s3, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "train.cli", "tokenize", "--input", "s3://bucket/run/data/*.parquet"]
    cmd += [
        "--tokenizer",
        "s3://bucket/tok/tokenizer.json",
        "--output",
        str(tmp_path / "t"),
        "--val-fraction",
        "0",
    ]
    res = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    manifest = json.loads((tmp_path / "t" / "manifest.json").read_text())
    assert manifest["documents"] == len(paragraphs()) and "global shuffle" in res.stdout
