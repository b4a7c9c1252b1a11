"""Fixtures the social tests share: where uploads' blobs and spooled bytes go."""

from __future__ import annotations

from pathlib import Path

import pytest

from darkroom.storage.blobs import BlobStore, LocalBlobs


@pytest.fixture
def blobs(tmp_path: Path) -> BlobStore:
    return LocalBlobs(tmp_path / "blobs")


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    return tmp_path / "home" / "uploads"
