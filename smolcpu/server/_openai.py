"""The OpenAI API's shapes: requests checked with pydantic, answers and errors as OpenAI writes them.

A parameter Smol cannot honour is refused (:class:`~smolcpu.errors.Unsupported`, a 400 in
OpenAI's error shape) rather than dropped: an unknown field, ``top_p`` or penalties other
than their neutral values, a ``logit_bias``, token arrays as input.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from smolcpu.errors import Unsupported, UsageError

MAX_N = 8
"""Most choices one request may ask for (they are made one after another)."""


class OpenAIRequest(BaseModel):
    """A request body; fields it does not know are kept, to be refused by name."""

    model_config = ConfigDict(extra="allow")

    def refuse_unknown(self, *ignorable: str) -> None:
        """Refuse fields this endpoint does not know (``ignorable`` ones are harmless metadata)."""
        unknown = sorted(set(self.model_extra or {}) - set(ignorable))
        if unknown:
            raise Unsupported(f"Smol does not support {', '.join(unknown)} on this endpoint")


class ChatRequest(OpenAIRequest):
    model: str
    messages: list[dict[str, Any]] = Field(min_length=1)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    response_format: dict[str, Any] | None = None
    stop: str | list[str] | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    seed: int | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    logit_bias: dict[str, float] | None = None
    n: int = Field(default=1, ge=1)
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    user: str | None = None

    @field_validator("messages")
    @classmethod
    def _shaped(cls, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for number, message in enumerate(messages):
            problem = message_problem(message)
            if problem:
                raise ValueError(f"message {number}: {problem}")
        return messages

    def check(self) -> None:
        """Refuse what cannot be honoured, whatever the model.

        Raises:
            Unsupported: a parameter Smol cannot honour.
            UsageError: parameters that contradict each other.
        """
        self.refuse_unknown("metadata", "store", "service_tier")
        if self.top_p not in (None, 1, 1.0):
            raise Unsupported("top_p is not supported (sampling is by temperature only); leave it out or set 1")
        for name in ("frequency_penalty", "presence_penalty"):
            if getattr(self, name) not in (None, 0, 0.0):
                raise Unsupported(f"{name} is not supported; leave it out or set 0")
        if self.logit_bias:
            raise Unsupported("logit_bias is not supported")
        if self.n > MAX_N:
            raise Unsupported(f"n is at most {MAX_N} (choices are made one after another)")
        if self.top_logprobs is not None and not self.logprobs:
            raise UsageError("top_logprobs needs logprobs: true")
        if self.response_format is not None and self.response_format.get("type") not in ("text", "json_object", "json_schema"):
            raise Unsupported("response_format type is 'text', 'json_object' or 'json_schema'")
        if self.stop is not None and len(self.stop_list) > 4:
            raise UsageError("stop takes at most 4 sequences")

    @property
    def stop_list(self) -> list[str]:
        return [self.stop] if isinstance(self.stop, str) else list(self.stop or ())

    @property
    def token_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    @property
    def json_schema(self) -> dict[str, Any] | None:
        """The schema the answer must follow (``json_object``: any object), or None."""
        kind = (self.response_format or {}).get("type")
        if kind == "json_object":
            return {"type": "object"}
        if kind == "json_schema":
            spec = self.response_format.get("json_schema")
            if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
                raise UsageError("response_format json_schema needs json_schema.schema, a JSON schema object")
            return spec["schema"]
        return None

    @property
    def tool_choice_name(self) -> str:
        """``tool_choice`` as the LLM unit takes it: auto, required, none, or a tool's name."""
        choice = self.tool_choice
        if choice is None:
            return "auto" if self.tools else "none"
        if isinstance(choice, str):
            if choice not in ("auto", "none", "required"):
                raise UsageError("tool_choice is 'auto', 'none', 'required' or {'type': 'function', 'function': {'name': ...}}")
            return choice
        name = (choice.get("function") or {}).get("name")
        if choice.get("type") != "function" or not isinstance(name, str):
            raise UsageError("a named tool_choice is {'type': 'function', 'function': {'name': ...}}")
        return name


