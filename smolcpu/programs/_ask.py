"""Asking Smol: a request, run by a program (the default one unless told), as one answer.

This is the Python face of ``smol ask`` and what an app that embeds Smol calls::

    import smolcpu
    answer = smolcpu.ask("Janet's ducks lay 16 eggs per day...")
    print(answer.text, answer.run_id, answer.seconds)
    result = smolcpu.run("my.smol", "input text")          # any program, any input

Each call starts an actor system and a Lifecycle (the model workers under the memory
budget) and stops them at the end; a :class:`Session` keeps them between requests (``smol
chat`` and servers use one), so the model loads once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import mimetypes
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from smolcpu import config
from smolcpu.artifact import BYTES, CALLER_ATTRIBUTE, Artifact, RunIndex
from smolcpu.errors import UsageError
from smolcpu.lang import Graph, Policy, compile_file, compile_source
from smolcpu.runtime import ActorSystem, RunLog, StoreProcess
from smolcpu.units import request_artifact, text_for_model
from smolcpu.vm import Chooser, Executor, Lifecycle, RunResult, StepEvent

log = logging.getLogger("smolcpu.programs")

PROGRAMS = Path(__file__).resolve().parent
"""Where the programs Smol ships live."""

DEFAULT_PROGRAM = PROGRAMS / "default.smol"
"""The program ``ask`` runs unless told another."""

Observer = Callable[[StepEvent], None]


@dataclass(frozen=True)
class Answer:
    """What Smol answered: the text, and how the run that made it went."""

    text: str
    run_id: str
    status: str
    seconds: float
    steps: int
    tokens: int
    path: tuple[str, ...] = ()
    output: Artifact | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        """The answer as ``smol ask --json`` prints it."""
        return {
            "answer": self.text,
            "run_id": self.run_id,
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "steps": self.steps,
            "tokens": self.tokens,
            "path": list(self.path),
        }


def load_program(program: str | Path | Graph | None = None) -> Graph:
    """The runnable graph of ``program``: a compiled graph, a file, program text, or (None)
    the default program.

    Raises:
        UsageError: the file cannot be read, or the program has errors (their diagnostics).
    """
    if isinstance(program, Graph):
        return program
    if program is None or isinstance(program, Path) or (isinstance(program, str) and "\n" not in program):
        path = Path(program or DEFAULT_PROGRAM).expanduser()
        if not path.is_file():
            raise UsageError(f"no program file {str(path)!r}")
        compilation = compile_file(path)
    else:
        compilation = compile_source(program)
    if not compilation.ok:
        raise UsageError("the program has errors:\n" + compilation.render(warnings=False))
    return compilation.runnable()


def examples_of(graph: Graph) -> dict[str, Any] | None:
    """The examples a program's small classifier learns its choices from: ``NAME.examples.json``
    beside ``NAME.smol`` (block id → option → example inputs), or None.

    Raises:
        UsageError: the file is there but is not such JSON.
    """
    path = Path(graph.path).with_suffix(".examples.json") if graph.path else None
    if path is None or not path.is_file():
        return None
    try:
        examples = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read the choice examples {str(path)!r}: {exc}") from exc
    if not isinstance(examples, dict) or not all(
        isinstance(options, dict) and all(isinstance(texts, list) for texts in options.values())
        for options in examples.values()
    ):
        raise UsageError(f"{str(path)!r} must map a block id to options, each with a list of example inputs")
    return examples


def image_attachment(image: str | Path | bytes) -> tuple[str, str, bytes]:
    """An image to attach to a request, as (name, MIME type, bytes).

    Raises:
        UsageError: the file cannot be read.
    """
    if isinstance(image, bytes):
        return "image", "application/octet-stream", image
    path = Path(image).expanduser()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read image {str(path)!r}: {exc.strerror or exc}") from exc
    return path.name, mimetypes.guess_type(path.name)[0] or "application/octet-stream", data


def answer_text(output: Artifact) -> str:
    """What a person is shown of a run's output."""
    if output.is_error:
        return output.error_message
    if output.type == BYTES:
        return f"<{len(output.payload)} bytes>"
    return text_for_model(output).strip()


