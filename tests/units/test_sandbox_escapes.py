"""The sandbox's escape suite: each attempt to reach past the snippet fails safely and is reported.

Every test runs against each isolation layer that works on this host (``jail``). Where the
weakest layer (rlimits only) cannot stop an attempt, the test checks that the result does
not claim the layer that would have stopped it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import psutil
import pytest

from smolcpu.units.tools._sandbox_jail import NOBODY, is_root

from .test_sandbox import jails, run

NAMESPACED = {"bwrap", "unshare"}

each_jail = jails(separated=True)
"""Each layer that works here and keeps the snippet from the runtime (rlimits only as root)."""


def attempts(*lines: str) -> str:
    """A snippet that tries each ``label: statement`` and prints ESCAPED or blocked for it."""
    body = ["import os, signal, socket"]
    for line in lines:
        label, statement = line.split(": ", 1)
        body += [
            "try:",
            f"    {statement}",
            f"    print('ESCAPED', {label!r}, flush=True)",
            "except Exception as exc:",
            f"    print('blocked', {label!r}, type(exc).__name__, flush=True)",
        ]
    return "\n".join(body)


def leftover_processes(uid: int) -> list[psutil.Process]:
    """Live (non-zombie) processes of ``uid``, after giving the kernel a moment to reap."""
    deadline = time.monotonic() + 5
    while True:
        alive = [
            p for p in psutil.process_iter(["uids", "status"])
            if p.info["uids"] and p.info["uids"].real == uid and p.info["status"] != psutil.STATUS_ZOMBIE
        ]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


@each_jail
def test_network_is_unreachable(jail: str) -> None:
    if jail not in NAMESPACED:
        pytest.skip("the rlimits layer has no network namespace (and does not claim one)")
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.setblocking(False)
        port = server.getsockname()[1]
        result = run(
            attempts(
                f"runtime's loopback: socket.create_connection(('127.0.0.1', {port}), timeout=2).close()",
                "internet: socket.create_connection(('1.1.1.1', 53), timeout=2).close()",
                "dns: socket.getaddrinfo('pypi.org', 443)",
            ),
            isolation=jail,
        )
        with pytest.raises(BlockingIOError):
            server.accept()
    assert "ESCAPED" not in result.stdout and result.stdout.count("blocked") == 3, result.stdout
    assert "net-namespace" in result.isolation


@each_jail
def test_reading_outside_scratch_fails(jail: str, smol_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = uuid.uuid4().hex
    store = smol_home / "artifacts" / "secret"
    store.parent.mkdir(parents=True)
    store.write_text(token)
    monkeypatch.setenv("SMOL_ESCAPE_TOKEN", token)
    result = run(
        attempts(
            f"artifact store: print(open({str(store)!r}).read())",
            "shadow: print(open('/etc/shadow').read())",
            f"runtime environment: print(open('/proc/{os.getpid()}/environ').read())",
            "parent environment: print(open(f'/proc/{os.getppid()}/environ').read())",
            "any environment: print([open(f'/proc/{p}/environ').read() for p in os.listdir('/proc') "
            "if p.isdigit() and p != str(os.getpid())])",
        )
        + f"\nprint('own environment leaks' if {token!r} in str(os.environ) else 'own environment clean')",
        isolation=jail,
    )
    # Environments the snippet can read at all are its own jail's, scrubbed: the token is in none.
    assert token not in result.stdout + result.stderr
    assert "own environment clean" in result.stdout
    assert "blocked artifact store" in result.stdout and "blocked shadow" in result.stdout
    if is_root():
        assert "uid-nobody" in result.isolation


@each_jail
def test_fork_bomb_is_contained(jail: str) -> None:
    code = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    result = run(code, isolation=jail, timeout_s=2)
    assert result.killed_by == "timeout" and result.duration_s < 10
    if is_root():
        assert leftover_processes(NOBODY) == []
    assert subprocess.run(["true"], timeout=10).returncode == 0  # the runtime can still fork


@each_jail
def test_memory_bomb_gets_memory_error(jail: str) -> None:
    before = psutil.Process().memory_info().rss
    result = run("chunks = []\nwhile True:\n    chunks.append(bytearray(64 * 1024**2))", isolation=jail, timeout_s=20)
    assert result.exit_status == 1 and result.killed_by is None
    assert result.stderr.rstrip().endswith("MemoryError")
    assert psutil.Process().memory_info().rss - before < 64 * 1024**2


@each_jail
def test_infinite_loop_is_killed_at_the_deadline(jail: str) -> None:
    result = run("while True:\n    pass", isolation=jail, timeout_s=1)
    assert result.killed_by == "timeout"
    assert result.exit_status == -9
    assert 1 <= result.duration_s < 5


@each_jail
def test_writing_outside_scratch_leaves_the_host_untouched(jail: str, smol_home: Path, tmp_path: Path) -> None:
    marker = f"smol-escape-{uuid.uuid4().hex}"
    smol_home.mkdir(parents=True, exist_ok=True)
    shared = [Path("/tmp") / marker, Path("/var/tmp") / marker, Path("/dev/shm") / marker]
    private = [smol_home / marker, tmp_path / marker, Path("/usr") / marker, Path("/etc") / marker, Path("/") / marker]
    targets = shared + private
    try:
        result = run(
            attempts(*(f"{path}: open({str(path)!r}, 'w').write('x')" for path in targets)), isolation=jail
        )
        assert result.stdout.count("\n") == len(targets)
        assert not [path for path in private if path.exists()]
        if "private-tmp" in result.isolation:
            assert not [path for path in shared if path.exists()]
        else:
            assert jail == "rlimits"  # world-writable /tmp stays shared there, and it says so
    finally:
        for path in shared:
            path.unlink(missing_ok=True)


@each_jail
def test_signalling_the_parent_fails(jail: str) -> None:
    sentinel = subprocess.Popen(["sleep", "60"])
    try:
        result = run(
            attempts(
                "parent: os.kill(os.getppid(), signal.SIGKILL)",
                f"runtime: os.kill({os.getpid()}, signal.SIGKILL)",
                f"sentinel: os.kill({sentinel.pid}, signal.SIGKILL)",
                f"runtime group: os.killpg({os.getpgid(0)}, signal.SIGKILL)",
                "everyone: os.kill(-1, signal.SIGKILL)",
            ),
            isolation=jail,
        )
        assert sentinel.poll() is None, "the snippet killed a process of the runtime's"
        assert result.isolation  # the runtime (this process) is alive and got its answer
    finally:
        sentinel.kill()
        sentinel.wait()


@each_jail
def test_ctypes_tricks_fail(jail: str) -> None:
    code = attempts(
        f"ptrace the runtime: assert libc.ptrace(16, {os.getpid()}, 0, 0) == 0",
        "mount over /usr: assert libc.mount(b'none', b'/usr', b'tmpfs', 0, None) == 0",
        "chroot: assert libc.chroot(b'/') == 0",
    ).replace("import os, signal, socket", "import os, signal, socket, ctypes\nlibc = ctypes.CDLL(None)")
    status = "print('uid', os.getuid(), open('/proc/self/status').read(), flush=True)"
    result = run(f"{code}\n{status}\nctypes.string_at(0)", isolation=jail)
    assert "ESCAPED" not in result.stdout and result.stdout.count("blocked") == 3, result.stdout
    assert "CapEff:\t0000000000000000" in result.stdout  # no privilege left to gain (setuid 0 fails too)
    if jail in NAMESPACED:
        assert "NoNewPrivs:\t1" in result.stdout
    if is_root():
        assert f"uid {NOBODY}" in result.stdout
    assert result.killed_by == "signal SIGSEGV" and result.exit_status == -11


@each_jail
def test_links_and_fifos_in_scratch_are_not_followed(jail: str, smol_home: Path) -> None:
    token = uuid.uuid4().hex
    store = smol_home / "secret"
    smol_home.mkdir(parents=True, exist_ok=True)
    store.write_text(token)
    code = attempts(
        "symlink: os.symlink('/etc/shadow', 'shadow.txt')",
        f"store symlink: os.symlink({str(store)!r}, 'store.txt')",
        f"hard link: os.link({str(store)!r}, 'hard.txt')",
        "fifo: os.mkfifo('pipe')",
    )
    started = time.monotonic()
    result = run(code, isolation=jail, timeout_s=5)
    assert time.monotonic() - started < 15  # a fifo left behind does not block the runtime
    assert result.files == {}
    assert "root:" not in str(result.files) and token not in str(result.files)


@each_jail
def test_background_children_die_with_the_snippet(jail: str) -> None:
    detach = "os.setsid()" if jail in NAMESPACED else "pass"  # setsid leaves the group of rlimits only
    code = f"import os, time\nif os.fork() == 0:\n    {detach}\n    time.sleep(60)\nprint('parent done')"
    result = run(code, isolation=jail, timeout_s=30)
    assert result.stdout == "parent done\n" and result.killed_by is None
    assert result.duration_s < 8  # not held until the deadline by the child's copy of the pipes
    if is_root():
        assert leftover_processes(NOBODY) == []


def test_a_deep_directory_tree_does_not_break_the_runtime(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Deeper than Python's recursion limit: a recursive walk or rmtree in the runtime would fail.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    code = "import os\nfor _ in range(1200):\n    os.mkdir('d')\n    os.chdir('d')\nopen('deep.txt', 'w').write('x')"
    result = run(code, isolation="bwrap")
    assert result.ok, result.stderr
    assert list(tmp_path.iterdir()) == []  # removed, however deep


@each_jail
def test_many_files_cannot_fill_the_disk(jail: str) -> None:
    cap = 8 * 1024**2
    code = (
        "written = 0\n"
        "try:\n"
        "    for i in range(200):\n"
        "        with open(f'fill-{i}', 'wb') as f:\n"
        "            f.write(b'x' * 1024**2)\n"
        "        written += 1\n"
        "finally:\n"
        "    print('wrote', written, flush=True)\n"
    )
    result = run(code, isolation=jail, scratch_bytes=cap, timeout_s=30)
    assert "scratch-cap" in result.isolation
    if jail in NAMESPACED:
        # The tmpfs is full: the snippet's own write fails, and no more than the cap is kept.
        assert "scratch-tmpfs" in result.isolation
        assert "No space left on device" in result.stderr and result.exit_status == 1
        assert result.stdout == f"wrote {cap // 1024**2}\n"
        assert result.scratch_bytes <= cap
    else:
        # The watchdog kills the snippet within one look at the tree, long before 200 MB.
        assert "scratch-watchdog" in result.isolation
        assert result.killed_by == "scratch_limit" and not result.ok
        assert cap < result.scratch_bytes < 200 * 1024**2
    assert sum(entry["size"] for name, entry in result.files.items() if name != "...") <= result.scratch_bytes
