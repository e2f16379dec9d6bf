"""Jobs and the bounded, fair queue the server runs them from (concept/002's Pool → Worker → Job).

Every request (a chat completion, a webhook, an event) becomes a :class:`Job`. The
:class:`JobQueue` runs at most ``workers`` jobs at once, each key at most ``per_key`` of
them, and serves the keys with waiting jobs in turn (round robin), so one busy caller
cannot starve the others. Past ``capacity`` jobs waiting or running, a new one is refused
with :class:`~smolcpu.errors.QueueFull` (the server answers 429 with ``Retry-After``).
A job publishes what happens to it as events (queued, started, steps, text deltas, the
end); :meth:`Job.follow` replays them and then follows the job live (the SSE stream of
``/v1/jobs/{id}/events``). Cancelling a job frees its slot at once.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import math
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from smolcpu.errors import JobCancelled, QueueFull, UsageError

WORKERS = 4
"""Jobs run at once by default (the LLM worker serialises generation; the rest is waiting)."""

CAPACITY = 32
"""Jobs waiting or running at most by default; past it a request is refused with 429."""

PER_KEY = 4
"""Jobs of one API key run at once at most by default."""

KEPT_JOBS = 1000
"""Ended jobs kept for ``/v1/jobs/{id}`` before the oldest are forgotten."""


class JobState(enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def ended(self) -> bool:
        return self in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


Work = Callable[["Job"], Awaitable[Any]]
"""What a job does: a coroutine function of the job (it may publish events and set ``run_id``)."""


class Job:
    """One request on its way through the queue: its state, events and result."""

    def __init__(self, work: Work, *, key: str, kind: str, model: str = "") -> None:
        self.id = f"job-{uuid.uuid4().hex[:16]}"
        self.work = work
        self.key = key
        self.kind = kind
        self.model = model
        self.state = JobState.QUEUED
        self.created = time.time()
        self.started: float | None = None
        self.ended: float | None = None
        self.run_id: str | None = None
        self.output_id: str | None = None
        self.result: Any = None
        self.error: BaseException | None = None
        self.events: list[dict[str, Any]] = []
        self.task: asyncio.Task[None] | None = None
        self.released = False
        self._wake = asyncio.Event()
        self._finished = asyncio.Event()
        self.publish("queued")

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.kind} {self.state.value} key={self.key}>"

    def publish(self, event: str, **data: Any) -> None:
        """Add an event to the job's history and wake whoever follows it."""
        self.events.append({"event": event, "job": self.id, "time": round(time.time(), 3), **data})
        wake, self._wake = self._wake, asyncio.Event()
        wake.set()

    async def follow(self) -> AsyncIterator[dict[str, Any]]:
        """Every event so far, then each new one until the job has ended."""
        seen = 0
        while True:
            wake = self._wake
            while seen < len(self.events):
                seen += 1
                yield self.events[seen - 1]
            if self.state.ended:
                return
            await wake.wait()

    async def outcome(self) -> Any:
        """Wait for the job to end; its result.

        Raises:
            JobCancelled: it was cancelled.
            Exception: what its work raised.
        """
        await self._finished.wait()
        if self.state is JobState.CANCELLED:
            raise JobCancelled(f"{self.id} was cancelled")
        if self.error is not None:
            raise self.error
        return self.result

    def end(self, state: JobState, *, error: BaseException | None = None) -> None:
        if self.state.ended:
            return
        self.state = state
        self.error = error
        self.ended = time.time()
        detail = {"error": str(error)} if error is not None else {}
        self.publish(state.value, run_id=self.run_id, output_id=self.output_id, **detail)
        self._finished.set()

    def to_dict(self) -> dict[str, Any]:
        """The job as ``/v1/jobs/{id}`` shows it."""
        return {
            "id": self.id,
            "object": "job",
            "kind": self.kind,
            "model": self.model,
            "status": self.state.value,
            "created": int(self.created),
            "started": self.started,
            "ended": self.ended,
            "run_id": self.run_id,
            "output_id": self.output_id,
            "error": str(self.error) if self.error is not None else None,
        }


