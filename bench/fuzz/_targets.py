"""Fuzz targets: each takes any bytes and raises only on a finding.

A target feeds the bytes to one decoder or parser of Smol. The error that decoder documents
for bad input (``FlowSyntaxError``, ``ArtifactError``, ``UsageError``) is the right answer and
is swallowed; any other exception, or a round trip that changes what was decoded, is a
finding. Both fuzzers drive the same targets: atheris (coverage-guided, ``bench/fuzz``) and
hypothesis (``tests/benchmarks/test_fuzz_targets.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from smolcpu.artifact import Artifact
from smolcpu.errors import ArtifactError, FlowSyntaxError, UsageError
from smolcpu.lang import UnitCatalog, UnitInfo, compile_source, format_program, parse
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
    try:
        artifact = Artifact.from_bytes(data)
    except ArtifactError:
        return
    if Artifact.from_bytes(artifact.to_bytes()) != artifact:
        raise AssertionError("a decoded artifact does not survive encoding again")
    _payload(artifact)


def artifact_json(data: bytes) -> None:
    """An artifact from its JSON form (the API, ``smol keys verify FILE``): the same round trip."""
    try:
        artifact = Artifact.from_json(data)
    except ArtifactError:
        return
    if Artifact.from_json(artifact.to_json()) != artifact:
        raise AssertionError("a decoded artifact does not survive its JSON form")
    _payload(artifact)


def _payload(artifact: Artifact) -> None:
    for read in (artifact.as_text, artifact.as_json, lambda: artifact.error_message):
        try:
            read()
        except ArtifactError:
            pass


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
    if name == "note":
        return [
            b"---\ntags: [a, b]\nalias: x\n---\n# Title\nSee [[Other#Part|shown]] and [md](Other.md) #tag\n```\n[[not]]\n```\n^block\n",
            b"`a` ``b`` [[x]] ![[img.png]] #t/sub",
        ]
    return [b"2 + 2", b"sqrt(2) * 10 ** 3 // 7", b"1/3 + 2/3", b"$x + 1", b"max(1, 2.5, -3) % 2"]


__all__ = ["TARGETS", "seeds"]
