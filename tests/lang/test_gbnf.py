"""The GBNF grammar derived from flow.lark accepts exactly the programs the parser accepts."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smolcpu.errors import FlowSyntaxError
from smolcpu.lang import flow_gbnf, parse
from tests.lang.gbnf import Gbnf
from tests.lang.test_fuzz import PROGRAM

CORPUS = sorted((Path(__file__).parent / "corpus").glob("*.smol"))
FULL = Gbnf(flow_gbnf())
COMPACT = Gbnf(flow_gbnf(compact=True, require_flow=True))


def parses(source: str) -> bool:
    try:
        parse(source)
    except FlowSyntaxError:
        return False
    return True


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_corpus_accepted_alike(path: Path) -> None:
    source = path.read_text()
    assert FULL.accepts(source) == parses(source)


@pytest.mark.parametrize(
    "source",
    [
        "out <= input <= in",  # names that start with a keyword
        "use selector = llm\nout <= switch <= ( selector => next ) <= in",
        "usea = llm",  # two words run together
        "out <= switch <= ( a => nextsend ) <= in",
        "use in = llm",  # reserved words are not worker names
        "out <= switch <= ( send => next ) <= in",
        "out <= switch[send] <= ( a => [send.jump] ) <= in",  # but they are labels
        "out <= ;a",  # a comment runs to the end of its line
        "out <= a <= in ; done",
        'use a = llm "bad \\x1 escape"',
        'use a = llm "good \\x41 \\" \\\\ escapes" with t = -1.5e3, m = "x", k = name',
        "smol >= 0.1, < 1",
        "out <= match <= ( image/png => send  \"off topic\" => cancel  default => send ) <= in",
        "out <= switch <= ( [a<2> <= l.b.out] => next || back * 2 ) <= in",
        "",
    ],
)
def test_lexer_corners_accepted_alike(source: str) -> None:
    assert FULL.accepts(source) == parses(source)


def _mutants(source: str, data: st.DataObject) -> str:
    """The program with one character deleted, doubled or replaced: mostly not programs any more."""
    if not source:
        return source
    at = data.draw(st.integers(0, len(source) - 1))
    change = data.draw(st.sampled_from(["delete", "double", "space", "replace"]))
    if change == "delete":
        return source[:at] + source[at + 1 :]
    if change == "double":
        return source[:at] + source[at] + source[at:]
    if change == "space":
        return source[:at] + " " + source[at:]
    return source[:at] + data.draw(st.sampled_from("=<>|()[];.*,x_9\"")) + source[at + 1 :]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(PROGRAM, st.data())
def test_generated_programs_accepted_alike(source: str, data: st.DataObject) -> None:
    assert FULL.accepts(source) and parses(source)
    mutant = _mutants(source, data)
    assert FULL.accepts(mutant) == parses(mutant), mutant


def test_compact_grammar_is_for_writing_programs() -> None:
    """What a model writes under the compact grammar: a flow, canonical layout, no comments."""
    canonical = "use calc = math\n\nout <= switch <= (\n    calc => next | back\n) <= in\n"
    assert COMPACT.accepts(canonical) and parses(canonical)
    assert not COMPACT.accepts("use calc = math\n")  # no flow
    assert not COMPACT.accepts("out <= a <= in ; why\n")  # no comments
    assert not COMPACT.accepts("out <= a" + "\n" * 5 + "<= in")  # no runs of blank lines


def test_unit_kinds_can_be_pinned() -> None:
    grammar = Gbnf(flow_gbnf(units=("math", "sandbox")))
    assert grammar.accepts("use run = sandbox\nout <= run <= in")
    assert not grammar.accepts("use run = sandboxes\nout <= run <= in")
