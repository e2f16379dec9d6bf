"""The sandbox's escape suite: each attempt to reach past the snippet fails safely and is reported.

The attempts run under each confining jail that works here (bwrap, unshare), and most of
them twice: with the runtime as it runs the tests (root here and in CI) and with the
runtime as an ordinary user (``who="user"``: the test drops a whole Smol process to uid
ORDINARY_UID), because a user namespace keeps the caller's uid and so only the jail's view
stands between a snippet and that user's files. The secrets lie where an attacker would
look: the user's home (``~/.ssh/id_rsa``, ``~/.smol``), the project folder, a unix socket in
each. The rlimits layer isolates none of this: its tests check that it is never chosen
by ``auto`` and that its results say what it leaves open.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from smolcpu.units._tool import ToolFailed
from smolcpu.units.tools import SandboxResult, run_snippet, sandbox_layer
from smolcpu.units.tools._sandbox import _written_files
from smolcpu.units.tools._sandbox_jail import (
    CONFINING,
    PREFIX,
    SNIPPET_UIDS,
    UID_LOCKS,
    is_root,
    probe,
    snippet_uid,
)

from .test_sandbox import jails, run, unavailable

ORDINARY_UID = 4242
"""The uid the ordinary-user variant runs Smol as (root drops to it)."""

REPOSITORY = Path(__file__).resolve().parents[2]

each_jail = jails(CONFINING)
each_jail_as_root_too = jails(CONFINING + ("rlimits",) if is_root() else CONFINING)
"""Also rlimits where it runs each snippet as a uid of its own (as root)."""



def closed_to_others(path: Path) -> Path | None:
    """The first directory on the way to ``path`` that other users may not enter, if any."""
    return next((parent for parent in reversed(path.parents) if not os.stat(parent).st_mode & 0o001), None)


def why_no_ordinary_user() -> str | None:
    """Why the ordinary-user variant cannot run here, or ``None`` when it can."""
    if not is_root():
        return "the runtime is an ordinary user already (the 'runtime' variant is that test)"
    for path in (REPOSITORY, Path(sys.executable)):  # our Python's own prefix is made reachable
        if closed := closed_to_others(path):
            return f"an ordinary user cannot reach {path} ({closed} is closed to others)"
    return None


who = pytest.mark.parametrize(
    "who",
    ["runtime", pytest.param("user", marks=pytest.mark.skipif(bool(why_no_ordinary_user()),
                                                              reason=why_no_ordinary_user() or ""))],
)


@dataclasses.dataclass
class Secrets:
    """Files and sockets an attacker would go for, each holding ``token``."""

    token: str
    home: Path
    project: Path
    files: list[Path]
    sockets: list[Path]


@pytest.fixture
def secrets() -> Iterator[Secrets]:
    """A user's home (0700: ~/.ssh/id_rsa, ~/.smol/...) and a project folder (world-readable,
    as they usually are), owned by ORDINARY_UID when the tests run as root, each with a
    listening unix socket any uid may connect to; all removed afterwards."""
    token = uuid.uuid4().hex
    base = (Path("/home") if is_root() else Path.home()) / f"smol-escape-{token[:12]}"
    home, project = base / "alice", base / "project"
    files = [home / ".ssh" / "id_rsa", home / ".smol" / "artifacts" / "secret", project / ".env", project / "notes.md"]
    for path in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"-----BEGIN KEY----- {token}\n")
    servers = []
    for folder in (home, project):
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(folder / "agent.sock"))
        server.listen()
        server.setblocking(False)
        servers.append(server)
    os.chmod(base, 0o755)
    for path in sorted(base.rglob("*")):
        os.chmod(path, 0o777 if path.is_socket() else 0o755 if path.is_dir() else 0o644)
    os.chmod(home, 0o700)
    os.chmod(home / ".ssh" / "id_rsa", 0o600)
    if is_root():
        for path in (base, *base.rglob("*")):
            os.chown(path, ORDINARY_UID, ORDINARY_UID)
    try:
        yield Secrets(token, home, project, files, [home / "agent.sock", project / "agent.sock"])
        for server in servers:
            with pytest.raises(BlockingIOError):
                server.accept()  # nobody connected
    finally:
        for server in servers:
            server.close()
        shutil.rmtree(base)


# Runs in the ordinary user's Smol process: one snippet, its result as JSON (or why auto refused).
_DRIVER = """
import asyncio, json, sys
from smolcpu.units._tool import ToolFailed
from smolcpu.units.tools import run_snippet
request = json.load(sys.stdin)
try:
    result = asyncio.run(run_snippet(request.pop("code"), **request))
