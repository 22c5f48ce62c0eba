"""Shared fixtures. Tests that need Ray share one embedded instance (ray.init costs ~3 s)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


@pytest.fixture(scope="session")
def ray_session():
    from curate.raysession import init_ray

    ray = init_ray(num_cpus=2)
    yield ray


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA
