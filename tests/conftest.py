"""Shared fixtures. Tests that need Ray share one embedded instance (ray.init costs ~3 s)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The S3-protocol server of the object-storage tests (moto, on loopback). Its endpoint and credentials are
# passed the way a user passes them, through the environment, and set before any Ray worker starts so the
# workers of the shared Ray instance see them too. The server itself starts only when a test asks for it.
S3_PORT = free_port()
for _k, _v in {
    "AWS_ENDPOINT_URL": f"http://127.0.0.1:{S3_PORT}",
    "AWS_ACCESS_KEY_ID": "curate-test",
    "AWS_SECRET_ACCESS_KEY": "curate-test",
    "AWS_DEFAULT_REGION": "us-east-1",
}.items():
    os.environ[_k] = _v


@pytest.fixture(scope="session")
def s3_server():
    """A real S3-protocol server (moto's) on 127.0.0.1, stopped at the end of the session."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=S3_PORT, verbose=False)
    server.start()
    yield os.environ["AWS_ENDPOINT_URL"]
    server.stop()


@pytest.fixture
def s3_bucket(s3_server):
    """A fresh bucket: ``s3://NAME``."""
    import uuid

    import s3fs

    name = f"curate-{uuid.uuid4().hex[:10]}"
    fs = s3fs.S3FileSystem()
    fs.mkdir(name)
    yield f"s3://{name}"
    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture(scope="session")
def ray_session():
    from curate.raysession import init_ray

    ray = init_ray(num_cpus=2)
    yield ray


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA
