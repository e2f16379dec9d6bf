"""The InstructionExecutor: runs a compiled flow graph on the runtime, by every rule of LANGUAGE.md.

One :class:`Executor` holds a graph, the units its workers run on (spawned on first use),
a chooser and the recording; each :meth:`Executor.start` is one run, an :class:`Execution`
owned by the executor's TaskGroup (a ``join``'s branches by a TaskGroup of their own), so
cancelling a run stops every step it has running.

How control moves: a container (the main chain, a ``switch``) runs its children in order;
a step's chosen outcome names where control goes next (the compiler resolved every
outcome to a node to enter or a block to leave). Going anywhere that is not a sibling is a
jump: it unwinds, as ``_Jump``, to the nearest container that holds the target, which goes
on from there. A ``select`` asks the chooser; a ``match`` takes the first case whose
pattern holds (built-in conditions, the ``outcome``/``status``/``label`` attributes, MIME
types) and asks the chooser among plain words no rule decides; a ``join`` runs its
branches concurrently and fans their outputs into one JSON list. ``cancel``, an
unrecoverable failure and the step budget end the run as ``_Stop``.

A step's outcome: the one its output names in its ``outcome`` attribute, exactly as
written in the program (``back`` does not name ``back * 2``), else the first listed. A
failure (the unit raised or replied with an error artifact, the named outcome is not
listed, a reference has no output yet) takes the alternative after the first; with none,
the run ends ``error``. ``timeout`` is no ordinary alternative: "the first" and "the next"
skip it, and a worker cannot name it; overrunning the step's deadline takes it if listed
(the block ends with a timeout-status artifact), else counts as a failure. Steps whose
unit kind says it is deterministic are memoised by input checksum for the executor's life.
A step re-entered by ``back`` gets the later step's output; an LLM step is also shown its
first input and its previous answer (:class:`~smolcpu.vm._workers.Conversation`), and every
LLM step sees the run's input as the task.

The step budget counts everything the executor does, not only steps run: a consumed step
skipped, a match case taken, a choice, a jump, a refused block entry (:meth:`Execution.spend`),
so a program that loops without running a step still ends, ``budget``. Such a loop also
yields to the event loop every ``PACE`` actions, so deadlines and cancels still get in.

Parallel groups: the optimiser marks runs of steps in a ``switch`` whose outcomes are only
``continue`` (or ``cancel``) and whose units declare themselves free of side effects
(deterministic) as a group. Such steps all receive the same input and pass it on
unchanged, so the executor starts them at once and goes on when the last has finished; no
program can tell this from running them one after another. The step after the group runs
after it. Each step keeps its deadline, recording and count against the step budget (a
group that may overrun the budget runs sequentially); when steps end the run (``cancel``,
or a failure with no alternative), the first in program order decides, as it would have
run first, and the later ones are cancelled; the run's path lists the group's steps in
program order.

A ``select`` whose steps are all consumed ends with the output of the last step that ran
in it (its input if none did).

Every step's input and output is recorded under the run id (attribute ``run``) with the
node id as ``node`` and as the output's ``origin``, so ``smol trace RUN_ID`` names each step.
Every decision at a ``select`` or a word ``match`` (and a rule's, at a match that has words)
is recorded as a ``choice`` artifact: the options, the input, the option taken and who took
it (``smol dream`` learns from them).

A run started with a :class:`~smolcpu.vm._replay.Replay` resumes the run it was read from: a
step's output and a decision are taken from what that run recorded while there is one (by
``replay``, not the unit or the chooser), so the same path is taken up to where it stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import fnmatch
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from smolcpu import config
from smolcpu.artifact import BYTES, CALLER_ATTRIBUTE, ERROR, JSON, Artifact, RunIndex
from smolcpu.errors import ArtifactError, PolicyLimit, RequestTimeout, SmolError, UsageError
from smolcpu.lang import DEFAULT_UNIT, Block, Case, Chain, Graph, Node, Outcome, Policy, Step
from smolcpu.runtime import ActorSystem, Recorder, Store, StoreProcess, UnitRef
from smolcpu.units import text_for_model
from smolcpu.vm._chooser import Choice, Chooser, Decision, LlmChooser, NearestChooser
from smolcpu.vm._distilled import DistilledChooser
from smolcpu.vm._lifecycle import Lifecycle
from smolcpu.vm._policing import Meter, forced_params, refused_units
from smolcpu.vm._replay import Replay
from smolcpu.vm._result import RunResult, Status, StepEvent, Visit
from smolcpu.vm._workers import Conversation, Route, UnitSource, Workers

BUILTIN_PATTERNS = ("done", "success", "error", "timeout", "empty")
"""Match patterns that are conditions, not words (LANGUAGE.md §4)."""

ROUTING_ATTRIBUTES = ("outcome", "status", "label")
"""Attributes of the input a match pattern may equal."""

CONCURRENT_OUTCOMES = frozenset({"continue", "cancel"})
"""The outcome kinds of steps that may run together in a parallel group."""

PACE = 64
"""Budget spent between two yields to the event loop, even when no step awaited anything."""

CHOICE_INPUT_CHARS = 2000
"""How much of a decision's input its ``choice`` artifact keeps (what a chooser is shown)."""


@dataclass(slots=True)
class _Move:
    """Where control goes after a node: enter ``target``, leave block ``exit``, or (neither) on."""

    artifact: Artifact
    target: str | None = None
    exit: str | None = None
    jump: bool = False


class _Jump(Exception):
    """Control leaving for a node that is not a sibling; caught by the container holding it."""

    def __init__(self, target: str, artifact: Artifact) -> None:
        super().__init__(target)
        self.target = target
        self.artifact = artifact


class _Stop(Exception):
    """The run ends now: cancelled, failed beyond its alternatives, or out of budget."""

    def __init__(self, status: Status, reason: str, artifact: Artifact | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.artifact = artifact


class ExecutorState(enum.Enum):
    NEW = "new"
    OPEN = "open"
    CLOSED = "closed"


class Executor:
    """Runs one compiled program, as many times as asked: ``async with Executor(graph) as ex``.

    Args:
        graph: the program (``compile_file(path).runnable()``).
        system: the actor system to spawn units in; by default one of its own (not recording:
            the executor records what a run means, step by step).
        workers: worker name → unit (or unit factory) that replaces its binding (scripted
            workers in tests).
        chooser: decides selects and word matches; by default the LLM.
        lifecycle: runs the neural units (under the memory budget); else they are spawned here.
        record: put every step's input and output into ``store`` under the run id.
        store: where to record (default: the artifact store of the config, written by a
            process of its own so that storing does not slow the steps).
        index: where runs are started and finished when ``store`` is given (by default the
            store's own ``index``, if it has one).
        step_timeout: the deadline of a step (default ``config.STEP_TIMEOUT_S``);
            ``step_timeouts`` overrides it by worker name or node id.
        budget: what one run may spend in all (default ``config.STEP_BUDGET``): steps run or
            skipped, match cases, choices, jumps and refused block entries each count one.
        unit_params: default parameters per unit kind, under those a binding gives
            (``{"llm": {"model": "smollm2"}}``: every LLM step and the chooser on that model).
        examples: block id → option → example inputs: a small classifier
            (:class:`NearestChooser`) decides those blocks' choices when it is sure, before
            the chooser; ``example_vectors`` caches their embeddings (keep one dict for
            many executors and the examples are embedded once).
        units: unit kind → a unit (or factory) that stands in for every unit of that kind,
            asked as that kind is (a scripted LLM in tests).
        observer: called with a :class:`StepEvent` as each step starts and ends and each
            choice is made (progress displays and traces); it must not block.
        tokens: the observer also hears each piece of an LLM step's text as it is decoded
            (``token`` events; the LLM is asked to stream).
        distilled: consult the choosers ``smol dream`` distilled for this program (the
            pointer file, :func:`~smolcpu.vm._distilled.pointer_path`) before the chooser.
        policy: a ceiling on what each run may spend and touch (a server key's, ``--policy``);
            a run gets the program's own ``policy`` lines under it (:meth:`Policy.under`), and
            one that goes past a limit ends ``limit`` (see :mod:`smolcpu.vm._policing`).
    """

    def __init__(
        self,
        graph: Graph,
        *,
        system: ActorSystem | None = None,
        workers: Mapping[str, UnitSource] | None = None,
        chooser: Chooser | None = None,
        lifecycle: Lifecycle | None = None,
        record: bool = True,
        store: Store | None = None,
        index: RunIndex | None = None,
        step_timeout: float | None = None,
        step_timeouts: Mapping[str, float] | None = None,
        budget: int | None = None,
        unit_params: Mapping[str, Mapping[str, Any]] | None = None,
        units: Mapping[str, UnitSource] | None = None,
        examples: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
        example_vectors: dict[tuple[str, ...], Any] | None = None,
        observer: Callable[[StepEvent], None] | None = None,
        tokens: bool = False,
        distilled: bool = False,
        policy: Policy | None = None,
    ) -> None:
        self.graph = graph
        self.policy = (graph.policy or Policy()).under(policy)
        self.tokens = tokens and observer is not None
        self.distilled = distilled
        self.unit_params = unit_params
        self.units = units
        self.examples = examples
        self.example_vectors = example_vectors
        self.observer = observer
        self.state = ExecutorState.NEW
        self.record = record
        self.step_timeout = config.STEP_TIMEOUT_S if step_timeout is None else step_timeout
        self.step_timeouts = dict(step_timeouts or {})
        self.budget = config.STEP_BUDGET if budget is None else budget
        self.memo: dict[tuple[str, str, bytes], Artifact] = {}
        self.executions: set[Execution] = set()  # the runs going on
        self.inside = _subtrees(graph)
        self.place = {child: i for node in graph.nodes for i, child in enumerate(graph.children(node))}
        self._system = system
        self._own_system: ActorSystem | None = None
        self._overrides = workers
        self._chooser = chooser
        self._lifecycle = lifecycle
        self._store = store
        self._index: RunIndex | None = None
        self._run_index = index
        self._own_index: RunIndex | None = None
        self._tasks = asyncio.TaskGroup()
        self.workers: Workers | None = None
        self.chooser: Chooser | None = None
        self.recorder: Recorder | None = None

    def __repr__(self) -> str:
        return f"<Executor {self.graph.path} {self.state.value}>"

    async def __aenter__(self) -> Executor:
        if self.state is not ExecutorState.NEW:
            raise UsageError(f"this Executor is {self.state.value}; make a new one to run again")
        await self._tasks.__aenter__()
        if self._system is None:
            self._system = self._own_system = ActorSystem(record=False)
            await self._own_system.__aenter__()
        self.workers = Workers(
            self._system,
            overrides=self._overrides,
            lifecycle=self._lifecycle,
            defaults=self.unit_params,
            units=self.units,
            forced=forced_params(self.policy),
            policy=self.policy,
        )
        chooser = self._chooser or LlmChooser(self.workers.ask_llm, timeout=self.step_timeout)
        if self.distilled:
            chooser = DistilledChooser(self.workers.embed, chooser, program=self.graph.path)
        self.chooser = (
            NearestChooser(self.workers.embed, self.examples, chooser, vectors=self.example_vectors)
            if self.examples
            else chooser
        )
        if self.record:
            if self._store is None:  # the default store is written by a process of its own (see Recorder)
                self._index = self._own_index = RunIndex()
                store = StoreProcess(config.store_url(), index_path=self._own_index.path)
                self.recorder = Recorder(store, close_store=True)
            else:
                self._index = self._run_index if self._run_index is not None else getattr(self._store, "index", None)
                self.recorder = Recorder(self._store)
        self.state = ExecutorState.OPEN
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, traceback: Any) -> None:
        if exc_type is not None:
            for execution in self.executions:
                execution.cancel(f"the executor closed on {exc_type.__name__}")
        try:
            await self._tasks.__aexit__(None, None, None)
        finally:
            self.state = ExecutorState.CLOSED
            if self.workers is not None:
                await self.workers.close()
            if self.recorder is not None:
                await self.recorder.close()
            if self._own_system is not None:
                await self._own_system.__aexit__(None, None, None)
            if self._own_index is not None:
                self._own_index.close()

    def start(self, given: Artifact | str, *, run_id: str | None = None, replay: Replay | None = None) -> Execution:
        """Begin a run on ``given`` (text or an artifact); returns at once.

        With ``replay``, the run resumes the one it was read from: steps and decisions that
        run recorded are taken from it, not done again (see :class:`Replay`).
        """
        if self.state is not ExecutorState.OPEN:
            raise UsageError(f"the executor is {self.state.value}; use it inside `async with`")
        execution = Execution(self, run_id or f"run-{uuid.uuid4().hex[:12]}", given, replay)
        execution.task = self._tasks.create_task(execution.drive(), name=f"run:{execution.run_id}")
        self.executions.add(execution)
        execution.task.add_done_callback(lambda _: self.executions.discard(execution))
        return execution

    async def run(self, given: Artifact | str, *, run_id: str | None = None, replay: Replay | None = None) -> RunResult:
        """Run the program on ``given`` to its end (resuming ``replay``'s run, if given)."""
        return await self.start(given, run_id=run_id, replay=replay).result()

    def timeout_of(self, step: Step) -> float:
        return self.step_timeouts.get(step.id, self.step_timeouts.get(step.worker, self.step_timeout))

    def notify(self, event: StepEvent) -> None:
        if self.observer is not None:
            self.observer(event)

    def keep(self, artifact: Artifact) -> None:
        if self.recorder is not None:
            self.recorder.record(artifact)

    @property
    def index(self) -> RunIndex | None:
        """Where runs are started and finished (None when not recording, or a store without one)."""
        return self._index


