"""Every program of the corpus gives exactly the result its header says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from smolcpu.errors import FlowSyntaxError
from smolcpu.lang import compile_file

CORPUS = Path(__file__).parent / "corpus"
CASES = sorted(CORPUS.glob("*.smol"))
_HEADER = re.compile(r"^;\s*(expect|graph|optimised):\s*(.*?)\s*$", re.M)


def expectations(path: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {"expect": [], "graph": [], "optimised": []}
    for key, value in _HEADER.findall(path.read_text()):
        found[key].append(value)
    return found


def test_corpus_is_big_enough() -> None:
    assert len(CASES) >= 40
    assert all(expectations(p)["expect"] for p in CASES), "every case states what to expect"


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case(path: Path) -> None:
    wanted = expectations(path)
    syntax = [e for e in wanted["expect"] if e.startswith("syntax")]
    if syntax:
        with pytest.raises(FlowSyntaxError) as caught:
            compile_file(path)
        position = syntax[0].split()[1]
        assert f"{path}:{position}: syntax error" in str(caught.value)
        assert "^" in str(caught.value)
        return
    compilation = compile_file(path)
    actual = [(d.severity.value, d.code, f"{d.line}:{d.column}") for d in compilation.diagnostics]
    expected = [tuple(e.split()) for e in wanted["expect"] if e != "ok"]
    unmatched = list(actual)
    for severity, code, *position in expected:
        hits = [a for a in unmatched if a[:2] == (severity, code) and (not position or a[2] == position[0])]
        assert hits, f"expected {severity} {code} {' '.join(position)}; got {actual}\n{compilation.render()}"
        for hit in hits if not position else hits[:1]:
            unmatched.remove(hit)
    assert not unmatched, f"unexpected diagnostics {unmatched}\n{compilation.render()}"
    for text in wanted["graph"]:
        assert text in compilation.graph.dump()
    for text in wanted["optimised"]:
        assert compilation.ok
        assert text in compilation.optimised.dump()
