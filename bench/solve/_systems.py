"""The parent's side of the systems: their runner processes, a deadline per item, their memory.

A system is one or more runner processes started in order (each may use what the ones
before it announced) and asked item by item through the last one. Each runs in a session of
its own, so that stopping it ends its whole process group, model workers included. Memory
is sampled in a thread while items run: every process of the system's trees, each page
counted once (private pages, plus each shared file once; Lifecycle's own measure).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from smolcpu.vm._lifecycle_status import process_tree, resident

ROOT = Path(__file__).resolve().parents[2]
"""The checkout: runners start there, so that ``-m bench.solve...`` finds this package."""

START_TIMEOUT_S = 900.0
"""How long a system may take to start (a model loads; the first run may build a cache)."""

STOP_TIMEOUT_S = 15.0

Command = Callable[[dict[str, Any]], list[str]]
"""A runner's command line, made from what the runners before it announced."""


class Unavailable(Exception):
    """A system cannot run here (a runner said why when it started)."""


class RunnerDied(Exception):
    """A runner ended while an item was under way."""


class Runner:
    """One runner process: it announces itself, then answers one JSON line per item."""

    def __init__(self, command: Sequence[str], *, log: IO[str]) -> None:
        self.command = list(command)
        self.process = subprocess.Popen(
            self.command,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            encoding="utf-8",
            start_new_session=True,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def __repr__(self) -> str:
        return f"<Runner pid={self.process.pid} {' '.join(self.command[1:4])}>"

    def ready(self, *, timeout: float = START_TIMEOUT_S) -> dict[str, Any]:
        """What the runner announced once started.

        Raises:
            Unavailable: it said it cannot run.
            RunnerDied: it ended first.
            TimeoutError: it did not start in time.
        """
        message = self._receive(timeout)
        if "error" in message:
            raise Unavailable(message["error"])
        return message["ready"]

    def ask(self, item: dict[str, Any], *, timeout: float) -> dict[str, Any]:
        """The runner's reply to one item.

        Raises:
            RunnerDied: it ended before replying.
            TimeoutError: no reply within ``timeout`` seconds.
        """
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(item) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError as exc:
            raise RunnerDied(f"{self!r} has ended (exit status {self.process.poll()})") from exc
        return self._receive(timeout)

    def stop(self) -> None:
        """Close its stdin (it ends by itself), and end its process group if it does not."""
        with contextlib.suppress(OSError):
            if self.process.stdin:
                self.process.stdin.close()
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.strip():
                self._lines.put(line)
        self._lines.put(None)

    def _receive(self, timeout: float) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"{self!r} gave no answer within {timeout:g} s") from None
        if line is None:
            raise RunnerDied(f"{self!r} has ended (exit status {self.process.wait()}); see the log")
        return json.loads(line)


class System:
    """A system under test: its runners, started in order; items go to the last one."""

    def __init__(self, name: str, commands: Sequence[Command], *, log: IO[str]) -> None:
        self.name = name
        self.commands = list(commands)
        self.log = log
        self.runners: list[Runner] = []
        self.announced: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"<System {self.name} {'running' if self.runners else 'stopped'}>"

    def start(self) -> dict[str, Any]:
        """Start every runner in order; what they announced, together.

        Raises:
            Unavailable: a runner cannot run here.
        """
        self.announced = {}
        try:
            for command in self.commands:
                self.log.write(f"--- {self.name}: {' '.join(command(self.announced))}\n")
                self.log.flush()
                runner = Runner(command(self.announced), log=self.log)
                self.runners.append(runner)
                self.announced.update(runner.ready())
        except (Unavailable, RunnerDied, TimeoutError) as exc:
            self.stop()
            raise Unavailable(str(exc)) from exc
        return self.announced

    def ask(self, item: dict[str, Any], *, timeout: float) -> dict[str, Any]:
        """The system's reply to one item (see :meth:`Runner.ask`)."""
        return self.runners[-1].ask(item, timeout=timeout)

    def restart(self) -> None:
        self.stop()
        self.start()

    def stop(self) -> None:
        for runner in reversed(self.runners):
            runner.stop()
        self.runners = []

    def roots(self) -> list[int]:
        return [runner.process.pid for runner in self.runners]


class PeakMemory:
    """Samples what the watched process trees hold resident, in a thread; keeps the peak."""

    def __init__(self, *, interval: float = 1.0) -> None:
        self.interval = interval
        self._roots: Callable[[], list[int]] = list
        self._peak = 0
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def watch(self, roots: Callable[[], list[int]]) -> None:
        """Sample the trees of the processes ``roots()`` names from now on."""
        self._roots = roots
        self.take()

    def take(self) -> int:
        """The peak in bytes since the last take (at least the present figure); it starts anew."""
        now = self.measure()
        with self._lock:
            peak, self._peak = max(self._peak, now), now
        return peak

    def measure(self) -> int:
        pids = [pid for root in self._roots() for pid in process_tree(root)]
        return resident({"system": pids})["system"] if pids else 0

    def close(self) -> None:
        self._stopped.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stopped.wait(self.interval):
            now = self.measure()
            with self._lock:
                self._peak = max(self._peak, now)


__all__ = ["Command", "PeakMemory", "Runner", "RunnerDied", "System", "Unavailable"]
