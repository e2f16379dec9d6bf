"""``smol serve`` as a user runs it: refused when exposed without a key, serving on loopback,
and (slow) the real SmolLM2 and smolagents' OpenAIServerModel through it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server.conftest import EXAMPLES


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """``smol serve`` in a subprocess on a free loopback port with the examples as programs; its URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "smolcpu", "serve", "--port", str(port), "--programs", str(EXAMPLES)],
        stderr=subprocess.PIPE, text=True, env=os.environ | {"SMOL_API_KEYS": ""},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "smol serve did not come up"
            time.sleep(0.2)
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(30)


def test_serving_beyond_loopback_without_a_key_is_refused() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "smolcpu", "serve", "--host", "0.0.0.0"],
        capture_output=True, text=True, timeout=60, env=os.environ | {"SMOL_API_KEYS": ""},
    )
    assert result.returncode == 2
    assert "without an API key" in result.stderr and "Traceback" not in result.stderr


def test_serve_answers_on_loopback(served: str) -> None:
    names = {model["id"] for model in httpx.get(served + "/v1/models").json()["data"]}
    assert {"smol", "smol/calc"} <= names
    started = httpx.post(served + "/v1/hooks/calc", content="6 * 7").json()
    deadline = time.monotonic() + 60
    while (job := httpx.get(f"{served}/v1/jobs/{started['id']}").json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert job["result"]["answer"] == "42"


@pytest.mark.slow
def test_smollm2_answers_through_the_server(served: str) -> None:
    import openai

    client = openai.OpenAI(base_url=served + "/v1", api_key="unused", max_retries=0)
    answer = client.chat.completions.create(
        model="smollm2",
        messages=[{"role": "user", "content": "What is the capital of France? One word."}],
        max_tokens=16, temperature=0, logprobs=True, top_logprobs=2,
    )
    assert answer.choices[0].message.content and answer.usage.prompt_tokens > 5
    assert answer.choices[0].logprobs.content[0].top_logprobs
    stream = client.chat.completions.create(
        model="smollm2", messages=[{"role": "user", "content": "Count to five."}], max_tokens=24, stream=True
    )
    assert len([c for c in stream if c.choices and c.choices[0].delta.content]) > 3
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    shaped = client.chat.completions.create(
        model="smollm2", messages=[{"role": "user", "content": "Name a city in France as JSON."}], max_tokens=40,
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": schema}},
    )
    assert isinstance(json.loads(shaped.choices[0].message.content)["city"], str)
    weather = {"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}  # fmt: skip
    called = client.chat.completions.create(
        model="smollm2", messages=[{"role": "user", "content": "Weather in Paris?"}], max_tokens=60,
        tools=[weather], tool_choice="required",
    )
    call = called.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather" and "city" in json.loads(call.function.arguments)
    stopped = client.chat.completions.create(
        model="smollm2", messages=[{"role": "user", "content": "Count from 1 to 10."}], max_tokens=60, stop=["4"]
    )
    assert "4" not in stopped.choices[0].message.content and "5" not in stopped.choices[0].message.content
    vectors = client.embeddings.create(model="minilm", input=["a cat", "a kitten"])
    assert len(vectors.data) == 2 and len(vectors.data[0].embedding) == 384 and vectors.usage.prompt_tokens > 2


@pytest.mark.slow
def test_a_prompt_past_the_llms_context_is_400_and_the_server_goes_on(served: str) -> None:
    huge = [{"role": "user", "content": "Summarise this. " + "word " * 200_000}]
    refused = httpx.post(served + "/v1/chat/completions", json={"model": "smollm2", "messages": huge}, timeout=300)
    assert refused.status_code == 400, refused.text
    assert "context" in refused.json()["error"]["message"]
    tiny = [{"role": "user", "content": "Say hi."}]
    answered = httpx.post(served + "/v1/chat/completions", json={"model": "smollm2", "messages": tiny, "max_tokens": 8}, timeout=300)
    assert answered.status_code == 200 and answered.json()["choices"][0]["message"]["content"]