class _Tally:
    """Counts what a run's steps spent while passing each event on."""

    def __init__(self, observer: Observer | None) -> None:
        self.observer = observer
        self.tokens = 0

    def __call__(self, event: StepEvent) -> None:
        if event.kind == "end" and event.output is not None:
            self.tokens += int(event.output.attr("completion_tokens") or 0)
        if self.observer is not None:
            self.observer(event)


class Session:
    """An actor system and a Lifecycle kept open between requests: ``async with Session() as s``.

    Args:
        model: the LLM every LLM step and the chooser use unless the program names one.
        record: store every step's input and output (``smol trace RUN_ID`` shows them).
        chooser, budget, step_timeout: as :class:`~smolcpu.vm.Executor` takes them.
        units: unit kind → a stand-in unit (``smolcpu.testing.ScriptedLLM`` for ``llm``).
        classifier: let a program's examples (:func:`examples_of`) train a small classifier
            that makes the choices it is sure of before the chooser is asked.
        distilled: consult the choosers ``smol dream`` distilled from earlier runs (picked up
            while the session runs, see :class:`~smolcpu.vm.DistilledChooser`).
    """

    def __init__(
        self,
        *,
        model: str | None = None,
        record: bool = True,
        chooser: Chooser | None = None,
        budget: int | None = None,
        step_timeout: float | None = None,
        units: Mapping[str, Any] | None = None,
        classifier: bool = True,
        distilled: bool = True,
    ) -> None:
        self.classifier = classifier
        self.options: dict[str, Any] = {
            "distilled": distilled,
            "units": units,
            "example_vectors": {},  # the choice examples' embeddings, made once per session
            "record": record,
            "chooser": chooser,
            "budget": budget,
            "step_timeout": step_timeout,
            "unit_params": {"llm": {"model": model}} if model else None,
        }
        self.record = record
        self.system: ActorSystem | None = None
        self.lifecycle: Lifecycle | None = None
        self.index: RunIndex | None = None
        self.store: StoreProcess | None = None
        self.run_log: RunLog | None = None
        """Where runs that are not a program's are recorded (a server's raw LLM requests)."""

    def __repr__(self) -> str:
        return f"<Session {'open' if self.lifecycle is not None else 'closed'}>"

    async def __aenter__(self) -> Session:
        if self.record:  # one recorder process for the session, not one per request
            self.index = RunIndex()
            for run_id in self.index.mark_interrupted():  # left running by a process that died
                log.warning("run %s was interrupted (its process died); `smol run --resume` goes on with it", run_id)
            self.store = StoreProcess(config.store_url(), index_path=self.index.path)
            self.run_log = RunLog(index=self.index, store=self.store)
            self.options |= {"store": self.store, "index": self.index}
        self.system = ActorSystem(record=False)
        await self.system.__aenter__()
        self.lifecycle = Lifecycle(self.system)
        await self.lifecycle.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self.lifecycle is not None:
                await self.lifecycle.__aexit__(exc_type, exc, tb)
        finally:
            self.lifecycle = None
            if self.system is not None:
                await self.system.__aexit__(exc_type, exc, tb)
            self.system = None
            if self.run_log is not None:
                await self.run_log.close()
            if self.store is not None:
                await asyncio.to_thread(self.store.close)
            if self.index is not None:
                self.index.close()
            self.store = self.index = self.run_log = None

    async def run(
        self,
        program: str | Path | Graph | None,
        given: Artifact | str,
        *,
        observer: Observer | None = None,
        tokens: bool = False,
        policy: Policy | None = None,
        caller: str = "",
    ) -> RunResult:
        """Run ``program`` (None: the default one) on ``given``; ``observer`` hears each step
        start and end, and with ``tokens`` each piece of an LLM step's answer as it comes;
        ``policy`` is a ceiling on what the run may spend (the tighter of it and the program's holds);
        ``caller`` (a server's API key id) is who the run is recorded for: only they may read it back."""
        if self.lifecycle is None:
            raise UsageError("the session is not open: use it inside `async with Session() as session`")
        if caller:
            given = Artifact.text(given) if isinstance(given, str) else given
            given = given.replace(attributes=(*given.attributes, (CALLER_ATTRIBUTE, caller)))
        graph = load_program(program)
        examples = examples_of(graph) if self.classifier else None
        async with Executor(
            graph,
            system=self.system,
            lifecycle=self.lifecycle,
            observer=observer,
            tokens=tokens,
            examples=examples,
            policy=policy,
            **self.options,
        ) as executor:
            return await executor.run(given)

    async def ask(
        self,
        question: str,
        *,
        images: Sequence[str | Path | bytes] = (),
        tools: Sequence[dict[str, Any]] = (),
        history: Sequence[Mapping[str, str]] = (),
        program: str | Path | Graph | None = None,
        observer: Observer | None = None,
        tokens: bool = False,
        policy: Policy | None = None,
        caller: str = "",
    ) -> Answer:
        """Ask ``question`` (with images to look at, functions the model may call, the chat
        so far); the program's answer. ``observer``, ``tokens``, ``policy`` and ``caller`` are
        as :meth:`run` takes them.

        Raises:
            UsageError: an empty question, an image that cannot be read, a program with errors.
        """
        if not question.strip() and not images:
            raise UsageError("ask needs a question")
        given = request_artifact(
            question,
            images=[image_attachment(image) for image in images],
            tools=list(tools),
            history=[dict(turn) for turn in history],
        )
        tally = _Tally(observer)
        began = time.monotonic()
        result = await self.run(program, given, observer=tally, tokens=tokens, policy=policy, caller=caller)
        return Answer(
            text=answer_text(result.output),
            run_id=result.run_id,
            status=result.status.value,
            seconds=time.monotonic() - began,
            steps=result.steps,
            tokens=tally.tokens,
            path=tuple(str(visit) for visit in result.path),
            output=result.output,
        )


async def ask_async(
    question: str,
    *,
    images: Sequence[str | Path | bytes] = (),
    tools: Sequence[dict[str, Any]] = (),
    program: str | Path | Graph | None = None,
    model: str | None = None,
    record: bool = True,
    observer: Observer | None = None,
) -> Answer:
    """Ask Smol ``question`` with the default program (or ``program``); see :meth:`Session.ask`."""
    async with Session(model=model, record=record) as session:
        return await session.ask(question, images=images, tools=tools, program=program, observer=observer)


def ask(
    question: str,
    *,
    images: Sequence[str | Path | bytes] = (),
    tools: Sequence[dict[str, Any]] = (),
    program: str | Path | Graph | None = None,
    model: str | None = None,
    record: bool = True,
    observer: Observer | None = None,
) -> Answer:
    """:func:`ask_async` for code that is not async (it runs its own event loop)."""
    return asyncio.run(
        ask_async(
            question, images=images, tools=tools, program=program, model=model, record=record, observer=observer
        )
    )


async def run_async(
    program: str | Path | Graph | None,
    given: Artifact | str,
    *,
    model: str | None = None,
    record: bool = True,
    policy: Policy | None = None,
) -> RunResult:
    """Run any program on ``given`` (text or an artifact), under ``policy`` if given (a
    ceiling over the program's own); how it ended and its output."""
    async with Session(model=model, record=record) as session:
        return await session.run(program, given, policy=policy)


def run(
    program: str | Path | Graph | None,
    given: Artifact | str,
    *,
    model: str | None = None,
    record: bool = True,
    policy: Policy | None = None,
) -> RunResult:
    """:func:`run_async` for code that is not async."""
    return asyncio.run(run_async(program, given, model=model, record=record, policy=policy))


__all__ = [
    "DEFAULT_PROGRAM",
    "PROGRAMS",
    "Answer",
    "Session",
    "answer_text",
    "ask",
    "ask_async",
    "examples_of",
    "image_attachment",
    "load_program",
    "run",
    "run_async",
]