class Execution:
    """One run of a program: its state, path and the latest output of each node."""

    def __init__(self, executor: Executor, run_id: str, given: Artifact | str, replay: Replay | None = None) -> None:
        self.executor = executor
        self.replay = replay
        self.graph = executor.graph
        self.run_id = run_id
        self.given = Artifact.text(given) if isinstance(given, str) else given
        self.task: asyncio.Task[RunResult] | None = None
        self.path: list[Visit] = []
        self.steps = 0  # what the run has spent of its budget (see spend)
        self.paced = 0  # self.steps when the run last let the event loop run others
        self.runs: Counter[str] = Counter()
        self.entries: Counter[str] = Counter()
        self.latest: dict[str, Artifact] = {}
        self.task_input: Artifact | None = None  # the run's input as its first step sees it
        self.first_inputs: dict[str, Artifact] = {}  # what each step was given, not counting returns by back
        self.returned: dict[str, str] = {}  # step → the later step whose `back` re-enters it
        self.began: dict[str, float] = {}  # step → when its unit was asked (for the observer)
        self.started = False
        self.abandoned = False  # a step was cancelled while its unit was working on it
        self.cancel_reason: str | None = None
        self.limit_reason: str | None = None  # the policy's limit the run went past, while a step ran
        self.meter: Meter | None = None

    def __repr__(self) -> str:
        state = "done" if self.task is not None and self.task.done() else "running"
        return f"<Execution {self.run_id} {state} steps={self.steps}>"

    def cancel(self, reason: str = "cancelled by the caller") -> None:
        """Cancel the run: every running step is stopped; it ends ``cancelled`` with ``reason``."""
        if self.cancel_reason is not None or self.task is None or self.task.done():
            return
        self.cancel_reason = reason
        if self.started:
            self.task.cancel()

    async def result(self) -> RunResult:
        assert self.task is not None
        return await asyncio.shield(self.task)

    # ---- the run as a whole -----------------------------------------------------------

    def stamp(self, artifact: Artifact, node: str, **attributes: str) -> Artifact:
        """``artifact`` as this run keeps it: run id, node id (also as origin), extra attributes."""
        extra = {"run": self.run_id, "node": node, **attributes}
        kept = tuple((k, v) for k, v in artifact.attributes if k not in extra)
        stamped = _restamped(artifact, node, (*kept, *extra.items()))
        self.executor.keep(stamped)
        return stamped

    async def drive(self) -> RunResult:
        executor = self.executor
        index = executor.index
        if index is not None:
            summary = self.given.as_text()[:80] if self.given.type != BYTES else f"<{len(self.given.payload)} bytes>"
            caller = self.given.attr(CALLER_ATTRIBUTE) or ""
            index.start_run(self.run_id, program=self.graph.path, input_summary=summary, caller=caller)
        first = Artifact.create(
            self.given.payload,
            type=self.given.type,
            origin="in",
            role="input",
            attributes=self.given.attributes,
            parents=self.given.parents,
        )
        start = self.task_input = self.stamp(first, "in")
        meter = self.meter = Meter(executor.policy, pids=self.worker_pids)
        self.started = True
        try:
            async with asyncio.TaskGroup() as watching:
                watch = watching.create_task(self.watch(meter)) if _watched(executor.policy) else None
                try:
                    status, reason, output = await self.outcome(start)
                finally:
                    if watch is not None:
                        watch.cancel()
        except BaseException as exc:  # a bug, or the executor torn down: the index still says how it ended
            if index is not None:
                status_text = "cancelled" if isinstance(exc, asyncio.CancelledError) else "error"
                index.finish_run(self.run_id, status_text, usage=meter.usage())
            raise
        if output.attr("run") != self.run_id:
            output = self.stamp(output, "out")
        usage = meter.usage(reason if status is not Status.OK else "")
        if index is not None:  # before the clean-up: a second cancel during it must not leave the run "running"
            index.finish_run(self.run_id, status.value, usage=usage)
        if self.abandoned and executor.workers is not None:
            await executor.workers.close()  # stop what the cancelled steps left running in the units
        return RunResult(self.run_id, status, output, list(self.path), self.steps, reason, usage)

    def worker_pids(self) -> list[int]:
        """The model workers' processes, whose CPU counts against the run's policy."""
        lifecycle = self.executor.workers.lifecycle if self.executor.workers is not None else None
        return [worker.pid for worker in lifecycle.workers] if lifecycle is not None else []

    async def watch(self, meter: Meter) -> None:
        """Stop the run when it goes past its wall-time or CPU limit, even in the middle of a step."""
        while True:
            await asyncio.sleep(config.POLICY_SAMPLE_S)
            reason = meter.over(figures=("wall_s", "cpu_s"))
            if reason is not None and self.task is not None:
                self.limit_reason = reason
                self.task.cancel()
                return

    def police(self) -> None:
        """End the run when what its steps spent took it past a limit of its policy.

        Raises:
            _Stop: the run went past a limit; it ends ``limit``.
        """
        assert self.meter is not None
        reason = self.meter.over()
        if reason is not None:
            raise _Stop(Status.LIMIT, reason)

    async def outcome(self, start: Artifact) -> tuple[Status, str, Artifact]:
        """Run the main chain: how the run ended, why, and its output."""
        try:
            if self.cancel_reason is not None:
                raise _Stop(Status.CANCELLED, self.cancel_reason)
            refused = refused_units(self.graph, self.executor.policy)
            if refused is not None:
                raise _Stop(Status.LIMIT, refused)
            output = await self.container(self.graph[self.graph.root], start, None)
            return _status_of(output), output.error_message, output
        except _Stop as stop:
            return stop.status, stop.reason, stop.artifact or _ended(stop.status, stop.reason)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            why = self.limit_reason or self.cancel_reason
            if why is None or task is None or task.uncancel() > 0:
                raise
            if self.limit_reason is not None:
                return Status.LIMIT, self.limit_reason, _ended(Status.LIMIT, self.limit_reason)
            reason = f"cancelled: {self.cancel_reason}"
            return Status.CANCELLED, reason, _ended(Status.CANCELLED, reason)

    # ---- containers: the main chain, switch, select, match, join -------------------------

    async def container(self, node: Node, artifact: Artifact, start: str | None) -> Artifact:
        """Run a chain or switch: children in order, each outcome saying where to go."""
        children = self.graph.children(node.id)
        pos, sub = self.locate(node, start) if start else (0, None)
        while pos < len(children):
            try:
                group = self.group_at(children, pos) if sub is None else []
                if group:
                    move = await self.together(group, artifact)
                    pos += len(group) - 1  # control goes on from the group's last step
                else:
                    move = await self.visit(children[pos], artifact, sub)
                sub, artifact = None, move.artifact
                if move.exit == node.id:
                    return artifact
                if move.target is None:
                    pos += 1
                elif self.graph[move.target].parent == node.id:
                    pos = self.executor.place[move.target]
                else:
                    raise _Jump(move.target, artifact)
            except _Jump as jump:
                if jump.target not in self.executor.inside[node.id]:
                    raise
                artifact = jump.artifact
                if jump.target == node.id:
                    if not self.enter(node):
                        return artifact
                    pos, sub = 0, None
                else:
                    pos, sub = self.locate(node, jump.target)
        return artifact

    def locate(self, node: Node, target: str) -> tuple[int, str | None]:
        """The child of ``node`` that holds ``target``, and ``target`` if it lies deeper."""
        for pos, child in enumerate(self.graph.children(node.id)):
            if child == target:
                return pos, None
            if target in self.executor.inside[child]:
                return pos, target
        raise AssertionError(f"{target} is not inside {node.id}")

    def enter(self, node: Node) -> bool:
        """Count an entry into a block; False once its limit is spent (it is passed over)."""
        if not isinstance(node, Block):
            return True
        if node.limit is not None and self.entries[node.id] >= node.limit:
            self.spend(node.id)
            self.path.append(Visit(node.id, "skip"))
            return False
        self.entries[node.id] += 1
        return True

    def spend(self, where: str) -> None:
        """Count one thing the executor does against the run's step budget (LANGUAGE.md §3):
        a step run or skipped, a match case taken, a choice, a jump, a refused block entry.

        Raises:
            _Stop: the budget is spent; the run ends ``budget``.
        """
        budget = self.executor.budget
        if self.steps >= budget:
            raise _Stop(
                Status.BUDGET,
                f"BudgetError: the run used its whole step budget ({budget} steps) at {where};"
                " a back or jump may loop forever: check the program, or give a bigger budget (--budget)",
            )
        self.steps += 1

    def consumed(self, node_id: str) -> bool:
        node = self.graph[node_id]
        if isinstance(node, Step):
            return node.limit is not None and self.runs[node_id] >= node.limit
        if isinstance(node, Block):
            return node.limit is not None and self.entries[node_id] >= node.limit
        return False

    async def visit(self, node_id: str, artifact: Artifact, start: str | None) -> _Move:
        if self.steps - self.paced >= PACE:  # a loop that runs no step still lets timers and cancels in
            self.paced = self.steps
            await asyncio.sleep(0)
        node = self.graph[node_id]
        if isinstance(node, Step):
            return await self.step(node, artifact)
        if isinstance(node, Chain):
            output = await self.container(node, artifact, start)
            self.latest[node.id] = output
            return _Move(output)
        assert isinstance(node, Block), f"{node_id} is a {node.kind}, not a stage"
        if start == node_id:
            start = None
        if not self.enter(node):
            return _Move(artifact)
        move = await self.block(node, artifact, start)
        self.latest[node.id] = move.artifact
        return move

    async def block(self, node: Block, artifact: Artifact, start: str | None) -> _Move:
        if node.block == "switch":
            return _Move(await self.container(node, artifact, start))
        if node.block == "select":
            return _Move(await self.select(node, artifact, start))
        if node.block == "match":
            return await self.match(node, artifact)
        return _Move(await self.join(node, artifact, start))

    async def select(self, node: Block, artifact: Artifact, start: str | None) -> Artifact:
        """The chooser picks an unconsumed child, again and again, until one sends or leaves."""
        children = node.children
        names = {_option(node.id, child): child for child in children}
        pending = self.locate(node, start) if start else None
        last: Artifact | None = None  # the output of the last step that ran here
        while True:
            if pending is not None:
                (pos, sub), pending = pending, None
                child = children[pos]
            else:
                offered = tuple(name for name, child in names.items() if not self.consumed(child))
                if not offered:  # every step is consumed: the select passes on the last output
                    return artifact if last is None else last
                picked = await self.choose("select", node, offered, artifact)
                child, sub = names[picked], None
            before = self.latest.get(child)
            try:
                try:
                    move = await self.visit(child, artifact, sub)
                finally:
                    if self.latest.get(child) is not before:
                        last = self.latest[child]
                artifact = move.artifact
                if move.exit == node.id:
                    return artifact
                if move.target is None or (move.target == node.id and not move.jump):
                    continue
                raise _Jump(move.target, artifact)
            except _Jump as jump:
                if jump.target not in self.executor.inside[node.id]:
                    raise
                artifact = jump.artifact
                if jump.target == node.id:
                    if not self.enter(node):
                        return artifact
                else:
                    pending = self.locate(node, jump.target)

    async def match(self, node: Block, artifact: Artifact) -> _Move:
        """Route the input by the first case whose pattern holds."""
        case = await self.case(node, artifact)
        if case is None:
            raise _Stop(
                Status.ERROR,
                f"{node.id}: no case matches the input ({artifact.type}, status"
                f" {artifact.attr('status') or 'ok'}) and there is no `default`",
            )
        self.spend(case.id)
        return self.follow(case, case.outcomes[0], artifact, artifact)

    async def case(self, node: Block, artifact: Artifact) -> Case | None:
        cases = [self.graph[c] for c in node.children]
        words: list[Case] = []
        fallback = None
        for case in cases:
            assert isinstance(case, Case)
            held = self.holds(case.pattern, artifact, node)
            if held:
                if _chooses(cases):  # a rule took a decision the chooser could have been asked
                    patterns = tuple(c.pattern for c in cases if isinstance(c, Case))
                    self.remember("match", node, patterns, artifact, Decision(case.pattern, "rule"), 0.0)
                return case
            if case.pattern == "default":
                fallback = fallback or case
            elif held is None:
                words.append(case)
        if words:
            options = tuple(dict.fromkeys([c.pattern for c in words] + (["default"] if fallback else [])))
            picked = await self.choose("match", node, options, artifact)
            return next((c for c in words if c.pattern == picked), fallback)
        return fallback

    def holds(self, pattern: str, artifact: Artifact, node: Block) -> bool | None:
        """Whether ``pattern`` holds for ``artifact``: True, False, or None for a word no rule decides."""
        status = artifact.attr("status") or ("error" if artifact.is_error else "ok")
        if pattern == "done":
            return self.done(node)
        if pattern == "success":
            return status in ("ok", "success")
        if pattern in ("error", "timeout"):
            return status == pattern
        if pattern == "empty":
            return not artifact.payload.strip()
        if pattern == "default":
            return False
        if any(artifact.attr(key) == pattern for key in ROUTING_ATTRIBUTES):
            return True
        if "/" in pattern:
            return fnmatch.fnmatchcase(artifact.type, pattern)
        return None

    def done(self, node: Node) -> bool:
        """``done``: the nearest enclosing limited block is on its last allowed entry."""
        for block in [node, *self.graph.ancestors(node.id)]:
            if isinstance(block, Block) and block.limit is not None:
                return self.entries[block.id] >= block.limit
        return False

    async def join(self, node: Block, artifact: Artifact, start: str | None) -> Artifact:
        """Every branch at once on the same input; a jump or stop in one cancels the others."""
        results: list[Artifact | None] = [None] * len(node.children)

        async def branch(i: int, child: str) -> None:
            sub = start if start is not None and start in self.executor.inside[child] else None
            move = await self.visit(child, artifact, None if sub == child else sub)
            if move.target is not None:
                raise _Jump(move.target, move.artifact)
            results[i] = move.artifact

        try:
            async with asyncio.TaskGroup() as tasks:
                for i, child in enumerate(node.children):
                    tasks.create_task(branch(i, child), name=f"{self.run_id}:{child}")
        except BaseExceptionGroup as group:
            raise _control(group) from None
        outputs = [r for r in results if r is not None]
        statuses = {r.attr("status") or ("error" if r.is_error else "ok") for r in outputs}
        status = next((s for s in ("error", "timeout") if s in statuses), "ok")
        fanned = Artifact.json(
            [_value(r) for r in outputs],
            role="join",
            attributes={"status": status, "branches": ",".join(node.children)},
            parents=[r.id for r in outputs],
        )
        return self.stamp(fanned, node.id)

    async def choose(self, kind: str, node: Block, options: tuple[str, ...], artifact: Artifact) -> str:
        chooser = self.executor.chooser
        assert chooser is not None
        self.spend(node.id)
        history = tuple(str(v) for v in self.path)
        began = time.monotonic()
        recorded = self.replay.choice(node.id) if self.replay is not None else None
        try:
            if recorded is not None and recorded in options:
                decision = Decision(recorded, by="replay")
            else:
                decision = await chooser.decide(Choice(kind, node.id, options, artifact, self.run_id, history))
        except SmolError as exc:
            raise _Stop(Status.ERROR, f"{node.id}: the chooser failed: {exc}") from exc
        picked = decision.option
        if picked not in options:
            raise _Stop(Status.ERROR, f"{node.id}: the chooser answered {picked!r}, not one of {', '.join(options)}")
        self.remember(kind, node, options, artifact, decision, time.monotonic() - began)
        self.executor.notify(StepEvent("choose", self.run_id, node.id, outcome=picked, output=artifact))
        return picked

    def remember(
        self, kind: str, node: Block, options: tuple[str, ...], artifact: Artifact, decision: Decision, seconds: float
    ) -> None:
        """Record a decision as a ``choice`` artifact of the run: where, among what, on which
        input, which option and who decided (what ``smol dream`` learns choosers from)."""
        if self.executor.recorder is None:
            return
        record = {
            "kind": kind,
            "block": node.id,
            "options": list(options),
            "input": text_for_model(artifact)[:CHOICE_INPUT_CHARS],
            "option": decision.option,
            "by": decision.by,
            "seconds": round(seconds, 6),
        }
        if decision.version:
            record |= {"version": decision.version, "audit": decision.audit}
        self.stamp(Artifact.json(record, role="choice", parents=(artifact.id,)), node.id)

    # ---- parallel groups: continue-only steps that see the same input ------------------

    def group_at(self, children: list[str], pos: int) -> list[Step]:
        """The steps from ``pos`` on that run together: a run of at least two continue-only
        steps of one parallel group (see the module docstring), or none.

        A group that may not fit in what is left of the step budget runs one step at a
        time, so that the budget stops the run at exactly the step it would stop at anyway.
        """
        group: list[Step] = []
        for child in children[pos:]:
            node = self.graph[child]
            if not (isinstance(node, Step) and node.parallel and _continue_only(node)):
                break
            if group and node.parallel != group[0].parallel:
                break
            group.append(node)
        if len(group) < 2 or self.steps + len(group) > self.executor.budget:
            return []
        return group

    async def together(self, group: list[Step], artifact: Artifact) -> _Move:
        """Run ``group`` concurrently on the same input, with the meaning of running it in order.

        Each step is run, recorded and counted as it would be alone. When steps end the run
        (``cancel``, or a failure with no alternative), the first of them in program order
        decides how, as it would have run first; the steps after it are cancelled and left
        out of the path, which lists the group's visits in program order.
        """
        moves: list[_Move | None] = [None] * len(group)
        stops: dict[int, _Stop] = {}
        tasks: list[asyncio.Task[None]] = []
        order = {step.id: i for i, step in enumerate(group)}
        before = len(self.path)

        started: set[int] = set()

        async def one(i: int, step: Step) -> None:
            started.add(i)  # and step() spends its budget before it first awaits
            try:
                moves[i] = await self.step(step, artifact)
            except _Stop as stop:
                stops[i] = stop
                for later in tasks[i + 1 :]:
                    later.cancel()

        try:
            async with asyncio.TaskGroup() as running:
                tasks += [running.create_task(one(i, s), name=f"{self.run_id}:{s.id}") for i, s in enumerate(group)]
        except BaseExceptionGroup as failed:
            raise _control(failed) from None
        finally:
            end = min(stops, default=len(group))
            kept = [visit for visit in self.path[before:] if order.get(visit.node, end) <= end]
            self.path[before:] = sorted(kept, key=lambda visit: order.get(visit.node, end))
        if stops:
            self.steps -= len([i for i in started if i > end])  # run in order, they would not have run
            raise stops[end]
        last = moves[-1]
        assert last is not None
        return last

    # ---- steps ------------------------------------------------------------------------

    async def step(self, step: Step, artifact: Artifact) -> _Move:
        self.spend(step.id)
        if self.consumed(step.id):
            self.path.append(Visit(step.id, "skip"))
            return self.onward(step, artifact)
        self.runs[step.id] += 1
        source = artifact
        if step.bind_target is not None:
            bound = self.latest.get(step.bind_target)
            if bound is None:
                return self.fail(step, artifact, artifact, f"`{step.bind}` has no output yet in this run")
            source = bound
        back_from = self.returned.pop(step.id, None)
        if back_from is None:
            self.first_inputs[step.id] = source
        assert self.task_input is not None
        conversation = Conversation(
            self.task_input,
            self.first_inputs.get(step.id),
            self.latest.get(step.id) if back_from else None,
            back_from,
        )
        self.executor.notify(StepEvent("start", self.run_id, step.id, step.worker, _unit_of(step)))
        began = time.monotonic()
        output = await self.output(step, source, conversation)
        self.began[step.id] = began
        if output.attr("status") == "timeout":
            outcome = next((o for o in step.outcomes if o.kind == "timeout"), None)
            if outcome is None:
                return self.fail(step, artifact, output, output.error_message)
            return self.take(step, outcome, output, artifact)
        if output.is_error:
            return self.fail(step, artifact, output, output.error_message)
        named = output.attr("outcome")
        regular = _regular(step)
        if named:
            outcome = next((o for o in regular if o.written == named), None)
            if outcome is None:
                listed = ", ".join(o.written for o in regular)
                return self.fail(
                    step, artifact, output, f"named outcome {named!r}, which is not listed as written ({listed})"
                )
        elif regular:
            outcome = regular[0]
        else:
            return self.fail(step, artifact, output, "it lists no outcome but timeout")
        return self.take(step, outcome, output, artifact)

    async def output(self, step: Step, source: Artifact, conversation: Conversation) -> Artifact:
        """The step's output for ``source``: memoised, or from its unit within its deadline
        (an LLM step sees ``conversation``: the task, and its earlier turn after a ``back``)."""
        if self.replay is not None and (recorded := self.replay.output(step.id, source)) is not None:
            return recorded
        executor = self.executor
        workers = executor.workers
        assert workers is not None
        try:
            route = workers.route(step)
        except SmolError as exc:
            raise _cannot_start(step, exc) from exc
        key = (step.worker, source.type, source.checksum)
        if route.memo:
            cached = executor.memo.get(key)
            if cached is not None:
                return source.derive(cached.payload, type=cached.type, attributes={"memo": cached.id})
        deadline = executor.timeout_of(step)
        if route.managed:
            output = await self.held_call(step, route, source, deadline, conversation)
        else:
            try:
                ref = workers.refs.get(route.key) or await workers.ref(route)
            except SmolError as exc:
                raise _cannot_start(step, exc) from exc
            output = await self.call(step, route, ref, source, deadline, conversation)
        if output.id == source.id:  # the unit passed its input on: the step's output is still its own,
            # and names no outcome (the one its input carries was the step's that made it)
            output = source.derive(source.payload, attributes=tuple(a for a in source.attributes if a[0] != "outcome"))
        if route.memo and not output.is_error:
            executor.memo[key] = output
        return output

    async def held_call(
        self, step: Step, route: Route, source: Artifact, deadline: float, conversation: Conversation
    ) -> Artifact:
        """:meth:`call` with the unit held from the Lifecycle for the step (never evicted meanwhile)."""
        workers = self.executor.workers
        assert workers is not None and route.binding is not None
        async with contextlib.AsyncExitStack() as held:
            try:
                ref = await held.enter_async_context(workers.hold(route, route.binding))
            except SmolError as exc:
                raise _cannot_start(step, exc) from exc
            return await self.call(step, route, ref, source, deadline, conversation)

    async def call(
        self, step: Step, route: Route, ref: UnitRef, source: Artifact, deadline: float, conversation: Conversation
    ) -> Artifact:
        """The reply of ``step``'s unit within ``deadline``; failures come back as error artifacts."""
        executor = self.executor
        workers = executor.workers
        assert workers is not None
        try:
            if not route.converse:  # one request: its own deadline is the step's
                return await workers.call(step, route, ref, source, timeout=deadline)
            on_token = self.token_reporter(step) if executor.tokens else None
            async with asyncio.timeout(deadline):
                return await workers.call(
                    step, route, ref, source, timeout=deadline, conversation=conversation, on_token=on_token,
                    max_tokens=self.tokens_left(),
                )
        except (TimeoutError, RequestTimeout):
            return Artifact.error(
                f"{step.id} overran its deadline of {deadline:g}s",
                kind="timeout",
                attributes={"status": "timeout"},
                parents=(source.id,),
            )
        except SmolError as exc:
            return Artifact.error(f"{type(exc).__name__}: {exc}", kind=type(exc).__name__, parents=(source.id,))
        except asyncio.CancelledError:
            self.abandoned = True
            raise

    def tokens_left(self) -> int | None:
        """What an LLM step may write under the run's policy (at most the LLM's own cap), or None."""
        allowed = self.executor.policy.tokens
        if allowed is None or self.meter is None:
            return None
        return max(min(allowed - self.meter.tokens, config.LLM_MAX_TOKENS), 1)

    def token_reporter(self, step: Step) -> Callable[[Artifact], None]:
        """What tells the observer each piece of ``step``'s LLM answer as it is decoded."""
        unit = _unit_of(step)

        def report(piece: Artifact) -> None:
            self.executor.notify(StepEvent("token", self.run_id, step.id, step.worker, unit, output=piece))

        return report

    def take(self, step: Step, outcome: Outcome, output: Artifact, given: Artifact, *, failed: bool = False) -> _Move:
        """Follow ``outcome`` of ``step`` (recording its output and the path)."""
        output = self.stamp(output, step.id, outcome=outcome.written)
        self.latest[step.id] = output
        self.ended(step, outcome.written + "!" * failed, output)
        move = self.follow(step, outcome, output, given, failed=failed)
        self.police()
        return move

    def ended(self, step: Step, outcome: str, output: Artifact) -> None:
        """Tell the observer that ``step`` ended, taking ``outcome``; count what it spent."""
        seconds = time.monotonic() - self.began.pop(step.id, time.monotonic())
        self.executor.notify(StepEvent("end", self.run_id, step.id, step.worker, _unit_of(step), outcome, seconds, output))
        assert self.meter is not None
        self.meter.count(output)

    def fail(self, step: Step, given: Artifact, output: Artifact, why: str) -> _Move:
        """A failed step takes the alternative after its first outcome, or ends the run."""
        if not output.is_error and output.attr("status") != "timeout":
            output = Artifact.error(f"{step.id} failed: {why}", kind="StepFailed", parents=(output.id,))
        regular = _regular(step)
        if len(regular) < 2:
            output = self.stamp(output, step.id, outcome="failed")
            self.path.append(Visit(step.id, "failed", failed=True))
            self.ended(step, "failed", output)
            raise _Stop(Status.ERROR, f"{step.id} failed and has no alternative: {why}", output)
        return self.take(step, regular[1], output, given, failed=True)

    def follow(
        self, node: Step | Case, outcome: Outcome, output: Artifact, given: Artifact, *, failed: bool = False
    ) -> _Move:
        self.path.append(Visit(node.id, outcome.written, failed))
        if outcome.kind == "cancel":
            said = output.as_text().strip()[:300] if output.type.startswith("text/") else ""
            reason = output.error_message or f"{node.id} chose cancel" + (f": {said}" if said else "")
            raise _Stop(Status.CANCELLED, f"{node.id} cancelled the run: {reason}", output)
        if outcome.kind == "jump":
            self.spend(node.id)
        carried = given if outcome.kind == "continue" else output
        if outcome.kind == "back" and outcome.target is not None:
            self.returned[outcome.target] = node.id
        if outcome.target is None and outcome.exit is None:
            raise _Stop(Status.ERROR, f"{node.id}: outcome `{outcome.written}` leads nowhere (the program has errors)")
        return _Move(carried, outcome.target, outcome.exit, outcome.kind == "jump")

    def onward(self, step: Step, artifact: Artifact) -> _Move:
        """Where a consumed step passes its input: as ``continue``, to the step after it."""
        siblings = self.graph.children(step.parent or "")
        pos = self.executor.place[step.id]
        if pos + 1 < len(siblings):
            return _Move(artifact, target=siblings[pos + 1])
        return _Move(artifact, exit=step.parent)


