"""``smol draft``: the repair loop and the completion of partial programs, on a scripted LLM."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from smolcpu.cli import app
from smolcpu.draft import EXAMPLES, Draft, DraftEvent, Drafter, missing_pieces, proposal_grammar
from smolcpu.errors import UsageError
from smolcpu.lang import compile_source, flow_gbnf
from smolcpu.runtime import ActorSystem
from smolcpu.testing import ScriptedWorker
from tests.lang.gbnf import Gbnf

GOOD = """use write = llm "Write the program."
use run = sandbox

out <= switch <= (
    write<3> => next
    run      => send | back
) <= in
"""
BAD_JUMP = GOOD.replace("send | back", "send | [loop.jump]")
UNDECLARED = "use run = sandbox\n\nout <= switch <= (\n    write => next\n    run   => send | back\n) <= in\n"


def drafting(*answers: str, rounds: int = 3, events: list[DraftEvent] | None = None, partial: str | None = None):
    """Draft (or complete ``partial``) with a scripted LLM that answers ``answers`` in order."""

    async def go() -> tuple[Draft, ScriptedWorker]:
        llm = ScriptedWorker("llm", list(answers))
        async with ActorSystem(record=False) as system:
            ref = await system.spawn("llm", lambda: llm)
            drafter = Drafter(ref, rounds=rounds, on_event=(events.append if events is not None else None))
            if partial is not None:
                return await drafter.complete(partial), llm
            return await drafter.draft("write code, run it in the sandbox, fix it when it fails"), llm

    return asyncio.run(go())


def request(llm: ScriptedWorker, index: int) -> dict[str, Any]:
    return json.loads(llm.calls[index].payload)


def test_a_clean_program_is_kept_after_one_round() -> None:
    events: list[DraftEvent] = []
    draft, llm = drafting(GOOD, events=events)
    assert draft.ok and len(draft.attempts) == 1 and draft.source == GOOD
    asked = request(llm, 0)
    assert asked["grammar"] == flow_gbnf(units=Drafter(None).units, require_flow=True, compact=True)
    assert asked["stream"] is True and asked["temperature"] == 0.0
    assert "sandbox" in asked["messages"][0]["content"]  # the unit kinds are in the prompt
    assert asked["messages"][-1]["content"].startswith("write code")
    assert [e.kind for e in events] == ["writing", "checked"]


def test_the_checkers_diagnostics_go_back_to_the_model() -> None:
    draft, llm = drafting(BAD_JUMP, GOOD)
    assert draft.ok and len(draft.attempts) == 2
    assert not draft.attempts[0].ok and "unknown-jump" in draft.attempts[0].report
    repair = request(llm, 1)["messages"]
    assert repair[-2] == {"role": "assistant", "content": BAD_JUMP}
    assert "unknown-jump" in repair[-1]["content"] and "loop" in repair[-1]["content"]
    assert request(llm, 1)["temperature"] > 0  # a repair does not repeat the same greedy answer


def test_a_syntax_error_is_repaired_too() -> None:
    draft, _ = drafting("out <= switch <= ( write => ", GOOD)
    assert draft.ok and "syntax error" in draft.attempts[0].report


def test_the_rounds_are_bounded_and_the_errors_are_reported() -> None:
    draft, llm = drafting(BAD_JUMP, BAD_JUMP, BAD_JUMP, GOOD, rounds=2)
    assert not draft.ok and len(draft.attempts) == 2 and len(llm.calls) == 2
    assert "unknown-jump" in draft.report


def test_undeclared_workers_get_declarations_proposed() -> None:
    proposal = 'use write = llm "Write a Python program that prints the answer."\n'
    draft, llm = drafting(UNDECLARED, proposal)
    assert draft.ok and draft.proposals == [proposal.strip()]
    assert 'use write = llm "Write a Python program' in draft.source
    assert not missing_pieces(draft.compilation)
    asked = request(llm, 1)
    assert "`write`" in asked["messages"][-1]["content"]
    assert Gbnf(asked["grammar"]).accepts(proposal)


def test_completion_fills_in_an_instruction_and_keeps_parameters() -> None:
    partial = "use think = llm with threads = 1\nuse calc = math\n\nout <= calc <= think <= helper <= in\n"
    compilation = compile_source(partial)
    assert [(m.worker, m.declared) for m in missing_pieces(compilation)] == [("think", True), ("helper", False)]
    proposals = 'use think = llm "Turn it into an expression."\nuse helper = memory "Find the notes about the question."\n'
    grammar = Gbnf(proposal_grammar(missing_pieces(compilation), Drafter(None).units))
    assert grammar.accepts(proposals)
    assert not grammar.accepts(proposals.replace("= llm", "= math"))  # a declared worker keeps its kind
    assert not grammar.accepts(proposals.replace("memory", "memories"))  # kinds come from the registry
    draft, _ = drafting(proposals, partial=partial)
    assert draft.source.splitlines()[:3] == [
        'use think = llm "Turn it into an expression." with threads = 1',
        "use calc = math",
        'use helper = memory "Find the notes about the question."',
    ]
    assert draft.ok and not missing_pieces(draft.compilation)


def test_an_empty_description_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        asyncio.run(Drafter(None).draft("  "))


def test_the_examples_in_the_prompt_check_clean() -> None:
    for example in EXAMPLES:
        compilation = compile_source(example.program)
        assert compilation.ok and not missing_pieces(compilation), compilation.render()
        assert Gbnf(flow_gbnf(compact=True, require_flow=True)).accepts(example.program)


def test_cli_needs_a_description_or_a_file() -> None:
    result = CliRunner().invoke(app, ["draft"])
    assert result.exit_code != 0
    result = CliRunner().invoke(app, ["draft", "--help"])
    assert "constrained decoding" in result.output and "--complete" in result.output


def test_a_program_is_kept_when_the_proposals_are_unusable() -> None:
    draft, _ = drafting(UNDECLARED, "not a use line")
    assert draft.ok and draft.source.startswith("use run = sandbox")
    assert not draft.proposals and "no declarations proposed" in draft.notes[0]


def scripted_llm(*answers: str):
    """A stand-in for ``local_llm``: a scripted LLM unit in an actor system of its own."""

    @contextlib.asynccontextmanager
    async def local(model: str | None = None, *, threads: int | None = None):
        async with ActorSystem(record=False) as system:
            yield await system.spawn("llm", lambda: ScriptedWorker("llm", list(answers)))

    return local


def test_cli_drafts_and_saves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("smolcpu.cli._draft.local_llm", scripted_llm(BAD_JUMP, GOOD))
    out = tmp_path / "flow.smol"
    result = CliRunner().invoke(app, ["draft", "write code and run it", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text() == GOOD
    assert "round 2" in result.output and "unknown-jump" in result.output and "checks clean" in result.output


def test_cli_completes_a_partial_program(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("smolcpu.cli._draft.local_llm", scripted_llm('use write = llm "Write the code."\n'))
    partial = tmp_path / "partial.smol"
    partial.write_text(UNDECLARED)
    result = CliRunner().invoke(app, ["draft", "--complete", str(partial)])
    assert result.exit_code == 0, result.output
    assert 'use write = llm "Write the code."' in result.output and "proposed" in result.output
    assert partial.read_text() == UNDECLARED  # printed, not overwritten without --out and --force
