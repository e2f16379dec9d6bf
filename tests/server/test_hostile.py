"""Huge, malformed and ill-typed requests: a clear 4xx in OpenAI's error shape, never a 500 or a hang.

Each case is one the fuzzers (schemathesis, hand-written probes) found answered with a 500
before, or one issue 15 §4 names: multi-megabyte bodies, deep nesting, invalid UTF-8,
wrong types, huge prompts.
"""

from __future__ import annotations

import json

import httpx
import pytest

from smolcpu import config
from tests.server.conftest import Server

USER = {"role": "user", "content": "hi"}
DEEP = "[" * 100_000 + "]" * 100_000


def post(server: Server, path: str, **options) -> httpx.Response:
    return httpx.post(server.base + path, timeout=60, **options)


def assert_refused(reply: httpx.Response, status: int = 400, *, saying: str = "") -> None:
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert error["type"] == "invalid_request_error" and saying in error["message"]


@pytest.mark.parametrize(
    ("message", "saying"),
    [
        ({"role": "user", "content": 5}, "content is a string, null, or a list of content parts"),
        ({"role": "user", "content": [5, "x"]}, "each content part is an object"),
        ({"role": "user", "content": [{"type": "text"}]}, "a text part is"),
        ({"role": "user", "content": [{"type": "image_url", "image_url": "data:,x"}]}, "an image part is"),
        ({"role": 7, "content": "hi"}, "role is a string"),
    ],
)
@pytest.mark.parametrize("model", ["smollm2", "smol/echo"])
def test_ill_typed_messages_are_400_naming_the_message(server: Server, model: str, message: dict, saying: str) -> None:
    reply = post(server, "/chat/completions", json={"model": model, "messages": [USER, message]})
    assert_refused(reply, saying=f"message 1: {saying}")


@pytest.mark.parametrize(
    ("given", "saying"),
    [
        ([], "input is empty"),
        ([{"content": 5}], "content is a string or a list of content parts"),
        ([{"content": [5]}], "content is a string or a list of content parts"),
        ([{"content": [{"type": "input_text", "text": 5}]}], "input: "),
    ],
)
def test_ill_typed_response_input_is_400(server: Server, given: list, saying: str) -> None:
    assert_refused(post(server, "/responses", json={"model": "smollm2", "input": given}), saying=saying)


def test_json_cut_short_is_given_back_as_text_not_a_500(server: Server) -> None:
    server.script.reply = lambda messages: '{"answer": "the JSON was cut by max_tok'
    schema = {"type": "json_schema", "json_schema": {"schema": {"type": "object"}}}
    reply = post(server, "/chat/completions", json={"model": "smollm2", "messages": [USER], "response_format": schema})
    assert reply.status_code == 200
    assert reply.json()["choices"][0]["message"]["content"].startswith('{"answer"')


@pytest.mark.parametrize("path", ["/chat/completions", "/responses", "/embeddings", "/events"])
def test_deep_nesting_and_invalid_utf8_are_400(server: Server, path: str) -> None:
    for body in (DEEP.encode(), b'{"model": "smollm2", "messages": [{"role": "user", "content": "\xff\xfe"}]}'):
        reply = post(server, path, content=body, headers={"content-type": "application/json"})
        assert_refused(reply)


def test_a_webhook_refuses_json_nested_too_deeply(server: Server) -> None:
    reply = post(server, "/hooks/echo", content=DEEP, headers={"content-type": "application/json"})
    assert_refused(reply, saying="JSON nested too deeply")


def test_a_webhook_takes_invalid_utf8_text_with_replacement(server: Server) -> None:
    reply = post(server, "/hooks/echo", content=b"caf\xe9 \xff", headers={"content-type": "text/plain"})
    assert reply.status_code == 202


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/chat/completions", "application/json"), ("/hooks/echo", "text/plain"), ("/hooks/echo", "application/json")],
)
def test_a_body_past_the_limit_is_413(make_server, monkeypatch, path: str, content_type: str) -> None:
    monkeypatch.setattr(config, "MAX_REQUEST_BYTES", 1024 * 1024)
    server = make_server()
    huge = json.dumps({"model": "smollm2", "messages": [{"role": "user", "content": "x" * 3 * 1024 * 1024}]})
    reply = post(server, path, content=huge, headers={"content-type": content_type})
    assert reply.status_code == 413
    assert reply.json()["error"]["type"] == "invalid_request_error"
    assert post(server, "/chat/completions", json={"model": "smollm2", "messages": [USER]}).status_code == 200


def test_a_multi_megabyte_prompt_under_the_limit_is_served(server: Server) -> None:
    prompt = "word " * 600_000
    reply = post(server, "/chat/completions", json={"model": "smollm2", "messages": [{"role": "user", "content": prompt}]})
    assert reply.status_code == 200
    assert reply.json()["choices"][0]["message"]["content"].startswith("You said: word word")


def test_a_chunked_body_past_the_limit_is_413_too(make_server, monkeypatch) -> None:
    monkeypatch.setattr(config, "MAX_REQUEST_BYTES", 1024 * 1024)
    server = make_server()
    pieces = (b"x" * 65536 for _ in range(40))  # no Content-Length: counted as it is read
    reply = post(server, "/hooks/echo", content=pieces, headers={"content-type": "text/plain"})
    assert reply.status_code == 413
    assert reply.json()["error"]["code"] == "request_too_large"


def test_a_json_schema_that_is_not_an_object_is_400(server: Server) -> None:
    """atheris (bench/fuzz, target chat_request): ``json_schema`` given as a string was a 500."""
    schema = {"type": "json_schema", "json_schema": "an object, really"}
    reply = post(server, "/chat/completions", json={"model": "smollm2", "messages": [USER], "response_format": schema})
    assert_refused(reply, saying="json_schema.schema")


@pytest.mark.parametrize(
    "prompt",
    [
        pytest.param("complete this function\ndef f(x):\n    '''doc'''\n" * 20_000, id="many-defs"),
        pytest.param("(" * 1_000_000, id="a-million-parens"),
        pytest.param("1+" * 500_000 + "1", id="a-long-sum"),
        pytest.param("```python\n" + "x = 1\n" * 150_000 + "```", id="a-long-fence"),
    ],
)
def test_the_default_program_takes_huge_prompts_of_every_shape(server: Server, prompt: str) -> None:
    """Its routing reads the question (is it code? a fenced function left to write?) before any model does."""
    reply = post(server, "/chat/completions", json={"model": "smol", "messages": [{"role": "user", "content": prompt}]})
    assert reply.status_code == 200, reply.text[:300]
