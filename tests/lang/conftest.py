"""Fixtures of the flow-language tests: the two sketches of concept/002, unmodified."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CORPUS = Path(__file__).parent / "corpus"


def _sketches(shared: Path) -> list[str]:
    text = (shared / "concept" / "002_ai_vm.md").read_text()
    return re.findall(r"```\n(.*?)```", text, re.S)[:2]


@pytest.fixture
def sketches(shared: Path) -> list[str]:
    """The two programs of concept/002_ai_vm.md, exactly as written there."""
    found = _sketches(shared)
    assert len(found) == 2 and found[0].lstrip().startswith("; Input")
    return found