class EmbeddingRequest(OpenAIRequest):
    model: str
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = None
    user: str | None = None

    def texts(self) -> list[str]:
        """The texts to embed.

        Raises:
            Unsupported: token arrays, or ``dimensions`` (the vectors have one size).
        """
        self.refuse_unknown()
        if self.dimensions is not None:
            raise Unsupported("dimensions is not supported: the embedder's vectors have one size")
        texts = [self.input] if isinstance(self.input, str) else self.input
        if not texts or not all(isinstance(text, str) for text in texts):
            raise Unsupported("embeddings take text (a string or a list of strings), not token arrays")
        return list(texts)  # type: ignore[arg-type]


def message_problem(message: dict[str, Any]) -> str | None:
    """What is wrong with the shape of a chat message, or None: its role is text, its content
    is text, null, or a list of parts, each an object whose ``type`` is text, a text part's
    ``text`` is text and an image part's ``image_url`` is ``{"url": TEXT}``."""
    if not isinstance(message.get("role", "user"), str):
        return "role is a string"
    content = message.get("content")
    if content is None or isinstance(content, str):
        return None
    if not isinstance(content, list):
        return "content is a string, null, or a list of content parts"
    for part in content:
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            return 'each content part is an object with a "type"'
        if part["type"] == "text" and not isinstance(part.get("text"), str):
            return 'a text part is {"type": "text", "text": TEXT}'
        image = part.get("image_url")
        if part["type"] == "image_url" and not (isinstance(image, dict) and isinstance(image.get("url"), str)):
            return 'an image part is {"type": "image_url", "image_url": {"url": DATA_URL}}'
    return None


def message_text(content: Any) -> str:
    """The text of a chat message's content (a string, or the text of its parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if part.get("type") == "text")


def message_images(content: Any) -> list[bytes]:
    """The images of a chat message's content (``image_url`` parts with base64 data URLs).

    Raises:
        Unsupported: an image given by a web address (Smol fetches nothing).
        UsageError: data that is not base64.
    """
    if not isinstance(content, list):
        return []
    images = []
    for part in content:
        if part.get("type") != "image_url":
            if part.get("type") != "text":
                raise Unsupported(f"content parts of type {part.get('type')!r} are not supported")
            continue
        url = (part.get("image_url") or {}).get("url", "")
        if not url.startswith("data:"):
            raise Unsupported("images are taken as data URLs (data:image/png;base64,...); Smol fetches no web address")
        try:
            images.append(base64.b64decode(url.split(",", 1)[1], validate=True))
        except (IndexError, binascii.Error) as exc:
            raise UsageError("an image_url data URL whose data is not base64") from exc
    return images


def completion_id(prefix: str = "chatcmpl") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def openai_tool_calls(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Smol's tool calls (name, arguments) as OpenAI's (id, type, function with JSON arguments)."""
    return [
        {
            "id": f"call_{uuid.uuid4().hex[:24]}",
            "type": "function",
            "function": {"name": call["name"], "arguments": json.dumps(call.get("arguments", {}))},
        }
        for call in calls
    ]


def chat_completion(model: str, choices: list[dict[str, Any]], usage: dict[str, int], **extra: Any) -> dict[str, Any]:
    return {
        "id": completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": usage,
        **extra,
    }


def chunk(completion: str, model: str, created: int, choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """One ``chat.completion.chunk`` of a streamed answer."""
    return {
        "id": completion,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": choices,
        **extra,
    }


def usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def error_body(message: str, *, kind: str, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    """OpenAI's error shape."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


__all__ = [
    "MAX_N",
    "OpenAIRequest",
    "ChatRequest",
    "EmbeddingRequest",
    "chat_completion",
    "chunk",
    "completion_id",
    "error_body",
    "message_images",
    "message_problem",
    "message_text",
    "openai_tool_calls",
    "usage",
]
