"""Tool-call extraction and JSON repair, on what small models really write (no model needed)."""

from __future__ import annotations

import json

import pytest

from smolcpu.errors import UsageError
from smolcpu.units.neural import (
    ToolCall,
    extract_tool_calls,
    repair_json,
    tool_call_schema,
    tool_calls_schema,
    tool_decoding,
)

WEATHER = ToolCall("get_weather", {"city": "Paris", "unit": "celsius"})


@pytest.mark.parametrize(
    "answer",
    [
        # Qwen's trained format (hermes tags)
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}\n</tool_call>',
        # what small Qwen models emit most: a fenced json block after some prose
        'Sure! I will call the tool.\n```json\n{\n  "name": "get_weather",\n  "arguments": {\n    "city": "Paris",\n'
        '    "unit": "celsius"\n  }\n}\n```\nLet me know if you need anything else.',
        # a fence with no language, and a fence that never closes
        '```\n{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}\n```',
        '```json\n{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}',
        # bare JSON in prose
        'I need the weather. {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}} That is all.',
        # OpenAI's shape, with arguments as a JSON string
        '{"type": "function", "function": {"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\", \\"unit\\": \\"celsius\\"}"}}',
        # "parameters" instead of "arguments"
        '{"name": "get_weather", "parameters": {"city": "Paris", "unit": "celsius"}}',
    ],
)
def test_calls_are_found_in_every_shape(answer: str) -> None:
    assert extract_tool_calls(answer) == [WEATHER]


@pytest.mark.parametrize(
    "answer",
    [
        # trailing commas
        '```json\n{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius",},}\n```',
        # Python-style quotes and literals
        "<tool_call>{'name': 'get_weather', 'arguments': {'city': 'Paris', 'unit': 'celsius'}}</tool_call>",
        # stopped before the last braces (max_tokens, or the model just stopped)
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"',
        # a stray closer
        '{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}}',
    ],
)
def test_broken_json_is_repaired(answer: str) -> None:
    assert extract_tool_calls(answer) == [WEATHER]


def test_several_calls_in_order() -> None:
    answer = (
        '<tool_call>{"name": "add", "arguments": {"a": 1, "b": 2}}</tool_call>\n'
        '<tool_call>{"name": "mul", "arguments": {"a": 3, "b": 4}}</tool_call>'
    )
    assert [call.name for call in extract_tool_calls(answer)] == ["add", "mul"]
    listed = '```json\n[{"name": "add", "arguments": {"a": 1}}, {"name": "mul", "arguments": {"a": 2}}]\n```'
    assert [call.to_dict() for call in extract_tool_calls(listed)] == [
        {"name": "add", "arguments": {"a": 1}},
        {"name": "mul", "arguments": {"a": 2}},
    ]


@pytest.mark.parametrize(
    "answer",
    [
        "The weather in Paris is mild today.",
        '```python\nprint({"a": 1})\n```',
        '{"city": "Paris"}',
        "<tool_call>not json at all</tool_call>",
        "",
    ],
)
def test_answers_without_calls_give_none(answer: str) -> None:
    assert extract_tool_calls(answer) == []


def test_strings_keep_their_braces_quotes_and_literals() -> None:
    answer = '{"name": "note", "arguments": {"text": "it\'s {not} a brace, true or null"}}'
    assert extract_tool_calls(answer) == [ToolCall("note", {"text": "it's {not} a brace, true or null"})]


def test_repair_json() -> None:
    assert repair_json('{"a": [1, 2,], }') == {"a": [1, 2]}
    assert repair_json("{'a': true, 'b': null, 'c': False}") == {"a": True, "b": None, "c": False}
    assert repair_json('{"a": {"b": [1, 2') == {"a": {"b": [1, 2]}}
    assert repair_json('{"a": "unterminated') == {"a": "unterminated"}
    with pytest.raises(ValueError, match="not JSON"):
        repair_json("hello there")


def test_tool_call_schema_admits_only_the_declared_tools() -> None:
    tools = [
        {"type": "function", "function": {"name": "add", "parameters": {"type": "object", "properties": {"a": {"type": "number"}}}}},
        {"type": "function", "function": {"name": "mul", "parameters": {"type": "object"}}},
    ]
    schema = tool_call_schema(tools)
    assert [variant["properties"]["name"]["const"] for variant in schema["oneOf"]] == ["add", "mul"]
    single = tool_call_schema(tools[:1])
    assert single["required"] == ["name", "arguments"]
    assert json.loads(json.dumps(single)) == single


def test_doubled_braces_are_read_as_one_object() -> None:
    """Qwen2.5-Coder-1.5B writes {{"name": ...}} (to Python's literal_eval, a set holding a dict);
    re-asked under a schema, it once turned year "2022" into "time2022" (BFCL simple_python_65)."""
    density = '{{"name": "calculate_density", "arguments": {"country": "Brazil", "year": "2022"}}}'
    assert extract_tool_calls(density) == [ToolCall("calculate_density", {"country": "Brazil", "year": "2022"})]
    assert extract_tool_calls('{{"name": "f", "arguments": {"a": 1}}}}') == [ToolCall("f", {"a": 1})]
    assert repair_json('{{"name": "f"}}') == {"name": "f"}


def test_a_python_literal_that_is_no_json_value_is_not_a_crash() -> None:
    assert extract_tool_calls('{{"a" "b"}}') == []  # a set of a string: no call, and no exception
    with pytest.raises(ValueError, match="not JSON"):
        repair_json("{{: ,}}")


ADD = {"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}
MUL = {"type": "function", "function": {"name": "mul", "parameters": {"type": "object"}}}


def test_a_compulsory_call_is_decoded_under_a_schema_of_the_calls() -> None:
    assert tool_decoding({"tools": [ADD, MUL]}) == ([ADD, MUL], None)  # auto: the model may answer in words
    tools, schema = tool_decoding({"tools": [ADD, MUL], "tool_choice": "required"})
    assert schema == tool_calls_schema([ADD, MUL]) and schema["minItems"] == 1 and "maxItems" not in schema
    _, named = tool_decoding({"tools": [ADD, MUL], "tool_choice": "mul", "parallel_tool_calls": False})
    assert named["items"]["properties"]["name"]["const"] == "mul" and named["maxItems"] == 1
    with pytest.raises(UsageError, match="none of the tools offered"):
        tool_decoding({"tools": [ADD], "tool_choice": "div"})
    with pytest.raises(UsageError, match="not both"):
        tool_decoding({"tools": [ADD], "json_schema": {"type": "object"}})


def test_parallel_calls_are_all_extracted() -> None:
    text = '[{"name": "add", "arguments": {"a": 1}}, {"name": "mul", "arguments": {"b": 2}}]'
    assert [call.name for call in extract_tool_calls(text)] == ["add", "mul"]
