"""Tool units: a function with a declared interface, wrapped as a unit.

A tool declares ``name``, ``description``, ``inputs`` (argument name → JSON-schema-like
spec with ``type`` and ``description``) and ``output`` (MIME type), checked when the class
is created, and implements ``forward(**arguments)``. ``handle`` turns the incoming artifact
into arguments (a JSON object names them; plain text fills the one required input), calls
``forward``, and wraps the result in an artifact whose parent is the input. A
:class:`ToolFailed` or :class:`~smolcpu.errors.UsageError` comes back as an error artifact
whose message tells a person, or a model, what to try next. The reply carries the input's
``run`` attribute, so it stays in the same run.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, ClassVar, get_type_hints

from smolcpu.artifact import BYTES, JSON, TEXT, Artifact
from smolcpu.errors import SmolError, UsageError
from smolcpu.runtime._unit import Unit

_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", dict: "object", list: "array"}
_OUTPUTS = {TEXT, JSON, BYTES}


class ToolFailed(SmolError):
    """A tool could not do what was asked; the message says why and what to try instead.
    ``details`` (JSON-able) goes into the error artifact, e.g. the failed snippet's result."""

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.details = details

    def __reduce__(self) -> tuple[Any, ...]:
        return (_tool_failed, (str(self), self.details))


class Tool(Unit):
    """Base class of tool units: declare the interface, implement :meth:`forward`."""

    name: ClassVar[str]
    description: ClassVar[str]
    inputs: ClassVar[dict[str, dict[str, Any]]]
    output: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("_abstract", False):
            return
        for attribute in ("name", "description", "inputs", "output"):
            if not hasattr(cls, attribute):
                raise TypeError(f"tool {cls.__name__} must declare {attribute!r}")
        if not isinstance(cls.inputs, dict) or any(
            not isinstance(spec, dict) or "type" not in spec for spec in cls.inputs.values()
        ):
            raise TypeError(f"tool {cls.name}: inputs must map each argument to a dict with a 'type'")
        if cls.output not in _OUTPUTS:
            raise TypeError(f"tool {cls.name}: output must be one of {sorted(_OUTPUTS)}")

    async def setup(self) -> None:
        """Load what is heavy (models, indexes); called once from :meth:`init`."""

    async def init(self, ctx: Any) -> None:
        await self.setup()

    def forward(self, **arguments: Any) -> Any:
        """Do the tool's work; return text, JSON-able data, bytes or an Artifact."""
        raise NotImplementedError

    def invoke(self, artifact: Artifact, arguments: dict[str, Any]) -> Any:
        """Call :meth:`forward`; a tool that needs the input's header (its run) overrides this."""
        return self.forward(**arguments)

    def reads(self, artifact: Artifact) -> Any:
        """The one required input from an artifact that does not name the tool's inputs: its
        bytes, its JSON value, or its text. Tools that take what another unit writes override
        this with a conversion of :mod:`smolcpu.units._glue` (the sandbox takes the code in
        an LLM's reply)."""
        if artifact.type == BYTES:
            return artifact.payload
        return artifact.as_json() if artifact.type == JSON else artifact.as_text()

    def arguments(self, artifact: Artifact) -> dict[str, Any]:
        """The keyword arguments for :meth:`forward` that ``artifact`` carries."""
        required = [name for name, spec in self.inputs.items() if not spec.get("nullable")]
        if artifact.type == JSON:
            value = artifact.as_json()
            if isinstance(value, dict) and (set(value) <= set(self.inputs) or not required):
                return value
            if len(required) == 1:
                return {required[0]: self.reads(artifact)}
            raise UsageError(f"tool {self.name} takes a JSON object with {sorted(self.inputs)}")
        if len(required) == 1:
            return {required[0]: self.reads(artifact)}
        raise UsageError(
            f"tool {self.name} takes several inputs ({', '.join(self.inputs)}): send a JSON object"
        )

    async def handle(self, ctx: Any, sender: Any, artifact: Artifact) -> Artifact:
        meta: dict[str, Any] = {
            "origin": self.name,
            "role": "tool",
            "scope": artifact.scope,
            "parents": (artifact.id,),
        }
        carried = {key: artifact.attr(key) for key in CARRIED_ATTRIBUTES if artifact.attr(key) is not None}
        if carried:
            meta["attributes"] = carried
        try:
            result = self.invoke(artifact, self.arguments(artifact))
            if inspect.isawaitable(result):
                result = await result
        except (ToolFailed, UsageError) as exc:
            return Artifact.error(str(exc), kind=type(exc).__name__, details=getattr(exc, "details", None), **meta)
        except TypeError as exc:
            return Artifact.error(f"bad arguments for tool {self.name}: {exc}", kind="UsageError", **meta)
        return as_artifact(result, **meta)


CARRIED_ATTRIBUTES = ("run", "confidence")
"""What a tool's output keeps of its input's header: the run it belongs to, and how sure the
model that wrote the input was (an answer computed from a program is only as sure as the program)."""


def _tool_failed(message: str, details: dict[str, Any] | None) -> ToolFailed:
    return ToolFailed(message, details=details)


def as_artifact(result: Any, **meta: Any) -> Artifact:
    """Wrap a tool's result: text stays text, bytes stay bytes, anything else becomes JSON."""
    if isinstance(result, Artifact):
        return result
    if isinstance(result, str):
        return Artifact.text(result, **meta)
    if isinstance(result, bytes | bytearray):
        return Artifact.create(bytes(result), type=BYTES, **meta)
    try:
        return Artifact.json(result, **meta)
    except TypeError as exc:
        raise ToolFailed(f"tool returned {type(result).__name__}, which is not JSON: {exc}") from exc


def tool(function: Callable[..., Any]) -> type[Tool]:
    """Make a tool class from a typed function; its docstring's first line is the description.

    Each parameter becomes an input (its annotation gives the type); the return annotation
    picks the output (``str`` → text, ``bytes`` → bytes, anything else → JSON).
    """
    hints = get_type_hints(function)
    signature = inspect.signature(function)
    inputs = {}
    for parameter in signature.parameters.values():
        annotation = hints.get(parameter.name, str)
        spec: dict[str, Any] = {"type": _JSON_TYPES.get(annotation, "string")}
        if parameter.default is not inspect.Parameter.empty:
            spec["nullable"] = True
        inputs[parameter.name] = spec
    returns = hints.get("return", str)
    output = TEXT if returns is str else BYTES if returns is bytes else JSON
    doc = inspect.getdoc(function) or ""
    if not doc:
        raise TypeError(f"@tool {function.__name__} needs a docstring: it is the tool's description")

    def forward(self: Tool, **arguments: Any) -> Any:
        return function(**arguments)

    namespace = {
        "name": function.__name__,
        "description": doc.splitlines()[0],
        "inputs": inputs,
        "output": output,
        "forward": forward,
        "__doc__": doc,
        "__module__": function.__module__,
    }
    return type(f"{function.__name__.title().replace('_', '')}Tool", (Tool,), namespace)


__all__ = ["Tool", "ToolFailed", "as_artifact", "tool"]
