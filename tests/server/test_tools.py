"""Tool calls through the server: tool_choice auto/none/required/named, parallel calls, streamed deltas."""

from __future__ import annotations

import json

from tests.server.conftest import Server
from tests.server.test_chat import client

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
TIME = {
    "type": "function",
    "function": {"name": "get_time", "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}}},
}
TWO_CALLS = (
    '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>\n'
    '<tool_call>{"name": "get_time", "arguments": {"zone": "CET"}}</tool_call>'
)
ASK = [{"role": "user", "content": "Weather and time in Paris?"}]


def test_every_parallel_call_is_parsed_not_only_the_first(server: Server) -> None:
    server.script.reply = lambda messages: TWO_CALLS
    answer = client(server).chat.completions.create(model="smollm2", messages=ASK, tools=[WEATHER, TIME])
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = [(call.function.name, json.loads(call.function.arguments)) for call in choice.message.tool_calls]
    assert calls == [("get_weather", {"city": "Paris"}), ("get_time", {"zone": "CET"})]
    assert all(call.id.startswith("call_") and call.type == "function" for call in choice.message.tool_calls)
    assert server.script.llm.requests[-1]["tool_choice"] == "auto"


def test_parallel_tool_calls_false_keeps_one_call(server: Server) -> None:
    server.script.reply = lambda messages: TWO_CALLS
    answer = client(server).chat.completions.create(
        model="smollm2", messages=ASK, tools=[WEATHER, TIME], parallel_tool_calls=False
    )
    assert [call.function.name for call in answer.choices[0].message.tool_calls] == ["get_weather"]


def test_tool_choice_none_offers_no_tools(server: Server) -> None:
    server.script.reply = lambda messages: "It is sunny."
    answer = client(server).chat.completions.create(model="smollm2", messages=ASK, tools=[WEATHER], tool_choice="none")
    assert answer.choices[0].message.content == "It is sunny."
    assert answer.choices[0].message.tool_calls is None
    assert "tools" not in server.script.llm.requests[-1]


def test_tool_choice_required_and_named_are_passed_as_compulsory(server: Server) -> None:
    server.script.reply = lambda messages: '[{"name": "get_time", "arguments": {"zone": "UTC"}}]'
    openai_client = client(server)
    required = openai_client.chat.completions.create(
        model="smollm2", messages=ASK, tools=[WEATHER, TIME], tool_choice="required"
    )
    assert required.choices[0].message.tool_calls[0].function.name == "get_time"
    assert server.script.llm.requests[-1]["tool_choice"] == "required"
    named = openai_client.chat.completions.create(
        model="smollm2",
        messages=ASK,
        tools=[WEATHER, TIME],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    assert named.choices[0].message.tool_calls[0].function.name == "get_time"
    assert named.choices[0].message.content is None
    assert server.script.llm.requests[-1]["tool_choice"] == "get_time"


def test_tool_calls_stream_as_deltas(server: Server) -> None:
    server.script.reply = lambda messages: TWO_CALLS
    stream = client(server).chat.completions.create(model="smollm2", messages=ASK, tools=[WEATHER, TIME], stream=True)
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in stream:
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            for delta in choice.delta.tool_calls or ():
                entry = calls.setdefault(delta.index, {"name": "", "arguments": ""})
                entry["name"] += delta.function.name or ""
                entry["arguments"] += delta.function.arguments or ""
    assert [calls[i]["name"] for i in sorted(calls)] == ["get_weather", "get_time"]
    assert json.loads(calls[1]["arguments"]) == {"zone": "CET"}
    assert finish == "tool_calls"


def test_the_default_program_calls_tools_through_its_call_step(server: Server) -> None:
    server.script.reply = lambda messages: '{"name": "get_weather", "arguments": {"city": "Oslo"}}'
    answer = client(server).chat.completions.create(
        model="smol", messages=[{"role": "user", "content": "Weather in Oslo?"}], tools=[WEATHER]
    )
    call = answer.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Oslo"}
