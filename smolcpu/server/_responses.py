"""The Responses API's shapes: a request as the chat completion that answers it, and the
Response, its output items and its stream events as OpenAI writes them.

A Response is answered as a chat completion (:mod:`smolcpu.server._chat`), tools and all:
its input items become chat messages (a ``function_call`` an assistant message's tool call,
a ``function_call_output`` a ``tool`` message), its function tools chat tools, and the
answer's tool calls come back as ``function_call`` output items.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field, ValidationError

from smolcpu.errors import Unsupported, UsageError
from smolcpu.server._openai import ChatRequest, OpenAIRequest, completion_id

Item = dict[str, Any]


class ResponsesRequest(OpenAIRequest):
    model: str
    input: str | list[Item]
    instructions: str | None = None
    previous_response_id: str | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    max_output_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    stream: bool = False
    store: bool = True
    text: dict[str, Any] | None = None
    metadata: dict[str, str] | None = None
    user: str | None = None

    @property
    def items(self) -> list[Item]:
        """The input as items (a string is one user message)."""
        if isinstance(self.input, str):
            return [{"type": "message", "role": "user", "content": self.input}]
        return self.input

    def chat(self, earlier: Sequence[Item] = ()) -> ChatRequest:
        """The chat completion that answers this request after the ``earlier`` items of its
        conversation (a previous response's input and output).

        Raises:
            Unsupported: an unknown field, item or tool type.
            UsageError: a malformed item or tool choice.
        """
        self.refuse_unknown()
        system = [{"role": "system", "content": self.instructions}] if self.instructions else []
        messages = system + chat_messages([*earlier, *self.items])
        if not messages:
            raise UsageError("input is empty: give a string or at least one message item")
        try:
            return ChatRequest(
                model=self.model,
                messages=messages,
                tools=[chat_tool(tool) for tool in self.tools] if self.tools else None,
                tool_choice=chat_tool_choice(self.tool_choice),
                parallel_tool_calls=self.parallel_tool_calls,
                max_tokens=self.max_output_tokens,
                temperature=self.temperature,
                stream=self.stream,
                response_format=chat_response_format(self.text),
            )
        except ValidationError as exc:
            raise UsageError(f"input: {exc.errors()[0]['msg']}") from None


def chat_messages(items: list[Item]) -> list[dict[str, Any]]:
    """Responses input items as chat messages: a ``function_call`` joins the assistant message
    before it (or starts one), a ``function_call_output`` is a ``tool`` message.

    Raises:
        Unsupported: an item type Smol does not know (reasoning, web search, ...).
        UsageError: a function call or its output without its ``call_id``.
    """
    messages: list[dict[str, Any]] = []
    for item in items:
        kind = item.get("type", "message")
        if kind == "message":
            role = {"developer": "system"}.get(item.get("role", "user"), item.get("role", "user"))
            messages.append({"role": role, "content": _chat_parts(item.get("content", ""))})
        elif kind == "function_call":
            function = {"name": item.get("name", ""), "arguments": item.get("arguments", "{}")}
            call = {"id": _call_id(item), "type": "function", "function": function}
            if not messages or messages[-1]["role"] != "assistant":
                messages.append({"role": "assistant", "content": ""})
            messages[-1].setdefault("tool_calls", []).append(call)
        elif kind == "function_call_output":
            output = _output_text(item.get("output", ""))
            messages.append({"role": "tool", "tool_call_id": _call_id(item), "content": output})
        else:
            raise Unsupported(
                f"input items of type {kind!r} are not supported (message, function_call, function_call_output are)"
            )
    return messages


def _call_id(item: Item) -> str:
    if not isinstance(item.get("call_id"), str):
        raise UsageError(f"a {item.get('type')} item needs its call_id (the function_call's call_id)")
    return item["call_id"]


def _output_text(output: str | list[dict[str, Any]]) -> str:
    if isinstance(output, str):
        return output
    return "".join(part.get("text", "") for part in output if part.get("type") in ("input_text", "output_text"))


def _chat_parts(content: str | list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """Responses content parts as chat parts (input_text → text, input_image → image_url)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list) or not all(isinstance(part, dict) for part in content):
        raise UsageError("an input item's content is a string or a list of content parts (objects)")
    parts = []
    for part in content:
        kind = part.get("type")
        if kind in ("input_text", "output_text", "text"):
            parts.append({"type": "text", "text": part.get("text", "")})
        elif kind == "input_image":
            parts.append({"type": "image_url", "image_url": {"url": part.get("image_url", "")}})
        else:
            raise Unsupported(f"content parts of type {kind!r} are not supported")
    return parts


