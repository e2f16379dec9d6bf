"""Fixtures for the artifact layer: a store of each backend, the S3 one on a real local server (tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from smolcpu.artifact import ArtifactStore, FileStore, RunIndex, S3Store


@pytest.fixture(params=["fs", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArtifactStore]:
    """The same contract, run against both backends."""
    index = RunIndex(tmp_path / "index.sqlite")
    if request.param == "fs":
        made: ArtifactStore = FileStore(tmp_path / "artifacts", index=index)
    else:
        made = S3Store(request.getfixturevalue("bucket"), "runs/", index=index)
    yield made
    made.close()
    index.close()

