"""Shared fixtures: every test gets its own SMOL_HOME so nothing touches the user's state."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test on a model from the cache (outside the repository) is a slow one; see tests/units/onnx_models.py."""
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        defs = [d for found in (info.name2fixturedefs.values() if info else ()) for d in found]
        if any(getattr(d.func, "cached_model", False) for d in defs):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def smol_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "smol-home"
    monkeypatch.setenv("SMOL_HOME", str(home))
    monkeypatch.delenv("SMOL_STORE", raising=False)
    return home
