"""Fixtures shared by the test modules that train or score models on the real corpora."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tiny_encoder import write_tiny_encoder


@pytest.fixture(scope="module")
def encoder(tmp_path_factory) -> Path:
    """A tiny cased random BERT saved like a Hub checkpoint (one per test module)."""
    return write_tiny_encoder(tmp_path_factory.mktemp("encoder"), lowercase=False)


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """A `datasets` cache folder of the module's own, so builds never touch the user's cache."""
    return tmp_path_factory.mktemp("hf_cache")