def _regular(step: Step) -> list[Outcome]:
    """The outcomes a step may name or fall back on: all but ``timeout``, which is taken only
    when the step overruns its deadline (LANGUAGE.md §2)."""
    return [o for o in step.outcomes if o.kind != "timeout"]


def _unit_of(step: Step) -> str:
    """The unit kind a step runs on (an undeclared worker runs on the default neural worker)."""
    return step.binding.unit if step.binding is not None else DEFAULT_UNIT


def _chooses(cases: Sequence[Node]) -> bool:
    """Whether a match has word patterns, which a chooser decides when no rule does."""
    return any(
        isinstance(case, Case)
        and case.pattern not in (*BUILTIN_PATTERNS, "default")
        and "/" not in case.pattern
        for case in cases
    )


def _continue_only(step: Step) -> bool:
    """The step passes its input on (``continue``), or ends the run (``cancel``): nothing
    after it depends on its output, only on its side effects."""
    return bool(step.outcomes) and {o.kind for o in step.outcomes} <= CONCURRENT_OUTCOMES


def _ended(status: Status, reason: str) -> Artifact:
    """The output of a run that stopped without one: an error artifact whose status says how."""
    return Artifact.error(reason, kind=status.value, attributes={"status": status.value})


def _cannot_start(step: Step, exc: SmolError) -> _Stop:
    """A unit that cannot be made is no failure of the step to route around: the run ends
    (``limit`` when the policy refused it)."""
    if isinstance(exc, PolicyLimit):
        return _Stop(Status.LIMIT, f"{exc} (step {step.id})")
    return _Stop(Status.ERROR, f"{step.id}: cannot start worker `{step.worker}`: {exc}")


