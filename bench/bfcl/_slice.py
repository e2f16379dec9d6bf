"""The glue between Smol's side and BFCL's: which items to run, and BFCL's own score of them.

BFCL reads the ids to generate from ``test_case_ids_to_generate.json`` in its project root
(``--run-ids``) and writes its verdicts to ``score/<model>/…/BFCL_v4_<category>_score.json``:
JSON lines, the first its summary (``accuracy``, ``correct_count``, ``total_count``), then one
line per item it failed.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

CATEGORY = "simple_python"
ID_FILE = "test_case_ids_to_generate.json"


def choose_ids(total: int, count: int, seed: int | None) -> list[str]:
    """``count`` of the category's ``total`` ids: the first ones, or a sample drawn with ``seed``."""
    numbers = range(total)
    chosen = sorted(random.Random(seed).sample(numbers, min(count, total))) if seed is not None else numbers[:count]
    return [f"{CATEGORY}_{number}" for number in chosen]


def write_ids(root: Path, ids: list[str]) -> Path:
    """The id file BFCL's ``generate --run-ids`` reads, in its project root ``root``."""
    path = root / ID_FILE
    path.write_text(json.dumps({CATEGORY: ids}, indent=2))
    return path


def read_score(root: Path) -> dict[str, Any]:
    """BFCL's verdict on the category under its project root ``root``: its summary and the
    ids it failed, with the reason it gives.

    Raises:
        FileNotFoundError: BFCL wrote no score for the category.
    """
    found = sorted((root / "score").rglob(f"BFCL_v4_{CATEGORY}_score.json"))
    if not found:
        raise FileNotFoundError(f"BFCL wrote no {CATEGORY} score under {root / 'score'}")
    lines = [json.loads(line) for line in found[0].read_text().splitlines() if line.strip()]
    summary, failed = lines[0], lines[1:]
    return {
        "accuracy": summary["accuracy"],
        "correct": summary["correct_count"],
        "total": summary["total_count"],
        "failed": [{"id": item.get("id"), "error": item.get("error_type") or item.get("error")} for item in failed],
    }


__all__ = ["CATEGORY", "choose_ids", "read_score", "write_ids"]