class JobQueue:
    """Runs jobs under a limit in all and per key, fairly between keys; refuses past ``capacity``.

    Use inside ``async with queue:`` (it owns the jobs' tasks and cancels what is left at exit).
    """

    def __init__(self, *, workers: int = WORKERS, capacity: int = CAPACITY, per_key: int = PER_KEY) -> None:
        if workers < 1 or capacity < workers or per_key < 1:
            raise UsageError("the job queue needs workers >= 1, capacity >= workers and per_key >= 1")
        self.workers = workers
        self.capacity = capacity
        self.per_key = per_key
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self._waiting: OrderedDict[str, deque[Job]] = OrderedDict()
        self._running: dict[str, int] = {}
        self._durations: deque[float] = deque(maxlen=50)
        self._tasks: asyncio.TaskGroup | None = None
        self._served: dict[str, int] = {}
        self._turns = itertools.count()

    def __repr__(self) -> str:
        return f"<JobQueue running={self.running} waiting={self.waiting} capacity={self.capacity}>"

    async def __aenter__(self) -> JobQueue:
        self._tasks = asyncio.TaskGroup()
        await self._tasks.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for job in list(self.jobs.values()):
            self.cancel(job)
        assert self._tasks is not None
        await self._tasks.__aexit__(None, None, None)

    @property
    def running(self) -> int:
        return sum(self._running.values())

    @property
    def waiting(self) -> int:
        return sum(len(queue) for queue in self._waiting.values())

    def retry_after(self) -> int:
        """Seconds a refused caller should wait: a slot's share of the work ahead of it."""
        typical = sorted(self._durations)[len(self._durations) // 2] if self._durations else 1.0
        return max(1, math.ceil(typical * (self.waiting + 1) / self.workers))

    def submit(self, work: Work, *, key: str, kind: str, model: str = "") -> Job:
        """Queue a job; it starts as soon as a slot and its key's share allow.

        Raises:
            QueueFull: ``capacity`` jobs are already waiting or running.
        """
        if self._tasks is None:
            raise UsageError("the job queue is not open: use it inside `async with queue`")
        if self.running + self.waiting >= self.capacity:
            raise QueueFull(
                f"the queue is full ({self.running} running, {self.waiting} waiting); retry in {self.retry_after()}s"
            )
        job = Job(work, key=key, kind=kind, model=model)
        self.jobs[job.id] = job
        self._waiting.setdefault(key, deque()).append(job)
        self._forget_old()
        self._dispatch()
        return job

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def cancel(self, job: Job) -> None:
        """Cancel ``job``: a waiting one leaves the queue, a running one is stopped (its slot is free at once)."""
        if job.state is JobState.QUEUED:
            queue = self._waiting.get(job.key)
            if queue is not None and job in queue:
                queue.remove(job)
                if not queue:
                    del self._waiting[job.key]
            job.end(JobState.CANCELLED)
        elif job.state is JobState.RUNNING and job.task is not None:
            job.task.cancel()
            self._release(job)
            job.end(JobState.CANCELLED)
            self._dispatch()

    def _dispatch(self) -> None:
        """Start waiting jobs while slots are free: keys in turn, each within its share."""
        while self.running < self.workers:
            eligible = [key for key in self._waiting if self._running.get(key, 0) < self.per_key]
            if not eligible:
                return
            key = min(eligible, key=lambda key: self._served.get(key, -1))  # the key served longest ago
            self._served[key] = next(self._turns)
            queue = self._waiting[key]
            job = queue.popleft()
            if not queue:
                del self._waiting[key]
            self._start(job)

    def _start(self, job: Job) -> None:
        assert self._tasks is not None
        self._running[job.key] = self._running.get(job.key, 0) + 1
        job.state = JobState.RUNNING
        job.started = time.time()
        job.publish("started")
        job.task = self._tasks.create_task(self._run(job), name=f"server:{job.id}")

    async def _run(self, job: Job) -> None:
        try:
            job.result = await job.work(job)
        except asyncio.CancelledError:
            job.end(JobState.CANCELLED)  # no re-raise: the queue's task group must live on
            return
        except Exception as exc:
            job.end(JobState.FAILED, error=exc)
        else:
            job.end(JobState.DONE)
        finally:
            self._release(job)
            self._dispatch()
            if job.started is not None:
                self._durations.append(time.time() - job.started)

    def _release(self, job: Job) -> None:
        """Give back ``job``'s slot (once)."""
        if job.released:
            return
        job.released = True
        left = self._running.get(job.key, 0) - 1
        if left > 0:
            self._running[job.key] = left
        else:
            self._running.pop(job.key, None)

    def _forget_old(self) -> None:
        if len(self.jobs) <= KEPT_JOBS:
            return  # nothing to forget: not worth a walk over every job on each request
        ended = [job_id for job_id, job in self.jobs.items() if job.state.ended]
        for job_id in ended[: max(0, len(self.jobs) - KEPT_JOBS)]:
            del self.jobs[job_id]


__all__ = ["CAPACITY", "KEPT_JOBS", "PER_KEY", "WORKERS", "Job", "JobQueue", "JobState", "Work"]