def _watched(policy: Policy) -> bool:
    """Whether a run under ``policy`` needs a watch task (a limit that can pass in mid-step)."""
    return policy.wall_s is not None or policy.cpu_s is not None


def _status_of(output: Artifact) -> Status:
    status = output.attr("status") or ("error" if output.is_error else "ok")
    return {"timeout": Status.TIMEOUT, "error": Status.ERROR, "cancelled": Status.CANCELLED}.get(status, Status.OK)


def _restamped(artifact: Artifact, origin: str, attributes: tuple[tuple[str, str], ...]) -> Artifact:
    """``artifact.replace(origin=..., attributes=...)`` without ``dataclasses.replace``'s
    introspection: this runs for every step, and the id and checksum stay as they are."""
    return Artifact(
        id=artifact.id,
        checksum=artifact.checksum,
        version=artifact.version,
        type=artifact.type,
        timestamp=artifact.timestamp,
        origin=origin,
        role=artifact.role,
        scope=artifact.scope,
        attributes=attributes,
        payload=artifact.payload,
        parents=artifact.parents,
        pubkey=artifact.pubkey,
        signature=artifact.signature,
    )


def _option(block: str, child: str) -> str:
    """How a select offers a child to the chooser: the worker name (``reason``, ``reason#2``)."""
    return child[len(block) + 1 :] if child.startswith(block + ".") else child


