"""Tool calls out of what small models really write, and the JSON repair that needs.

Small Qwen models seldom use ``<tool_call>`` tags: they write fenced ```json blocks,
bare objects in prose, Python-style single quotes, trailing commas, and stop before the
last brace. :func:`extract_tool_calls` looks for tagged calls first, then fenced blocks,
then bare objects, and :func:`repair_json` mends each candidate before it is parsed.
"""

from __future__ import annotations

import ast
import io
import json
import re
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from smolcpu.errors import UsageError

_TAGGED = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)
_FENCED = re.compile(r"```[a-zA-Z0-9_-]*[ \t]*\n?(.*?)(?:```|$)", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_PYTHON_NAMES = {"true": "True", "false": "False", "null": "None"}
_ARGUMENT_KEYS = ("arguments", "parameters", "args", "input", "tool_input")
_CLOSERS = {"{": "}", "[": "]"}


@dataclass(frozen=True)
class ToolCall:
    """One call a model asked for: the tool's name and its arguments."""

    name: str
    arguments: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "arguments": self.arguments}


def _scan(text: str) -> Iterator[tuple[int, str, str]]:
    """Each character with the quote open after it ("" when outside a string literal)."""
    quote, escaped = "", False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif quote and char == "\\":
            escaped = True
        elif char == quote:
            quote = ""
        elif not quote and char in "\"'":
            quote = char
        yield index, char, quote


def _balanced(text: str) -> str:
    """Close what ``text`` left open (a string, brackets) and drop closers with no opener."""
    stack: list[str] = []
    out: list[str] = []
    quote = ""
    for _, char, quote in _scan(text):
        if not quote and char in _CLOSERS:
            stack.append(_CLOSERS[char])
        elif not quote and char in "}]":
            if not stack or stack[-1] != char:
                continue
            stack.pop()
        out.append(char)
    return "".join(out) + quote + "".join(reversed(stack))


def _python_literal(text: str) -> Any:
    """Parse JSON written Python-style (single quotes, True/None or true/null)."""
    tokens = [
        (token.type, _PYTHON_NAMES.get(token.string, token.string) if token.type == tokenize.NAME else token.string)
        for token in tokenize.generate_tokens(io.StringIO(text).readline)
    ]
    return ast.literal_eval(tokenize.untokenize(tokens))


def repair_json(text: str) -> Any:
    """Parse ``text`` as JSON, mending trailing commas, single quotes, unbalanced brackets and
    doubled braces (``{{"name": ...}}``, as a template escapes them: Qwen2.5-Coder-1.5B writes
    tool calls so, and re-asking under a schema then changed their arguments).

    Raises:
        ValueError: nothing JSON-like could be recovered.
    """
    candidates = [text.strip()]
    candidates.append(_TRAILING_COMMA.sub(r"\1", _balanced(candidates[0])))
    if candidates[0].startswith("{{"):
        candidates.append(_TRAILING_COMMA.sub(r"\1", _balanced(candidates[0][1:])))
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except json.JSONDecodeError:
            pass
    try:
        return _python_literal(candidates[-1])
    except (ValueError, TypeError, SyntaxError, tokenize.TokenError, MemoryError, RecursionError) as exc:
        # TypeError: a Python literal that is no JSON value, e.g. {{"a": 1}} is a set of a dict
        raise ValueError(f"not JSON, even after repair: {text[:80]!r}") from exc


def _bare_objects(text: str) -> list[str]:
    """Each top-level ``{...}`` span in prose (the last may be cut off)."""
    spans = []
    start = text.find("{")
    while start != -1:
        end, depth = len(text), 0
        for index, char, quote in _scan(text[start:]):
            depth += 0 if quote else {"{": 1, "}": -1}.get(char, 0)
            if depth == 0:
                end = start + index + 1
                break
        spans.append(text[start:end])
        start = text.find("{", end)
    return spans


def _as_calls(value: Any) -> list[ToolCall]:
    """Tool calls in a parsed value: an object, a list of them, or OpenAI's ``function`` shape."""
    if isinstance(value, list):
        return [call for item in value for call in _as_calls(item)]
    if not isinstance(value, dict):
        return []
    if isinstance(value.get("function"), dict):
        return _as_calls(value["function"])
    name = value.get("name", value.get("tool"))
    if not isinstance(name, str) or not name:
        return []
    arguments = next((value[key] for key in _ARGUMENT_KEYS if key in value), {})
    if isinstance(arguments, str):
        try:
            arguments = repair_json(arguments)
        except ValueError:
            return []
    return [ToolCall(name, arguments)] if isinstance(arguments, dict) else []


def extract_tool_calls(text: str) -> list[ToolCall]:
    """The tool calls in a model's answer: tagged, fenced or bare JSON, repaired where needed."""
    for pattern in (_TAGGED, _FENCED):
        blocks = [match.group(1) for match in pattern.finditer(text) if match.group(1).strip()]
        calls = [call for block in blocks for call in _parsed_calls(block)]
        if calls:
            return calls
    return [call for span in _bare_objects(text) for call in _parsed_calls(span)]


def _parsed_calls(block: str) -> list[ToolCall]:
    try:
        return _as_calls(repair_json(block))
    except ValueError:
        return []


def tool_call_schema(tools: list[dict[str, Any]]) -> dict[str, Any]:
    """A JSON schema that admits exactly one call of one of ``tools`` (OpenAI tool specs).

    Used for the constrained re-ask when an answer held no call that could be recovered.
    """
    variants = []
    for spec in tools:
        function = spec.get("function", spec)
        parameters = function.get("parameters") or {"type": "object"}
        variants.append(
            {
                "type": "object",
                "properties": {"name": {"const": function["name"]}, "arguments": parameters},
                "required": ["name", "arguments"],
            }
        )
    return variants[0] if len(variants) == 1 else {"oneOf": variants}


def tool_calls_schema(tools: list[dict[str, Any]], *, parallel: bool = True) -> dict[str, Any]:
    """A JSON schema that admits a list of calls of ``tools``: at least one, and only one
    unless ``parallel`` (what a request that must call a tool is decoded under)."""
    schema: dict[str, Any] = {"type": "array", "items": tool_call_schema(tools), "minItems": 1}
    if not parallel:
        schema["maxItems"] = 1
    return schema


def tool_named(tools: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """The spec of the tool called ``name`` among ``tools``, alone in a list.

    Raises:
        UsageError: no tool has that name.
    """
    found = [spec for spec in tools if spec.get("function", spec).get("name") == name]
    if not found:
        offered = [spec.get("function", spec).get("name") for spec in tools]
        raise UsageError(f"tool_choice names {name!r}, which is none of the tools offered ({offered})")
    return found[:1]


__all__ = ["ToolCall", "extract_tool_calls", "repair_json", "tool_call_schema", "tool_calls_schema", "tool_named"]
