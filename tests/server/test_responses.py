"""The Responses API through the official ``openai`` client: function tools and their
``function_call`` items (streamed and not), a conversation continued by
``previous_response_id``, stored Responses (GET, DELETE, another server on the same store)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest

from tests.server.conftest import Messages, Server
from tests.server.test_chat import client

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
TIME = {"type": "function", "name": "get_time", "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}}}
CALL = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'


def weather_then_answer(messages: Messages) -> str:
    """Calls the weather tool when asked about the weather, then answers from its output; else echoes."""
    last = messages[-1]
    if last["role"] == "tool":
        return f"It is {last['content']} in Paris."
    return CALL if "Weather" in str(last["content"]) else f"You said: {last['content']}"


def test_a_function_tool_is_called_as_a_function_call_item(server: Server) -> None:
    server.script.reply = weather_then_answer
    response = client(server).responses.create(model="smollm2", input="Weather in Paris?", tools=[WEATHER, TIME])
    [call] = response.output
    assert call.type == "function_call" and call.name == "get_weather" and call.status == "completed"
    assert json.loads(call.arguments) == {"city": "Paris"} and call.call_id.startswith("call_")
    assert response.output_text == "" and response.tools[0].name == "get_weather"
    asked = server.script.llm.requests[-1]
    assert asked["tool_choice"] == "auto"
    assert asked["tools"][0] == {"type": "function", "function": {k: WEATHER[k] for k in ("name", "description", "parameters")}}


def test_previous_response_id_continues_with_the_function_calls_output(server: Server) -> None:
    server.script.reply = weather_then_answer
    openai_client = client(server)
    first = openai_client.responses.create(model="smollm2", input="Weather in Paris?", tools=[WEATHER], instructions="Be brief.")
    call = first.output[0]
    second = openai_client.responses.create(
        model="smollm2",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
        tools=[WEATHER],
    )
    assert second.output_text == "It is sunny in Paris." and second.previous_response_id == first.id
    messages = server.script.llm.requests[-1]["messages"]
    assert [message["role"] for message in messages] == ["user", "assistant", "tool"]  # the instructions stay with the first
    assert messages[1]["tool_calls"] == [
        {"id": call.call_id, "type": "function", "function": {"name": "get_weather", "arguments": call.arguments}}
    ]
    assert messages[2] == {"role": "tool", "tool_call_id": call.call_id, "content": "sunny"}
    third = openai_client.responses.create(model="smollm2", previous_response_id=second.id, input="And tomorrow?")
    assert [m["role"] for m in server.script.llm.requests[-1]["messages"]] == ["user", "assistant", "tool", "assistant", "user"]
    assert third.output_text == "You said: And tomorrow?"


def test_the_input_may_carry_the_whole_conversation_without_storing(server: Server) -> None:
    server.script.reply = weather_then_answer
    given = [
        {"role": "user", "content": "Weather in Paris?"},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "rainy"},
    ]
    response = client(server).responses.create(model="smollm2", input=given, tools=[WEATHER], store=False)
    assert response.output_text == "It is rainy in Paris."
    with pytest.raises(openai.NotFoundError):
        client(server).responses.retrieve(response.id)


def test_a_named_tool_choice_in_the_responses_shape_is_compulsory(server: Server) -> None:
    server.script.reply = lambda messages: '[{"name": "get_time", "arguments": {"zone": "UTC"}}]'
    response = client(server).responses.create(
        model="smollm2", input="Time?", tools=[WEATHER, TIME], tool_choice={"type": "function", "name": "get_time"}
    )
    assert [item.name for item in response.output] == ["get_time"]
    assert server.script.llm.requests[-1]["tool_choice"] == "get_time"


def events_of(server: Server, **request: Any) -> list[Any]:
    return list(client(server).responses.create(model="smollm2", stream=True, **request))


def test_function_calls_stream_as_items_with_their_arguments(server: Server) -> None:
    server.script.reply = weather_then_answer
    events = events_of(server, input="Weather in Paris?", tools=[WEATHER])
    assert [event.type for event in events] == [
        "response.created",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    added, delta, done, item_done, completed = events[1:]
    assert added.item.type == "function_call" and added.item.status == "in_progress" and added.item.arguments == ""
    assert delta.item_id == done.item_id == item_done.item.id == added.item.id
    assert json.loads(done.arguments) == {"city": "Paris"} and done.name == "get_weather"
    assert completed.response.output[0].call_id == item_done.item.call_id
    assert [event.sequence_number for event in events] == list(range(len(events)))
    # the streamed Response is stored, and continues like any other
    call = completed.response.output[0]
    answer = events_of(
        server,
        previous_response_id=completed.response.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "cloudy"}],
        tools=[WEATHER],
    )
    texts = [event.delta for event in answer if event.type == "response.output_text.delta"]
    assert texts == ["It is cloudy in Paris."] and answer[-1].response.output_text == "It is cloudy in Paris."


def test_a_stored_response_can_be_read_and_deleted(server: Server) -> None:
    openai_client = client(server)
    response = openai_client.responses.create(model="smollm2", input="hello", metadata={"topic": "greeting"})
    kept = openai_client.responses.retrieve(response.id)
    assert kept.output_text == "You said: hello" and kept.metadata == {"topic": "greeting"} and kept.store
    openai_client.responses.delete(response.id)
    for method in ("GET", "DELETE"):
        answer = httpx.request(method, f"{server.base}/responses/{response.id}")
        assert answer.status_code == 404
        assert answer.json()["error"]["type"] == "invalid_request_error" and response.id in answer.json()["error"]["message"]
    with pytest.raises(openai.NotFoundError):
        openai_client.responses.create(model="smollm2", previous_response_id=response.id, input="again")


@pytest.mark.parametrize("unknown", ["resp_0123456789abcdef0123456789abcdef", "resp_nothex", "nothing-like-it"])
def test_unknown_response_ids_are_404_in_openais_shape(server: Server, unknown: str) -> None:
    answer = httpx.get(f"{server.base}/responses/{unknown}")
    assert answer.status_code == 404
    assert set(answer.json()["error"]) == {"message", "type", "param", "code"}


def test_stored_responses_outlive_the_server(make_server: Callable[..., Server]) -> None:
    first = make_server()
    response = client(first).responses.create(model="smollm2", input="remember me")
    first.stop()
    second = make_server()  # the server started again on the same store
    assert client(second).responses.retrieve(response.id).output_text == "You said: remember me"
    follow = client(second).responses.create(model="smollm2", previous_response_id=response.id, input="again")
    assert [m["content"] for m in second.script.llm.requests[-1]["messages"]] == [
        "remember me", "You said: remember me", "again"
    ]
    assert follow.output_text == "You said: again"


def test_a_response_is_seen_only_by_the_key_that_made_it(make_server: Callable[..., Server]) -> None:
    server = make_server(keys=["sk-one", "sk-two"])
    one, two = (openai.OpenAI(base_url=server.base, api_key=key, max_retries=0) for key in ("sk-one", "sk-two"))
    response = one.responses.create(model="smollm2", input="mine")
    assert one.responses.retrieve(response.id).output_text == "You said: mine"
    with pytest.raises(openai.NotFoundError):
        two.responses.retrieve(response.id)


def test_tools_other_than_functions_are_refused_by_name(server: Server) -> None:
    with pytest.raises(openai.BadRequestError, match="web_search"):
        client(server).responses.create(model="smollm2", input="news?", tools=[{"type": "web_search"}])


def test_the_default_program_calls_function_tools_too(server: Server) -> None:
    server.script.reply = lambda messages: '{"name": "get_weather", "arguments": {"city": "Oslo"}}'
    response = client(server).responses.create(model="smol", input="Weather in Oslo?", tools=[WEATHER])
    [call] = response.output
    assert call.type == "function_call" and call.name == "get_weather" and json.loads(call.arguments) == {"city": "Oslo"}
