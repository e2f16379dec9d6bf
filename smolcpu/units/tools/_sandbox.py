"""The code sandbox: run a Python snippet in a fresh, confined child process.

Each snippet gets its own interpreter (``python -I -S``: no site-packages, no user
environment), started inside a jail (see ``_sandbox_jail``: by default bwrap or unshare,
which show it a minimal read-only root, no network and its own pid namespace; none at
all rather than a weaker one), in a scratch directory that is removed afterwards. Before
the snippet runs, its interpreter lowers its own resource limits (address space, CPU
seconds, processes, file size, open files), which it can then never raise again. The
runtime kills the whole process group at the wall-clock deadline, waits until every
process of the snippet is gone, caps what it reads back, and never follows a link the
snippet left in its scratch directory, at any component of a path.

All files together may not outgrow ``scratch_bytes``. Under bwrap and unshare the scratch
directory is a tmpfs of that size inside the jail, and /tmp and /dev/shm lead into it:
the snippet gets ENOSPC. Its
interpreter hands the runtime a descriptor of that directory (over a socket pair, before
any snippet code runs), through which the runtime writes the seed files in and reads the
written ones out, even after the jail is gone. Under rlimits only, a watchdog measures the
scratch tree while the snippet runs and kills it past the cap (``killed_by:
scratch_limit``); a fast writer overshoots by what it writes between two looks (11-36 MB
over an 8 MB cap, measured here), so that layer's cap bounds a disk fill, not exactly.

:func:`run_snippet` reports a snippet that fails like any other: its traceback is in
``stderr`` and its exit status says so. The sandbox *unit* answers such a snippet with an
error artifact (the message ends with the traceback, the whole result rides along as
``result``), because in a flow a program that raised is a failed step that takes its
alternative (LANGUAGE.md §2). Given text, the unit runs the code in it: an LLM's fenced
reply loses its fences and prose first (``smolcpu.units._glue.program_of``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import math
import os
import resource
import signal
import socket
import time
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from smolcpu import config
from smolcpu.artifact import JSON, Artifact
from smolcpu.errors import UsageError
from smolcpu.units._glue import program_of
from smolcpu.units._registry import register
from smolcpu.units._tool import Tool, ToolFailed
from smolcpu.units.tools._sandbox_jail import (
    Jail,
    choose_jail,
    end_processes,
    scratch_directory,
    scratch_files,
    scrubbed_environment,
    snippet_uid,
    tree_bytes,
)

MAX_TIMEOUT_S = 300.0
"""The longest wall-clock deadline a caller may ask for."""

MAX_PROCESSES = 32
"""Processes (and threads) the snippet's uid may have at once: a fork bomb stops here."""

MAX_FILE_BYTES = 16 * 1024**2
"""Largest file the snippet may write."""

MAX_OPEN_FILES = 64
"""File descriptors the snippet may hold open."""

MAX_OUTPUT_BYTES = 1024**2
"""stdout (and, apart, stderr) kept per snippet; more kills it (``killed_by: output_limit``)."""

MAX_CODE_BYTES = 100_000
"""Largest snippet accepted (it travels as one command-line argument)."""

MAX_RETURNED_FILES = 50
"""Files written in scratch that a result lists; the rest are only counted, under the name ``...``."""

MAX_RETURNED_FILE_BYTES = 256 * 1024
"""Bytes of one written file a result carries; longer ones are cut and marked truncated."""

MAX_RETURNED_BYTES = 2 * 1024**2
"""Bytes of all written files a result carries together, so that a reply stays a message."""

SCRATCH_WATCH_INTERVAL_S = 0.02
"""How often the rlimits jail's watchdog measures the scratch tree against the cap."""

SETTLE_TIMEOUT_S = 5.0
"""How long, after a kill, the runtime waits for the snippet's pipes to close and its exit."""