except ToolFailed as exc:
    print(json.dumps({"refused": str(exc)}))
else:
    print(json.dumps(result.to_dict()))
"""


def reach_python() -> str:
    """Shell lines (run as root in a private mount namespace) that let every user reach our
    Python: pyenv's lives under /root (0700), so an empty tmpfs goes over the closed
    directory and the prefix is moved back in. Empty where the prefix is reachable."""
    closed = closed_to_others(PREFIX)
    if closed is None:
        return ""
    return (f'stage=$(mktemp -d)\nmount --bind {PREFIX} "$stage"\nmount -t tmpfs -o mode=0755 smol {closed}\n'
            f'mkdir -p {PREFIX}\nmount --move "$stage" {PREFIX}\nrmdir "$stage"\n')


def run_as_user(driver: str, request: dict, secrets: Secrets, *, path: str | None = None) -> dict:
    """Run Python ``driver`` in a Smol process of uid ORDINARY_UID (home and cwd: the secrets'
    home and project), with ``path`` as its PATH, ``request`` as JSON on its stdin; the JSON it prints."""
    script = (f"set -e\nasked=$PATH\nPATH=/usr/sbin:/usr/bin:/sbin:/bin\n{reach_python()}PATH=$asked\n"
              f'exec {shutil.which("setpriv")} --reuid {ORDINARY_UID} --regid {ORDINARY_UID} --clear-groups -- "$@"')
    environment = {
        "PATH": path or os.environ["PATH"], "HOME": str(secrets.home), "SMOL_HOME": str(secrets.home / ".smol"),
        "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(REPOSITORY),
    }
    done = subprocess.run(
        [shutil.which("unshare"), "--mount", "--propagation", "private", "/bin/sh", "-c", script, "user",
         sys.executable, "-c", driver],
        input=json.dumps(request), env=environment, cwd=secrets.project,
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def as_user(code: str, secrets: Secrets, *, path: str | None = None, **options: object) -> SandboxResult | str:
    """Run ``code`` through a Smol process of uid ORDINARY_UID (see :func:`run_as_user`); the
    result, or the message of auto's refusal."""
    reply = run_as_user(_DRIVER, {"code": code, **options}, secrets, path=path)
    if "refused" in reply:
        return reply["refused"]
    fields = {key: tuple(value) if key in ("isolation", "not_isolated") else value for key, value in reply.items()}
    return SandboxResult(**fields)


def attempt(who: str, code: str, secrets: Secrets, **options: object) -> SandboxResult:
    """Run ``code`` as ``who``; skip when that user has no working jail of the one asked for."""
    if who == "runtime":
        return run(code, **options)
    result = as_user(code, secrets, **options)
    if isinstance(result, str):
        pytest.skip(f"as an ordinary user: {result}")
    return result


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


def snippet_processes(marker: str) -> list[psutil.Process]:
    """Live processes whose command line holds ``marker``, after giving the kernel a moment to reap."""
    deadline = time.monotonic() + 5
    while True:
        alive = [
            p for p in psutil.process_iter(["cmdline", "status"])
            if marker in " ".join(p.info["cmdline"] or []) and p.info["status"] != psutil.STATUS_ZOMBIE
        ]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


