"""The canonical printer: output re-parses to the same tree, is stable, keeps comments."""

from __future__ import annotations

from pathlib import Path

import pytest

from smolcpu.errors import FlowSyntaxError
from smolcpu.lang import format_program, parse

CORPUS = Path(__file__).parent / "corpus"
PARSEABLE = []
for _path in sorted(CORPUS.rglob("*.smol")):
    try:
        parse(_path.read_text())
        PARSEABLE.append(_path)
    except FlowSyntaxError:
        pass


@pytest.mark.parametrize("path", PARSEABLE, ids=[p.stem for p in PARSEABLE])
def test_round_trip_and_idempotent(path: Path) -> None:
    source = path.read_text()
    program = parse(source)
    formatted = format_program(program)
    assert parse(formatted) == program
    assert format_program(parse(formatted)) == formatted
    kept = [text for _, text in program.comments]
    assert [text for _, text in parse(formatted).comments] == kept


def test_sketches_round_trip(sketches: list[str]) -> None:
    for sketch in sketches:
        program = parse(sketch)
        formatted = format_program(program)
        assert parse(formatted) == program
        assert format_program(parse(formatted)) == formatted


def test_layout() -> None:
    source = 'use r = llm "x"   with threads=2\nout<=switch<=(r=>next||cancel\nlonger_name=>send)<=in ;end\n'
    assert format_program(parse(source)) == (
        'use r = llm "x" with threads = 2\n'
        "\n"
        "out <= switch <= (\n"
        "    r           => next | cancel\n"
        "    longer_name => send  ;end\n"
        ") <= in\n"
    )


def test_sketch_two_keeps_aligned_trailing_comments(sketches: list[str]) -> None:
    formatted = format_program(parse(sketches[1]))
    assert "    done    => send            ; on the 5th iteration" in formatted
    assert "    default => [mylabel.jump]  ; otherwise" in formatted
    assert "\n\n        ; concurrent processing.\n        out <= switch <= (" in formatted
