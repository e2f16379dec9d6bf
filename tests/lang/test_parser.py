"""The parser: the sketches parse as written, errors are clean and point at the spot."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smolcpu.errors import FlowSyntaxError
from smolcpu.lang import format_program, parse
from smolcpu.lang._ast import Block, Chain, Io, Step, Use, Version


def test_sketch_one_parses_unmodified(sketches: list[str]) -> None:
    program = parse(sketches[0])
    out, group, source = program.chain.elements
    assert (out, source) == (Io("out"), Io("in"))
    (switch,) = group.elements
    assert isinstance(switch, Block) and switch.kind == "switch"
    assert [s.worker.name for s in switch.body] == ["reason", "plan", "execute", "verify", "report", "answer"]
    report = switch.body[4]
    assert [str(o) for o in report.outcomes] == ["next", "back * 2", "cancel"]
    assert (report.line, report.column) == (9, 9)


def test_sketch_two_parses_unmodified(sketches: list[str]) -> None:
    program = parse(sketches[1])
    blocks = program.chain.elements[1].elements
    assert [(b.kind, b.label, b.limit) for b in blocks] == [
        ("switch", None, None),
        ("switch", "step2", None),
        ("join", None, None),
        ("match", None, None),
        ("switch", "mylabel", 5),
    ]
    select_branch = blocks[2].body[0]
    assert isinstance(select_branch, Chain) and select_branch.elements[0] == Io("out")
    reason, plan = select_branch.elements[1].body
    assert reason.worker.limit == 5
    assert str(plan.bind) == "step2.analyze.out"
    assert str(blocks[3].body[1].outcomes[0]) == "[step2.analyze.jump]"
    nested = blocks[4].body[3]
    assert isinstance(nested, Chain) and nested.elements[1].kind == "match"
    assert len(program.comments) == 18


def test_declarations() -> None:
    program = parse('smol >= 0.1, < 1\nimport "lib.smol"\nuse r = llm "Be brief." with threads = 2, warm = true\n')
    version, _, use = program.declarations
    assert isinstance(version, Version) and version.specifier == ">=0.1,<1"
    assert isinstance(use, Use) and use.instruction == "Be brief."
    assert {p.name: p.value for p in use.params} == {"threads": 2, "warm": True}
    assert program.chain is None


def test_syntax_error_points_at_the_spot() -> None:
    with pytest.raises(FlowSyntaxError) as caught:
        parse("out <= switch <= (\n    a => next\n    b -> send\n) <= in\n", path="x.smol")
    message = str(caught.value)
    assert message.startswith("x.smol:3:7: syntax error: unexpected character '-'")
    assert "    b -> send\n      ^" in message
    assert "expected" in message and "'=>'" in message
    assert "hint: a step is written `worker => outcome`" in message


def test_keywords_are_not_worker_names_but_patterns_may_be_any_word() -> None:
    program = parse("out <= match <= ( timeout => send  in => cancel  default => send ) <= in")
    block = program.chain.elements[1]
    assert [c.pattern for c in block.body] == ["timeout", "in", "default"]
    with pytest.raises(FlowSyntaxError):
        parse("out <= switch <= ( next => send ) <= in")


def test_one_step_body_is_a_step_not_a_chain() -> None:
    block = parse("out <= switch <= ( a => next ) <= in").chain.elements[1]
    assert isinstance(block.body[0], Step)


_WORDS = [
    "out", "in", "<=", "=>", "(", ")", "[", "]", "switch", "select", "match", "join", "next", "back",
    "continue", "send", "cancel", "timeout", "|", "||", "*", "2", "<5>", ".", "jump", "a", "b", "lbl",
    "default", "use", "import", "smol", ">=", "0.1", "=", "llm", '"s"', "with", ",", "\n", "; c\n",
    "text/plain", "[a.jump]", "[lbl.a.jump]", "[a <= lbl.a.out]", "<", ">", "@", "-",
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_WORDS), max_size=40).map(" ".join))
def test_token_soup_parses_or_fails_cleanly(source: str) -> None:
    try:
        program = parse(source)
    except FlowSyntaxError as exc:
        assert "syntax error" in str(exc) or "<flow>" in str(exc)
        return
    assert parse(format_program(program)) == program


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_any_text_parses_or_fails_cleanly(source: str) -> None:
    try:
        parse(source)
    except FlowSyntaxError:
        pass


def test_builtin_patterns_that_are_keywords_work_anywhere_in_a_match() -> None:
    block = parse("out <= match <= ( success => send timeout => cancel default => send ) <= in").chain.elements[1]
    assert [c.pattern for c in block.body] == ["success", "timeout", "default"]


def test_reserved_words_cannot_name_workers() -> None:
    for source in ("out <= switch <= ( next => send ) <= in", 'use send = llm "x"'):
        with pytest.raises(FlowSyntaxError, match="reserved word") as caught:
            parse(source, path="r.smol")
        assert str(caught.value).startswith("r.smol:1:")
