"""Fixtures of the flow-language tests: the two sketches of concept/002, unmodified.

The corpus keeps them as ``sketch1.smol`` and ``sketch2.smol``: the sketch as the concept wrote
it, under the corpus's own ``; expect`` and ``; run`` lines, which are dropped here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

CORPUS = Path(__file__).parent / "corpus"


@pytest.fixture
def sketches() -> list[str]:
    """The two programs of concept/002_ai_vm.md, exactly as written there."""
    found = [
        "".join(line for line in (CORPUS / name).read_text().splitlines(keepends=True) if not line.startswith(("; expect", "; run")))
        for name in ("sketch1.smol", "sketch2.smol")
    ]
    assert found[0].lstrip().startswith("; Input")
    return found
