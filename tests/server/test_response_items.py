"""The rest of /v1/responses through the official ``openai`` client: a stored Response's
input items (``GET /v1/responses/{id}/input_items``, paged by id) and ``text.format``
(``json_object``, ``json_schema``: chat's ``response_format``), with OpenAI's error shape
for what Smol cannot honour."""

from __future__ import annotations

import json

import openai
import pytest
from pydantic import BaseModel

from tests.server.conftest import Server
from tests.server.test_chat import client


def test_input_items_list_the_conversation_a_response_answered(server: Server) -> None:
    openai_client = client(server)
    first = openai_client.responses.create(model="smollm2", input="Hi", instructions="Be brief.")
    second = openai_client.responses.create(
        model="smollm2", previous_response_id=first.id, input=[{"role": "user", "content": [{"type": "input_text", "text": "And?"}]}]
    )
    items = openai_client.responses.input_items.list(second.id).data
    assert [(item.type, item.role) for item in items] == [("message", "user"), ("message", "assistant"), ("message", "user")]
    assert items[0].content[0].text == "And?" and items[2].content[0].text == "Hi"
    assert items[2].content[0].type == "input_text" and items[1].id == first.output[0].id
    assert len({item.id for item in items}) == 3 and all(item.status == "completed" for item in items)
    # asc order, and paging by id: the client follows `after` page after page
    ascending = openai_client.responses.input_items.list(second.id, order="asc")
    assert [item.id for item in ascending.data] == [item.id for item in reversed(items)]
    one_by_one = openai_client.responses.input_items.list(second.id, limit=1)
    assert len(one_by_one.data) == 1 and one_by_one.has_more
    assert [item.id for item in one_by_one] == [item.id for item in items]
    assert [item.id for item in openai_client.responses.input_items.list(first.id).data] == [items[2].id]


def test_input_items_of_an_unknown_response_or_with_include_are_refused(server: Server) -> None:
    openai_client = client(server)
    with pytest.raises(openai.NotFoundError):
        openai_client.responses.input_items.list("resp_0123456789abcdef0123456789abcdef")
    response = openai_client.responses.create(model="smollm2", input="Hi")
    with pytest.raises(openai.BadRequestError, match="include"):
        openai_client.responses.input_items.list(response.id, include=["message.input_image.image_url"])
    with pytest.raises(openai.BadRequestError, match="after"):
        openai_client.responses.input_items.list(response.id, after="msg_nothing")
    with pytest.raises(openai.BadRequestError, match="limit"):
        openai_client.responses.input_items.list(response.id, limit=101)


class City(BaseModel):
    name: str
    population: int


def test_text_format_json_schema_is_chats_response_format(server: Server) -> None:
    server.script.reply = lambda messages: '{"name": "Oslo", "population": 709000}'
    parsed = client(server).responses.parse(model="smollm2", input="A city?", text_format=City)
    assert parsed.output_parsed == City(name="Oslo", population=709000)
    asked = server.script.llm.requests[-1]
    assert asked["json_schema"] == City.model_json_schema() | {"additionalProperties": False}
    assert parsed.text.format.type == "json_schema" and parsed.text.format.name == "City"


def test_text_format_json_object_asks_for_an_object(server: Server) -> None:
    server.script.reply = lambda messages: '{"ok": true}'
    response = client(server).responses.create(model="smollm2", input="JSON please", text={"format": {"type": "json_object"}})
    assert json.loads(response.output_text) == {"ok": True}
    assert server.script.llm.requests[-1]["json_schema"] == {"type": "object"}
    plain = client(server).responses.create(model="smollm2", input="hi", text={"format": {"type": "text"}})
    assert "json_schema" not in server.script.llm.requests[-1] and plain.text.format.type == "text"


@pytest.mark.parametrize(
    ("text", "model", "refusal"),
    [
        ({"format": {"type": "grammar"}}, "smollm2", "text.format type 'grammar' is not supported"),
        ({"format": {"type": "json_schema", "name": "x"}}, "smollm2", "needs schema"),
        ({"format": {"type": "text"}, "verbosity": "low"}, "smollm2", "text.verbosity is not supported"),
        ({"format": {"type": "json_object"}}, "smol", "not supported by model 'smol'"),
    ],
)
def test_text_options_smol_cannot_honour_are_refused(server: Server, text: dict, model: str, refusal: str) -> None:
    with pytest.raises(openai.BadRequestError, match=refusal) as caught:
        client(server).responses.create(model=model, input="hi", text=text)
    assert set(caught.value.body) == {"message", "type", "param", "code"}
    assert not server.script.llm.requests