ALWAYS = ("rlimits", "wall-clock-kill", "process-group", "clean-env", "scratch-dir", "scratch-cap")
"""The layers every jail adds to its own."""

SNIPPET = "<snippet>"

# Runs first in the snippet's interpreter: drop to the jail's uid if it asks (a failure
# ends the process before any code runs), enter the scratch directory, lower the limits,
# then run the code with a
# clean namespace and tracebacks that start at the snippet's own line. Importing
# linecache costs 30 ms, so only a failing snippet pays for it.
_BOOTSTRAP = """\
{prologue}import os, resource, sys
os.chdir({cwd!r})
{handshake}for _limit, _value in {limits!r}:
    resource.setrlimit(_limit, _value)
_code = sys.argv.pop(1)
sys.argv[0] = {name!r}
try:
    exec(compile(_code, {name!r}, "exec"), {{"__name__": "__main__", "__builtins__": __builtins__}})
except SystemExit:
    raise
except BaseException as _error:
    import linecache, traceback
    linecache.cache[{name!r}] = (len(_code), None, _code.splitlines(True), {name!r})
    traceback.print_exception(_error.with_traceback(_error.__traceback__.tb_next))
    sys.exit(1)
"""

# Hands the runtime the jail's scratch tmpfs as an open directory, then waits until the
# runtime has written the seed files into it.
_HANDSHAKE = """\
import _socket
_channel = _socket.socket(fileno={fd})
_here = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
_channel.sendmsg([b"."], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, _here.to_bytes(4, sys.byteorder))])
os.close(_here)
_channel.recv(1)
_channel.close()
del _channel, _here
"""


@dataclasses.dataclass(frozen=True, slots=True)
class SandboxResult:
    """What one snippet did: its output, how it ended, what it wrote, how it was confined."""

    stdout: str
    stderr: str
    exit_status: int
    """The process's exit status; ``-N`` when signal N ended it."""
    duration_s: float
    files: dict[str, dict[str, Any]]
    """Each file written in scratch: ``size`` and ``text`` (UTF-8) or ``base64``; ``truncated`` if cut."""
    isolation: tuple[str, ...]
    killed_by: str | None
    """``timeout``, ``output_limit``, ``cpu_limit``, ``scratch_limit``, ``signal SIGSEGV``...;
    ``None`` when it ended by itself."""
    scratch_bytes: int = 0
    """Bytes of all regular files left in the scratch directory: at most the cap under a
    namespace jail; under rlimits only, a snippet killed by ``scratch_limit`` may leave more."""
    not_isolated: tuple[str, ...] = ()
    """What the jail left open, in plain words: empty under bwrap and unshare; under rlimits
    only, the network, the host's files and processes (see ``Jail.not_isolated``)."""

    @property
    def ok(self) -> bool:
        """Whether the snippet ran to the end and exited 0."""
        return self.exit_status == 0 and self.killed_by is None

    def to_dict(self) -> dict[str, Any]:
        """The result as the sandbox tool's JSON reply."""
        return {**dataclasses.asdict(self), "isolation": list(self.isolation), "not_isolated": list(self.not_isolated)}


def rlimits(
    *, timeout_s: float, memory_bytes: int, scratch_bytes: int | None = None
) -> list[tuple[int, tuple[int, int]]]:
    """The resource limits a snippet runs under.

    No one file may be larger than MAX_FILE_BYTES or than the whole scratch cap.

    CPU seconds are a backstop a second past the wall-clock deadline, so that a busy loop is
    ended by the deadline (``timeout``) and only threads burning several cores at once hit
    the CPU limit first.
    """
    cpu = math.ceil(timeout_s) + 1
    file_bytes = min(MAX_FILE_BYTES, scratch_bytes or MAX_FILE_BYTES)
    return [
        (resource.RLIMIT_AS, (memory_bytes, memory_bytes)),
        (resource.RLIMIT_CPU, (cpu, cpu + 1)),
        (resource.RLIMIT_NPROC, (MAX_PROCESSES, MAX_PROCESSES)),
        (resource.RLIMIT_FSIZE, (file_bytes, file_bytes)),
        (resource.RLIMIT_NOFILE, (MAX_OPEN_FILES, MAX_OPEN_FILES)),
        (resource.RLIMIT_CORE, (0, 0)),
    ]


