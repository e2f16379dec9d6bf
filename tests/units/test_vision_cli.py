"""``smol tool classify|detect|embed`` and ``smol stores serve``, run as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from smolcpu.units.stores import remote_graph
from tests.conftest import SHARED
from tests.units.onnx_models import MODELS

PHOTOS = SHARED / "bench" / "coco_sample"

pytestmark = pytest.mark.skipif(not MODELS.is_dir(), reason="../shared is not beside this checkout")


def smol(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "smolcpu", *args], input=stdin, capture_output=True, timeout=120)


def test_classify_prints_a_table() -> None:
    result = smol(
        "tool", "classify", str(PHOTOS / "000000000285.jpg"), "-k", "2", "-m", str(MODELS / "efficientnet_lite0.onnx")
    )
    assert result.returncode == 0, result.stderr
    assert "brown bear" in result.stdout.decode()


def test_detect_reads_stdin_and_prints_json() -> None:
    photo = (PHOTOS / "000000000724.jpg").read_bytes()
    result = smol("tool", "detect", "-", "--json", "-m", str(MODELS / "yolox_nano.onnx"), stdin=photo)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found[0]["label"] == "stop sign" and len(found[0]["box"]) == 4


def test_embed_prints_a_unit_vector() -> None:
    result = smol("tool", "embed", "hello world", "-m", str(MODELS / "all-MiniLM-L6-v2.onnx"))
    assert result.returncode == 0, result.stderr
    vector = np.array(json.loads(result.stdout))
    assert vector.shape == (384,) and abs(np.linalg.norm(vector) - 1) < 1e-3


def test_not_an_image_is_one_clear_line() -> None:
    result = smol("tool", "classify", "-", "-m", str(MODELS / "efficientnet_lite0.onnx"), stdin=b"no picture here")
    assert result.returncode == 2
    assert b"not an image" in result.stderr and b"Traceback" not in result.stderr


def test_stores_serve_is_reachable_from_another_process(tmp_path) -> None:
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
