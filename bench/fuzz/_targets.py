"""Fuzz targets: each takes any bytes and raises only on a finding.

A target feeds the bytes to one decoder or parser of Smol. The error that decoder documents
for bad input (``FlowSyntaxError``, ``ArtifactError``, ``UsageError``) is the right answer and
is swallowed; any other exception, or a round trip that changes what was decoded, is a
finding. Both fuzzers drive the same targets: atheris (coverage-guided, ``bench/fuzz``) and
hypothesis (``tests/benchmarks/test_fuzz_targets.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from pathlib import Path

from pydantic import ValidationError

from smolcpu.artifact import Artifact, load_json
from smolcpu.errors import ArtifactError, FlowSyntaxError, UsageError
from smolcpu.lang import UnitCatalog, UnitInfo, compile_source, format_program, parse
from smolcpu.server._chat import llm_request
from smolcpu.server._openai import ChatRequest, message_images, message_text
from smolcpu.server._responses import ResponsesRequest
from smolcpu.units.tools import evaluate
from smolcpu.units.tools._memory_links import parse_note

CATALOG = UnitCatalog([UnitInfo("math", deterministic=True, parameters=("registers",))])

ROOT = Path(__file__).resolve().parents[2]


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def flow(data: bytes) -> None:
    """The flow language front end: parse, validate, compile, optimise, print; a program that
    parses prints to text that parses back to the same program."""
    source = _text(data)
    try:
        program = parse(source)
    except FlowSyntaxError:
        return
    formatted = format_program(program)
    if parse(formatted) != program:
        raise AssertionError(f"formatting changed the program: {source!r} -> {formatted!r}")
    compilation = compile_source(source, catalog=CATALOG)
    compilation.render()
    (compilation.optimised if compilation.ok else compilation.graph).to_json()


def capnp(data: bytes) -> None:
    """An artifact from Cap'n Proto bytes (the frames between the runtime and its workers, the
    store's files): decoded, it encodes to bytes that decode to the same artifact."""
    _round_trip(data, Artifact.from_bytes, Artifact.to_bytes)


def artifact_json(data: bytes) -> None:
    """An artifact from its JSON form (the API, ``smol keys verify FILE``): the same round trip."""
    _round_trip(data, Artifact.from_json, Artifact.to_json)


def _round_trip(data: bytes, decode: Callable[[Any], Artifact], encode: Callable[[Artifact], Any]) -> None:
    try:
        artifact = decode(data)
    except ArtifactError:
        return
    if decode(encode(artifact)) != artifact:
        raise AssertionError(f"a decoded artifact does not survive {encode.__name__}: {artifact!r}")
    _payload(artifact)


def _payload(artifact: Artifact) -> None:
    for read in (artifact.as_text, artifact.as_json, lambda: artifact.error_message):
        try:
            read()
        except ArtifactError:
            pass


def chat_request(data: bytes) -> None:
    """A chat or Responses request body as the server reads it: validated by its pydantic
    model, checked, and turned into the LLM unit's request and a program's input; only a 4xx
    error (a validation error, ``UsageError``, ``Unsupported``) may come of it."""
    try:
        body = load_json(data)
    except ArtifactError:
        return
    if not isinstance(body, dict):
        return
    try:
        request = ChatRequest(**body) if "messages" in body else ResponsesRequest(**body).chat()
        request.check()
        llm_request(request, seed=request.seed, stream=request.stream)
        for message in request.messages:
            message_text(message.get("content"))
            message_images(message.get("content"))
        request.json_schema, request.tool_choice_name  # noqa: B018 (they raise on bad shapes)
    except (ValidationError, UsageError):
        return


def note(data: bytes) -> None:
    """A memory vault note (front matter, links, tags, headings): any text parses."""
    parse_note(_text(data))


def math(data: bytes) -> None:
    """The math tool's expressions: a value or a UsageError, within its deadline."""
    try:
        evaluate(_text(data)[:2000])
    except UsageError:
        pass


TARGETS: dict[str, Callable[[bytes], None]] = {
    "flow": flow,
    "capnp": capnp,
    "artifact_json": artifact_json,
    "chat_request": chat_request,
    "note": note,
    "math": math,
}
"""Every target by name."""


def seeds(name: str) -> list[bytes]:
    """Inputs a target starts from: the language corpus, the shipped programs, encoded
    artifacts, notes and expressions that exercise each branch once."""
    text = Artifact.json({"a": [1, "é"]}, origin="seed", attributes={"k": "v"}, parents=[])
    if name == "flow":
        files = [*sorted((ROOT / "tests" / "lang" / "corpus").glob("*.smol")), *sorted((ROOT / "examples").glob("*.smol"))]
        return [path.read_bytes() for path in files]
    if name == "capnp":
        return [text.to_bytes(), Artifact.text("hi").to_bytes(), Artifact.error("no", kind="io").to_bytes()]
    if name == "artifact_json":
        return [text.to_json().encode(), Artifact.error("no", kind="io").to_json().encode()]
    if name == "chat_request":
        return [
            b'{"model": "smollm2", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user",'
            b' "content": [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": "data:,x"}}]}],'
            b' "tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "auto", "stop": ["x"],'
            b' "response_format": {"type": "json_schema", "json_schema": {"schema": {"type": "object"}}}, "n": 2}',
            b'{"model": "smol", "input": [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}],'
            b' "instructions": "Be brief.", "max_output_tokens": 5}',
        ]
    if name == "note":
        return [
            b"---\ntags: [a, b]\nalias: x\n---\n# Title\nSee [[Other#Part|shown]] and [md](Other.md) #tag\n```\n[[not]]\n```\n^block\n",
            b"`a` ``b`` [[x]] ![[img.png]] #t/sub",
        ]
    return [b"2 + 2", b"sqrt(2) * 10 ** 3 // 7", b"1/3 + 2/3", b"$x + 1", b"max(1, 2.5, -3) % 2"]


__all__ = ["TARGETS", "seeds"]
