"""Chat completions through the official ``openai`` client against the real server
(cases after llama.cpp's server tests: chat, stream, stop, max_tokens, n, logprobs, JSON)."""

from __future__ import annotations

import json

import openai
import pytest

from tests.server.conftest import Server


def client(server: Server, **options: object) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base, api_key="unused", max_retries=0, **options)


def test_models_lists_the_default_program_the_programs_and_the_llms(server: Server) -> None:
    names = {model.id for model in client(server).models.list()}
    assert {"smol", "smol/echo", "smol/calc", "smollm2", "qwen2.5-coder-1.5b", "minilm"} <= names


def test_a_raw_llm_answers_with_usage(server: Server) -> None:
    answer = client(server).chat.completions.create(
        model="smollm2", messages=[{"role": "user", "content": "What is the capital of France?"}]
    )
    choice = answer.choices[0]
    assert choice.message.content == "You said: What is the capital of France?"
    assert choice.finish_reason == "stop"
    assert answer.usage.completion_tokens == 8 and answer.usage.prompt_tokens == 6
    assert answer.usage.total_tokens == 14


def test_a_streamed_answer_arrives_token_by_token_with_usage_at_the_end(server: Server) -> None:
    stream = client(server).chat.completions.create(
        model="smollm2",
        messages=[{"role": "user", "content": "one two three"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert "".join(pieces) == "You said: one two three"
    assert len(pieces) == 5
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5


def test_stop_strings_and_max_tokens_end_the_answer(server: Server) -> None:
    server.script.reply = lambda messages: "one two three four five six"
    openai_client = client(server)
    stopped = openai_client.chat.completions.create(
        model="smollm2", messages=[{"role": "user", "content": "count"}], stop=[" four"]
    )
    assert stopped.choices[0].message.content == "one two three"
    cut = openai_client.chat.completions.create(
        model="smollm2", messages=[{"role": "user", "content": "count"}], max_completion_tokens=2
    )
    assert cut.choices[0].message.content == "one two"
    assert cut.choices[0].finish_reason == "length"
    assert server.script.llm.requests[-1]["max_tokens"] == 2
    assert server.script.llm.requests[0]["stop"] == [" four"]


def test_n_choices_are_made_one_after_another_with_their_own_seeds(server: Server) -> None:
    answer = client(server).chat.completions.create(
        model="smollm2", messages=[{"role": "user", "content": "hi"}], n=3, seed=7, temperature=0.8
    )
    assert [choice.index for choice in answer.choices] == [0, 1, 2]
    assert [request["seed"] for request in server.script.llm.requests] == [7, 8, 9]
    assert all(request["temperature"] == 0.8 for request in server.script.llm.requests)
    assert answer.usage.completion_tokens == 3 * 3


def test_logprobs_come_per_token_and_streamed(server: Server) -> None:
    openai_client = client(server)
    messages = [{"role": "user", "content": "hi"}]
    answer = openai_client.chat.completions.create(model="smollm2", messages=messages, logprobs=True, top_logprobs=2)
    scored = answer.choices[0].logprobs.content
    assert "".join(token.token for token in scored) == "You said: hi"
    assert all(token.logprob == 0.0 and token.top_logprobs for token in scored)
    assert server.script.llm.requests[-1]["logprobs"] == 2
    stream = openai_client.chat.completions.create(model="smollm2", messages=messages, logprobs=True, stream=True)
    tokens = [t.token for c in stream if c.choices and c.choices[0].logprobs for t in c.choices[0].logprobs.content]
    assert "".join(tokens) == "You said: hi"


@pytest.mark.parametrize(
    ("response_format", "schema"),
    [
        ({"type": "json_object"}, {"type": "object"}),
        (
            {"type": "json_schema", "json_schema": {"name": "city", "schema": {"type": "object", "properties": {"name": {"type": "string"}}}}},
            {"type": "object", "properties": {"name": {"type": "string"}}},
        ),
    ],
)
def test_response_format_decodes_under_the_schema(server: Server, response_format: dict, schema: dict) -> None:
    server.script.reply = lambda messages: '{"name": "Paris"}'
    answer = client(server).chat.completions.create(
        model="smollm2", messages=[{"role": "user", "content": "city?"}], response_format=response_format
    )
    assert json.loads(answer.choices[0].message.content) == {"name": "Paris"}
    assert server.script.llm.requests[-1]["json_schema"] == schema


def test_a_named_program_answers_as_a_model(server: Server) -> None:
    server.script.reply = lambda messages: "echo: " + messages[-1]["content"].splitlines()[-1]
    answer = client(server).chat.completions.create(
        model="smol/echo", messages=[{"role": "user", "content": "ping"}]
    )
    assert answer.choices[0].message.content.startswith("echo:")
    assert "ping" in answer.choices[0].message.content


def test_the_default_program_answers_with_the_chat_so_far(server: Server) -> None:
    seen: list[list] = []

    def reply(messages: list) -> str:
        seen.append(messages)
        return "I am Smol."

    server.script.reply = reply
    answer = client(server).chat.completions.create(
        model="smol",
        messages=[
            {"role": "user", "content": "My name is Ada."},
            {"role": "assistant", "content": "Hello Ada."},
            {"role": "user", "content": "Who are you?"},
        ],
    )
    assert answer.choices[0].message.content == "I am Smol."
    assert answer.usage.completion_tokens == 3 and answer.usage.prompt_tokens > 10  # what its LLM steps read
    shown = json.dumps(seen[-1])
    assert "Who are you?" in shown and "Ada" in shown


def test_embeddings_come_from_the_embed_unit_with_token_counts(make_server) -> None:
    from smolcpu.testing import FixedJson

    embed = FixedJson({"vectors": [[0.6, 0.8], [1.0, 0.0]], "tokens": 5})
    server = make_server(units={"embed": embed})
    answer = client(server).embeddings.create(model="minilm", input=["a cat", "a kitten"])
    assert [item.index for item in answer.data] == [0, 1]
    assert answer.data[0].embedding == pytest.approx([0.6, 0.8])
    assert answer.usage.prompt_tokens == 5
    assert json.loads(embed.seen[0].payload) == {"text": ["a cat", "a kitten"]}
    floats = client(server).embeddings.create(model="minilm", input="a cat", encoding_format="float")
    assert floats.data[1].embedding == [1.0, 0.0]


def test_server_timing_says_where_a_raw_requests_time_went() -> None:
    from smolcpu.server._app import server_timing
    from smolcpu.server._chat import Reply

    header = server_timing(Reply([], generation_ms=80.0, engine_ms=82.5, unit_ms=84.25))
    assert header == "llm;dur=80.000, engine;dur=82.500, unit;dur=84.250"
