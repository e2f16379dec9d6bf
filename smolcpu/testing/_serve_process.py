"""``smol serve`` as a child process on a free loopback port, for tests and benchmarks that
kill it, restart it, or put it under load from outside."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

UP_TIMEOUT_S = 120.0
"""How long a server may take to answer /health before it counts as failed to start."""


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """``smol serve --programs PROGRAMS`` in a process of its own (its own session too, so a
    kill reaches only it and what it started); ``start`` waits until it answers.

    Args:
        programs: the folder of programs it serves as ``smol/NAME``.
        args: more options of ``smol serve``.
        env: the environment (default: this process's).
        log: where its output goes (default: discarded).
    """

    def __init__(
        self, programs: Path, *args: str, env: dict[str, str] | None = None, log: Path | None = None
    ) -> None:
        self.programs = programs
        self.args = args
        self.env = env if env is not None else dict(os.environ)
        self.log = log
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, "the server is not started"
        return self.process.pid

    def start(self) -> ServerProcess:
        """Start the server and wait until /health answers.

        Raises:
            RuntimeError: it exited, or did not answer within ``UP_TIMEOUT_S``.
        """
        output = open(self.log, "ab") if self.log is not None else subprocess.DEVNULL  # noqa: SIM115
        command = [sys.executable, "-m", "smolcpu", "serve", "--port", str(self.port), "--programs", str(self.programs)]
        self.process = subprocess.Popen(
            [*command, *self.args], env=self.env, stdout=output, stderr=output, start_new_session=True
        )
        deadline = time.monotonic() + UP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"smol serve exited with code {self.process.returncode}")
            try:
                if httpx.get(self.url + "/health", timeout=5).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"smol serve did not answer at {self.url} within {UP_TIMEOUT_S:g}s")

    def kill(self) -> None:
        """SIGKILL the server alone (as a crash or the OOM killer would); what it started is
        left to notice on its own."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)

    def stop(self) -> None:
        """Stop it as Ctrl-C would, and kill it if it does not end."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.kill()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.process is not None and self.process.poll() is None else "stopped"
        return f"<ServerProcess {self.url} {state}>"


__all__ = ["ServerProcess", "free_port"]
