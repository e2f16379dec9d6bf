"""The LLM engine and unit: fast checks without a model, slow ones with SmolLM2-135M."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from smolcpu.artifact import JSON, Artifact
from smolcpu.errors import BudgetError, RequestTimeout, UnitError, UsageError
from smolcpu.models import model_path
from smolcpu.units._registry import create_unit
from smolcpu.units.neural import LLM, LLMEngine, choice_grammar
from smolcpu.units.neural._llm_engine import confidence_of

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def ask(unit: LLM, request: object, **meta: object) -> Artifact:
    artifact = Artifact.text(request, **meta) if isinstance(request, str) else Artifact.json(request, **meta)
    return asyncio.run(unit.handle(None, None, artifact))


def test_choice_grammar_escapes_options() -> None:
    assert choice_grammar(["yes", "no"]) == 'root ::= "yes" | "no"'
    assert choice_grammar(['say "hi"', "back\\slash", "two\nlines"]) == (
        'root ::= "say \\"hi\\"" | "back\\\\slash" | "two\\x0alines"'
    )


def test_the_unit_kind_is_registered() -> None:
    unit = create_unit("llm", model="smollm2", context=1024)
    assert isinstance(unit, LLM)
    assert "smollm2" in repr(unit) and "new" in repr(unit)


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        ({"op": "summon"}, "no op 'summon'"),
        ({"op": "chat", "messages": []}, "non-empty list"),
        ({"op": "chat", "messages": [{"role": "user", "content": "hi"}], "temprature": 1}, "does not take"),
        ({"op": "choose", "prompt": "pick", "options": "ab"}, '"options"'),
        (["not", "an", "object"], "JSON object"),
    ],
)
def test_bad_requests_are_answered_with_an_error_artifact(request_: object, message: str) -> None:
    reply = ask(LLM(model="smollm2"), request_, attributes={"run": "r-1"})
    assert reply.is_error and message in reply.error_message
    assert reply.attr("run") == "r-1"


def test_a_missing_model_names_its_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMOL_CACHE", str(tmp_path))
    with pytest.raises(UsageError, match="smol models install qwen2.5-coder-0.5b"):
        LLMEngine("qwen2.5-coder-0.5b").load()


@pytest.fixture(scope="session")
def smollm2() -> Path:
    """The test model, found through the registry (CI installs it: smol models install smollm2)."""
    try:
        return model_path("smollm2")
    except UsageError as exc:
        pytest.skip(f"SmolLM2 is not installed ({exc})")


@pytest.fixture(scope="module")
def engine(smollm2: Path) -> Iterator[LLMEngine]:
    engine = LLMEngine(str(smollm2), context=1024)
    engine.load()
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def unit(smollm2: Path) -> LLM:
    unit = LLM(model=str(smollm2), context=1024)
    asyncio.run(unit.init(None))
    return unit


@pytest.mark.slow
def test_chat_streams_the_tokens_of_its_answer(engine: LLMEngine) -> None:
    pieces: list[str] = []
    answer = engine.chat([{"role": "user", "content": "Name three fruits."}], max_tokens=24, on_token=pieces.append)
    assert len(pieces) > 3 and "".join(pieces) == answer.text
    assert answer.completion_tokens <= 24 and answer.prompt_tokens > 5
    assert answer.finish_reason in {"stop", "length"}


@pytest.mark.slow
def test_json_schema_output_is_valid_json_of_that_shape(engine: LLMEngine) -> None:
    answer = engine.chat([{"role": "user", "content": "Invent a person."}], json_schema=PERSON, max_tokens=80)
    person = json.loads(answer.text)
    assert isinstance(person["name"], str) and isinstance(person["age"], int)


@pytest.mark.slow
def test_grammar_constrains_the_answer(engine: LLMEngine) -> None:
    grammar = 'root ::= [0-9] [0-9]? " apples"'
    answer = engine.chat([{"role": "user", "content": "How many apples?"}], grammar=grammar, max_tokens=10)
    number, word = answer.text.split(" ")
    assert number.isdigit() and word == "apples"
    with pytest.raises(UsageError, match="refused"):
        engine.chat([{"role": "user", "content": "hi"}], grammar="root ::= (", max_tokens=4)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("prompt", "options"),
    [
        ("Is fire hot?", ["yes", "no"]),
        ("Which is a colour?", ["green", "seven", "Thursday"]),
        ("Pick the quoted one.", ['say "hi"', "say hi please", "say"]),
        ("Which tool adds numbers?", ["calculator", "calendar", "camera", "cal"]),
    ],
)
def test_choose_always_answers_one_of_the_options(engine: LLMEngine, prompt: str, options: list[str]) -> None:
    assert engine.choose(prompt, options) in options


@pytest.mark.slow
def test_context_overflow_is_a_budget_error_with_token_counts(engine: LLMEngine) -> None:
    with pytest.raises(BudgetError, match=r"the prompt has \d+ tokens but the LLM's context holds 1024"):
        engine.chat([{"role": "user", "content": "apple " * 1500}], max_tokens=8)
    with pytest.raises(BudgetError, match=r"filled the LLM's context \(\d+ prompt \+ \d+ answer tokens"):
        # a prompt that nearly fills the context, and a grammar that never lets the answer end
        engine.chat([{"role": "user", "content": "apple " * 980}], max_tokens=200, grammar='root ::= "apple " root')


@pytest.mark.slow
def test_a_slow_generation_times_out(smollm2: Path) -> None:
    hasty = LLMEngine(str(smollm2), context=512, timeout=0.01)
    with pytest.raises(RequestTimeout, match="did not finish within"):
        hasty.chat([{"role": "user", "content": "Tell me a story."}], max_tokens=200)


@pytest.mark.slow
def test_unit_answers_text_json_and_choices(unit: LLM) -> None:
    question = Artifact.text("Say hello.", attributes={"run": "r-7"})
    reply = asyncio.run(unit.handle(None, None, question))
    assert reply.as_text() and reply.parents == (question.id,)
    assert reply.attr("run") == "r-7" and int(reply.attr("completion_tokens")) > 0

    person = ask(unit, {"messages": [{"role": "user", "content": "Invent a person."}], "json_schema": PERSON})
    assert person.type == JSON and set(person.as_json()) == {"name", "age"}
    cut = ask(unit, {"messages": [{"role": "user", "content": "Invent a person."}], "json_schema": PERSON, "max_tokens": 3})
    assert cut.is_error and "cut off at max_tokens" in cut.error_message

    choice = ask(unit, {"op": "choose", "prompt": "Is water wet?", "options": ["yes", "no"]})
    assert choice.as_text() in {"yes", "no"}

    too_long = ask(unit, {"messages": [{"role": "user", "content": "pear " * 1500}]})
    assert too_long.is_error and "context holds 1024" in too_long.error_message


def test_confidence_is_the_geometric_mean_of_the_token_probabilities() -> None:
    assert confidence_of([{"logprob": 0.0}, {"logprob": 0.0}]) == 1.0
    assert confidence_of([{"logprob": -1.0}, {"logprob": -3.0}]) == pytest.approx(0.1353, abs=1e-4)
    assert confidence_of([]) == 1.0  # nothing written, nothing doubted


@pytest.mark.slow
def test_unit_says_how_sure_it_was_when_asked_and_keeps_logprobs_to_itself(unit: LLM) -> None:
    reply = ask(unit, {"messages": [{"role": "user", "content": "Count from 1 to 5."}], "confidence": True})
    assert 0 < float(reply.attr("confidence")) <= 1 and reply.attr("logprobs") is None
    assert ask(unit, {"messages": [{"role": "user", "content": "Say hi."}]}).attr("confidence") is None


@pytest.mark.slow
def test_unit_extracts_tool_calls(unit: LLM) -> None:
    request = {
        "messages": [{"role": "user", "content": "Use get_weather to find the weather in Paris. Reply with JSON."}],
        "tools": [WEATHER_TOOL],
        "max_tokens": 120,
        "temperature": 0.0,
    }
    reply = ask(unit, request).as_json()
    assert set(reply) == {"content", "tool_calls"}
    for call in reply["tool_calls"]:
        assert call["name"] == "get_weather" and isinstance(call["arguments"], dict)
    unsure = ask(unit, request | {"confidence": True})  # llama.cpp scores no tokens beside tools: none asked
    assert not unsure.is_error and unsure.attr("confidence") is None


@pytest.mark.slow
def test_cli_streams_an_answer(smollm2: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "smolcpu", "tool", "llm", "Is the sky blue?", "-m", str(smollm2), "-o", "yes", "-o", "no"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() in {"yes", "no"}
    asked = subprocess.run(
        [sys.executable, "-m", "smolcpu", "tool", "llm", "Say hi.", "-m", str(smollm2), "--max-tokens", "16"],
        capture_output=True, text=True, timeout=120,
    )
    assert asked.returncode == 0 and asked.stdout.strip()
    assert "answer tokens" in asked.stderr


@pytest.mark.slow
def test_the_unit_runs_in_a_worker_process_and_streams(smollm2: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from smolcpu.runtime import ActorSystem

    monkeypatch.setenv("SMOL_LLM_MODEL", str(smollm2))
    monkeypatch.setenv("SMOL_LLM_CONTEXT", "1024")

    async def scenario() -> tuple[int, Artifact, list[Artifact]]:
        async with ActorSystem(record=False) as system:
            ref = await system.spawn("llm", LLM, process=True)
            choice = await ref.request(
                Artifact.json({"op": "choose", "prompt": "Is snow cold?", "options": ["yes", "no"]}), timeout=120
            )
            request = {"messages": [{"role": "user", "content": "Name a fruit."}], "max_tokens": 12, "stream": True}
            parts = [part async for part in ref.stream(Artifact.json(request), timeout=120)]
            return ref.pid, choice, parts

    pid, choice, parts = asyncio.run(scenario())
    assert pid != os.getpid()
    assert choice.as_text() in {"yes", "no"}
    *tokens, final = parts
    assert tokens and all(part.attr("part") == "token" for part in tokens)
    assert "".join(part.as_text() for part in tokens) == final.as_text()
    assert final.attr("part") is None and int(final.attr("completion_tokens")) <= 12


@pytest.mark.slow
def test_a_cancelled_generation_stops_at_the_next_token(engine: LLMEngine) -> None:
    pieces: list[str] = []

    def on_token(piece: str) -> None:
        pieces.append(piece)
        if len(pieces) == 3:
            engine.cancel()

    with pytest.raises(UnitError, match="cancelled"):
        engine.chat([{"role": "user", "content": "Tell me a long story."}], max_tokens=500, on_token=on_token)
    assert len(pieces) == 3
    assert engine.choose("Is ice cold?", ["yes", "no"]) in {"yes", "no"}, "the next request is served"