def chat_response_format(text: dict[str, Any] | None) -> dict[str, Any] | None:
    """A Responses ``text`` option (``{"format": {"type": "json_schema", "name", "schema",
    "strict"}}``, ``json_object`` or ``text``) as chat's ``response_format``.

    Raises:
        Unsupported: a ``text`` option other than ``format``, or a format type Smol does not know.
        UsageError: a ``json_schema`` format without its schema.
    """
    if text is None:
        return None
    if not isinstance(text, dict) or set(text) - {"format"}:
        others = sorted(set(text) - {"format"}) if isinstance(text, dict) else ["(not an object)"]
        raise Unsupported(f"text.{', text.'.join(others)} is not supported: Smol honours text.format")
    spec = text.get("format") or {"type": "text"}
    kind = spec.get("type") if isinstance(spec, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        if not isinstance(spec.get("schema"), dict):
            raise UsageError("text.format of type json_schema needs schema, a JSON schema object")
        keys = ("name", "description", "schema", "strict")
        return {"type": "json_schema", "json_schema": {key: spec[key] for key in keys if key in spec}}
    raise Unsupported(f"text.format type {kind!r} is not supported: 'text', 'json_object' or 'json_schema'")


ITEM_PREFIXES = {"message": "msg", "function_call": "fc", "function_call_output": "fco"}
"""The id prefix of each item type (as OpenAI's ids have them)."""


def with_ids(items: Sequence[Item]) -> list[Item]:
    """``items`` with an ``id`` each (a stored conversation's items are listed and paged by id)."""
    return [
        item if "id" in item else {"id": completion_id(ITEM_PREFIXES.get(item.get("type", "message"), "item")), **item}
        for item in items
    ]


def listed_item(item: Item) -> Item:
    """An input item as ``GET /v1/responses/{id}/input_items`` shows it: a message's text as
    content parts (``input_text``, or ``output_text`` for the assistant's), every item with its type and status."""
    kind = item.get("type", "message")
    shown = {"type": kind, "status": "completed", **item}
    if kind == "message" and isinstance(item.get("content"), str):
        part = "output_text" if item.get("role") == "assistant" else "input_text"
        shown["content"] = [{"type": part, "text": item["content"]}]
    return shown


def item_page(items: Sequence[Item], *, after: str | None, limit: int, order: str) -> dict[str, Any]:
    """A page of ``items`` as OpenAI lists them: ``order`` ``desc`` (newest first) or ``asc``,
    the ``limit`` items after the one whose id is ``after``.

    Raises:
        UsageError: ``after`` names no item of ``items``.
    """
    ordered = [listed_item(item) for item in (reversed(items) if order == "desc" else items)]
    if after is not None:
        ids = [item.get("id") for item in ordered]
        if after not in ids:
            raise UsageError(f"after: no input item {after!r} in this response")
        ordered = ordered[ids.index(after) + 1 :]
    page = ordered[:limit]
    return {
        "object": "list",
        "data": page,
        "first_id": page[0].get("id") if page else None,
        "last_id": page[-1].get("id") if page else None,
        "has_more": len(ordered) > limit,
    }


def chat_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """A Responses function tool (``{"type": "function", "name", "parameters", ...}``) as a chat tool.

    Raises:
        Unsupported: a tool that is not a function (web search, file search, ...).
    """
    if tool.get("type") != "function":
        raise Unsupported(f"tools of type {tool.get('type')!r} are not supported: Smol calls function tools")
    if "function" in tool:  # already the chat shape
        return tool
    if not isinstance(tool.get("name"), str):
        raise UsageError('a function tool is {"type": "function", "name": ..., "parameters": {...}}')
    keys = ("name", "description", "parameters", "strict")
    return {"type": "function", "function": {key: tool[key] for key in keys if key in tool}}


def chat_tool_choice(choice: str | dict[str, Any] | None) -> str | dict[str, Any] | None:
    """A Responses ``tool_choice`` (``{"type": "function", "name": ...}`` names one) as a chat one."""
    if isinstance(choice, dict) and choice.get("type") == "function" and "function" not in choice:
        return {"type": "function", "function": {"name": choice.get("name")}}
    return choice


def message_item(item_id: str, text: str | None) -> Item:
    """A Response's message item: still being written (``text`` None), or complete."""
    if text is None:
        return {"type": "message", "id": item_id, "role": "assistant", "status": "in_progress", "content": []}
    content = [{"type": "output_text", "text": text, "annotations": []}]
    return {"type": "message", "id": item_id, "role": "assistant", "status": "completed", "content": content}


def function_call_item(call: dict[str, Any]) -> Item:
    """A chat tool call (``id``, ``function``) as a Response's ``function_call`` item."""
    function = call["function"]
    return {
        "type": "function_call",
        "id": completion_id("fc"),
        "call_id": call["id"],
        "name": function["name"],
        "arguments": function["arguments"],
        "status": "completed",
    }


def output_items(text: str, tool_calls: list[dict[str, Any]]) -> list[Item]:
    """A chat answer as a Response's output: a ``function_call`` item per tool call, else its
    text as a message. The text of an answer with calls is dropped: a small model's is the
    calls' own markup (``<tool_call>...``), which the items already say."""
    if tool_calls:
        return [function_call_item(call) for call in tool_calls]
    return [message_item(completion_id("msg"), text)]


@dataclass(frozen=True)
class Draft:
    """A Response being made: its id, when, and the request it echoes."""

    id: str
    request: ResponsesRequest
    created: int

    def body(self, output: list[Item] | None = None, tokens: tuple[int, int] | None = None) -> dict[str, Any]:
        """The Response: in progress (no ``output`` yet), or completed with its (input, output) ``tokens``."""
        request = self.request
        body: dict[str, Any] = {
            "id": self.id,
            "object": "response",
            "created_at": self.created,
            "model": request.model,
            "status": "in_progress" if output is None else "completed",
            "output": output or [],
            "error": None,
            "incomplete_details": None,
            "instructions": request.instructions,
            "metadata": request.metadata or {},
            "max_output_tokens": request.max_output_tokens,
            "parallel_tool_calls": request.parallel_tool_calls is not False,
            "previous_response_id": request.previous_response_id,
            "store": request.store,
            "temperature": request.temperature,
            "tool_choice": request.tool_choice or "auto",
            "tools": request.tools or [],
            "text": request.text or {"format": {"type": "text"}},
        }
        if tokens is not None:
            body["usage"] = {
                "input_tokens": tokens[0],
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": tokens[1],
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": sum(tokens),
            }
        return body


@dataclass
class Events:
    """A Response's stream events as its answer comes: each output item added, filled and
    done, every event numbered; ``output`` holds the items done. With tools offered the answer
    comes whole (its text, then its calls), and as in :func:`output_items` its text is sent
    only if no call follows."""

    draft: Draft
    output: list[Item] = field(default_factory=list)
    _numbers: itertools.count = field(default_factory=itertools.count)
    _message: str | None = None
    _text: str = ""
    _held: list[str] = field(default_factory=list)

    def event(self, kind: str, **data: Any) -> dict[str, Any]:
        return {"type": kind, "sequence_number": next(self._numbers), **data}

    def created(self) -> list[dict[str, Any]]:
        return [self.event("response.created", response=self.draft.body())]

    def text(self, delta: str) -> list[dict[str, Any]]:
        """A piece of the answer's text (the message item opens with the first)."""
        if self.draft.request.tools:
            self._held.append(delta)
            return []
        events = self._open_message()
        self._text += delta
        return events + [self.event("response.output_text.delta", **self._where, delta=delta, logprobs=[])]

    def tool_call(self, call: dict[str, Any]) -> list[dict[str, Any]]:
        """A whole tool call (chat shape) as a ``function_call`` item, its arguments in one delta."""
        self._held.clear()
        events = self._close_message()
        item = function_call_item(call)
        where = {"item_id": item["id"], "output_index": len(self.output)}
        opened = item | {"status": "in_progress", "arguments": ""}
        events += [
            self.event("response.output_item.added", output_index=where["output_index"], item=opened),
            self.event("response.function_call_arguments.delta", **where, delta=item["arguments"]),
            self.event("response.function_call_arguments.done", **where, name=item["name"], arguments=item["arguments"]),
            self.event("response.output_item.done", output_index=where["output_index"], item=item),
        ]
        self.output.append(item)
        return events

    def completed(self, tokens: tuple[int, int]) -> list[dict[str, Any]]:
        """The end: the message closed (an empty one if the answer had nothing), then the Response."""
        events = self._open_message() if not self.output else []
        for delta in self._held:
            events += [self.event("response.output_text.delta", **self._where, delta=delta, logprobs=[])]
            self._text += delta
        events += self._close_message()
        return events + [self.event("response.completed", response=self.draft.body(self.output, tokens))]

    @property
    def _where(self) -> dict[str, Any]:
        return {"item_id": self._message, "output_index": len(self.output), "content_index": 0}

    def _open_message(self) -> list[dict[str, Any]]:
        if self._message is not None:
            return []
        self._message, self._text = completion_id("msg"), ""
        part = {"type": "output_text", "text": "", "annotations": []}
        return [
            self.event("response.output_item.added", output_index=len(self.output), item=message_item(self._message, None)),
            self.event("response.content_part.added", **self._where, part=part),
        ]

    def _close_message(self) -> list[dict[str, Any]]:
        if self._message is None:
            return []
        text, where = self._text, self._where
        part = {"type": "output_text", "text": text, "annotations": []}
        item = message_item(self._message, text)
        events = [
            self.event("response.output_text.done", **where, text=text, logprobs=[]),
            self.event("response.content_part.done", **where, part=part),
            self.event("response.output_item.done", output_index=where["output_index"], item=item),
        ]
        self.output.append(item)
        self._message = None
        return events


__all__ = [
    "Draft",
    "Events",
    "Item",
    "ResponsesRequest",
    "chat_messages",
    "chat_response_format",
    "chat_tool",
    "chat_tool_choice",
    "item_page",
    "output_items",
    "with_ids",
]
