"""Streamed answers through the official ``openai`` client: a program's chat completion (the
tokens of the LLM step whose output is the answer come as content while it is decoded; the
rest of the run comes as progress in the chunks' ``smol`` field), and Response events."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import openai

from tests.server.conftest import Server

EXPRESS = """\
; An LLM writes the expression, the math tool works it out: the answer is not the LLM's text.
smol >= 0.1
use express = llm "Reply with the arithmetic expression only."
use calc = math

out <= switch <= (
    express => next
    calc    => send
) <= in
"""


def stream(server: Server, model: str, question: str, **options: Any) -> list[Any]:
    client = openai.OpenAI(base_url=server.base, api_key="unused", max_retries=0)
    messages = [{"role": "user", "content": question}]
    return list(client.chat.completions.create(model=model, messages=messages, stream=True, **options))


def content(chunks: list[Any]) -> list[str]:
    return [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]


def progress(chunks: list[Any], event: str) -> list[dict[str, Any]]:
    return [c.smol for c in chunks if getattr(c, "smol", None) and c.smol["event"] == event]


def test_the_default_program_streams_its_answer_token_by_token(server: Server) -> None:
    server.script.reply = lambda messages: "I am Smol, a small model."
    chunks = stream(server, "smol", "Who are you?")
    pieces = content(chunks)
    assert len(pieces) > 3 and "".join(pieces) == "I am Smol, a small model."
    steps = progress(chunks, "step")
    assert {"start", "end"} <= {step["kind"] for step in steps}
    assert any(step["node"] == "ask.chat" for step in steps)
    assert progress(chunks, "token") == []  # the answering step's tokens are content, not progress
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_a_program_whose_answer_is_not_an_llm_steps_streams_that_step_as_progress(
    make_server: Callable[..., Server], programs: Path
) -> None:
    (programs / "express.smol").write_text(EXPRESS)
    server = make_server()
    server.script.reply = lambda messages: "6 * 7"
    chunks = stream(server, "smol/express", "six times seven?")
    assert content(chunks) == ["42"]
    tokens = progress(chunks, "token")
    assert "".join(token["text"] for token in tokens) == "6 * 7" and len(tokens) > 1
    assert {token["node"] for token in tokens} == {"switch1.express"}


def test_with_stop_sequences_the_answer_comes_whole_once_cut(server: Server) -> None:
    server.script.reply = lambda messages: "I am Smol. Goodbye."
    chunks = stream(server, "smol", "Who are you?", stop=["Goodbye"])
    assert content(chunks) == ["I am Smol. "]
    assert "".join(token["text"] for token in progress(chunks, "token")).startswith("I am Smol.")


def test_the_job_events_carry_the_same_progress(server: Server) -> None:
    server.script.reply = lambda messages: "Hello there."
    chunks = stream(server, "smol/echo", "hi")
    assert "".join(content(chunks)) == "Hello there."
    jobs = httpx.get(f"{server.base}/jobs").json()["data"]
    with httpx.stream("GET", f"{server.base}/jobs/{jobs[0]['id']}/events") as events:
        names = [line.removeprefix("event: ") for line in events.iter_lines() if line.startswith("event: ")]
    assert names.count("step") == len(progress(chunks, "step")) > 0
    assert names.count("delta") == len(content(chunks)) > 1


def test_a_response_streams_as_openais_response_events(server: Server) -> None:
    client = openai.OpenAI(base_url=server.base, api_key="unused", max_retries=0)
    events = list(client.responses.create(model="smollm2", input="hello", stream=True))
    kinds = [event.type for event in events]
    assert kinds[:3] == ["response.created", "response.output_item.added", "response.content_part.added"]
    assert kinds[-4:] == [
        "response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"
    ]
    deltas = [event.delta for event in events if event.type == "response.output_text.delta"]
    assert len(deltas) == 3 and "".join(deltas) == "You said: hello"
    assert [event.sequence_number for event in events] == list(range(len(events)))
    assert events[-1].response.output_text == "You said: hello" and events[-1].response.usage.output_tokens == 3


def test_a_programs_response_streams_its_answering_steps_tokens(server: Server) -> None:
    server.script.reply = lambda messages: "I am Smol, a small model."
    client = openai.OpenAI(base_url=server.base, api_key="unused", max_retries=0)
    with client.responses.stream(model="smol", input="Who are you?") as events:
        deltas = [event.delta for event in events if event.type == "response.output_text.delta"]
        final = events.get_final_response()
    assert len(deltas) > 3 and "".join(deltas) == final.output_text == "I am Smol, a small model."


def test_a_failed_response_stream_ends_with_an_error_event(make_server: Callable[..., Server], programs: Path) -> None:
    (programs / "express.smol").write_text(EXPRESS)
    server = make_server()
    server.script.reply = lambda messages: "not arithmetic at all"
    with httpx.stream(
        "POST", f"{server.base}/responses", json={"model": "smol/express", "input": "hm", "stream": True}
    ) as answer:
        names = [line.removeprefix("event: ") for line in answer.iter_lines() if line.startswith("event: ")]
    assert names[0] == "response.created" and names[-1] == "error" and "response.completed" not in names
