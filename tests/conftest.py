"""Shared fixtures: every test gets its own SMOL_HOME so nothing touches the user's state."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(autouse=True)
def smol_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "smol-home"
    monkeypatch.setenv("SMOL_HOME", str(home))
    monkeypatch.delenv("SMOL_STORE", raising=False)
    return home


@pytest.fixture
def shared() -> Path:
    """../shared beside the checkout (models and data for tests); skips where it is absent."""
    if not SHARED.is_dir():
        pytest.skip("../shared is not beside this checkout")
    return SHARED
