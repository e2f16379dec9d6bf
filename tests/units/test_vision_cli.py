"""``smol tool classify|detect|embed`` and ``smol stores serve``, run as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from smolcpu.units.stores import remote_graph
from tests.units.onnx_models import BEAR, EFFICIENTNET, MINILM, YOLOX, model_file, model_fixture

efficientnet = model_fixture(EFFICIENTNET)
minilm = model_fixture(MINILM)


def smol(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "smolcpu", *args], input=stdin, capture_output=True, timeout=120)


def test_classify_prints_a_table(efficientnet: Path) -> None:
    result = smol("tool", "classify", str(BEAR), "-k", "2", "-m", str(efficientnet))
    assert result.returncode == 0, result.stderr
    assert "brown bear" in result.stdout.decode()


def test_detect_reads_stdin_and_prints_json() -> None:
    result = smol("tool", "detect", "-", "--json", "-m", str(model_file(YOLOX)), stdin=BEAR.read_bytes())
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found[0]["label"] == "bear" and len(found[0]["box"]) == 4


def test_embed_prints_a_unit_vector(minilm: Path) -> None:
    result = smol("tool", "embed", "hello world", "-m", str(minilm))
    assert result.returncode == 0, result.stderr
    vector = np.array(json.loads(result.stdout))
    assert vector.shape == (384,) and abs(np.linalg.norm(vector) - 1) < 1e-3


def test_not_an_image_is_one_clear_line() -> None:
    result = smol("tool", "detect", "-", "-m", str(model_file(YOLOX)), stdin=b"no picture here")
    assert result.returncode == 2
    assert b"not an image" in result.stderr and b"Traceback" not in result.stderr


def test_stores_serve_is_reachable_from_another_process(tmp_path: Path) -> None:
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "smolcpu",
            "stores",
            "serve",
            "graph",
            "--path",
            str(tmp_path / "g.sqlite"),
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        line = server.stdout.readline().decode()
        url = line.split(" at ")[1].split()[0]
        graph = remote_graph(url)
        graph.add_edges([["a", "b"], ["b", "c"]])
        assert graph.reachable("a") == ["b", "c"]
    finally:
        server.terminate()
        server.wait(timeout=10)
