"""``smol doctor``: what the machine has and lacks, the fix for each gap, and an exit status to gate on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from smolcpu import config
from smolcpu.cli import app
from smolcpu.cli._doctor import State, diagnose
from smolcpu.units.tools import sandbox_layer


def doctor() -> tuple[int, dict]:
    result = CliRunner().invoke(app, ["doctor", "--json"], catch_exceptions=False)
    return result.exit_code, json.loads(result.stdout)


def finding(report: dict, area: str, name: str) -> dict:
    return next(f for f in report["findings"] if f["area"] == area and f["name"].startswith(name))


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SMOL_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_a_missing_default_llm_fails_with_the_install_command(empty_cache: Path) -> None:
    code, report = doctor()
    assert code == 1 and not report["ok"]
    llm = finding(report, "models", config.LLM_MODEL)
    assert llm["state"] == "missing" and llm["required"]
    assert llm["fix"] == f"smol models install {config.LLM_MODEL}"
    other = finding(report, "models", "minilm")
    assert other["state"] == "note" and not other["required"]  # other models are optional
    shown = CliRunner().invoke(app, ["doctor"], env={"COLUMNS": "300"}).stdout
    assert "not ready" in shown and f"smol models install {config.LLM_MODEL}" in shown


def test_with_the_default_llm_there_the_machine_is_ready(empty_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = tmp_path / "tiny.gguf"
    model.write_bytes(b"GGUF" + bytes(1020))
    monkeypatch.setattr(config, "LLM_MODEL", str(model))
    code, report = doctor()
    blocking = [f for f in report["findings"] if f["required"] and f["state"] == "missing"]
    assert code == (1 if blocking else 0) and report["ok"] is not blocking
    assert finding(report, "models", "tiny.gguf")["state"] == "ok"
    assert all(f["area"] in ("memory", "sandbox") for f in blocking), blocking  # short of memory, or no jail


def test_the_sandbox_line_is_the_sandboxs_own_choice() -> None:
    line = next(f for f in diagnose() if f.area == "sandbox" and f.name.startswith("isolation"))
    layer = sandbox_layer()
    if layer.name is None:
        assert line.state is State.MISSING and line.required and line.detail == layer.problem and "bubblewrap" in line.fix
    else:
        assert line.state is State.OK and line.detail.startswith(f"{layer.name}: {', '.join(layer.isolates)}")


def test_sizes_of_the_cache_and_the_store_are_reported(empty_cache: Path) -> None:
    (empty_cache / "models").mkdir(parents=True)
    (empty_cache / "models" / "some.bin").write_bytes(bytes(3 * 1024**2))
    storage = {f.name: f.detail for f in diagnose() if f.area == "storage"}
    assert storage["model cache"] == f"{empty_cache}: 3 MB"
    assert "artifact store" in storage and "run index" in storage
