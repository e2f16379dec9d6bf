"""The fuzz targets of bench/fuzz under hypothesis (every run of the suite) and atheris (--slow).

hypothesis feeds each target its seeds, random bytes, and seeds with bytes spliced in,
deleted or repeated (mutation, as a coverage-guided fuzzer starts); atheris runs each target
briefly under libFuzzer from the same seeds. Only the error a decoder documents may leave it.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.fuzz._targets import TARGETS, seeds

ROOT = Path(__file__).resolve().parents[2]


def _mutated(name: str) -> st.SearchStrategy[bytes]:
    def mutate(seed: bytes, at: float, cut: int, insert: bytes, times: int) -> bytes:
        where = int(at * len(seed))
        return seed[:where] + insert * times + seed[where + cut :]

    return st.builds(
        mutate, st.sampled_from(seeds(name)), st.floats(0, 1), st.integers(0, 64), st.binary(max_size=16), st.integers(1, 50)
    )


@pytest.mark.parametrize("name", TARGETS)
def test_every_seed_passes_its_target(name: str) -> None:
    for seed in seeds(name):
        TARGETS[name](seed)


@pytest.mark.parametrize("name", TARGETS)
def test_random_and_mutated_inputs_raise_only_documented_errors(name: str) -> None:
    @settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.one_of(st.binary(max_size=512), _mutated(name)))
    def fuzz(data: bytes) -> None:
        TARGETS[name](data)

    fuzz()


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("atheris") is None, reason="atheris is not installed (pip install atheris)")
@pytest.mark.parametrize("name", TARGETS)
def test_a_short_atheris_run_finds_nothing(name: str, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for number, seed in enumerate(seeds(name)):
        (corpus / f"seed-{number}").write_bytes(seed)
    command = [sys.executable, "-m", "bench.fuzz._atheris", name, "-runs=3000", "-timeout=20", f"-artifact_prefix={tmp_path}/", str(corpus)]
    result = subprocess.run(command, capture_output=True, text=True, errors="replace", cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
