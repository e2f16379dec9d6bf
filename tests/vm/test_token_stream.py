"""An executor made with ``tokens=True`` streams its LLM steps' answers to the observer, piece
by piece, before the step ends; without it the LLM is asked for the whole answer at once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from smolcpu.lang import compile_source
from smolcpu.models import model_spec
from smolcpu.programs import Session
from smolcpu.testing import ScriptedLLM
from smolcpu.vm import Executor, StepEvent

PROGRAM = 'use greet = llm "Greet the user."\n\nout <= switch <= (\n    greet => send\n) <= in\n'


def run(*, tokens: bool) -> tuple[list[StepEvent], ScriptedLLM, str]:
    llm = ScriptedLLM(lambda messages: "Hello there, dear user")
    heard: list[StepEvent] = []
    graph = compile_source(PROGRAM).runnable()

    async def go() -> str:
        async with Executor(graph, record=False, units={"llm": llm}, observer=heard.append, tokens=tokens) as executor:
            return (await executor.run("hi")).output.as_text()

    return heard, llm, asyncio.run(go())


def test_tokens_reach_the_observer_in_order_before_the_step_ends() -> None:
    heard, llm, output = run(tokens=True)
    kinds = [event.kind for event in heard]
    assert kinds[0] == "start" and kinds[-1] == "end" and set(kinds[1:-1]) == {"token"}
    pieces = [event.output.as_text() for event in heard if event.kind == "token" and event.output is not None]
    assert "".join(pieces) == output == "Hello there, dear user" and len(pieces) == 4
    assert all(event.node == "switch1.greet" and event.unit == "llm" for event in heard if event.kind == "token")
    assert llm.requests[0]["stream"] is True


def test_without_tokens_the_llm_is_not_asked_to_stream() -> None:
    heard, llm, output = run(tokens=False)
    assert [event.kind for event in heard] == ["start", "end"] and output == "Hello there, dear user"
    assert "stream" not in llm.requests[0]


@pytest.mark.slow
def test_the_real_llm_streams_from_its_worker_process(smol_home: Path) -> None:
    if not model_spec("smollm2").installed:
        pytest.skip("the test model is not installed: smol models install smollm2")
    pieces: list[str] = []

    def heard(event: StepEvent) -> None:
        if event.kind == "token" and event.output is not None:
            pieces.append(event.output.as_text())

    async def go() -> str:
        async with Session(model="smollm2", record=False, classifier=False) as session:
            return (
                await session.run(compile_source(PROGRAM).runnable(), "hi", observer=heard, tokens=True)
            ).output.as_text()

    output = asyncio.run(go())
    assert len(pieces) > 1 and "".join(pieces).strip() == output.strip()
