"""Shared test fixtures and markers."""

import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def shared_data_dir():
    """The folder with the real SST-2 / TREC files (IN5550_DATA_DIR), or skip when it is not there."""
    path = os.environ.get("IN5550_DATA_DIR")
    if not path or not Path(path, "sst2").is_dir():
        pytest.skip("real datasets not available: set IN5550_DATA_DIR")
    return Path(path)