async def run_snippet(
    code: str,
    *,
    timeout_s: float | None = None,
    files: Mapping[str, str] | None = None,
    stdin: str = "",
    isolation: str | None = None,
    memory_bytes: int | None = None,
    scratch_bytes: int | None = None,
    network: bool | None = None,
) -> SandboxResult:
    """Run ``code`` in a fresh confined Python process and report what it did.

    Args:
        code: the Python source to run as ``__main__``.
        timeout_s: wall-clock deadline; the whole process group is killed at it.
        files: text files to put in the scratch directory first (relative name → content).
        stdin: what the snippet reads on standard input.
        isolation: ``auto`` (the strongest jail that works here), ``bwrap``, ``unshare`` or ``rlimits``.
        memory_bytes: address-space limit of the snippet's process.
        scratch_bytes: how much all files in the scratch directory may hold together.
        network: whether a run's policy lets the snippet reach the host's network. ``False``
            refuses a jail that leaves it open (``rlimits``); ``True`` keeps the host's network
            namespace; ``None`` (by hand, no policy): the jail's own (none under bwrap and unshare).

    Raises:
        UsageError: empty or oversized code, a bad file name, a deadline out of range.
        ToolFailed: no isolation works here, the network is off and the jail leaves it open,
            or the interpreter could not be started.
    """
    timeout_s = _checked_timeout(config.SANDBOX_TIMEOUT_S if timeout_s is None else timeout_s)
    _check_code(code)
    seeds = _checked_files(files or {})
    jail = await asyncio.to_thread(choose_jail, isolation or config.SANDBOX_ISOLATION)
    if network is False and not jail.confining:
        raise ToolFailed(
            f"the run's policy keeps the sandbox off the network, and the {jail.name} jail leaves it open:"
            " use bwrap or unshare (isolation auto), or allow it with `policy network = true`"
        )
    cap = scratch_bytes or config.SANDBOX_SCRATCH_BYTES
    if sum(len(content.encode()) for content in seeds.values()) > cap:
        raise UsageError(f"the files given hold more than the {cap:,} bytes a snippet's scratch directory may hold")
    limits = rlimits(
        timeout_s=timeout_s, memory_bytes=memory_bytes or config.SANDBOX_MEMORY_BYTES, scratch_bytes=cap
    )
    sweep = not jail.confining  # without a pid namespace, the snippet's uid is all that marks its processes
    with snippet_uid(sweep=sweep) as uid, scratch_directory(uid) as scratch, contextlib.ExitStack() as cleanup:
        run = _Run(jail, scratch, timeout_s, scratch_bytes=cap, sweep_uid=uid if sweep else None)
        handshake, inherited = "", ()
        view: int | None = None
        if jail.scratch_tmpfs:
            ours, theirs = socket.socketpair()
            cleanup.callback(ours.close)
            cleanup.callback(theirs.close)
            handshake, inherited = _HANDSHAKE.format(fd=theirs.fileno()), (theirs.fileno(),)
        else:
            view = os.open(scratch, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
            cleanup.callback(os.close, view)
            _seed(view, seeds, uid=uid)
        bootstrap = _BOOTSTRAP.format(
            prologue=jail.prologue(uid), cwd=jail.scratch_inside or str(scratch), limits=limits, name=SNIPPET,
            handshake=handshake,
        )
        python_args = ["-I", "-S", "-u", "-X", "utf8", "-c", bootstrap, code]
        with jail.launch(python_args, scratch, scratch_bytes=cap, uid=uid, network=bool(network)) as (command, fds):
            await run.start(command, pass_fds=(*inherited, *fds))
        if jail.scratch_tmpfs:
            theirs.close()
            view = await run.receive_scratch(ours, seeds, uid=uid)
            if view is not None:
                cleanup.callback(os.close, view)
        await run.finish(stdin.encode(), view)
        written, total = _written_files(view, seeds) if view is not None else ({}, 0)
    result = run.result(written, scratch_bytes=total)
    if network and jail.confining:  # the host's network namespace was kept: say so, as the jails do
        layers = tuple(layer for layer in result.isolation if layer != "net-namespace")
        opened = (*result.not_isolated, "network: the run's policy lets the snippet reach the host's network")
        result = dataclasses.replace(result, isolation=layers, not_isolated=opened)
    return result


def _checked_timeout(timeout_s: float) -> float:
    if not isinstance(timeout_s, int | float) or not 0 < timeout_s <= MAX_TIMEOUT_S:
        raise UsageError(f"timeout_s must be a number of seconds in (0, {MAX_TIMEOUT_S:g}], not {timeout_s!r}")
    return float(timeout_s)


def _check_code(code: Any) -> None:
    if not isinstance(code, str) or not code.strip():
        raise UsageError("the sandbox needs Python code to run: give it as 'code' (a non-empty string)")
    if len(code.encode()) > MAX_CODE_BYTES:
        raise UsageError(f"the code is {len(code.encode()):,} bytes; the sandbox takes at most {MAX_CODE_BYTES:,}")
    if "\0" in code:
        raise UsageError("the code contains a NUL character; send plain Python source")


def _checked_files(files: Mapping[str, str]) -> dict[str, str]:
    if not isinstance(files, Mapping):
        raise UsageError("files must be an object mapping relative file names to their text")
    for name, content in files.items():
        path = PurePosixPath(name)
        if not name or path.is_absolute() or ".." in path.parts or "\0" in name:
            raise UsageError(f"file name {name!r} must be a relative path inside the scratch directory")
        if not isinstance(content, str):
            raise UsageError(f"file {name!r} must be given as text, not {type(content).__name__}")
        if len(content.encode()) > MAX_FILE_BYTES:
            raise UsageError(f"file {name!r} is larger than the {MAX_FILE_BYTES:,} bytes a snippet may write")
    return dict(files)


def _seed(scratch_fd: int, seeds: Mapping[str, str], *, uid: int | None) -> None:
    """Write the seed files into the directory ``scratch_fd`` before the snippet starts, owned
    by ``uid``, the uid it will run as (``None``: the runtime's own)."""
    scratch = Path(f"/proc/self/fd/{scratch_fd}")
    for name, content in seeds.items():
        path = scratch / name
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
        except OSError as exc:
            raise UsageError(f"cannot create file {name!r} in the scratch directory: {exc.strerror}") from exc
        if uid is not None:
            for made in (path, *path.relative_to(scratch).parents[:-1]):
                os.chown(scratch / made, uid, uid)


class _Run:
    """One started snippet: its process, what it has written to its pipes, why it was killed."""

    def __init__(
        self, jail: Jail, scratch: Path, timeout_s: float, *, scratch_bytes: int, sweep_uid: int | None
    ) -> None:
        self.jail = jail
        self.scratch = scratch
        self.timeout_s = timeout_s
        self.scratch_bytes = scratch_bytes
        self.sweep_uid = sweep_uid
        """The snippet's own uid where its processes are found by uid (no pid namespace), else ``None``."""
        self.watchdog: asyncio.Task[None] | None = None
        self.process: asyncio.subprocess.Process | None = None
        self.output = {"stdout": bytearray(), "stderr": bytearray()}
        self.cut: set[str] = set()
        self.killed_by: str | None = None
        self.exit_fd: int | None = None
        self.init_fd: int | None = None
        """A pidfd of the namespace jail's pid 1: it exits only once every process of its namespace is gone."""
        self.started = self.ended = 0.0

    async def start(self, command: list[str], *, pass_fds: tuple[int, ...] = ()) -> None:
        try:
            self.process = await asyncio.create_subprocess_exec(
                *command, cwd=self.scratch, env=scrubbed_environment(self.jail, self.scratch),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                start_new_session=True, pass_fds=pass_fds,
            )
        except OSError as exc:
            raise ToolFailed(f"the sandbox could not start {command[0]}: {exc}") from exc
        self.started = time.perf_counter()
        with contextlib.suppress(ProcessLookupError):
            self.exit_fd = os.pidfd_open(self.process.pid)

    async def receive_scratch(self, channel: socket.socket, seeds: Mapping[str, str], *, uid: int | None) -> int | None:
        """Take the jail's scratch directory from the snippet's interpreter, seed it, let the code run.

        Returns this process's descriptor of the directory, or ``None`` when the interpreter
        ended (or the deadline passed) before handing it over.

        Raises:
            UsageError: the seed files do not fit in the scratch directory (the snippet is killed).
            CancelledError: after killing the snippet, when the request was cancelled.
        """
        channel.settimeout(self.timeout_s)
        try:
            _, fds, _, _ = await asyncio.to_thread(socket.recv_fds, channel, 1, 1)
        except TimeoutError:
            self._kill("timeout")
            return None
        except asyncio.CancelledError:
            self._kill("cancelled")  # its end of the channel closes, so the waiting thread returns too
            await self._settle()
            raise
        if not fds:
            return None
        self.init_fd = _first_child(self.process.pid)
        try:
            _seed(fds[0], seeds, uid=uid)
            channel.sendall(b".")
        except BaseException:
            self._kill(None)
            await self._settle()
            os.close(fds[0])
            raise
        return fds[0]

    async def finish(self, stdin: bytes, scratch_fd: int | None) -> None:
        """Feed stdin, read both pipes and wait, within the deadline; kill what is left.
        A jail without a tmpfs of its own has its scratch directory ``scratch_fd`` watched.

        Raises:
            CancelledError: after killing the snippet, when the request was cancelled.
        """
        try:
            async with asyncio.timeout(self.timeout_s):
                async with asyncio.TaskGroup() as group:
                    group.create_task(self._feed(stdin))
                    group.create_task(self._read("stdout"))
                    group.create_task(self._read("stderr"))
                    group.create_task(self._wait())
                    if not self.jail.scratch_tmpfs and scratch_fd is not None:
                        self.watchdog = group.create_task(self._watch_scratch(scratch_fd))
        except TimeoutError:
            self._kill("timeout")
            await self._settle()
        except asyncio.CancelledError:
            self._kill("cancelled")
            await self._settle()
            raise
        finally:
            for fd in (self.exit_fd, self.init_fd):
                if fd is not None:
                    os.close(fd)

    async def _settle(self) -> None:
        """After a kill: read the pipes to their end (asyncio reports an exit only then) and reap."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(SETTLE_TIMEOUT_S):
                await asyncio.gather(self._read("stdout"), self._read("stderr"), self._wait())

    async def _watch_scratch(self, scratch_fd: int) -> None:
        """Kill the snippet once its scratch tree holds more than the cap (jails without a tmpfs)."""
        while tree_bytes(scratch_fd) <= self.scratch_bytes:
            await asyncio.sleep(SCRATCH_WATCH_INTERVAL_S)
        self._kill("scratch_limit")

    async def _feed(self, data: bytes) -> None:
        assert self.process is not None and self.process.stdin is not None
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.process.stdin.write(data)
            await self.process.stdin.drain()
            self.process.stdin.close()

    async def _read(self, name: str) -> None:
        """Keep the first MAX_OUTPUT_BYTES of a pipe; read on to its end, discarding the rest."""
        stream = getattr(self.process, name)
        buffer = self.output[name]
        while chunk := await stream.read(65536):
            room = MAX_OUTPUT_BYTES - len(buffer)
            buffer += chunk[:room]
            if len(chunk) > room:
                self.cut.add(name)
                self._kill("output_limit")

    async def _wait(self) -> None:
        """Wait for the snippet's own process, end what it left in its group, then reap it."""
        assert self.process is not None
        if self.exit_fd is not None and self.process.returncode is None:
            await _exited(self.exit_fd)
        self.ended = self.ended or time.perf_counter()
        if self.watchdog is not None:
            self.watchdog.cancel()
        # Children it left behind in its group would hold the pipes open: end them too.
        self._kill(None)
        await self.process.wait()
        if self.init_fd is not None:  # the kernel is still ending the rest of the namespace
            await _exited(self.init_fd)

    def _kill(self, reason: str | None) -> None:
        """SIGKILL the snippet's whole process group (and, without a pid namespace, every process
        of its uid, which a child that left the group still has); the first reason given is
        the one reported."""
        assert self.process is not None
        if reason and self.killed_by is None and self.process.returncode is None:
            self.killed_by = reason
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        if self.sweep_uid is not None:
            end_processes(self.sweep_uid, rounds=1)

    def result(self, files: dict[str, dict[str, Any]], *, scratch_bytes: int) -> SandboxResult:
        assert self.process is not None
        returncode = self.process.returncode
        status, signum = self._status(-signal.SIGKILL if returncode is None else returncode)
        killed_by = self.killed_by
        if killed_by is None and signum is not None:
            killed_by = "cpu_limit" if signum == signal.SIGXCPU else f"signal {signal.Signals(signum).name}"
        return SandboxResult(
            stdout=_text(self.output["stdout"], cut="stdout" in self.cut),
            stderr=_text(self.output["stderr"], cut="stderr" in self.cut),
            exit_status=status,
            duration_s=round((self.ended or time.perf_counter()) - self.started, 4),
            files=files,
            isolation=(*self.jail.layers, *ALWAYS),
            killed_by=killed_by,
            scratch_bytes=scratch_bytes,
            not_isolated=self.jail.not_isolated,
        )

    def _status(self, returncode: int) -> tuple[int, int | None]:
        """The exit status and the signal that ended the snippet, if one did.

        A jail whose snippet runs under bwrap or our pid 1 reports signal N as status 128 + N.
        """
        if returncode < 0:
            return returncode, -returncode
        if self.jail.signals_as_status and 128 < returncode < 128 + signal.NSIG:
            with contextlib.suppress(ValueError):
                return -(returncode - 128), signal.Signals(returncode - 128)
        return returncode, None


async def _exited(pidfd: int) -> None:
    """Wait until the process of ``pidfd`` has exited."""
    loop = asyncio.get_running_loop()
    exited = loop.create_future()
    loop.add_reader(pidfd, lambda: exited.done() or exited.set_result(None))
    try:
        await exited
    finally:
        loop.remove_reader(pidfd)


def _first_child(pid: int) -> int | None:
    """A pidfd of the first child of ``pid`` (a namespace jail's pid 1), or ``None`` if it has none."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return os.pidfd_open(int(children[0])) if children else None
    except (OSError, ValueError):
        return None


def _text(data: bytes | bytearray, *, cut: bool) -> str:
    text = bytes(data).decode("utf-8", "replace")
    if cut:
        text += f"\n[output cut at {MAX_OUTPUT_BYTES:,} bytes]"
    return text


def _written_files(scratch_fd: int, seeds: Mapping[str, str]) -> tuple[dict[str, dict[str, Any]], int]:
    """The regular files the snippet left in the directory ``scratch_fd`` (seeds it did not
    change are left out), and the bytes of all regular files there.

    Every component is opened beneath its parent without following links (``scratch_files``),
    and files with other names elsewhere are skipped, so a snippet cannot make the runtime
    read a file for it, not even by swapping a directory for a link while it is read.
    """
    found: dict[str, dict[str, Any]] = {}
    skipped = total = 0
    budget = MAX_RETURNED_BYTES
    for relative, fd, info in scratch_files(scratch_fd, unlock=True):
        total += info.st_size
        entry = _read_written(fd, info, limit=min(MAX_RETURNED_FILE_BYTES, budget))
        if entry is None or (relative in seeds and seeds[relative] == entry.get("text")):
            continue
        if len(found) >= MAX_RETURNED_FILES:
            skipped += 1
            continue
        budget -= entry.pop("read")
        found[relative] = entry
    if skipped:
        found["..."] = {"size": 0, "text": f"{skipped} more files not returned", "truncated": True}
    return found, total


def _read_written(fd: int, info: os.stat_result, *, limit: int) -> dict[str, Any] | None:
    """A regular file's size and first ``limit`` bytes (as text or base64); ``None`` for a hard link."""
    if info.st_nlink != 1:
        return None
    data = os.pread(fd, limit + 1, 0)
    entry: dict[str, Any] = {"size": info.st_size}
    if len(data) > limit:
        data = data[:limit]
        entry["truncated"] = True
    try:
        entry["text"] = data.decode("utf-8")
    except UnicodeDecodeError:
        entry["base64"] = base64.b64encode(data).decode("ascii")
    entry["read"] = len(data)
    return entry


@register
class SandboxTool(Tool):
    """Runs Python code in a fresh isolated process; the unit form of :func:`run_snippet`."""

    name = "sandbox"
    description = (
        "Run Python code (standard library only) in a fresh isolated process (by default: no network, "
        "no host files, nothing kept afterwards); "
        "returns stdout, stderr, exit_status, duration_s, the files it wrote in its working directory, "
        "the isolation layers in force and killed_by (timeout, output_limit, cpu_limit, scratch_limit, signal) "
        "if it was stopped, and not_isolated: what the isolation in force leaves open (empty by default). "
        "All files it writes together are capped in size. A program that raises, "
        "exits non-zero or is stopped is answered with an error whose message ends with its traceback."
    )
    inputs = {
        "code": {"type": "string", "description": "Python source to run as __main__; print what you need back."},
        "timeout_s": {"type": "number", "description": "Wall-clock limit in seconds.", "nullable": True},
        "files": {"type": "object", "description": "Text files to create first: relative name → content.",
                  "nullable": True},
        "stdin": {"type": "string", "description": "Text for the code's standard input.", "nullable": True},
    }
    output = JSON

    def __init__(
        self, *, isolation: str | None = None, memory_bytes: int | None = None, network: bool | None = None
    ) -> None:
        self.isolation = isolation
        self.memory_bytes = memory_bytes
        self.network = network

    async def forward(
        self, code: str, timeout_s: float | None = None, files: dict[str, str] | None = None, stdin: str | None = None
    ) -> dict[str, Any]:
        result = await run_snippet(
            code, timeout_s=timeout_s, files=files, stdin=stdin or "",
            isolation=self.isolation, memory_bytes=self.memory_bytes, network=self.network,
        )
        if not result.ok:
            raise ToolFailed(_failure(result), details={"result": result.to_dict()})
        return result.to_dict()

    def reads(self, artifact: Artifact) -> str:
        """The code in what another unit wrote (an LLM's fenced or prose reply, or a join's list of them)."""
        return program_of(artifact)


def _failure(result: SandboxResult) -> str:
    """What a failed snippet's error says: how it ended and the end of its stderr (the traceback)."""
    how = f"was stopped ({result.killed_by})" if result.killed_by else f"exited with status {result.exit_status}"
    tail = result.stderr.strip()[-1500:]
    return f"the program {how}" + (f":\n{tail}" if tail else " and printed no error")


__all__ = ["MAX_OUTPUT_BYTES", "SandboxResult", "SandboxTool", "rlimits", "run_snippet"]
