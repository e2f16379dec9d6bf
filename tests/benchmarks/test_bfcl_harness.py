"""The glue around BFCL's own harness (bench/bfcl), without the model or bfcl-eval."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from bench.bfcl import _slice
from bench.bfcl.__main__ import DRIVER


def test_the_first_items_by_default() -> None:
    assert _slice.choose_ids(400, 3, None) == ["simple_python_0", "simple_python_1", "simple_python_2"]


def test_a_seeded_sample_is_the_same_every_time_and_in_order() -> None:
    first, again = _slice.choose_ids(400, 20, 7), _slice.choose_ids(400, 20, 7)
    numbers = [int(i.rsplit("_", 1)[1]) for i in first]
    assert first == again and numbers == sorted(numbers) and len(set(numbers)) == 20
    assert first != _slice.choose_ids(400, 20, 8)


def test_asking_for_more_than_there_are_gives_them_all() -> None:
    assert len(_slice.choose_ids(5, 50, None)) == len(_slice.choose_ids(5, 50, 1)) == 5


def test_the_id_file_is_the_one_bfcl_reads(tmp_path: Path) -> None:
    path = _slice.write_ids(tmp_path, ["simple_python_4"])
    assert path.name == "test_case_ids_to_generate.json"
    assert json.loads(path.read_text()) == {"simple_python": ["simple_python_4"]}


def test_the_score_is_bfcls_summary_and_failures(tmp_path: Path) -> None:
    folder = tmp_path / "score" / "smol-m-FC" / "non_live"
    folder.mkdir(parents=True)
    lines = [
        {"accuracy": 0.5, "correct_count": 1, "total_count": 2},
        {"id": "simple_python_1", "valid": False, "error_type": "value_error:others"},
    ]
    (folder / "BFCL_v4_simple_python_score.json").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    assert _slice.read_score(tmp_path) == {
        "accuracy": 0.5,
        "correct": 1,
        "total": 2,
        "failed": [{"id": "simple_python_1", "error": "value_error:others"}],
    }


def test_no_score_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no simple_python score"):
        _slice.read_score(tmp_path)


def test_the_driver_imports_nothing_of_smol() -> None:
    """It runs in BFCL's environment, where Smol is not installed."""
    tree = ast.parse(DRIVER.read_text())
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
    }
    assert not {m for m in modules if m and (m.startswith("smolcpu") or m.startswith("bench"))}