def _value(artifact: Artifact) -> Any:
    """A branch output inside a join's JSON list."""
    if artifact.type == ERROR:
        return {"error": artifact.error_message, "status": artifact.attr("status") or "error"}
    if artifact.type == JSON:
        try:
            return artifact.as_json()
        except ArtifactError:
            pass
    if artifact.type == BYTES:
        return {"bytes": len(artifact.payload), "id": artifact.id}
    return artifact.as_text()


def _control(group: BaseExceptionGroup) -> BaseException:
    """The exception a failed join passes on: a stop first, then a jump, else the group itself."""
    for kind in (_Stop, _Jump):
        found, _ = group.split(kind)
        if found is not None:
            first: BaseException = found
            while isinstance(first, BaseExceptionGroup):
                first = first.exceptions[0]
            return first
    return group


def _subtrees(graph: Graph) -> dict[str, frozenset[str]]:
    """Every node's id with the ids of everything under it (jumps find their container so)."""
    found: dict[str, frozenset[str]] = {}

    def walk(node_id: str) -> frozenset[str]:
        ids = {node_id}
        for child in graph.children(node_id):
            ids |= walk(child)
        found[node_id] = frozenset(ids)
        return found[node_id]

    walk(graph.root)
    return found


__all__ = ["Execution", "Executor", "ExecutorState"]