@contextlib.contextmanager
def host_path(path: str) -> Iterator[None]:
    """The runtime's PATH set to ``path`` (and its jails probed afresh) for the ``with`` block."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", path)
        probe.cache_clear()
        try:
            yield
        finally:
            probe.cache_clear()


def no_bubblewrap_path(base: Path, *tools: str) -> str:
    """A PATH holding only ``tools`` (links to the real ones, in ``base``/bin): a host without bubblewrap."""
    folder = base / "bin"
    folder.mkdir(mode=0o755)
    for tool in tools:
        (folder / tool).symlink_to(shutil.which(tool))
    return str(folder)


@each_jail
@who
def test_network_is_unreachable(jail: str, who: str, secrets: Secrets) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.setblocking(False)
        port = server.getsockname()[1]
        result = attempt(
            who,
            attempts(
                f"runtime's loopback: socket.create_connection(('127.0.0.1', {port}), timeout=2).close()",
                "internet: socket.create_connection(('1.1.1.1', 53), timeout=2).close()",
                "dns: socket.getaddrinfo('pypi.org', 443)",
            ),
            secrets, isolation=jail,
        )
        with pytest.raises(BlockingIOError):
            server.accept()
    assert "ESCAPED" not in result.stdout and result.stdout.count("blocked") == 3, result.stdout
    assert "net-namespace" in result.isolation


@each_jail
@who
def test_home_and_project_are_out_of_sight(jail: str, who: str, secrets: Secrets) -> None:
    tries = [f"{path.name}: print(open({str(path)!r}).read())" for path in secrets.files]
    tries += [
        f"home listing: print(os.listdir({str(secrets.home)!r}))",
        f"project listing: print(os.listdir({str(secrets.project)!r}))",
        f"repository: print(open({str(REPOSITORY / 'pyproject.toml')!r}).read())",
        "shadow: print(open('/etc/shadow').read())",
        "passwd: print(open('/etc/passwd').read())",
        "work: print(os.listdir('/work'))",
        "any home: print(os.listdir('/home'))",
        "run: print(os.listdir('/run'))",
        "var: print(os.listdir('/var'))",
    ]
    if who == "runtime":
        tries.append(f"runtime environment: print(open('/proc/{os.getpid()}/environ').read())")
    roots_home = "\nprint('/root holds', sorted(os.listdir('/root')) if os.path.isdir('/root') else None)"
    result = attempt(who, attempts(*tries) + roots_home, secrets, isolation=jail)
    assert secrets.token not in result.stdout + result.stderr
    assert "ESCAPED" not in result.stdout and result.stdout.count("blocked") == len(tries), result.stdout
    # /root is there only to hold the (empty) parents of a Python installed under it, as pyenv does.
    expected = [PREFIX.relative_to("/root").parts[0]] if PREFIX.is_relative_to("/root") else None
    assert f"/root holds {expected}" in result.stdout
    assert {"minimal-root", "no-host-home"} <= set(result.isolation)


@each_jail
@who
def test_host_unix_sockets_are_unreachable(jail: str, who: str, secrets: Secrets) -> None:
    abstract = socket.socket(socket.AF_UNIX)
    abstract.bind(f"\0smol-escape-{secrets.token}")
    abstract.listen()
    with abstract:
        tries = [f"{path}: socket.socket(socket.AF_UNIX).connect({str(path)!r})" for path in secrets.sockets]
        tries.append(f"abstract: socket.socket(socket.AF_UNIX).connect('\\0smol-escape-{secrets.token}')")
        result = attempt(who, attempts(*tries), secrets, isolation=jail)
    assert "ESCAPED" not in result.stdout and result.stdout.count("blocked") == 3, result.stdout


@each_jail
@who
def test_tmp_is_writable_and_inside_the_cap(jail: str, who: str, secrets: Secrets) -> None:
    code = (
        "import os, tempfile\n"
        "with tempfile.NamedTemporaryFile(delete=False) as f:\n"
        "    f.write(b'x' * 1000)\n"
        "open('/tmp/direct', 'w').write('y' * 2000)\n"
        "open('/dev/shm/shared', 'w').write('z' * 3000)\n"
        "print(os.environ['TMPDIR'], f.name.startswith('/tmp/'))\n"
    )
    result = attempt(who, code, secrets, isolation=jail)
    assert result.ok, result.stderr
    assert result.stdout == "/tmp True\n"
    assert result.scratch_bytes == 6000  # all three land in scratch, counted against its cap


@each_jail
@who
def test_every_byte_written_counts_against_the_cap(jail: str, who: str, secrets: Secrets) -> None:
    cap = 2 * 1024**2
    code = (
        "written = 0\n"
        "try:\n"
        "    for place in ('/tmp', '/dev/shm', '.', '/var/tmp', '/dev'):\n"
        "        for i in range(4):\n"
        "            try:\n"
        "                with open(f'{place}/fill-{written}', 'wb') as f:\n"
        "                    f.write(b'x' * 1024**2)\n"
        "                written += 1\n"
        "            except OSError as exc:\n"
        "                print(place, exc.strerror, flush=True)\n"
        "                break\n"
        "finally:\n"
        "    print('wrote', written, flush=True)\n"
    )
    result = attempt(who, code, secrets, isolation=jail, scratch_bytes=cap)
    assert int(result.stdout.splitlines()[-1].split()[1]) <= 2, result.stdout  # 2 MB in all, wherever
    assert "No space left on device" in result.stdout
    assert result.scratch_bytes <= cap


@each_jail
@who
def test_writing_outside_scratch_leaves_the_host_untouched(jail: str, who: str, secrets: Secrets) -> None:
    marker = f"smol-escape-{uuid.uuid4().hex}"
    targets = [Path("/tmp") / marker, Path("/var/tmp") / marker, Path("/dev/shm") / marker, secrets.home / marker,
               secrets.project / marker, REPOSITORY / marker, Path("/usr") / marker, Path("/etc") / marker,
               Path("/") / marker]
    try:
        result = attempt(who, attempts(*(f"{path}: open({str(path)!r}, 'w').write('x')" for path in targets)),
                         secrets, isolation=jail)
        assert result.stdout.count("\n") == len(targets)
        assert not [path for path in targets if path.exists()]
    finally:
        for path in targets:
            path.unlink(missing_ok=True)


@each_jail
@who
def test_signalling_the_runtime_fails(jail: str, who: str, secrets: Secrets) -> None:
    sentinel = subprocess.Popen(["sleep", "60"])
    try:
        result = attempt(
            who,
            attempts(
                "parent: os.kill(os.getppid(), signal.SIGKILL)",
                f"runtime: os.kill({os.getpid()}, signal.SIGKILL)",
                f"sentinel: os.kill({sentinel.pid}, signal.SIGKILL)",
                f"runtime group: os.killpg({os.getpgid(0)}, signal.SIGKILL)",
                "everyone: os.kill(-1, signal.SIGKILL)",
            ),
            secrets, isolation=jail,
        )
        assert sentinel.poll() is None, "the snippet killed a process of the runtime's"
        assert result.isolation  # the runtime is alive and got its answer
    finally:
        sentinel.kill()
        sentinel.wait()


@each_jail_as_root_too
@who
def test_detached_children_do_not_outlive_the_snippet(jail: str, who: str, secrets: Secrets) -> None:
    marker = str(10_000_000 + uuid.uuid4().int % 10_000_000)
    code = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        f"        os.execv('/bin/sleep', ['sleep', '{marker}'])\n"
        "    os._exit(0)\n"
        "time.sleep(0.3)\n"
        "print('parent done')"
    )
    try:
        result = attempt(who, code, secrets, isolation=jail, timeout_s=30)
        if jail == "rlimits" and who == "user":  # the snippet has the runtime's uid: nothing marks its processes
            assert any("outlive" in gap for gap in result.not_isolated)
            return
        assert result.stdout == "parent done\n" and result.killed_by is None
        assert result.duration_s < 8  # not held until the deadline by the child's copy of the pipes
        assert snippet_processes(marker) == []
    finally:
        for process in snippet_processes(marker):
            process.kill()


@each_jail_as_root_too
def test_snippets_cannot_reach_each_other(jail: str) -> None:
    victim = (
        "import os, time\nopen('mine.txt', 'w').write('victim')\nprint(os.getuid(), os.getcwd(), flush=True)\n"
        "time.sleep(2.5)\nprint('victim alive', open('mine.txt').read())"
    )
    attacker = "import os, signal\nos.kill(-1, signal.SIGKILL)\n" + attempts(  # whom it reached shows in the victim
        "other scratch: print([open(f'/proc/{p}/cwd/mine.txt').read() for p in os.listdir('/proc') if p.isdigit() "
        "and os.path.exists(f'/proc/{p}/cwd/mine.txt')] or 1/0)",
        "host scratch: import glob; print([open(f, 'a').write('x') for f in glob.glob('/tmp/smol-sandbox-*/mine.txt')] "
        "or 1/0)",
    )

    async def side_by_side() -> list[SandboxResult]:
        first = asyncio.ensure_future(run_snippet(victim, isolation=jail, timeout_s=20))
        await asyncio.sleep(1.0)
        return [await run_snippet(attacker, isolation=jail), await first]

    attacked, survivor = asyncio.run(side_by_side())
    assert survivor.ok and survivor.stdout.endswith("victim alive victim\n"), (survivor, attacked.stdout)
    assert "ESCAPED" not in attacked.stdout, attacked.stdout


@each_jail_as_root_too
def test_one_snippet_cannot_starve_another_of_processes(jail: str) -> None:
    hog = (
        "import os, time\nkids = 0\n"
        "while True:\n"
        "    try:\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(30); os._exit(0)\n"
        "        kids += 1\n"
        "    except OSError:\n"
        "        break\n"
        "print('hog has', kids, flush=True)\ntime.sleep(30)"
    )
    worker = "import os\npids = [os.fork() for _ in range(4)]\nif 0 in pids: os._exit(0)\nprint('forked', len(pids))"

    async def side_by_side() -> SandboxResult:
        hogging = asyncio.ensure_future(run_snippet(hog, isolation=jail, timeout_s=6))
        await asyncio.sleep(2.0)
        try:
            return await run_snippet(worker, isolation=jail)
        finally:
            await hogging

    result = asyncio.run(side_by_side())
    assert result.ok and result.stdout == "forked 4\n", result.stderr


@each_jail
def test_fork_bomb_is_contained(jail: str) -> None:
    code = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    result = run(code, isolation=jail, timeout_s=2)
    assert result.killed_by == "timeout" and result.duration_s < 10
    if is_root():  # nothing of a snippet lives on (a zombie is dead: init reaps an orphan when it will)
        alive = [p.info for p in psutil.process_iter(["pid", "uids", "status"]) if p.info["uids"]]
        assert not [p for p in alive if p["uids"].real in SNIPPET_UIDS and p["status"] != psutil.STATUS_ZOMBIE]
    assert subprocess.run(["true"], timeout=10).returncode == 0  # the runtime can still fork


@each_jail
def test_a_uid_its_dead_holder_left_busy_is_cleared_before_it_is_reused(jail: str) -> None:
    """A runtime killed while an rlimits snippet ran left a process of that uid: the next
    snippet to get the uid, under any jail, does not share it (nor its process count)."""
    if not is_root():
        pytest.skip("snippet uids are given out only by a root runtime")
    with snippet_uid() as uid:
        assert uid is not None
        left = subprocess.Popen(["sleep", "60"], user=uid, group=uid)
    (UID_LOCKS / str(uid)).write_bytes(b"busy")  # as its holder, dead, left it
    try:
        result = run("import os\nprint(os.getuid())", isolation=jail)
        assert result.ok and int(result.stdout) == uid, result.stderr
        assert left.wait(timeout=10) == -9
    finally:
        left.kill()
        left.wait()


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
def test_ctypes_tricks_fail(jail: str) -> None:
    code = attempts(
        f"ptrace the runtime: assert libc.ptrace(16, {os.getpid()}, 0, 0) == 0",
        "mount over /usr: assert libc.mount(b'none', b'/usr', b'tmpfs', 0, None) == 0",
        "chroot: assert libc.chroot(b'/') == 0",
        "become root: assert libc.setuid(0) == 0 and os.getuid() == 0",
        "user namespace: assert libc.unshare(0x10000000) == 0",
        "user namespace by clone: assert (lambda pid: os._exit(0) if pid == 0 else pid)(libc.syscall(56, 0x10000000 "
        "| 17, 0, 0, 0, 0)) > 0",
        "keyring: assert libc.syscall(250, 0, -3, 0, 0, 0) >= 0",
        "bpf: assert libc.syscall(321, 0, 0, 0) >= 0",
        "io_uring: assert libc.syscall(425, 1, bytes(120), 0) >= 0",
    ).replace("import os, signal, socket", "import os, signal, socket, ctypes\nlibc = ctypes.CDLL(None)")
    status = "print('uid', os.getuid(), open('/proc/self/status').read(), flush=True)"
    result = run(f"{code}\n{status}\nctypes.string_at(0)", isolation=jail)
    assert "ESCAPED" not in result.stdout and result.stdout.count("blocked") == 9, result.stdout
    assert "CapEff:\t0000000000000000" in result.stdout  # no privilege left to gain
    assert "NoNewPrivs:\t1" in result.stdout
    if "seccomp" in result.isolation:
        assert "Seccomp:\t2" in result.stdout
    if is_root():
        uid = int(result.stdout.split("uid ", 1)[1].split()[0])
        assert uid in SNIPPET_UIDS
    assert result.killed_by == "signal SIGSEGV" and result.exit_status == -11


@each_jail
def test_links_and_fifos_in_scratch_are_not_followed(jail: str, secrets: Secrets) -> None:
    code = attempts(
        "symlink: os.symlink('/etc/shadow', 'shadow.txt')",
        f"store symlink: os.symlink({str(secrets.files[1])!r}, 'store.txt')",
        "fifo: os.mkfifo('pipe')",
        "dir link: os.symlink('/usr', 'usr')",
    )
    started = time.monotonic()
    result = run(code, isolation=jail, timeout_s=5)
    assert time.monotonic() - started < 15  # a fifo left behind does not block the runtime
    assert result.files == {}


def test_collecting_files_cannot_be_raced_into_a_link(tmp_path: Path) -> None:
    # A writer still running while the runtime collects swaps a directory of its scratch for a
    # link to a secret folder, back and forth, with renameat2(RENAME_EXCHANGE): O_NOFOLLOW on
    # the last component alone would read the secret through the link now and then.
    secret_dir = tmp_path / "secret"
    secret_dir.mkdir()
    (secret_dir / "f.txt").write_text("SECRET")
    scratch = tmp_path / "scratch"
    (scratch / "d").mkdir(parents=True)
    (scratch / "d" / "f.txt").write_text("mine")
    (scratch / "link").symlink_to(secret_dir)
    libc = ctypes.CDLL(None, use_errno=True)
    at_fdcwd, exchange, syscall_renameat2 = -100, 2, 316
    stop = threading.Event()

    def swap() -> None:
        a, b = str(scratch / "d").encode(), str(scratch / "link").encode()
        while not stop.is_set():
            libc.syscall(syscall_renameat2, at_fdcwd, a, at_fdcwd, b, exchange)

    swapper = threading.Thread(target=swap)
    swapper.start()
    seen = set()
    fd = os.open(scratch, os.O_RDONLY | os.O_DIRECTORY)
    try:
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            files, _ = _written_files(fd, {})
            seen.update(entry.get("text") for entry in files.values())
    finally:
        os.close(fd)
        stop.set()
        swapper.join()
    assert "SECRET" not in seen and "mine" in seen


def test_auto_never_falls_back_to_rlimits(tmp_path: Path) -> None:
    with host_path(no_bubblewrap_path(tmp_path)):  # neither bwrap nor unshare
        layer = sandbox_layer("auto")
        assert layer.name is None and not layer.confining
        assert "apt-get install bubblewrap" in layer.problem and "isolation=rlimits" in layer.problem
        with pytest.raises(ToolFailed, match="apt-get install bubblewrap"):
            run("print('ran')")


@who
def test_without_bubblewrap_auto_isolates_fully_or_refuses(who: str, secrets: Secrets) -> None:
    path = no_bubblewrap_path(secrets.home.parent, "unshare")  # a folder the ordinary user can reach
    code = attempts(*(f"{p.name}: print(open({str(p)!r}).read())" for p in secrets.files))
    if who == "user":
        result = as_user(code, secrets, path=path)
    else:
        with host_path(path):
            try:
                result = run(code)
            except ToolFailed as exc:  # the refusal is one of the two allowed outcomes
                result = str(exc)
    if isinstance(result, str):  # allowed only where this user may not make namespaces
        assert "apt-get install bubblewrap" in result and "unshare is not installed" not in result, result
        return
    assert result.isolation[0] == "unshare" and "minimal-root" in result.isolation
    assert secrets.token not in result.stdout and "ESCAPED" not in result.stdout, result.stdout


@pytest.mark.skipif(bool(unavailable("rlimits")), reason=unavailable("rlimits") or "")
def test_rlimits_says_what_it_does_not_isolate() -> None:
    result = run("pass", isolation="rlimits")
    assert result.ok
    gaps = " ".join(result.not_isolated)
    for gap in ("network", "files", "/tmp", "sockets", "processes"):
        assert gap in gaps
    assert "net-namespace" not in result.isolation and "minimal-root" not in result.isolation
    assert sandbox_layer("rlimits").not_isolated == result.not_isolated


@each_jail
def test_a_deep_directory_tree_does_not_break_the_runtime(jail: str) -> None:
    # Deeper than Python's recursion limit: a recursive walk in the runtime would fail.
    code = "import os\nfor _ in range(1200):\n    os.mkdir('d')\n    os.chdir('d')\nopen('deep.txt', 'w').write('x')"
    result = run(code, isolation=jail)
    assert result.ok, result.stderr


@each_jail_as_root_too
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
    if jail in CONFINING:
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

